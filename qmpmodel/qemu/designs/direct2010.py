"""The 2010 design: the read handler runs every command synchronously (940cc30d0d45, §5).

There is no queue and no dispatcher coroutine. Commands run in the main
loop's read handler with the BQL; ``cmd_async`` handlers return at once and
reply later from a completion callback (QMP monitors are not suspended, so an
async reply may overtake later synchronous ones: bug Q's QMP half).
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import Expr, all_of, any_of, ite, lit
from qmpmodel.core.model import Action
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.state import Monitor
from qmpmodel.qemu.steps import Update, step

__all__ = ["AsyncApi2010", "AsyncReplyMonitorCurrentId", "HmpAsyncErrorKeepsSuspended"]

_ERROR_FORMS = ("parse-error", "garbage", "nonobject")


class AsyncApi2010(QemuCurrent):
    """The 2010 async monitor command API (dropped in 2015 as broken, 65207c59d9)."""

    title = "2010 async command API"

    def has_dispatcher(self) -> bool:
        return False

    def async_slots(self) -> int:
        return 2

    def suspend_reasons(self, m: int) -> Expr:
        return lit(0)

    def inband_in_progress(self) -> Expr:
        """The reader runs a handler synchronously; pending async handlers are in progress too."""
        count: Expr = lit(0)
        for mon in self.mons:
            for v in mon.ap:
                count = count + ite(v != 0, lit(1), lit(0))
        return count

    @step("monitor_read", "handle_qmp_command runs the handler", ref="§5", commit="940cc30d0d45")
    def handle_qmp_command(self, m: Monitor, actor: str, g: Expr, r: int, c: int, i: int,
                           k: str) -> Iterator[Action]:
        kind = KINDS.get(k)
        cmd = kind.command if kind else "caps"
        u = self.pop_input(m, Update({m.lastid: r}))
        if cmd == "caps":
            u[m.mode] = lit(True)
            self.qmp_send_response(u, c, i, negotiated=True)
        elif kind is not None and (kind.form in _ERROR_FORMS or cmd == "invalid"):
            if kind.form == "garbage":
                u[m.perr] = lit(True)
            self.qmp_send_response(u, c, i, cls="GenericError", has_id=cmd == "invalid")
        elif cmd == "async":
            # cmd_async: the handler starts the work; the completion replies later
            for j, slot in enumerate(m.ap):
                prev_taken = all_of(m.ap[x] != 0 for x in range(j))
                u[slot] = ite(prev_taken & (slot == 0), lit(r), slot)
            g = g & any_of(s == 0 for s in m.ap)
        elif cmd == "noreply":
            self.no_reply(u, c, i, lost=False)
        else:
            if cmd == "event":
                self.monitor_qapi_event_emit(u, c, i)
            self.qmp_send_response(u, c, i, after_event=cmd == "event", may_fail=cmd != "unknown",
                                   cls="CommandNotFound" if cmd == "unknown" else "return")
        yield from self.action("read_direct", actor, g, u, "reader", mon=m.idx, req=r, kind=self.kid(k))

    @step("cmd_async completion callback", ref="§5")
    def async_reply_id(self, m: Monitor) -> Expr | None:
        """The completion's reply carries its own request's id."""
        return None

    def environment_extra(self) -> Iterator[Action]:
        for m in self.mons:
            for r, c, i in self.refs_of_mon(m.idx):
                for j, slot in enumerate(m.ap):
                    u = Update({slot: 0})
                    self.qmp_send_response(u, c, i, id_ref=self.async_reply_id(m), may_fail=True)
                    yield from self.action("async_complete", "main", slot == r, u, self.fair_env(), mon=m.idx,
                                           req=r, slot=j)


class AsyncReplyMonitorCurrentId(AsyncApi2010):
    """The completion's reply carries the id of the monitor's current command at completion
    time (an unverified reading of 2010 monitor.c)."""

    def async_reply_id(self, m: Monitor) -> Expr | None:
        return m.lastid


class HmpAsyncErrorKeepsSuspended(QemuCurrent):
    """A cmd_async handler that fails synchronously does not resume the HMP monitor (bug Q)."""

    def hmp_async_sync_error(self, u: Update) -> None:
        u[self.hsusp] = self.hsusp + 1

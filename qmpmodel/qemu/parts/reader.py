"""The monitor's reader: monitor_qmp_read -> JSON streamer -> handle_qmp_command (§3.2-3.3).

It runs in the monitor I/O thread when the chardev supports it (no BQL),
else in the main loop. Per message it either answers at once (the OOB path),
or queues the request, suspends the monitor when the queue rule says so and
wakes the dispatcher. CHR_EVENT_CLOSED empties the queue (§3.8).
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import FALSE, TRUE, Expr, all_of, ite, lit
from qmpmodel.core.model import Action, Emit
from qmpmodel.qemu.codes import Sd
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.parts.output import Output
from qmpmodel.qemu.parts.signals import Signals
from qmpmodel.qemu.state import Monitor
from qmpmodel.qemu.steps import Update, step

__all__ = ["Reader"]


class Reader(Output, Signals):
    """Parsing, the OOB path, queueing, suspension and CHR_EVENT_CLOSED."""

    @step("monitor_init_qmp", "use_io_thread", ref="§1.1, §2.1")
    def reader_thread(self, m: Monitor) -> tuple[str, Expr]:
        """Who reads monitor ``m`` and when it can: the I/O thread (until iothread_stop) if
        the chardev supports it, else the main loop at top level."""
        if m.iothread and self.has_dispatcher():
            return "iothread", ~self.iostop
        return "main", all_of([self.main_top_level(), self.sd != Sd.DONE])

    @step("mux_chr_read", "the focused front end reads", ref="chardev/char-mux.c:220-240; F5")
    def mux_focus_on_qmp(self, m: Monitor) -> Expr:
        """The mux hands the client's bytes to the front end that has the focus: QMP's only while
        HMP does not have it (true on any other chardev)."""
        if self.focus_hmp is None or m.idx != self.hmp_mux_monitor():
            return TRUE
        return ~self.focus_hmp

    @step("monitor_can_read", ref="§2.1")
    def monitor_can_read(self, m: Monitor) -> Expr:
        """One byte per read callback while not suspended: suspension takes effect at once."""
        return m.susp == 0

    @step("qmp_is_oob", ref="§3.3 step 1")
    def qmp_is_oob(self, k: str) -> bool:
        """``exec-oob`` without ``execute`` takes the OOB path, negotiated or not."""
        kind = KINDS.get(k)
        return kind is not None and kind.form == "exec-oob" and self.oob_capability()

    def reader_actions(self) -> Iterator[Action]:
        for m in self.mons:
            actor, tg = self.reader_thread(m)
            base = tg & (m.inlen > 0) & ~m.closing & self.mux_focus_on_qmp(m)
            yield from self.monitor_qmp_event_closed(m, actor, tg)
            for r, c, i in self.refs_of_mon(m.idx):
                head = m.inq[0] == r
                for k in self.kinds_for(c, i):
                    kg = base & self.monitor_can_read(m) & head & self.is_kind(c, i, k)
                    yield from self.json_parser_recovery(m, actor, kg & m.perr, r, c, i, k)
                    yield from self.handle_qmp_command(m, actor, kg & ~m.perr, r, c, i, k)

    @step("json_message_process_token", "error recovery", ref="§3.2, §7 T; qobject/json-streamer.c")
    def json_parser_recovery(self, m: Monitor, actor: str, g: Expr, r: int, c: int, i: int,
                             k: str) -> Iterator[Action]:
        """After an error the streamer drops tokens until brackets balance: this message is swallowed."""
        u = self.pop_input(m, Update({m.perr: FALSE}))
        self.no_reply(u, c, i, lost=True)
        yield from self.action("swallow", actor, g, u, "reader", mon=m.idx, req=r, kind=self.kid(k))

    def pop_input(self, m: Monitor, u: Update) -> Update:
        for j in range(len(m.inq)):
            u[m.inq[j]] = m.inq[j + 1] if j + 1 < len(m.inq) else lit(0)
        u[m.inlen] = m.inlen - 1
        return u

    @step("handle_qmp_command", ref="§3.3", commit="the 2018 OOB series (Peter Xu)")
    def handle_qmp_command(self, m: Monitor, actor: str, g: Expr, r: int, c: int, i: int,
                           k: str) -> Iterator[Action]:
        if self.qmp_is_oob(k):
            yield from self.handle_qmp_command_oob(m, actor, g, r, c, i, k)
        else:
            yield from self.handle_qmp_command_inband(m, actor, g, r, c, i, k)

    @step("handle_qmp_command", "OOB path: monitor_qmp_dispatch in the reader", ref="§3.3 step 1, §3.5 checks 3, 6, 9")
    def handle_qmp_command_oob(self, m: Monitor, actor: str, g: Expr, r: int, c: int, i: int,
                               k: str) -> Iterator[Action]:
        """Dispatched at once in the reader thread; qmp_dispatch rejects it unless OOB is
        negotiated (check 3) and the command allows it (check 9)."""
        kind = KINDS[k]
        u = self.pop_input(m, Update({m.lastid: r}))
        if kind.command in ("oob", "unknown"):
            ok = u.copy()
            # check 6 (command exists) precedes check 9 (allows OOB): an unknown
            # command is CommandNotFound on this path too (QEMU 7.2 transcript "errors")
            if kind.command == "oob":
                self.qmp_send_response(ok, c, i, inband=False, may_fail=True)
            else:
                self.qmp_send_response(ok, c, i, inband=False, cls="CommandNotFound")
            yield from self.action("read_oob", actor, g & m.oob, ok, "reader", mon=m.idx, req=r, kind=self.kid(k))
            g = g & ~m.oob
        self.qmp_send_response(u, c, i, inband=False, cls="GenericError")
        yield from self.action("read_oob_rejected", actor, g, u, "reader", mon=m.idx, req=r, kind=self.kid(k))

    @step("handle_qmp_command", "in-band path: queue, suspend, wake", ref="§3.3 step 2")
    def handle_qmp_command_inband(self, m: Monitor, actor: str, g: Expr, r: int, c: int, i: int,
                                  k: str) -> Iterator[Action]:
        u = self.pop_input(m, Update({m.lastid: r}))
        refused = self.queue_full_refused(m)
        if not (refused.op == "const" and not refused.args[0]):
            drop = u.copy()
            self.no_reply(drop, c, i, lost=True)  # COMMAND_DROPPED event instead of a reply
            yield from self.action("read_drop", actor, g & refused, drop, "reader", mon=m.idx, req=r,
                                   kind=self.kid(k))
            g = g & ~refused
        u[m.susp] = ite(self.suspend_rule(m), m.susp + 1, m.susp)
        for j, slot in enumerate(m.q):
            u[slot] = ite(m.qlen == j, lit(r), slot)
        u[m.qlen] = m.qlen + 1
        if k in KINDS and KINDS[k].form == "garbage":
            u[m.perr] = TRUE
        self.qmp_dispatcher_co_wake(u)
        yield from self.action("read", actor, g, u, "reader", mon=m.idx, req=r, kind=self.kid(k))

    @step("handle_qmp_command", "suspend rule", ref="§3.3 step 2b",
          commit='"monitor: suspend monitor instead of send CMD_DROP" (2018, hash unverified)')
    def suspend_rule(self, m: Monitor) -> Expr:
        """Suspend when OOB is off, or when this push makes the queue full (length MAX-1 before)."""
        return ~m.oob | (m.qlen == self.queue_max - 1)

    @step("handle_qmp_command", "queue full", ref="§4 COMMAND_DROPPED, §7 D")
    def queue_full_refused(self, m: Monitor) -> Expr:
        """When the request is refused instead of queued: never in current QEMU (flow control)."""
        return FALSE

    @step("monitor_qmp_event", "CHR_EVENT_CLOSED", ref="§3.8")
    def monitor_qmp_event_closed(self, m: Monitor, actor: str, tg: Expr) -> Iterator[Action]:
        u = Update()
        self.monitor_qmp_cleanup_queue_and_resume(m, u)
        yield from self.action("closed", actor, tg & m.closing, u, "reader", mon=m.idx)

    @step("monitor_qmp_cleanup_queue_and_resume", ref="§3.8, §7 E", commit="W. Bumiller, 2019")
    def monitor_qmp_cleanup_queue_and_resume(self, m: Monitor, u: Update) -> None:
        """Drop queued requests (no reply), resume iff the queue rule had suspended, reset the parser."""
        u.update({m.closing: FALSE, m.perr: FALSE, m.inlen: 0, m.qlen: 0})
        for s in m.inq + m.q:
            u[s] = 0
        u.emit(Emit("dropped", m.conn, 0, "none", False, m.idx))
        self.closed_resume(m, u, self.queue_rule_suspended(m))

    @step("monitor_qmp_cleanup_queue_and_resume", "resume", ref="§7 E", commit="W. Bumiller, 2019")
    def closed_resume(self, m: Monitor, u: Update, suspended: Expr) -> None:
        self.monitor_resume(m, u, suspended)

    @step("monitor_qmp_cleanup_queue_and_resume", "suspended by the queue rule", ref="§3.8")
    def queue_rule_suspended(self, m: Monitor) -> Expr:
        """Computed before emptying: ``(!oob_enabled || length == MAX) && length > 0``."""
        return (~m.oob | (m.qlen == self.queue_max)) & (m.qlen > 0)

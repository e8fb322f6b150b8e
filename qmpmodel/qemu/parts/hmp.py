"""The HMP monitor: commands run in the main loop's read handler (§5).

A coroutine HMP command (block_resize, device_add under the 2023 RFC) runs in
a fresh coroutine entered in qemu_aio_context while the read handler spins a
nested event loop holding the BQL; on a mux chardev, focus switches suspend
and resume the monitor (bug K); the 2010 async API suspended the monitor
around cmd_async handlers (bug Q).
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import FALSE, TRUE, Expr, all_of, ite
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Ctx, HmpCo, Nest, Run, Sd, Tid, Waiter
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.parts.signals import Signals
from qmpmodel.qemu.steps import Update, step

__all__ = ["Hmp"]


class Hmp(Signals):
    """handle_hmp_command, mux focus, the HMP command coroutine and its nested loop."""

    @step("monitor_event / monitor_read", "HMP monitor opened, async completion", ref="§5")
    def hmp_actions(self) -> Iterator[Action]:
        b, mt = self.bounds, self.main
        yield from self.action("hmp_opened", "hmp", ~self.hopened, Update({self.hopened: TRUE}))
        yield from self.mux_focus()
        top = all_of([mt.pc == Run.RUN, mt.nest == Nest.NONE, self.bql == 0,
                      self.dsp.sched != Ctx.CONT + Tid.MAIN, self.sd != Sd.DONE, self.main_loop_runs()])
        g = top & (self.hsusp == 0) & self.hopened & (self.hsent < b.hmp_requests) & ~self.hbusy & (
            self.hcopc == HmpCo.NONE)
        for k in dict.fromkeys(b.hmp_mix):
            yield from self.handle_hmp_command(g, k)
        u = Update({self.hasync: FALSE, self.hbusy: FALSE, self.hsusp: self.hsusp - 1})
        yield from self.action("hmp_async_complete", "main", self.hasync, u, self.fair_completion())
        yield from self.hmp_coroutine()
        yield from self.hmp_nested_loop_exit()

    def fair_completion(self) -> str:
        return "env" if self.bounds.fair_completion else ""

    @step("monitor_event", "CHR_EVENT_MUX_OUT / MUX_IN", ref="§5, §7 K",
          commit='"monitor: do not use mb_read/mb_set for suspend_cnt" (P. Bonzini, 2023)')
    def mux_focus(self) -> Iterator[Action]:
        """No mux chardev in the default configuration."""
        yield from ()

    @step("handle_hmp_command", ref="§5")
    def handle_hmp_command(self, g: Expr, k: str) -> Iterator[Action]:
        kind = KINDS[k]
        kid = list(KINDS).index(k)
        u = Update({self.hsent: self.hsent + 1})
        if kind.command == "quick":
            yield from self.action("hmp_command", "main", g, u, "", kind=kid)
        elif kind.command in ("coroutine", "device_add"):
            u.update({self.hcopc: HmpCo.START, self.hcosched: TRUE, self.hcokind: 1 if kind.command == "coroutine" else 2})
            self.hmp_coroutine_wait(u)
            yield from self.action("hmp_command", "main", g, u, "", kind=kid)
        elif kind.command == "async":
            # 2010: suspend at submit; a synchronous error must resume (bug Q)
            ok = u.copy()
            ok.update({self.hsusp: self.hsusp + 1, self.hbusy: TRUE, self.hasync: TRUE})
            yield from self.action("hmp_command", "main", g, ok, "", kind=kid, outcome=0)
            err = u.copy()
            self.hmp_async_sync_error(err)
            yield from self.action("hmp_command", "main", g, err, "", kind=kid, outcome=1)

    @step("user_async_cmd_handler", "ret < 0: resume", ref="§5, §7 Q", commit="940cc30d0d45")
    def hmp_async_sync_error(self, u: Update) -> None:
        """A cmd_async handler that fails synchronously leaves the monitor resumed."""

    @step("handle_hmp_command", "coroutine command: nested event loop", ref="§5",
          commit='"hmp: Add support for coroutine command handlers" (K. Wolf, 2020)')
    def hmp_coroutine_wait(self, u: Update) -> None:
        """AIO_WAIT_WHILE_UNLOCKED holding the BQL until the coroutine finishes."""
        u.update({self.main.nest: Nest.HMPLOOP, self.bql: Tid.MAIN})

    @step("handle_hmp_command", "the command coroutine", ref="§5")
    def hmp_coroutine(self) -> Iterator[Action]:
        for t, pg, ptop in self.pollers(Ctx.AIO):
            gg = pg & self.hcosched
            p = {"thread": t.tid, "top": int(ptop)}
            start = Update({self.hcosched: FALSE, self.hcopc: HmpCo.WAIT})
            io = start.copy()
            io.update({self.inflight: self.inflight + 1, self.ioh: TRUE})
            yield from self.action("hmp_coroutine_start", t.name, gg & (self.hcopc == HmpCo.START) & (self.hcokind == 1),
                                   io, "main", **p)
            rcu = start.copy()
            self.drain_call_rcu_enqueue(Waiter.HMP_COROUTINE, rcu)
            yield from self.action("hmp_coroutine_start", t.name, gg & (self.hcopc == HmpCo.START) & (self.hcokind == 2),
                                   rcu, "main", drain=1, **p)
            fin = Update({self.hcosched: FALSE, self.hcopc: HmpCo.DONE,
                          self.inflight: ite(self.hcokind == 1, self.inflight - 1, self.inflight)})
            self.hmp_coroutine_done(fin)
            yield from self.action("hmp_coroutine_end", t.name, gg & (self.hcopc == HmpCo.END), fin, "main", **p)

    @step("handle_hmp_command", "coroutine finished", ref="§5")
    def hmp_coroutine_done(self, u: Update) -> None:
        """The nested loop sees ``done`` and exits (:meth:`hmp_nested_loop_exit`)."""

    @step("handle_hmp_command", "nested loop exits", ref="§5")
    def hmp_nested_loop_exit(self) -> Iterator[Action]:
        mt = self.main
        g = (mt.nest == Nest.HMPLOOP) & (mt.pc == Run.RUN) & (self.hcopc == HmpCo.DONE) & (
            self.dsp.sched != Ctx.CONT + Tid.MAIN)
        u = Update({mt.nest: Nest.NONE, self.bql: 0, self.hcopc: HmpCo.NONE, self.hcokind: 0})
        yield from self.action("hmp_nested_loop_exit", "main", g, u, "main")

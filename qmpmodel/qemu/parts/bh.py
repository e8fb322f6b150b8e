"""do_qmp_dispatch_bh: the one-shot BH that runs a non-coroutine in-band handler (§3.5).

The BH runs outside coroutine context in whichever thread polls its
AioContext (iohandler_ctx today: only the main loop proper; before effd60c8,
qemu_aio_context: any nested aio_poll, bugs A, B, I). The handler may block
its thread (a FIFO open, qmp-test.c), drop the BQL inside drain_call_rcu
(device_add, 7bed89958bfb), or raise an event before returning.
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import Var, ite, lit
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Ctx, Dsp, Nest, Run
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.parts.dispatch import QmpDispatch
from qmpmodel.qemu.state import Thread
from qmpmodel.qemu.steps import Update, Value, step

__all__ = ["HandlerBH"]


class HandlerBH(QmpDispatch):
    """The handler BH, blocked handlers' completion, and drain_call_rcu's return."""

    def bh_runs(self, k: str) -> bool:
        """Request kind ``k`` can reach do_qmp_dispatch_bh."""
        kind = KINDS.get(k)
        if kind is None or not (kind.form == "execute" or (kind.form == "exec-oob" and self.runs_queued_oob(kind.command))):
            return False
        return not self.is_coroutine_command(kind.command)

    @step("do_qmp_dispatch_bh", "a thread polling its AioContext runs it", ref="§3.5, §1.2")
    def handler_bh_actions(self) -> Iterator[Action]:
        d = self.dsp
        for ctx in (Ctx.IOH, Ctx.AIO):
            for t, g, top in self.pollers(ctx):
                for m in self.mons:
                    for r, c, i in self.refs_of_mon(m.idx):
                        for k in self.kinds_for(c, i):
                            if not self.bh_runs(k):
                                continue
                            cmd = KINDS[k].command
                            gg = g & (self.bhctx == ctx) & (d.req == r) & (d.kind == self.kid(k)) & (d.pc == Dsp.BH)
                            for n in self.handler_event_counts(cmd):
                                u = Update({self.bhctx: 0})
                                self.nested_flag(t, self.xnest, u)
                                if n:
                                    self.handler_raises_events(u, c, i, n)
                                self.do_qmp_dispatch_bh(t, u, c, i, cmd)
                                more = {} if n is None else {"events": n}
                                yield from self.action("handler_bh", t.name, gg, u, "main" if t is self.main else "",
                                                       thread=t.tid, ctx=ctx, top=int(top), req=r, kind=self.kid(k),
                                                       **more)
        yield from self.handler_completions()

    @step("do_qmp_dispatch_bh", ref="§3.5", commit="9ce44e2ce2, effd60c878")
    def do_qmp_dispatch_bh(self, t: Thread, u: Update, c: int, i: int, cmd: str) -> None:
        """Run the handler on thread ``t`` (holding the BQL), then wake the dispatcher."""
        d = self.dsp
        if cmd == "blocking":
            # the handler blocks its thread, BQL held (FIFO open, qmp-test.c)
            u.update({t.pc: Run.BLOCKED, self.bhon: t.tid, self.bql: t.tid})
        elif cmd == "device_add":
            # drain_call_rcu drops the BQL while it waits (§7 A)
            u.update({t.pc: Run.RCU_WAIT, self.bhon: t.tid, self.bql: 0})
            self.drain_call_rcu_enqueue(t.tid, u)
        else:
            if cmd == "event":
                self.handler_event(u, c, i)
            elif cmd == "quit":
                self.qmp_quit(u)
            elif cmd == "request":
                self.qemu_system_event_request(u, c, i)
            elif cmd == "async2017":
                self.qmp_async_return_pending(u, c, i)
            u.update({d.pc: Dsp.REPLY, d.sched: d.ctx})

    @step("qmp_dispatch", "QCT_ASYNC: register a pending QmpReturn", ref="docs/fidelity-ii.md 1f, F6")
    def qmp_async_return_pending(self, u: Update, c: int, i: int) -> None:
        """The 2017 designs' async command (none in current QEMU: a spec cannot select the kind)."""

    @step("qmp_quit", ref="monitor/qmp-cmds.c:79-83; F3")
    def qmp_quit(self, u: Update) -> None:
        """``quit`` only requests a shutdown; main_loop_should_exit does the rest."""
        assert self.rs_shutdown is not None
        u[self.rs_shutdown] = True

    @step("qemu_system_powerdown_request", ref="monitor/qmp-cmds.c:106-109, softmmu/runstate.c; F1")
    def qemu_system_event_request(self, u: Update, c: int, i: int) -> None:
        """``system_powerdown``/``system_reset`` set a request; main_loop_should_exit raises the
        event (POWERDOWN, RESET) at the end of this main-loop iteration."""
        assert self.rs_event is not None
        u[self.rs_event] = self.ref(c, i)

    @step("qapi_event_emit", "from a handler", ref="§4, §8.22")
    def handler_event(self, u: Update, c: int, i: int) -> None:
        """An event raised by the handler is written before it returns."""
        self.monitor_qapi_event_emit(u, c, i)

    @step("the blocked handler returns", "FIFO written, or drain_call_rcu done", ref="§7 A; qmp-test.c")
    def handler_completions(self) -> Iterator[Action]:
        d = self.dsp
        for t in self.threads:
            done: dict[Var, Value] = {t.pc: Run.RUN, self.bhon: 0, d.pc: Dsp.REPLY, d.sched: d.ctx,
                    self.bql: ite(t.nest == Nest.NONE, lit(0), lit(t.tid))}
            # the blocked handler finishes (external completion: the FIFO is written)
            yield from self.action("blocking_complete", "env", (t.pc == Run.BLOCKED) & (self.bhon == t.tid),
                                   Update(dict(done)), "env" if self.bounds.fair_completion else "", thread=t.tid)
            # drain_call_rcu returns once the BQL is taken again
            yield from self.action("drain_call_rcu_return", t.name,
                                   (t.pc == Run.RCU_REACQ) & (self.bhon == t.tid) & (self.bql == 0),
                                   Update(dict(done)), "main" if t is self.main else "vcpu", thread=t.tid)
        yield from self.deferred_event_actions()

    @step("qapi_event_emit", "from a BH after the handler (mutant event-deferred)", ref="§4")
    def deferred_event_actions(self) -> Iterator[Action]:
        """Events emitted later from a BH (none in QEMU: the mutant event-deferred has them)."""
        yield from ()

"""Pending work and who waits for whom: the model's input to ``no-deadlock`` and wait-for graphs.

:meth:`Waiting.pending` says that some work is unfinished (a live session's
request unanswered, a thread blocked, a drain or shutdown in progress);
with no action of QEMU enabled that is the "stuck" half of ``no-deadlock``.
:meth:`Waiting.wait_edges` lists the potential wait-for edges between QEMU's
threads, coroutines, locks and contexts, each with the condition under which
it is present; a cycle of present edges is a deadlock (bugs B, C, F, J).
"""

from __future__ import annotations

from qmpmodel.core.expr import TRUE, Expr, any_of
from qmpmodel.core.model import WaitEdge
from qmpmodel.qemu.codes import ClientSt, Ctx, Dsp, HmpCo, Nest, Rcu, Run, Sd, Waiter
from qmpmodel.qemu.harness import Harness

__all__ = ["Waiting"]

_CTX_NAME = {Ctx.IOH: "iohandler_ctx", Ctx.AIO: "qemu_aio_context"}


class Waiting(Harness):
    """pending() and wait_edges()."""

    def pending(self) -> Expr:
        parts: list[Expr] = []
        for cl in self.clients:
            # requests still queued at shutdown are left unanswered by design (§3.8)
            live = ((cl.st == ClientSt.NEG) | (cl.st == ClientSt.READY)) & (self.sd == Sd.NONE)
            for i in range(self.NR):
                parts.append(live & (cl.sent > i) & ~cl.ans[i])
        for t in self.threads:
            parts.append((t.pc != Run.RUN) & (t.pc != Run.DEAD))
        parts.append(self.main.nest == Nest.DRAIN)
        if self.hmp:
            parts.append(self.hcopc != HmpCo.NONE)
            parts.append(self.hbusy)
        parts.append(self.sd == Sd.REQ)
        if self.hmp_line is not None:
            parts.append((self.hmp_line != 0) & (self.sd != Sd.DONE))  # a typed HMP line is not read yet (F5)
        return any_of(parts)

    def wait_edges(self) -> list[WaitEdge]:
        E: list[WaitEdge] = []
        d = self.dsp
        for t in self.threads:
            E.append(WaitEdge(t.name, "BQL", "needs the BQL to continue", (t.pc == Run.RCU_REACQ) & (self.bql != 0)))
            E.append(WaitEdge("BQL", t.name, "held by", self.bql == t.tid))
            E.append(WaitEdge(t.name, "call_rcu", "drain_call_rcu waits for the call_rcu thread",
                              (t.pc == Run.RCU_WAIT) & self.rwaits[t.tid]))
            if t.rcu is not None:
                E.append(WaitEdge("rcu_grace_period", t.name, "grace period waits for the RCU reader",
                                  t.rcu & (self.rpc == Rcu.GRACE)))
        E.append(WaitEdge("call_rcu", "rcu_grace_period", "synchronize_rcu", self.rpc == Rcu.GRACE))
        E.append(WaitEdge("call_rcu", "BQL", "runs callbacks with the BQL", (self.rpc == Rcu.NEEDBQL) & (self.bql != 0)))
        E.append(WaitEdge("dispatcher", "call_rcu", "drain_call_rcu_co waits for call_rcu",
                          (d.pc == Dsp.CO_WAIT) & self.rwaits[Waiter.DISPATCHER]))
        if self.hmp:
            E.append(WaitEdge("hmp_coroutine", "call_rcu", "drain_call_rcu_co waits for call_rcu",
                              (self.hcopc == HmpCo.WAIT) & self.rwaits[Waiter.HMP_COROUTINE]))
            E.append(WaitEdge("main", "hmp_coroutine", "HMP nested event loop waits for the command coroutine",
                              (self.main.nest == Nest.HMPLOOP) & (self.hcopc != HmpCo.DONE)))
            E.append(WaitEdge("hmp_coroutine", "qemu_aio_context", "scheduled, waits to be polled", self.hcosched))
        # drain waits for bs->in_flight, held by the coroutine that raised it
        E.append(WaitEdge("main", "bs->in_flight", "drain polls until in_flight == 0",
                          (self.main.nest == Nest.DRAIN) & (self.inflight > 0)))
        holds_dsp = (d.pc == Dsp.CO_WAIT) | (d.pc == Dsp.CO_END)
        E.append(WaitEdge("bs->in_flight", "dispatcher", "raised by the coroutine command",
                          holds_dsp & (d.kind != 0) & (self.io | (d.pc == Dsp.CO_END)) & (self.inflight > 0)))
        # the dispatcher waits to be polled in the context it is scheduled in
        for ctx in (Ctx.IOH, Ctx.AIO):
            E.append(WaitEdge("dispatcher", _CTX_NAME[ctx], "scheduled, waits to be polled", d.sched == ctx))
            E.append(WaitEdge("handler_bh", _CTX_NAME[ctx], "one-shot BH waits to be polled", self.bhctx == ctx))
            served = any_of(g for _t, g, _top in self.pollers(ctx))
            for t in (t for t in self.threads if ctx == Ctx.AIO or t is self.main):
                busy = TRUE if t is self.main else t.nest == Nest.MMIO
                E.append(WaitEdge(_CTX_NAME[ctx], t.name, f"polled only by {t.name}, which is busy",
                                  ~served & (t.pc != Run.DEAD) & busy))
        E.append(WaitEdge("main", "qmp_queue_lock", "CHR_EVENT_CLOSED blocks on the queue lock", self.main.pc == Run.QLOCK))
        E.append(WaitEdge("qmp_queue_lock", "dispatcher", "held across a yield", d.qlock))
        E.append(WaitEdge("dispatcher", "handler_bh", "yielded until the BH wakes it", d.pc == Dsp.BH))
        return E

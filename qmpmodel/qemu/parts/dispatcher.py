"""The dispatcher coroutine's loop: monitor_qmp_dispatcher_co and its pop (§3.4 steps 1-4).

One coroutine serves every QMP monitor. It is scheduled in iohandler_ctx and
runs in whichever thread polls that context (the main loop, or a nested
loop that polls it); per iteration it checks the shutdown flag, pops the head
of the first non-empty queue in ``mon_list`` order (moving that monitor to
the tail: round robin), resumes a monitor whose queue had been full (early
resume) and dispatches the request.
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import FALSE, TRUE, Expr, all_of, any_of, ite, lit
from qmpmodel.core.model import Action, Emit
from qmpmodel.qemu.codes import Ctx, Dsp, Run, XShutdown
from qmpmodel.qemu.parts.dispatch import QmpDispatch
from qmpmodel.qemu.state import Monitor, Thread
from qmpmodel.qemu.steps import Update, step

__all__ = ["Dispatcher"]


class Dispatcher(QmpDispatch):
    """monitor_qmp_dispatcher_co: pop, early resume, dispatch."""

    def dispatcher_runners(self) -> list[tuple[str, Thread, Expr, bool]]:
        """Ways the dispatcher coroutine can be running now: (how, thread, guard, top level)."""
        out: list[tuple[str, Thread, Expr, bool]] = []
        for ctx, cname in ((Ctx.IOH, "iohandler"), (Ctx.AIO, "aio")):
            for t, g, top in self.pollers(ctx):
                out.append((cname, t, (self.dsp.sched == ctx) & g, top))
        for t in self.threads:
            # continuing: the thread holds the BQL for the whole coroutine run
            out.append(("cont", t, (self.dsp.sched == Ctx.CONT + t.tid) & (t.pc == Run.RUN), False))
        return out

    def dispatcher_actions(self) -> Iterator[Action]:
        via = {"iohandler": Ctx.IOH, "aio": Ctx.AIO, "cont": Ctx.CONT}
        for how, t, g, top in self.dispatcher_runners():
            params = {"thread": t.tid, "via": int(via[how]), "top": int(top)}
            yield from self.monitor_qmp_dispatcher_pop_any(t, g, top, params)
            yield from self.qmp_dispatch_actions(t, g, top, params)

    @step("monitor_qmp_dispatcher_pop_any", ref="§3.4 step 1", commit="9ce44e2ce2, b248e61652")
    def monitor_qmp_dispatcher_pop_any(self, t: Thread, g: Expr, top: bool,
                                       params: dict[str, int]) -> Iterator[Action]:
        d = self.dsp
        gp = g & (d.pc == Dsp.POP)
        shut = self.sd != 0
        active = any_of(m.qlen > 0 for m in self.mons)
        exit_g, pop_g, idle_g = self.shutdown_check(gp, shut, active)
        u = Update({d.pc: Dsp.EXIT, d.sched: 0, d.busy: FALSE})
        self.end_segment(t, True, u)
        yield from self.action("dispatcher_exit", t.name, exit_g, u, "dispatcher", **params)
        u = Update({d.pc: Dsp.WAIT, d.sched: 0, d.busy: FALSE})
        self.end_segment(t, True, u)
        yield from self.action("dispatcher_idle", t.name, idle_g, u, "dispatcher", **params)
        for m in self.mons:
            u = Update()
            u.emit(Emit("dequeue", m.conn, 0, "none", False, m.idx))
            self.pop_request(m, u)
            self.mon_list_requeue(m, u)
            self.early_resume(m, u)
            if self.monitor_cleanup_reachable():
                u[self.xsd] = self.first_x(self.xsd, shut, XShutdown.DEQ_AFTER_SHUTDOWN)
            self.nested_flag(t, self.xnest, u)
            u[d.pc] = Dsp.DISPATCH
            self.hop_before_dispatch(t, u)
            yield from self.action("dispatcher_pop", t.name, pop_g & self.serves_next(m), u, "dispatcher",
                                   mon=m.idx, **params)

    @step("monitor_qmp_dispatcher_pop_any", "qmp_dispatcher_co_shutdown", ref="§3.8, §7 L", commit="b248e61652")
    def shutdown_check(self, gp: Expr, shut: Expr, active: Expr) -> tuple[Expr, Expr, Expr]:
        """Guards (exit, pop, idle): the shutdown flag is checked before every pop."""
        return gp & shut, gp & ~shut, gp & ~shut & ~active

    @step("monitor_qmp_requests_pop_any_with_lock", "which monitor is served", ref="§3.4 step 1, §8.19",
          commit="the 2018 OOB series (Peter Xu)")
    def serves_next(self, m: Monitor) -> Expr:
        """``m`` is the first QMP monitor with a non-empty queue in mon_list order."""
        return all_of([m.qlen > 0] + [(o.qlen == 0) | (o.pos > m.pos) for o in self.mons if o is not m])

    @step("monitor_qmp_requests_pop_any_with_lock", "move to the tail of mon_list", ref="§3.4 step 1")
    def mon_list_requeue(self, m: Monitor, u: Update) -> None:
        """Round robin: the served monitor moves to the tail of mon_list."""
        for o in self.mons:
            u[o.pos] = lit(len(self.mons) - 1) if o is m else ite(o.pos > m.pos, o.pos - 1, o.pos)

    @step("monitor_qmp_requests_pop_any_with_lock", "g_queue_pop_head", ref="§3.4 step 1, §8.4")
    def pop_request(self, m: Monitor, u: Update) -> None:
        """Take the head of ``m``'s queue as the request to serve; save its monitor and ``oob``."""
        d = self.dsp
        qm = self.queue_max
        u.update({d.req: m.q[0], d.mon: m.idx, d.oob_saved: m.oob, d.busy: TRUE, d.err: FALSE})
        u[d.kind] = self.kind_of_ref(m, u[d.req])
        for j in range(qm):
            u[m.q[j]] = m.q[j + 1] if j + 1 < qm else lit(0)
        u[m.qlen] = m.qlen - 1

    @step("monitor_qmp_dispatcher_co", "early resume", ref="§3.4 step 2", commit="9ce44e2ce2")
    def early_resume(self, m: Monitor, u: Update) -> None:
        """With OOB, the pop that leaves MAX-1 requests resumes the monitor at once."""
        self.monitor_resume(m, u, m.oob & (m.qlen == self.queue_max))

    @step("monitor_qmp_dispatcher_co", "before dispatching", ref="§3.4, §3.5", commit="effd60c878")
    def hop_before_dispatch(self, t: Thread, u: Update) -> None:
        """Current QEMU stays in iohandler_ctx and continues on the same thread."""
        self.end_segment(t, False, u)

    def kind_of_ref(self, m: Monitor, ref: Expr) -> Expr:
        """The kind id of request ``ref`` of monitor ``m`` (0: qmp_capabilities)."""
        out: Expr = lit(0)
        for r, c, i in self.refs_of_mon(m.idx):
            kv = self.clients[c].kind[i]
            out = ite(ref == r, lit(0) if kv is None else kv, out)
        return out

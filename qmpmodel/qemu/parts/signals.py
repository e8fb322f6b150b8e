"""Suspend/resume, the dispatcher's wake-up and drain_call_rcu markers (§2.1, §3.3, util/rcu.c).

These steps are called from inside other steps (the reader, the dispatcher,
CHR_EVENT_CLOSED); overriding one changes every place that calls it.
"""

from __future__ import annotations

from qmpmodel.core.expr import TRUE, Expr, ite, lit
from qmpmodel.qemu.codes import Dsp, Rcu, XShutdown
from qmpmodel.qemu.harness import Harness
from qmpmodel.qemu.state import Monitor
from qmpmodel.qemu.steps import Update, step

__all__ = ["Signals"]


class Signals(Harness):
    """monitor_resume, qmp_dispatcher_co_wake and drain_call_rcu's marker callback."""

    @step("monitor_resume", ref="§2.1, §2.4", commit="monitor_resume schedules monitor_accept_input at 0")
    def monitor_resume(self, m: Monitor, u: Update, when: Expr = TRUE) -> None:
        """Decrement ``suspend_cnt`` when ``when``; reaching 0 schedules monitor_accept_input."""
        u[m.susp] = ite(when, m.susp - 1, m.susp)
        u[m.accept] = m.accept | (when & (m.susp == 1))
        if m.iothread:
            # the accept BH goes to the I/O thread's context: after iothread_stop it
            # is never run (bug G b, c81219a7dd)
            u[self.xsd] = self.first_x(self.xsd, when & (m.susp == 1) & self.iostop, XShutdown.BH_AFTER_IOSTOP)

    @step("qmp_dispatcher_co_wake", ref="§3.3 c", commit="A. Drobyshev's NULL check")
    def qmp_dispatcher_co_wake(self, u: Update) -> None:
        """Schedule the dispatcher in its home context if it was idle (busy false -> true)."""
        d = self.dsp
        idle = ~d.busy
        alive = d.pc != Dsp.EXIT
        u[d.busy] = TRUE
        u[d.sched] = ite(idle & alive, d.ctx, d.sched)
        u[d.pc] = ite(idle & alive, lit(Dsp.POP), d.pc)
        self.wake_exited_dispatcher(u, idle & ~alive)

    @step("qmp_dispatcher_co_wake", "qmp_dispatcher_co == NULL", ref="§7 M")
    def wake_exited_dispatcher(self, u: Update, exited: Expr) -> None:
        """Current QEMU checks the coroutine pointer and does nothing (the fix of bug M)."""

    @step("drain_call_rcu", "queue the marker callback", ref="§7 A, B, J; util/rcu.c", commit="7bed89958bfb")
    def drain_call_rcu_enqueue(self, waiter: int, u: Update) -> None:
        """Queue a marker callback and wait for it.

        A marker queued while a grace period is already complete waits for the
        callbacks batch being run (an over-approximation: QEMU would start another
        grace period).
        """
        u[self.rwaits[waiter]] = TRUE
        u[self.rpc] = ite(self.rpc == Rcu.IDLE, lit(Rcu.GRACE), self.rpc)

"""monitor_cleanup: QEMU exits (§3.8, bugs G, L, M).

Under monitor_lock the shutdown flag is set and the dispatcher woken; the main
thread then polls (AIO_WAIT_WHILE, which also polls iohandler_ctx) until the
dispatcher has exited, stops the I/O thread, and destroys the monitors.
Requests still queued are left unanswered by design.
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import TRUE, Expr, all_of
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Ctx, Dsp, Nest, Run, Sd, Tid
from qmpmodel.qemu.parts.signals import Signals
from qmpmodel.qemu.steps import Update, step

__all__ = ["Shutdown"]


class Shutdown(Signals):
    """monitor_cleanup and the destruction of monitors."""

    @step("monitor_cleanup", ref="§3.8", commit="357bda9590, c81219a7dd")
    def monitor_cleanup(self) -> Iterator[Action]:
        mt = self.main
        top = all_of([mt.pc == Run.RUN, mt.nest == Nest.NONE, self.bql == 0, self.dsp.sched != Ctx.CONT + Tid.MAIN])
        u = Update({self.sd: Sd.REQ, mt.nest: Nest.CLEANUP, self.bql: Tid.MAIN})
        self.qmp_dispatcher_co_wake(u)
        self.cleanup_before_waiting(u)
        yield from self.action("monitor_cleanup", "main", top & (self.sd == Sd.NONE), u)
        waiting = (self.sd == Sd.REQ) & (mt.nest == Nest.CLEANUP) & (mt.pc == Run.RUN) & (
            self.dsp.sched != Ctx.CONT + Tid.MAIN)
        u = Update({self.sd: Sd.DONE, mt.nest: Nest.NONE, self.bql: 0, self.iostop: TRUE, mt.pc: Run.DEAD})
        yield from self.action("cleanup_destroy_monitors", "main", waiting & self.cleanup_waits_for(u), u, "main")

    @step("monitor_cleanup", "before waiting for the dispatcher", ref="§7 G b")
    def cleanup_before_waiting(self, u: Update) -> None:
        """The I/O thread keeps running until the dispatcher has exited (c81219a7dd)."""

    @step("monitor_cleanup", "wait for the dispatcher, then destroy monitors", ref="§7 G a", commit="357bda9590")
    def cleanup_waits_for(self, u: Update) -> Expr:
        """Monitors are destroyed only once qmp_dispatcher_co is NULL (it exited)."""
        return self.dsp.pc == Dsp.EXIT

"""monitor_cleanup: QEMU exits (§3.8, bugs G, L, M; docs/fidelity-ii.md 1b, F3).

Under monitor_lock the shutdown flag is set and the dispatcher woken; the main
thread then polls (AIO_WAIT_WHILE, which also polls iohandler_ctx) until the
dispatcher has exited, stops the I/O thread, and destroys the monitors: every
connected client sees EOF. Requests still queued are left unanswered by
design. monitor_cleanup starts after main_loop_should_exit
(:mod:`qmpmodel.qemu.parts.mainloop`: ``quit``, a signal) or, with
``design.shutdown``, at any time (QEMU exits for a reason outside the model).
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import TRUE, Expr, all_of
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Ctx, Dsp, Nest, Run, Sd, Tid
from qmpmodel.qemu.parts.output import Output
from qmpmodel.qemu.parts.signals import Signals
from qmpmodel.qemu.steps import Update, step

__all__ = ["Shutdown"]


class Shutdown(Output, Signals):
    """monitor_cleanup and the destruction of monitors."""

    @step("monitor_cleanup", ref="§3.8", commit="357bda9590, c81219a7dd")
    def monitor_cleanup(self) -> Iterator[Action]:
        mt = self.main
        if self.monitor_cleanup_enabled():
            top = all_of([mt.pc == Run.RUN, mt.nest == Nest.NONE, self.bql == 0,
                          self.dsp.sched != Ctx.CONT + Tid.MAIN, self.main_loop_runs()])
            u = Update()
            self.monitor_cleanup_begin(u)
            yield from self.action("monitor_cleanup", "main", top & (self.sd == Sd.NONE), u)
        waiting = (self.sd == Sd.REQ) & (mt.nest == Nest.CLEANUP) & (mt.pc == Run.RUN) & (
            self.dsp.sched != Ctx.CONT + Tid.MAIN)
        u = Update({self.sd: Sd.DONE, mt.nest: Nest.NONE, self.bql: 0, self.iostop: TRUE, mt.pc: Run.DEAD})
        g = waiting & self.cleanup_waits_for(u)
        self.monitor_destroy_all(u)
        yield from self.action("cleanup_destroy_monitors", "main", g, u, "main")

    def monitor_cleanup_begin(self, u: Update) -> None:
        """Set qmp_dispatcher_co_shutdown, wake the dispatcher, enter AIO_WAIT_WHILE holding the BQL."""
        mt = self.main
        u.update({self.sd: Sd.REQ, mt.nest: Nest.CLEANUP, self.bql: Tid.MAIN})
        self.qmp_dispatcher_co_wake(u)
        self.cleanup_before_waiting(u)

    @step("monitor_cleanup", "before waiting for the dispatcher", ref="§7 G b")
    def cleanup_before_waiting(self, u: Update) -> None:
        """The I/O thread keeps running until the dispatcher has exited (c81219a7dd)."""

    @step("monitor_cleanup", "wait for the dispatcher, then destroy monitors", ref="§7 G a", commit="357bda9590")
    def cleanup_waits_for(self, u: Update) -> Expr:
        """Monitors are destroyed only once qmp_dispatcher_co is NULL (it exited)."""
        return self.dsp.pc == Dsp.EXIT

    @step("monitor_cleanup", "destroy every monitor; QEMU exits", ref="§3.8; monitor/monitor.c:633-; F3")
    def monitor_destroy_all(self, u: Update) -> None:
        """Every monitor is flushed and destroyed and the process exits: whoever is connected,
        negotiating or in command mode, sees EOF, and nothing reaches a client afterwards."""
        for m in self.mons:
            self.monitor_eof(u, m)

"""The main loop around the monitor: qemu_init's end, main_loop_should_exit, signals (F1, F3, F4).

Three mechanisms of softmmu/vl.c and softmmu/runstate.c that decide what a
client sees besides replies (docs/fidelity-ii.md 1a, 1b, 1e):

* ``main_loop_should_exit`` (runstate.c:671-721) runs after every main-loop
  iteration. A handler that only *requested* something (``system_powerdown``,
  ``system_reset``: a flag) gets its event raised there, before the
  dispatcher coroutine is re-entered to write the reply; a shutdown request
  (``quit``, SIGTERM) raises SHUTDOWN, lets ``qemu_cleanup`` raise 0..E more
  events (exports deleted, jobs cancelled), and enters ``monitor_cleanup``.
* ``termsig_handler`` (os-posix.c:68 -> ``qemu_system_killed``,
  runstate.c:615-626): an external signal sets the shutdown request.
* With a monitor on a mux chardev, the end of ``qemu_init``: the QMP
  monitor's setup bottom half (monitor/qmp.c:467-479) races with autostart's
  ``qmp_cont`` (vl.c:2631), which raises RESUME while the mux is not opened;
  ``resume_mux_open`` (vl.c:3614) then delivers CHR_EVENT_OPENED (the
  greeting). A client connected earlier receives RESUME before the greeting
  when the design delivers events to never-opened monitors (bug X).

Every state variable used here exists only when a spec enables the feature
(:meth:`~qmpmodel.qemu.harness.Harness.declare_runstate`).
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import TRUE, Expr, all_of
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Boot, Ctx, Nest, Run, Sd, Tid
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.parts.clients import Clients
from qmpmodel.qemu.parts.shutdown import Shutdown
from qmpmodel.qemu.state import Monitor
from qmpmodel.qemu.steps import Update, step

__all__ = ["MainLoop"]


class MainLoop(Clients, Shutdown):
    """main_loop_should_exit, termsig_handler, and qemu_init's autostart and resume_mux_open."""

    def mainloop_actions(self) -> Iterator[Action]:
        if self.rs_event is not None or self.rs_shutdown is not None:
            yield from self.main_loop_should_exit()
        if self.bounds.signals:
            yield from self.termsig_handler()
        if self.boot is not None:
            yield from self.qemu_init_end()

    def main_idle(self) -> Expr:
        """The main thread is at the top of its loop (between iterations), BQL free."""
        mt = self.main
        return all_of([mt.pc == Run.RUN, mt.nest == Nest.NONE, self.bql == 0, self.dsp.sched != Ctx.CONT + Tid.MAIN])

    @step("main_loop_should_exit", ref="softmmu/runstate.c:671-721; F1, F3")
    def main_loop_should_exit(self) -> Iterator[Action]:
        idle = self.main_idle()
        if self.rs_event is not None:
            # powerdown/reset requested by a handler: the event before the dispatcher resumes
            for m in self.mons:
                for r, c, i in self.refs_of_mon(m.idx):
                    if not any(k in KINDS and KINDS[k].command == "request" for k in self.kinds_for(c, i)):
                        continue
                    u = Update({self.rs_event: 0})
                    self.monitor_qapi_event_emit(u, c, i)
                    yield from self.action("main_loop_should_exit", "main", idle & (self.rs_event == r), u, "main",
                                           req=r)
        if self.rs_shutdown is not None:
            g = idle & self.rs_shutdown & (self.sd == Sd.NONE)
            if self.rs_event is not None:
                g = g & (self.rs_event == 0)
            for n in range(self.bounds.events_per_command + 1):
                u = Update()
                self.qemu_system_shutdown(u, n)
                self.monitor_cleanup_begin(u)
                yield from self.action("main_loop_should_exit", "main", g, u, "main", shutdown=1, events=n)

    @step("qemu_system_shutdown", "then qemu_cleanup", ref="softmmu/runstate.c:642-646, 797-840; F3")
    def qemu_system_shutdown(self, u: Update, n: int) -> None:
        """SHUTDOWN, then ``n`` events of qemu_cleanup (blk_exp_close_all's BLOCK_EXPORT_DELETED,
        job_cancel_sync_all's job events) before monitor_cleanup."""
        for _ in range(1 + n):
            self.qapi_event_broadcast(u, 0)

    @step("termsig_handler", ref="os-posix.c:68; softmmu/runstate.c:615-626 qemu_system_killed; F3")
    def termsig_handler(self) -> Iterator[Action]:
        """An external SIGTERM sets the shutdown request (an environment step). A handler blocked
        in a system call may then fail with EINTR: its completion is the environment's
        ``blocking_complete``."""
        assert self.rs_shutdown is not None
        g = ~self.rs_shutdown & (self.sd == Sd.NONE)
        if self.boot is not None:
            g = g & (self.boot == Boot.RUNNING)
        yield from self.action("signal", "env", g, Update({self.rs_shutdown: TRUE}))

    @step("qemu_init", "the end: autostart, resume_mux_open", ref="softmmu/vl.c:2631, 3543, 3614; F4")
    def qemu_init_end(self) -> Iterator[Action]:
        assert self.boot is not None
        mt = self.main
        init = (mt.pc == Run.RUN) & (mt.nest == Nest.NONE)
        for m in self.mons:
            if m.listed is not None:
                yield from self.monitor_qmp_setup_handlers_bh(m)
        u = Update({self.boot: Boot.CONT})
        self.qmp_cont_at_init(u)
        yield from self.action("qmp_cont", "main", init & (self.boot == Boot.INIT), u, "main")
        u = Update({self.boot: Boot.RUNNING})
        for m in self.mons:
            if m.listed is not None:
                self.monitor_qmp_event_opened(m, u, m.listed)
        yield from self.action("resume_mux_open", "main", init & (self.boot == Boot.CONT), u, "main")

    @step("qmp_x_exit_preconfig", "autostart: qmp_cont", ref="softmmu/vl.c:2631-2632")
    def qmp_cont_at_init(self, u: Update) -> None:
        """Without ``-S`` or ``-incoming`` the VM starts: RESUME, to every monitor on mon_list."""
        self.qapi_event_broadcast(u, 0)

    @step("monitor_qmp_setup_handlers_bh", ref="monitor/qmp.c:467-479; chardev/char-fe.c:289-290")
    def monitor_qmp_setup_handlers_bh(self, m: Monitor) -> Iterator[Action]:
        """In the I/O thread: set the QMP front end's handlers and join mon_list. If the mux is
        already open (resume_mux_open ran), CHR_EVENT_OPENED is delivered at once."""
        assert m.listed is not None and self.boot is not None
        u = Update({m.listed: TRUE})
        self.monitor_qmp_event_opened(m, u, self.boot == Boot.RUNNING)
        yield from self.action("monitor_qmp_setup_handlers_bh", "iothread", ~m.listed, u, "iothread", mon=m.idx)

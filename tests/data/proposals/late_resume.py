"""Proposal: resume a queue-suspended monitor only after the popped request completed.

Today monitor_qmp_dispatcher_co resumes a monitor whose queue was full as soon
as it pops a request (the queue has room again, §3.4 step 2). This patch
moves that resume after the request completed, next to the no-OOB late
resume. It needs one bit: the pop found the queue full.
"""

from qmpmodel.api import FALSE, Monitor, QemuCurrent, StateLayout, Update


class LateResume(QemuCurrent):
    """Resume after completion instead of at the pop."""

    title = "late resume"

    def declare_extra(self, layout: StateLayout) -> None:
        self.held = layout.bool("dsp.resume_held")  # the request being served was popped from a full queue

    def early_resume(self, m: Monitor, u: Update) -> None:
        u[self.held] = m.oob & (m.qlen == self.queue_max)

    def late_resume(self, m: Monitor, u: Update) -> None:
        self.monitor_resume(m, u, ~self.dsp.oob_saved | self.held)
        u[self.held] = FALSE

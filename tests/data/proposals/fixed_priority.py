"""Proposal: serve QMP monitors in a fixed priority order instead of round robin.

monitor_qmp_requests_pop_any_with_lock scans mon_list from its head and moves
the monitor it served to the tail (§3.4 step 1). This patch always serves the
lowest-numbered monitor with a queued request and never reorders mon_list.
"""

from qmpmodel.api import Expr, Monitor, QemuCurrent, Update, all_of


class FixedPriority(QemuCurrent):
    """Monitor 0 first, then monitor 1, ..."""

    title = "fixed priority"

    def serves_next(self, m: Monitor) -> Expr:
        return all_of([m.qlen > 0] + [o.qlen == 0 for o in self.mons if o.idx < m.idx])

    def mon_list_requeue(self, m: Monitor, u: Update) -> None:
        """mon_list keeps its order."""

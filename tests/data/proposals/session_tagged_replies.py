"""Proposal: drop the reply of a request whose session ended (a fix for bug P).

A request popped by the dispatcher remembers the session it came from (here:
the monitor's connection when it was popped); monitor_qmp_dispatch writes the
reply only if that session is still the connected one. QEMU would keep a
per-monitor session counter in QMPRequest; the model's ``conn`` names the
session directly. Adds the property that the reply of a live session is never
dropped, to make sure the fix drops nothing else.
"""

from qmpmodel.api import Expr, Monitor, Probes, QemuCurrent, StateLayout, Update, all_of, prop


class SessionTaggedReplies(QemuCurrent):
    """Tag popped requests with their session; write replies only to it."""

    title = "session-tagged replies"

    def declare_extra(self, layout: StateLayout) -> None:
        self.popped_session = layout.int("dsp.session", 0, self.bounds.clients)

    def pop_request(self, m: Monitor, u: Update) -> None:
        super().pop_request(m, u)
        u[self.popped_session] = m.conn

    def dispatcher_reply_gate(self, m: Monitor) -> Expr:
        return m.conn == self.popped_session


@prop("no-lost-reply", "No request of a session that is still open loses its reply.",
      "session_tagged_replies.py (the fix must drop only replies of ended sessions)")
def no_lost_reply(p: Probes) -> Expr:
    return all_of(~p.history(c, "lost") for c in p.client_ids)

"""Messages written to monitors: replies, events, and requests that get none (§3.7, §4).

A step here only *emits* (:class:`~qmpmodel.core.model.Emit`); what the
receiving session observes is derived by :mod:`qmpmodel.qemu.observer`.
"""

from __future__ import annotations

from qmpmodel.core.expr import TRUE, Expr, all_of, as_expr
from qmpmodel.core.model import Emit
from qmpmodel.qemu.harness import Harness
from qmpmodel.qemu.state import Monitor
from qmpmodel.qemu.steps import Update, Value, step

__all__ = ["Output"]


class Output(Harness):
    """qmp_send_response and monitor_qapi_event_emit."""

    @step("qmp_send_response", ref="§3.7")
    def qmp_send_response(self, u: Update, c: int, i: int, *, inband: Value = True, cls: str = "return",
                          has_id: bool = True, may_fail: bool = False, negotiated: Value = False,
                          id_ref: Expr | None = None, after_event: bool = False, gate: Expr = TRUE) -> None:
        """The reply to request (client ``c``, seq ``i``) is written to its monitor now.

        It reaches whichever session is connected then (:meth:`reply_gate`):
        the issuing session, or the next one (bug P). ``gate``: a further condition
        the caller imposes (the dispatcher's :meth:`~qmpmodel.qemu.parts.dispatch.QmpDispatch.dispatcher_reply_gate`).
        """
        m = self.mons[self.clients[c].mon]
        u.emit(Emit("reply", m.conn, self.ref(c, i), cls, has_id, m.idx, may_fail,
                                gate=all_of([self.reply_gate(m, c), gate]), inband=as_expr(inband),
                                negotiated=as_expr(negotiated), id_ref=id_ref, after_event=after_event))

    @step("monitor_puts", "who receives a reply", ref="§3.8, §7 P; monitor/monitor.c")
    def reply_gate(self, m: Monitor, c: int) -> Expr:
        """Current QEMU writes the reply to the chardev whoever is connected (bug P)."""
        return TRUE

    @step("monitor_qapi_event_emit", ref="§4")
    def monitor_qapi_event_emit(self, u: Update, c: int, i: int) -> None:
        """Broadcast the event raised by request (c, i)'s handler to every QMP monitor."""
        ref = self.ref(c, i)
        for m in self.mons:
            u.emit(Emit("event", m.conn, ref, "event", False, m.idx, gate=self.event_gate(m)))

    @step("monitor_qapi_event_emit", "skip monitors in negotiation mode", ref="§3.1 step 2, §4")
    def event_gate(self, m: Monitor) -> Expr:
        """Events reach only monitors in command mode (QMP spec: not during negotiation)."""
        return m.mode

    def no_reply(self, u: Update, c: int, i: int, *, lost: Value) -> None:
        """Request (c, i) will never get a reply: by design (``success-response: false``) or lost."""
        m = self.mons[self.clients[c].mon]
        u.emit(Emit("silent", m.conn, self.ref(c, i), "none", False, m.idx, lost=as_expr(lost)))

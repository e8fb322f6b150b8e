"""Messages written to monitors: replies, events, and requests that get none (§3.7, §4).

A step here only *emits* (:class:`~qmpmodel.core.model.Emit`); what the
receiving session observes is derived by :mod:`qmpmodel.qemu.observer`.
"""

from __future__ import annotations

from qmpmodel.core.expr import FALSE, TRUE, Expr, all_of, any_of, as_expr
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
        self.qapi_event_broadcast(u, self.ref(c, i))

    @step("monitor_qapi_event_emit", "broadcast under monitor_lock", ref="§4; monitor/monitor.c:327-343")
    def qapi_event_broadcast(self, u: Update, ref: int) -> None:
        """Write one event to every QMP monitor on ``mon_list`` that :meth:`event_reaches`;
        ``ref`` is the request whose handler raised it (0: none, F2/F3)."""
        for m in self.mons:
            u.emit(Emit("event", m.conn, ref, "event", False, m.idx, gate=self.event_reaches(m)))

    def event_reaches(self, m: Monitor) -> Expr:
        """Monitor ``m`` is on ``mon_list`` and not skipped (F4: a monitor on a mux chardev joins
        the list only when its setup bottom half ran, monitor/qmp.c:467-479)."""
        listed = TRUE if m.listed is None else m.listed
        return all_of([listed, any_of([self.event_gate(m), self.never_opened_gate(m)])])

    @step("monitor_qapi_event_emit", "skip monitors in negotiation mode", ref="§3.1 step 2, §4")
    def event_gate(self, m: Monitor) -> Expr:
        """Events reach only monitors in command mode (QMP spec: not during negotiation)."""
        return m.mode

    @step("monitor_qapi_event_emit", "commands == NULL is not negotiation mode", ref="monitor/monitor.c:339; F4")
    def never_opened_gate(self, m: Monitor) -> Expr:
        """QEMU 7.2 skips only ``commands == &qmp_cap_negotiation_commands``: a monitor that never
        received CHR_EVENT_OPENED (``g_new0``, monitor/qmp.c:483) gets every event. Only a monitor
        on a mux chardev can have a connected client then (docs/fidelity-ii.md 1e)."""
        return FALSE if m.opened is None else ~m.opened

    @step("qmp_greeting", ref="§3.1 step 1; monitor/qmp.c monitor_qmp_event")
    def qmp_greeting(self, u: Update, m: Monitor, gate: Expr = TRUE) -> None:
        """CHR_EVENT_OPENED writes the greeting to whoever is connected (when ``gate``): the
        session this very update connects, if it does."""
        u.emit(Emit("greeting", u[m.conn], 0, "greeting", False, m.idx, gate=gate))

    @step("monitor_data_destroy", "the chardev closes", ref="§3.8; F3")
    def monitor_eof(self, u: Update, m: Monitor) -> None:
        """The monitor is destroyed and QEMU exits: the connected client sees EOF."""
        u.emit(Emit("eof", m.conn, 0, "eof", False, m.idx))

    def no_reply(self, u: Update, c: int, i: int, *, lost: Value) -> None:
        """Request (c, i) will never get a reply: by design (``success-response: false``) or lost."""
        m = self.mons[self.clients[c].mon]
        u.emit(Emit("silent", m.conn, self.ref(c, i), "none", False, m.idx, lost=as_expr(lost)))

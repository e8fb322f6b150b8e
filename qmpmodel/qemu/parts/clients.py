"""Clients: sessions that connect, send requests and disconnect (the environment).

Clients of one monitor connect one after the other (a closed connection and
a new session, §3.8). Their behaviour is an environment assumption, not
QEMU's: the hooks below (``client_*``) say how disciplined they are. The
QEMU side of a connection is :meth:`Clients.monitor_qmp_event_opened`.
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import FALSE, TRUE, Expr, all_of, any_of, ite, lit
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Boot, ClientSt, Sd
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.parts.output import Output
from qmpmodel.qemu.state import Client, Monitor
from qmpmodel.qemu.steps import Update, step

__all__ = ["Clients"]


class Clients(Output):
    """Client sessions and CHR_EVENT_OPENED."""

    # -- environment assumptions ---------------------------------------------------
    def client_waits_for_negotiation(self) -> bool:
        """Clients wait for the qmp_capabilities reply before sending commands (qemu.qmp does)."""
        return True

    def client_keeps_discipline(self) -> bool:
        """Clients keep at most queue_max in-band requests in flight (QMP spec §3.10 advice)."""
        return True

    # -- steps -------------------------------------------------------------------------
    @step("monitor_qmp_event", "CHR_EVENT_OPENED", ref="§3.1 step 1")
    def monitor_qmp_event_opened(self, m: Monitor, u: Update, when: Expr = TRUE) -> None:
        """Negotiation mode, capabilities reset, greeting written (all only ``when``: a mux
        chardev delivers OPENED only once it is open, F4)."""
        u[m.mode] = ite(when, FALSE, m.mode)
        u[m.oob] = ite(when, FALSE, m.oob)
        if m.opened is not None:
            u[m.opened] = m.opened | when
        self.qmp_greeting(u, m, when)

    @step("client", "the environment: connect, send, disconnect", ref="§3.1, §3.8")
    def client_actions(self) -> Iterator[Action]:
        b = self.bounds
        for cl in self.clients:
            m = self.mons[cl.mon]
            c = cl.idx
            actor = f"client{c}"
            earlier = [self.clients[x] for x in m.clients if x < c]
            g = all_of([cl.st == ClientSt.NEW, m.conn == 0, ~m.closing, self.sd != Sd.DONE,
                        *[e.st == ClientSt.GONE for e in earlier], self.accepts_connection(m)])
            opened = self.opened_on_connect(m)
            u = Update({cl.st: ite(opened, lit(ClientSt.NEG), lit(ClientSt.NEW)), m.conn: c + 1})
            self.monitor_qmp_event_opened(m, u, opened)
            yield from self.action("connect", actor, g, u, client=c)
            first = 0
            if b.negotiate_first:
                # seq 0: qmp_capabilities, with oob if offered and wanted (§3.1)
                u = self.push_input(m, c, 0, Update({cl.sent: 1}))
                yield from self.action("send", actor, (cl.st == ClientSt.NEG) & (cl.sent == 0) & self.writes_qmp(m), u,
                                       client=c, seq=0, kind=0)
                first = 1
            for i in range(first, self.NR):
                if self.client_waits_for_negotiation() and first:
                    ready = cl.st == ClientSt.READY
                else:
                    ready = (cl.st == ClientSt.READY) | (cl.st == ClientSt.NEG)
                for k in self.kinds:
                    g = ready & (cl.sent == i) & self.writes_qmp(m)
                    if self.client_keeps_discipline() and KINDS[k].form != "exec-oob":
                        g = g & (self.inflight_inband(cl, i) < self.queue_max)
                    u = self.push_input(m, c, i, Update({cl.sent: i + 1}))
                    kv = cl.kind[i]
                    assert kv is not None
                    u[kv] = self.kind_id[k]
                    yield from self.action("send", actor, g, u, client=c, seq=i, kind=self.kind_id[k])
            # the client closes its connection; CHR_EVENT_CLOSED is handled by the reader
            u = Update({cl.st: ClientSt.GONE, m.conn: 0, m.closing: True})
            yield from self.action("disconnect", actor, (cl.st == ClientSt.NEG) | (cl.st == ClientSt.READY), u,
                                   client=c)

    def writes_qmp(self, m: Monitor) -> Expr:
        """On a mux shared with HMP the client writes QMP only while QMP has the focus (an environment
        assumption: its bytes would go to HMP otherwise, F5); true on any other chardev."""
        if self.focus_hmp is None or m.idx != self.hmp_mux_monitor():
            return TRUE
        return ~self.focus_hmp

    @step("tcp_chr_accept", "who accepts the connection", ref="chardev/char-socket.c; F4")
    def accepts_connection(self, m: Monitor) -> Expr:
        """A socket is accepted by the main loop once qemu_init returned; a mux chardev's
        listener moves into the monitor I/O thread with the QMP monitor's setup bottom half
        (mux_chr_update_read_handlers, chardev/char-mux.c:289), so it may accept earlier."""
        if m.listed is not None:
            return m.listed
        return TRUE if self.boot is None else self.boot == Boot.RUNNING

    @step("tcp_chr_connect", "CHR_EVENT_OPENED with the connection", ref="§3.1 step 1; chardev/char-mux.c:247")
    def opened_on_connect(self, m: Monitor) -> Expr:
        """A plain socket delivers OPENED as it connects; a mux chardev drops every event until
        resume_mux_open (``muxes_opened``) and only then passes OPENED through."""
        if m.listed is None:
            return TRUE
        assert self.boot is not None
        return self.boot == Boot.RUNNING

    def inflight_inband(self, cl: Client, upto: int) -> Expr:
        """In-band requests among the first ``upto`` that are not answered yet."""
        total: Expr = lit(0)
        for i in range(upto):
            inband = lit(True) if i == 0 and self.bounds.negotiate_first else any_of(
                self.is_kind(cl.idx, i, k) for k in self.kinds if KINDS[k].form != "exec-oob")
            total = total + ite(inband & ~cl.ans[i], lit(1), lit(0))
        return total

    def push_input(self, m: Monitor, c: int, i: int, u: Update) -> Update:
        """The client writes request (c, i): it joins the monitor's unread input."""
        r = self.ref(c, i)
        for j, slot in enumerate(m.inq):
            u[slot] = ite(m.inlen == j, lit(r), slot)
        u[m.inlen] = m.inlen + 1
        return u

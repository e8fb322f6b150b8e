"""The clients' history, derived from the messages an action emits.

Designs never write history variables. When an action is built, every
:class:`~qmpmodel.core.model.Emit` it carries is turned into updates of the
receiving session's record (:class:`~qmpmodel.qemu.harness.Client`): which
requests it got replies to, the highest sequence number answered (in-band and
overall), and flags for what a client would call a protocol violation: a
reply to another session's request, a second reply, a reply out of issue
order, a wrong id, an event during negotiation, a reply before its handler's
event, a request that will never be answered. The order properties are
predicates over these flags (§8: "order properties may keep a small history
in the state"), so they hold for every design alike.

Messages of one action are observed in order: a later message sees the
history as the earlier ones left it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qmpmodel.core.expr import FALSE, Expr, all_of, ite, lit
from qmpmodel.core.model import Emit
from qmpmodel.qemu.codes import ClientSt
from qmpmodel.qemu.steps import Update

if TYPE_CHECKING:
    from qmpmodel.qemu.harness import Harness

__all__ = ["observe", "receives"]


def receives(e: Emit, c: int) -> Expr:
    """Client ``c`` receives message ``e`` (evaluated on the state before the step)."""
    g = e.gate
    # a gate "conn == k" (a design that discards stale replies) excludes every other client
    if g.op == "==" and g.args[0] is e.conn and isinstance(g.args[1], Expr) and g.args[1].op == "const":
        return e.conn == c + 1 if g.args[1].args[0] == c + 1 else FALSE
    return all_of([g, e.conn == c + 1])


def observe(h: Harness, u: Update) -> None:
    """Add to ``u`` the history updates implied by its messages."""
    for e in u.emits:
        if e.what == "reply":
            _reply(h, u, e)
        elif e.what == "event":
            _event(h, u, e)
        elif e.what == "silent":
            _silent(h, u, e)
        elif e.what in ("dequeue", "dropped"):
            _bypass(h, u, e)
        elif e.what == "greeting":
            _greeting(h, u, e)


def _reply(h: Harness, u: Update, e: Emit) -> None:
    c, i = h.split_ref(e.ref)
    for c2 in h.mons[e.monitor].clients:
        cl = h.clients[c2]
        rcv = receives(e, c2)
        if c2 != c:
            u[cl.x_cross] = u[cl.x_cross] | rcv
            continue
        ans, last, lasta = u[cl.ans[i]], u[cl.last], u[cl.lasta]
        u[cl.x_dup] = u[cl.x_dup] | (rcv & ans)
        u[cl.ans[i]] = ans | rcv
        u[cl.x_order] = u[cl.x_order] | (rcv & e.inband & (last >= i))
        u[cl.last] = ite(rcv & e.inband & (last < i), lit(i), last)
        u[cl.x_order_all] = u[cl.x_order_all] | (rcv & (lasta >= i))
        u[cl.lasta] = ite(rcv & (lasta < i), lit(i), lasta)
        if e.id_ref is not None:
            u[cl.x_id] = u[cl.x_id] | (rcv & (e.id_ref != e.ref))
        if cl.ev and e.after_event:
            u[cl.x_evorder] = u[cl.x_evorder] | (rcv & ~u[cl.ev[i]])
        if not (e.negotiated.op == "const" and not e.negotiated.args[0]):
            st = u[cl.st]
            u[cl.st] = ite(rcv & e.negotiated & (st == ClientSt.NEG), lit(ClientSt.READY), st)


def _event(h: Harness, u: Update, e: Emit) -> None:
    origin = h.split_ref(e.ref) if e.ref else None
    for c2 in h.mons[e.monitor].clients:
        cl = h.clients[c2]
        deliver = receives(e, c2)
        u[cl.x_negev] = u[cl.x_negev] | (deliver & (u[cl.st] != ClientSt.READY))
        if origin is not None and origin[0] == c2 and cl.ev:
            i = origin[1]
            u[cl.ev[i]] = u[cl.ev[i]] | deliver


def _greeting(h: Harness, u: Update, e: Emit) -> None:
    """A client that connected before CHR_EVENT_OPENED (F4) starts negotiating when the greeting
    arrives; an action that connects the client sets its state itself."""
    for c2 in h.mons[e.monitor].clients:
        cl = h.clients[c2]
        rcv = receives(e, c2)
        if cl.st in u or (rcv.op == "const" and not rcv.args[0]):
            continue
        st = u[cl.st]
        u[cl.st] = ite(rcv & (st == ClientSt.NEW), lit(ClientSt.NEG), st)


def _silent(h: Harness, u: Update, e: Emit) -> None:
    c, i = h.split_ref(e.ref)
    cl = h.clients[c]
    rcv = e.conn == c + 1
    u[cl.ans[i]] = u[cl.ans[i]] | rcv
    u[cl.x_lost] = u[cl.x_lost] | (rcv & e.lost)


def _bypass(h: Harness, u: Update, e: Emit) -> None:
    """A dequeue from ``e.monitor`` bypasses every other monitor whose queue is not empty;
    the served monitor's count restarts, as does one whose queue was dropped (CHR_EVENT_CLOSED)."""
    if not h.bypass:
        return
    top = h.bypass_bound + 1
    for o in h.mons:
        var = h.bypass[o.idx]
        if o.idx == e.monitor:
            u[var] = lit(0)
        elif e.what == "dequeue":
            cur = u[var]
            u[var] = ite(o.qlen > 0, ite(cur >= top, lit(top), cur + 1), lit(0))

"""Lemmas about monitors, sessions and requests: queues, input, negotiation, replies."""

from __future__ import annotations

from collections.abc import Callable

from qmpmodel.core.expr import TRUE, Expr, all_of, any_of, lit
from qmpmodel.qemu.codes import ClientSt, Dsp
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.lemmas.view import ModelView, active, clients_of, monitor_ids, session_live

__all__ = [
    "answered_before",
    "answered_last",
    "closing",
    "connection",
    "dispatcher_first",
    "dispatcher_request",
    "first_negotiation",
    "fresh",
    "idle_queue",
    "input_contents",
    "input_owner",
    "input_slots",
    "mon_list",
    "negotiating",
    "oob_saved",
    "oob_session",
    "pending_before_any",
    "pending_unanswered",
    "queue_contents",
    "queue_slots",
    "sent_kinds",
    "session_mode",
    "session_order",
    "unanswered_somewhere",
]


def queue_slots(mv: ModelView) -> Expr:
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        qlen = mv.v(f"mon{m}.qlen")
        for j in range(mv.bounds.queue_max):
            parts.append((qlen > j) == (mv.v(f"mon{m}.q{j}") != 0))
        parts.append(qlen <= mv.bounds.queue_max)
    return all_of(parts)


def input_slots(mv: ModelView) -> Expr:
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        inlen = mv.v(f"mon{m}.inlen")
        j = 0
        while mv.has(f"mon{m}.in{j}"):
            parts.append((inlen > j) == (mv.v(f"mon{m}.in{j}") != 0))
            j += 1
    return all_of(parts)


def connection(mv: ModelView) -> Expr:
    """``mon.conn`` names the one live session; a closed, idle monitor has no input."""
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        conn = mv.v(f"mon{m}.conn")
        cs = clients_of(mv, m)
        for c in cs:
            parts.append((conn == c + 1) == session_live(mv, c))
        parts.append((conn != 0) | mv.v(f"mon{m}.closing") | (mv.v(f"mon{m}.inlen") == 0))
    return all_of(parts)


def _input_is_last_sends(mv: ModelView, owner: Callable[[int, int], Expr]) -> Expr:
    """Where ``owner(m, c)`` holds, monitor m's unread input is client c's last ``inlen`` sends, in order."""
    nr = mv.bounds.requests + 1
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        inlen = mv.v(f"mon{m}.inlen")
        for c in clients_of(mv, m):
            sent = mv.v(f"client{c}.sent")
            mine = owner(m, c)
            parts.append(~mine | (inlen <= sent))
            j = 0
            while mv.has(f"mon{m}.in{j}"):
                slot = mv.v(f"mon{m}.in{j}")
                parts.append(~mine | (inlen <= j) | (slot == sent - inlen + (c * nr + j + 1)))
                j += 1
    return all_of(parts)


def input_contents(mv: ModelView) -> Expr:
    """The live session's unread messages are its last ``inlen`` sends, in order."""
    return _input_is_last_sends(mv, lambda m, c: mv.v(f"mon{m}.conn") == c + 1)


def idle_queue(mv: ModelView) -> Expr:
    """A monitor with no session that is not closing has an empty queue."""
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        parts.append((mv.v(f"mon{m}.conn") != 0) | mv.v(f"mon{m}.closing") | (mv.v(f"mon{m}.qlen") == 0))
    return all_of(parts)


def oob_saved(mv: ModelView) -> Expr:
    """A request the dispatcher runs for a monitor with OOB on was dequeued with OOB on."""
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        mine = (mv.v("dsp.mon") == m) & active(mv)
        parts.append(~(mine & mv.v(f"mon{m}.oob")) | mv.v("dsp.oob_saved"))
    return all_of(parts)


def refs_of(mv: ModelView, c: int) -> list[int]:
    nr = mv.bounds.requests + 1
    return [c * nr + i + 1 for i in range(nr)]


def oob_session(mv: ModelView) -> Expr:
    """OOB is on only in command mode; a live session's request dequeued with OOB on keeps it on."""
    parts: list[Expr] = []
    req = mv.v("dsp.req")
    for m in monitor_ids(mv):
        oob = mv.v(f"mon{m}.oob")
        parts.append(~oob | mv.v(f"mon{m}.command_mode"))
        running = (mv.v("dsp.mon") == m) & active(mv) & mv.v("dsp.oob_saved")
        for c in clients_of(mv, m):
            mine = any_of(req == r for r in refs_of(mv, c))
            parts.append(~(running & mine & (mv.v(f"mon{m}.conn") == c + 1)) | oob)
            # command mode was on when it was dequeued; only a later session's connect resets it
            later = [mv.v(f"client{x}.st") != ClientSt.NEW for x in clients_of(mv, m) if x > c]
            parts.append(~(running & mine) | mv.v(f"mon{m}.command_mode") | any_of(later))
        cs = clients_of(mv, m)
        if cs and mv.bounds.negotiate_first:
            # nothing turns OOB on before the first session's qmp_capabilities has run
            first = (mv.v("dsp.mon") == m) & active(mv) & (req == refs_of(mv, cs[0])[0])
            parts.append(~(first & mv.v("dsp.oob_saved")))
    return all_of(parts)


def session_owns(mv: ModelView, m: int, c: int) -> Expr:
    """Client ``c`` is the session whose requests monitor ``m`` holds: live, or closed and not yet cleaned up."""
    conn, closing = mv.v(f"mon{m}.conn"), mv.v(f"mon{m}.closing")
    later = [mv.v(f"client{x}.st") == ClientSt.NEW for x in clients_of(mv, m) if x > c]
    gone = all_of([conn == 0, closing, mv.v(f"client{c}.st") == ClientSt.GONE, *later])
    return (conn == c + 1) | gone


def queue_contents(mv: ModelView) -> Expr:
    """Queued requests belong to the monitor's current session and were sent before its unread input."""
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        inlen = mv.v(f"mon{m}.inlen")
        qm = mv.bounds.queue_max
        slots = [mv.v(f"mon{m}.q{j}") for j in range(qm)]
        qlen = mv.v(f"mon{m}.qlen")
        for j in range(qm - 1):
            parts.append((qlen <= j + 1) | (slots[j] < slots[j + 1]))
        refs = {r: (c, i) for c in clients_of(mv, m) for i, r in enumerate(refs_of(mv, c))}
        for slot in slots:
            parts.append(any_of([slot == 0, *(slot == r for r in refs)]))
            for r, (c, i) in refs.items():
                sent = mv.v(f"client{c}.sent")
                ok = session_owns(mv, m, c) & (sent > inlen + i)
                parts.append((slot != r) | ok)
    return all_of(parts)


def kind_of(mv: ModelView, c: int, i: int) -> Expr:
    if i == 0 and mv.bounds.negotiate_first:
        return lit(0)
    return mv.v(f"client{c}.kind{i}")


def dispatcher_request(mv: ModelView) -> Expr:
    """The request the dispatcher runs was sent on its monitor; dsp.kind is its kind."""
    req, kind, dmon = mv.v("dsp.req"), mv.v("dsp.kind"), mv.v("dsp.mon")
    alts: list[Expr] = []
    for m in monitor_ids(mv):
        for c in clients_of(mv, m):
            for i, r in enumerate(refs_of(mv, c)):
                alts.append((req == r) & (dmon == m) & (kind == kind_of(mv, c, i))
                            & (mv.v(f"client{c}.sent") > i) & (mv.v(f"client{c}.st") != ClientSt.NEW))
    return ~active(mv) | any_of(alts)


def session_order(mv: ModelView) -> Expr:
    """The clients of a monitor connect one after the other: a later one starts after an earlier one left."""
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        cs = clients_of(mv, m)
        for a, c in enumerate(cs):
            for e in cs[:a]:
                parts.append((mv.v(f"client{c}.st") == ClientSt.NEW) | (mv.v(f"client{e}.st") == ClientSt.GONE))
    return all_of(parts)


def first_negotiation(mv: ModelView) -> Expr:
    """Until the first session's qmp_capabilities is dispatched, the monitor stays in negotiation mode."""
    if not mv.bounds.negotiate_first:
        return TRUE
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        cs = clients_of(mv, m)
        if not cs:
            continue
        c = cs[0]
        r = refs_of(mv, c)[0]
        waiting = [(mv.v(f"client{c}.sent") == 0) & (mv.v(f"client{c}.st") != ClientSt.GONE)]
        waiting += [mv.v(f"mon{m}.q{j}") == r for j in range(mv.bounds.queue_max)]
        j = 0
        while mv.has(f"mon{m}.in{j}"):
            waiting.append(mv.v(f"mon{m}.in{j}") == r)
            j += 1
        waiting.append((mv.v("dsp.req") == r) & (mv.v("dsp.mon") == m) & (mv.v("dsp.pc") == Dsp.DISPATCH))
        parts.append(~any_of(waiting) | ~mv.v(f"mon{m}.command_mode"))
    return all_of(parts)


def input_owner(mv: ModelView) -> Expr:
    """The unread input of a closed session not yet cleaned up is its last inlen messages, in order."""
    return _input_is_last_sends(mv, lambda m, c: ~(mv.v(f"mon{m}.conn") == c + 1) & session_owns(mv, m, c))


def dispatcher_first(mv: ModelView) -> Expr:
    """The running request precedes every queued request and every unread message of its monitor."""
    parts: list[Expr] = []
    req = mv.v("dsp.req")
    for m in monitor_ids(mv):
        busy = active(mv) & (mv.v("dsp.mon") == m)
        parts.append(~busy | (mv.v(f"mon{m}.qlen") == 0) | (req < mv.v(f"mon{m}.q0")))
        if mv.has(f"mon{m}.in0"):
            parts.append(~busy | (mv.v(f"mon{m}.inlen") == 0) | (req < mv.v(f"mon{m}.in0")))
    return all_of(parts)


def pending(mv: ModelView, m: int, c: int, i: int) -> Expr:
    """Request ``i`` of client ``c`` is not sent yet, or unread, queued or running on monitor ``m``."""
    r = refs_of(mv, c)[i]
    parts: list[Expr] = [mv.v(f"client{c}.sent") <= i]
    parts += [mv.v(f"mon{m}.q{j}") == r for j in range(mv.bounds.queue_max)]
    j = 0
    while mv.has(f"mon{m}.in{j}"):
        parts.append(mv.v(f"mon{m}.in{j}") == r)
        j += 1
    parts.append((mv.v("dsp.req") == r) & (mv.v("dsp.mon") == m) & active(mv))
    return any_of(parts)


def pending_unanswered(mv: ModelView) -> Expr:
    """A request not sent yet, unread, queued or running has no reply yet, and no later in-band one has.

    Replies to a session's in-band requests come in issue order (the queue and
    the input are FIFO, one dispatcher): while request ``i`` waits, the last
    in-band reply the client saw answers an earlier request. This is what
    makes ``reply-order`` and ``exactly-once-reply`` inductive.
    """
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        for c in clients_of(mv, m):
            last = mv.v(f"client{c}.last_inband")
            for i in range(mv.bounds.requests + 1):
                pend = pending(mv, m, c, i)
                parts.append(~pend | (~mv.v(f"client{c}.answered{i}") & (last < i)))
    return all_of(parts)


def answered_before(mv: ModelView) -> Expr:
    """The last in-band reply a client saw answers a request it sent."""
    parts: list[Expr] = []
    for c in range(mv.bounds.clients):
        last, sent = mv.v(f"client{c}.last_inband"), mv.v(f"client{c}.sent")
        parts.append(last < sent)
        parts.append(mv.v(f"client{c}.last_any") < sent)
    return all_of(parts)


def answered_last(mv: ModelView) -> Expr:
    """The last reply a client saw (in-band, or any) answers a request that has its reply."""
    parts: list[Expr] = []
    for c in range(mv.bounds.clients):
        for i in range(mv.bounds.requests + 1):
            if not mv.has(f"client{c}.answered{i}"):
                continue
            got = mv.v(f"client{c}.answered{i}")
            parts.append((mv.v(f"client{c}.last_inband") != i) | got)
            parts.append((mv.v(f"client{c}.last_any") != i) | got)
    return all_of(parts)


def pending_before_any(mv: ModelView) -> Expr:
    """While request ``i`` waits, the last reply of any kind the client saw answers an earlier request.

    Only without exec-oob requests in the mix: an exec-oob reply overtakes (bug U).
    """
    if any(KINDS[k].form == "exec-oob" for k in mv.bounds.mix if k in KINDS):
        return TRUE
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        for c in clients_of(mv, m):
            last = mv.v(f"client{c}.last_any")
            for i in range(mv.bounds.requests + 1):
                parts.append(~pending(mv, m, c, i) | (last < i))
    return all_of(parts)


def mon_list(mv: ModelView) -> Expr:
    """mon_list is an order: monitors hold distinct positions. A monitor bypassed ``n`` times in a row
    moved ``n`` places up, so its count plus its position is below the number of monitors."""
    ms = list(monitor_ids(mv))
    if not mv.has("mon0.pos"):
        return TRUE
    pos = {m: mv.v(f"mon{m}.pos") for m in ms}
    parts: list[Expr] = [pos[a] != pos[b] for a in ms for b in ms if a < b]
    if mv.has("mon0.x_bypassed"):
        parts.extend(mv.v(f"mon{m}.x_bypassed") + pos[m] <= len(ms) - 1 for m in ms)
    return all_of(parts)


def sent_kinds(mv: ModelView) -> Expr:
    """A request that was sent has a kind from the mix (kind variables are set when it is sent)."""
    parts: list[Expr] = []
    for c in range(mv.bounds.clients):
        for i in range(mv.bounds.requests + 1):
            if mv.has(f"client{c}.kind{i}"):
                k = mv.v(f"client{c}.kind{i}")
                parts.append((mv.v(f"client{c}.sent") > i) == (k != 0))
    return all_of(parts)


def session_mode(mv: ModelView) -> Expr:
    """A session past negotiation is in command mode; a monitor in command mode has a session that got there."""
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        for c in clients_of(mv, m):
            live = mv.v(f"mon{m}.conn") == c + 1
            parts.append(~(live & (mv.v(f"client{c}.st") == ClientSt.READY)) | mv.v(f"mon{m}.command_mode"))
    return all_of(parts)


def unanswered_somewhere(mv: ModelView) -> Expr:
    """A sent, unanswered request of the live session is unread, queued or running (none is lost)."""
    parts: list[Expr] = []
    for m in monitor_ids(mv):
        for c in clients_of(mv, m):
            live = mv.v(f"mon{m}.conn") == c + 1
            sent = mv.v(f"client{c}.sent")
            for i in range(mv.bounds.requests + 1):
                waiting = live & (sent > i) & ~mv.v(f"client{c}.answered{i}")
                parts.append(~waiting | pending(mv, m, c, i))
    return all_of(parts)


def negotiating(mv: ModelView) -> Expr:
    """A session in negotiation that waits for the qmp_capabilities reply sent nothing else.

    (It may have a reply to it: a stale qmp_capabilities of the previous session can put the
    monitor in command mode first, and the session's own one is then CommandNotFound, bug P.)
    """
    if not (mv.bounds.negotiate_first and mv.design.client_waits_for_negotiation()):
        return TRUE
    return all_of(~(mv.v(f"client{c}.st") == ClientSt.NEG) | (mv.v(f"client{c}.sent") <= 1)
                  for c in range(mv.bounds.clients))


def fresh(mv: ModelView) -> Expr:
    """A client that has not connected sent nothing; a one-shot BH is pending only for a dispatcher in D_BH."""
    parts = [(mv.v(f"client{c}.st") != ClientSt.NEW) | (mv.v(f"client{c}.sent") == 0) for c in range(mv.bounds.clients)]
    parts.append((mv.v("bh.ctx") == 0) | (mv.v("dsp.pc") == Dsp.BH))
    return all_of(parts)


def closing(mv: ModelView) -> Expr:
    """CHR_EVENT_CLOSED is pending only while no session is connected."""
    return all_of(~mv.v(f"mon{m}.closing") | (mv.v(f"mon{m}.conn") == 0) for m in monitor_ids(mv))

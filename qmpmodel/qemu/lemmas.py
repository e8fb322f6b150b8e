"""Strengthening lemmas for k-induction (:func:`qmpmodel.engines.smt.prove`).

A property such as ``queue-bound`` holds on every reachable state but is not
inductive by itself: some unreachable state satisfies it and steps to one that
does not (a counterexample to induction, CTI). Each lemma below rules out a
family of such states. Lemmas are never assumed: :func:`qmpmodel.engines.smt.prove`
proves the conjunction of the target and the lemmas it keeps by k-induction,
pruning (Houdini-style) every candidate that a reachable state or a
counterexample to induction violates, so a false lemma can only be dropped or
make a proof fail, never make one succeed. ``tests/test_smt.py`` additionally
checks every structural lemma (:data:`LEMMAS`) on every reachable state of
``specs/qemu-current.toml`` with the explicit engine.

:func:`candidate_lemmas` adds to :data:`LEMMAS` every declared variable range
and every state invariant of the library: properties strengthen each other.

Lemmas are :class:`~qmpmodel.core.expr.Expr` builders over a
:class:`~qmpmodel.invariants.ModelView`, like the invariants, and apply to
the queue-based dispatcher (every design but ``dispatch = "direct"``); each
returns ``TRUE`` where it does not apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from qmpmodel.core.expr import TRUE, Expr, Var, all_of, any_of, ite, lit
from qmpmodel.core.model import Model
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.codes import ClientSt, Ctx, Dsp, HmpCo, Nest, Rcu, Run, Sd, Tid
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.properties import INVARIANTS

__all__ = ["LEMMAS", "Lemma", "ModelView", "candidate_lemmas", "lemmas_for", "named_lemmas"]


@dataclass(frozen=True)
class ModelView:
    """The model's encoding, for lemmas: lemmas are facts about the encoding itself
    (queue slots below qlen are filled, ...), so unlike properties they may name
    state variables. A lemma that names a variable a design does not have is
    skipped (:func:`named_lemmas`); a false one is pruned by the prover."""

    model: Model
    design: QemuCurrent
    bounds: Bounds

    def v(self, name: str) -> Var:
        for var in self.model.layout.vars:
            if var.name == name:
                return var
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return name in self.model.layout.names

    def matching(self, pattern: str) -> Iterator[Var]:
        rx = re.compile(pattern)
        return (v for v in self.model.layout.vars if rx.fullmatch(v.name))


@dataclass(frozen=True)
class Lemma:
    name: str
    statement: str
    build: Callable[[ModelView], Expr]


def _mons(mv: ModelView) -> range:
    return range(mv.bounds.monitors)


def _clients_of(mv: ModelView, m: int) -> list[int]:
    return [c for c in range(mv.bounds.clients) if mv.bounds.monitor_of(c) == m]


def _live(mv: ModelView, c: int) -> Expr:
    st = mv.v(f"client{c}.st")
    return (st == ClientSt.NEG) | (st == ClientSt.READY)


def _queue_slots(mv: ModelView) -> Expr:
    parts: list[Expr] = []
    for m in _mons(mv):
        qlen = mv.v(f"mon{m}.qlen")
        for j in range(mv.bounds.queue_max):
            parts.append((qlen > j) == (mv.v(f"mon{m}.q{j}") != 0))
        parts.append(qlen <= mv.bounds.queue_max)
    return all_of(parts)


def _input_slots(mv: ModelView) -> Expr:
    parts: list[Expr] = []
    for m in _mons(mv):
        inlen = mv.v(f"mon{m}.inlen")
        j = 0
        while mv.has(f"mon{m}.in{j}"):
            parts.append((inlen > j) == (mv.v(f"mon{m}.in{j}") != 0))
            j += 1
    return all_of(parts)


def _connection(mv: ModelView) -> Expr:
    """``mon.conn`` names the one live session; a closed, idle monitor has no input."""
    parts: list[Expr] = []
    for m in _mons(mv):
        conn = mv.v(f"mon{m}.conn")
        cs = _clients_of(mv, m)
        for c in cs:
            parts.append((conn == c + 1) == _live(mv, c))
        parts.append((conn != 0) | mv.v(f"mon{m}.closing") | (mv.v(f"mon{m}.inlen") == 0))
    return all_of(parts)


def _input_contents(mv: ModelView) -> Expr:
    """The live session's unread messages are its last ``inlen`` sends, in order."""
    nr = mv.bounds.requests + 1
    parts: list[Expr] = []
    for m in _mons(mv):
        inlen = mv.v(f"mon{m}.inlen")
        for c in _clients_of(mv, m):
            sent = mv.v(f"client{c}.sent")
            live = mv.v(f"mon{m}.conn") == c + 1
            parts.append(~live | (inlen <= sent))
            j = 0
            while mv.has(f"mon{m}.in{j}"):
                slot = mv.v(f"mon{m}.in{j}")
                parts.append(~live | (inlen <= j) | (slot == sent - inlen + (c * nr + j + 1)))
                j += 1
    return all_of(parts)


def _in_flight(mv: ModelView) -> Expr:
    """``bs->in_flight`` counts the coroutine commands (dispatcher, HMP) inside their I/O."""
    if not mv.has("blk.in_flight"):
        return TRUE
    kinds = list(dict.fromkeys(mv.bounds.mix))
    count: Expr = lit(0)
    if "coroutine" in kinds:
        dpc = mv.v("dsp.pc")
        holds = ((dpc == Dsp.CO_WAIT) | (dpc == Dsp.CO_END)) & (mv.v("dsp.kind") == kinds.index("coroutine") + 1)
        count = count + ite(holds, lit(1), lit(0))
    if mv.has("hmp_co.pc"):
        hpc = mv.v("hmp_co.pc")
        count = count + ite(((hpc == HmpCo.WAIT) | (hpc == HmpCo.END)) & (mv.v("hmp_co.kind") == 1), lit(1), lit(0))
    return mv.v("blk.in_flight") == count


def _thread_names(mv: ModelView) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = [(Tid.MAIN, "main")]
    i = 0
    while mv.has(f"vcpu{i}.pc"):
        out.append((Tid.VCPU0 + i, f"vcpu{i}"))
        i += 1
    return out


def _handler_owner(mv: ModelView) -> Expr:
    """A thread blocked in a handler (FIFO, drain_call_rcu) runs the dispatcher's BH."""
    parts: list[Expr] = []
    bh_on, dpc = mv.v("bh.on"), mv.v("dsp.pc")
    for tid, name in _thread_names(mv):
        pc = mv.v(f"{name}.pc")
        inside = (pc == Run.BLOCKED) | (pc == Run.RCU_WAIT) | (pc == Run.RCU_REACQ)
        parts.append(~inside | ((bh_on == tid) & (dpc == Dsp.BH)))
        parts.append((bh_on != tid) | inside)
    return all_of(parts)


def _active(mv: ModelView) -> Expr:
    """The dispatcher holds a dequeued request (between pop and reply)."""
    dpc = mv.v("dsp.pc")
    return (dpc != Dsp.WAIT) & (dpc != Dsp.POP) & (dpc != Dsp.EXIT)


def _frozen(mv: ModelView) -> Expr:
    """A variable that no action of this model sets to another value than its initial one keeps it."""
    model = mv.model
    assigned = {v.index for a in model.actions for v, e in a.updates
                if not (e.op == "const" and int(e.args[0]) == model.init[v.index])}  # type: ignore[call-overload]
    parts: list[Expr] = []
    for v in model.layout.vars:
        if v.index not in assigned:
            init = model.init[v.index]
            parts.append((v == init) if v.sort == "int" else (v if init else ~v))
    return all_of(parts)


def _rcu_waiters(mv: ModelView) -> Expr:
    """A drain_call_rcu marker is queued exactly while its waiter waits for it."""
    parts: list[Expr] = []
    flags: list[Expr] = []
    for _tid, name in _thread_names(mv):
        if mv.has(f"rcu.waits_{name}"):
            w = mv.v(f"rcu.waits_{name}")
            flags.append(w)
            parts.append(w == (mv.v(f"{name}.pc") == Run.RCU_WAIT))
    if mv.has("rcu.waits_dispatcher"):
        w = mv.v("rcu.waits_dispatcher")
        flags.append(w)
        parts.append(~w | (mv.v("dsp.pc") == Dsp.CO_WAIT))
    if mv.has("rcu.waits_hmp_coroutine"):
        w = mv.v("rcu.waits_hmp_coroutine")
        flags.append(w)
        parts.append(~w | (mv.v("hmp_co.pc") == HmpCo.WAIT))
    parts.append((mv.v("rcu.pc") != Rcu.IDLE) == any_of(flags))
    return all_of(parts)


def _dispatcher_busy(mv: ModelView) -> Expr:
    """``busy`` is false only while the dispatcher is parked (idle or exited)."""
    dpc, busy = mv.v("dsp.pc"), mv.v("dsp.busy")
    return ((dpc == Dsp.WAIT) | (dpc == Dsp.EXIT) | busy) & ((dpc != Dsp.WAIT) | ~busy)


def _coroutine_wait(mv: ModelView) -> Expr:
    """An I/O request in flight belongs to a waiting coroutine; a waiting dispatcher waits for I/O or RCU."""
    dpc = mv.v("dsp.pc")
    io = mv.v("blk.io_dispatcher")
    why: Expr = io
    if mv.has("rcu.waits_dispatcher"):
        why = why | mv.v("rcu.waits_dispatcher")
    parts = [~io | (dpc == Dsp.CO_WAIT), (dpc != Dsp.CO_WAIT) | why]
    if mv.has("rcu.waits_dispatcher"):
        parts.append(~(io & mv.v("rcu.waits_dispatcher")))
    if mv.has("blk.io_hmp") and mv.has("hmp_co.pc"):
        parts.append(~mv.v("blk.io_hmp") | (mv.v("hmp_co.pc") == HmpCo.WAIT))
    return all_of(parts)


def _idle_queue(mv: ModelView) -> Expr:
    """A monitor with no session that is not closing has an empty queue."""
    parts: list[Expr] = []
    for m in _mons(mv):
        parts.append((mv.v(f"mon{m}.conn") != 0) | mv.v(f"mon{m}.closing") | (mv.v(f"mon{m}.qlen") == 0))
    return all_of(parts)


def _oob_saved(mv: ModelView) -> Expr:
    """A request the dispatcher runs for a monitor with OOB on was dequeued with OOB on."""
    parts: list[Expr] = []
    for m in _mons(mv):
        mine = (mv.v("dsp.mon") == m) & _active(mv)
        parts.append(~(mine & mv.v(f"mon{m}.oob")) | mv.v("dsp.oob_saved"))
    return all_of(parts)


def _refs_of(mv: ModelView, c: int) -> list[int]:
    nr = mv.bounds.requests + 1
    return [c * nr + i + 1 for i in range(nr)]


def _oob_session(mv: ModelView) -> Expr:
    """OOB is on only in command mode; a live session's request dequeued with OOB on keeps it on."""
    parts: list[Expr] = []
    req = mv.v("dsp.req")
    for m in _mons(mv):
        oob = mv.v(f"mon{m}.oob")
        parts.append(~oob | mv.v(f"mon{m}.command_mode"))
        running = (mv.v("dsp.mon") == m) & _active(mv) & mv.v("dsp.oob_saved")
        for c in _clients_of(mv, m):
            mine = any_of(req == r for r in _refs_of(mv, c))
            parts.append(~(running & mine & (mv.v(f"mon{m}.conn") == c + 1)) | oob)
            # command mode was on when it was dequeued; only a later session's connect resets it
            later = [mv.v(f"client{x}.st") != ClientSt.NEW for x in _clients_of(mv, m) if x > c]
            parts.append(~(running & mine) | mv.v(f"mon{m}.command_mode") | any_of(later))
        cs = _clients_of(mv, m)
        if cs and mv.bounds.negotiate_first:
            # nothing turns OOB on before the first session's qmp_capabilities has run
            first = (mv.v("dsp.mon") == m) & _active(mv) & (req == _refs_of(mv, cs[0])[0])
            parts.append(~(first & mv.v("dsp.oob_saved")))
    return all_of(parts)


def _owner(mv: ModelView, m: int, c: int) -> Expr:
    """Client ``c`` is the session whose requests monitor ``m`` holds: live, or closed and not yet cleaned up."""
    conn, closing = mv.v(f"mon{m}.conn"), mv.v(f"mon{m}.closing")
    later = [mv.v(f"client{x}.st") == ClientSt.NEW for x in _clients_of(mv, m) if x > c]
    gone = all_of([conn == 0, closing, mv.v(f"client{c}.st") == ClientSt.GONE, *later])
    return (conn == c + 1) | gone


def _queue_contents(mv: ModelView) -> Expr:
    """Queued requests belong to the monitor's current session and were sent before its unread input."""
    parts: list[Expr] = []
    for m in _mons(mv):
        inlen = mv.v(f"mon{m}.inlen")
        qm = mv.bounds.queue_max
        slots = [mv.v(f"mon{m}.q{j}") for j in range(qm)]
        qlen = mv.v(f"mon{m}.qlen")
        for j in range(qm - 1):
            parts.append((qlen <= j + 1) | (slots[j] < slots[j + 1]))
        refs = {r: (c, i) for c in _clients_of(mv, m) for i, r in enumerate(_refs_of(mv, c))}
        for slot in slots:
            parts.append(any_of([slot == 0, *(slot == r for r in refs)]))
            for r, (c, i) in refs.items():
                sent = mv.v(f"client{c}.sent")
                ok = _owner(mv, m, c) & (sent > inlen + i)
                parts.append((slot != r) | ok)
    return all_of(parts)


def _kind_of(mv: ModelView, c: int, i: int) -> Expr:
    if i == 0 and mv.bounds.negotiate_first:
        return lit(0)
    return mv.v(f"client{c}.kind{i}")


def _dispatcher_request(mv: ModelView) -> Expr:
    """The request the dispatcher runs was sent on its monitor; dsp.kind is its kind."""
    req, kind, dmon = mv.v("dsp.req"), mv.v("dsp.kind"), mv.v("dsp.mon")
    alts: list[Expr] = []
    for m in _mons(mv):
        for c in _clients_of(mv, m):
            for i, r in enumerate(_refs_of(mv, c)):
                alts.append((req == r) & (dmon == m) & (kind == _kind_of(mv, c, i))
                            & (mv.v(f"client{c}.sent") > i) & (mv.v(f"client{c}.st") != ClientSt.NEW))
    return ~_active(mv) | any_of(alts)


def _session_order(mv: ModelView) -> Expr:
    """The clients of a monitor connect one after the other: a later one starts after an earlier one left."""
    parts: list[Expr] = []
    for m in _mons(mv):
        cs = _clients_of(mv, m)
        for a, c in enumerate(cs):
            for e in cs[:a]:
                parts.append((mv.v(f"client{c}.st") == ClientSt.NEW) | (mv.v(f"client{e}.st") == ClientSt.GONE))
    return all_of(parts)


def _first_negotiation(mv: ModelView) -> Expr:
    """Until the first session's qmp_capabilities is dispatched, the monitor stays in negotiation mode."""
    if not mv.bounds.negotiate_first:
        return TRUE
    parts: list[Expr] = []
    for m in _mons(mv):
        cs = _clients_of(mv, m)
        if not cs:
            continue
        c = cs[0]
        r = _refs_of(mv, c)[0]
        waiting = [(mv.v(f"client{c}.sent") == 0) & (mv.v(f"client{c}.st") != ClientSt.GONE)]
        waiting += [mv.v(f"mon{m}.q{j}") == r for j in range(mv.bounds.queue_max)]
        j = 0
        while mv.has(f"mon{m}.in{j}"):
            waiting.append(mv.v(f"mon{m}.in{j}") == r)
            j += 1
        waiting.append((mv.v("dsp.req") == r) & (mv.v("dsp.mon") == m) & (mv.v("dsp.pc") == Dsp.DISPATCH))
        parts.append(~any_of(waiting) | ~mv.v(f"mon{m}.command_mode"))
    return all_of(parts)


def _input_owner(mv: ModelView) -> Expr:
    """The unread input of a closed session not yet cleaned up is its last inlen messages, in order."""
    nr = mv.bounds.requests + 1
    parts: list[Expr] = []
    for m in _mons(mv):
        inlen = mv.v(f"mon{m}.inlen")
        for c in _clients_of(mv, m):
            sent = mv.v(f"client{c}.sent")
            gone = ~(mv.v(f"mon{m}.conn") == c + 1) & _owner(mv, m, c)
            parts.append(~gone | (inlen <= sent))
            j = 0
            while mv.has(f"mon{m}.in{j}"):
                slot = mv.v(f"mon{m}.in{j}")
                parts.append(~gone | (inlen <= j) | (slot == sent - inlen + (c * nr + j + 1)))
                j += 1
    return all_of(parts)


def _dispatcher_first(mv: ModelView) -> Expr:
    """The running request precedes every queued request and every unread message of its monitor."""
    parts: list[Expr] = []
    req = mv.v("dsp.req")
    for m in _mons(mv):
        busy = _active(mv) & (mv.v("dsp.mon") == m)
        parts.append(~busy | (mv.v(f"mon{m}.qlen") == 0) | (req < mv.v(f"mon{m}.q0")))
        if mv.has(f"mon{m}.in0"):
            parts.append(~busy | (mv.v(f"mon{m}.inlen") == 0) | (req < mv.v(f"mon{m}.in0")))
    return all_of(parts)


def _pending(mv: ModelView, m: int, c: int, i: int) -> Expr:
    """Request ``i`` of client ``c`` is not sent yet, or unread, queued or running on monitor ``m``."""
    r = _refs_of(mv, c)[i]
    parts: list[Expr] = [mv.v(f"client{c}.sent") <= i]
    parts += [mv.v(f"mon{m}.q{j}") == r for j in range(mv.bounds.queue_max)]
    j = 0
    while mv.has(f"mon{m}.in{j}"):
        parts.append(mv.v(f"mon{m}.in{j}") == r)
        j += 1
    parts.append((mv.v("dsp.req") == r) & (mv.v("dsp.mon") == m) & _active(mv))
    return any_of(parts)


def _pending_unanswered(mv: ModelView) -> Expr:
    """A request not sent yet, unread, queued or running has no reply yet, and no later in-band one has.

    Replies to a session's in-band requests come in issue order (the queue and
    the input are FIFO, one dispatcher): while request ``i`` waits, the last
    in-band reply the client saw answers an earlier request. This is what
    makes ``reply-order`` and ``exactly-once-reply`` inductive.
    """
    parts: list[Expr] = []
    for m in _mons(mv):
        for c in _clients_of(mv, m):
            last = mv.v(f"client{c}.last_inband")
            for i in range(mv.bounds.requests + 1):
                pend = _pending(mv, m, c, i)
                parts.append(~pend | (~mv.v(f"client{c}.answered{i}") & (last < i)))
    return all_of(parts)


def _answered_before(mv: ModelView) -> Expr:
    """The last in-band reply a client saw answers a request it sent."""
    parts: list[Expr] = []
    for c in range(mv.bounds.clients):
        last, sent = mv.v(f"client{c}.last_inband"), mv.v(f"client{c}.sent")
        parts.append(last < sent)
        parts.append(mv.v(f"client{c}.last_any") < sent)
    return all_of(parts)


def _leaves(e: Expr) -> list[Expr] | None:
    """The possible results of an update: constants and variables at the leaves of its ``ite`` tree."""
    if e.op in ("const", "var"):
        return [e]
    if e.op == "ite":
        a, b = _leaves(e.args[1]), _leaves(e.args[2])  # type: ignore[arg-type]
        return None if a is None or b is None else a + b
    return None


def value_sets(mv: ModelView) -> dict[int, set[int]]:
    """Per integer variable whose updates are all constants, copies or ``ite`` of them: its possible values.

    A least fixpoint over the updates (a copy ``x := y`` adds ``y``'s values);
    a variable with an arithmetic update (a counter) has no entry.
    """
    model = mv.model
    vals: dict[int, set[int]] = {v.index: {model.init[v.index]} for v in model.layout.vars if v.sort == "int"}
    copies: dict[int, set[int]] = {k: set() for k in vals}
    for a in model.actions:
        for v, e in a.updates:
            if v.index not in vals:
                continue
            leaves = _leaves(e)
            if leaves is None:
                vals.pop(v.index)
                copies.pop(v.index)
                continue
            for x in leaves:
                if x.op == "const":
                    vals[v.index].add(int(x.args[0]))  # type: ignore[call-overload]
                else:
                    copies[v.index].add(int(x.args[0]))  # type: ignore[call-overload]
    changed = True
    while changed:
        changed = False
        for k in list(vals):
            if k not in vals:
                continue
            for src in copies[k]:
                if src != k and src not in vals:
                    vals.pop(k)
                    changed = True
                    break
                if src != k and not vals[src] <= vals[k]:
                    vals[k] |= vals[src]
                    changed = True
    return vals


def _values(mv: ModelView) -> Expr:
    """Every program counter and identifier holds one of the values some action assigns it."""
    parts: list[Expr] = []
    for k, vs in value_sets(mv).items():
        v = mv.model.layout.vars[k]
        if len(vs) < v.hi - v.lo + 1:
            parts.append(any_of(v == x for x in sorted(vs)))
    return all_of(parts)


def _continuation(mv: ModelView) -> Expr:
    """A dispatcher continuing on a thread (no yield in between) runs with that thread's BQL."""
    parts: list[Expr] = []
    sched = mv.v("dsp.sched")
    for tid, _name in _thread_names(mv):
        parts.append((sched != Ctx.CONT + tid) | (mv.v("bql") == tid))
    return all_of(parts)


def _sent_kinds(mv: ModelView) -> Expr:
    """A request that was sent has a kind from the mix (kind variables are set when it is sent)."""
    parts: list[Expr] = []
    for c in range(mv.bounds.clients):
        for i in range(mv.bounds.requests + 1):
            if mv.has(f"client{c}.kind{i}"):
                k = mv.v(f"client{c}.kind{i}")
                parts.append((mv.v(f"client{c}.sent") > i) == (k != 0))
    return all_of(parts)


def _session_mode(mv: ModelView) -> Expr:
    """A session past negotiation is in command mode; a monitor in command mode has a session that got there."""
    parts: list[Expr] = []
    for m in _mons(mv):
        for c in _clients_of(mv, m):
            live = mv.v(f"mon{m}.conn") == c + 1
            parts.append(~(live & (mv.v(f"client{c}.st") == ClientSt.READY)) | mv.v(f"mon{m}.command_mode"))
    return all_of(parts)


def _unanswered_somewhere(mv: ModelView) -> Expr:
    """A sent, unanswered request of the live session is unread, queued or running (none is lost)."""
    parts: list[Expr] = []
    for m in _mons(mv):
        for c in _clients_of(mv, m):
            live = mv.v(f"mon{m}.conn") == c + 1
            sent = mv.v(f"client{c}.sent")
            for i in range(mv.bounds.requests + 1):
                waiting = live & (sent > i) & ~mv.v(f"client{c}.answered{i}")
                parts.append(~waiting | _pending(mv, m, c, i))
    return all_of(parts)


def _negotiating(mv: ModelView) -> Expr:
    """A session in negotiation that waits for the qmp_capabilities reply sent nothing else.

    (It may have a reply to it: a stale qmp_capabilities of the previous session can put the
    monitor in command mode first, and the session's own one is then CommandNotFound, bug P.)
    """
    if not (mv.bounds.negotiate_first and mv.design.client_waits_for_negotiation()):
        return TRUE
    return all_of(~(mv.v(f"client{c}.st") == ClientSt.NEG) | (mv.v(f"client{c}.sent") <= 1)
                  for c in range(mv.bounds.clients))


def _dispatcher_exit(mv: ModelView) -> Expr:
    """The dispatcher exits only after shutdown was requested; idle or exited, it is scheduled nowhere."""
    dpc, sched = mv.v("dsp.pc"), mv.v("dsp.sched")
    running = any_of(dpc == x for x in (Dsp.POP, Dsp.DISPATCH, Dsp.REPLY, Dsp.CO_START, Dsp.CO_END, Dsp.AFTER))
    return all_of([(dpc != Dsp.EXIT) | ((mv.v("sd.pc") != Sd.NONE) & (sched == 0)),
                   (dpc != Dsp.WAIT) | (sched == 0), ~running | (sched != 0)])


def _bql_holder(mv: ModelView) -> Expr:
    """The main thread holds the BQL outside a nested loop only while the dispatcher continues on it."""
    mt_nest, bql = mv.v("main.nest"), mv.v("bql")
    running = (mv.v("main.pc") == Run.RUN) & (mt_nest == Nest.NONE)
    return ~(running & (bql == Tid.MAIN)) | (mv.v("dsp.sched") == Ctx.CONT + Tid.MAIN)


def _fresh(mv: ModelView) -> Expr:
    """A client that has not connected sent nothing; a one-shot BH is pending only for a dispatcher in D_BH."""
    parts = [(mv.v(f"client{c}.st") != ClientSt.NEW) | (mv.v(f"client{c}.sent") == 0) for c in range(mv.bounds.clients)]
    parts.append((mv.v("bh.ctx") == 0) | (mv.v("dsp.pc") == Dsp.BH))
    return all_of(parts)


def _closing(mv: ModelView) -> Expr:
    """CHR_EVENT_CLOSED is pending only while no session is connected."""
    return all_of(~mv.v(f"mon{m}.closing") | (mv.v(f"mon{m}.conn") == 0) for m in _mons(mv))


LEMMAS: tuple[Lemma, ...] = (
    Lemma("values", "Every variable whose updates are constants or copies holds a value some action "
          "assigns it (or its initial value).", _values),
    Lemma("continuation", "A dispatcher continuing on a thread holds that thread's BQL.", _continuation),
    Lemma("sent-kinds", "A request's kind is set exactly when it is sent.", _sent_kinds),
    Lemma("session-mode", "A live session past negotiation is in command mode.", _session_mode),
    Lemma("unanswered-somewhere", "A sent, unanswered request of the live session is unread, queued or "
          "running.", _unanswered_somewhere),
    Lemma("negotiating", "A session in negotiation that waits for the qmp_capabilities reply sent "
          "nothing else.", _negotiating),
    Lemma("dispatcher-exit", "The dispatcher exits only after shutdown was requested.", _dispatcher_exit),
    Lemma("bql-holder", "The main loop holds the BQL at top level only while the dispatcher continues on it.",
          _bql_holder),
    Lemma("fresh", "A client not yet connected sent nothing; a handler BH is pending only for a dispatcher "
          "waiting for it.", _fresh),
    Lemma("closing", "A close is pending only while no session is connected.", _closing),
    Lemma("queue-slots", "Queue slots below qlen hold a request, the others are 0; qlen <= queue_max.",
          _queue_slots),
    Lemma("input-slots", "Input slots below inlen hold a message, the others are 0.", _input_slots),
    Lemma("connection", "mon.conn is c + 1 exactly while client c's session is open; a monitor "
          "with no session that is not closing has no unread input.", _connection),
    Lemma("input-contents", "The unread input of the live session is its last inlen messages, in order.",
          _input_contents),
    Lemma("in-flight", "bs->in_flight counts the coroutine commands between their start and end.",
          _in_flight),
    Lemma("handler-owner", "A thread blocked inside a handler is the one running the dispatcher's BH.",
          _handler_owner),
    Lemma("frozen", "A variable no action of the model sets to another value keeps its initial value.",
          _frozen),
    Lemma("rcu-waiters", "A drain_call_rcu marker is queued exactly while its waiter waits for it; "
          "call_rcu is busy exactly while a marker is queued.", _rcu_waiters),
    Lemma("dispatcher-busy", "dsp.busy is false exactly when the dispatcher is idle or exited "
          "(a wake-up after exit sets it).", _dispatcher_busy),
    Lemma("coroutine-wait", "An I/O request in flight belongs to a waiting coroutine; the waiting "
          "dispatcher waits for I/O or for call_rcu.", _coroutine_wait),
    Lemma("idle-queue", "A monitor with no session that is not closing has an empty queue.", _idle_queue),
    Lemma("session-order", "A monitor's clients connect one after the other.", _session_order),
    Lemma("first-negotiation", "Until the first session's qmp_capabilities is dispatched, its monitor "
          "is in negotiation mode.", _first_negotiation),
    Lemma("input-owner", "The unread input of a closed session not yet cleaned up is its last inlen "
          "messages, in order.", _input_owner),
    Lemma("dispatcher-first", "The running request precedes the queued requests and the unread input "
          "of its monitor.", _dispatcher_first),
    Lemma("queue-contents", "Queued requests are the current session's, in increasing order, sent "
          "before its unread input.", _queue_contents),
    Lemma("dispatcher-request", "The running request was sent on dsp.mon, and dsp.kind is its kind.",
          _dispatcher_request),
    Lemma("oob-session", "OOB is on only in command mode, and stays on while the session that "
          "negotiated it lives.", _oob_session),
    Lemma("oob-saved", "A request running for a monitor with OOB on was dequeued with OOB on.", _oob_saved),
    Lemma("pending-unanswered", "A request not yet sent, unread, queued or running has no reply, and the "
          "last in-band reply its client saw answers an earlier request.", _pending_unanswered),
    Lemma("answered-before", "The last reply a client saw answers a request it sent.", _answered_before),
)


def named_lemmas(mv: ModelView) -> list[tuple[str, Expr]]:
    """Every applicable structural lemma on this model, by name."""
    if not mv.design.has_dispatcher():
        return []
    out = []
    for lem in LEMMAS:
        try:
            e = lem.build(mv)
        except KeyError:  # the design's encoding lacks a variable this lemma is about
            continue
        if not (e.op == "const" and e.args[0] is True):
            out.append((lem.name, e))
    return out


def candidate_lemmas(mv: ModelView) -> list[tuple[str, Expr]]:
    """Candidates for :func:`qmpmodel.engines.smt.prove`: the structural lemmas and every state invariant.

    The state invariants of :data:`qmpmodel.invariants.INVARIANTS` strengthen
    each other (``queue-bound`` needs ``suspend-balance`` and vice versa).
    Candidates false on a design are pruned by the prover, never assumed.
    """
    out = named_lemmas(mv)
    # every declared variable range is a candidate (most are trivially inductive)
    for v in mv.model.layout.vars:
        if v.sort == "int":
            out.append((f"range:{v.name}", (v >= v.lo) & (v <= v.hi)))
    for inv in INVARIANTS:
        if inv.kind == "state":
            e = inv.predicate(mv.design)
            if not (e.op == "const" and e.args[0] is True):
                out.append((f"invariant:{inv.name}", e))
    return out


def lemmas_for(mv: ModelView) -> list[Expr]:
    """The structural lemma expressions."""
    return [e for _n, e in named_lemmas(mv)]

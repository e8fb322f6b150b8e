"""Strengthening lemmas for k-induction (:func:`qmpmodel.smt.prove`).

A property such as ``queue-bound`` holds on every reachable state but is not
inductive by itself: some unreachable state satisfies it and steps to one that
does not (a counterexample to induction, CTI). Each lemma below rules out a
family of such states. Lemmas are never assumed: :func:`qmpmodel.smt.prove`
proves the conjunction of the target and the lemmas it keeps by k-induction,
pruning (Houdini-style) every candidate that a reachable state or a
counterexample to induction violates, so a false lemma can only be dropped or
make a proof fail, never make one succeed. ``tests/test_smt.py`` additionally
checks every structural lemma (:data:`LEMMAS`) on every reachable state of
``specs/qemu-current.toml`` with the explicit engine.

:func:`candidate_lemmas` adds to :data:`LEMMAS` every declared variable range
and every state invariant of the library: properties strengthen each other.

Lemmas are :class:`~qmpmodel.expr.Expr` builders over a
:class:`~qmpmodel.invariants.ModelView`, like the invariants, and apply to
the queue-based dispatcher (every design but ``dispatch = "direct"``); each
returns ``TRUE`` where it does not apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qmpmodel.expr import TRUE, Expr, all_of, ite, lit
from qmpmodel.invariants import INVARIANTS, ModelView, state_predicate
from qmpmodel.statemachine import Consts as K

__all__ = ["LEMMAS", "Lemma", "candidate_lemmas", "lemmas_for", "named_lemmas"]


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
    return (st == K.C_NEG) | (st == K.C_READY)


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
        holds = ((dpc == K.D_CO_WAIT) | (dpc == K.D_CO_END)) & (mv.v("dsp.kind") == kinds.index("coroutine") + 1)
        count = count + ite(holds, lit(1), lit(0))
    if mv.has("hmp_co.pc"):
        hpc = mv.v("hmp_co.pc")
        count = count + ite(((hpc == K.H_WAIT) | (hpc == K.H_END)) & (mv.v("hmp_co.kind") == 1), lit(1), lit(0))
    return mv.v("blk.in_flight") == count


def _thread_names(mv: ModelView) -> list[tuple[int, str]]:
    out = [(K.MAIN, "main")]
    i = 0
    while mv.has(f"vcpu{i}.pc"):
        out.append((K.VCPU0 + i, f"vcpu{i}"))
        i += 1
    return out


def _handler_owner(mv: ModelView) -> Expr:
    """A thread blocked in a handler (FIFO, drain_call_rcu) runs the dispatcher's BH."""
    parts: list[Expr] = []
    bh_on, dpc = mv.v("bh.on"), mv.v("dsp.pc")
    for tid, name in _thread_names(mv):
        pc = mv.v(f"{name}.pc")
        inside = (pc == K.BLOCKED) | (pc == K.RCU_WAIT) | (pc == K.RCU_REACQ)
        parts.append(~inside | ((bh_on == tid) & (dpc == K.D_BH)))
        parts.append((bh_on != tid) | inside)
    return all_of(parts)


LEMMAS: tuple[Lemma, ...] = (
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
)


def named_lemmas(mv: ModelView) -> list[tuple[str, Expr]]:
    """Every applicable structural lemma on this model, by name."""
    if mv.design.dispatch == "direct":
        return []
    out = []
    for lem in LEMMAS:
        e = lem.build(mv)
        if not (e.op == "const" and e.args[0] is True):
            out.append((lem.name, e))
    return out


def candidate_lemmas(mv: ModelView) -> list[tuple[str, Expr]]:
    """Candidates for :func:`qmpmodel.smt.prove`: the structural lemmas and every state invariant.

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
            e = state_predicate(inv, mv)
            if not (e.op == "const" and e.args[0] is True):
                out.append((f"invariant:{inv.name}", e))
    return out


def lemmas_for(mv: ModelView) -> list[Expr]:
    """The structural lemma expressions."""
    return [e for _n, e in named_lemmas(mv)]

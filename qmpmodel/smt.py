"""Symbolic engine: bounded model checking and k-induction with z3.

The model is not re-described here: every guard, update, invariant predicate,
``Model.pending`` and wait-for edge is an :class:`~qmpmodel.expr.Expr` tree,
and :func:`to_z3` translates those trees. A state at step ``j`` is one z3
constant per state variable (``Int`` for sort ``int``, ``Bool`` for sort
``bool``; concrete states store booleans as 0/1).

Transition encoding (step ``j`` to ``j + 1``), with ``sel_j`` an ``Int`` action
selector in ``0 .. len(actions) - 1``::

    sel_j == a  ->  guard_a(s_j)                               for every action a
    s_{j+1}[v] == If(sel_j == a1, upd_a1(s_j), If(sel_j == a2, ..., s_j[v]))
                                                               for every variable v

The second line groups the frame conditions per variable: only the actions
that assign ``v`` appear in its chain, every other action leaves it unchanged.
The selector values of a satisfying assignment are the counterexample's action
indices; the trace is rebuilt by :func:`qmpmodel.explicit.trace_from_path`,
which replays it on the concrete model (and raises if an action is not
enabled), and the replayed final state must violate the predicate under
:func:`qmpmodel.expr.evaluate`. A counterexample that fails either check is an
encoding bug and raises :class:`~qmpmodel.errors.ModelDefinitionError`.

Bounded checking (:func:`bmc`) unrolls one incremental solver: at depth ``k``
it asks whether a path of exactly ``k`` steps from the initial state ends in a
bad state of any still-undecided invariant. Every smaller depth was
unsatisfiable before, so the first satisfiable depth is the minimal violation
depth (what the breadth-first explicit engine reports). After an unsatisfiable
depth the facts "invariant holds at step k" are kept as assertions (they are
true of every path), which helps the solver at later depths. An invariant no
path of up to ``K`` steps violates is reported ``holds`` with
``complete = False`` and the note "holds up to depth K".

k-induction (:func:`prove`) proves ``Q = P and L`` where ``P`` is the target
invariant and ``L`` the strengthening lemmas of :mod:`qmpmodel.lemmas` (plus
the declared variable ranges). Lemmas are never assumed: they are part of what
is proved, so a false or non-inductive lemma makes the proof fail, never
succeed wrongly. Base case: bounded checking of ``Q`` up to ``k - 1`` from the
initial state. Step case: ``k`` consecutive states satisfying ``Q`` joined by
transitions (no initial-state constraint), and ``not Q`` at the state after
them, must be unsatisfiable.

``no-deadlock`` is bad at a state with a wait-for cycle (the invariant's
predicate) or with pending work (``Model.pending``) and no enabled action.
``progress`` (liveness) is not checked here: it is reported ``unknown``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from qmpmodel.errors import ModelDefinitionError
from qmpmodel.expr import Expr, all_of, any_of, evaluate
from qmpmodel.invariants import Invariant, ModelView, deadlock_cycles, state_predicate
from qmpmodel.model import Model, State
from qmpmodel.results import EngineOptions, EngineResult, Expected, InvariantResult, Trace

__all__ = [
    "BmcHit",
    "Goal",
    "Unrolling",
    "bad_expr",
    "bmc",
    "prove",
    "reach",
    "run",
    "to_z3",
]

LIVENESS_NOTE = "liveness: not checked by the smt engine"


# -- translation ---------------------------------------------------------------------


def to_z3(e: Expr, state: Sequence[Any], cache: dict[int, Any] | None = None) -> Any:
    """Translate ``e`` into a z3 term over ``state`` (one z3 constant per variable).

    ``cache`` (keyed by node identity) shares the translation of subtrees that
    occur several times; pass the same dict for every expression over the same
    ``state`` (the expressions must stay alive as long as the cache).
    """
    memo: dict[int, Any] = {} if cache is None else cache

    def tr(x: Expr) -> Any:
        key = id(x)
        hit = memo.get(key)
        if hit is not None:
            return hit
        op = x.op
        if op == "var":
            out = state[x.args[0]]  # type: ignore[index]
        elif op == "const":
            v = x.args[0]
            out = z3.BoolVal(bool(v)) if x.sort == "bool" else z3.IntVal(int(v))  # type: ignore[call-overload]
        elif op == "and":
            out = z3.And([tr(a) for a in x.args])  # type: ignore[arg-type]
        elif op == "or":
            out = z3.Or([tr(a) for a in x.args])  # type: ignore[arg-type]
        elif op == "not":
            out = z3.Not(tr(x.args[0]))  # type: ignore[arg-type]
        elif op == "ite":
            c, t, o = x.args
            out = z3.If(tr(c), tr(t), tr(o))  # type: ignore[arg-type]
        else:
            a, b = tr(x.args[0]), tr(x.args[1])  # type: ignore[arg-type]
            if op == "+":
                out = a + b
            elif op == "-":
                out = a - b
            elif op == "==":
                out = a == b
            elif op == "!=":
                out = a != b
            elif op == "<":
                out = a < b
            elif op == "<=":
                out = a <= b
            else:
                raise ModelDefinitionError(f"unknown expression operator {op!r}")
        memo[key] = out
        return out

    return tr(e)


class Unrolling:
    """States ``s_0 .. s_n`` and selectors ``sel_0 .. sel_{n-1}`` asserted into one solver.

    ``initial=True`` pins ``s_0`` to the model's initial state (bounded
    checking); ``initial=False`` leaves it free (the induction step).
    ``ranges`` adds ``lo <= v <= hi`` for every integer variable at the
    states listed by :meth:`add_ranges` (callers choose which steps).
    """

    def __init__(self, model: Model, initial: bool, tag: str = "") -> None:
        self.model = model
        self.solver = z3.SolverFor("QF_LIA")
        self.tag = tag
        self.states: list[list[Any]] = []
        self.sels: list[Any] = []
        self._caches: list[dict[int, Any]] = []
        self._assigners: list[list[tuple[int, Expr]]] = [[] for _ in model.layout.vars]
        for i, a in enumerate(model.actions):
            seen: set[int] = set()
            for v, e in a.updates:
                if v.index in seen:
                    raise ModelDefinitionError(f"{a.label}: a variable is assigned twice")
                seen.add(v.index)
                self._assigners[v.index].append((i, e))
        self._new_state()
        if initial:
            s0 = self.states[0]
            self.solver.add(*[self._value(x, v.sort) == s0[k]
                              for k, (v, x) in enumerate(zip(model.layout.vars, model.init, strict=True))])

    @staticmethod
    def _value(x: int, sort: str) -> Any:
        return z3.BoolVal(bool(x)) if sort == "bool" else z3.IntVal(x)

    def _new_state(self) -> None:
        j = len(self.states)
        st = [z3.Bool(f"{self.tag}{v.name}@{j}") if v.sort == "bool" else z3.Int(f"{self.tag}{v.name}@{j}")
              for v in self.model.layout.vars]
        self.states.append(st)
        self._caches.append({})

    @property
    def depth(self) -> int:
        return len(self.states) - 1

    def at(self, e: Expr, j: int) -> Any:
        """``e`` evaluated at state ``s_j``."""
        return to_z3(e, self.states[j], self._caches[j])

    def ranges(self, j: int) -> Any:
        st = self.states[j]
        return z3.And([z3.And(st[v.index] >= v.lo, st[v.index] <= v.hi)
                       for v in self.model.layout.vars if v.sort == "int"])

    def enabled_any(self, j: int) -> Any:
        return z3.Or([self.at(a.guard, j) for a in self.model.actions])

    def extend(self) -> None:
        """Add ``s_{n+1}`` and the transition ``s_n -> s_{n+1}``."""
        j = self.depth
        self._new_state()
        cur, nxt = self.states[j], self.states[j + 1]
        sel = z3.Int(f"{self.tag}sel@{j}")
        self.sels.append(sel)
        acts = self.model.actions
        cs = [sel >= 0, sel < len(acts)]
        for i, a in enumerate(acts):
            cs.append(z3.Implies(sel == i, self.at(a.guard, j)))
        for v in self.model.layout.vars:
            term = cur[v.index]
            for i, e in reversed(self._assigners[v.index]):
                term = z3.If(sel == i, self.at(e, j), term)
            cs.append(nxt[v.index] == term)
        self.solver.add(*cs)

    def decode_actions(self, m: z3.ModelRef, upto: int | None = None) -> list[int]:
        n = self.depth if upto is None else upto
        return [m.eval(self.sels[j], model_completion=True).as_long() for j in range(n)]

    def decode_state(self, m: z3.ModelRef, j: int) -> State:
        out = []
        for v, x in zip(self.model.layout.vars, self.states[j], strict=True):
            val = m.eval(x, model_completion=True)
            out.append(int(z3.is_true(val)) if v.sort == "bool" else val.as_long())
        return tuple(out)


# -- goals ------------------------------------------------------------------------------


@dataclass
class Goal:
    """Something bounded checking looks for: a bad state description.

    ``bad`` is an :class:`Expr`; ``terminal`` adds "or: pending work and no
    enabled action" (no-deadlock).
    """

    name: str
    bad: Expr
    terminal: Expr | None = None

    def at(self, u: Unrolling, j: int) -> Any:
        t = u.at(self.bad, j)
        if self.terminal is not None:
            t = z3.Or(t, z3.And(u.at(self.terminal, j), z3.Not(u.enabled_any(j))))
        return t

    def holds_concretely(self, model: Model, s: State) -> bool:
        """Whether the concrete state ``s`` is bad (the replay check)."""
        if evaluate(self.bad, s):
            return True
        if self.terminal is not None and evaluate(self.terminal, s):
            return not any(a.enabled(s) for a in model.actions)
        return False


def bad_expr(inv: Invariant, mv: ModelView) -> Goal:
    """The :class:`Goal` whose reachability violates ``inv`` (state and deadlock kinds)."""
    p = state_predicate(inv, mv)
    if inv.kind == "deadlock":
        return Goal(inv.name, ~p, mv.model.pending)
    return Goal(inv.name, ~p)


@dataclass
class BmcHit:
    depth: int
    actions: list[int]
    trace: Trace


@dataclass
class BmcOutcome:
    hits: dict[str, BmcHit] = field(default_factory=dict)
    #: deepest depth for which every undecided goal was shown unreachable (-1: none)
    clear_upto: int = -1
    stopped: bool = False
    states: set[State] = field(default_factory=set)


def _replay(model: Model, u: Unrolling, m: z3.ModelRef, goals: Sequence[Goal],
            cycles: list[tuple[Any, ...]] | None) -> tuple[list[int], Trace, State, list[Goal]]:
    from qmpmodel.explicit import trace_from_path

    acts = u.decode_actions(m)
    try:
        trace = trace_from_path(model, model.init, acts)
    except ValueError as e:  # pragma: no cover - an encoding bug
        raise ModelDefinitionError(f"smt counterexample does not replay: {e}") from e
    s = model.init
    for a in acts:
        s = model.actions[a].apply(s)
    # the solver's states must be the replayed ones (checks the frame encoding)
    if u.decode_state(m, u.depth) != s:  # pragma: no cover - an encoding bug
        raise ModelDefinitionError("smt counterexample: solver state differs from the replayed state")
    hit = [g for g in goals if g.holds_concretely(model, s)]
    if cycles is not None and any(g.terminal is not None for g in hit):
        cyc = _cycle_at(cycles, s)
        trace = Trace(trace.initial, trace.steps, None, cyc)
    return acts, trace, s, hit


def _cycle_at(cycles: list[tuple[Any, ...]], s: State) -> tuple[tuple[str, str, str], ...]:
    for cyc in cycles:
        if all(evaluate(e.when, s) for e in cyc):
            return tuple((e.waiter, e.holder, e.reason) for e in cyc)
    return ()


def bmc(model: Model, goals: Sequence[Goal], depth: int,
        tick: Callable[[int], bool] | None = None, keep: Sequence[Expr] = ()) -> BmcOutcome:
    """Minimal-depth search for every goal, up to ``depth`` steps.

    ``tick(k)`` is called before depth ``k``; returning ``False`` stops the
    search (the outcome is then ``stopped``). ``keep`` are expressions known
    to hold on every reachable state (asserted at every step; pass none unless
    they were proved).
    """
    u = Unrolling(model, initial=True)
    out = BmcOutcome()
    live = list(goals)
    cycles = deadlock_cycles(model) if any(g.terminal is not None for g in goals) else None
    for k in range(depth + 1):
        if not live:
            break
        if tick is not None and not tick(k):
            out.stopped = True
            break
        if k > 0:
            u.extend()
        for e in keep:
            u.solver.add(u.at(e, k))
        while live:
            u.solver.push()
            u.solver.add(z3.Or([g.at(u, k) for g in live]))
            r = u.solver.check()
            if r == z3.sat:
                m = u.solver.model()
                acts, trace, s, hit = _replay(model, u, m, live, cycles)
                u.solver.pop()
                if not hit:  # pragma: no cover - an encoding bug
                    raise ModelDefinitionError("smt counterexample: replayed final state is not bad")
                out.states.update(_states_of(model, acts))
                for g in hit:
                    out.hits[g.name] = BmcHit(k, acts, trace)
                live = [g for g in live if g.name not in out.hits]
                continue
            u.solver.pop()
            if r != z3.unsat:
                out.stopped = True
                return out
            # no path of k steps reaches a bad state of a live goal: keep that fact
            u.solver.add(*[z3.Not(g.at(u, k)) for g in live])
            break
        out.clear_upto = k
    return out


def _states_of(model: Model, acts: Sequence[int]) -> list[State]:
    s = model.init
    out = [s]
    for a in acts:
        s = model.actions[a].apply(s)
        out.append(s)
    return out


# -- k-induction -------------------------------------------------------------------------


@dataclass
class ProofOutcome:
    verdict: str  # "proved" | "violated" | "unknown"
    k: int
    note: str = ""
    hit: BmcHit | None = None


class _Stepper:
    """The induction step: a free unrolling shared by every invariant of a model."""

    def __init__(self, model: Model) -> None:
        self.u = Unrolling(model, initial=False, tag="i!")

    def check(self, q: Goal, k: int, ranges: bool = True) -> Any:
        u = self.u
        while u.depth < k:
            u.extend()
        s = u.solver
        s.push()
        for j in range(k):
            s.add(z3.Not(q.at(u, j)))
            if ranges:
                s.add(u.ranges(j))
        # the state after k good states is bad (its ranges are part of Q)
        bad_k = q.at(u, k)
        if ranges:
            bad_k = z3.Or(bad_k, z3.Not(u.ranges(k)))
        s.add(bad_k)
        r = s.check()
        s.pop()
        return r


def prove(model: Model, target: Goal, lemmas: Sequence[Expr], max_k: int,
          tick: Callable[[int], bool] | None = None, stepper: Any = None) -> ProofOutcome:
    """k-induction for ``not target.bad`` strengthened with ``lemmas``, for k = 1 .. max_k."""
    lemma = all_of(lemmas)
    q = Goal(target.name, any_of([target.bad, ~lemma]), target.terminal)
    step = stepper or _Stepper(model)
    # base case, incrementally: BMC of the target and of the lemmas separately
    u = Unrolling(model, initial=True, tag="b!")
    cycles = deadlock_cycles(model) if target.terminal is not None else None
    for k in range(1, max_k + 1):
        if tick is not None and not tick(k):
            return ProofOutcome("unknown", k, "time budget exhausted")
        # base: no violation of Q at depth k - 1
        j = k - 1
        if j > 0:
            u.extend()
        u.solver.push()
        u.solver.add(z3.Or(q.at(u, j), z3.Not(u.ranges(j))))
        r = u.solver.check()
        if r == z3.sat:
            m = u.solver.model()
            acts, trace, _s, hit = _replay(model, u, m, [target, Goal("lemma", ~lemma)], cycles)
            u.solver.pop()
            if any(g is target for g in hit):
                return ProofOutcome("violated", k, "", BmcHit(j, acts, trace))
            return ProofOutcome("unknown", k, f"a strengthening lemma is violated at depth {j}")
        u.solver.pop()
        if r != z3.unsat:
            return ProofOutcome("unknown", k, f"solver gave {r} in the base case")
        u.solver.add(z3.Not(q.at(u, j)), u.ranges(j))
        # step: k good states then a bad one
        r = step.check(q, k)
        if r == z3.unsat:
            return ProofOutcome("proved", k, f"{k}-inductive" + (f" with {len(lemmas)} lemmas" if lemmas else ""))
        if r != z3.sat:
            return ProofOutcome("unknown", k, f"solver gave {r} in the induction step")
    return ProofOutcome("unknown", max_k, f"not inductive at k={max_k}")


# -- reachability queries ----------------------------------------------------------------


def reach(model: Model, goal: Expr, depth: int) -> BmcHit | None:
    """A shortest path (at most ``depth`` steps) to a state satisfying ``goal``, or ``None``."""
    out = bmc(model, [Goal("goal", goal)], depth)
    return out.hits.get("goal")


# -- engine entry point ------------------------------------------------------------------


def run(prepared: Any, options: EngineOptions, observer: Any = None) -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check`): BMC, or k-induction with ``prove``."""
    model: Model = prepared.model
    view: ModelView = prepared.view
    pinned: Sequence[tuple[Invariant, Expected]] = prepared.spec.expectations
    K = options.depth

    def tick(k: int) -> bool:
        return observer is None or bool(observer.progress(0, k))

    todo = [(inv, exp) for inv, exp in pinned if exp != "skip" and inv.kind != "liveness"]
    goals = {inv.name: bad_expr(inv, view) for inv, _ in todo}
    results: dict[str, InvariantResult] = {}
    states: set[State] = set()
    if not options.prove:
        out = bmc(model, list(goals.values()), K, tick)
        states = out.states
        for inv, exp in todo:
            h = out.hits.get(inv.name)
            if h is not None:
                results[inv.name] = InvariantResult(inv.name, exp, "violated", h.depth, h.trace)
            elif out.stopped:
                upto = out.clear_upto
                results[inv.name] = InvariantResult(
                    inv.name, exp, "unknown",
                    note=f"time budget exhausted (holds up to depth {upto})" if upto >= 0 else "time budget exhausted")
            else:
                results[inv.name] = InvariantResult(inv.name, exp, "holds", note=f"holds up to depth {K}")
    else:
        from qmpmodel.lemmas import lemmas_for

        lem = lemmas_for(view)
        stepper = _Stepper(model)
        for inv, exp in todo:
            po = prove(model, goals[inv.name], lem, K, tick, stepper)
            if po.verdict == "violated" and po.hit is not None:
                results[inv.name] = InvariantResult(inv.name, exp, "violated", po.hit.depth, po.hit.trace)
                states.update(_states_of(model, po.hit.actions))
            elif po.verdict == "proved":
                results[inv.name] = InvariantResult(inv.name, exp, "proved", note=po.note)
            else:
                results[inv.name] = InvariantResult(inv.name, exp, "unknown", note=po.note)
    ordered: list[InvariantResult] = []
    for inv, exp in pinned:
        if exp == "skip":
            ordered.append(InvariantResult(inv.name, exp, "unknown", note="skipped by the spec"))
        elif inv.kind == "liveness":
            ordered.append(InvariantResult(inv.name, exp, "unknown", note=LIVENESS_NOTE))
        else:
            ordered.append(results[inv.name])
    complete = all(r.verdict in ("violated", "proved") for r in ordered if r.expected != "skip")
    return EngineResult(len(states), 0, K, complete, ordered)

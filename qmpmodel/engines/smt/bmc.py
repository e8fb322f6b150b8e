"""Bounded model checking: minimal-depth counterexamples, replayed on the model.

The selector values of a satisfying assignment are the counterexample's action
indices; the trace is rebuilt by :func:`qmpmodel.core.trace.trace_from_path`,
which replays it on the concrete model (and raises if an action is not
enabled); the solver's final state must equal the replayed one, and the
replayed final state must be bad under :func:`qmpmodel.core.expr.evaluate`. A
counterexample that fails a check is an encoding bug and raises
:class:`~qmpmodel.errors.ModelDefinitionError`.

:func:`bmc` unrolls one incremental solver: at depth ``k`` it asks whether a
path of exactly ``k`` steps from the initial state ends in a bad state of any
still-undecided goal (one query for all of them). Every smaller depth was
unsatisfiable before, so the first satisfiable depth is the minimal violation
depth (what the breadth-first explicit engine reports). After an
unsatisfiable depth the facts "every undecided goal is false at step k" are
kept as assertions (true of every path). Each goal may carry its own bound
(``Goal.depth``): the spec's diameter, or the depth at which the explicit
engine says it first fails; a goal past its bound leaves the query.

``no-deadlock`` is bad at a state with a wait-for cycle (the invariant's
predicate) or stuck: pending work (``Model.pending``) and no weakly fair action
enabled (the explicit engine's definition).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from qmpmodel.core.expr import Expr, evaluate
from qmpmodel.core.model import Model, State
from qmpmodel.core.results import Trace
from qmpmodel.core.task import Property
from qmpmodel.core.trace import cycle_at, states_of, trace_from_path
from qmpmodel.core.waitgraph import deadlock_cycles
from qmpmodel.engines.smt.encoding import Encoding, Unrolling
from qmpmodel.errors import ModelDefinitionError

__all__ = ["BmcHit", "BmcOutcome", "Goal", "bad_goal", "bmc", "reach"]

# -- goals ------------------------------------------------------------------------------


@dataclass
class Goal:
    """Something bounded checking looks for: a bad state description.

    ``bad`` is an :class:`Expr`; ``terminal`` adds "or: stuck", i.e. the
    ``terminal`` expression (``Model.pending``) holds and no weakly fair action
    (no action of QEMU itself; only clients could still act) is enabled: the
    explicit engine's definition for no-deadlock.

    ``upto`` bounds this goal's search (``None``: the unrolling depth), e.g.
    at the reachability diameter, beyond which no new state appears.
    ``first`` is the depth at which the goal is known to first hold (the
    breadth-first explicit engine's shortest counterexample): shallower depths
    are not queried, and the first query is at ``first``. A goal with
    ``first`` that is unsatisfiable there means the engines disagree: an
    encoding bug, raised as :class:`~qmpmodel.errors.ModelDefinitionError`.
    """

    name: str
    bad: Expr
    terminal: Expr | None = None
    upto: int | None = None
    first: int | None = None

    def at(self, u: Unrolling, j: int) -> Any:
        t = u.at(self.bad, j)
        if self.terminal is not None:
            t = z3.Or(t, z3.And(u.at(self.terminal, j), z3.Not(u.fair_enabled(j))))
        return t

    def holds_concretely(self, model: Model, s: State) -> bool:
        """Whether the concrete state ``s`` is bad (the replay check)."""
        if evaluate(self.bad, s):
            return True
        if self.terminal is not None and evaluate(self.terminal, s):
            return not any(a.enabled(s) for a in model.actions if a.fair)
        return False

    def live_at(self, k: int, depth: int) -> bool:
        """Whether depth ``k`` is queried for this goal."""
        if k > (depth if self.upto is None else min(self.upto, depth)):
            return False
        return self.first is None or k >= self.first

    def bound(self, depth: int) -> int:
        return depth if self.upto is None else min(self.upto, depth)


def bad_goal(prop: Property, model: Model) -> Goal:
    """The :class:`Goal` whose reachability violates ``prop`` (state and deadlock kinds)."""
    if prop.kind == "deadlock":
        return Goal(prop.name, ~prop.expr, model.pending)
    return Goal(prop.name, ~prop.expr)


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
    #: per goal without a hit: the depth up to which it is shown unreachable (-1: none)
    clear: dict[str, int] = field(default_factory=dict)
    stopped: bool = False
    states: set[State] = field(default_factory=set)
    #: SAT queries asked (one per depth and batch of live goals)
    queries: int = 0


def _replay(model: Model, u: Unrolling, m: z3.ModelRef, goals: Sequence[Goal],
            cycles: list[tuple[Any, ...]] | None, upto: int | None = None
            ) -> tuple[list[int], Trace, State, list[Goal]]:
    acts = u.decode_actions(m, upto)
    try:
        trace = trace_from_path(model, model.init, acts)
    except ValueError as e:  # pragma: no cover - an encoding bug
        raise ModelDefinitionError(f"smt counterexample does not replay: {e}") from e
    s = model.init
    for a in acts:
        s = model.actions[a].apply(s)
    # the solver's states must be the replayed ones (checks the frame encoding)
    if u.decode_state(m, len(acts)) != s:  # pragma: no cover - an encoding bug
        raise ModelDefinitionError("smt counterexample: solver state differs from the replayed state")
    hit = [g for g in goals if g.holds_concretely(model, s)]
    if cycles is not None and any(g.terminal is not None for g in hit):
        cyc = cycle_at(cycles, s)
        trace = Trace(trace.initial, trace.steps, None, cyc)
    return acts, trace, s, hit


def bmc(model: Model, goals: Sequence[Goal], depth: int,
        tick: Callable[[int], bool] | None = None, keep: Sequence[Expr] = (),
        enc: Encoding | None = None) -> BmcOutcome:
    """Minimal-depth search for every goal, up to ``depth`` steps (or the goal's own bound).

    One incremental solver serves every goal: the unrolling is extended one
    step at a time and each depth is asked once for the disjunction of the
    goals live there (:meth:`Goal.live_at`). ``tick(k)`` is called before
    depth ``k``; returning ``False`` stops the search (the outcome is then
    ``stopped``). ``keep`` are expressions known to hold on every reachable
    state (asserted at every step; pass none unless they were proved).
    """
    enc = enc or Encoding(model, [g.bad for g in goals] + list(keep))
    # every goal pointed at one depth: a few one-shot queries, no incremental refutations (not
    # for the stuck test of no-deadlock, a disjunction of every fair guard, where bit-blasting
    # it whole was 3x slower than the incremental solver on P-stale-capabilities-suspend)
    one_shot = bool(goals) and all(g.first is not None and g.terminal is None for g in goals)
    u = Unrolling(enc, initial=True, one_shot=one_shot)
    out = BmcOutcome()
    todo = list(goals)
    cycles = deadlock_cycles(model) if any(g.terminal is not None for g in goals) else None
    horizon = max((g.bound(depth) for g in goals), default=-1)
    for k in range(horizon + 1):
        todo = [g for g in todo if g.name not in out.hits and k <= g.bound(depth)]
        if not todo:
            break
        if tick is not None and not tick(k):
            out.stopped = True
            break
        if k > 0:
            u.extend()
        for e in keep:
            u.solver.add(u.at(e, k))
        live = [g for g in todo if g.live_at(k, depth)]
        while live:
            u.solver.push()
            u.solver.add(z3.Or([g.at(u, k) for g in live]))
            out.queries += 1
            r = u.solver.check()
            if r == z3.sat:
                m = u.solver.model()
                acts, trace, _s, hit = _replay(model, u, m, live, cycles)
                u.solver.pop()
                if not hit:  # pragma: no cover - an encoding bug
                    raise ModelDefinitionError("smt counterexample: replayed final state is not bad")
                out.states.update(states_of(model, acts))
                for g in hit:
                    out.hits[g.name] = BmcHit(k, acts, trace)
                live = [g for g in live if g.name not in out.hits]
                continue
            u.solver.pop()
            if r != z3.unsat:
                out.stopped = True
                return out
            missed = [g.name for g in live if g.first == k]
            if missed:
                raise ModelDefinitionError(
                    f"smt: no counterexample of depth {k} for {', '.join(missed)}, where the explicit "
                    "engine found one (the encodings disagree)")
            # no path of k steps reaches a bad state of a live goal: keep that fact
            u.solver.add(*[z3.Not(g.at(u, k)) for g in live])
            for g in live:
                out.clear[g.name] = k
            break
        if all(g.first is None for g in todo):
            out.clear_upto = k
    for g in goals:
        if g.name not in out.hits and g.first is not None and not out.stopped:
            out.clear.setdefault(g.name, -1)
    return out


# -- reachability queries ----------------------------------------------------------------


def reach(model: Model, goal: Expr, depth: int) -> BmcHit | None:
    """A shortest path (at most ``depth`` steps) to a state satisfying ``goal``, or ``None``."""
    out = bmc(model, [Goal("goal", goal)], depth)
    return out.hits.get("goal")

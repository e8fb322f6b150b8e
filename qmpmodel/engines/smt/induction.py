"""k-induction with Houdini-pruned candidate lemmas.

:func:`prove` proves ``Q = not bad and L`` where ``L`` is a set of candidate
lemmas (the task's lemmas: structural lemmas, declared ranges, the other state
invariants). Lemmas are never assumed: they are part of what is proved, and
candidates are pruned Houdini-style (a candidate a reachable state or a
counterexample to induction violates is dropped, and the check repeated).
Base case: no state reachable in fewer than ``k`` steps violates ``Q`` or
leaves a declared range (bit-vector unrolling). Step case: ``k`` consecutive
states satisfying ``Q`` joined by transitions (no initial-state constraint),
then one violating it, must be unsatisfiable (integer unrolling).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from qmpmodel.core.expr import Expr, any_of, evaluate
from qmpmodel.core.model import Model, State
from qmpmodel.core.waitgraph import deadlock_cycles
from qmpmodel.engines.smt.bmc import BmcHit, Goal, _replay
from qmpmodel.engines.smt.encoding import Encoding, Unrolling

__all__ = ["Cti", "ProofOutcome", "Stepper", "prove"]

# -- k-induction -------------------------------------------------------------------------


@dataclass
class ProofOutcome:
    verdict: str  # "proved" | "violated" | "unknown"
    k: int
    note: str = ""
    hit: BmcHit | None = None
    #: the lemmas kept (proved along with the target), and the last counterexample to induction
    lemmas: tuple[str, ...] = ()
    cti: Cti | None = None
    #: lemmas pruned, each with the CTI (or reachable state) that refuted it
    dropped: tuple[tuple[str, Cti | State], ...] = ()


@dataclass(frozen=True)
class Cti:
    """A counterexample to induction: ``states[-1]`` follows ``states[:-1]`` by ``actions``."""

    states: tuple[State, ...]
    actions: tuple[int, ...]

    @property
    def last(self) -> State:
        return self.states[-1]


class Stepper:
    """The induction step: a free unrolling shared by every invariant of a model."""

    def __init__(self, enc: Encoding) -> None:
        self.u = Unrolling(enc, initial=False, tag="i!")

    def check(self, q: Goal, k: int) -> tuple[Any, Cti | None]:
        """Is there a CTI: ``k`` states satisfying ``not q.bad``, then a bad one?

        Integers are unbounded here (linear integer arithmetic): the step
        assumes nothing about variable ranges, so no lemma is needed for a
        variable the property does not depend on.
        """
        u = self.u
        while u.depth < k:
            u.extend()
        s = u.solver
        s.push()
        for j in range(k):
            s.add(z3.Not(q.at(u, j)))
        s.add(q.at(u, k))
        r = s.check()
        cti = None
        if r == z3.sat:
            m = s.model()
            cti = Cti(tuple(u.decode_state(m, j) for j in range(k + 1)), tuple(u.decode_actions(m, k)))
        s.pop()
        return r, cti


def _conj_goal(target: Goal, lemmas: Sequence[tuple[str, Expr]]) -> Goal:
    return Goal(target.name, any_of([target.bad, *(~e for _n, e in lemmas)]), target.terminal)


def prove(model: Model, target: Goal, lemmas: Sequence[tuple[str, Expr]], max_k: int,
          tick: Callable[[int], bool] | None = None, enc: Encoding | None = None,
          stepper: Stepper | None = None) -> ProofOutcome:
    """k-induction for ``not target`` strengthened with candidate ``lemmas``, k = 1 .. ``max_k``.

    What is proved is ``Q = not target and (every kept lemma) and (every
    variable within range)``. Candidate lemmas are pruned Houdini-style: one
    that a reachable state violates (base case) or that a counterexample to
    induction violates after the step is dropped, and the check is repeated;
    when only the target fails after the step, ``k`` grows. Dropping only
    weakens ``Q``, so the facts already established stay valid.
    """
    active = list(lemmas)
    enc = enc or Encoding(model, [target.bad, *(e for _n, e in lemmas)])
    step = stepper or Stepper(Encoding(model, arith="int"))
    u = Unrolling(enc, initial=True, tag="b!")
    cycles = deadlock_cycles(model) if target.terminal is not None else None
    dropped: list[tuple[str, Cti | State]] = []
    last: Cti | None = None
    kept: tuple[str, ...] = tuple(n for n, _e in active)
    for k in range(1, max_k + 1):
        if tick is not None and not tick(k):
            return ProofOutcome("unknown", k, "time budget exhausted")
        # base case: no state reachable in exactly k - 1 steps violates Q
        j = k - 1
        if j > 0:
            u.extend()
        while True:
            q = _conj_goal(target, active)
            u.solver.push()
            u.solver.add(z3.Or(q.at(u, j), z3.Not(u.ranges(j))))
            r = u.solver.check()
            if r != z3.sat:
                u.solver.pop()
                break
            m = u.solver.model()
            acts, trace, s, hit = _replay(model, u, m, [target], cycles)
            u.solver.pop()
            if hit:
                return ProofOutcome("violated", k, "", BmcHit(j, acts, trace))
            bad = [n for n, e in active if not evaluate(e, s)]
            if not bad:  # pragma: no cover - a variable left its declared range: a model bug
                return ProofOutcome("unknown", k, f"a variable leaves its declared range at depth {j}")
            dropped += [(n, s) for n in bad]
            active = [(n, e) for n, e in active if n not in bad]
        if r != z3.unsat:
            return ProofOutcome("unknown", k, f"solver gave {r} in the base case")
        u.solver.add(z3.Not(q.at(u, j)), u.ranges(j))
        # step case: k states satisfying Q, then one violating it
        while True:
            q = _conj_goal(target, active)
            r, last = step.check(q, k)
            if r != z3.sat or last is None:
                break
            bad = [n for n, e in active if not evaluate(e, last.last)]
            if not bad:
                break
            dropped += [(n, last) for n in bad]
            active = [(n, e) for n, e in active if n not in bad]
        kept = tuple(n for n, _e in active)
        if r == z3.unsat:
            used = ", ".join(kept)
            return ProofOutcome("proved", k, f"{k}-inductive" + (f" with lemmas {used}" if used else ""), None,
                                kept, None, tuple(dropped))
        if r != z3.sat:
            return ProofOutcome("unknown", k, f"solver gave {r} in the induction step")
    return ProofOutcome("unknown", max_k, f"not inductive at k={max_k}", None, kept, last, tuple(dropped))

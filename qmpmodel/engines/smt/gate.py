"""The symbolic gate: how deep each property is unrolled, and what is proved once per model.

Bounded model checking spends its time in the unsatisfiable depths below a
counterexample. Two facts cut them:

* **hints from the explicit engine.** When the reachable space is small
  (at most :data:`PREPASS_STATES` states) the breadth-first engine runs first.
  Its depth is the reachability diameter ``D``: every reachable state is
  reachable in at most ``D`` steps, so BMC to ``D`` is complete (a completeness
  threshold) and no goal is unrolled further. For a property it finds
  violated at depth ``d`` (its shortest counterexample), BMC asks depth ``d``
  only, and must find a path there (otherwise the engines disagree, an
  encoding bug, raised).
* **one unrolling for every property** (:func:`qmpmodel.engines.smt.bmc.bmc`):
  one incremental solver, each depth asked once for the disjunction of the
  goals still live there.

A verdict from the gate is ``violated`` or ``bounded``: BMC never says
``holds``, even to the diameter (the diameter comes from the other engine);
the note says when the depth is the diameter.

:func:`lemma_library` runs Houdini once per model over the task's candidate
lemmas: the largest 1-inductive subset, proved (base case on the bit-vector
unrolling, step over unbounded integers). Provers then start from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qmpmodel.core.expr import FALSE, Expr
from qmpmodel.core.model import Model
from qmpmodel.core.task import Obligation
from qmpmodel.engines.explicit import check_explicit
from qmpmodel.engines.smt.bmc import BmcOutcome, Goal, bad_goal, bmc
from qmpmodel.engines.smt.encoding import Encoding
from qmpmodel.engines.smt.induction import Stepper, prove

__all__ = ["PREPASS_STATES", "Hints", "LemmaLibrary", "explicit_hints", "goals_for", "lemma_library", "run_bmc"]

#: Largest reachable space the explicit pre-pass explores (about 5 s of the explicit engine).
PREPASS_STATES = 150_000


@dataclass(frozen=True)
class Hints:
    """What the explicit pre-pass established: the diameter and the shortest violation depths."""

    diameter: int
    first: dict[str, int] = field(default_factory=dict)
    states: int = 0


def explicit_hints(model: Model, obligations: Sequence[Obligation], max_states: int = PREPASS_STATES) -> Hints | None:
    """Run the explicit engine on the state and deadlock properties; ``None`` if the space is larger."""
    todo = [(p, e) for p, e in obligations if e != "skip" and p.kind != "liveness"]
    res = check_explicit(model, [(p, "holds") for p, _e in todo], max_states)
    if not res.complete:
        return None
    first = {r.name: r.depth for r in res.invariants if r.verdict == "violated" and r.depth is not None}
    return Hints(res.depth, first, res.states)


def goals_for(model: Model, obligations: Sequence[Obligation], hints: Hints | None) -> list[Goal]:
    """One BMC goal per state or deadlock property, bounded and pointed by ``hints``."""
    out = []
    for p, _e in obligations:
        g = bad_goal(p, model)
        if hints is not None:
            g.upto = hints.diameter
            g.first = hints.first.get(p.name)
        out.append(g)
    return out


def run_bmc(model: Model, goals: Sequence[Goal], depth: int, tick: Callable[[int], bool] | None = None,
            enc: Encoding | None = None, keep: Sequence[Expr] = ()) -> BmcOutcome:
    """Bounded model checking of ``goals`` in one unrolling (see :func:`qmpmodel.engines.smt.bmc.bmc`).

    ``keep`` must be proved invariants (the lemma library): asserted at every step.
    """
    return bmc(model, goals, depth, tick, keep=keep, enc=enc)


@dataclass(frozen=True)
class LemmaLibrary:
    """Candidate lemmas proved invariant together (Houdini), and those pruned."""

    proved: tuple[tuple[str, Expr], ...]
    dropped: tuple[str, ...]
    note: str = ""

    def names(self) -> set[str]:
        return {n for n, _e in self.proved}

    def covers(self, name: str) -> bool:
        """Whether candidate ``name`` was proved: itself, or every part it was split into
        (``name#k``, halves ``name<=``, ``name>=``, implications ``name=>``)."""
        def mine(n: str) -> bool:
            return n == name or (n.startswith(name) and n[len(name)] in "#<>=")

        proved = [n for n, _e in self.proved if mine(n)]
        return bool(proved) and not any(mine(n) for n in self.dropped)


def lemma_library(model: Model, candidates: Sequence[tuple[str, Expr]], tick: Callable[[int], bool] | None = None,
                  enc: Encoding | None = None, stepper: Stepper | None = None) -> LemmaLibrary:
    """The largest 1-inductive subset of ``candidates`` (Houdini), proved.

    k-induction of the conjunction with no target: a candidate that a
    reachable state (base case) or the successor of a state satisfying all
    remaining candidates (step case) violates is dropped, until the rest is
    inductive. What remains holds on every reachable state.
    """
    if not candidates:
        return LemmaLibrary((), ())
    po = prove(model, Goal("lemma-library", FALSE), candidates, 1, tick, enc, stepper)
    if po.verdict != "proved":
        return LemmaLibrary((), tuple(n for n, _e in candidates), po.note)
    kept = set(po.lemmas)
    return LemmaLibrary(tuple((n, e) for n, e in candidates if n in kept),
                        tuple(n for n, _e in candidates if n not in kept))

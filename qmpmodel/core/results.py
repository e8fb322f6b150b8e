"""The result types every engine returns and every writer reads.

A :class:`Trace` is a counterexample: an initial state and the steps that lead
from it to the violating state. States are given decoded, as an ordered mapping
from the model's variable names (``"mon[0].suspend_cnt"``, ``"dsp.ctx"``) to
integers or booleans, so that writers (ITF, Markdown, Mermaid, JUnit, SARIF)
never need the model. ``loop`` is set for a liveness lasso: the index of the
state where the loop starts; the loop closes back to it from the last state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "EXIT_CODES",
    "CheckResult",
    "EngineOptions",
    "EngineResult",
    "Expected",
    "InvariantResult",
    "Outcome",
    "StateView",
    "Trace",
    "TraceStep",
    "Verdict",
    "worst",
]

#: One vocabulary across engines (never "holds" for a space not finished or proved):
#:
#: ``holds``      exhaustive exploration, or a proof (``method`` says which);
#: ``violated``   with the depth and trace of a counterexample;
#: ``bounded``    no violation up to depth ``depth`` (bounded model checking);
#: ``not-found``  no violation in ``examples`` random examples;
#: ``unknown``    a budget ran out, or the engine cannot decide this kind of property.
Verdict = Literal["holds", "violated", "bounded", "not-found", "unknown"]
Expected = Literal["holds", "violated", "skip"]
#: What a verdict means for a pinned expectation, and for a run.
Outcome = Literal["met", "contradicted", "inconclusive"]

#: Exit status of every gating command (``check``, ``diff``, ``conform``, ``report``, ``reach``).
EXIT_CODES: Mapping[str, int] = {"met": 0, "contradicted": 1, "bad input": 2, "inconclusive": 3}


def worst(outcomes: Iterable[Outcome]) -> Outcome:
    """``contradicted`` beats ``inconclusive`` beats ``met`` (an empty run is met)."""
    seen = set(outcomes)
    if "contradicted" in seen:
        return "contradicted"
    return "inconclusive" if "inconclusive" in seen else "met"

#: A decoded model state: variable name -> value, in the model's variable order.
StateView = Mapping[str, int | bool]


@dataclass(frozen=True)
class TraceStep:
    """One transition of a trace and the state it leads to.

    ``action`` is the action family (``"read"``, ``"dispatch_pop"``), ``actor``
    the QEMU thread or party that takes it (``"client1"``, ``"iothread"``,
    ``"main"``), ``label`` the full instance name (``"read(mon=0)"``), ``index``
    the action's position in the model's deterministic action list (for replay).
    """

    action: str
    actor: str
    label: str
    index: int
    params: Mapping[str, int] = field(default_factory=dict)
    state: StateView = field(default_factory=dict)
    #: What the action models, for people: the QEMU function (and branch) of its step.
    qemu: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "action": self.action,
            "actor": self.actor,
            "label": self.label,
            "index": self.index,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class Trace:
    """A path from an initial state; ``loop`` marks a lasso (liveness)."""

    initial: StateView
    steps: tuple[TraceStep, ...]
    loop: int | None = None
    #: For no-deadlock: the wait-for cycle at the last state, as (waiter, waited-for, reason).
    cycle: tuple[tuple[str, str, str], ...] = ()
    #: What the values of coded variables mean (variable -> value -> label), for renderings.
    legend: Mapping[str, Mapping[int, str]] = field(default_factory=dict, compare=False)

    def show(self, name: str, value: int | bool) -> str:
        """A value of variable ``name`` as a person reads it."""
        label = self.legend.get(name, {}).get(int(value))
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return f"{label} ({text})" if label else text

    @property
    def depth(self) -> int:
        return len(self.steps)

    def states(self) -> list[StateView]:
        return [self.initial, *(s.state for s in self.steps)]

    def path(self) -> str:
        """Stateright-style path encoding: the action indices joined by ``/``."""
        return "/".join(str(s.index) for s in self.steps)


@dataclass(frozen=True)
class InvariantResult:
    name: str
    expected: Expected
    verdict: Verdict
    depth: int | None = None
    trace: Trace | None = None
    #: Free text: why unknown, which lemma failed, ...
    note: str = ""
    #: False when the engine cannot judge this kind of property at all (liveness
    #: under the z3 engine); the verdict is then ``unknown``.
    checked: bool = True
    #: How ``holds`` was established: ``exhaustive``, ``k-induction``, ``pdr``, ``parametric``.
    method: str = ""
    #: ``not-found``: how many random examples were run.
    examples: int | None = None
    #: ``violated``: the clause of the property that is false in the last state, with its values.
    clause: str = ""
    #: ``holds`` by a proof: the inductive invariant (or the lemmas) that prove it, readable.
    certificate: tuple[str, ...] = ()
    #: Non-empty when the proof covers more than the spec's bounds: the argument, stated.
    parametric: str = ""

    @property
    def outcome(self) -> Outcome:
        """The expectation against the verdict: only a decided verdict can meet or contradict it."""
        if self.expected == "skip":
            return "met"
        if self.verdict == "violated":
            return "met" if self.expected == "violated" else "contradicted"
        if self.verdict == "holds":
            return "met" if self.expected == "holds" else "contradicted"
        return "inconclusive"

    @property
    def met(self) -> bool:
        return self.outcome == "met"

    def text(self) -> str:
        """The verdict in the one vocabulary: ``violated at depth 8``, ``no violation up to depth 5``."""
        if self.verdict == "violated":
            return f"violated at depth {self.depth}" if self.depth is not None else "violated"
        if self.verdict == "bounded":
            return f"no violation up to depth {self.depth}"
        if self.verdict == "not-found":
            return f"not found in {self.examples} examples" if self.examples is not None else "not found"
        if self.verdict == "holds" and self.method and self.method != "exhaustive":
            return f"holds ({self.method})"
        return self.verdict


@dataclass(frozen=True)
class CheckResult:
    spec: str
    engine: str
    states: int
    transitions: int
    depth: int
    seconds: float
    complete: bool
    invariants: tuple[InvariantResult, ...]
    title: str = ""

    @property
    def outcome(self) -> Outcome:
        return worst(i.outcome for i in self.invariants)

    @property
    def met(self) -> bool:
        return self.outcome == "met"


@dataclass(frozen=True)
class EngineOptions:
    """Knobs an engine may use; each engine ignores the ones that do not apply."""

    max_states: int = 2_000_000
    #: Hypothesis: examples per invariant batch, and the seed.
    examples: int = 200
    seed: int = 0
    #: SMT: unrolling depth, and proofs instead of bounded checking.
    depth: int = 30
    prove: bool = False
    #: Bytes an engine may allocate for its search (0: no budget); beyond it, ``unknown``.
    max_memory: int = 0
    #: Explore one state per orbit of the task's symmetry group, when it is sound.
    symmetry: bool = False
    #: Distributed engine: partitions (Ray workers), and the Ray cluster's address ("": a local Ray).
    workers: int = 0
    ray_address: str = ""
    #: SMT proofs: ``kind`` (k-induction), ``pdr`` (Spacer) or ``auto`` (k-induction, then PDR).
    method: str = "auto"


@dataclass
class EngineResult:
    """What every engine returns (``states``: distinct states visited)."""

    states: int
    transitions: int
    depth: int
    complete: bool
    invariants: list[InvariantResult] = field(default_factory=list)

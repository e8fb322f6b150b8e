"""Hypothesis stateful engine: random, shrinking exploration of the one model.

The exhaustive engine stops at small bounds; this one runs long random
interleavings and shrinks what it finds to a short story. Nothing of the
dispatcher is re-implemented here: :func:`build_machine` turns a
:class:`~qmpmodel.core.model.Model` into a Hypothesis ``RuleBasedStateMachine``

* one rule per action family (``Action.family``); the rule's precondition is
  "some instance of this family is enabled" (the model's guards), and the rule
  draws the instance from the enabled ones with ``st.data()``. The step applies
  the model's compiled successor function
  (:func:`qmpmodel.core.model.compile_successors`, the explicit engine's);
* one Hypothesis ``@invariant`` per checked property: a ``state`` invariant is
  its compiled :func:`~qmpmodel.invariants.state_predicate`; ``no-deadlock`` is
  the wait-for-cycle predicate and "no state with pending work where QEMU is
  stuck" (no weakly fair action enabled, as in the explicit engine);
  ``progress`` (liveness) cannot be refuted by finite random runs and is
  reported ``unknown``;
* swarm testing: at the start of every episode the machine draws a random
  subset of the families to favour. Only favoured families run while one of
  them is enabled; when none is, every enabled family may run, so a run never
  stalls. The subset shrinks towards "all families". Hypothesis' own rule
  selection (whose per-rule swarm flags throw away every example in which
  the only enabled rules happen to be switched off) is replaced by a uniform
  choice among the rules whose preconditions hold;
* a ``restart`` rule, enabled only in terminal states (no action enabled),
  begins a new episode from the initial state: one Hypothesis example holds
  several episodes, and a violation's path is that of its episode.

A failure raises :class:`PropertyViolation` carrying the action indices of
the episode. Hypothesis shrinks the run (within :data:`SHRINK_STEPS` steps;
the shortest failing episode seen is kept); :func:`search` then replays the
shrunk path with :func:`qmpmodel.engines.explicit.trace_from_path` (every guard
re-checked), verifies that its last state violates the same property
(:func:`replay_violation`), and removes the steps that are not needed
(:func:`minimise_path`, deterministic delta debugging on the concrete path,
each candidate re-verified by replay).

Verdicts: ``violated`` (with the shrunk, replayed trace) or ``unknown`` with
the note "no counterexample in N examples": random testing never proves that
a property holds, so this engine never says ``holds``; ``complete`` is always
false. Runs are deterministic: ``database=None`` and a fixed seed
(:attr:`EngineOptions.seed`, applied with ``hypothesis.seed``).
"""

from __future__ import annotations

import ast
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from qmpmodel.core.expr import evaluate
from qmpmodel.core.model import Model, State, compile_predicate, compile_successors, is_stuck
from qmpmodel.core.results import EngineOptions, EngineResult, InvariantResult, Trace
from qmpmodel.core.task import CheckTask, Observer
from qmpmodel.core.task import Property as TaskProperty
from qmpmodel.core.trace import trace_from_path

__all__ = [
    "Property",
    "PropertyViolation",
    "Replay",
    "SearchOutcome",
    "SearchStats",
    "build_machine",
    "compile_properties",
    "confirm_with_explicit",
    "engine_settings",
    "families",
    "format_program",
    "is_stuck",
    "minimise_path",
    "parse_program",
    "replay_violation",
    "run",
    "search",
]

#: Steps per Hypothesis run in the engine (the CLI has no knob for it).
ENGINE_STEPS = 100
#: Steps Hypothesis' shrinker may execute per failure before the shortest run seen so far is taken.
SHRINK_STEPS = 3_000
#: Upper bound on re-runs of the batch of properties expected to hold.
MAX_HOLDS_RERUNS = 8


# -- properties ----------------------------------------------------------------


@dataclass(frozen=True)
class Property:
    """A checkable property: ``holds(s, stuck)`` is false on a violating state.

    ``stuck`` says that QEMU can do nothing in ``s``: no weakly fair action
    (``Action.fair``) is enabled, only clients could still act. ``no-deadlock``
    is violated by pending work in a stuck state, as in the explicit engine.
    """

    name: str
    kind: str
    holds: Callable[[State, bool], bool]


def compile_properties(model: Model, invariants: Iterable[TaskProperty]) -> tuple[Property, ...]:
    """Compile the state and deadlock properties among ``invariants`` (liveness is left out)."""
    out: list[Property] = []
    pending = compile_predicate(model.pending)
    for inv in invariants:
        if inv.kind == "liveness":
            continue
        pred = compile_predicate(inv.expr)
        if inv.kind == "deadlock":
            out.append(Property(inv.name, inv.kind, _deadlock_check(pred, pending)))
        else:
            out.append(Property(inv.name, inv.kind, _state_check(pred)))
    return tuple(out)


def _state_check(pred: Callable[[State], bool]) -> Callable[[State, bool], bool]:
    return lambda s, _terminal: pred(s)


def _deadlock_check(pred: Callable[[State], bool], pending: Callable[[State], bool]) -> Callable[[State, bool], bool]:
    return lambda s, stuck: pred(s) and not (stuck and pending(s))


def replay_violation(model: Model, prop: Property, path: Sequence[int]) -> Trace | None:
    """Replay ``path`` from the initial state (guards re-checked); the trace if its last state violates ``prop``.

    This is the explicit engine's replay (:func:`qmpmodel.engines.explicit.trace_from_path`):
    a disabled step raises :class:`ValueError`.
    """
    trace = trace_from_path(model, model.init, path)
    s = model.init
    for i in path:
        s = model.actions[i].apply(s)
    stuck = not any(a.fair and a.enabled(s) for a in model.actions)
    return None if prop.holds(s, stuck) else trace


def minimise_path(model: Model, prop: Property, path: Sequence[int]) -> list[int]:
    """Delete steps while the replayed path still violates ``prop``: runs of steps, then pairs.

    Hypothesis' shrinker works on its choice sequence and deletes aligned
    spans of it; a whole earlier session, say, is rarely one of them. This pass
    deletes runs of steps of the concrete action path (longest first, as in
    delta debugging), then pairs of steps, to a fixed point. A candidate is
    replayed step by step; a step whose exact instance is no longer enabled
    is replaced by the enabled instance of the same family sharing most
    parameters (a dispatcher step that now starts from another context, say),
    as Hypothesis' own relative draws would. Each accepted candidate is a
    concrete path that violates ``prop`` on replay. It never adds a step.
    """
    succ = compile_successors(model)
    fams = families(model)
    violates = _violation_test(model, prop, succ, fams)
    best = list(path)
    while True:
        states = [model.init]
        for i in best:
            states.append(dict(succ(states[-1]))[i])
        got = _first_deletion(best, states, violates)
        if got is None:
            return best
        best = got


def _first_deletion(best: list[int], states: list[State],
                    violates: Callable[[State, Sequence[int]], list[int] | None]) -> list[int] | None:
    """The first violating candidate: the longest deletable run of steps, else a deletable pair."""
    n = len(best)
    for length in range(n - 1, 0, -1):
        for i in range(n - length + 1):
            got = violates(states[i], best[i + length:])
            if got is not None:
                return best[:i] + got
    for i in range(n):
        for j in range(i + 2, n):
            got = violates(states[i], best[i + 1:j] + best[j + 1:])
            if got is not None:
                return best[:i] + got
    return None


def _violation_test(model: Model, prop: Property, succ: Callable[[State], list[tuple[int, State]]],
                    fams: dict[str, tuple[int, ...]]) -> Callable[[State, Sequence[int]], list[int] | None]:
    acts = model.actions

    def closest(i: int, nxt: dict[int, State]) -> int | None:
        a = acts[i]
        cands = [j for j in fams[a.family] if j in nxt]
        if not cands:
            return None
        want = set(a.params)
        return max(cands, key=lambda j: (len(want & set(acts[j].params)), -j))

    def violates(start: State, path: Sequence[int]) -> list[int] | None:
        """Replay ``path`` from ``start`` (closest instances); the steps taken, if they end in a violation."""
        s = start
        out: list[int] = []
        for i in path:
            nxt = dict(succ(s))
            j = i if i in nxt else closest(i, nxt)
            if j is None:
                return None
            out.append(j)
            s = nxt[j]
        return None if prop.holds(s, is_stuck(model, succ(s))) else out

    return violates


def confirm_with_explicit(task: CheckTask, name: str, trace: Trace) -> int:
    """Check a Hypothesis counterexample against the explicit engine; return the shortest depth.

    ``trace`` must replay (every guard re-checked) to a state violating
    ``name``, and the exhaustive engine must find ``name`` violated too, at a
    depth no greater than ``len(trace)`` (breadth first: its trace is a
    shortest one). An :class:`AssertionError` says which part disagrees.
    """
    from qmpmodel.engines.explicit import check_explicit

    inv = task.property(name)
    (prop,) = compile_properties(task.model, [inv])
    path = [st_.index for st_ in trace.steps]
    if replay_violation(task.model, prop, path) is None:
        raise AssertionError(f"the trace does not replay to a violation of {name!r}")
    res = check_explicit(task.model, [(inv, "violated")])
    (verdict,) = res.invariants
    if verdict.verdict != "violated" or verdict.depth is None:
        raise AssertionError(f"the explicit engine says {name!r} is {verdict.verdict}")
    if verdict.depth > len(path):
        raise AssertionError(f"explicit shortest depth {verdict.depth} exceeds the trace's {len(path)}")
    return verdict.depth


# -- the generated state machine -------------------------------------------------


class PropertyViolation(AssertionError):
    """A property failed on the machine's current state; ``path`` is the episode so far.

    Its message is the readable program of the run, shrunk further by
    :func:`minimise_path` (the message is built when it is shown, not while
    Hypothesis shrinks).
    """

    def __init__(self, prop: Property, path: tuple[int, ...], model: Model) -> None:
        super().__init__(prop.name, path)
        self.prop = prop
        self.path = path
        self.model = model

    def __str__(self) -> str:
        short = minimise_path(self.model, self.prop, self.path)
        program = format_program(trace_from_path(self.model, self.model.init, short))
        return (f"invariant {self.prop.name!r} violated after {len(short)} steps "
                f"(Hypothesis' shrunk run: {len(self.path)} steps):\n{program}\n"
                f"# path {'/'.join(map(str, short))}")


@dataclass
class SearchStats:
    """Counters one search shares with the machines it creates (not module state)."""

    examples: int = 0
    steps: int = 0
    max_depth: int = 0
    visited: set[State] = field(default_factory=set)
    first_failure_example: int | None = None
    first_failure_seconds: float | None = None
    started: float = field(default_factory=time.perf_counter)
    observer: Observer | None = None
    stopped: bool = False
    #: Shortest violating path seen per property (during generation and shrinking).
    best: dict[str, tuple[int, ...]] = field(default_factory=dict)
    first_prop: str | None = None
    steps_at_first: int = 0
    #: Steps Hypothesis' shrinker may execute after the first failure (deterministic cap).
    shrink_budget: int = 0
    exhausted: bool = False


class _Stopped(Exception):
    """The observer asked to stop: every example from then on fails with this at once."""


def families(model: Model) -> dict[str, tuple[int, ...]]:
    """Action family -> indices of its instances, in the model's order."""
    out: dict[str, list[int]] = {}
    for i, a in enumerate(model.actions):
        out.setdefault(a.family, []).append(i)
    return {f: tuple(ix) for f, ix in out.items()}


def build_machine(model: Model, props: Sequence[Property], *, swarm: bool = True,
                  stats: SearchStats | None = None, name: str = "QmpModel") -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` subclass generated from ``model`` checking ``props``."""
    succ = compile_successors(model)
    fams = families(model)
    fam_of = {i: f for f, ix in fams.items() for i in ix}
    fam_names = tuple(fams)
    rule_of: dict[str, str] = {}
    by_name = {p.name: p for p in props}

    def _init(self: Any) -> None:
        RuleBasedStateMachine.__init__(self)
        self.state = model.init
        self.path = []
        self.allowed = None
        self._by_fam = None
        rules = getattr(getattr(self, "_rules_strategy", None), "rules", None)
        if rules is not None:
            by_name = {r.function.__name__: r for r in rules}
            if set(by_name) == set(rule_of.values()) | {"restart"}:
                self._rules_strategy = _choose_rule(self, by_name)
        if stats is not None:
            stats.examples += 1
            stats.visited.add(model.init)

    def successors(self: Any) -> dict[str, list[tuple[int, State]]]:
        if self._by_fam is None:
            by: dict[str, list[tuple[int, State]]] = {}
            for i, t in succ(self.state):
                by.setdefault(fam_of[i], []).append((i, t))
            self._by_fam = by
        return self._by_fam  # type: ignore[no-any-return]

    def runnable(self: Any) -> list[str]:
        """Names of the rules whose precondition holds (the family rules' or ``restart``)."""
        by = self.successors()
        if not by:
            return ["restart"]
        fav = list(by) if self.allowed is None else [f for f in by if f in self.allowed] or list(by)
        return [rule_of[f] for f in fav]

    def may_run(self: Any, fam: str) -> bool:
        by = self.successors()
        if fam not in by:
            return False
        if self.allowed is None or fam in self.allowed:
            return True
        return not any(f in by for f in self.allowed)

    def take(self: Any, index: int, target: State) -> None:
        self.state = target
        self.path.append(index)
        self._by_fam = None
        if stats is not None:
            stats.steps += 1
            stats.visited.add(target)
            if len(self.path) > stats.max_depth:
                stats.max_depth = len(self.path)
            obs = stats.observer
            if obs is not None and stats.steps % 2048 == 0 and not obs.progress(len(stats.visited), stats.max_depth):
                stats.stopped = True
            if stats.first_prop is not None and stats.shrink_budget and \
                    stats.steps - stats.steps_at_first > stats.shrink_budget:
                stats.exhausted = True

    def checkpoint(self: Any) -> None:
        # Budgets end a Hypothesis run from inside, consistently (Hypothesis replays examples and
        # insists on deterministic behaviour): once exhausted, every example fails at its first
        # invariant check, so Hypothesis' shrinker reaches the empty run and stops at once.
        if stats is None:
            return
        if stats.stopped:
            raise _Stopped("stopped by the observer")
        if stats.exhausted and stats.first_prop is not None:
            self.fail(by_name[stats.first_prop], stats.best[stats.first_prop])

    def fail(self: Any, prop: Property, path: tuple[int, ...] | None = None) -> None:
        path = tuple(self.path) if path is None else path
        if stats is not None:
            if stats.first_prop is None:
                stats.first_prop = prop.name
                stats.steps_at_first = stats.steps
                stats.first_failure_example = stats.examples
                stats.first_failure_seconds = time.perf_counter() - stats.started
            old = stats.best.get(prop.name)
            if old is None or (len(path), path) < (len(old), old):
                stats.best[prop.name] = path
        raise PropertyViolation(prop, path, model)

    def repr_(self: Any) -> str:
        return f"{name}(depth={len(self.path)})"

    ns: dict[str, Any] = {
        "__init__": _init,
        "__repr__": repr_,
        "__doc__": f"Hypothesis state machine generated from a qmpmodel model ({len(fams)} action families).",
        "successors": successors,
        "runnable": runnable,
        "may_run": may_run,
        "take": take,
        "fail": fail,
        "checkpoint": checkpoint,
        "model": model,
    }

    def draw_subset(self: Any, data: st.DataObject) -> None:
        if not swarm:
            return
        # One drawn number names the subset: 0 (the shrink target) is "every family", any
        # other number seeds a fair coin per family. (A drawn bitmask would not do: Hypothesis
        # favours small and boundary integers, so most subsets would be nearly everything.)
        key = data.draw(st.integers(0, 2**32 - 1), label="swarm subset")
        if key == 0:
            self.allowed = None
            return
        coin = random.Random(key)
        chosen = frozenset(f for f in fam_names if coin.random() < 0.5)
        self.allowed = chosen or None

    @initialize(data=st.data())
    def swarm_subset(self: Any, data: st.DataObject) -> None:
        """Swarm testing: favour a random subset of the action families in this episode."""
        self.draw_subset(data)

    ns["draw_subset"] = draw_subset
    ns["swarm_subset"] = swarm_subset

    for fam in fam_names:
        rule_of[fam] = _rule_name(fam, ns)
        ns[rule_of[fam]] = _family_rule(fam, rule_of[fam])

    @precondition(lambda self: not self.successors())
    @rule(data=st.data())
    def restart(self: Any, data: st.DataObject) -> None:
        """A terminal state: start a new episode from the initial state (a new swarm subset)."""
        self.state = model.init
        self.path = []
        self._by_fam = None
        self.draw_subset(data)

    ns["restart"] = restart

    for prop in props:
        ns[_rule_name("check_" + prop.name.replace("-", "_"), ns)] = _property_check(prop, model)

    return type(name, (RuleBasedStateMachine,), ns)


@st.composite
def _choose_rule(draw: st.DrawFn, machine: Any, rules: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Rule selection: uniform over the rules whose precondition holds.

    Hypothesis' own selection tests every rule's precondition and applies
    per-rule swarm flags; with a model, where often one or two families are
    enabled, those flags frequently disable every enabled rule and the example
    is thrown away. The machine does its own swarm (:func:`build_machine`) and
    knows which preconditions hold from one successor computation
    (``machine.runnable()``, the same test as the rules' preconditions). When
    Hypothesis' rule strategy does not have the shape this relies on, the
    machine keeps Hypothesis' own selection.
    """
    names = machine.runnable()
    rule = rules[names[0] if len(names) == 1 else draw(st.sampled_from(names))]
    return rule, {k: draw(s) for k, s in rule.arguments_strategies.items()}


def _rule_name(base: str, ns: dict[str, Any]) -> str:
    out = _identifier(base)
    while out in ns or hasattr(RuleBasedStateMachine, out):
        out += "_"
    return out


def _family_rule(fam: str, name: str) -> Callable[..., None]:
    def step(self: Any, data: st.DataObject) -> None:
        options = self.successors()[fam]
        k = 0 if len(options) == 1 else data.draw(st.integers(0, len(options) - 1), label=fam)
        index, target = options[k]
        self.take(index, target)

    step.__name__ = step.__qualname__ = name
    step.__doc__ = f"One {fam} step: an enabled instance of the family, drawn."
    return precondition(lambda self: self.may_run(fam))(rule(data=st.data())(step))


def _property_check(prop: Property, model: Model) -> Callable[..., None]:
    if prop.kind == "deadlock":
        def check(self: Any) -> None:
            self.checkpoint()
            if not prop.holds(self.state, is_stuck(model, (o for opts in self.successors().values() for o in opts))):
                self.fail(prop)
    else:
        def check(self: Any) -> None:
            self.checkpoint()
            if not prop.holds(self.state, False):
                self.fail(prop)

    check.__name__ = check.__qualname__ = "check_" + _identifier(prop.name)
    check.__doc__ = f"The property {prop.name!r} holds on the current state."
    return invariant()(check)


def _identifier(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name)
    return out if out.isidentifier() else "f_" + out


# -- searching -------------------------------------------------------------------


def engine_settings(examples: int, steps: int = ENGINE_STEPS) -> settings:
    """Hypothesis settings of the engine: no database, no deadline, quiet, one bug per run."""
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=False,
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        print_blob=False,
    )


@dataclass(frozen=True)
class SearchOutcome:
    """What one Hypothesis search found.

    ``prop`` names the violated property (``None``: no counterexample);
    ``raw_path`` is the path Hypothesis shrank to, ``path`` the minimised one
    and ``trace`` its replay; ``examples_to_first``/``seconds_to_first``
    measure the search before shrinking.
    """

    prop: str | None
    raw_path: tuple[int, ...] = ()
    path: tuple[int, ...] = ()
    trace: Trace | None = None
    examples_to_first: int | None = None
    seconds_to_first: float | None = None
    stopped: bool = False


def search(model: Model, props: Sequence[Property], *, examples: int, seed: int, steps: int = ENGINE_STEPS,
           swarm: bool = True, stats: SearchStats | None = None, minimise: bool = True,
           shrink_budget: int = SHRINK_STEPS) -> SearchOutcome:
    """Run one Hypothesis search over ``model`` for ``props``; replay and verify what it finds."""
    stats = stats if stats is not None else SearchStats()
    stats.first_failure_example = stats.first_failure_seconds = stats.first_prop = None
    stats.best = {}
    stats.shrink_budget = shrink_budget
    stats.exhausted = False
    stats.started = time.perf_counter()
    machine = hypothesis_seed(seed)(build_machine(model, props, swarm=swarm, stats=stats))
    raw: tuple[int, ...] | None = None
    try:
        with with_reporter(_discard):
            run_state_machine_as_test(machine, settings=engine_settings(examples, steps))
    except PropertyViolation as e:
        name, raw = e.prop.name, e.path
    except _Stopped:
        return SearchOutcome(None, stopped=True)
    except Exception:
        # a budget changed the machine's behaviour under Hypothesis' feet: it may notice
        # (a Flaky error); the shortest failure seen so far is the result
        if stats.stopped:
            return SearchOutcome(None, stopped=True)
        if not stats.exhausted:
            raise
        name = stats.first_prop
    if stats.first_prop is None:
        return SearchOutcome(None)
    assert name is not None
    best = stats.best.get(name, raw)
    if raw is None or (best is not None and len(best) < len(raw)):
        raw = best
    assert raw is not None
    prop = next(p for p in props if p.name == name)
    if replay_violation(model, prop, raw) is None:
        raise AssertionError(f"the shrunk run does not replay to a violation of {name!r}")
    path = minimise_path(model, prop, raw) if minimise else list(raw)
    trace = replay_violation(model, prop, path)
    assert trace is not None
    return SearchOutcome(name, raw, tuple(path), trace, stats.first_failure_example, stats.first_failure_seconds)


def _discard(_text: str) -> None:
    """Hypothesis' reporter while the engine runs: the engine never prints."""


# -- the engine entry point --------------------------------------------------------


def run(task: CheckTask, options: EngineOptions, observer: Observer | None = None) -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check`).

    Each property pinned ``violated`` gets a search of its own (so Hypothesis
    shrinks for that property); the properties pinned ``holds`` are searched
    together, and a violated one is recorded and dropped before the batch is
    searched again (at most :data:`MAX_HOLDS_RERUNS` times).
    """
    model = task.model
    pinned = task.obligations
    stats = SearchStats(observer=observer)
    found: dict[str, SearchOutcome] = {}
    notes: dict[str, str] = {}
    budget_note = f"no counterexample in {options.examples} examples (seed {options.seed})"

    todo = [(inv, exp) for inv, exp in pinned if exp != "skip" and inv.kind != "liveness"]
    for inv, exp in todo:
        if exp != "violated" or stats.stopped:
            continue
        (prop,) = compile_properties(model, [inv])
        out = search(model, [prop], examples=options.examples, seed=options.seed, stats=stats)
        if out.prop is not None:
            found[inv.name] = out
    batch = compile_properties(model, [inv for inv, exp in todo if exp == "holds"])
    for _ in range(MAX_HOLDS_RERUNS + 1):
        if not batch or stats.stopped:
            break
        out = search(model, batch, examples=options.examples, seed=options.seed, stats=stats)
        if out.prop is None:
            break
        found[out.prop] = out
        batch = tuple(p for p in batch if p.name != out.prop)
    else:
        for p in batch:
            notes[p.name] = f"not searched: more than {MAX_HOLDS_RERUNS} properties failed"

    results: list[InvariantResult] = []
    for inv, exp in pinned:
        if exp == "skip":
            results.append(InvariantResult(inv.name, exp, "unknown", note="skipped by the spec"))
        elif inv.kind == "liveness":
            results.append(InvariantResult(inv.name, exp, "unknown", checked=False,
                                           note="liveness is not decided by finite random runs"))
        elif inv.name in found:
            o = found[inv.name]
            assert o.trace is not None
            results.append(InvariantResult(
                inv.name, exp, "violated", o.trace.depth, o.trace,
                note=f"found by example {o.examples_to_first} (seed {options.seed}); "
                     f"Hypothesis shrank it to {len(o.raw_path)} steps, step deletion to {len(o.path)}"))
        else:
            # random search can refute "holds" but never establish it
            if stats.stopped or inv.name in notes:
                note = "time budget exhausted" if stats.stopped else notes[inv.name]
                results.append(InvariantResult(inv.name, exp, "unknown", note=note))
            else:
                results.append(InvariantResult(inv.name, exp, "not-found", note=budget_note,
                                               examples=options.examples))
    return EngineResult(len(stats.visited), stats.steps, stats.max_depth, False, results)


# -- programs: a trace as readable, replayable steps --------------------------------


def format_program(trace: Trace, var: str = "state") -> str:
    """One line per step: ``state.step("dispatcher_pop", mon=0, thread=1)  # main``."""
    lines = []
    for st_ in trace.steps:
        args = [f'"{st_.action}"'] + [f"{k}={v}" for k, v in st_.params.items()]
        lines.append(f"{var}.step({', '.join(args)})  # {st_.actor}")
    return "\n".join(lines)


def parse_program(model: Model, text: str) -> list[int]:
    """The action indices of a program printed by :func:`format_program` (other lines are ignored)."""
    index = {(a.family, a.params): i for i, a in enumerate(model.actions)}
    out: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0].strip()
        if not code:
            continue
        try:
            node = ast.parse(code, mode="eval").body
        except SyntaxError as e:
            raise ValueError(f"line {n}: not a step: {line!r}") from e
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step"
                and len(node.args) == 1 and isinstance(node.args[0], ast.Constant)):
            continue
        fam = node.args[0].value
        params = tuple((kw.arg, ast.literal_eval(kw.value)) for kw in node.keywords)
        key = (fam, params)
        if key not in index:
            raise ValueError(f"line {n}: no action {fam}({', '.join(f'{k}={v}' for k, v in params)}) in this model")
        out.append(index[key])
    return out


class Replay:
    """Drive the model step by step, as a printed program does: ``Replay(model).step("read", mon=0)``."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.state: State = model.init
        self.path: list[int] = []
        self._index = {(a.family, a.params): i for i, a in enumerate(model.actions)}

    def step(self, family: str, **params: int) -> Replay:
        key = (family, tuple(params.items()))
        i = self._index.get(key)
        if i is None:
            raise ValueError(f"no action {family}{params} in this model")
        a = self.model.actions[i]
        if not a.enabled(self.state):
            raise ValueError(f"{a.label} is not enabled after {len(self.path)} steps")
        self.state = a.apply(self.state)
        self.path.append(i)
        return self

    def holds(self, inv: TaskProperty) -> bool:
        """Whether ``inv`` holds on the current state (``no-deadlock``: also not stuck with pending work)."""
        if inv.kind == "liveness":
            raise ValueError(f"{inv.name} is a liveness property: it has no verdict on one state")
        if not evaluate(inv.expr, self.state):
            return False
        if inv.kind == "deadlock":
            stuck = not any(a.fair and a.enabled(self.state) for a in self.model.actions)
            return not (stuck and evaluate(self.model.pending, self.state))
        return True

    def trace(self) -> Trace:
        return trace_from_path(self.model, self.model.init, self.path)


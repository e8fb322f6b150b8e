"""The Hypothesis state machine generated from a model (public ``hypothesis.stateful`` API only).

:func:`build_machine` turns a :class:`~qmpmodel.core.model.Model` into a
``RuleBasedStateMachine`` subclass:

* one ``@rule`` ``step``: it draws an action family among those with an
  enabled instance, then the instance, and applies the model's compiled
  successor function (:func:`qmpmodel.core.model.compile_successors`, the
  explicit engine's). In a terminal state (no action enabled) the step
  starts a new episode from the initial state: one Hypothesis example holds
  several episodes, and a violation's path is that of its episode. One rule
  whose draws do the choosing replaces per-family rules, whose selection by
  Hypothesis (per-rule swarm flags over preconditions) throws away the
  examples in which the only enabled rules happen to be switched off;
* swarm testing: each episode draws a subset of the families to favour. Only
  favoured families run while one of them is enabled; when none is, every
  enabled family may run, so a run never stalls. The subset shrinks towards
  "all families". Each family is in the subset with a probability drawn per
  episode among ``densities``;
* one ``@invariant`` (``check_properties``) checking every property in turn;
  each also has a plain method ``check_<name>``. (One invariant per property
  costs Hypothesis a verbosity comparison per invariant per step: with the 24
  properties of a spec, more than the model's own work);
* steering: given a distance (:func:`~qmpmodel.engines.hypothesis.properties.compile_distance`),
  each step first draws whether to explore (the drawn family and instance,
  most steps) or to be greedy (the enabled action whose successor is closest to a
  violation); shrinking moves towards greedy steps. With ``novelty``, a greedy
  step breaks ties of distance (most of them: the distance of most properties
  is flat far from a violation) by preferring the successor state this example
  has visited least, so the episodes of one example spread out instead of
  repeating the lowest-numbered action: coverage of new states, per example
  (a count across examples would make a replayed choice sequence take other
  steps, which Hypothesis forbids). ``teardown`` reports the
  smallest distance of the example's states with ``hypothesis.target``, so
  Hypothesis' targeting phase climbs towards a violation too. The distance
  is a function of the state alone, so a replayed choice sequence takes the
  same steps (Hypothesis requires it).

A failure raises :class:`PropertyViolation` carrying the action indices of
the episode.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis import target
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from qmpmodel.core.model import Model, State, compile_successors, is_stuck
from qmpmodel.core.task import Observer
from qmpmodel.core.trace import trace_from_path
from qmpmodel.engines.hypothesis.program import format_program
from qmpmodel.engines.hypothesis.properties import Property
from qmpmodel.engines.hypothesis.shrink import families, minimise_path

__all__ = ["GREEDY_ODDS", "SWARM_DENSITIES", "PropertyViolation", "SearchStats", "Stopped", "build_machine"]

#: One step in GREEDY_ODDS is greedy in a steered search. Measured (seed 0, examples to the first
#: counterexample): half the steps greedy: P-stale suspend-balance 8, no-deadlock 106, U 43,
#: qemu-current reply-order-all 299 (54 unsteered); one in four: 334, 26, 55 and 110.
GREEDY_ODDS = 4
#: Densities of the swarm subset (the probability that a family is favoured in an episode).
SWARM_DENSITIES = (0.5,)


class PropertyViolation(AssertionError):
    """A property failed on the machine's current state; ``path`` is the episode so far.

    Its message is the readable program of the run, minimised by
    :func:`~qmpmodel.engines.hypothesis.shrink.minimise_path` (built when it
    is shown, not while Hypothesis shrinks).
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
    observer: Observer | None = None
    stopped: bool = False
    #: Shortest violating path seen per property.
    best: dict[str, tuple[int, ...]] = field(default_factory=dict)
    first_prop: str | None = None
    #: Smallest distance to a violation seen (steered searches).
    closest: int | None = None


class Stopped(Exception):
    """The observer asked to stop: every example from then on fails with this at once."""


def build_machine(model: Model, props: Sequence[Property], *, swarm: bool = True,
                  stats: SearchStats | None = None, name: str = "QmpModel",
                  distance: Callable[[State], int] | None = None, novelty: bool = False,
                  greedy_odds: int = GREEDY_ODDS,
                  densities: Sequence[float] = SWARM_DENSITIES) -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` subclass generated from ``model`` checking ``props``.

    ``distance`` (optional) steers the search: one step in ``greedy_odds`` is
    greedy and ``teardown`` calls ``hypothesis.target(-min distance)``.
    ``novelty``: greedy steps prefer, among the closest successors, the state
    least visited in the example (without ``distance``, every state is at
    distance 0). ``densities``: the swarm subset's density is drawn among them.
    """
    if novelty and distance is None:
        distance = _zero
    dens = tuple(densities)
    succ = compile_successors(model)
    fams = families(model)
    fam_of = {i: f for f, ix in fams.items() for i in ix}
    fam_names = tuple(fams)

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.state: State = model.init
            self.path: list[int] = []
            self.allowed: frozenset[str] | None = None
            self._by_fam: dict[str, list[tuple[int, State]]] | None = None
            self.closest = distance(model.init) if distance is not None else 0
            #: Visits per state in this example (``novelty``).
            self.visits: dict[State, int] = {model.init: 1}
            if stats is not None:
                stats.examples += 1
                stats.visited.add(model.init)

        def successors(self) -> dict[str, list[tuple[int, State]]]:
            if self._by_fam is None:
                by: dict[str, list[tuple[int, State]]] = {}
                for i, t in succ(self.state):
                    by.setdefault(fam_of[i], []).append((i, t))
                self._by_fam = by
            return self._by_fam

        def runnable(self) -> list[str]:
            """The families that may run now (the favoured ones among the enabled, else all enabled)."""
            by = self.successors()
            if self.allowed is None:
                return list(by)
            return [f for f in by if f in self.allowed] or list(by)

        def draw_subset(self, data: st.DataObject) -> None:
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
            density = dens[0] if len(dens) == 1 else dens[int(coin.random() * len(dens))]
            chosen = frozenset(f for f in fam_names if coin.random() < density)
            self.allowed = chosen or None

        @initialize(data=st.data())
        def swarm_subset(self, data: st.DataObject) -> None:
            """Swarm testing: favour a random subset of the action families in this episode."""
            self.draw_subset(data)

        @rule(data=st.data())
        def step(self, data: st.DataObject) -> None:
            """One step of an enabled action (family, then instance, drawn); a new episode when terminal."""
            by = self.successors()
            if not by:
                self.state = model.init
                self.path = []
                self._by_fam = None
                self.draw_subset(data)
                return
            names = self.runnable()
            if distance is not None and (len(names) > 1 or len(by[names[0]]) > 1) and \
                    data.draw(st.integers(0, greedy_odds - 1), label="explore") == 0:
                # greedy step (a drawn 0, one step in greedy_odds, and what shrinking moves
                # towards): the enabled action whose successor is closest to a violation
                # (with novelty: then least visited in this example)
                cands = [o for f in names for o in by[f]]
                if novelty:
                    seen = self.visits
                    self.take(*min(cands, key=lambda o: (distance(o[1]), seen.get(o[1], 0), o[0])))
                else:
                    self.take(*min(cands, key=lambda o: (distance(o[1]), o[0])))
                return
            fam = names[0] if len(names) == 1 else data.draw(st.sampled_from(names), label="family")
            options = by[fam]
            k = 0 if len(options) == 1 else data.draw(st.integers(0, len(options) - 1), label=fam)
            self.take(*options[k])

        def take(self, index: int, nxt: State) -> None:
            self.state = nxt
            self.path.append(index)
            self._by_fam = None
            if distance is not None:
                self.closest = min(self.closest, distance(nxt))
            if novelty:
                self.visits[nxt] = self.visits.get(nxt, 0) + 1
            if stats is None:
                return
            stats.steps += 1
            stats.visited.add(nxt)
            stats.max_depth = max(stats.max_depth, len(self.path))
            obs = stats.observer
            if obs is not None and stats.steps % 2048 == 0 and not obs.progress(len(stats.visited), stats.max_depth):
                stats.stopped = True

        def checkpoint(self) -> None:
            # the observer's budget ends a Hypothesis run from inside: once it is spent, every
            # example fails at its first invariant check
            if stats is not None and stats.stopped:
                raise Stopped("stopped by the observer")

        def fail(self, prop: Property, path: tuple[int, ...] | None = None) -> None:
            path = tuple(self.path) if path is None else path
            if stats is not None:
                if stats.first_prop is None:
                    stats.first_prop = prop.name
                    stats.first_failure_example = stats.examples
                old = stats.best.get(prop.name)
                if old is None or (len(path), path) < (len(old), old):
                    stats.best[prop.name] = path
            raise PropertyViolation(prop, path, model)

        def stuck(self) -> bool:
            return is_stuck(model, (o for opts in self.successors().values() for o in opts))

        def teardown(self) -> None:
            if distance is not None and distance is not _zero:
                if stats is not None:
                    stats.closest = self.closest if stats.closest is None else min(stats.closest, self.closest)
                target(-float(self.closest), label="distance to a violation")

        def __repr__(self) -> str:
            return f"{name}(depth={len(self.path)})"

    checks = [_property_check(prop) for prop in props]
    Machine.check_properties = _all_checks(checks)
    for prop, check in zip(props, checks, strict=True):
        setattr(Machine, _check_name(prop, Machine), check)
    Machine.__name__ = Machine.__qualname__ = name
    Machine.__doc__ = f"Hypothesis state machine generated from a qmpmodel model ({len(fams)} action families)."
    return Machine


def _zero(_s: State) -> int:
    """The distance of a search without one: novelty alone chooses the greedy steps."""
    return 0


def _check_name(prop: Property, cls: type) -> str:
    base = "check_" + _identifier(prop.name)
    out = base
    while hasattr(cls, out):
        out += "_"
    return out


def _property_check(prop: Property) -> Callable[..., None]:
    if prop.kind == "deadlock":
        def check(self: Any) -> None:
            if not prop.holds(self.state, self.stuck()):
                self.fail(prop)
    else:
        def check(self: Any) -> None:
            if not prop.holds(self.state, False):
                self.fail(prop)

    check.__name__ = check.__qualname__ = "check_" + _identifier(prop.name)
    check.__doc__ = f"The property {prop.name!r} holds on the current state."
    return check


def _all_checks(checks: Sequence[Callable[[Any], None]]) -> Callable[..., None]:
    def check_properties(self: Any) -> None:
        """Every checked property holds on the current state (the first that does not fails the run)."""
        self.checkpoint()
        for check in checks:
            check(self)

    return invariant()(check_properties)


def _identifier(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name)
    return out if out.isidentifier() else "f_" + out

"""One Hypothesis search over a model: generate, target, replay and minimise.

:func:`search` runs the generated machine under :func:`engine_settings`
(no database, no deadline, quiet, Hypothesis' ``target`` phase on, no
``shrink`` phase). A
violation is replayed with the explicit engine's replay (every guard
re-checked), must violate the same property, and is minimised on the
concrete path (:func:`~qmpmodel.engines.hypothesis.shrink.minimise_path`).
Runs are deterministic: a fixed seed (``hypothesis.seed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.reporting import with_reporter
from hypothesis.stateful import run_state_machine_as_test

from qmpmodel.core.model import Model, compile_successors
from qmpmodel.core.results import Trace
from qmpmodel.engines.hypothesis.machine import (
    GREEDY_ODDS,
    SWARM_DENSITIES,
    PropertyViolation,
    SearchStats,
    Stopped,
    build_machine,
)
from qmpmodel.engines.hypothesis.properties import Property, compile_distance, replay_violation
from qmpmodel.engines.hypothesis.shrink import minimise_path

__all__ = ["ENGINE_STEPS", "SearchOutcome", "engine_settings", "search"]

#: Steps per Hypothesis run in the engine (the CLI has no knob for it).
ENGINE_STEPS = 100


def engine_settings(examples: int, steps: int = ENGINE_STEPS) -> settings:
    """Hypothesis settings of the engine: no database, no deadline, quiet, one bug per run, targeting.

    No shrink phase: the concrete-path minimiser
    (:func:`~qmpmodel.engines.hypothesis.shrink.minimise_path`) reached the shortest length on
    every bug spec from the first failing run alone, while Hypothesis' shrinker, simulating
    candidates over choice sequences of a 100-step run, spent 9 s on C's, F's and
    P-stale-capabilities-events' first failures without shortening them (0.2 s each without it).
    """
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=False,
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.target),
        print_blob=False,
    )


@dataclass(frozen=True)
class SearchOutcome:
    """What one Hypothesis search found.

    ``prop`` names the violated property (``None``: no counterexample);
    ``raw_path`` is the shortest failing run seen, ``path`` the minimised one
    and ``trace`` its replay; ``examples_to_first`` counts the examples run
    before the first counterexample.
    """

    prop: str | None
    raw_path: tuple[int, ...] = ()
    path: tuple[int, ...] = ()
    trace: Trace | None = None
    examples_to_first: int | None = None
    stopped: bool = False
    examples: int = 0


def search(model: Model, props: Sequence[Property], *, examples: int, seed: int, steps: int = ENGINE_STEPS,
           swarm: bool = True, stats: SearchStats | None = None, minimise: bool = True,
           steer: bool = True, novelty: bool = False, greedy_odds: int = GREEDY_ODDS,
           densities: Sequence[float] = SWARM_DENSITIES) -> SearchOutcome:
    """Run one Hypothesis search over ``model`` for ``props``; replay and verify what it finds.

    ``steer`` (one property with a ``bad`` expression): target the distance
    to its violation. ``novelty``, ``greedy_odds`` and ``densities``: see
    :func:`~qmpmodel.engines.hypothesis.machine.build_machine`.
    """
    stats = stats if stats is not None else SearchStats()
    stats.first_failure_example = stats.first_prop = stats.closest = None
    stats.best = {}
    start = stats.examples
    dist = None
    if steer and len(props) == 1 and props[0].bad is not None:
        dist = compile_distance(model, props[0].bad)
    machine = hypothesis_seed(seed)(build_machine(model, props, swarm=swarm, stats=stats, distance=dist,
                                                  novelty=novelty, greedy_odds=greedy_odds, densities=densities))
    raw: tuple[int, ...] | None = None
    name: str | None = None
    try:
        with with_reporter(_discard), _no_module_constants():
            run_state_machine_as_test(machine, settings=engine_settings(examples, steps))  # type: ignore[no-untyped-call]
    except PropertyViolation as e:
        name, raw = e.prop.name, e.path
    except Stopped:
        return SearchOutcome(None, stopped=True, examples=stats.examples - start)
    except Exception:
        # the observer's budget changed the machine's behaviour under Hypothesis' feet: it may
        # notice (a Flaky error)
        if stats.stopped:
            return SearchOutcome(None, stopped=True, examples=stats.examples - start)
        raise
    if stats.first_prop is None or name is None:
        return SearchOutcome(None, examples=stats.examples - start)
    best = stats.best.get(name, raw)
    if raw is None or (best is not None and len(best) < len(raw)):
        raw = best
    assert raw is not None
    prop = next(p for p in props if p.name == name)
    if replay_violation(model, prop, raw) is None:
        raise AssertionError(f"the shrunk run does not replay to a violation of {name!r}")
    path = minimise_path(model, prop, raw, compile_successors(model)) if minimise else list(raw)
    trace = replay_violation(model, prop, path)
    assert trace is not None
    first = None if stats.first_failure_example is None else stats.first_failure_example - start
    return SearchOutcome(name, raw, tuple(path), trace, first, examples=stats.examples - start)


@contextlib.contextmanager
def _no_module_constants() -> Iterator[None]:
    """Hypothesis (6.13x on) mixes integer constants found in the process's own modules into what
    it draws (``providers._get_local_constants``): a seed's run then depends on what the process
    imported (the CLI, pytest, a benchmark differ). The engine's draws are action indices; for
    deterministic results no such constants are used while it searches. A Hypothesis without the
    mechanism is left alone."""
    from hypothesis.internal.conjecture import providers

    get = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    make = getattr(providers, "Constants", None)
    if get is None or cache is None or make is None:
        yield
        return
    empty = make()
    cache.cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = get
        cache.cache.clear()


def _discard(_text: object) -> None:
    """Hypothesis' reporter while the engine runs: the engine never prints."""

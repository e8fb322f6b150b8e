"""Building traces from action paths, and the wait-for cycle at a state.

A path is a list of action indices into ``Model.actions`` (stateright's
``Path``); replaying it re-checks every guard, so a trace built here is a
behaviour of the model whatever engine proposed it.
"""

from __future__ import annotations

from collections.abc import Sequence

from qmpmodel.core.expr import evaluate
from qmpmodel.core.model import Model, State, WaitEdge
from qmpmodel.core.results import Trace, TraceStep

__all__ = ["cycle_at", "states_of", "trace_from_path"]


def trace_from_path(model: Model, init: State, actions: Sequence[int], loop: int | None = None,
                    cycle: tuple[tuple[str, str, str], ...] = ()) -> Trace:
    """Replay ``actions`` from ``init`` and package the states as a :class:`Trace`.

    Raises :class:`ValueError` naming the step when an action is not enabled.
    """
    s = init
    steps: list[TraceStep] = []
    for a in actions:
        act = model.actions[a]
        if not act.enabled(s):
            raise ValueError(f"action {act.label} is not enabled at step {len(steps)}")
        s = act.apply(s)
        steps.append(TraceStep(act.family, act.actor, act.label, a, dict(act.params), model.decode(s), act.step))
    return Trace(model.decode(init), tuple(steps), loop, cycle, model.legend())


def states_of(model: Model, actions: Sequence[int]) -> list[State]:
    """Every state along a path from the initial state, the initial one included."""
    s = model.init
    out = [s]
    for a in actions:
        s = model.actions[a].apply(s)
        out.append(s)
    return out


def cycle_at(cycles: Sequence[tuple[WaitEdge, ...]], s: State) -> tuple[tuple[str, str, str], ...]:
    """The first of ``cycles`` whose every edge is present in ``s``, as (waiter, holder, reason)."""
    for cyc in cycles:
        if all(evaluate(e.when, s) for e in cyc):
            return tuple((e.waiter, e.holder, e.reason) for e in cyc)
    return ()

"""The model as a Hypothesis test in your own pytest suite.

>>> from qmpmodel.testing import state_machine_for
>>> TestQemuCurrent = state_machine_for("specs/qemu-current.toml").TestCase  # doctest: +SKIP

``state_machine_for`` generates a ``RuleBasedStateMachine`` from a spec's model
(:func:`qmpmodel.engines.hypothesis.build_machine`: one rule per action family, the model's
guards as preconditions, swarm testing) whose Hypothesis invariants are the
properties the spec pins as ``holds``. Properties pinned ``violated`` (known
bugs of that design) or ``skip`` are left out, so the shipped specs pass; a
newly broken property fails the test with a readable program of steps::

    invariant 'no-cross-session-reply' violated after 8 steps (...):
    state.step("connect", client=0)  # client0
    ...

:func:`replay_program` runs such a program again on the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine

from qmpmodel.check import Prepared, prepare
from qmpmodel.engines.hypothesis import Replay, build_machine, compile_properties, parse_program
from qmpmodel.invariants import invariant
from qmpmodel.specs import Spec, load_spec

__all__ = ["DEFAULT_SETTINGS", "replay_program", "state_machine_for"]

#: Settings of the generated TestCase: deterministic (derandomised, no database), no deadline.
DEFAULT_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=60,
    deadline=None,
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
    # no "explain" phase: on a long stateful run it costs more than finding and shrinking
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def _prepared(spec: str | Path | Spec) -> Prepared:
    return prepare(spec if isinstance(spec, Spec) else load_spec(spec))


def state_machine_for(spec: str | Path | Spec, *, invariants: Iterable[str] | None = None, swarm: bool = True,
                      test_settings: settings | None = None) -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` subclass for ``spec`` (a path or a loaded :class:`Spec`).

    ``invariants`` names the properties to check (default: every state and
    deadlock property the spec pins as ``holds``; ``progress`` is liveness and
    is never checked by random runs). ``.TestCase`` is a ``unittest.TestCase``
    with :data:`DEFAULT_SETTINGS` (or ``test_settings``).
    """
    p = _prepared(spec)
    if invariants is None:
        chosen = [inv for inv, exp in p.task.obligations if exp == "holds"]
    else:
        chosen = [invariant(n, p.spec.path, "invariants", p.spec.properties).on(p.probes) for n in invariants]
    props = compile_properties(p.model, chosen)
    stem = "".join(c if c.isalnum() else "_" for c in Path(p.spec.path).stem.title())
    machine = build_machine(p.model, props, swarm=swarm, name=f"{stem}Model")
    machine.__module__ = __name__
    return (test_settings or DEFAULT_SETTINGS)(machine)


def replay_program(spec: str | Path | Spec, program: str) -> Replay:
    """Run a program printed by a failure (``state.step(...)`` lines) on ``spec``'s model.

    Every step's guard is checked (a disabled step raises :class:`ValueError`);
    the returned :class:`~qmpmodel.engines.hypothesis.Replay` tells which invariants hold on
    the final state (``replay.holds(prepared.prop(name))``) and its trace.
    """
    p = _prepared(spec)
    r = Replay(p.model)
    for i in parse_program(p.model, program):
        a = p.model.actions[i]
        r.step(a.family, **dict(a.params))
    return r

"""Run one spec with one engine and package a :class:`~qmpmodel.core.results.CheckResult`.

Engines are modules with a ``run(task, options, observer) -> EngineResult``
function, registered by name in :data:`ENGINES` and imported on first use.
Pure: no printing, no files, no clock (the CLI times the run and fills
``seconds``).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, replace
from typing import Protocol

from qmpmodel.core.explain import failing_clause
from qmpmodel.core.model import Model, RangeError
from qmpmodel.core.results import CheckResult, EngineOptions, EngineResult, InvariantResult
from qmpmodel.core.task import CheckTask, Observer, Property
from qmpmodel.errors import InputError
from qmpmodel.qemu.lemmas import ModelView, candidate_lemmas
from qmpmodel.qemu.probes import Probes
from qmpmodel.qemu.symmetry import qemu_symmetry
from qmpmodel.specs import Spec
from qmpmodel.statemachine import QemuModel, build

__all__ = ["ENGINES", "Prepared", "check_spec", "engine_runner", "prepare"]

#: Engine name -> module implementing ``run``.
ENGINES = {
    "explicit": "qmpmodel.engines.explicit",
    "hypothesis": "qmpmodel.engines.hypothesis",
    "smt": "qmpmodel.engines.smt",
    "native": "qmpmodel.engines.native",
    "spin": "qmpmodel.engines.spin",
}


@dataclass(frozen=True)
class Prepared:
    """A spec with its model built, and the task every engine receives."""

    spec: Spec
    qemu: QemuModel
    task: CheckTask

    @property
    def model(self) -> Model:
        return self.qemu.model

    @property
    def probes(self) -> Probes:
        """What the model publishes about a state (properties and renderers read these)."""
        return self.qemu.design

    def prop(self, name: str) -> Property:
        """The named property on this model (``KeyError`` if the spec does not pin it)."""
        return self.task.property(name)


class Runner(Protocol):
    def __call__(self, task: CheckTask, options: EngineOptions,
                 observer: Observer | None = None) -> EngineResult: ...


def prepare(spec: Spec) -> Prepared:
    """Build the spec's model and the task every engine receives."""
    qm = build(spec.design, spec.bounds, spec.path)
    view = ModelView(qm.model, qm.design, spec.bounds)
    obligations = tuple((inv.on(qm.design), exp) for inv, exp in spec.expectations)
    task = CheckTask(qm.model, obligations, lambda: candidate_lemmas(view),
                     functools.cache(lambda: qemu_symmetry(qm.model, spec.bounds,
                                                           [(p.name, p.expr) for p, _ in obligations])))
    return Prepared(spec, qm, task)


def engine_runner(engine: str) -> Runner:
    """The ``run`` function of an engine; an unknown name is bad input."""
    mod = ENGINES.get(engine)
    if mod is None:
        from qmpmodel.errors import close_matches

        raise InputError("<command line>", "--engine", "one of " + ", ".join(ENGINES), repr(engine),
                         close_matches(engine, ENGINES))
    try:
        return importlib.import_module(mod).run  # type: ignore[no-any-return]
    except ModuleNotFoundError as e:
        if e.name != mod:
            raise
        raise InputError("<command line>", "--engine", "an available engine", f"{engine!r} is not built yet") from None


def check_spec(spec: Spec, engine: str = "explicit", options: EngineOptions | None = None,
               observer: Observer | None = None) -> CheckResult:
    """Check every pinned expectation of ``spec``; ``seconds`` is left at 0."""
    run = engine_runner(engine)
    opts = options or EngineOptions()
    if spec.max_states and opts.max_states == EngineOptions().max_states:
        opts = EngineOptions(**{**opts.__dict__, "max_states": spec.max_states})
    if spec.depth and opts.depth == EngineOptions().depth:
        opts = EngineOptions(**{**opts.__dict__, "depth": spec.depth})
    p = prepare(spec)
    try:
        r = run(p.task, opts, observer)
    except RangeError as e:
        if not e.origin:
            raise  # the package's own model is wrong: a bug, with its traceback
        file, _, line = e.origin.rpartition(":")
        raise InputError(file, f"line {line}", f"{e.var.name} within its declared range {e.var.lo}..{e.var.hi}",
                         f"{e.value} after {e.action.label} in {spec.path}") from None
    return CheckResult(spec.path, engine, r.states, r.transitions, r.depth, 0.0, r.complete,
                       tuple(_with_clause(p, i) for i in r.invariants), spec.title)


def _with_clause(p: Prepared, r: InvariantResult) -> InvariantResult:
    """A violated state property names the clause that fails in the counterexample's last state."""
    if r.verdict != "violated" or r.trace is None or r.trace.loop is not None:
        return r
    try:
        prop = p.prop(r.name)
    except KeyError:
        return r
    last = p.model.encode(r.trace.states()[-1])
    clause = failing_clause(prop.expr, last, p.model.layout.vars)
    return replace(r, clause=clause) if clause else r

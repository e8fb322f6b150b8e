"""Run one spec with one engine and package a :class:`~qmpmodel.results.CheckResult`.

Pure: no printing, no files, no clock (the CLI times the run and fills ``seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass

from qmpmodel.errors import InputError
from qmpmodel.explicit import Observer, check_explicit
from qmpmodel.invariants import ModelView
from qmpmodel.model import Model
from qmpmodel.results import CheckResult
from qmpmodel.specs import Spec
from qmpmodel.statemachine import build_model

__all__ = ["ENGINES", "Prepared", "check_spec", "prepare"]

ENGINES = ("explicit",)


@dataclass(frozen=True)
class Prepared:
    spec: Spec
    model: Model
    view: ModelView


def prepare(spec: Spec) -> Prepared:
    model = build_model(spec.design, spec.bounds, spec.path)
    return Prepared(spec, model, ModelView(model, spec.design, spec.bounds))


def check_spec(spec: Spec, engine: str = "explicit", max_states: int | None = None,
               observer: Observer | None = None) -> CheckResult:
    """Check every pinned expectation of ``spec``; ``seconds`` is left at 0."""
    if engine not in ENGINES:
        raise InputError("<command line>", "--engine", "one of " + ", ".join(ENGINES), repr(engine))
    p = prepare(spec)
    limit = max_states or spec.max_states or 2_000_000
    r = check_explicit(p.model, p.view, spec.expectations, limit, observer)
    return CheckResult(spec.path, engine, r.states, r.transitions, r.depth, 0.0, r.complete,
                       tuple(r.invariants), spec.title)

"""Steps: the units of the QEMU model that a design may override.

A step is a method of a design class named after the QEMU function (and
branch) it models. It either yields guarded actions (``Action`` steps: the
dispatcher popping a request) or contributes guards and updates to an action
being built (``Update`` steps: the early-resume decision inside that pop).
Every step carries :class:`StepInfo`: the QEMU function, the branch, the
section of the domain reference (``§``, ``../shared/qemu-dispatch-semantics.md``)
and the commit that introduced the behaviour, so a reviewer can check the
model against QEMU's source, and ``docs/proposals.md`` lists them all.

A design (current QEMU, a historical design, a user's proposal) is a class
that overrides the steps its patch changes; :func:`steps_of` lists the steps
of a class, and :func:`overridden_steps` what a design changes relative to
another.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from qmpmodel.core.expr import Expr, Var, as_expr
from qmpmodel.core.model import Emit

__all__ = ["StepInfo", "Update", "Value", "overridden_steps", "step", "step_info", "steps_of"]

F = TypeVar("F", bound=Callable[..., Any])

#: What a state variable may be assigned: an expression or a constant.
Value = Expr | int | bool


@dataclass(frozen=True)
class StepInfo:
    """Where a step comes from in QEMU."""

    qemu: str
    branch: str = ""
    ref: str = ""
    commit: str = ""

    @property
    def title(self) -> str:
        return f"{self.qemu} ({self.branch})" if self.branch else self.qemu


def step(qemu: str, branch: str = "", *, ref: str = "", commit: str = "") -> Callable[[F], F]:
    """Mark a method as a step modelling QEMU function ``qemu`` (and ``branch``).

    An override in a subclass inherits the mark; it need not repeat it.
    """

    def mark(fn: F) -> F:
        fn.__qmp_step__ = StepInfo(qemu, branch, ref, commit)  # type: ignore[attr-defined]
        return fn

    return mark


def step_info(cls: type, name: str) -> StepInfo | None:
    """The :class:`StepInfo` of step ``name`` on ``cls`` (looked up through its bases)."""
    for klass in cls.__mro__:
        fn = klass.__dict__.get(name)
        info = getattr(fn, "__qmp_step__", None)
        if isinstance(info, StepInfo):
            return info
    return None


def steps_of(cls: type) -> dict[str, StepInfo]:
    """Every step of a design class, by method name, in definition order of the bases."""
    out: dict[str, StepInfo] = {}
    for klass in reversed(cls.__mro__):
        for name, fn in klass.__dict__.items():
            info = getattr(fn, "__qmp_step__", None)
            if isinstance(info, StepInfo):
                out.setdefault(name, info)
    return out


def overridden_steps(cls: type, base: type) -> Iterator[tuple[str, StepInfo, str]]:
    """The steps ``cls`` defines differently from ``base``: (name, info, defining class name)."""
    for name, info in steps_of(base).items():
        mine = inspect.getattr_static(cls, name, None)
        theirs = inspect.getattr_static(base, name, None)
        if mine is not theirs:
            owner = next(k.__name__ for k in cls.__mro__ if name in k.__dict__)
            yield name, info, owner


class Update:
    """The simultaneous assignment and the messages of one action being built.

    ``u[var] = value`` assigns (every right-hand side reads the state *before*
    the step); ``u[var]`` reads back what this update assigns to ``var`` (or
    ``var`` itself). :meth:`emit` attaches an observable output
    (:class:`~qmpmodel.core.model.Emit`) to this very update, so messages can
    never leak into another action.
    """

    __slots__ = ("assign", "emits")

    def __init__(self, assign: dict[Var, Value] | None = None) -> None:
        self.assign: dict[Var, Expr] = {}
        self.emits: list[Emit] = []
        for v, e in (assign or {}).items():
            self[v] = e

    def __setitem__(self, var: Var, value: Value) -> None:
        self.assign[var] = as_expr(value)

    def __getitem__(self, var: Var) -> Expr:
        return self.assign.get(var, var)

    def __contains__(self, var: Var) -> bool:
        return var in self.assign

    def set(self, **_: Any) -> None:  # pragma: no cover - guard against a common slip
        raise TypeError("use u[var] = value")

    def update(self, other: dict[Var, Value]) -> None:
        for v, e in other.items():
            self[v] = e

    def emit(self, e: Emit) -> None:
        self.emits.append(e)

    def copy(self) -> Update:
        out = Update()
        out.assign = dict(self.assign)
        out.emits = list(self.emits)
        return out

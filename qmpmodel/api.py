"""The public API for proposals: everything a design file next to a spec may use.

A proposal is a Python file that defines one design class, a subclass of
:class:`QemuCurrent` (or of a historical design), overriding the steps its
patch changes::

    from qmpmodel.api import Expr, Monitor, QemuCurrent, Update

    class LateResume(QemuCurrent):
        \"\"\"Resume a queue-suspended monitor only after the popped request completed.\"\"\"

        def early_resume(self, m: Monitor, u: Update) -> None:
            pass  # no resume at the pop ...

        def late_resume(self, m: Monitor, u: Update) -> None:
            ...   # ... but when the request completed

A spec names it with ``[design] proposal = "late-resume.py"``. Steps are
listed, with the QEMU function each models, in ``docs/proposals.md``
(``qmpmodel steps`` prints them). A proposal may declare state variables
(override ``declare_extra``), add actions (``extra_actions``, or a method
marked :func:`new_step`), publish probes (override a probe, or extend
``named_probes``) and add properties (:func:`prop`), all without touching
the package.

Properties read probes (:class:`Probes`), never state variables, so they
judge any design.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from qmpmodel.core.expr import FALSE, TRUE, Expr, StateLayout, Var, all_of, any_of, ite, lit
from qmpmodel.core.model import Action
from qmpmodel.core.task import PropertyKind
from qmpmodel.qemu.codes import (
    ClientSt,
    Ctx,
    Dsp,
    HmpCo,
    Nest,
    Rcu,
    Run,
    Sd,
    Tid,
    Waiter,
    XShutdown,
)
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.designs.direct2010 import AsyncApi2010
from qmpmodel.qemu.designs.registry import CoroutineDispatcher2020, QemuCurrentFixed
from qmpmodel.qemu.probes import HISTORY, AioContext, Probes
from qmpmodel.qemu.properties import Invariant, history_clean
from qmpmodel.qemu.state import Client, DispatcherState, Monitor, Thread
from qmpmodel.qemu.steps import Update, step

__all__ = [
    "FALSE",
    "HISTORY",
    "TRUE",
    "Action",
    "AioContext",
    "AsyncApi2010",
    "Client",
    "ClientSt",
    "CoroutineDispatcher2020",
    "Ctx",
    "DispatcherState",
    "Dsp",
    "Expr",
    "HmpCo",
    "Invariant",
    "Monitor",
    "Nest",
    "Probes",
    "QemuCurrent",
    "QemuCurrentFixed",
    "Rcu",
    "Run",
    "Sd",
    "StateLayout",
    "Thread",
    "Tid",
    "Update",
    "Var",
    "Waiter",
    "XShutdown",
    "all_of",
    "any_of",
    "history_clean",
    "ite",
    "lit",
    "new_step",
    "prop",
    "step",
]

F = TypeVar("F", bound=Callable[..., Any])


def new_step(qemu: str, branch: str = "", *, ref: str = "", commit: str = "") -> Callable[[F], F]:
    """Mark a method of a proposal as a new step (not an override of the base design's).

    Without the mark, a method whose name is not a step of the base is a
    loading error with a close match (a misspelt override would otherwise be
    silently ignored).
    """
    def mark(fn: F) -> F:
        fn = step(qemu, branch, ref=ref, commit=commit)(fn)
        fn.__qmp_new_step__ = True  # type: ignore[attr-defined]
        return fn

    return mark


def prop(name: str, statement: str, source: str, kind: PropertyKind = "state"
         ) -> Callable[[Callable[[Probes], Expr]], Invariant]:
    """Declare a property over probes in a proposal file (or any module)::

        @prop("resume-after-completion", "A monitor is never suspended while idle.", "my patch")
        def resumed(p: Probes) -> Expr:
            return all_of(~(p.suspended(m) & ~p.executing(m)) for m in p.monitor_ids)

    ``kind`` is ``state`` (holds in every reachable state) or ``liveness`` (the
    predicate is a goal that must not hold forever on a fair path).
    """
    def make(fn: Callable[[Probes], Expr]) -> Invariant:
        return Invariant(name, statement, source, kind, fn)

    return make

"""What an engine is asked to check: a model and properties, as expressions.

This is the seam between the QEMU model and the engines (LTSmin's PINS idea):
an engine receives a :class:`CheckTask` (the :class:`~qmpmodel.core.model.Model`,
the :class:`Property` obligations with their pinned expectations, and
optional candidate lemmas for provers) and never imports the QEMU model. A
property is an :class:`~qmpmodel.core.expr.Expr` built once from the model's
probes, so every engine evaluates the same predicate.

Property kinds:

``state``
    ``expr`` holds in every reachable state.
``deadlock``
    ``expr`` (no wait-for cycle) holds in every reachable state, and no
    reachable state has pending work (``Model.pending``) while QEMU itself is
    stuck (:func:`~qmpmodel.core.model.is_stuck`).
``liveness``
    ``expr`` is a *goal that must not persist*: no fair lasso (under weak
    fairness of the actions' ``fair`` groups) on which it holds throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from qmpmodel.core.expr import Expr
from qmpmodel.core.model import Model
from qmpmodel.core.results import Expected
from qmpmodel.core.symmetry import SymmetryGroup, SymmetrySource, no_symmetry

__all__ = ["CheckTask", "Obligation", "Observer", "Property", "PropertyKind"]

PropertyKind = Literal["state", "deadlock", "liveness"]


@dataclass(frozen=True)
class Property:
    """A named property of one model, ready for every engine."""

    name: str
    kind: PropertyKind
    expr: Expr
    statement: str = ""
    #: liveness: the action fairness groups (``Action.fair``) assumed weakly fair;
    #: ``None``: all of them. ``oob-progress`` drops external completions, so it must
    #: hold even if no in-band command ever completes.
    fairness: tuple[str, ...] | None = None


#: A property with the verdict the spec pins for it.
Obligation = tuple[Property, Expected]


def _no_lemmas() -> Sequence[tuple[str, Expr]]:
    return ()


@dataclass(frozen=True)
class CheckTask:
    """A model, the properties to judge on it, and (lazily) candidate lemmas for provers."""

    model: Model
    obligations: tuple[Obligation, ...]
    #: Candidate strengthening invariants (name, expr) for k-induction and PDR;
    #: computed on demand, only provers call it. Candidates are never assumed.
    lemmas: Callable[[], Sequence[tuple[str, Expr]]] = field(default=_no_lemmas)
    #: The model's symmetry group for these properties, proved sound, or why there is none;
    #: computed on demand (a proof costs seconds), only engines asked for symmetry call it.
    symmetry: SymmetrySource = field(default=no_symmetry)

    def symmetry_group(self, wanted: bool) -> tuple[SymmetryGroup | None, str | None]:
        """The group to search with when ``wanted`` (``--symmetry``), and the note that says so."""
        if not wanted:
            return None, None
        sym = self.symmetry()
        if sym.group is None:
            return None, f"symmetry off: {sym.note}"
        return sym.group, f"symmetry: {sym.note}; states are orbits"

    def property(self, name: str) -> Property:
        for p, _e in self.obligations:
            if p.name == name:
                return p
        raise KeyError(name)

    def only(self, names: Sequence[str]) -> CheckTask:
        """The same task restricted to the named properties (in task order)."""
        keep = set(names)
        # a group sound for every property is sound for a subset of them
        return CheckTask(self.model, tuple(o for o in self.obligations if o[0].name in keep), self.lemmas,
                         self.symmetry)


class Observer:
    """Receives progress from an engine; return ``False`` from :meth:`progress` to stop it.

    Engines are pure: they never read the clock or print. The CLI passes an
    observer that implements ``--timeout`` and draws progress.
    """

    def progress(self, states: int, depth: int) -> bool:  # pragma: no cover - trivial default
        return True

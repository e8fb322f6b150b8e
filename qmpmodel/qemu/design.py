"""A spec's design: a named base, axis shorthands and an optional proposal file.

``Design(values={"closed_resume": False})`` is current QEMU with bug E's
variant; ``Design(base="2020-coroutine-dispatcher")`` a historical design;
``Design(proposal="late-resume.py")`` a user's proposal. :meth:`Design.resolve`
turns the selection into the design class the model is built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qmpmodel.errors import InputError, close_matches
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.designs.registry import AXES, BASES, Axis, axis, compose
from qmpmodel.qemu.properties import Invariant
from qmpmodel.qemu.proposal import load_proposal

__all__ = ["AXES", "BASES", "Axis", "Design"]


@dataclass(frozen=True)
class Design:
    """What a spec's ``[design]`` table selects."""

    values: Mapping[str, object] = field(default_factory=dict)
    base: str = "qemu-current"
    #: A proposal file (absolute, or relative to the working directory).
    proposal: str | None = None

    def value(self, name: str) -> object:
        """The value of axis ``name`` (current QEMU's when the spec leaves it out)."""
        ax = axis(name)
        if ax is None:
            raise KeyError(name)
        return self.values.get(name, ax.default)

    def resolve(self, source: str = "<spec>") -> tuple[type[QemuCurrent], tuple[Invariant, ...]]:
        """The design class (and a proposal's extra properties)."""
        base = BASES.get(self.base)
        if base is None:
            raise InputError(source, "design.base", "one of " + ", ".join(BASES), repr(self.base),
                             close_matches(self.base, BASES))
        classes: list[type[QemuCurrent]] = []
        props: tuple[Invariant, ...] = ()
        if self.proposal is not None:
            prop = load_proposal(Path(self.proposal), self.proposal)
            classes.append(prop.design)
            props = prop.properties
        for ax in AXES:
            v = self.values.get(ax.name, ax.default)
            if v != ax.default:
                classes.append(ax.classes[v])
        return compose(base, classes, source), props

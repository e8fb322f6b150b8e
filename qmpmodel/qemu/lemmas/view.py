"""What lemmas are written over: the model's encoding (:class:`ModelView`) and :class:`Lemma`.

Lemmas are facts about the encoding itself, so unlike properties they may
name state variables; the helpers here name a configuration's monitors and
sessions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from qmpmodel.core.expr import Expr, Var
from qmpmodel.core.model import Model
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.codes import ClientSt, Dsp
from qmpmodel.qemu.designs.current import QemuCurrent

__all__ = ["Lemma", "ModelView", "active", "clients_of", "monitor_ids", "session_live"]


@dataclass(frozen=True)
class ModelView:
    """The model's encoding, for lemmas: lemmas are facts about the encoding itself
    (queue slots below qlen are filled, ...), so unlike properties they may name
    state variables. A lemma that names a variable a design does not have is
    skipped (:func:`named_lemmas`); a false one is pruned by the prover."""

    model: Model
    design: QemuCurrent
    bounds: Bounds

    def v(self, name: str) -> Var:
        for var in self.model.layout.vars:
            if var.name == name:
                return var
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return name in self.model.layout.names

    def matching(self, pattern: str) -> Iterator[Var]:
        rx = re.compile(pattern)
        return (v for v in self.model.layout.vars if rx.fullmatch(v.name))


@dataclass(frozen=True)
class Lemma:
    name: str
    statement: str
    build: Callable[[ModelView], Expr]


def monitor_ids(mv: ModelView) -> range:
    return range(mv.bounds.monitors)


def clients_of(mv: ModelView, m: int) -> list[int]:
    return [c for c in range(mv.bounds.clients) if mv.bounds.monitor_of(c) == m]


def session_live(mv: ModelView, c: int) -> Expr:
    st = mv.v(f"client{c}.st")
    return (st == ClientSt.NEG) | (st == ClientSt.READY)


def active(mv: ModelView) -> Expr:
    """The dispatcher holds a dequeued request (between pop and reply)."""
    dpc = mv.v("dsp.pc")
    return (dpc != Dsp.WAIT) & (dpc != Dsp.POP) & (dpc != Dsp.EXIT)

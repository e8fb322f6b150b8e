"""The named properties of QEMU's monitor dispatch: the entry point.

The library itself lives in :mod:`qmpmodel.qemu.properties` (each property is
data: a name, a one-sentence statement, its source in the domain reference or
the QMP spec, and a predicate over the model's probes). A proposal file may add
properties of its own (:func:`qmpmodel.api.prop`); :func:`invariant` looks one
up by name, with a close match for a misspelt one.
"""

from __future__ import annotations

from collections.abc import Iterable

from qmpmodel.errors import InputError, close_matches
from qmpmodel.qemu.properties import INVARIANTS, Invariant, history_clean

__all__ = ["INVARIANTS", "Invariant", "history_clean", "invariant"]

_BY_NAME = {i.name: i for i in INVARIANTS}


def invariant(name: str, source: str = "<command line>", where: str | None = None,
              extra: Iterable[Invariant] = ()) -> Invariant:
    """Look a property up by name (``extra``: a proposal's own); unknown names are bad input."""
    table = {**_BY_NAME, **{i.name: i for i in extra}}
    inv = table.get(name)
    if inv is None:
        raise InputError(source, where, "an invariant name (see 'qmpmodel invariants')", repr(name),
                         close_matches(name, table))
    return inv

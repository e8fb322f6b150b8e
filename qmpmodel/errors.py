"""The one exception root of qmpmodel.

::

    QmpModelError
     ├── InputError          bad input: spec, schema, transcript, trace, query (CLI exit 2)
     │    └── InputErrors    several of them, found at once (a spec with more than one mistake)
     └── ModelDefinitionError  the model itself is inconsistent (a bug in qmpmodel)

Every :class:`InputError` renders as one line naming the file and the position
(key, line or column), what was expected, what was found, and, for a misspelt
name, the closest valid names; :class:`InputErrors` renders as one such line per
mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["InputError", "InputErrors", "ModelDefinitionError", "QmpModelError", "close_matches", "flatten", "raise_all"]


class QmpModelError(Exception):
    """Root of every error qmpmodel raises on purpose."""


class InputError(QmpModelError):
    """Bad user input; the CLI prints :meth:`__str__` and exits with status 2.

    Parameters
    ----------
    source:
        The file (or ``"<query>"`` / ``"<command line>"``) the input came from.
    where:
        Position inside it: a dotted TOML key, ``"line 3"``, ``"line 3, column 7"``.
    expected:
        What would have been accepted.
    found:
        What was there instead (``None`` to omit).
    hint:
        What to do, e.g. a close match for a misspelt name.
    """

    def __init__(
        self,
        source: str,
        where: str | None,
        expected: str,
        found: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.where = where
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        loc = self.source if not self.where else f"{self.source}: {self.where}"
        msg = f"{loc}: expected {self.expected}"
        if self.found is not None:
            msg += f" (got {self.found})"
        if self.hint:
            msg += f"; {self.hint}"
        return msg.replace("\n", " ")

    def __reduce__(self) -> tuple[Any, ...]:
        # a spec checked in another process (check --jobs) raises it there
        return (type(self), (self.source, self.where, self.expected, self.found, self.hint))


class InputErrors(InputError):
    """Several mistakes reported at once; ``errors`` holds one :class:`InputError` each.

    ``str()`` is one line per mistake. The attributes of the first mistake are
    also this exception's (``source``, ``where``, ...), so a caller that only
    knows :class:`InputError` still names the file.
    """

    def __init__(self, errors: Sequence[InputError]) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        self.errors: tuple[InputError, ...] = tuple(flatten(errors))
        first = self.errors[0]
        super().__init__(first.source, first.where, first.expected, first.found, first.hint)

    def __str__(self) -> str:
        return "\n".join(InputError.__str__(e) for e in self.errors)

    def __reduce__(self) -> tuple[Any, ...]:
        return (InputErrors, (self.errors,))


def flatten(errors: Iterable[InputError]) -> list[InputError]:
    """The single mistakes in ``errors`` (an :class:`InputErrors` contributes each of its own)."""
    out: list[InputError] = []
    for e in errors:
        out.extend(e.errors if isinstance(e, InputErrors) else (e,))
    return out


def raise_all(errors: Sequence[InputError]) -> None:
    """Raise nothing, the one error, or an :class:`InputErrors` holding all of them."""
    flat = flatten(errors)
    if len(flat) == 1:
        raise flat[0]
    if flat:
        raise InputErrors(flat)


class ModelDefinitionError(QmpModelError):
    """The model definition is inconsistent (raised while building it, never at run time)."""


def close_matches(word: str, choices: Iterable[str]) -> str | None:
    """Return a ``did you mean …?`` hint for a misspelt name, or ``None``.

    >>> close_matches("reply-ordr", ["reply-order", "queue-bound"])
    "did you mean 'reply-order'?"
    >>> close_matches("zzz", ["reply-order"]) is None
    True
    """
    found = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.6)
    if not found:
        return None
    return "did you mean " + " or ".join(repr(f) for f in found) + "?"

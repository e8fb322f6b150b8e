"""The schema's definitions as values: commands, events, enums, lints, and what the model makes of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qmpmodel.errors import InputError, close_matches

__all__ = [
    "Lint",
    "QapiCommand",
    "QapiEnum",
    "QapiEvent",
    "Schema",
    "condition_text",
    "model_kind",
    "schema_to_json",
    "select_commands",
]


@dataclass(frozen=True)
class Lint:
    """A policy violation at ``file:line``; rendered as QEMU's generator words it."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class QapiCommand:
    """One ``{ 'command': … }`` definition with its flags at QEMU's defaults.

    ``condition`` is the raw ``if`` value (a string or an ``all``/``any``/``not``
    object), ``None`` when unconditional; it is left out of the hash because it
    may be a dict. ``line`` is 0 when the source (a ``query-qmp-schema`` reply)
    has no lines.
    """

    name: str
    allow_oob: bool = False
    coroutine: bool = False
    allow_preconfig: bool = False
    success_response: bool = True
    boxed: bool = False
    gen: bool = True
    features: tuple[str, ...] = ()
    condition: object | None = field(default=None, hash=False)
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class QapiEvent:
    """One ``{ 'event': … }`` definition."""

    name: str
    condition: object | None = field(default=None, hash=False)
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class QapiEnum:
    """One ``{ 'enum': … }`` definition: its member names (their own ``if`` is not kept)."""

    name: str
    values: tuple[str, ...]
    condition: object | None = field(default=None, hash=False)
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Schema:
    """Commands, events and enums in definition order (includes expanded in place), and the lints."""

    commands: tuple[QapiCommand, ...]
    events: tuple[QapiEvent, ...]
    lints: tuple[Lint, ...] = ()
    source: str = "<schema>"
    #: True when read from a ``query-qmp-schema`` reply (only ``allow-oob`` and
    #: features are known; the other flags are QEMU's defaults, not facts).
    from_reply: bool = False
    #: Enums; a ``query-qmp-schema`` reply shows only those that commands or
    #: events use (``QapiErrorClass`` is not among them in QEMU 7.2).
    enums: tuple[QapiEnum, ...] = ()

    def enum(self, name: str) -> QapiEnum | None:
        """The enum called *name*, if the schema defines it."""
        return next((e for e in self.enums if e.name == name), None)


def schema_to_json(schema: Schema) -> dict[str, Any]:
    """The ``--json`` form: flags as booleans at QEMU's defaults, ``if`` as written."""
    return {
        "commands": [
            {
                "name": c.name,
                "allow-oob": c.allow_oob,
                "coroutine": c.coroutine,
                "allow-preconfig": c.allow_preconfig,
                "success-response": c.success_response,
                "if": c.condition,
                "features": list(c.features),
                "file": c.file,
                "line": c.line,
            }
            for c in schema.commands
        ],
        "events": [
            {"name": e.name, "if": e.condition, "file": e.file, "line": e.line}
            for e in schema.events
        ],
    }


def select_commands(
    schema: Schema, names: list[str] | None, *, source: str | None = None, where: str | None = None
) -> list[QapiCommand]:
    """The commands named (in that order, once each), or all of them for ``None``.

    ``source``/``where`` locate the selection in the caller's file for the error.

    >>> s = Schema((QapiCommand("migrate-pause", allow_oob=True),), ())
    >>> [c.name for c in select_commands(s, ["migrate-pause"])]
    ['migrate-pause']
    >>> select_commands(s, ["migrate-paus"])
    Traceback (most recent call last):
    qmpmodel.errors.InputError: <schema>: expected a command of the schema (got 'migrate-paus'); did you mean 'migrate-pause'?
    """
    if names is None:
        return list(schema.commands)
    by_name = {c.name: c for c in schema.commands}
    chosen: dict[str, QapiCommand] = {}
    for name in names:
        if name not in by_name:
            raise InputError(
                source or schema.source,
                where,
                "a command of the schema",
                repr(name),
                close_matches(name, by_name),
            )
        chosen.setdefault(name, by_name[name])
    return list(chosen.values())


def model_kind(cmd: QapiCommand) -> str:
    """Map flags onto the model's command kinds: ``oob``, ``coroutine``, ``noreply`` or ``quick``.

    >>> model_kind(QapiCommand("guest-shutdown", success_response=False))
    'noreply'
    """
    if cmd.allow_oob:
        return "oob"
    if cmd.coroutine:
        return "coroutine"
    if not cmd.success_response:
        return "noreply"
    return "quick"


def condition_text(condition: object) -> str:
    """Render an ``if`` condition for people; ``None`` is unconditional.

    >>> condition_text({"any": ["TARGET_I386", {"not": "CONFIG_FOO"}]})
    '(TARGET_I386 or not CONFIG_FOO)'
    """
    if condition is None:
        return "always"
    if isinstance(condition, dict) and len(condition) == 1:
        ((op, arg),) = condition.items()
        if op == "not":
            return f"not {condition_text(arg)}"
        if op in ("all", "any") and isinstance(arg, list):
            return "(" + f" {'and' if op == 'all' else 'or'} ".join(map(condition_text, arg)) + ")"
    return str(condition)

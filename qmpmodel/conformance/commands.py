"""Which model kinds each transcript request may be: the schema, the mapping table, the spec.

The commands that exist, and their flags, come from the QAPI schema of the
QEMU that produced the transcript (``docs/conformance.md``, "Which commands
exist"): ``conform --schema FILE``, else the spec's ``[conform] qapi``, else its
``[commands] qapi``, else QEMU 7.2's tree in ``../shared/qemu-qapi`` (next to
the repository).  The schema is a file in QEMU's schema language or a saved
``query-qmp-schema`` reply:

* a reply is exact about existence and ``allow-oob`` but does not show
  ``coroutine`` or ``success-response``: those are taken from the default tree
  when it defines the command, else a command may be ``quick`` or ``coroutine``;
* a schema file is exact for unconditional commands; a command with an ``if``
  condition (not evaluated: it depends on the build) may also be missing.

The built-in table (:data:`BUILTIN_COMMANDS`) keeps only behaviour a schema
cannot show: commands that raise exactly one event before replying, ``quit``,
and commands whose event the main loop raises.  ``[conform.commands]`` in the
spec overrides both.  ``[conform] events_per_command`` and
``environment_events`` bound the events a handler may raise before its reply
and the events with no command in flight (default ``"auto"``: from the
transcript, :func:`qmpmodel.conformance.analysis.event_bounds`).  The error
classes a failing handler may reply with
are the members of the schema's ``QapiErrorClass`` except CommandNotFound
(:attr:`ConformSpec.handler_error_classes`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qmpmodel.errors import InputError, close_matches
from qmpmodel.schema.qapi import Schema, load_schema, model_kind
from qmpmodel.specs import Spec, parse_spec, read_toml

if TYPE_CHECKING:
    from qmpmodel.conformance.observations import Observation

__all__ = [
    "BUILTIN_COMMANDS",
    "CONFORM_KEYS",
    "CONFORM_KINDS",
    "DEFAULT_SCHEMA",
    "QAPI_ERROR_CLASSES",
    "CommandTable",
    "ConformSpec",
    "candidate_kinds",
    "command_table",
    "load_conform_spec",
]

#: Command name -> model kind, for what a schema cannot say.  ``event``
#: commands may also be matched as ``quick`` per request (a second ``stop``
#: raises no STOP; with events per command, quick's 0..E events cover it too).
#: ``quit`` requests the shutdown whose SHUTDOWN precedes its reply and EOF;
#: ``system_powerdown``/``system_reset`` request the event main_loop_should_exit
#: raises (docs/fidelity-ii.md 1a, 1b).  A request named by a ``release``
#: comment is ``blocking`` whatever its name.
BUILTIN_COMMANDS: Mapping[str, str] = {"stop": "event", "cont": "event", "quit": "quit",
                                       "system_powerdown": "main-loop-event", "system_reset": "main-loop-event"}

#: Values allowed in a spec's ``[conform.commands]`` table.
CONFORM_KINDS: tuple[str, ...] = ("quick", "blocking", "coroutine", "oob", "event", "noreply", "hang", "device-add",
                                  "quit", "main-loop-event")

#: Keys of a spec's ``[conform]`` table.
CONFORM_KEYS: tuple[str, ...] = ("commands", "qapi", "events_per_command", "environment_events")

#: QEMU 7.2's tree, next to the repository (``/work/shared/qemu-qapi`` for ``/work/main``).
DEFAULT_SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "qemu-qapi" / "qapi" / "qapi-schema.json"

#: ``QapiErrorClass`` of qapi/error.json (unchanged from QEMU 2.x to 7.2), used
#: when neither the schema nor the default tree defines it.
QAPI_ERROR_CLASSES: tuple[str, ...] = ("GenericError", "CommandNotFound", "DeviceNotActive", "DeviceNotFound",
                                       "KVMMissingCap")


@dataclass(frozen=True)
class CommandTable:
    """The commands of one QEMU: candidate kinds of each, which may be missing, the error classes."""

    source: str
    kinds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    maybe_missing: frozenset[str] = frozenset()
    error_classes: frozenset[str] = frozenset(QAPI_ERROR_CLASSES)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConformSpec:
    spec: Spec
    commands: Mapping[str, str] = field(default_factory=dict)  # [conform.commands]
    table: CommandTable | None = None  # None: no schema, every unmapped name may or may not exist
    #: [conform] events_per_command / environment_events: a number, or None for "auto"
    events_per_command: int | None = None
    environment_events: int | None = None

    @property
    def error_classes(self) -> frozenset[str]:
        """The schema's ``QapiErrorClass``."""
        return self.table.error_classes if self.table else frozenset(QAPI_ERROR_CLASSES)

    @property
    def handler_error_classes(self) -> frozenset[str]:
        """Classes that explain a failure after the command was found: all but CommandNotFound.

        In QEMU 7.2 (x86_64, TCG) CommandNotFound comes only from qmp_dispatch
        before any handler runs: the lookup (check 6), a disabled command, the
        compat policy ``deprecated-input=reject``; and from qmp_capabilities in
        command mode, which the model's ``caps*`` kinds cover.  (The replay stubs
        that raise it are built only without TCG.)  Accepting it from a handler
        would let an existing command explain "this command does not exist".
        """
        return self.error_classes - {"CommandNotFound"}


def command_table(path: str | Path) -> CommandTable:
    """Read a schema file or ``query-qmp-schema`` reply into a :class:`CommandTable`."""
    schema = load_schema(path)
    default: Schema | None = None
    notes: list[str] = []
    if (schema.from_reply or schema.enum("QapiErrorClass") is None) and DEFAULT_SCHEMA.is_file() \
            and Path(path).resolve() != DEFAULT_SCHEMA:
        default = load_schema(DEFAULT_SCHEMA)
    tree = {c.name: c for c in default.commands} if default else {}
    kinds: dict[str, tuple[str, ...]] = {}
    for c in schema.commands:
        if schema.from_reply and not c.allow_oob:
            # a reply shows allow-oob, not coroutine / success-response
            kinds[c.name] = (model_kind(tree[c.name]),) if c.name in tree else ("quick", "coroutine")
        else:
            kinds[c.name] = (model_kind(c),)
    maybe = frozenset(c.name for c in schema.commands if c.condition is not None)
    enum = schema.enum("QapiErrorClass") or (default.enum("QapiErrorClass") if default else None)
    if enum is None:
        notes.append(f"{path} does not define QapiErrorClass: using QEMU 7.2's classes")
    classes = frozenset(enum.values) if enum else frozenset(QAPI_ERROR_CLASSES)
    return CommandTable(str(path), kinds, maybe, classes, tuple(notes))


def load_conform_spec(path: str | Path, schema: str | Path | None = None) -> ConformSpec:
    """Read a spec (with an optional ``[conform]`` table) and the schema of the transcripts' QEMU.

    ``[conform.commands]`` maps command names to kinds and is removed before the
    ordinary spec parser sees the file; ``[conform] qapi`` names a schema.
    *schema* (``conform --schema``) takes precedence over both schema keys.
    """
    src = str(path)
    data = read_toml(path)
    conf = data.pop("conform", {})
    if not isinstance(conf, dict):
        raise InputError(src, "conform", "a table", type(conf).__name__)
    for k in conf:
        if k not in CONFORM_KEYS:
            raise InputError(src, f"conform.{k}", "one of " + ", ".join(CONFORM_KEYS), repr(k),
                             close_matches(k, CONFORM_KEYS))
    limits: dict[str, int | None] = {}
    for key, hi in (("events_per_command", 4), ("environment_events", 16)):
        val = conf.get(key, "auto")
        if val != "auto" and (type(val) is not int or not 0 <= val <= hi):
            raise InputError(src, f"conform.{key}", f'"auto" or an integer from 0 to {hi}', repr(val))
        limits[key] = None if val == "auto" else val
    cmds = conf.get("commands", {})
    if not isinstance(cmds, dict):
        raise InputError(src, "conform.commands", "a table of command name = kind", type(cmds).__name__)
    for name, kind in cmds.items():
        if kind not in CONFORM_KINDS:
            raise InputError(src, f"conform.commands.{name}", "one of " + ", ".join(CONFORM_KINDS), repr(kind),
                             close_matches(str(kind), CONFORM_KINDS))
    spec = parse_spec(data, src)
    ev, env = limits["events_per_command"], limits["environment_events"]
    if schema is not None:
        return ConformSpec(spec, dict(cmds), command_table(schema), ev, env)
    tbl = data.get("commands")
    for where, rel in (("conform.qapi", conf.get("qapi")),
                       ("commands.qapi", tbl.get("qapi") if isinstance(tbl, dict) else None)):
        if rel is None:
            continue
        if not isinstance(rel, str):
            raise InputError(src, where, "a path to a QAPI schema (a string)", type(rel).__name__)
        p = Path(rel)
        return ConformSpec(spec, dict(cmds), command_table(p if p.is_absolute() else Path(src).parent / p), ev, env)
    return ConformSpec(spec, dict(cmds), command_table(DEFAULT_SCHEMA) if DEFAULT_SCHEMA.is_file() else None, ev, env)


def _caps_kind(o: Observation) -> str:
    """qmp_capabilities by its ``enable`` argument: the model's ``caps*`` kinds (§3.1)."""
    try:
        args: Any = json.loads(o.arguments) if o.arguments else {}
    except ValueError:  # pragma: no cover - canonical JSON always parses
        return "caps-bad"
    enable = args.get("enable", []) if isinstance(args, dict) else None
    if not isinstance(enable, list) or any(x != "oob" for x in enable):
        return "caps-bad"
    return "caps" if "oob" in enable else "caps-nooob"


def _existence(name: str | None, cspec: ConformSpec) -> tuple[tuple[str, ...], bool, bool]:
    """(kinds if the command exists, may exist, may be missing) for command *name*."""
    if name is None:
        return ("quick",), True, False
    if name in cspec.commands:
        return (cspec.commands[name],), True, False
    if name in BUILTIN_COMMANDS:
        return (BUILTIN_COMMANDS[name],), True, False
    table = cspec.table
    if table is None:  # no schema: any unmapped name may or may not exist
        return ("quick",), True, True
    if name in table.kinds:
        return table.kinds[name], True, name in table.maybe_missing
    return (), False, True


def candidate_kinds(o: Observation, cspec: ConformSpec, released: bool) -> tuple[str, ...]:
    """The model kinds that may explain request *o* (docs/conformance.md, mapping table).

    *released* says a ``release`` comment names the request's id (a blocked command).
    """
    if o.request_kind == "other" or (o.request_kind == "execute" and not isinstance(o.command, str)):
        return ("bad-request",)  # qmp_dispatch's member checks fail before any lookup (§3.5 checks 3-5)
    if o.request_kind == "execute" and o.command == "qmp_capabilities":
        return (_caps_kind(o),)
    if o.request_kind == "parse-error":
        return ("parse-error",)
    if o.request_kind == "non-object":
        return ("nonobject",)
    kinds, exists, missing = _existence(o.command, cspec)
    out: list[str] = []
    if o.request_kind == "exec-oob":
        if exists:
            out.append("oob" if "oob" in kinds else "exec-oob-bad")
        if missing:
            out.append("exec-oob-unknown")  # CommandNotFound with oob, else GenericError (§3.5 check 6)
        return tuple(out)
    if released:
        return ("blocking",)
    if exists:
        for k in kinds:
            out += {"oob": ["oob-inband"], "event": ["event", "quick"]}.get(k, [k])
    if missing:
        out.append("unknown")
    if o.id is None:
        out = ["quick-noid" if k == "quick" else k for k in out]
    return tuple(dict.fromkeys(out))

"""Read QEMU's QAPI schema: the command alphabet, its dispatch flags, the events.

Two sources are understood, told apart by :func:`load_schema`:

* a schema file in QEMU's schema language (``qapi/qapi-schema.json``): JSON-like
  with single-quoted strings, ``true``/``false``, ``#`` comments and ``##`` doc
  blocks, ``{ 'include': FILE }`` resolved relative to the including file,
  ``{ 'pragma': {…} }``; ``if`` conditions are kept as data, never evaluated;
* a ``query-qmp-schema`` reply captured from a live QEMU, either the bare list or
  ``{"return": [...]}``. It shows ``allow-oob`` and features but neither
  ``coroutine`` nor ``allow-preconfig`` nor ``success-response``; those take
  QEMU's defaults.

Unreadable or malformed input (lexing, syntax, doc-block framing, includes,
pragmas, an expression that is not a definition) raises
:class:`~qmpmodel.errors.InputError`. Policy violations in a readable schema are
returned as :class:`Lint` values with QEMU's own wording (docs/devel/qapi-code-gen
and scripts/qapi/expr.py): bad names, unknown or missing keys, a flag with a value
other than ``true`` (``false`` for ``success-response`` and ``gen``), and
``allow-oob`` together with ``coroutine`` ("flags 'allow-oob' and 'coroutine' are
incompatible"). Type checking (members, returns, unions, ``if`` syntax, doc
sections) is out of scope.

>>> s = load_schema("qapi/qapi-schema.json")            # doctest: +SKIP
>>> [c.name for c in s.commands if c.allow_oob]          # doctest: +SKIP
['migrate-recover', 'migrate-pause', 'yank', 'query-yank']
"""

from __future__ import annotations

import json
import os
from typing import Any

from qmpmodel.errors import InputError

__all__ = [
    "Lint",
    "QapiCommand",
    "QapiEnum",
    "QapiEvent",
    "Schema",
    "condition_text",
    "load_schema",
    "model_kind",
    "schema_to_json",
    "select_commands",
]

from qmpmodel.schema.lints import METAS, expr_lints, features
from qmpmodel.schema.syntax import parse_tree, quoted, read_file, show
from qmpmodel.schema.types import (
    Lint,
    QapiCommand,
    QapiEnum,
    QapiEvent,
    Schema,
    condition_text,
    model_kind,
    schema_to_json,
    select_commands,
)


def _from_source(path: str, text: str) -> Schema:
    exprs: list[tuple[dict[str, Any], str, int, str | None]] = []
    pragma: dict[str, Any] = {}
    parse_tree(path, text, (os.path.abspath(path),), {os.path.abspath(path)}, pragma, exprs)
    commands: list[QapiCommand] = []
    events: list[QapiEvent] = []
    enums: list[QapiEnum] = []
    lints: list[Lint] = []
    defined: dict[str, tuple[str, int]] = {}  # one namespace for commands, events and types
    for expr, fname, line, doc in exprs:
        metas = [m for m in METAS if m in expr]
        if len(metas) != 1:
            raise InputError(
                fname,
                f"line {line}",
                "a definition",
                f"keys {quoted(expr)}",
                f"expression must have exactly one key {quoted(METAS)}",
            )
        meta, name = metas[0], expr[metas[0]]
        if not isinstance(name, str):
            raise InputError(
                fname,
                f"line {line}",
                "a string name",
                show(name),
                f"'{meta}' requires a string name",
            )
        lints += [Lint(fname, line, m) for m in expr_lints(expr, meta, name, doc, pragma)]
        if name in defined:
            lints.append(
                Lint(
                    fname,
                    line,
                    f"{meta} '{name}': '{name}' is already defined; "
                    "previous definition at {}:{}".format(*defined[name]),
                )
            )
        defined.setdefault(name, (fname, line))
        cond = expr.get("if")
        if meta == "event":
            events.append(QapiEvent(name, cond, fname, line))
        elif meta == "enum":
            enums.append(QapiEnum(name, _enum_values(expr.get("data")), cond, fname, line))
        elif meta == "command":
            commands.append(
                QapiCommand(
                    name,
                    allow_oob=expr.get("allow-oob") is True,
                    coroutine=expr.get("coroutine") is True,
                    allow_preconfig=expr.get("allow-preconfig") is True,
                    success_response=expr.get("success-response") is not False,
                    boxed=expr.get("boxed") is True,
                    gen=expr.get("gen") is not False,
                    features=features(expr.get("features")),
                    condition=cond,
                    file=fname,
                    line=line,
                )
            )
    return Schema(tuple(commands), tuple(events), tuple(lints), path, enums=tuple(enums))


def _enum_values(data: object) -> tuple[str, ...]:
    """Member names of an enum's ``data``: strings or ``{'name': …}`` objects (malformed ones skipped)."""
    if not isinstance(data, list):
        return ()
    names = (m.get("name") if isinstance(m, dict) else m for m in data)
    return tuple(n for n in names if isinstance(n, str))


def _from_reply(path: str, reply: object) -> Schema:
    """Read a ``query-qmp-schema`` reply: only names, ``allow-oob`` and features are shown."""
    expected = 'a query-qmp-schema reply: a list of {"name", "meta-type", …}'
    if isinstance(reply, dict) and "error" in reply:
        raise InputError(path, None, expected, f"an error reply: {json.dumps(reply['error'])}")
    infos = reply.get("return") if isinstance(reply, dict) else reply
    if not isinstance(infos, list):
        raise InputError(path, "return", expected, show(infos))
    for n, i in enumerate(infos):
        if not (
            isinstance(i, dict) and all(isinstance(i.get(k), str) for k in ("name", "meta-type"))
        ):
            raise InputError(path, f"element {n}", expected, json.dumps(i)[:60])
    commands = tuple(
        QapiCommand(
            i["name"],
            allow_oob=i.get("allow-oob") is True,
            features=features(i.get("features")),
            file=path,
        )
        for i in infos
        if i["meta-type"] == "command"
    )
    events = tuple(QapiEvent(i["name"], None, path) for i in infos if i["meta-type"] == "event")
    # 'values' until QEMU 8.x, 'members' (objects with 'name') since
    enums = tuple(
        QapiEnum(i["name"], _enum_values(i.get("members", i.get("values"))), None, path)
        for i in infos
        if i["meta-type"] == "enum"
    )
    return Schema(commands, events, (), path, from_reply=True, enums=enums)


def load_schema(path: str | os.PathLike[str]) -> Schema:
    """Read a schema file (following includes) or a ``query-qmp-schema`` reply.

    Raises
    ------
    InputError
        The file is unreadable, or malformed beyond linting; the message names
        ``file: line N[, column M]`` and carries QEMU's own complaint.
    """
    fname = os.fspath(path)
    text = read_file(fname, None)
    try:
        data = json.loads(text)
    except ValueError:  # not strict JSON: QEMU's schema language
        return _from_source(fname, text)
    if isinstance(data, list) or (isinstance(data, dict) and ("return" in data or "error" in data)):
        return _from_reply(fname, data)
    return _from_source(fname, text)  # other JSON: let the schema reader say what is wrong

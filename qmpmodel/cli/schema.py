"""``qmpmodel schema PATH [--json]``: the command alphabet of a QAPI schema and its flags.

Registered by the main CLI with ``main.add_command(schema)``. Exit status: 0 the
schema is clean, 1 lints were found (printed as ``file:line: message`` on standard
error), 2 the input is unreadable or malformed (one line on standard error).
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator

import click

from qmpmodel.errors import InputError
from qmpmodel.schema.qapi import (
    QapiCommand,
    Schema,
    condition_text,
    load_schema,
    model_kind,
    schema_to_json,
)

__all__ = ["schema"]

# (label, predicate) for each flag, in the order of docs/devel/qapi-code-gen.rst.
_FLAGS: tuple[tuple[str, str], ...] = (
    ("allow-oob", "allow_oob"),
    ("coroutine", "coroutine"),
    ("allow-preconfig", "allow_preconfig"),
    ("success-response: false", "success_response"),
    ("boxed", "boxed"),
    ("gen: false", "gen"),
)


def _names(cmds: list[QapiCommand]) -> str:
    return _wrap(", ".join(c.name for c in cmds))


def _wrap(text: str) -> str:
    return textwrap.fill(
        text,
        width=100,
        initial_indent="    ",
        subsequent_indent="    ",
        break_on_hyphens=False,
        break_long_words=False,
    )


def _report(s: Schema) -> Iterator[str]:
    """The human summary: counts, then the commands carrying each flag."""
    cmds = list(s.commands)
    conditional = [c for c in cmds if c.condition is not None]
    yield f"{s.source}: commands {len(cmds)} ({len(conditional)} behind 'if'), events {len(s.events)}"
    if s.from_reply:
        yield (
            "note: a query-qmp-schema reply shows allow-oob and features only; "
            "coroutine, allow-preconfig and success-response are shown at their defaults"
        )
    for label, attr in _FLAGS:
        # success-response and gen default to true: the interesting ones are false.
        negated = label.endswith(": false")
        carriers = [c for c in cmds if bool(getattr(c, attr)) != negated]
        yield f"{label}: {len(carriers)}"
        if carriers:
            yield _names(carriers)
    for feature in sorted({f for c in cmds for f in c.features}):
        carriers = [c for c in cmds if feature in c.features]
        yield f"feature {feature}: {len(carriers)}"
        yield _names(carriers)
    kinds = {
        k: sum(1 for c in cmds if model_kind(c) == k)
        for k in ("quick", "oob", "coroutine", "noreply")
    }
    yield "model kinds: " + ", ".join(f"{k} {n}" for k, n in kinds.items())
    if conditional:
        yield f"behind 'if': {len(conditional)}"
        yield _wrap(", ".join(f"{c.name} [{condition_text(c.condition)}]" for c in conditional))
    if s.lints:
        yield f"lints: {len(s.lints)} (on standard error)"


@click.command("schema")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write the commands and events as JSON to standard output.",
)
def schema(path: str, as_json: bool) -> None:
    """Read a QAPI schema (following its includes) or a query-qmp-schema reply.

    PATH is a schema file such as qapi/qapi-schema.json, or the JSON reply of a
    live QEMU to query-qmp-schema. Prints the counts and the commands carrying
    each flag (allow-oob, coroutine, allow-preconfig, success-response, boxed,
    gen); lints go to standard error as file:line: message, and exit 1.
    """
    try:
        loaded = load_schema(path)
    except InputError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(schema_to_json(loaded), indent=2))
    else:
        for line in _report(loaded):
            click.echo(line)
    for lint in loaded.lints:
        click.echo(str(lint), err=True)
    sys.exit(1 if loaded.lints else 0)

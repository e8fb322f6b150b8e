"""``qmpmodel record SCENARIO --out FILE``: record a transcript from a real QEMU.

The lead's CLI registers :data:`record` with ``main.add_command(record)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from qmpmodel.conformance.record import (
    DEFAULT_QEMU,
    DEFAULT_TIMEOUT,
    SCENARIOS,
    RecordError,
    write_transcript,
)
from qmpmodel.conformance.record import record as record_scenario
from qmpmodel.errors import InputError

__all__ = ["record"]

_SCENARIO_HELP = "\n".join(f"  {name:<26} {sc.description}" for name, sc in SCENARIOS.items())


@click.command(
    "record",
    help=(
        "Start a real QEMU (-machine none, QMP on unix sockets), run SCENARIO "
        "against it with raw sockets, and write the transcript (JSON Lines, "
        "docs/transcripts.md) to FILE.\n\nScenarios:\n\n\b\n" + _SCENARIO_HELP
    ),
)
@click.argument("scenario")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Transcript file to write.")
@click.option("--qemu", default=DEFAULT_QEMU, show_default=True, help="QEMU binary to run.")
@click.option("--timeout", type=float, default=DEFAULT_TIMEOUT, show_default=True,
              help="Bound on every single wait, in seconds.")
def record(scenario: str, out: Path, qemu: str, timeout: float) -> None:
    """Record SCENARIO into --out (exit 2 on bad input, 1 when QEMU misbehaves)."""
    try:
        lines = record_scenario(scenario, qemu=qemu, timeout=timeout)
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except RecordError as exc:
        click.echo(f"error: recording {scenario} failed: {exc}", err=True)
        sys.exit(1)
    try:
        write_transcript(lines, out)
    except OSError as exc:
        click.echo(f"error: cannot write {out}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    click.echo(f"{out}: {len(lines)} lines recorded ({scenario})")

"""``qmpmodel invariants``: the property library."""

from __future__ import annotations

import click

from qmpmodel.invariants import INVARIANTS

__all__ = ["list_invariants"]


@click.command("invariants")
def list_invariants() -> None:
    """List the property library: name, kind, statement and source."""
    for inv in INVARIANTS:
        click.echo(f"{inv.name}  [{inv.kind}]")
        click.echo(f"    {inv.statement}")
        click.echo(f"    source: {inv.source}")

"""``qmpmodel export --promela SPEC [-o FILE]``: the spec's model and properties as Promela.

The text is what ``--engine spin`` verifies (:mod:`qmpmodel.engines.spin.promela`):
one process, each action an atomic ``d_step`` over the model's expressions,
the pinned state properties and the stuck test as assertions. Verify it with
``spin -a FILE && cc -O2 -DSAFETY -DNOREDUCE -DBFS -o pan pan.c && ./pan -c0``:
the stored states are the explicit engine's count. Exit 2 on bad input.
"""

from __future__ import annotations

import sys

import click

from qmpmodel.check import prepare
from qmpmodel.engines.spin.promela import export as promela_export
from qmpmodel.errors import InputError
from qmpmodel.specs import load_spec

__all__ = ["export"]


@click.command("export")
@click.argument("spec_path", metavar="SPEC")
@click.option("--promela", "fmt", flag_value="promela", required=True, help="Write Promela (for SPIN).")
@click.option("-o", "--output", "out", metavar="FILE", help="Write to FILE instead of standard output.")
def export(spec_path: str, fmt: str, out: str | None) -> None:
    """Export a spec's model for another checker."""
    from qmpmodel.artefacts.files import write_atomic

    try:
        spec = load_spec(spec_path)
        p = prepare(spec)
    except InputError as e:
        click.echo(f"qmpmodel: {e}", err=True)
        sys.exit(2)
    text = promela_export(p.task, f"{spec.path}: {spec.title}").text
    if out:
        write_atomic(out, text)
    else:
        click.echo(text, nl=False)

"""``qmpmodel replay TRACE.itf.json [--spec SPEC] [--verbose]``: re-execute a saved counterexample.

The spec defaults to the trace's ``#meta.source``; replaying against another
design (a proposed fix) says in words where the trace diverges
(:func:`qmpmodel.artefacts.itf.replay`).
"""

from __future__ import annotations

import click

from qmpmodel.cli.common import exit_status_help, exit_with, fail_input, trace_lines
from qmpmodel.errors import InputError

__all__ = ["replay_cmd"]


@click.command("replay", epilog=exit_status_help(
    "The expectation: the trace re-executes step by step on SPEC's model and ends in the violation it "
    "records (1: it diverges, and the first diverging step is named)."))
@click.argument("trace_file", metavar="TRACE.itf.json")
@click.option("--spec", "spec_path", metavar="SPEC", help="The spec to replay on (default: the trace's #meta.source).")
@click.option("--invariant", "inv", metavar="NAME", help="Invariant to confirm (default: #meta.invariant).")
@click.option("-v", "--verbose", is_flag=True, help="Print the steps re-executed (up to a diverging one).")
def replay_cmd(trace_file: str, spec_path: str | None, inv: str | None, verbose: bool) -> None:
    """Re-execute a saved counterexample and confirm its violation."""
    from qmpmodel.artefacts.itf import itf_to_trace, read_itf, replay
    from qmpmodel.check import prepare
    from qmpmodel.specs import load_spec

    try:
        t = read_itf(trace_file)
        src = spec_path or t.meta.get("source")
        if not isinstance(src, str) or not src:
            raise InputError(trace_file, "#meta.source", "a spec path (or pass --spec)", "none")
        prepared = prepare(load_spec(src))
        if inv is not None:
            from qmpmodel.invariants import invariant

            invariant(inv, "<command line>", "--invariant", prepared.spec.properties)
        outcome = replay(t, prepared, inv)
    except InputError as e:
        fail_input(e)
    if verbose:
        tr = itf_to_trace(t)
        lines = trace_lines(tr)
        upto = tr.depth if outcome.reproduced or outcome.step is None else outcome.step
        click.echo(f"{trace_file}: {tr.depth} steps on {src}")
        for n, line in enumerate(lines[:upto] if upto < tr.depth else lines, 1):
            click.echo(("  ✗ " if not outcome.reproduced and n == outcome.step else "    ") + line)
        if upto < tr.depth:
            click.echo(f"    ({tr.depth - upto} more steps not re-executed)")
    if outcome.reproduced:
        click.echo(f"reproduced: {outcome.message}")
        exit_with("met")
    click.echo(f"not reproduced: {outcome.message}")
    exit_with("contradicted")

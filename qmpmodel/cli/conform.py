"""``qmpmodel conform TRANSCRIPT... --spec SPEC [--schema FILE] [--json FILE]``.

Decides whether each transcript is a behaviour of the spec's model: one line
per transcript, naming for a non-conforming one the first line no model
behaviour explains and what the model allowed there. Exit status: the shared
table of :mod:`qmpmodel.cli.common` (0 every transcript conforms, 1 one does
not, 2 bad input, 3 nothing contradicted but a search was cut by its budget).
"""

from __future__ import annotations

import json

import click

from qmpmodel.cli.common import (
    exit_status_help,
    exit_with,
    fail_input,
    join_nonempty,
    plural,
    write_output,
)
from qmpmodel.conformance.conform import ConformResult, conform_file, load_conform_spec
from qmpmodel.core.results import EXIT_CODES, Outcome, worst
from qmpmodel.errors import InputError

__all__ = ["conform"]


#: A transcript's verdict as an outcome of the exit-status table.
_OUTCOME: dict[str, Outcome] = {"accepted": "met", "rejected": "contradicted", "unknown": "inconclusive"}


@click.command("conform", epilog=exit_status_help(
    "The expectation: every TRANSCRIPT is a behaviour of SPEC's model (3: a search ran out of "
    "--max-states or --timeout before deciding)."))
@click.argument("transcripts", nargs=-1, required=True)
@click.option("--spec", "spec_path", required=True, metavar="SPEC", help="Spec file: the design to check against.")
@click.option("--schema", "schema_path", metavar="FILE",
              help="QAPI schema of the QEMU that produced the transcripts: a schema file or a saved "
                   "query-qmp-schema reply (default: the spec's [conform] qapi, else QEMU 7.2's tree in "
                   "../shared/qemu-qapi).")
@click.option("--json", "json_file", metavar="FILE", help="Write the results document to FILE (- for standard output).")
@click.option("--max-states", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="Search states per transcript (beyond: undecided, exit 3).")
@click.option("--timeout", type=click.FloatRange(min=0.0, min_open=True), help="Seconds per transcript.")
def conform(transcripts: tuple[str, ...], spec_path: str, schema_path: str | None, json_file: str | None,
            max_states: int, timeout: float | None) -> None:
    """Decide whether each TRANSCRIPT (docs/transcripts.md) is a behaviour of the model of SPEC."""
    from qmpmodel import __version__

    try:
        cspec = load_conform_spec(spec_path, schema_path)
        from qmpmodel.conformance.transcript import load_transcript

        for t in transcripts:  # validate every input before any output
            load_transcript(t)
        results: list[ConformResult] = [conform_file(t, cspec, max_states=max_states, timeout=timeout)
                                        for t in transcripts]
    except InputError as e:
        fail_input(e)
    err = json_file == "-"  # standard output carries the document
    for r in results:
        click.echo(r.render(), err=err)
        for n in r.notes:
            click.echo(f"   note: {n}", err=err)
    outcome = worst(_OUTCOME.get(r.verdict, "inconclusive") for r in results)
    rejected = sum(r.verdict == "rejected" for r in results)
    undecided = sum(_OUTCOME.get(r.verdict, "inconclusive") == "inconclusive" for r in results)
    click.echo(f"{plural(len(results), 'transcript')}: " + join_nonempty(
        ["all conform" if outcome == "met" else "",
         f"{rejected} do not conform" if rejected else "",
         f"{undecided} undecided" if undecided else ""]), err=err)
    if json_file:
        doc = {"qmpmodel": __version__, "spec": spec_path, "outcome": outcome, "exit": EXIT_CODES[outcome],
               "results": [{**r.to_json(), "outcome": _OUTCOME.get(r.verdict, "inconclusive")} for r in results]}
        try:
            where = write_output(json_file, json.dumps(doc, indent=1) + "\n")
        except InputError as e:
            fail_input(e)
        click.echo(f"wrote the results document to {where}", err=err)
    exit_with(outcome)

"""``qmpmodel conform TRANSCRIPT... --spec SPEC [--schema FILE] [--json FILE]``.

Exit status: 0 every transcript is a behaviour of the model; 1 one is not (or
the search could not decide: budget, bounds), one line per transcript naming
the first line no model behaviour explains and what the model allowed there;
2 bad input (one line).  The lead's CLI registers :data:`conform` with
``main.add_command(conform)``.
"""

from __future__ import annotations

import json
import sys

import click

from qmpmodel.conformance.conform import ConformResult, conform_file, load_conform_spec
from qmpmodel.errors import InputError

__all__ = ["conform"]


@click.command("conform")
@click.argument("transcripts", nargs=-1, required=True)
@click.option("--spec", "spec_path", required=True, metavar="SPEC", help="Spec file: the design to check against.")
@click.option("--schema", "schema_path", metavar="FILE",
              help="QAPI schema of the QEMU that produced the transcripts: a schema file or a saved "
                   "query-qmp-schema reply (default: the spec's [conform] qapi, else QEMU 7.2's tree in "
                   "../shared/qemu-qapi).")
@click.option("--json", "json_file", metavar="FILE", help="Write the results document to FILE.")
@click.option("--max-states", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="Search states per transcript (beyond: undecided, exit 1).")
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
        click.echo(f"qmpmodel: {e}", err=True)
        sys.exit(2)
    for r in results:
        click.echo(r.render())
        for n in r.notes:
            click.echo(f"   note: {n}")
    ok = all(r.accepted for r in results)
    click.echo(f"{len(results)} transcripts: " + ("all conform" if ok else
                                                  f"{sum(not r.accepted for r in results)} do not conform"))
    if json_file:
        from qmpmodel.cli import write_atomic

        doc = {"qmpmodel": __version__, "spec": spec_path, "results": [r.to_json() for r in results]}
        write_atomic(json_file, json.dumps(doc, indent=1) + "\n")
    sys.exit(0 if ok else 1)

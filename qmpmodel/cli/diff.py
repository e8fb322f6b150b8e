"""``qmpmodel diff BASE PROPOSED``: what a proposed change adds and removes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from qmpmodel.errors import InputError

__all__ = ["diff_cmd"]

_EXIT_HELP = """\b
Exit status:
  0  the proposal adds no violation
  1  it adds at least one
  2  bad input
  3  inconclusive: no violation added, but a budget ran out (or an engine could not decide) on a side"""


@click.command("diff", epilog=_EXIT_HELP)
@click.argument("base")
@click.argument("proposed")
@click.option("--bounds", "bounds_spec", metavar="SPEC", help="Take the bounds from SPEC (default: PROPOSED's, "
              "else BASE's, else those of specs/qemu-current.toml).")
@click.option("--engine", default="explicit", show_default=True, help="explicit, native, hypothesis, smt or spin")
@click.option("--max-states", type=click.IntRange(min=1), help="State budget per side.")
@click.option("--json", "json_file", metavar="FILE", help="Write the comparison as JSON (- for stdout).")
@click.option("--markdown", "md_file", metavar="FILE", help="Write a review in Markdown (- for stdout).")
@click.option("--out", "out_dir", metavar="DIR", help="Write each new counterexample (ITF, Markdown, Mermaid).")
def diff_cmd(base: str, proposed: str, bounds_spec: str | None, engine: str, max_states: int | None,
             json_file: str | None, md_file: str | None, out_dir: str | None) -> None:
    """Compare PROPOSED with BASE at the same bounds, property by property.

    BASE and PROPOSED are spec files (.toml), proposal files (.py) or named
    designs (qemu-current, 2020-coroutine-dispatcher, ...). For each property:
    both verdicts and what changed (newly violated, fixed, depth changed,
    unchanged, undecided); for a fixed one, the first step where the proposal
    departs from the base's counterexample.
    """
    from qmpmodel import __version__
    from qmpmodel.artefacts.diffreport import diff_json, diff_markdown
    from qmpmodel.artefacts.files import write_atomic
    from qmpmodel.check import engine_runner
    from qmpmodel.cli.common import write_output
    from qmpmodel.core.results import EXIT_CODES, EngineOptions
    from qmpmodel.diff import diff, resolve_side
    from qmpmodel.specs import load_spec

    try:
        engine_runner(engine)
        b = resolve_side(base, "BASE")
        p = resolve_side(proposed, "PROPOSED")
        if bounds_spec is not None:
            bounds, where = load_spec(bounds_spec).bounds, f"from {bounds_spec}"
        elif Path(proposed).suffix == ".toml":
            bounds, where = p.bounds, f"from {proposed}"
        elif Path(base).suffix == ".toml":
            bounds, where = b.bounds, f"from {base}"
        else:
            bounds, where = p.bounds, "those of specs/qemu-current.toml"
        t0 = time.monotonic()
        opts = EngineOptions(max_states=max_states) if max_states else None
        r = diff(b, p, bounds=bounds, bounds_from=where, engine=engine, options=opts)
    except InputError as e:
        click.echo(f"qmpmodel: {e}", err=True)
        sys.exit(2)
    secs = time.monotonic() - t0
    click.echo(f"{r.base.title or base} -> {r.proposed.title or proposed}  (bounds {where})")
    click.echo(f"  states: {r.base.states:,} base, {r.proposed.states:,} proposed; {secs:.1f} s")
    for _n, fn, owner in r.changed_steps:
        click.echo(f"  changes {fn} ({owner})")
    for d in r.properties:
        if d.change == "unchanged":
            continue
        click.echo(f"  {d.change:<15} {d.name:<26} {d.base.text()}  ->  {d.proposed.text()}")
        if d.divergence:
            click.echo(f"                  {d.divergence}")
    same = sum(1 for d in r.properties if d.change == "unchanged")
    click.echo(f"{len(r.properties)} properties: {len(r.of('newly violated'))} newly violated, "
               f"{len(r.of('fixed'))} fixed, {len(r.of('depth changed'))} depth changed, {same} unchanged, "
               f"{len(r.of('undecided'))} undecided")
    try:
        if json_file:
            write_output(json_file, json.dumps(diff_json(r, __version__), indent=1) + "\n")
        if md_file:
            write_output(md_file, diff_markdown(r))
    except InputError as e:
        click.echo(f"qmpmodel: {e}", err=True)
        sys.exit(2)
    if out_dir:
        from dataclasses import replace

        from qmpmodel.artefacts.report import write_artefacts

        new = {d.name for d in r.of("newly violated")}
        res = replace(r.proposed, invariants=tuple(i for i in r.proposed.invariants if i.name in new))
        written = write_artefacts([res], r.prepared, out_dir)
        write_atomic(Path(out_dir) / "diff.md", diff_markdown(r))
        click.echo(f"wrote {len(written) + 1} files to {out_dir}")
    sys.exit(EXIT_CODES[r.outcome])

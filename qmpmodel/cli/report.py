"""``qmpmodel report`` and ``qmpmodel replay``.

``report PATH... --out DIR`` checks the specs with the explicit engine and
writes ``DIR/index.md``, ``DIR/index.html`` and a page per counterexample
(:func:`qmpmodel.artefacts.report.write_report`). Exit 0, or 2 on bad input: a report
records failures, it does not gate on them (``qmpmodel check`` does).

``replay TRACE.itf.json [--spec SPEC]`` re-executes a saved counterexample on
the spec's model and confirms the violation. Exit 0 reproduced; 1 not
reproduced (naming the first step that diverges); 2 bad file or spec. Without
``--spec`` the spec named in the trace's ``#meta.source`` is used.

Both commands are registered on the main group by :mod:`qmpmodel.cli`; this
module also runs on its own: ``python3 -m qmpmodel.cli.report report specs/ --out reports/``.
"""

from __future__ import annotations

import sys

import click

from qmpmodel.errors import InputError

__all__ = ["regenerate", "replay_cmd", "report"]


def _fail(e: InputError) -> None:
    click.echo(f"qmpmodel: {e}", err=True)
    sys.exit(2)


def regenerate(paths: tuple[str, ...] | list[str], out: str, max_states: int | None = None,
               fmt: tuple[str, ...] = ("md", "html"), command: str | None = None) -> list[str]:
    """Check ``paths`` and write the report to ``out``; returns the written files.

    ``command`` is the regeneration command printed in the index (default: the
    equivalent ``qmpmodel report`` command line).
    """
    from qmpmodel.artefacts.report import write_report
    from qmpmodel.check import check_spec, prepare
    from qmpmodel.core.results import EngineOptions
    from qmpmodel.specs import expand_paths, load_spec

    specs = [load_spec(p) for p in expand_paths(paths)]
    if not specs:
        raise InputError(" ".join(paths), None, "at least one spec file (*.toml)", "none")
    prepared = {s.path: prepare(s) for s in specs}
    results = []
    for s in specs:
        opts = EngineOptions(max_states=max_states or s.max_states or EngineOptions().max_states)
        results.append(check_spec(s, "explicit", opts))
    cmd = command or f"qmpmodel report {' '.join(paths)} --out {out}"
    return [p.as_posix() for p in write_report(results, prepared, out, fmt, command=cmd)]


@click.command("report")
@click.argument("paths", nargs=-1, required=True)
@click.option("--out", "out", required=True, metavar="DIR", help="Directory for index.md, index.html and cex/.")
@click.option("--max-states", type=click.IntRange(min=1), help="State budget per spec (beyond it: unknown).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "both"]), default="both", show_default=True)
def report(paths: tuple[str, ...], out: str, max_states: int | None, fmt: str) -> None:
    """Check specs and write an HTML + Markdown report (verdicts, counterexamples, statistics)."""
    try:
        files = regenerate(paths, out, max_states, ("md", "html") if fmt == "both" else (fmt,))
    except InputError as e:
        _fail(e)
        return
    pages = sum(1 for f in files if "/cex/" in f and f.endswith((".md", ".html")))
    click.echo(f"wrote {len(files)} files to {out} ({pages} counterexample pages)")


@click.command("replay")
@click.argument("trace_file", metavar="TRACE.itf.json")
@click.option("--spec", "spec_path", metavar="SPEC", help="The spec the trace was found on (default: #meta.source).")
@click.option("--invariant", "inv", metavar="NAME", help="Invariant to confirm (default: #meta.invariant).")
def replay_cmd(trace_file: str, spec_path: str | None, inv: str | None) -> None:
    """Re-execute a saved counterexample and confirm its violation."""
    from qmpmodel.artefacts.itf import read_itf, replay
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
        _fail(e)
        return
    if outcome.reproduced:
        click.echo(f"reproduced: {outcome.message}")
        sys.exit(0)
    click.echo(f"not reproduced: {outcome.message}")
    sys.exit(1)


@click.group()
def _standalone() -> None:
    """qmpmodel report/replay (standalone entry point)."""


_standalone.add_command(report)
_standalone.add_command(replay_cmd)

if __name__ == "__main__":  # pragma: no cover
    _standalone()

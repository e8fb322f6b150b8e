"""``qmpmodel report PATH... --out DIR``: the HTML + Markdown report.

Checks the specs with the explicit engine and writes ``DIR/index.md``,
``DIR/index.html`` and a page per counterexample
(:func:`qmpmodel.artefacts.report.write_report`). The report is written
whatever the verdicts; the exit status is that of ``check`` on the same
specs, so a report of unmet expectations never exits 0.

This module also runs on its own:
``python3 -m qmpmodel.cli.report specs/ --out reports/``.
"""

from __future__ import annotations

import click

from qmpmodel.cli.common import exit_status_help, exit_with, fail_input, plural
from qmpmodel.core.results import CheckResult, worst
from qmpmodel.errors import InputError

__all__ = ["regenerate", "report", "run_report"]


def run_report(paths: tuple[str, ...] | list[str], out: str, max_states: int | None = None,
               fmt: tuple[str, ...] = ("md", "html"),
               command: str | None = None, site: str | None = None) -> tuple[list[str], list[CheckResult]]:
    """Check ``paths`` and write the report to ``out``: (the files written, the results).

    ``command`` is the regeneration command printed in the index (default: the
    equivalent ``qmpmodel report`` command line); ``site`` the directory the
    report is read from, for relative links to specs and sources (default ``out``).
    """
    from qmpmodel.artefacts.report import write_report
    from qmpmodel.check import check_spec
    from qmpmodel.cli.check import load_selected
    from qmpmodel.core.results import EngineOptions

    prepared, _ = load_selected(paths, None)
    results = []
    for p in prepared:
        opts = EngineOptions(max_states=max_states or p.spec.max_states or EngineOptions().max_states)
        results.append(check_spec(p.spec, "explicit", opts))
    cmd = command or f"qmpmodel report {' '.join(paths)} --out {out}"
    by_spec = {p.spec.path: p for p in prepared}
    return [f.as_posix() for f in write_report(results, by_spec, out, fmt, command=cmd, site=site)], results


def regenerate(paths: tuple[str, ...] | list[str], out: str, max_states: int | None = None,
               fmt: tuple[str, ...] = ("md", "html"), command: str | None = None,
               site: str | None = None) -> list[str]:
    """Check ``paths`` and write the report to ``out``; returns the written files."""
    return run_report(paths, out, max_states, fmt, command, site)[0]


@click.command("report", epilog=exit_status_help(
    "The expectations are each spec's [expect] table, as for check: the report is written in every case, "
    "and the exit status says whether it shows unmet expectations."))
@click.argument("paths", nargs=-1, required=True)
@click.option("--out", "out", required=True, metavar="DIR", help="Directory for index.md, index.html and cex/.")
@click.option("--max-states", type=click.IntRange(min=1), help="State budget per spec (beyond it: unknown).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "both"]), default="both", show_default=True)
def report(paths: tuple[str, ...], out: str, max_states: int | None, fmt: str) -> None:
    """Check specs and write an HTML + Markdown report (verdicts, counterexamples, statistics)."""
    try:
        files, results = run_report(paths, out, max_states, ("md", "html") if fmt == "both" else (fmt,))
    except InputError as e:
        fail_input(e)
    pages = sum(1 for f in files if "/cex/" in f and f.endswith((".md", ".html")))
    click.echo(f"wrote {plural(len(files), 'file')} to {out} ({plural(pages, 'counterexample page')})")
    outcome = worst(r.outcome for r in results)
    bad = sum(1 for r in results for i in r.invariants if i.outcome == "contradicted")
    open_ = sum(1 for r in results for i in r.invariants if i.outcome == "inconclusive")
    click.echo(f"{plural(len(results), 'spec')}: " + {
        "met": "all expectations met",
        "contradicted": f"{plural(bad, 'expectation')} contradicted" + (f", {open_} undecided" if open_ else ""),
        "inconclusive": f"nothing contradicted, {plural(open_, 'expectation')} undecided"}[outcome])
    exit_with(outcome)


if __name__ == "__main__":  # pragma: no cover
    report()

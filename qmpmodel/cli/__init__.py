"""The ``qmpmodel`` command line: a thin layer whose exit code is the CI gate.

Exit status: 0 every pinned expectation met; 1 an expectation not met; 2 bad
input (one line on stderr naming the file, the key or line, and what was
expected; no traceback, no output file written).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import click

from qmpmodel import __version__
from qmpmodel.artefacts.ci import junit_xml, sarif
from qmpmodel.artefacts.jsonout import results_to_json
from qmpmodel.artefacts.report import write_artefacts
from qmpmodel.check import check_spec, engine_runner, prepare
from qmpmodel.cli.conform import conform
from qmpmodel.cli.reach import reach
from qmpmodel.cli.record import record
from qmpmodel.cli.report import replay_cmd, report
from qmpmodel.cli.schema import schema
from qmpmodel.core.results import EXIT_CODES, CheckResult, EngineOptions, worst
from qmpmodel.core.task import Observer
from qmpmodel.errors import InputError
from qmpmodel.invariants import INVARIANTS
from qmpmodel.specs import expand_paths, load_spec

__all__ = ["main"]


def fail_input(e: InputError) -> None:
    click.echo(f"qmpmodel: {e}", err=True)
    sys.exit(2)


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file, so a reader never sees half of it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, target)


class _Budget(Observer):
    """Stops the search at a deadline and draws a progress line on a terminal."""

    def __init__(self, timeout: float | None, label: str) -> None:
        self.deadline = time.monotonic() + timeout if timeout else None
        self.tty = sys.stderr.isatty()
        self.label = label
        self.start = time.monotonic()

    def progress(self, states: int, depth: int) -> bool:
        now = time.monotonic()
        if self.tty and now - self.start > 1.0:
            rate = states / max(now - self.start, 1e-9)
            click.echo(f"\r  {self.label}: {states:,} states, depth {depth}, {rate:,.0f}/s ", nl=False, err=True)
        return self.deadline is None or now < self.deadline

    def done(self) -> None:
        if self.tty and time.monotonic() - self.start > 1.0:
            click.echo("\r" + " " * 78 + "\r", nl=False, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qmpmodel")
def main() -> None:
    """Model checker for QEMU's QMP/HMP monitor dispatch."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--engine", default="explicit", show_default=True, help="explicit, hypothesis or smt")
@click.option("--json", "json_file", metavar="FILE", help="Write the results document to FILE.")
@click.option("--max-states", type=click.IntRange(min=1), help="State budget per spec (beyond it: unknown).")
@click.option("--timeout", type=click.FloatRange(min=0.0, min_open=True), help="Seconds per spec (beyond: unknown).")
@click.option("--examples", type=click.IntRange(min=1), default=200, show_default=True, help="hypothesis: examples.")
@click.option("--seed", type=int, default=0, show_default=True, help="hypothesis: random seed.")
@click.option("--depth", type=click.IntRange(min=1), help="smt: unrolling depth (default 30; 4 with --prove).")
@click.option("--prove", is_flag=True, help="smt: prove (k-induction, PDR) instead of bounded checking.")
@click.option("--method", type=click.Choice(["auto", "kind", "pdr"]), default="auto", show_default=True,
              help="smt --prove: k-induction (kind), PDR/Spacer (pdr), or k-induction then PDR (auto).")
@click.option("--out", "out_dir", metavar="DIR", help="Write counterexamples (ITF, Markdown, Mermaid, SVG) to DIR.")
@click.option("--junit", "junit_file", metavar="FILE", help="Write JUnit XML (a testcase per spec and invariant).")
@click.option("--sarif", "sarif_file", metavar="FILE", help="Write SARIF 2.1.0 (a result per broken expectation).")
def check(paths: tuple[str, ...], engine: str, json_file: str | None, max_states: int | None,
          timeout: float | None, examples: int, seed: int, depth: int | None, prove: bool, method: str,
          out_dir: str | None, junit_file: str | None, sarif_file: str | None) -> None:
    """Check spec files (or every *.toml under directories) against their pinned expectations."""
    try:
        engine_runner(engine)
        specs = [load_spec(p) for p in expand_paths(paths)]
        if not specs:
            raise InputError(" ".join(paths), None, "at least one spec file (*.toml)", "none")
        # build every model first: bad bounds are bad input, before any output
        prepared = {s.path: prepare(s) for s in specs}
    except InputError as e:
        fail_input(e)
        return
    results: list[CheckResult] = []
    total_states = total_trans = max_depth = 0
    t_all = time.monotonic()
    for spec in specs:
        obs = _Budget(timeout, spec.path)
        t0 = time.monotonic()
        opts = EngineOptions(max_states=max_states or spec.max_states or EngineOptions().max_states,
                             examples=examples, seed=seed,
                             # k-induction needs a small k; bounded checking a deep unrolling
                             depth=depth or spec.depth or (4 if prove else EngineOptions().depth),
                             prove=prove, method=method)
        r = check_spec(spec, engine, opts, obs)
        obs.done()
        r = replace(r, seconds=time.monotonic() - t0)
        results.append(r)
        total_states += r.states
        total_trans += r.transitions
        max_depth = max(max_depth, r.depth)
        mark = {"met": "ok  ", "contradicted": "FAIL", "inconclusive": "??  "}[r.outcome]
        tail = "" if r.complete else ("  (incomplete: budget exhausted)" if engine == "explicit"
                                      else "  (not exhaustive)")
        click.echo(f"{mark} {spec.path}: {r.states:,} states, depth {r.depth}, {r.seconds:.2f} s{tail}")
        for inv in r.invariants:
            if inv.expected == "skip":
                continue
            flag = {"met": "  ", "contradicted": "!!", "inconclusive": "??"}[inv.outcome]
            text = inv.note if len(inv.note) <= 90 else inv.note[:87] + "..."  # in full in --json
            note = f"  [{text}]" if text else ""
            click.echo(f"   {flag} {inv.name:<26} {inv.text()} (expected {inv.expected}){note}")
            if inv.parametric:
                click.echo(f"        parametric: {inv.parametric}")
            if inv.method == "pdr" and inv.certificate:
                # the inductive invariant PDR found: why the property holds
                for line in inv.certificate[:12]:
                    click.echo(f"        | {line if len(line) <= 100 else line[:97] + '...'}")
                if len(inv.certificate) > 12:
                    click.echo(f"        | ... {len(inv.certificate) - 12} more (--json has all)")
    elapsed = time.monotonic() - t_all
    click.echo(f"{total_states:,} states, {total_trans:,} transitions, depth {max_depth}, {elapsed:.2f} s")
    outcome = worst(r.outcome for r in results)
    bad = sum(1 for r in results for i in r.invariants if i.outcome == "contradicted")
    open_ = sum(1 for r in results for i in r.invariants if i.outcome == "inconclusive")
    summary = {"met": "all expectations met",
               "contradicted": f"{bad} expectations contradicted" + (f", {open_} undecided" if open_ else ""),
               "inconclusive": f"nothing contradicted, {open_} expectations undecided"}[outcome]
    click.echo(f"{len(results)} specs: {summary}")
    if json_file:
        write_atomic(json_file, json.dumps(results_to_json(results, __version__), indent=1) + "\n")
    if junit_file:
        write_atomic(junit_file, junit_xml(results))
    if sarif_file:
        write_atomic(sarif_file, json.dumps(sarif(results), indent=1) + "\n")
    if out_dir:
        write_artefacts(results, prepared, out_dir)
    sys.exit(EXIT_CODES[outcome])


@main.command("invariants")
def list_invariants() -> None:
    """List the property library: name, kind, statement and source."""
    for inv in INVARIANTS:
        click.echo(f"{inv.name}  [{inv.kind}]")
        click.echo(f"    {inv.statement}")
        click.echo(f"    source: {inv.source}")


main.add_command(schema)
main.add_command(record)
main.add_command(conform)
main.add_command(reach)
main.add_command(report)
main.add_command(replay_cmd)


if __name__ == "__main__":  # pragma: no cover
    main()

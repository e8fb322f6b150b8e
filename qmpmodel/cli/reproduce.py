"""``qmpmodel reproduce TRACE.itf.json``: run a counterexample against a real QEMU.

Registered on the main group by :mod:`qmpmodel.cli`; the help text is the
user documentation (exit status included).
"""

from __future__ import annotations

import json
import sys

import click

from qmpmodel.errors import InputError

__all__ = ["reproduce_cmd"]

_HELP = """Drive a real QEMU through the counterexample TRACE.itf.json (written by `check --out`).

\b
Client steps (connect, send, disconnect) become QMP writes; a command the
trace keeps running is held with the blkdebug-FIFO trick of QEMU's
qmp-test.c and released at its completion step; before each client action
the script waits for what QEMU did before it in the trace (replies, a
command blocking on its FIFO). The run is recorded as a transcript
(docs/transcripts.md), the violated property is judged on it, and it is
checked against the spec's model with `conform`. When the trace needs a
client to act while QEMU is busy, the shortest counterexample of the same
property that waits for QEMU instead is run and the substitution explained
(--literal runs the trace itself, retried --tries times).

\b
Exit status:
  0  reproduced on QEMU (and the transcript conforms to the model)
  1  not reproduced: the run did not show the violation, its transcript
     does not conform, or QEMU 7.2 is not the spec's design (the reason is
     printed)
  2  bad input (trace, spec, or QEMU binary)
  3  the trace has steps that cannot be driven or seen from outside
     (a scheduler choice or a thread inside QEMU, a property of its
     internal state), and none of the N tries reproduced it (0 tries
     when a step cannot be driven at all)
"""


@click.command("reproduce", help=_HELP)
@click.argument("trace_file", metavar="TRACE.itf.json")
@click.option("--spec", "spec_path", metavar="SPEC", help="The trace's spec (default: its #meta.source).")
@click.option("--qemu", default="qemu-system-x86_64", show_default=True, metavar="PATH", help="QEMU binary.")
@click.option("--out", "out", metavar="TRANSCRIPT", help="Write the kept run's transcript (JSON Lines).")
@click.option("--json", "json_file", metavar="F", help="Write the result document to F.")
@click.option("--tries", type=click.IntRange(min=1, max=1000), default=10, show_default=True,
              help="Runs at most (a racy plan runs them all, to report how often the interleaving occurred).")
@click.option("--literal", is_flag=True, help="Run the trace itself even when it is not forceable.")
@click.option("--results", "results_file", metavar="FILE",
              help="Record the verdict in FILE (reports/reproductions.json; read by `qmpmodel report`).")
def reproduce_cmd(trace_file: str, spec_path: str | None, qemu: str, out: str | None, json_file: str | None,
                  tries: int, literal: bool, results_file: str | None) -> None:
    from qmpmodel import __version__
    from qmpmodel.artefacts.itf import read_itf
    from qmpmodel.artefacts.reproductions import record_result
    from qmpmodel.check import prepare
    from qmpmodel.cli.common import fail_input as _fail
    from qmpmodel.conformance.conform import load_conform_spec
    from qmpmodel.conformance.record import write_transcript
    from qmpmodel.conformance.reproduce import analyse, reproduce
    from qmpmodel.specs import load_spec

    try:
        t = read_itf(trace_file)
        src = spec_path or t.meta.get("source")
        if not isinstance(src, str) or not src:
            raise InputError(trace_file, "#meta.source", "a spec path (or pass --spec)", "none")
        prepared = prepare(load_spec(src))
        an = analyse(t, prepared, trace_file, literal=literal)
        res = reproduce(an, qemu, tries, conform_spec=load_conform_spec(src) if an.runnable else None)
    except InputError as e:
        _fail(e)
        return
    click.echo(f"reproduce {trace_file}: {an.spec}, {an.invariant} ({an.steps} steps)")
    p = an.plan
    if p is not None and an.runnable:
        kind = "the trace itself" if p.literal else "a substitution"
        det = {"all": "deterministic (every eager run violates)", "some": "racy (QEMU's threads decide)",
               "none": "racy (needs a client to act while QEMU is busy)"}[p.outcome]
        click.echo(f"  plan: {kind}, {len(p.steps)} model steps, {det}")
        for r in p.races if p.literal else ():
            click.echo(f"  race: {r}")
        for n in p.notes:
            click.echo(f"  note: {n}")
    if res.literal_tries is not None:
        click.echo(f"  the trace itself: {res.literal_tries[1]} of {res.literal_tries[0]} tries showed the violation")
        fb = res.plan
        assert fb is not None
        click.echo(f"  fallback plan: a substitution, {len(fb.steps)} model steps")
        for n in fb.notes[:1]:
            click.echo(f"  note: {n}")
    if res.tries:
        per = sum(res.seconds) / len(res.seconds)
        click.echo(f"  tries: {res.tries}, violation seen in {res.hits}, {per:.2f} s per try")
    if res.evidence:
        click.echo(f"  evidence: {res.evidence}")
    if res.conform:
        click.echo(f"  conform: {res.conform['message']}")
    if out and res.kept is not None:
        write_transcript(res.kept.lines, out)
        click.echo(f"  transcript: {out}")
    word = {"reproduced": "reproduced", "not-reproduced": "not reproduced", "cannot-drive": "not reproduced"}
    click.echo(f"{word[res.verdict]}: {res.reason}")
    if json_file:
        from qmpmodel.cli.common import write_output

        doc = {"qmpmodel": __version__, "trace": trace_file, **res.to_json()}
        try:
            write_output(json_file, json.dumps(doc, indent=1) + "\n")
        except InputError as e:
            _fail(e)
    if results_file:
        record_result(results_file, res.to_json())
    sys.exit(res.exit_code)

"""What ``qmpmodel check`` prints, the pytest way.

* one line per spec: ``ok``, ``FAIL`` (an expectation contradicted) or ``??``
  (undecided), then the states, depth and seconds;
* under it, one line per property whose verdict is not ``holds`` (``-v``: every
  property; ``-q``: none), flagged ``!!`` when it contradicts the spec and ``??``
  when undecided;
* under an unexpected violation its trace in short form, or, with ``--out``,
  where the trace was written and how to replay it (Apalache's "Check the trace
  in");
* at the end every unmet expectation, contradicted and undecided separately,
  the totals, the files written, and the one-line verdict of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import click

from qmpmodel.cli.common import Console, plural, replay_command, shorten, trace_lines
from qmpmodel.core.results import CheckResult, InvariantResult, worst

__all__ = ["CheckPrinter"]

_MARK = {"met": ("ok  ", "green"), "contradicted": ("FAIL", "red"), "inconclusive": ("??  ", "yellow")}
#: Undecided properties of one spec described alike are listed on one line from this many on.
_GROUP = 4
_FLAG = {"met": ("  ", None), "contradicted": ("!!", "red"), "inconclusive": ("??", "yellow")}


@dataclass
class CheckPrinter:
    """Prints a run as it goes; ``verbosity`` is -1 (``-q``), 0 or 1 (``-v``)."""

    console: Console
    verbosity: int = 0
    #: (spec, property) -> the ITF file written for it (``--out``), as the user named the directory.
    traces: dict[tuple[str, str], str] = field(default_factory=dict)

    def spec(self, r: CheckResult) -> None:
        """The spec's line and its property lines (and traces of unexpected violations)."""
        if self.verbosity < 0:
            return
        text, colour = _MARK[r.outcome]
        tail = "" if r.complete else ("  (incomplete: budget exhausted)" if r.engine == "explicit"
                                      else "  (not exhaustive)")
        self.console.echo(_style(text, colour, bold=r.outcome != "met")
                          + f" {r.spec}: {r.states:,} states, depth {r.depth}, {r.seconds:.2f} s{tail}")
        for inv in r.invariants:
            if self._shown(inv):
                self._property(r, inv)

    def _shown(self, inv: InvariantResult) -> bool:
        if self.verbosity > 0:
            return True
        return inv.expected != "skip" and (inv.verdict != "holds" or inv.outcome != "met")

    def _property(self, r: CheckResult, inv: InvariantResult) -> None:
        flag, colour = _FLAG[inv.outcome]
        expected = "skipped by the spec" if inv.expected == "skip" else f"expected {inv.expected}"
        verdict = "-" if inv.expected == "skip" else inv.text()
        note = f"  [{shorten(inv.note)}]" if inv.note and inv.expected != "skip" else ""
        line = f"   {flag} {inv.name:<26} {verdict} ({expected}){note}"
        self.console.echo(_style(line, colour) if inv.outcome != "met" else line)
        if inv.parametric:
            self.console.echo(f"        parametric: {inv.parametric}")
        if inv.method == "pdr" and inv.certificate:  # the inductive invariant PDR found: why it holds
            for cert in inv.certificate[:12]:
                self.console.echo(f"        | {shorten(cert, 100)}")
            if len(inv.certificate) > 12:
                self.console.echo(f"        | ... {len(inv.certificate) - 12} more (--json has all)")
        if inv.outcome == "contradicted" and inv.clause:
            self.console.echo(f"        why: {shorten(inv.clause, 160)}")
        if inv.outcome == "contradicted" and inv.trace is not None:
            itf = self.traces.get((r.spec, inv.name))
            if itf is not None:
                self.console.echo(f"        written to {itf}; replay with `{replay_command(itf, r.spec)}`")
            else:
                self.console.echo(f"        trace ({plural(inv.trace.depth, 'step')}; --out DIR writes it as ITF):")
                for ln in trace_lines(inv.trace):
                    self.console.echo("        " + ln)

    def summary(self, results: Sequence[CheckResult], seconds: float, *, deselected: int = 0,
                not_run: int = 0, wrote: Sequence[str] = ()) -> None:
        """Every unmet expectation, the totals, what was written and the verdict line."""
        unmet: dict[str, list[tuple[CheckResult, InvariantResult]]] = {"contradicted": [], "inconclusive": []}
        for r in results:
            for inv in r.invariants:
                if inv.outcome != "met":
                    unmet[inv.outcome].append((r, inv))
        for outcome, title in (("contradicted", "contradicted"), ("inconclusive", "undecided")):
            items = unmet[outcome]
            if not items:
                continue
            self.console.echo(_style(f"{title} ({len(items)}):", _FLAG[outcome][1], bold=True))
            for line in self._unmet_lines(items, group=outcome == "inconclusive"):
                self.console.echo(line)
        states = sum(r.states for r in results)
        trans = sum(r.transitions for r in results)
        depth = max((r.depth for r in results), default=0)
        self.console.echo(f"{states:,} states, {trans:,} transitions, depth {depth}, {seconds:.2f} s")
        for w in wrote:
            self.console.echo(w)
        outcome = worst(r.outcome for r in results)
        bad, open_ = len(unmet["contradicted"]), len(unmet["inconclusive"])
        text = {"met": "all expectations met",
                "contradicted": plural(bad, "expectation") + " contradicted"
                + (f", {open_} undecided" if open_ else ""),
                "inconclusive": f"nothing contradicted, {plural(open_, 'expectation')} undecided"}[outcome]
        extra = []
        if deselected:
            extra.append(f"{plural(deselected, 'property', 'properties')} deselected by -k")
        if not_run:
            extra.append(f"stopped at the first unmet expectation (-x): {plural(not_run, 'spec')} not run")
        line = f"{plural(len(results), 'spec')}: {text}" + "".join(f"; {e}" for e in extra)
        self.console.echo(_style(line, _MARK[outcome][1], bold=True))

    def _unmet_lines(self, items: Sequence[tuple[CheckResult, InvariantResult]], group: bool) -> list[str]:
        """``SPEC::PROPERTY: verdict, expected X``; with ``group``, many alike of one spec on one line.

        A bounded or random engine leaves most properties of a spec undecided
        in the same words: one line per spec and description, then, instead of
        twenty (``-v`` lists them under the spec).
        """
        groups: dict[tuple[str, str], list[str]] = {}
        for r, inv in items:
            groups.setdefault((r.spec, self._unmet_text(r, inv)), []).append(inv.name)
        out = []
        for (spec, text), names in groups.items():
            if group and len(names) >= _GROUP:
                out.append(f"  {spec}: {len(names)} properties: {text}")
            else:
                out.extend(f"  {spec}::{n}: {text}" for n in names)
        return out

    def _unmet_text(self, r: CheckResult, inv: InvariantResult) -> str:
        text = f"{inv.text()}, expected {inv.expected}"
        if inv.note and inv.verdict == "unknown":  # other verdicts' text already says what the note says
            text += f" [{shorten(inv.note, 70)}]"
        itf = self.traces.get((r.spec, inv.name))
        if itf is not None and inv.outcome == "contradicted":
            text += f"; trace {itf}"
        return text


def _style(text: str, colour: str | None, bold: bool = False) -> str:
    """ANSI colour; :class:`Console` strips it unless the output is a terminal (or ``--color always``)."""
    return click.style(text, fg=colour, bold=bold) if colour else text

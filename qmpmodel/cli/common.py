"""What every subcommand shares: the exit-status contract, bad input, output files, colour, traces.

Exit status of every gating command (``check``, ``conform``, ``report``,
``reach``, ``replay``; :data:`~qmpmodel.core.results.EXIT_CODES`):

==  =====================================================================
0   all met: every expectation is met
1   contradicted: a pinned expectation is contradicted
2   bad input: one line per mistake on standard error, nothing written
3   inconclusive: nothing contradicted, something undecided (a budget)
==  =====================================================================

:func:`exit_status_help` renders that table for ``--help`` (one text, so
the commands cannot drift apart). :func:`fail_input` prints bad input and
exits 2; :func:`write_output` writes a result file, or standard output for
``-``; :class:`Console` prints the human-readable text, in colour only on a
terminal (``--color``, ``NO_COLOR``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from qmpmodel.artefacts.files import write_atomic
from qmpmodel.artefacts.itf import replay_command
from qmpmodel.core.results import EXIT_CODES, Outcome, Trace
from qmpmodel.errors import InputError, flatten

__all__ = [
    "COLOR_OPTION",
    "Console",
    "check_stdout_once",
    "color_mode",
    "exit_status_help",
    "exit_with",
    "fail_input",
    "join_nonempty",
    "plural",
    "replay_command",
    "shorten",
    "trace_lines",
    "write_atomic",
    "write_output",
]

_EXIT_TABLE = f"""Exit status:

\b
  {EXIT_CODES["met"]}  all met: every expectation is met
  {EXIT_CODES["contradicted"]}  contradicted: a pinned expectation is contradicted
  {EXIT_CODES["bad input"]}  bad input: one line per mistake on standard error, nothing written
  {EXIT_CODES["inconclusive"]}  inconclusive: nothing contradicted, something undecided"""


def exit_status_help(expectation: str) -> str:
    """The shared exit-status table for a command's ``--help`` epilog, then what its expectation is."""
    return f"{_EXIT_TABLE}\n\n{expectation}"


def exit_with(outcome: Outcome) -> NoReturn:
    """Exit with the status of ``outcome`` (``met`` 0, ``contradicted`` 1, ``inconclusive`` 3)."""
    sys.exit(EXIT_CODES[outcome])


def fail_input(e: InputError) -> NoReturn:
    """Print each mistake as one line on standard error and exit 2."""
    for one in flatten([e]):
        click.echo(f"qmpmodel: {InputError.__str__(one)}", err=True)
    sys.exit(EXIT_CODES["bad input"])


def write_output(path: str, text: str) -> str:
    """Write a result document to ``path`` (``-``: standard output); returns what to call it.

    A file that cannot be written is bad input (:class:`InputError`).
    """
    if path == "-":
        click.echo(text, nl=False)
        return "standard output"
    try:
        write_atomic(path, text)
    except OSError as e:
        raise InputError(path, None, "a writable file", e.strerror or str(e)) from None
    return path


def check_stdout_once(**outputs: str | None) -> None:
    """At most one output may be ``-`` (standard output); otherwise bad input."""
    dashes = [f"--{k}" for k, v in outputs.items() if v == "-"]
    if len(dashes) > 1:
        raise InputError("<command line>", " and ".join(dashes), "at most one output on standard output ('-')")


def color_mode(choice: str) -> bool | None:
    """``--color``: always / never / auto (a terminal, and ``NO_COLOR`` unset or empty)."""
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return None  # click.echo decides: colour only on a terminal


COLOR_OPTION = click.option(
    "--color", "color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
    help="Colour the output: auto = on a terminal unless NO_COLOR is set.")


@dataclass(frozen=True)
class Console:
    """Human-readable output: to standard error when standard output carries a document (``--json -``)."""

    err: bool = False
    color: bool | None = None

    def echo(self, text: str = "", **style: Any) -> None:
        click.echo(click.style(text, **style) if style else text, err=self.err, color=self.color)


def _fmt(v: int | bool) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def trace_lines(tr: Trace) -> list[str]:
    """The short form of a trace: one line per step (actor, action, the QEMU function it models),
    and under it the variables it changed, their values decoded.

    A lasso says where its loop starts; a deadlock ends with its wait-for cycle.
    """
    out: list[str] = []
    prev = dict(tr.initial)
    for n, step in enumerate(tr.steps, 1):
        changed = "; ".join(f"{k}: {tr.show(k, v)}" for k, v in step.state.items() if prev.get(k) != v)
        mark = "↺" if tr.loop is not None and n == tr.loop + 1 else " "
        qemu = f"  [{step.qemu}]" if step.qemu else ""
        out.append(f"{mark}{n:>3}. {step.actor:<10} {step.label}{qemu}".rstrip())
        out.append(f"         {changed or '(no change)'}")
        prev = dict(step.state)
    if tr.loop is not None and tr.loop >= tr.depth:
        out.append(f"     ↺ the run can stay in state {tr.loop} forever")
    elif tr.loop is not None:  # the last state is states[loop] again (qmpmodel.artefacts.itf)
        out.append(f"     ↺ steps {tr.loop + 1}-{tr.depth} return to state {tr.loop}: the run can repeat them forever")
    if tr.cycle:
        out.append("     wait-for cycle: " + " → ".join([tr.cycle[0][0], *(b for _a, b, _r in tr.cycle)]))
        out.extend(f"       {a} waits for {b}: {why}" for a, b, why in tr.cycle)
    return out


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def join_nonempty(parts: Iterable[str], sep: str = ", ") -> str:
    return sep.join(p for p in parts if p)


def shorten(text: str, width: int = 90) -> str:
    """One line of at most ``width`` characters (the full text is in ``--json``)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."

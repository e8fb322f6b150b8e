"""``qmpmodel reach SPEC --goal EXPR``: can the model reach a state satisfying EXPR?

The goal syntax is documented in :mod:`qmpmodel.qemu.query`, and ``--help``
shows that module's documentation (:func:`goal_syntax_help`), so the two
cannot drift apart. With the default ``--engine smt`` the question is
answered by bounded model checking up to ``--depth`` steps (a shortest
witness, or "unreachable within K"); with ``--engine explicit`` by
breadth-first search (also a shortest witness; when the whole reachable
space is explored within the depth, "unreachable" holds for every depth).

Exit status (the shared table of :mod:`qmpmodel.cli.common`), against
``--expect`` (default ``reachable``): 0 met (a witness found, or with
``--expect unreachable`` every reachable state explored without one), 1
contradicted, 2 bad input (the spec, or the goal with the column of the
error), 3 inconclusive ("unreachable within K": a deeper witness may exist).
"""

from __future__ import annotations

import inspect
import re
from collections import deque

import click

from qmpmodel.cli.common import exit_status_help, exit_with, fail_input, trace_lines
from qmpmodel.core.model import Model, State, compile_predicate, compile_successors
from qmpmodel.core.results import EngineOptions, Trace
from qmpmodel.core.trace import trace_from_path
from qmpmodel.errors import InputError

__all__ = ["explicit_reach", "goal_syntax_help", "reach"]


def explicit_reach(model: Model, goal_pred: object, depth: int) -> tuple[list[int] | None, bool]:
    """Breadth-first search for the goal: (shortest action path or None, space exhausted)."""
    pred = goal_pred  # a compiled predicate
    succ = compile_successors(model)
    parent: dict[State, tuple[State | None, int]] = {model.init: (None, -1)}
    frontier: deque[tuple[State, int]] = deque([(model.init, 0)])
    exhausted = True
    while frontier:
        s, d = frontier.popleft()
        if pred(s):  # type: ignore[operator]
            path: list[int] = []
            cur: State | None = s
            while cur is not None:
                prev, a = parent[cur]
                if a >= 0:
                    path.append(a)
                cur = prev
            return path[::-1], False
        if d >= depth:
            if succ(s):
                exhausted = False
            continue
        for a, t in succ(s):
            if t not in parent:
                parent[t] = (s, a)
                frontier.append((t, d + 1))
    return None, exhausted


def goal_syntax_help() -> str:
    """The goal syntax for ``--help``: :mod:`qmpmodel.qemu.query`'s docstring as click help text."""
    from qmpmodel.qemu import query

    doc = inspect.cleandoc(query.__doc__ or "")
    doc = re.sub(r":\w+:`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], doc)
    doc = doc.replace("``", "")
    out = []
    for para in doc.split("\n\n")[1:]:  # the first paragraph is the module's summary
        lines = [ln for ln in para.splitlines() if not re.fullmatch(r"[= ]+", ln)]
        if not lines:
            continue
        if all(ln.startswith(" ") for ln in lines) or para.lstrip().startswith("="):
            out.append("\b\n" + "\n".join("  " + ln.strip() for ln in lines))  # keep as written
        else:
            out.append(" ".join(ln.strip() for ln in lines).replace("::", ":"))
    return "\n\n".join(out)


def _print_trace(tr: Trace) -> None:
    click.echo(f"reachable at depth {tr.depth}:")
    for line in trace_lines(tr):
        click.echo("  " + line)


@click.command("reach", help="Search for a state of SPEC's model satisfying the goal EXPR; print a shortest "
               "witness trace.\n\n" + goal_syntax_help(), epilog=exit_status_help(
                   "The expectation is --expect: the goal is reachable (default) or unreachable. 'Unreachable "
                   "within K steps' is inconclusive unless the explicit engine explored every reachable state."))
@click.argument("spec_path", metavar="SPEC")
@click.option("--goal", required=True, metavar="EXPR", help="Goal over the model's probes, e.g. \"mon[0].suspended and mon[0].queue_len == 0\" (syntax above).")
@click.option("--depth", type=click.IntRange(min=0), help="Maximum number of steps (default: the spec's, else 30).")
@click.option("--engine", type=click.Choice(["smt", "explicit"]), default="smt", show_default=True)
@click.option("--expect", type=click.Choice(["reachable", "unreachable"]), default="reachable", show_default=True,
              help="What the exit status checks.")
def reach(spec_path: str, goal: str, depth: int | None, engine: str, expect: str) -> None:
    from qmpmodel.check import prepare
    from qmpmodel.qemu.query import parse_goal
    from qmpmodel.specs import load_spec

    try:
        spec = load_spec(spec_path)
        prepared = prepare(spec)
        expr = parse_goal(goal, prepared.probes)
    except InputError as e:
        fail_input(e)
    k = depth if depth is not None else (spec.depth or EngineOptions().depth)
    model = prepared.model
    hit: Trace | None = None
    exhausted = False
    if engine == "smt":
        from qmpmodel.engines.smt import reach as smt_reach

        found = smt_reach(model, expr, k)
        hit = None if found is None else found.trace
    else:
        path, exhausted = explicit_reach(model, compile_predicate(expr), k)
        hit = None if path is None else trace_from_path(model, model.init, path)
    if hit is not None:
        _print_trace(hit)
        exit_with("met" if expect == "reachable" else "contradicted")
    if exhausted:
        click.echo("unreachable (every reachable state explored)")
        exit_with("met" if expect == "unreachable" else "contradicted")
    click.echo(f"unreachable within {k} steps (undecided: a longer path may reach it)")
    exit_with("inconclusive")

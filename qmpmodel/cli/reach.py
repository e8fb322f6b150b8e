"""``qmpmodel reach SPEC --goal EXPR``: can the model reach a state satisfying EXPR?

The goal syntax is documented in :mod:`qmpmodel.qemu.query`. With the default
``--engine smt`` the question is answered by bounded model checking up to
``--depth`` steps (a shortest witness, or "unreachable within K"); with
``--engine explicit`` by breadth-first search (also a shortest witness; when
the whole reachable space is explored within the depth, "unreachable" holds
for every depth).

Exit status: 0 reachable (the witness trace is printed, one step per line:
actor, action, the variables it changed), 1 unreachable, 2 bad input (the
spec, or the goal with the column of the error).
"""

from __future__ import annotations

import sys
from collections import deque

import click

from qmpmodel.core.model import Model, State, compile_predicate, compile_successors
from qmpmodel.core.results import EngineOptions, Trace
from qmpmodel.errors import InputError

__all__ = ["explicit_reach", "reach"]


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


def _print_trace(tr: Trace) -> None:
    prev = dict(tr.initial)
    click.echo(f"reachable at depth {tr.depth}:")
    for n, step in enumerate(tr.steps, 1):
        changed = " ".join(f"{k}={_fmt(v)}" for k, v in step.state.items() if prev.get(k) != v)
        click.echo(f"  {n:>3}. {step.actor:<10} {step.label:<48} {changed}")
        prev = dict(step.state)


def _fmt(v: int | bool) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


@click.command("reach")
@click.argument("spec_path", metavar="SPEC")
@click.option("--goal", required=True, metavar="EXPR", help="Goal over the model's probes, e.g. \"mon[0].suspended and mon[0].queue_len == 0\" (see --list).")
@click.option("--depth", type=click.IntRange(min=0), help="Maximum number of steps (default: the spec's, else 30).")
@click.option("--engine", type=click.Choice(["smt", "explicit"]), default="smt", show_default=True)
def reach(spec_path: str, goal: str, depth: int | None, engine: str) -> None:
    """Search for a state of SPEC's model satisfying EXPR; print a shortest witness trace."""
    from qmpmodel.check import prepare
    from qmpmodel.qemu.query import parse_goal
    from qmpmodel.specs import load_spec

    try:
        spec = load_spec(spec_path)
        prepared = prepare(spec)
        expr = parse_goal(goal, prepared.probes)
    except InputError as e:
        click.echo(f"qmpmodel: {e}", err=True)
        sys.exit(2)
    k = depth if depth is not None else (spec.depth or EngineOptions().depth)
    model = prepared.model
    if engine == "smt":
        from qmpmodel.engines.smt import reach as smt_reach

        hit = smt_reach(model, expr, k)
        if hit is None:
            click.echo(f"unreachable within {k}")
            sys.exit(1)
        _print_trace(hit.trace)
        sys.exit(0)
    from qmpmodel.engines.explicit import trace_from_path

    path, exhausted = explicit_reach(model, compile_predicate(expr), k)
    if path is None:
        click.echo("unreachable (every reachable state explored)" if exhausted else f"unreachable within {k}")
        sys.exit(1)
    _print_trace(trace_from_path(model, model.init, path))
    sys.exit(0)

"""Properties as random search checks them, replay of a violation, and distance to one.

A :class:`Property` is a compiled check ``holds(s, stuck)``. :func:`replay_violation`
replays a path with :func:`qmpmodel.core.trace.trace_from_path` (every guard
re-checked) and says whether its last state violates the property.

:func:`distance` steers the search (``hypothesis.target``): a *branch
distance* (search-based testing's measure) of a state to the property's bad
states, derived from the property's expression, not written per property:

* ``bad`` itself, and the one-step weakest precondition of ``bad``: for every
  action ``a`` that writes a variable ``bad`` reads, ``guard_a and
  bad[updates_a]`` (the states from which one ``a`` step violates the
  property). Most properties are observer flags (``~client0.x_order_all``),
  whose own distance is 0 or 1; their precondition (a reply is written while
  ``last_any >= i``) grades the states;
* for ``no-deadlock``, ``bad`` is "a wait-for cycle, or pending work and no
  weakly fair action enabled": the more fair actions are enabled, the farther.

Distances of the connectives: ``and`` adds, ``or`` takes the minimum,
``x == c`` is ``|x - c|``, ``x < c`` is ``max(0, x - c + 1)``, a boolean is
0 or 1, negation pushed to the leaves. The distance is 0 exactly on bad
states (of ``bad``) or on states with an enabled action leading to one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from qmpmodel.core.expr import Expr, all_of, any_of, ite, to_python, variables_of
from qmpmodel.core.model import Model, State, compile_predicate
from qmpmodel.core.results import Trace
from qmpmodel.core.task import CheckTask
from qmpmodel.core.task import Property as TaskProperty
from qmpmodel.core.trace import trace_from_path

#: Largest number of one-step preconditions :func:`compile_distance` includes.
MAX_PRECONDITIONS = 64

__all__ = ["MAX_PRECONDITIONS", "Property", "bad_expr", "compile_distance", "compile_properties", "confirm_with_explicit",
           "replay_violation", "substitute"]


@dataclass(frozen=True)
class Property:
    """A checkable property: ``holds(s, stuck)`` is false on a violating state.

    ``stuck`` says that QEMU can do nothing in ``s``: no weakly fair action
    (``Action.fair``) is enabled, only clients could still act. ``no-deadlock``
    is violated by pending work in a stuck state, as in the explicit engine.
    ``bad`` is the violation as an expression (stuck spelt out as "no fair
    guard holds"), for :func:`compile_distance`.
    """

    name: str
    kind: str
    holds: Callable[[State, bool], bool]
    bad: Expr | None = None


def bad_expr(model: Model, inv: TaskProperty) -> Expr:
    """The states violating ``inv`` as one expression (state and deadlock kinds)."""
    if inv.kind == "deadlock":
        stuck = all_of(~a.guard for a in model.actions if a.fair)
        return ~inv.expr | (model.pending & stuck)
    return ~inv.expr


def compile_properties(model: Model, invariants: Iterable[TaskProperty]) -> tuple[Property, ...]:
    """Compile the state and deadlock properties among ``invariants`` (liveness is left out)."""
    out: list[Property] = []
    pending = compile_predicate(model.pending)
    for inv in invariants:
        if inv.kind == "liveness":
            continue
        pred = compile_predicate(inv.expr)
        check = _deadlock_check(pred, pending) if inv.kind == "deadlock" else _state_check(pred)
        out.append(Property(inv.name, inv.kind, check, bad_expr(model, inv)))
    return tuple(out)


def _state_check(pred: Callable[[State], bool]) -> Callable[[State, bool], bool]:
    return lambda s, _terminal: pred(s)


def _deadlock_check(pred: Callable[[State], bool], pending: Callable[[State], bool]) -> Callable[[State, bool], bool]:
    return lambda s, stuck: pred(s) and not (stuck and pending(s))


def replay_violation(model: Model, prop: Property, path: Sequence[int]) -> Trace | None:
    """Replay ``path`` from the initial state (guards re-checked); the trace if its last state violates ``prop``.

    A disabled step raises :class:`ValueError` (:func:`qmpmodel.core.trace.trace_from_path`).
    """
    trace = trace_from_path(model, model.init, path)
    s = model.init
    for i in path:
        s = model.actions[i].apply(s)
    stuck = not any(a.fair and a.enabled(s) for a in model.actions)
    return None if prop.holds(s, stuck) else trace


def confirm_with_explicit(task: CheckTask, name: str, trace: Trace) -> int:
    """Check a counterexample against the explicit engine; return the shortest depth.

    ``trace`` must replay (every guard re-checked) to a state violating
    ``name``, and the exhaustive engine must find ``name`` violated too, at a
    depth no greater than ``len(trace)`` (breadth first: its trace is a
    shortest one). An :class:`AssertionError` says which part disagrees.
    """
    from qmpmodel.engines.explicit import check_explicit

    inv = task.property(name)
    (prop,) = compile_properties(task.model, [inv])
    path = [st_.index for st_ in trace.steps]
    if replay_violation(task.model, prop, path) is None:
        raise AssertionError(f"the trace does not replay to a violation of {name!r}")
    res = check_explicit(task.model, [(inv, "violated")])
    (verdict,) = res.invariants
    if verdict.verdict != "violated" or verdict.depth is None:
        raise AssertionError(f"the explicit engine says {name!r} is {verdict.verdict}")
    if verdict.depth > len(path):
        raise AssertionError(f"explicit shortest depth {verdict.depth} exceeds the trace's {len(path)}")
    return verdict.depth


# -- substitution and distance ---------------------------------------------------------


def substitute(e: Expr, upd: dict[int, Expr]) -> Expr:
    """``e`` with each variable of index ``k`` in ``upd`` replaced by ``upd[k]`` (the next-state view)."""
    memo: dict[int, Expr] = {}

    def tr(x: Expr) -> Expr:
        hit = memo.get(id(x))
        if hit is not None:
            return hit
        op = x.op
        if op == "var":
            out = upd.get(int(x.args[0]), x)  # type: ignore[call-overload]
        elif op == "const":
            out = x
        else:
            a = [tr(c) for c in x.args]  # type: ignore[arg-type]
            if op == "and":
                out = all_of(a)
            elif op == "or":
                out = any_of(a)
            elif op == "not":
                out = ~a[0]
            elif op == "ite":
                out = ite(a[0], a[1], a[2])
            elif op == "+":
                out = a[0] + a[1]
            elif op == "-":
                out = a[0] - a[1]
            elif op == "==":
                out = a[0] == a[1]
            elif op == "!=":
                out = a[0] != a[1]
            elif op == "<":
                out = a[0] < a[1]
            else:
                out = a[0] <= a[1]
        memo[id(x)] = out
        return out

    return tr(e)


def _dist(e: Expr, want: bool) -> str:
    """Python source of the branch distance of ``e`` to the value ``want`` (0 when it has it)."""
    op = e.op
    a = e.args
    if op == "const":
        return "0" if bool(a[0]) == want else "1"
    if op == "var":
        return f"(0 if {'' if want else 'not '}s[{a[0]}] else 1)"
    if op == "not":
        return _dist(a[0], not want)  # type: ignore[arg-type]
    if op in ("and", "or"):
        parts = [_dist(x, want) for x in a]  # type: ignore[arg-type]
        if (op == "and") == want:
            return "(" + " + ".join(parts) + ")"
        return "min(" + ", ".join(parts) + ")"
    if op == "ite":
        c, t, f = a
        return (f"min({_dist(c, True)} + {_dist(t, want)}, "  # type: ignore[arg-type]
                f"{_dist(c, False)} + {_dist(f, want)})")  # type: ignore[arg-type]
    x, y = (to_python(v) for v in a)  # type: ignore[arg-type]
    first = a[0]
    assert isinstance(first, Expr)
    if first.sort == "bool":
        same = f"(bool({x}) == bool({y}))"
        eq = op == "=="
        return f"(0 if {same} == {eq == want} else 1)"
    if op == "==":
        return f"abs({x} - {y})" if want else f"(0 if {x} != {y} else 1)"
    if op == "!=":
        return f"(0 if {x} != {y} else 1)" if want else f"abs({x} - {y})"
    if op == "<":
        return f"max(0, {x} - {y} + 1)" if want else f"max(0, {y} - {x})"
    if op == "<=":
        return f"max(0, {x} - {y})" if want else f"max(0, {y} - {x} + 1)"
    raise ValueError(f"no distance for operator {op!r}")


def compile_distance(model: Model, bad: Expr) -> Callable[[State], int]:
    """``dist(s)``: 0 on a state in ``bad`` or one step before one, growing with the distance.

    ``min(4 * d(bad), 1 + d(wp))`` where ``wp`` is the one-step weakest
    precondition over the actions writing a variable ``bad`` reads (see the
    module docstring).
    """
    reads = variables_of(bad)
    pre: list[Expr] = []
    for a in model.actions:
        upd = {v.index: e for v, e in a.updates}
        if reads & set(upd):
            pre.append(a.guard & substitute(bad, upd))
    # a precondition over most of the model (the stuck test of no-deadlock reads nearly every
    # variable) costs more per step than it steers: the distance of ``bad`` alone is graded there
    # (one unit per enabled fair action)
    use_wp = 0 < len(pre) <= MAX_PRECONDITIONS
    wp = any_of(pre)
    body = f"min(4 * {_dist(bad, True)}, 1 + {_dist(wp, True)})" if use_wp else f"4 * {_dist(bad, True)}"
    env: dict[str, object] = {}
    exec(compile(f"def dist(s):\n    return {body}\n", "<qmpmodel distance>", "exec"), env)
    return env["dist"]  # type: ignore[return-value]


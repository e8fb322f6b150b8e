"""Promela for a model and its properties (pure: a task in, text out).

The model becomes one process whose single control state is a ``do`` loop with
one option per action, each an atomic ``d_step { guard -> updates }`` over the
same expression trees every engine reads. Updates are simultaneous: a target
that another update of the same action reads is first computed into a
process-local temporary (reset to 0 afterwards, so it never tells states
apart). The loop head carries an ``end`` label: a state where nothing is
enabled is a valid end state, as in the other engines (``deadlock`` is judged
by the properties below).

Properties are extra loop options that can only fire in a violating state and
lead back to it, so they add no state, and they see every state, the initial
one included:

* a ``state`` property ``P`` (and the wait-cycle half of ``deadlock``):
  ``:: d_step { !(P) && first(k) -> mark(k); assert(0 == MARK + k) }``;
* the stuck half of ``deadlock``: ``Model.pending`` and no weakly fair action's
  guard holds;
* ``liveness`` is not exported (SPIN's weak fairness is per process, and this
  model has one): the spin engine reports it ``unknown``.

``first(k)``/``mark(k)`` are embedded C over a table outside the state vector
(``c_decl``), so each property is reported once, at its first (with ``-DBFS``:
minimal) depth. The assertion text ``(0==1000+k)`` names property ``k``.

Under ``-DNOREDUCE`` the stored states are exactly the model's reachable
states, so SPIN's count must equal the explicit engine's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qmpmodel.core.expr import Expr, any_of, variables_of
from qmpmodel.core.model import Action, Model
from qmpmodel.core.task import CheckTask
from qmpmodel.errors import ModelDefinitionError

__all__ = ["MARK", "Export", "export", "promela_expr"]

#: Assertion ``(0==MARK+k)`` reports property ``k``.
MARK = 1000

_KEYWORDS = frozenset(["active", "assert", "atomic", "bit", "bool", "break", "byte", "chan", "d_step", "D_proctype", "do", "else", "empty", "enabled", "eval", "fi", "full", "goto", "hidden", "if", "init", "inline", "int", "len", "mtype", "nempty", "never", "nfull", "od", "of", "pc_value", "printf", "priority", "proctype", "provided", "run", "short", "skip", "timeout", "typedef", "unless", "unsigned", "xr", "xs", "true", "false"])


def _name(raw: str) -> str:
    n = re.sub(r"[^A-Za-z0-9_]", "_", raw)
    if not n or not (n[0].isalpha() or n[0] == "_"):
        n = "v_" + n
    return n + "_" if n in _KEYWORDS else n


def promela_expr(e: Expr, names: Sequence[str]) -> str:
    """Promela text for ``e``; ``names[i]`` is variable ``i``'s identifier."""
    op = e.op
    if op == "var":
        return names[int(e.args[0])]  # type: ignore[call-overload]
    if op == "const":
        v = int(e.args[0])  # type: ignore[call-overload]
        if e.sort == "bool":
            return "true" if v else "false"
        return str(v) if v >= 0 else f"(-{-v})"
    a = [promela_expr(x, names) for x in e.args]  # type: ignore[arg-type]
    if op in ("+", "-", "==", "!=", "<", "<="):
        return f"({a[0]} {op} {a[1]})"
    if op == "and":
        return "(" + " && ".join(a) + ")"
    if op == "or":
        return "(" + " || ".join(a) + ")"
    if op == "not":
        return f"(!{a[0]})"
    if op == "ite":
        return f"({a[0]} -> {a[1]} : {a[2]})"
    raise ModelDefinitionError(f"unknown expression operator {op!r}")


def _type(lo: int, hi: int) -> str:
    if lo >= 0 and hi <= 1:
        return "bit"
    if lo >= 0 and hi <= 255:
        return "byte"
    if lo >= -(2**15) and hi < 2**15:
        return "short"
    return "int"


@dataclass(frozen=True)
class Export:
    """The Promela text, and the property name behind each mark ``k``."""

    text: str
    marks: tuple[str, ...]
    #: Properties not exported (liveness), by name.
    skipped: tuple[str, ...]


def _action(a: Action, names: Sequence[str], temps: dict[int, str]) -> str:
    """``d_step { guard -> updates }`` with simultaneous assignment."""
    targets = {v.index for v, _e in a.updates}
    read = set().union(*(variables_of(e) for _v, e in a.updates)) if a.updates else set()
    via_temp = [(v, e) for v, e in a.updates if v.index in read]
    direct = [(v, e) for v, e in a.updates if v.index not in read]
    body = []
    for v, e in via_temp:
        body.append(f"{temps[v.index]} = {promela_expr(e, names)}")
    # a direct target is read by no update: its value can change now
    for v, e in direct:
        body.append(f"{names[v.index]} = {promela_expr(e, names)}")
    for v, _e in via_temp:
        body.append(f"{names[v.index]} = {temps[v.index]}")
    for v, _e in via_temp:
        body.append(f"{temps[v.index]} = 0")
    assert targets >= {v.index for v, _e in via_temp}
    stmts = "; ".join(body) if body else "skip"
    return f"    :: d_step {{ {promela_expr(a.guard, names)} -> {stmts} }}  /* {a.label} */"


def export(task: CheckTask, title: str = "") -> Export:
    """Promela for the task's model and its pinned (not skipped) properties."""
    model: Model = task.model
    names = [_name(v.name) for v in model.layout.vars]
    if len(set(names)) != len(names):
        raise ModelDefinitionError("two state variables map to one Promela identifier")
    marks: list[str] = []
    checks: list[str] = []
    skipped: list[str] = []
    for p, exp in task.obligations:
        if exp == "skip":
            continue
        if p.kind == "liveness":
            skipped.append(p.name)
            continue
        k = len(marks)
        marks.append(p.name)
        bad = [f"(!{promela_expr(p.expr, names)})"]
        if p.kind == "deadlock":
            fair = any_of(a.guard for a in model.actions if a.fair)
            bad.append(f"({promela_expr(model.pending, names)} && !{promela_expr(fair, names)})")
        for b in bad:
            checks.append(f"    :: d_step {{ {b} && c_expr {{ !qm_seen[{k}] }} -> "
                          f"c_code {{ qm_seen[{k}] = 1; }}; assert(0 == {MARK + k}) }}  /* {p.name} */")
    read = set()
    for a in model.actions:
        read |= set().union(*(variables_of(e) for _v, e in a.updates)) if a.updates else set()
    temps = {i: f"t{i}" for i in sorted(read)}
    lines = [f"/* {title} */" if title else "/* generated by qmpmodel */",
             "/* one process; each action one d_step; properties as assertions (see qmpmodel.engines.spin) */",
             f"c_decl {{ int qm_seen[{max(1, len(marks))}]; }}"]
    for v, x in zip(model.layout.vars, model.init, strict=True):
        lines.append(f"{_type(v.lo, v.hi)} {names[v.index]} = {x};  /* {v.name} {v.lo}..{v.hi} */")
    lines.append("active proctype qemu() {")
    for i in sorted(temps):
        v = model.layout.vars[i]
        lines.append(f"    {_type(min(v.lo, 0), max(v.hi, 0))} {temps[i]};")
    lines.append("end:")
    lines.append("    do")
    lines.extend(checks)
    lines.extend(_action(a, names, temps) for a in model.actions)
    lines.append("    od")
    lines.append("}")
    return Export("\n".join(lines) + "\n", tuple(marks), tuple(skipped))

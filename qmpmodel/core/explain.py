"""Why a property is false in a state: the clause that fails, and the values that make it fail.

A property is usually a conjunction over monitors, clients and requests; a
counterexample is easier to read when it names the conjunct that failed
(``client1.x_foreign_reply is true``) than the whole formula.
:func:`failing_clause` descends through ``and``/``or``/``not`` to the smallest
sub-formula that decides the verdict and renders it with the values of its
variables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from qmpmodel.core.expr import Expr, Var, evaluate, variables_of

__all__ = ["failing_clause", "to_text"]

_BIN = {"+": "+", "-": "-", "==": "==", "!=": "!=", "<": "<", "<=": "<="}


def to_text(e: Expr, vars_: Sequence[Var]) -> str:
    """``e`` with variable names, as a person writes it."""
    op = e.op
    if op == "var":
        return vars_[cast(int, e.args[0])].name
    if op == "const":
        v = e.args[0]
        return ("true" if v else "false") if isinstance(v, bool) else str(v)
    a = [x for x in e.args if isinstance(x, Expr)]
    if op in _BIN:
        return f"{_side(a[0], a[1], vars_)} {_BIN[op]} {_side(a[1], a[0], vars_)}"
    if op in ("and", "or"):
        return "(" + f" {op} ".join(to_text(x, vars_) for x in a) + ")"
    if op == "not":
        return f"not {to_text(a[0], vars_)}"
    if op == "ite":
        return f"({to_text(a[1], vars_)} if {to_text(a[0], vars_)} else {to_text(a[2], vars_)})"
    return op


def _side(x: Expr, other: Expr, vars_: Sequence[Var]) -> str:
    """A constant compared with a labelled variable is shown by its label."""
    if x.op == "const" and other.op == "var":
        labels = vars_[cast(int, other.args[0])].labels
        label = labels.get(int(cast(int, x.args[0])))
        if label:
            return f"{x.args[0]} ({label})"
    return to_text(x, vars_)


def _why(e: Expr, s: Sequence[int], want: bool) -> tuple[Expr, bool]:
    """The sub-formula of ``e`` that makes it evaluate to ``want`` in ``s`` (and its value)."""
    if e.op == "not":
        (x,) = e.args
        assert isinstance(x, Expr)
        return _why(x, s, not want)
    if e.op == "and" and not want:
        child = next(c for c in e.args if isinstance(c, Expr) and not evaluate(c, s))
        return _why(child, s, False)
    if e.op == "or" and want:
        child = next(c for c in e.args if isinstance(c, Expr) and evaluate(c, s))
        return _why(child, s, True)
    return e, want


def failing_clause(prop: Expr, s: Sequence[int], vars_: Sequence[Var]) -> str:
    """Why ``prop`` is false in ``s``: ``"<clause> is <true|false>, where x = ..."`` ("" if it holds)."""
    if evaluate(prop, s):
        return ""
    clause, value = _why(prop, s, False)
    names = sorted(variables_of(clause))
    where = ", ".join(f"{vars_[k].name} = {vars_[k].show(s[k])}" for k in names[:6])
    more = f" (and {len(names) - 6} more)" if len(names) > 6 else ""
    text = to_text(clause, vars_)
    if clause.op == "var":
        var = vars_[cast(int, clause.args[0])]
        label = var.labels.get(int(value)) if var.sort == "bool" else None
        return f"{label} ({text} is {'true' if value else 'false'})" if label else \
            f"{text} is {'true' if value else 'false'}"
    return f"{text} is {'true' if value else 'false'}" + (f", where {where}{more}" if where else "")

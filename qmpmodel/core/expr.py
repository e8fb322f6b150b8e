"""Typed expressions over the model's state variables.

The dispatcher model is written once, with guards and updates built from these
expressions. Every engine consumes the same trees:

* :func:`to_python` renders an expression as Python source over a state tuple
  ``s`` (the explicit engine compiles every action into one function);
* :func:`evaluate` evaluates it directly on a state tuple (tests, replay);
* :mod:`qmpmodel.engines.smt` translates it into z3 terms.

Python's ``and``/``or``/``not``/``if`` cannot be overloaded, so they are
forbidden on expressions (``__bool__`` raises): use ``&``, ``|``, ``~`` and
:func:`ite`. Comparison operators build expressions, as in z3.

>>> from qmpmodel.core.expr import StateLayout
>>> lay = StateLayout()
>>> x = lay.int("x", 0, 8)
>>> b = lay.bool("b")
>>> e = (x + 1 < 8) & ~b
>>> to_python(e)
'((s[0] + 1) < 8 and not s[1])'
>>> evaluate(e, (3, 0))
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union, cast

from qmpmodel.errors import ModelDefinitionError

__all__ = [
    "FALSE",
    "TRUE",
    "Expr",
    "StateLayout",
    "Var",
    "all_of",
    "any_of",
    "as_expr",
    "evaluate",
    "interval",
    "ite",
    "lit",
    "select",
    "to_python",
    "variables_of",
]

Operand = Union["Expr", int, bool]


class Expr:
    """An immutable expression node. ``sort`` is ``"int"`` or ``"bool"``."""

    __slots__ = ("args", "op", "sort")

    def __init__(self, op: str, sort: str, args: tuple[object, ...]) -> None:
        self.op = op
        self.sort = sort
        self.args = args

    # identity semantics: == builds an expression, so hashing must not use it
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise ModelDefinitionError(
            "a model expression was used as a Python truth value; "
            "use & | ~ and ite() instead of and/or/not/if"
        )

    def __repr__(self) -> str:
        return f"Expr({to_python(self)})"

    # arithmetic -----------------------------------------------------------------
    def __add__(self, o: Operand) -> Expr:
        return _arith("+", self, o)

    def __radd__(self, o: Operand) -> Expr:
        return _arith("+", as_expr(o), self)

    def __sub__(self, o: Operand) -> Expr:
        return _arith("-", self, o)

    def __rsub__(self, o: Operand) -> Expr:
        return _arith("-", as_expr(o), self)

    # comparisons ----------------------------------------------------------------
    def __eq__(self, o: object) -> Expr:  # type: ignore[override]
        return _cmp("==", self, o)

    def __ne__(self, o: object) -> Expr:  # type: ignore[override]
        return _cmp("!=", self, o)

    def __lt__(self, o: Operand) -> Expr:
        return _cmp("<", self, o)

    def __le__(self, o: Operand) -> Expr:
        return _cmp("<=", self, o)

    def __gt__(self, o: Operand) -> Expr:
        return _cmp("<", as_expr(o), self)

    def __ge__(self, o: Operand) -> Expr:
        return _cmp("<=", as_expr(o), self)

    # boolean connectives --------------------------------------------------------
    def __and__(self, o: Operand) -> Expr:
        return all_of([self, as_expr(o)])

    def __rand__(self, o: Operand) -> Expr:
        return all_of([as_expr(o), self])

    def __or__(self, o: Operand) -> Expr:
        return any_of([self, as_expr(o)])

    def __ror__(self, o: Operand) -> Expr:
        return any_of([as_expr(o), self])

    def __invert__(self) -> Expr:
        _need(self, "bool", "~")
        if self.op == "const":
            return lit(not self.args[0])
        if self.op == "not":
            return self.args[0]  # type: ignore[return-value]
        return Expr("not", "bool", (self,))


class Var(Expr):
    """A state variable: slot ``index`` of the state tuple, with a finite range."""

    __slots__ = ("hi", "index", "labels", "lo", "name")

    def __init__(self, name: str, index: int, sort: str, lo: int, hi: int,
                 labels: Mapping[int, str] | None = None) -> None:
        super().__init__("var", sort, (index,))
        self.name = name
        self.index = index
        self.lo = lo
        self.hi = hi
        #: what each value means, for people (``{1: "iohandler_ctx"}``); rendering only
        self.labels: Mapping[int, str] = labels or {}

    def show(self, value: int | bool) -> str:
        """``value`` as a person reads it: its label (and the number), or true/false."""
        label = self.labels.get(int(value))
        if self.sort == "bool":
            text = "true" if value else "false"
            return f"{label} ({text})" if label else text
        return f"{label} ({int(value)})" if label else str(int(value))

    def __repr__(self) -> str:
        return f"Var({self.name})"


@dataclass
class StateLayout:
    """Allocates state variables in a fixed, deterministic order."""

    vars: list[Var] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)

    def _add(self, name: str, sort: str, lo: int, hi: int) -> Var:
        if name in self._names:
            raise ModelDefinitionError(f"state variable {name!r} declared twice")
        if lo > hi:
            raise ModelDefinitionError(f"state variable {name!r}: empty range {lo}..{hi}")
        v = Var(name, len(self.vars), sort, lo, hi)
        self.vars.append(v)
        self._names.add(name)
        return v

    def int(self, name: str, lo: int, hi: int, labels: Mapping[int, str] | None = None) -> Var:
        v = self._add(name, "int", lo, hi)
        if labels:
            v.labels = labels
        return v

    def bool(self, name: str) -> Var:
        return self._add(name, "bool", 0, 1)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.vars)


TRUE = Expr("const", "bool", (True,))
FALSE = Expr("const", "bool", (False,))


def lit(value: int | bool) -> Expr:
    """A constant (``bool`` before ``int``: ``True`` is an ``int`` in Python)."""
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if isinstance(value, int):
        return Expr("const", "int", (int(value),))  # int(): an IntEnum member renders as its value
    raise ModelDefinitionError(f"cannot make a model constant of {value!r}")


def as_expr(x: object) -> Expr:
    return x if isinstance(x, Expr) else lit(x)  # type: ignore[arg-type]


def _need(e: Expr, sort: str, op: str) -> None:
    if e.sort != sort:
        raise ModelDefinitionError(f"operator {op!r} needs a {sort} operand (got {e.sort}: {e!r})")


def _arith(op: str, a: Operand, b: Operand) -> Expr:
    a, b = as_expr(a), as_expr(b)
    _need(a, "int", op)
    _need(b, "int", op)
    if a.op == "const" and b.op == "const":
        x, y = a.args[0], b.args[0]
        return lit(x + y if op == "+" else x - y)  # type: ignore[operator]
    if b.op == "const" and b.args[0] == 0:
        return a
    return Expr(op, "int", (a, b))


def _cmp(op: str, a: Operand, b: object) -> Expr:
    a, b2 = as_expr(a), as_expr(b)
    if a.sort != b2.sort:
        raise ModelDefinitionError(f"cannot compare {a.sort} with {b2.sort}: {a!r} {op} {b2!r}")
    if op in ("<", "<=") and a.sort != "int":
        raise ModelDefinitionError(f"operator {op!r} needs int operands")
    if a.op == "const" and b2.op == "const":
        x, y = a.args[0], b2.args[0]
        table = {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y}  # type: ignore[operator]
        return lit(bool(table[op]))
    return Expr(op, "bool", (a, b2))


def all_of(items: Iterable[Operand]) -> Expr:
    """Conjunction, flattened, with constants folded (empty: true)."""
    out: list[Expr] = []
    for it in items:
        e = as_expr(it)
        _need(e, "bool", "&")
        if e.op == "const":
            if not e.args[0]:
                return FALSE
            continue
        out.extend(e.args if e.op == "and" else (e,))  # type: ignore[arg-type]
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else Expr("and", "bool", tuple(out))


def any_of(items: Iterable[Operand]) -> Expr:
    """Disjunction, flattened, with constants folded (empty: false)."""
    out: list[Expr] = []
    for it in items:
        e = as_expr(it)
        _need(e, "bool", "|")
        if e.op == "const":
            if e.args[0]:
                return TRUE
            continue
        out.extend(e.args if e.op == "or" else (e,))  # type: ignore[arg-type]
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else Expr("or", "bool", tuple(out))


def ite(cond: Operand, then: Operand, other: Operand) -> Expr:
    """``then`` if ``cond`` else ``other`` (both branches of one sort)."""
    c, t, o = as_expr(cond), as_expr(then), as_expr(other)
    _need(c, "bool", "ite")
    if t.sort != o.sort:
        raise ModelDefinitionError(f"ite branches differ in sort: {t!r} / {o!r}")
    if c.op == "const":
        return t if c.args[0] else o
    if t is o:
        return t
    return Expr("ite", t.sort, (c, t, o))


def select(table: Sequence[Operand], index: Operand, base: int = 0) -> Expr:
    """``table[index - base]``: an array read with a state-dependent index.

    Out-of-range indices read the last entry (the model only indexes within
    range; the guard that makes the read meaningful is the caller's).
    """
    idx = as_expr(index)
    _need(idx, "int", "select")
    cells = [as_expr(t) for t in table]
    if not cells:
        raise ModelDefinitionError("select() from an empty table")
    if idx.op == "const":
        k = int(cast(int, idx.args[0])) - base
        return cells[min(max(k, 0), len(cells) - 1)]
    out = cells[-1]
    for k in range(len(cells) - 2, -1, -1):
        out = ite(idx == k + base, cells[k], out)
    return out


# -- rendering and evaluation ----------------------------------------------------

_PY_BIN = {"+": "+", "-": "-", "==": "==", "!=": "!=", "<": "<", "<=": "<="}


def to_python(e: Expr, state: str = "s") -> str:
    """Python source for ``e`` over the state tuple named ``state``."""
    op = e.op
    if op == "var":
        return f"{state}[{e.args[0]}]"
    if op == "const":
        v = e.args[0]
        return ("True" if v else "False") if isinstance(v, bool) else str(v)
    if op in _PY_BIN:
        a, b = e.args
        return f"({to_python(a, state)} {_PY_BIN[op]} {to_python(b, state)})"  # type: ignore[arg-type]
    if op == "and":
        return "(" + " and ".join(to_python(a, state) for a in e.args) + ")"  # type: ignore[arg-type]
    if op == "or":
        return "(" + " or ".join(to_python(a, state) for a in e.args) + ")"  # type: ignore[arg-type]
    if op == "not":
        return f"not {to_python(e.args[0], state)}"  # type: ignore[arg-type]
    if op == "ite":
        c, t, o = e.args
        return f"({to_python(t, state)} if {to_python(c, state)} else {to_python(o, state)})"  # type: ignore[arg-type]
    raise ModelDefinitionError(f"unknown expression operator {op!r}")


def evaluate(e: Expr, s: Sequence[int]) -> int | bool:
    """Evaluate ``e`` on a concrete state tuple (slow path: tests and replay)."""
    op = e.op
    if op == "var":
        return s[cast(int, e.args[0])]
    if op == "const":
        return e.args[0]  # type: ignore[return-value]
    a = e.args
    if op == "and":
        return all(evaluate(x, s) for x in a)  # type: ignore[arg-type]
    if op == "or":
        return any(evaluate(x, s) for x in a)  # type: ignore[arg-type]
    if op == "not":
        return not evaluate(a[0], s)  # type: ignore[arg-type]
    if op == "ite":
        return evaluate(a[1], s) if evaluate(a[0], s) else evaluate(a[2], s)  # type: ignore[arg-type]
    x, y = evaluate(a[0], s), evaluate(a[1], s)  # type: ignore[arg-type]
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "==":
        return x == y
    if op == "!=":
        return x != y
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    raise ModelDefinitionError(f"unknown expression operator {op!r}")


def interval(e: Expr, ranges: Sequence[tuple[int, int]],
             memo: dict[int, tuple[int, int]] | None = None) -> tuple[int, int]:
    """Bounds of an integer (or boolean: 0..1) expression when every variable is within its range.

    ``ranges[k]`` is variable k's declared ``(lo, hi)``. Sound, not tight: an
    ``ite`` takes the hull of both branches. ``memo`` may be shared across
    calls over one model (keyed by node identity: keep the nodes alive).
    """
    memo = {} if memo is None else memo

    def go(x: Expr) -> tuple[int, int]:
        hit = memo.get(id(x))
        if hit is not None:
            return hit
        op = x.op
        if op == "var":
            out = ranges[cast(int, x.args[0])]
        elif op == "const":
            out = (int(cast(int, x.args[0])), int(cast(int, x.args[0])))
        elif op == "ite":
            a, b = go(x.args[1]), go(x.args[2])  # type: ignore[arg-type]
            out = (min(a[0], b[0]), max(a[1], b[1]))
        elif x.sort == "bool":
            out = (0, 1)
        elif op in ("+", "-"):
            a, b = go(x.args[0]), go(x.args[1])  # type: ignore[arg-type]
            out = (a[0] + b[0], a[1] + b[1]) if op == "+" else (a[0] - b[1], a[1] - b[0])
        else:
            raise ModelDefinitionError(f"not an integer expression: {op!r}")
        memo[id(x)] = out
        return out

    return go(e)


def variables_of(e: Expr) -> set[int]:
    """Indices of the state variables ``e`` reads."""
    out: set[int] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if x.op == "var":
            out.add(x.args[0])  # type: ignore[arg-type]
        elif x.op != "const":
            stack.extend(x.args)  # type: ignore[arg-type]
    return out

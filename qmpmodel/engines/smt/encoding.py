"""Translation of the model's expression trees into z3 terms, and unrollings.

The model is not re-described here: every guard, update, invariant predicate,
``Model.pending`` and wait-for edge is an :class:`~qmpmodel.core.expr.Expr` tree,
and this module only translates those trees. A state at step ``j`` is one z3
constant per state variable.

Encodings (measured; see ``benchmarks/smt_bugs.py``):

* bounded checking uses ``Bool`` for sort ``bool`` and a two's-complement
  bit-vector for sort ``int``, wide enough for every subexpression on states
  within the declared ranges (:func:`bit_width`), solved by z3's incremental
  finite-domain (SAT) solver. The same queries over ``Int`` (QF_LIA) were
  80x slower on ``specs/tiny.toml`` at depth 20 (274 s against 3.5 s);
* the induction step and PDR use unbounded ``Int`` (QF_LIA), so they assume
  nothing about variable ranges (the Python semantics of
  :func:`~qmpmodel.core.expr.evaluate`);
* :func:`to_z3` is the plain ``Int``/``Bool`` translation, for callers that
  build their own queries.

Terms are produced by rendering the trees as SMT-LIB text once per model
(:class:`Encoding`), parsed by z3 into templates over placeholder constants,
and instantiated per step with ``z3.substitute`` (z3's Python constructors
cost about a second per step for a model of 300 actions).

Transition encoding (step ``j`` to ``j + 1``), with ``sel_j`` the action
selector in ``0 .. len(actions) - 1``::

    sel_j == a  ->  guard_a(s_j)                               for every action a
    s_{j+1}[v] == ite(sel_j == a1, upd_a1(s_j), ite(sel_j == a2, ..., s_j[v]))
                                                               for every variable v

The second line groups the frame conditions per variable: only the actions
that assign ``v`` appear in its chain, every other action leaves it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import z3

from qmpmodel.core.expr import Expr, interval
from qmpmodel.core.model import Model, State
from qmpmodel.errors import ModelDefinitionError

__all__ = ["Encoding", "Unrolling", "bit_width", "to_z3"]

# -- translation ---------------------------------------------------------------------


def to_z3(e: Expr, state: Sequence[Any], cache: dict[int, Any] | None = None) -> Any:
    """Translate ``e`` into a z3 term over ``state`` (one z3 constant per variable).

    ``cache`` (keyed by node identity) shares the translation of subtrees that
    occur several times; pass the same dict for every expression over the same
    ``state`` (the expressions must stay alive as long as the cache).
    """
    memo: dict[int, Any] = {} if cache is None else cache

    def tr(x: Expr) -> Any:
        key = id(x)
        hit = memo.get(key)
        if hit is not None:
            return hit
        op = x.op
        if op == "var":
            out = state[int(x.args[0])]  # type: ignore[call-overload]
        elif op == "const":
            v = x.args[0]
            out = z3.BoolVal(bool(v)) if x.sort == "bool" else z3.IntVal(int(v))  # type: ignore[call-overload]
        elif op == "and":
            out = z3.And([tr(a) for a in x.args])  # type: ignore[arg-type]
        elif op == "or":
            out = z3.Or([tr(a) for a in x.args])  # type: ignore[arg-type]
        elif op == "not":
            out = z3.Not(tr(x.args[0]))  # type: ignore[arg-type]
        elif op == "ite":
            c, t, o = x.args
            out = z3.If(tr(c), tr(t), tr(o))  # type: ignore[arg-type]
        else:
            a, b = tr(x.args[0]), tr(x.args[1])  # type: ignore[arg-type]
            if op == "+":
                out = a + b
            elif op == "-":
                out = a - b
            elif op == "==":
                out = a == b
            elif op == "!=":
                out = a != b
            elif op == "<":
                out = a < b
            elif op == "<=":
                out = a <= b
            else:
                raise ModelDefinitionError(f"unknown expression operator {op!r}")
        memo[key] = out
        return out

    return tr(e)


def _int_exprs(e: Expr, out: list[Expr], seen: set[int]) -> None:
    stack = [e]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if x.sort == "int":
            out.append(x)
        if x.op not in ("var", "const"):
            stack.extend(x.args)  # type: ignore[arg-type]


def bit_width(model: Model, extra: Sequence[Expr] = ()) -> int:
    """Bits of the two's-complement vectors that hold every integer subexpression.

    Interval analysis over the declared variable ranges: no guard, update or
    predicate overflows on a state within range, and an update's result (the
    next state) is representable even if it leaves its variable's range.
    """
    ranges = [(v.lo, v.hi) for v in model.layout.vars]
    exprs: list[Expr] = []
    seen: set[int] = set()
    for a in model.actions:
        _int_exprs(a.guard, exprs, seen)
        for _v, e in a.updates:
            _int_exprs(e, exprs, seen)
    for e in (model.pending, *extra, *(w.when for w in model.wait_edges)):
        _int_exprs(e, exprs, seen)
    memo: dict[int, tuple[int, int]] = {}
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    for e in exprs:
        lo_e, hi_e = interval(e, ranges, memo)
        lo, hi = min(lo, lo_e), max(hi, hi_e)
    w = 2
    while not (-(1 << (w - 1)) <= lo and hi < (1 << (w - 1))):
        w += 1
    return w


_BV_OPS = {"+": "bvadd", "-": "bvsub", "==": "=", "<": "bvslt", "<=": "bvsle"}
_INT_OPS = {"+": "+", "-": "-", "==": "=", "<": "<", "<=": "<="}


class Encoding:
    """The model's transition relation and predicates as z3 templates.

    Integers are ``width``-bit two's-complement bit-vectors (see
    :func:`bit_width`), booleans are ``Bool``. Templates range over the
    placeholder constants ``s!i`` (current state), ``n!i`` (next state) and
    ``sel`` (the action selector); :meth:`at` and :meth:`transition`
    instantiate them at concrete steps with ``z3.substitute``. The templates
    are built by rendering the :class:`Expr` trees as SMT-LIB text and parsing
    it once (z3's Python term constructors are two orders of magnitude slower
    for models of a few hundred actions).
    """

    def __init__(self, model: Model, extra: Sequence[Expr] = (), arith: str = "bv") -> None:
        self.model = model
        self.arith = arith
        self.width = bit_width(model, extra)
        n = len(model.actions)
        self.n_actions = n
        self.sel_bits = max(1, (n - 1).bit_length())
        self.cur = [self._const(f"s!{i}", v.sort) for i, v in enumerate(model.layout.vars)]
        self.nxt = [self._const(f"n!{i}", v.sort) for i, v in enumerate(model.layout.vars)]
        self.sel = self.selector("sel")
        self._decls: dict[str, Any] = {str(x): x for x in (*self.cur, *self.nxt, self.sel)}
        self._text: dict[int, str] = {}
        self._keep: list[Expr] = []  # keeps memoised nodes alive (ids stay unique)
        self._tmpl: dict[int, Any] = {}
        self.trans = self._transition_template()

    def selector(self, name: str) -> Any:
        return z3.BitVec(name, self.sel_bits) if self.arith == "bv" else z3.Int(name)

    def solver(self, one_shot: bool = False) -> Any:
        """An incremental solver for the encoding's logic; ``one_shot``: bit-blast and SAT per check.

        For a single query (bounded checking told the depth by the explicit
        engine) bit-blasting the whole unrolling once and running the SAT
        solver was 4x faster than the incremental finite-domain solver on
        ``P-stale-capabilities-suspend`` at depth 14 (2.0 s against 8.2 s).
        """
        if one_shot and self.arith == "bv":
            return z3.Then("simplify", "bit-blast", "sat").solver()
        return z3.SolverFor("QF_FD" if self.arith == "bv" else "QF_LIA")

    def _const(self, name: str, sort: str) -> Any:
        if sort == "bool":
            return z3.Bool(name)
        return z3.BitVec(name, self.width) if self.arith == "bv" else z3.Int(name)

    # -- rendering -----------------------------------------------------------
    def _num(self, v: int) -> str:
        if self.arith == "int":
            return str(v) if v >= 0 else f"(- {-v})"
        return f"(_ bv{v % (1 << self.width)} {self.width})"

    def smt(self, e: Expr) -> str:
        """SMT-LIB text of ``e`` over ``s!i``."""
        memo = self._text
        hit = memo.get(id(e))
        if hit is not None:
            return hit
        self._keep.append(e)
        op = e.op
        if op == "var":
            out = f"s!{e.args[0]}"
        elif op == "const":
            v = e.args[0]
            out = ("true" if v else "false") if e.sort == "bool" else self._num(int(v))  # type: ignore[call-overload]
        elif op in ("and", "or"):
            out = f"({op} " + " ".join(self.smt(a) for a in e.args) + ")"  # type: ignore[arg-type]
        elif op == "not":
            out = f"(not {self.smt(e.args[0])})"  # type: ignore[arg-type]
        elif op == "ite":
            out = "(ite " + " ".join(self.smt(a) for a in e.args) + ")"  # type: ignore[arg-type]
        else:
            a, b = self.smt(e.args[0]), self.smt(e.args[1])  # type: ignore[arg-type]
            fn = (_BV_OPS if self.arith == "bv" else _INT_OPS).get(op)
            if op == "!=":
                out = f"(not (= {a} {b}))"
            elif fn is None:
                raise ModelDefinitionError(f"unknown expression operator {op!r}")
            else:
                out = f"({fn} {a} {b})"
        memo[id(e)] = out
        return out

    def _parse(self, texts: Sequence[str]) -> list[Any]:
        src = "\n".join(f"(assert {t})" for t in texts)
        return list(z3.parse_smt2_string(src, decls=self._decls))

    def template(self, e: Expr) -> Any:
        """``e`` (boolean) as a z3 term over the placeholders ``s!i``."""
        hit = self._tmpl.get(id(e))
        if hit is None:
            self._keep.append(e)
            hit = self._parse([self.smt(e)])[0]
            self._tmpl[id(e)] = hit
        return hit

    def templates(self, es: Sequence[Expr]) -> list[Any]:
        """Several templates in one parse (faster than one by one)."""
        todo = [e for e in es if id(e) not in self._tmpl]
        if todo:
            for e, t in zip(todo, self._parse([self.smt(e) for e in todo]), strict=True):
                self._keep.append(e)
                self._tmpl[id(e)] = t
        return [self._tmpl[id(e)] for e in es]

    def _transition_template(self) -> Any:
        model = self.model
        acts = model.actions
        sb = self.sel_bits

        def is_sel(i: int) -> str:
            return f"(= sel (_ bv{i} {sb}))" if self.arith == "bv" else f"(= sel {i})"

        assigners: list[list[tuple[int, Expr]]] = [[] for _ in model.layout.vars]
        for i, a in enumerate(acts):
            seen: set[int] = set()
            for v, e in a.updates:
                if v.index in seen:
                    raise ModelDefinitionError(f"{a.label}: a variable is assigned twice")
                seen.add(v.index)
                assigners[v.index].append((i, e))
        if self.arith == "int":
            parts = ["(<= 0 sel)", f"(< sel {len(acts)})"]
        else:
            parts = [f"(bvult sel (_ bv{len(acts)} {sb}))"] if len(acts) < (1 << sb) else []
        for i, a in enumerate(acts):
            parts.append(f"(=> {is_sel(i)} {self.smt(a.guard)})")
        for k in range(len(model.layout.vars)):
            term = f"s!{k}"
            for i, e in reversed(assigners[k]):
                term = f"(ite {is_sel(i)} {self.smt(e)} {term})"
            parts.append(f"(= n!{k} {term})")
        return z3.And(self._parse(parts))

    def ranges_template(self) -> Any:
        le = "bvsle" if self.arith == "bv" else "<="
        parts = [f"(and ({le} {self._num(v.lo)} s!{v.index}) ({le} s!{v.index} {self._num(v.hi)}))"
                 for v in self.model.layout.vars if v.sort == "int"]
        return z3.And(self._parse(parts)) if parts else z3.BoolVal(True)

    def value(self, x: int, sort: str) -> Any:
        if sort == "bool":
            return z3.BoolVal(bool(x))
        return z3.BitVecVal(x, self.width) if self.arith == "bv" else z3.IntVal(x)


class Unrolling:
    """States ``s_0 .. s_n`` and selectors ``sel_0 .. sel_{n-1}`` asserted into one solver.

    ``initial=True`` pins ``s_0`` to the model's initial state (bounded
    checking); ``initial=False`` leaves it free (the induction step).
    """

    def __init__(self, enc: Encoding, initial: bool, tag: str = "", one_shot: bool = False) -> None:
        self.enc = enc
        self.model = enc.model
        self.solver = enc.solver(one_shot)
        self.tag = tag
        self.states: list[list[Any]] = []
        self.sels: list[Any] = []
        self._ranges: Any = None
        self._enabled: Any = None
        self._new_state()
        if initial:
            s0 = self.states[0]
            self.solver.add(*[enc.value(x, v.sort) == s0[k]
                              for k, (v, x) in enumerate(zip(self.model.layout.vars, self.model.init, strict=True))])

    def _new_state(self) -> None:
        j = len(self.states)
        self.states.append([self.enc._const(f"{self.tag}{v.name}@{j}", v.sort) for v in self.model.layout.vars])

    @property
    def depth(self) -> int:
        return len(self.states) - 1

    def _subst(self, j: int) -> list[tuple[Any, Any]]:
        return list(zip(self.enc.cur, self.states[j], strict=True))

    def inst(self, tmpl: Any, j: int) -> Any:
        """A template over ``s!i`` instantiated at state ``s_j``."""
        return z3.substitute(tmpl, *self._subst(j))

    def at(self, e: Expr, j: int) -> Any:
        """``e`` (boolean) at state ``s_j``."""
        return self.inst(self.enc.template(e), j)

    def ranges(self, j: int) -> Any:
        if self._ranges is None:
            self._ranges = self.enc.ranges_template()
        return self.inst(self._ranges, j)

    def fair_enabled(self, j: int) -> Any:
        """Some weakly fair action (an action of QEMU itself) is enabled at ``s_j``."""
        if self._enabled is None:
            guards = [a.guard for a in self.model.actions if a.fair]
            self._enabled = z3.Or(self.enc.templates(guards)) if guards else z3.BoolVal(False)
        return self.inst(self._enabled, j)

    def extend(self) -> None:
        """Add ``s_{n+1}`` and the transition ``s_n -> s_{n+1}``."""
        j = self.depth
        self._new_state()
        sel = self.enc.selector(f"{self.tag}sel@{j}")
        self.sels.append(sel)
        pairs = self._subst(j) + list(zip(self.enc.nxt, self.states[j + 1], strict=True)) + [(self.enc.sel, sel)]
        self.solver.add(z3.substitute(self.enc.trans, *pairs))

    def decode_actions(self, m: z3.ModelRef, upto: int | None = None) -> list[int]:
        n = self.depth if upto is None else upto
        return [m.eval(self.sels[j], model_completion=True).as_long() for j in range(n)]

    def decode_state(self, m: z3.ModelRef, j: int) -> State:
        out = []
        for v, x in zip(self.model.layout.vars, self.states[j], strict=True):
            val = m.eval(x, model_completion=True)
            if v.sort == "bool":
                out.append(int(z3.is_true(val)))
            else:
                out.append(val.as_signed_long() if self.enc.arith == "bv" else val.as_long())
        return tuple(out)

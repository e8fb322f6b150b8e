"""PDR/IC3 with z3's Spacer: an unbounded proof engine over constrained Horn clauses.

The model's reachable states are the least relation ``Reach`` satisfying::

    Reach(init)
    Reach(s) and A(s) and guard_a(s)  ->  Reach(upd_a(s))        for every action a
    Reach(s) and A(s) and bad(s)      ->  false                   (the query)

Spacer (z3's implementation of PDR/IC3 for Horn clauses) either finds an
inductive invariant ``I`` (an interpretation of ``Reach``) that excludes every
bad state, or derives the query (a bad state is reachable). Integers are
unbounded ``Int`` (the Python semantics of :func:`~qmpmodel.core.expr.evaluate`),
so no range assumption enters the proof.

``A`` are *assumptions*: invariants proved before (the lemmas k-induction kept
for a proved property). Restricting the transitions to ``A``-states does not
change the reachable states when ``A`` holds on all of them (every reachable
state is reached through reachable, hence ``A``-, states), so the answer is
the same and Spacer starts from what is already known.

Spacer's answer is not trusted: :func:`check_certificate` checks ``I and A``
with a plain SMT solver (initiation, consecution, safety) before
:func:`pdr` reports ``proved``. The invariant is converted back into model
expressions (:func:`from_z3`) and rendered by a ``describe(expr) -> str``
hook, by default with variable names (:func:`describe`); the QEMU layer may
pass one that speaks in probe names.

When Spacer answers "reachable", the counterexample is not taken from its
derivation: :func:`pdr` reports ``reachable`` and the caller runs bounded model
checking, which yields a shortest path replayed through the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import z3

from qmpmodel.core.expr import Expr, Var, all_of, any_of, ite, lit, to_python
from qmpmodel.core.model import Model
from qmpmodel.engines.smt.bmc import Goal
from qmpmodel.engines.smt.encoding import Encoding

__all__ = ["PdrOutcome", "check_certificate", "describe", "from_z3", "pdr"]

#: Renders one conjunct of an invariant for a reader (the hook the QEMU layer overrides).
Describer = Callable[[Expr], str]


@dataclass(frozen=True)
class PdrOutcome:
    """``proved`` (with the certificate), ``reachable`` (run BMC for the path) or ``unknown``."""

    verdict: Literal["proved", "reachable", "unknown"]
    #: the inductive invariant found by Spacer, one conjunct per entry, as model expressions
    invariant: tuple[Expr, ...] = ()
    #: the same, rendered by the describe hook
    text: tuple[str, ...] = ()
    note: str = ""


def _rules(enc: Encoding) -> list[tuple[Any, list[Any]]]:
    """Per action: its guard and the next value of every variable, over ``s!i``."""
    model = enc.model
    out: list[tuple[Any, list[Any]]] = []
    texts: list[str] = []
    shape: list[tuple[int, list[int]]] = []
    for a in model.actions:
        upd = {v.index: e for v, e in a.updates}
        base = len(texts)
        texts.append(enc.smt(a.guard))
        cells = []
        for k, _v in enumerate(model.layout.vars):
            if k in upd:
                t = enc.smt(upd[k])
                texts.append(f"(= n!{k} {t})")
                cells.append(len(texts) - 1)
            else:
                cells.append(-1)
        shape.append((base, cells))
    parsed = enc._parse(texts)
    for base, cells in shape:
        nxt = []
        for k, c in enumerate(cells):
            # the parsed text is (= n!k term): keep the term
            nxt.append(enc.cur[k] if c < 0 else parsed[c].arg(1))
        out.append((parsed[base], nxt))
    return out


def _bad(enc: Encoding, goal: Goal) -> Any:
    bad = enc.template(goal.bad)
    if goal.terminal is not None:
        guards = [a.guard for a in enc.model.actions if a.fair]
        fair = z3.Or(enc.templates(guards)) if guards else z3.BoolVal(False)
        bad = z3.Or(bad, z3.And(enc.template(goal.terminal), z3.Not(fair)))
    return bad


def pdr(model: Model, goal: Goal, assume: Sequence[Expr] = (), enc: Encoding | None = None,
        rlimit: int = 0, describer: Describer | None = None) -> PdrOutcome:
    """Decide whether ``goal`` is reachable, by PDR (Spacer); see the module docstring.

    ``rlimit`` bounds z3's resource counter (0: unbounded); it is deterministic,
    unlike a wall-clock timeout. An exhausted budget gives ``unknown``.
    """
    enc = enc or Encoding(model, [goal.bad, *assume], arith="int")
    if enc.arith != "int":
        raise ValueError("pdr needs an integer encoding")
    fp = z3.Fixedpoint()
    fp.set("engine", "spacer")
    # keep the clauses as written: slicing and inlining would rename the state
    fp.set("xform.slice", False)
    fp.set("xform.inline_linear", False)
    fp.set("xform.inline_eager", False)
    if rlimit:
        fp.set("rlimit", rlimit)
    sorts = [z3.BoolSort() if v.sort == "bool" else z3.IntSort() for v in model.layout.vars]
    reach = z3.Function("Reach", *sorts, z3.BoolSort())
    err = z3.Function("Err", z3.BoolSort())
    fp.register_relation(reach, err)
    fp.declare_var(*enc.cur)
    init = [enc.value(x, v.sort) for v, x in zip(model.layout.vars, model.init, strict=True)]
    fp.rule(reach(*init))
    a_tmpl = z3.And(enc.templates(list(assume))) if assume else z3.BoolVal(True)
    for guard, nxt in _rules(enc):
        fp.rule(reach(*nxt), [reach(*enc.cur), a_tmpl, guard])
    fp.rule(err(), [reach(*enc.cur), a_tmpl, _bad(enc, goal)])
    try:
        r = fp.query(err())
    except z3.Z3Exception as e:  # pragma: no cover - z3 internal failure
        return PdrOutcome("unknown", note=f"spacer stopped: {e}")
    if r == z3.sat:
        return PdrOutcome("reachable")
    if r != z3.unsat:
        return PdrOutcome("unknown", note=f"spacer gave {r}: {fp.reason_unknown()}")
    cover = fp.get_cover_delta(-1, reach)
    # the cover is over de Bruijn variables 0..n-1, in argument order
    body = z3.substitute_vars(cover, *enc.cur)
    parts = _conjuncts(body)
    ok, why = check_certificate(enc, goal, parts, assume)
    if not ok:  # pragma: no cover - a Spacer or encoding bug
        return PdrOutcome("unknown", note=f"spacer's invariant does not check: {why}")
    exprs = tuple(from_z3(p, model) for p in parts)
    show = describer or (lambda e: describe(e, model))
    return PdrOutcome("proved", exprs, tuple(show(e) for e in exprs), f"{len(parts)} inductive lemmas")


def _conjuncts(t: Any) -> list[Any]:
    t = z3.simplify(t)
    if z3.is_true(t):
        return []
    if z3.is_and(t):
        return list(t.children())
    return [t]


def check_certificate(enc: Encoding, goal: Goal, parts: Sequence[Any], assume: Sequence[Expr]) -> tuple[bool, str]:
    """Check that ``I = and(parts)`` with ``A = and(assume)`` proves ``goal`` unreachable.

    Initiation (the initial state satisfies ``I``), consecution (``I and A``
    and a transition give ``I`` again) and safety (``I and A`` exclude every
    bad state), each one unsatisfiability query over unbounded integers.
    """
    model = enc.model
    inv = z3.And(list(parts)) if parts else z3.BoolVal(True)
    a = z3.And(enc.templates(list(assume))) if assume else z3.BoolVal(True)
    init = [(c, enc.value(x, v.sort)) for c, v, x in zip(enc.cur, model.layout.vars, model.init, strict=True)]
    s = z3.SolverFor("QF_LIA")
    s.add(z3.Not(z3.substitute(inv, *init)))
    if s.check() != z3.unsat:
        return False, "the initial state violates it"
    nxt = z3.substitute(inv, *zip(enc.cur, enc.nxt, strict=True))
    s = z3.SolverFor("QF_LIA")
    s.add(inv, a, enc.trans, z3.Not(nxt))
    if s.check() != z3.unsat:
        return False, "it is not inductive"
    s = z3.SolverFor("QF_LIA")
    s.add(inv, a, _bad(enc, goal))
    if s.check() != z3.unsat:
        return False, "it does not exclude the bad states"
    return True, ""


# -- back to model expressions -------------------------------------------------------

_CMP = {z3.Z3_OP_LE: "<=", z3.Z3_OP_LT: "<", z3.Z3_OP_GE: ">=", z3.Z3_OP_GT: ">"}


def from_z3(t: Any, model: Model) -> Expr:
    """A z3 term over the encoding's ``s!i`` constants as a model :class:`Expr`.

    Handles what Spacer's lemmas contain: connectives, ``ite``, linear
    arithmetic with integer coefficients and comparisons. A product with a
    constant ``c * x`` becomes ``x + ... + x`` (or its negation), since model
    expressions have no multiplication.
    """
    vs = model.layout.vars

    def tr(x: Any) -> Expr:
        if z3.is_true(x):
            return lit(True)
        if z3.is_false(x):
            return lit(False)
        if z3.is_int_value(x):
            return lit(x.as_long())
        if z3.is_const(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            name = x.decl().name()
            v: Var = vs[int(name.split("!", 1)[1])]
            return v
        kids = [tr(c) for c in x.children()]
        k = x.decl().kind()
        if k == z3.Z3_OP_AND:
            return all_of(kids)
        if k == z3.Z3_OP_OR:
            return any_of(kids)
        if k == z3.Z3_OP_NOT:
            return ~kids[0]
        if k == z3.Z3_OP_IMPLIES:
            return ~kids[0] | kids[1]
        if k == z3.Z3_OP_ITE:
            return ite(kids[0], kids[1], kids[2])
        if k == z3.Z3_OP_EQ or k == z3.Z3_OP_IFF:
            return kids[0] == kids[1]
        if k == z3.Z3_OP_DISTINCT:
            return all_of(kids[i] != kids[j] for i in range(len(kids)) for j in range(i + 1, len(kids)))
        if k in _CMP:
            a, b = kids
            return {"<=": a <= b, "<": a < b, ">=": a >= b, ">": a > b}[_CMP[k]]
        if k == z3.Z3_OP_ADD:
            out = kids[0]
            for c in kids[1:]:
                out = out + c
            return out
        if k == z3.Z3_OP_SUB:
            out = kids[0]
            for c in kids[1:]:
                out = out - c
            return out
        if k == z3.Z3_OP_UMINUS:
            return lit(0) - kids[0]
        if k == z3.Z3_OP_MUL:
            consts = [c for c in x.children() if z3.is_int_value(c)]
            others = [tr(c) for c in x.children() if not z3.is_int_value(c)]
            coef = 1
            for c in consts:
                coef *= c.as_long()
            if len(others) == 1 and abs(coef) <= 64:
                term: Expr = lit(0)
                for _ in range(abs(coef)):
                    term = term + others[0]
                return term if coef >= 0 else lit(0) - term
        raise ValueError(f"cannot convert {x} into a model expression")

    return tr(t)


def describe(e: Expr, model: Model) -> str:
    """A readable rendering of an invariant conjunct, with the model's variable names.

    The default hook for :func:`pdr`: ``to_python`` with ``s[i]`` replaced by
    the variable's name.
    """
    text = to_python(e)
    names = model.layout.names
    for i in sorted(range(len(names)), key=lambda i: -len(str(i))):
        text = text.replace(f"s[{i}]", names[i])
    return text.replace(" and ", " & ").replace(" or ", " | ")

"""Proof that a symmetry group is sound for a model and its properties (z3).

For every generator ``g`` of the group (enough: a product of automorphisms is
one):

* every action ``a`` has an image ``g(a)`` (found by label, see
  :func:`~qmpmodel.core.symmetry.action_image`) with the same fairness, and for
  every state ``s`` within the declared ranges
  ``guard_a(s) == guard_g(a)(g·s)`` and, when the guard holds,
  ``g·a(s) == g(a)(g·s)``: successors commute with ``g``;
* every checked property, ``Model.pending`` and the liveness goals take the
  same value on ``s`` and ``g·s``;

where ``s`` ranges over the states within the declared ranges that satisfy the
group's *domain* (``SymmetryGroup.domain``: e.g. "a monitor's queue holds only
its own clients' requests"). The domain is proved an inductive invariant (the
initial state satisfies it, every action preserves it) and closed under the
generators, so every reachable state and all its images are in it.

Together these make ``canonical(successors(s)) == canonical(successors(g·s))``
and every verdict equal on the quotient, so a search over canonical states
visits one state per orbit of the reachable states and decides the same
properties. The check is over all in-range states (stronger than needed:
reachable ones would do), one small z3 query per action and generator, with
the expressions rendered as SMT-LIB text (z3's Python constructors are
slow, :mod:`qmpmodel.engines.smt`).
"""

from __future__ import annotations

from collections.abc import Sequence

import z3

from qmpmodel.core.expr import Expr, evaluate, variables_of
from qmpmodel.core.model import Action, Model
from qmpmodel.core.symmetry import Perm, SymmetryGroup, action_image
from qmpmodel.errors import ModelDefinitionError

__all__ = ["check_group"]


def _num(v: int) -> str:
    return str(v) if v >= 0 else f"(- {-v})"


def _smt(e: Expr, p: str, post: dict[int, str] | None = None) -> str:
    """SMT-LIB text over constants ``{p}{index}``; ``post`` replaces variables by text (a successor)."""
    op = e.op
    if op == "var":
        if post is not None and e.args[0] in post:
            return post[e.args[0]]
        return f"{p}{e.args[0]}"
    if op == "const":
        v = e.args[0]
        if e.sort == "bool":
            return "true" if v else "false"
        return _num(int(v))  # type: ignore[call-overload]
    a = [_smt(x, p, post) for x in e.args]  # type: ignore[arg-type]
    if op == "and":
        return f"(and {' '.join(a)})"
    if op == "or":
        return f"(or {' '.join(a)})"
    if op == "not":
        return f"(not {a[0]})"
    if op == "ite":
        return f"(ite {a[0]} {a[1]} {a[2]})"
    if op == "==":
        return f"(= {a[0]} {a[1]})"
    if op == "!=":
        return f"(not (= {a[0]} {a[1]}))"
    if op in ("+", "-", "<", "<="):
        return f"({op} {a[0]} {a[1]})"
    raise ModelDefinitionError(f"unknown expression operator {op!r}")


class _Checker:
    """A solver holding ``t = g·s`` for one generator; queries are pushed and popped."""

    def __init__(self, model: Model, group: SymmetryGroup, g: Perm) -> None:
        self.model = model
        self.group = group
        self.g = g
        self.decls: dict[str, object] = {}
        self.solver = z3.Solver()
        base = []
        for v in model.layout.vars:
            mk = z3.Bool if v.sort == "bool" else z3.Int
            for p in ("s", "t"):
                self.decls[f"{p}{v.index}"] = mk(f"{p}{v.index}")
            if v.sort != "bool":
                base.append(f"(<= {_num(v.lo)} s{v.index} {_num(v.hi)})")
        for i, j in enumerate(g.src):
            base.append(f"(= t{i} {self.remap(i, f's{j}')})")
        # reachable states satisfy the group's domain invariant (proved inductive below)
        base.append(_smt(group.domain, "s"))
        self.solver.add(*z3.parse_smt2_string("".join(f"(assert {x})" for x in base), decls=self.decls))
        self.active = {i for i, j in enumerate(g.src) if i != j or g.remap[i] is not None}

    def remap(self, i: int, x: str) -> str:
        r = self.g.remap[i]
        if r is None:
            return x
        if self.model.layout.vars[i].sort == "bool":
            raise ModelDefinitionError("symmetry: value renaming of a boolean variable")
        lo = self.group.lo[i]
        out = _num(r[-1])
        for k in range(len(r) - 2, -1, -1):
            out = f"(ite (= rv {_num(lo + k)}) {_num(r[k])} {out})"
        return f"(let ((rv {x})) {out})"

    def _unsat(self, claim: str) -> bool:
        self.solver.push()
        self.solver.add(*z3.parse_smt2_string(f"(assert (not {claim}))", decls=self.decls))
        ok = bool(self.solver.check() == z3.unsat)
        self.solver.pop()
        return ok

    def untouched(self, *es: Expr) -> bool:
        """None of ``es`` reads a variable ``g`` moves or renames (then ``g`` cannot change them)."""
        return not any(variables_of(e) & self.active for e in es)

    def invariant(self, e: Expr) -> bool:
        """``e(s) == e(g·s)`` for every in-range ``s``."""
        if self.untouched(e):
            return True
        return self._unsat(f"(= {_smt(e, 's')} {_smt(e, 't')})")

    def closed(self) -> bool:
        """The domain is mapped into itself: ``D(s) -> D(g·s)``."""
        return self._unsat(_smt(self.group.domain, "t"))

    def preserves_domain(self, a: Action) -> bool:
        """``D(s) and guard_a(s) -> D(a(s))`` (with the initial state: D is an inductive invariant)."""
        if not {v.index for v, _e in a.updates} & variables_of(self.group.domain):
            return True
        post = {v.index: _smt(e, "s") for v, e in a.updates}
        return self._unsat(f"(=> {_smt(a.guard, 's')} {_smt(self.group.domain, 's', post)})")

    def commutes(self, a: Action, b: Action) -> bool:
        """``b`` is ``a`` seen through ``g``: same guard, and ``g·a(s) == b(g·s)``."""
        if a is b and not {v.index for v, _e in a.updates} & self.active \
                and self.untouched(a.guard, *(e for _v, e in a.updates)):
            return True  # g acts only on variables a neither reads nor writes
        ua = {v.index: e for v, e in a.updates}
        ub = {v.index: e for v, e in b.updates}
        moved = {i for i, j in enumerate(self.g.src) if j in ua}
        eqs = []
        for i in sorted(set(ub) | moved):
            lhs = _smt(ub[i], "t") if i in ub else f"t{i}"
            j = self.g.src[i]
            rhs = self.remap(i, _smt(ua[j], "s") if j in ua else f"s{j}")
            eqs.append(f"(= {lhs} {rhs})")
        ga, gb = _smt(a.guard, "s"), _smt(b.guard, "t")
        upd = f"(and {' '.join(eqs)})" if eqs else "true"
        return self._unsat(f"(and (= {ga} {gb}) (=> {ga} {upd}))")


def check_group(model: Model, group: SymmetryGroup, exprs: Sequence[tuple[str, Expr]]) -> str | None:
    """``None`` when ``group`` is sound for ``model`` and the named expressions; else why not."""
    if not group.closed():
        return "the elements given do not form a group"
    labels = {a.label: i for i, a in enumerate(model.actions)}
    if not evaluate(group.domain, model.init):
        return "the initial state is outside the group's domain invariant"
    for n, g in enumerate(group.generators):
        image = action_image(model, g, labels)
        if isinstance(image, str):
            return image
        chk = _Checker(model, group, g)
        if n == 0:
            for a in model.actions:
                if not chk.preserves_domain(a):
                    return f"{a.label} leaves the group's domain invariant"
        if not chk.closed():
            return f"{g.name} does not map the domain invariant onto itself"
        for name, e in (("pending work", model.pending), *exprs):
            if not chk.invariant(e):
                return f"{name} is not preserved by {g.name}"
        for i, a in enumerate(model.actions):
            if not chk.commutes(a, model.actions[image[i]]):
                return f"{a.label} does not commute with {g.name}"
    return None

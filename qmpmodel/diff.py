"""``qmpmodel diff``: what a proposed design changes compared with a base design.

Both sides are checked at the same bounds against every property of the
library (and the properties either side's proposal adds); the result names,
per property, each side's verdict and depth and the change:

``newly violated``  the base does not violate it, the proposal does;
``fixed``           the base violates it, the proposal does not (it holds there);
``depth changed``   both violate it, at different minimal depths;
``unchanged``       the same verdict (and depth);
``undecided``       a side could not decide it (a budget, or an engine that cannot).

For a fixed property the base's counterexample is replayed on the proposal
(:func:`first_divergence`): the first step the proposal cannot take, or takes
to a different state, says what the patch changes on that path.

Pure: building, checking and comparing; the CLI (:mod:`qmpmodel.cli.diff`)
and the writers do the I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from qmpmodel.check import Prepared, check_spec, prepare
from qmpmodel.core.results import CheckResult, EngineOptions, InvariantResult, Outcome, Trace
from qmpmodel.core.task import Observer
from qmpmodel.errors import InputError
from qmpmodel.invariants import INVARIANTS, Invariant
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import BASES, Design
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.proposal import load_proposal
from qmpmodel.qemu.steps import overridden_steps
from qmpmodel.specs import Spec, load_spec

__all__ = ["Change", "DiffResult", "PropertyDiff", "diff", "first_divergence", "resolve_side"]

Change = Literal["newly violated", "fixed", "depth changed", "unchanged", "undecided"]

#: Bounds when neither side is a spec: those of specs/qemu-current.toml.
DEFAULT_BOUNDS = Bounds(monitors=1, clients=2, requests=2, mix=("quick", "coroutine", "oob"))


@dataclass(frozen=True)
class PropertyDiff:
    name: str
    base: InvariantResult
    proposed: InvariantResult
    change: Change
    #: fixed: where the proposal departs from the base's counterexample
    divergence: str = ""


@dataclass(frozen=True)
class DiffResult:
    base: CheckResult
    proposed: CheckResult
    properties: tuple[PropertyDiff, ...]
    #: steps the proposed design changes relative to the base: (step, QEMU function, defined in)
    changed_steps: tuple[tuple[str, str, str], ...] = ()
    bounds_from: str = ""
    prepared: dict[str, Prepared] = field(default_factory=dict)

    def of(self, change: Change) -> list[PropertyDiff]:
        return [p for p in self.properties if p.change == change]

    @property
    def outcome(self) -> Outcome:
        """``contradicted`` when the proposal adds a violation, ``inconclusive`` when none is
        added but something is undecided, else ``met``."""
        if self.of("newly violated"):
            return "contradicted"
        return "inconclusive" if self.of("undecided") else "met"


def resolve_side(arg: str, role: str) -> Spec:
    """A side of the diff: a spec file, a proposal file (``.py``), or a named design."""
    p = Path(arg)
    if p.suffix == ".toml":
        return load_spec(arg)
    if p.suffix == ".py":
        prop = load_proposal(p, arg)
        design = Design(proposal=str(p))
        return _spec_for(arg, prop.design.title or p.stem, design, DEFAULT_BOUNDS, prop.properties)
    if arg in BASES:
        return _spec_for(arg, arg, Design(base=arg), DEFAULT_BOUNDS, ())
    raise InputError("<command line>", role, "a spec (.toml), a proposal (.py) or one of " + ", ".join(BASES),
                     repr(arg))


def _spec_for(path: str, title: str, design: Design, bounds: Bounds, extra: tuple[Invariant, ...]) -> Spec:
    return Spec(path, title, "", "", design, bounds, tuple((i, i.default) for i in (*INVARIANTS, *extra)),
                properties=extra)


def _all_pinned(spec: Spec, bounds: Bounds, extra: Sequence[Invariant]) -> Spec:
    """``spec`` at ``bounds`` with every design-neutral property judged (the expectation only orders
    them). Design-specific checks (default ``skip``, e.g. ``suspend-accounting``, one design's own
    bookkeeping) differ between designs by construction and are not compared."""
    props = {i.name: i for i in (*INVARIANTS, *spec.properties, *extra) if i.default != "skip"}
    return dataclasses.replace(spec, bounds=bounds, expectations=tuple((i, "holds") for i in props.values()),
                               properties=tuple(props[n] for n in props if n not in {i.name for i in INVARIANTS}))


def _decided(r: InvariantResult) -> bool:
    return r.verdict in ("holds", "violated")


def _classify(b: InvariantResult, p: InvariantResult) -> Change:
    if not (_decided(b) and _decided(p)):
        return "undecided"
    if b.verdict == p.verdict:
        return "depth changed" if b.verdict == "violated" and b.depth != p.depth else "unchanged"
    return "newly violated" if p.verdict == "violated" else "fixed"


def first_divergence(trace: Trace, base: Prepared, proposed: Prepared) -> str:
    """Replay ``trace`` (a base counterexample) on the proposed model; name the first step that differs.

    Steps are matched by action label; variables by name (a proposal may add
    variables, which are ignored). The answer names the step, its action, and
    either "cannot be taken" or the first variable whose value differs.
    """
    model = proposed.model
    by_label = {a.label: i for i, a in enumerate(model.actions)}
    s = model.init
    shared = [v for v in model.layout.vars if v.name in trace.initial]
    for k, st in enumerate(trace.steps, start=1):
        i = by_label.get(st.label)
        if i is None:
            return f"step {k} ({st.label}): the proposal has no such action"
        a = model.actions[i]
        where = f"step {k} ({st.label}" + (f", {a.step})" if a.step else ")")
        if not a.enabled(s):
            return f"{where}: not possible in the proposal"
        s = a.apply(s)
        for v in shared:
            mine, theirs = int(s[v.index]), int(st.state[v.name])
            if mine != theirs:
                return f"{where}: {v.name} is {v.show(mine)} in the proposal, {v.show(theirs)} in the base"
    return ("every step leads to the same values of the variables both designs have: the difference "
            "lies in the proposal's own state")


def _owner(cls: type, name: str) -> str:
    return next((k.__name__ for k in cls.__mro__ if name in k.__dict__), "?")


def diff(base: Spec, proposed: Spec, *, bounds: Bounds | None = None, bounds_from: str = "",
         engine: str = "explicit", options: EngineOptions | None = None,
         observer: Observer | None = None) -> DiffResult:
    """Check ``base`` and ``proposed`` at the same bounds and compare every property."""
    b = bounds or proposed.bounds
    extra = (*base.properties, *proposed.properties)
    sb, sp = _all_pinned(base, b, extra), _all_pinned(proposed, b, extra)
    pb, pp = prepare(sb), prepare(sp)
    rb = check_spec(sb, engine, options, observer)
    rp = check_spec(sp, engine, options, observer)
    by_b = {r.name: r for r in rb.invariants}
    out: list[PropertyDiff] = []
    for r in rp.invariants:
        rb_ = by_b.get(r.name)
        if rb_ is None:
            continue
        change = _classify(rb_, r)
        div = ""
        if change == "fixed" and rb_.trace is not None:
            div = first_divergence(rb_.trace, pb, pp)
        out.append(PropertyDiff(r.name, rb_, r, change, div))
        del by_b[r.name]
    cls_b, _e1 = sb.design.resolve(sb.path)
    cls_p, _e2 = sp.design.resolve(sp.path)
    changed = tuple((name, info.title, f"{owner} in the proposal, {_owner(cls_b, name)} in the base")
                    for name, info, owner in overridden_steps(cls_p, cls_b)) if issubclass(cls_p, QemuCurrent) else ()
    return DiffResult(rb, rp, tuple(out), changed, bounds_from, {sb.path: pb, sp.path: pp})

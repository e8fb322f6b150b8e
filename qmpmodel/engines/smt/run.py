"""The z3 engine's entry point: bounded checking, or proofs, per pinned property.

The gate (:func:`_gate`), in both modes:

* the explicit pre-pass when the space is small (:mod:`qmpmodel.engines.smt.gate`):
  the reachability diameter and the shortest violation depths;
* properties pinned ``holds``: the lemma library (Houdini, once per model);
  a property among its proved lemmas ``holds`` by k-induction. Otherwise
  k-induction up to :data:`AUTO_K` with the library as candidates. With
  ``prove``, by ``method``: ``kind`` is k-induction up to ``k = depth``;
  ``pdr`` is Spacer assuming the library; ``auto`` tries k-induction up to
  :data:`AUTO_K`, then PDR;
* everything else, the expected violations included (so a gate in prove
  mode still checks that the known bugs are found), in one BMC unrolling,
  each goal bounded by the diameter and pointed at its first failure depth.
  Verdicts ``violated`` or ``bounded``; with ``prove``, a property no proof
  decided and BMC did not refute is ``unknown`` (the note says why).

``progress`` (liveness) is not checked: ``unknown``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qmpmodel.core.expr import Expr
from qmpmodel.core.model import Model, State
from qmpmodel.core.results import EngineOptions, EngineResult, Expected, InvariantResult
from qmpmodel.core.task import CheckTask, Observer, Property
from qmpmodel.engines.smt.bmc import BmcOutcome, Goal, bad_goal
from qmpmodel.engines.smt.encoding import Encoding
from qmpmodel.engines.smt.gate import (
    Hints,
    LemmaLibrary,
    explicit_hints,
    goals_for,
    lemma_library,
    run_bmc,
)
from qmpmodel.engines.smt.induction import Stepper, prove
from qmpmodel.engines.smt.pdr import Describer, pdr

__all__ = ["AUTO_K", "LIVENESS_NOTE", "METHODS", "PDR_RLIMIT", "prove_property", "run"]

LIVENESS_NOTE = "liveness: not checked by the smt engine"
METHODS = ("auto", "kind", "pdr")
#: Largest k that ``auto`` tries before PDR.
AUTO_K = 2
#: z3 resource limit of one PDR run (deterministic, unlike a timeout): about a minute of Spacer.
PDR_RLIMIT = 60_000_000


def run(task: CheckTask, options: EngineOptions, observer: Observer | None = None,
        describer: Describer | None = None) -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check`); ``describer`` renders PDR invariants."""
    if options.method not in METHODS:
        raise ValueError(f"unknown proof method {options.method!r} (expected one of {', '.join(METHODS)})")
    model = task.model

    def tick(k: int) -> bool:
        return observer is None or bool(observer.progress(0, k))

    todo = [(p, e) for p, e in task.obligations if e != "skip" and p.kind != "liveness"]
    hints = explicit_hints(model, todo)
    results: dict[str, InvariantResult] = {}
    states: set[State] = set()
    _gate(task, todo, hints, options, tick, describer, results, states)
    ordered: list[InvariantResult] = []
    for p, e in task.obligations:
        if e == "skip":
            ordered.append(InvariantResult(p.name, e, "unknown", note="skipped by the spec"))
        elif p.kind == "liveness":
            ordered.append(InvariantResult(p.name, e, "unknown", note=LIVENESS_NOTE, checked=False))
        else:
            ordered.append(results[p.name])
    complete = all(r.verdict in ("violated", "holds") for r in ordered if r.expected != "skip")
    depth = max((r.depth or 0 for r in ordered), default=0)
    return EngineResult(len(states), 0, depth, complete, ordered)


def _bmc_depth(options: EngineOptions, hints: Hints | None) -> int:
    """The unrolling bound: ``depth``, or with ``prove`` (where ``depth`` is the largest k) the diameter."""
    if options.prove and hints is not None:
        return max(options.depth, hints.diameter)
    return options.depth


def _bmc_verdict(p: Property, expected: Expected, out: BmcOutcome, hints: Hints | None, depth: int) -> InvariantResult:
    h = out.hits.get(p.name)
    exp: Expected = expected
    if h is not None:
        note = "at the explicit engine's shortest depth" if hints is not None and p.name in hints.first else ""
        return InvariantResult(p.name, exp, "violated", h.depth, h.trace, note=note)
    clear = out.clear.get(p.name, -1)
    if out.stopped:
        note = f"time budget exhausted (no violation up to depth {clear})" if clear >= 0 else "time budget exhausted"
        return InvariantResult(p.name, exp, "unknown", note=note)
    bound = depth if hints is None else min(depth, hints.diameter)
    note = ""
    if hints is not None and bound == hints.diameter:
        note = (f"{bound} is the reachability diameter ({hints.states:,} states, explicit engine): "
                "no reachable state is deeper")
    return InvariantResult(p.name, exp, "bounded", bound, note=note)


def _gate(task: CheckTask, todo: Sequence[tuple[Property, Expected]], hints: Hints | None, options: EngineOptions,
          tick: Callable[[int], bool], describer: Describer | None,
          results: dict[str, InvariantResult], states: set[State]) -> None:
    """BMC for the expected violations, proofs for the rest, then BMC for what no proof decided."""
    model = task.model
    goals_all = [bad_goal(p, model) for p, _e in todo]
    cands = list(task.lemmas())
    bv = Encoding(model, [*(g.bad for g in goals_all), *(x for _n, x in cands)])
    # 1. the expected violations first, each queried at the explicit engine's depth when known:
    # a gate's first counterexample does not wait for the proofs
    bugs: list[tuple[Property, Expected]] = [(p, e) for p, e in todo if e == "violated"]
    # (the stuck test of no-deadlock gets its own run: it suits another solver, see bmc)
    for batch in ([b for b in bugs if b[0].kind != "deadlock"], [b for b in bugs if b[0].kind == "deadlock"]):
        if not batch:
            continue
        out = run_bmc(model, goals_for(model, batch, hints), _bmc_depth(options, hints), tick, enc=bv)
        states.update(out.states)
        for p, want in batch:
            if p.name in out.hits or out.stopped or hints is not None:
                results[p.name] = _bmc_verdict(p, want, out, hints, _bmc_depth(options, hints))
    # 2. proofs, from the lemma library
    rest = [(p, e) for p, e in todo if p.name not in results]
    if not rest:
        return
    goals = [bad_goal(p, model) for p, _e in rest]
    li = Encoding(model, [*(g.bad for g in goals), *(x for _n, x in cands)], arith="int")
    stepper = Stepper(li)
    lib = lemma_library(model, cands, tick, bv, stepper)
    why: dict[str, str] = {}
    for (p, e), g in zip(rest, goals, strict=True):
        r = prove_property(model, p, e, g, lib, options, tick, bv, li, stepper, describer)
        if isinstance(r, InvariantResult):
            results[p.name] = r
        else:
            why[p.name] = r
    # 3. BMC for what no proof decided; the proved lemmas hold on every reachable state:
    # asserting them at every step prunes the paths the solver must refute, no real one
    rest = [(p, e) for p, e in rest if p.name not in results]
    if not rest:
        return
    keep = [x for _n, x in lib.proved]
    out = run_bmc(model, goals_for(model, rest, hints), _bmc_depth(options, hints), tick, enc=bv, keep=keep)
    states.update(out.states)
    for p, e in rest:
        r = _bmc_verdict(p, e, out, hints, _bmc_depth(options, hints))
        if options.prove and r.verdict == "bounded" and p.name in why:
            r = InvariantResult(p.name, r.expected, "unknown", depth=r.depth, note=f"{why[p.name]}; {r.text()}")
        results[p.name] = r


def prove_property(model: Model, p: Property, expected: Expected, g: Goal, lib: LemmaLibrary, options: EngineOptions,
               tick: Callable[[int], bool], bv: Encoding, li: Encoding, stepper: Stepper,
               describer: Describer | None) -> InvariantResult | str:
    """A ``holds`` result, a ``violated`` one from a base case, or why no proof was found."""
    exp: Expected = expected
    lemmas = list(lib.proved)
    if p.kind == "state" and lib.covers(f"invariant:{p.name}"):
        return InvariantResult(p.name, exp, "holds", method="k-induction",
                               note=f"1-inductive within the lemma library ({len(lemmas)} lemmas)",
                               certificate=tuple(n for n, _e in lemmas))
    why: list[str] = []
    method = options.method if options.prove else "kind"
    if method in ("kind", "auto"):
        k = options.depth if method == "kind" and options.prove else min(AUTO_K, options.depth)
        po = prove(model, g, lemmas, k, tick, bv, stepper)
        if po.verdict == "proved":
            return InvariantResult(p.name, exp, "holds", method="k-induction", note=po.note,
                                   certificate=po.lemmas)
        if po.verdict == "violated" and po.hit is not None:
            return InvariantResult(p.name, exp, "violated", po.hit.depth, po.hit.trace)
        why.append(f"k-induction: {po.note}")
    if method in ("pdr", "auto") and tick(0):
        assume: list[Expr] = [e for _n, e in lemmas]
        pd = pdr(model, g, assume, li, rlimit=PDR_RLIMIT, describer=describer)
        if pd.verdict == "proved":
            used = f"; assumes the {len(lemmas)} lemmas of the library" if lemmas else ""
            return InvariantResult(p.name, exp, "holds", method="pdr",
                                   note=pd.note + used, certificate=pd.text)
        why.append("pdr: " + (pd.note or pd.verdict))
    return "; ".join(why)

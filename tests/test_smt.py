"""The z3 engine: translation, bounded checking, replay, reach, k-induction, lemmas."""

from __future__ import annotations

import random
from functools import cache

import pytest
import z3
from click.testing import CliRunner

from qmpmodel.check import Prepared, check_spec, prepare
from qmpmodel.core.expr import evaluate
from qmpmodel.core.model import compile_predicate, compile_successors
from qmpmodel.core.results import EngineOptions
from qmpmodel.core.trace import trace_from_path
from qmpmodel.engines import smt as smt
from qmpmodel.engines.explicit import check_explicit
from qmpmodel.engines.smt.gate import lemma_library
from qmpmodel.errors import InputError
from qmpmodel.invariants import INVARIANTS, invariant
from qmpmodel.qemu.lemmas import ModelView, named_lemmas
from qmpmodel.qemu.query import parse_goal
from qmpmodel.specs import load_spec

TINY = "specs/tiny.toml"
CURRENT = "specs/qemu-current.toml"


@cache
def prep(path: str) -> Prepared:
    return prepare(load_spec(path))


def _concrete(enc: smt.Encoding, tmpl: z3.ExprRef, s: tuple[int, ...],
              nxt: tuple[int, ...] | None = None, sel: int | None = None) -> bool:
    vs = enc.model.layout.vars
    pairs = [(enc.cur[i], enc.value(x, v.sort)) for i, (v, x) in enumerate(zip(vs, s, strict=True))]
    if nxt is not None:
        pairs += [(enc.nxt[i], enc.value(x, v.sort)) for i, (v, x) in enumerate(zip(vs, nxt, strict=True))]
    if sel is not None:
        pairs.append((enc.sel, z3.BitVecVal(sel, enc.sel_bits) if enc.arith == "bv" else z3.IntVal(sel)))
    out = z3.simplify(z3.substitute(tmpl, *pairs))
    assert z3.is_true(out) or z3.is_false(out), out
    return z3.is_true(out)


def _random_states(n: int, seed: int) -> list[tuple[int, ...]]:
    """Reachable states of tiny (so actions are enabled) and arbitrary in-range states."""
    model = prep(TINY).model
    rng = random.Random(seed)
    succ = compile_successors(model)
    out, s = [], model.init
    for _ in range(n):
        nxt = succ(s)
        s = rng.choice(nxt)[1] if nxt else model.init
        out.append(s)
        out.append(tuple(rng.randint(v.lo, v.hi) for v in model.layout.vars))
    return out


@pytest.mark.parametrize("arith", ["bv", "int"])
def test_translation_agrees_with_evaluate(arith: str) -> None:
    p = prep(TINY)
    model = p.model
    enc = smt.Encoding(model, arith=arith)
    preds = [inv.on(p.probes).expr for inv in INVARIANTS if inv.kind != "liveness"]
    exprs = [a.guard for a in model.actions] + preds + [model.pending]
    tmpls = enc.templates(exprs)
    for s in _random_states(12, seed=5):
        for e, t in zip(exprs, tmpls, strict=True):
            assert _concrete(enc, t, s) == bool(evaluate(e, s)), e
        # the transition relation: exactly the enabled actions' successors
        for i, a in enumerate(model.actions):
            if a.enabled(s):
                t = a.apply(s)
                assert _concrete(enc, enc.trans, s, t, i)
                k = next(v.index for v in model.layout.vars if v.sort == "int" and v.lo < v.hi)
                bumped = list(t)
                bumped[k] = t[k] + 1 if t[k] < model.layout.vars[k].hi else t[k] - 1
                assert not _concrete(enc, enc.trans, s, tuple(bumped), i)
            elif i % 7 == 0:
                assert not _concrete(enc, enc.trans, s, s, i)


def test_reference_to_z3_agrees_with_evaluate() -> None:
    p = prep(TINY)
    preds = [inv.on(p.probes).expr for inv in INVARIANTS if inv.kind != "liveness"]
    for s in _random_states(6, seed=9):
        vals = [z3.BoolVal(bool(x)) if v.sort == "bool" else z3.IntVal(x)
                for v, x in zip(p.model.layout.vars, s, strict=True)]
        for e in preds + [a.guard for a in p.model.actions]:
            assert z3.is_true(z3.simplify(smt.to_z3(e, vals))) == bool(evaluate(e, s))


def test_bit_width_covers_every_subexpression() -> None:
    p = prep(CURRENT)
    model = p.model
    w = smt.bit_width(model)
    assert 4 <= w <= 16
    goal = parse_goal("mon[0].queue_len + 1000 > 3", p.probes)
    w2 = smt.bit_width(model, [goal])
    assert (1 << (w2 - 1)) > 9 + 1000  # qlen <= 9


def test_bmc_finds_reply_order_all_at_explicit_depth_and_replays() -> None:
    p = prep(TINY)
    inv = invariant("reply-order-all").on(p.probes)
    ex = check_explicit(p.model, [(inv, "violated")])
    want = ex.invariants[0].depth
    assert want is not None
    out = smt.bmc(p.model, [smt.bad_goal(inv, p.model)], want + 2)
    hit = out.hits["reply-order-all"]
    assert hit.depth == want
    tr = trace_from_path(p.model, p.model.init, hit.actions)  # raises if an action is disabled
    final = p.model.encode(tr.states()[-1])
    assert not evaluate(inv.expr, final)
    assert [s.label for s in hit.trace.steps] == [s.label for s in tr.steps]


def test_check_engine_smt_gate_never_says_holds_without_a_proof() -> None:
    spec = load_spec(TINY)
    liveness = {inv.name for inv, _e in prepare(spec).task.obligations if inv.kind == "liveness"}
    r = check_spec(spec, "smt", EngineOptions(depth=14))
    by = {i.name: i for i in r.invariants}
    assert by["reply-order-all"].verdict == "violated"
    assert by["reply-order-all"].depth == 13
    for i in r.invariants:
        if i.name == "reply-order-all" or i.expected == "skip" or i.name in liveness:
            continue
        # a proof says which (k-induction within the gate), else a bounded check says its depth
        # (issue 17: bounded model checking never says "holds")
        if i.verdict == "holds":
            assert i.method == "k-induction" and i.text() == "holds (k-induction)", i
        else:
            assert i.verdict == "bounded" and i.depth == 14 and i.text() == "no violation up to depth 14"
            assert i.outcome == "inconclusive"
    assert by["progress"].verdict == "unknown"
    assert by["progress"].note == smt.LIVENESS_NOTE
    assert r.complete is False
    # nothing is contradicted: expected violations are found, the rest is proved or undecided
    assert r.outcome == "inconclusive"
    assert all(i.outcome != "contradicted" for i in r.invariants)


def test_reach_exit_codes() -> None:
    from qmpmodel.cli.reach import reach

    runner = CliRunner()
    ok = runner.invoke(reach, [TINY, "--goal", "mon[0].suspended and mon[0].queue_len == 0"])
    assert ok.exit_code == 0, ok.output
    assert "reachable at depth 4" in ok.output
    assert "dispatcher_pop" in ok.output
    no = runner.invoke(reach, [TINY, "--goal", "mon[0].suspend_cnt > 1", "--depth", "6"])
    assert no.exit_code == 3  # bounded: inconclusive, a deeper path might reach it
    assert "unreachable within 6" in no.output
    ex = runner.invoke(reach, [TINY, "--goal", "mon[0].suspend_cnt > 1", "--engine", "explicit"])
    assert ex.exit_code == 1
    assert "every reachable state explored" in ex.output
    bad = runner.invoke(reach, [TINY, "--goal", "mon[0].queue_len == 1 and (mon[0].oob or"])
    assert bad.exit_code == 2
    assert "column 41" in bad.output
    typo = runner.invoke(reach, [TINY, "--goal", "mon[0].suspendd"])
    assert typo.exit_code == 2
    assert "did you mean" in typo.output


def test_reach_engines_agree_on_witness_length() -> None:
    from qmpmodel.cli.reach import explicit_reach

    p = prep(TINY)
    model = p.model
    for goal in ("mon[0].suspended and mon[0].queue_len == 0", "client[0].answered[2]", "mon[0].executing"):
        e = parse_goal(goal, p.probes)
        hit = smt.reach(model, e, 12)
        path, _ = explicit_reach(model, compile_predicate(e), 12)
        assert (hit is None) == (path is None)
        if hit is not None and path is not None:
            assert hit.depth == len(path)


@pytest.mark.parametrize("goal, col", [
    ("mon[0].queue_len = 1", 18), ("(mon[0].queue_len == 1", 23), ("mon[0].queue_len", 1),
    ("mon[0].queue_len < 1 < 2", 22), ("not mon[0].queue_len", 5), ("mon[0].oob + 1 > 0", 1), ("", 1),
    ("mon[0].queue_len == 1 && x", 23), ("dsp.pc == 1", 1),
])
def test_query_errors_name_the_column(goal: str, col: int) -> None:
    with pytest.raises(InputError) as ei:
        parse_goal(goal, prep(TINY).probes)
    assert ei.value.source == "<query>"
    assert ei.value.where == f"column {col}"


def test_query_syntax() -> None:
    p = prep(CURRENT)
    model = p.model
    s = list(model.init)
    names = model.var_names
    s[names.index("mon0.suspend_cnt")] = 1
    s[names.index("dsp.pc")] = 6
    s[names.index("dsp.ctx")] = 1
    s[names.index("main.nest")] = 1
    for goal, want in [
        ("mon[0].suspended and mon[0].queue_len == 0", True),
        ("mon[0].suspend_cnt >= 2 or not mon[0].suspended", False),
        # a coroutine command waiting in iohandler_ctx while the main loop drains (bug C's state)
        ("coroutine.ctx == iohandler_ctx and main.draining", True),
        ("coroutine.ctx == qemu_aio_context", False),
        ("mon[0].oob == 0 and client[1].answered[2] == false", True),
        ("-1 < mon[ 0 ].suspend_cnt - 2 + 3", True),
    ]:
        assert bool(evaluate(parse_goal(goal, p.probes), tuple(s))) is want, goal


def test_kinduction_proves_inband_mutual_exclusion_on_qemu_current() -> None:
    p = prep(CURRENT)
    po = smt.prove(p.model, smt.bad_goal(invariant("inband-mutual-exclusion").on(p.probes), p.model),
                   list(p.task.lemmas()), 2)
    assert po.verdict == "proved", po.note


@pytest.mark.parametrize("name", ["queue-bound", "suspend-balance"])
def test_kinduction_proves_queue_invariants_on_qemu_current(name: str) -> None:
    p = prep(CURRENT)
    po = smt.prove(p.model, smt.bad_goal(invariant(name).on(p.probes), p.model), list(p.task.lemmas()), 2)
    assert po.verdict == "proved", po.note


def test_kinduction_proves_no_deadlock_on_qemu_current() -> None:
    """No wait-for cycle and never stuck with work pending: 1-inductive once the dispatcher lemmas say
    that an idle dispatcher has empty queues and that it holds only requests the reader queues."""
    p = prep(CURRENT)
    po = smt.prove(p.model, smt.bad_goal(invariant("no-deadlock").on(p.probes), p.model), list(p.task.lemmas()), 1)
    assert po.verdict == "proved", po.note
    used = {n.split("#")[0] for n in po.lemmas}
    assert {"dispatcher-idle", "dispatcher-kind", "queued-kinds", "dispatcher-parked"} <= used
    weaker = [(n, e) for n, e in p.task.lemmas() if n.split("#")[0] not in ("dispatcher-idle", "queued-kinds")]
    po = smt.prove(p.model, smt.bad_goal(invariant("no-deadlock").on(p.probes), p.model), weaker, 1)
    assert po.verdict == "unknown" and po.cti is not None


def test_a_bug_design_loses_only_the_lemma_clauses_it_falsifies() -> None:
    """COMMAND_DROPPED (bug D) falsifies a clause of ``fresh`` and of ``unanswered-somewhere``; with
    lemmas entering Houdini clause by clause, the rest still proves D's no-deadlock."""
    r = check_spec(load_spec("specs/bugs/D-command-dropped.toml"), "smt", EngineOptions(depth=30))
    by = {i.name: i for i in r.invariants}
    assert by["exactly-once-reply"].verdict == "violated" and by["exactly-once-reply"].depth == 9
    assert by["no-deadlock"].verdict == "holds" and by["no-deadlock"].method == "k-induction"
    kept = set(by["no-deadlock"].certificate or ())
    assert any(n.startswith("fresh#") for n in kept) and "fresh" not in kept


def test_a_design_that_suspends_too_often_keeps_the_half_of_suspend_accounting_it_does_not_break() -> None:
    """Bug E never resumes a closed monitor: suspend_cnt exceeds its reasons. The equality
    ``suspend_cnt == reasons`` enters Houdini as ``<=`` and ``>=``; the ``>=`` half survives and
    proves queue-bound (without the split queue-bound was only bounded by BMC)."""
    r = check_spec(load_spec("specs/bugs/E-closed-without-resume.toml"), "smt", EngineOptions(depth=30))
    by = {i.name: i for i in r.invariants}
    assert by["suspend-accounting"].verdict == "violated"
    qb = by["queue-bound"]
    assert qb.verdict == "holds" and qb.method == "k-induction"
    kept = set(qb.certificate or ())
    assert "invariant:suspend-accounting>=" in kept and "invariant:suspend-accounting<=" not in kept


def test_an_equivalence_lemma_is_split_into_two_implications() -> None:
    """On a mux chardev (bug X) a client is connected before its session opens: ``connection``'s
    "conn names the client => its session is live" is false there, the converse is not."""
    p = prep("specs/bugs/X-never-opened-monitor.toml")
    cands = dict(p.task.lemmas())
    assert {"connection#0=>", "connection#0<="} <= set(cands)
    succ = compile_successors(p.model)
    seen, todo = {p.model.init}, [p.model.init]
    while todo:
        for _a, t in succ(todo.pop()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    assert not all(evaluate(cands["connection#0=>"], s) for s in seen)
    assert all(evaluate(cands["connection#0<="], s) for s in seen)
    lib = lemma_library(p.model, list(p.task.lemmas()))
    assert "connection#0<=" in lib.names() and "connection#0=>" in lib.dropped


def test_kinduction_finds_violation_in_base_case() -> None:
    p = prep("specs/bugs/K-mux-suspend-clobber.toml")
    prop = invariant("suspend-balance").on(p.probes)
    po = smt.prove(p.model, smt.bad_goal(prop, p.model), list(p.task.lemmas()), 6)
    assert po.verdict == "violated"
    (shortest,) = check_explicit(p.model, [(prop, "violated")]).invariants
    assert po.hit is not None and po.hit.depth == shortest.depth


def test_structural_lemmas_hold_on_every_reachable_state_of_qemu_current() -> None:
    p = prep(CURRENT)
    lemmas = named_lemmas(ModelView(p.model, p.qemu.design, p.spec.bounds))
    assert lemmas
    preds = [(n, compile_predicate(e)) for n, e in lemmas]
    succ = compile_successors(p.model)
    seen = {p.model.init}
    todo = [p.model.init]
    false: set[str] = set()
    while todo:
        s = todo.pop()
        false.update(n for n, pred in preds if not pred(s))
        for _a, t in succ(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    assert not false, sorted(false)
    assert len(seen) > 10_000


def test_a_split_candidate_is_proved_only_when_every_part_is() -> None:
    from qmpmodel.core.expr import TRUE
    from qmpmodel.engines.smt.gate import LemmaLibrary

    lib = LemmaLibrary((("invariant:a<=", TRUE), ("invariant:a>=", TRUE), ("invariant:ab#0", TRUE),
                        ("invariant:c#0=>", TRUE)), ("invariant:c#1",))
    assert lib.covers("invariant:a") and lib.covers("invariant:ab")
    assert not lib.covers("invariant:c") and not lib.covers("invariant:d")

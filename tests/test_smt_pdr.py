"""PDR (Spacer), the symbolic gate and the lemma library, on toy models with known answers and on tiny."""

from __future__ import annotations

import pytest

from qmpmodel.check import prepare
from qmpmodel.core.expr import StateLayout, evaluate, lit
from qmpmodel.core.model import Action, Model, compile_successors
from qmpmodel.core.results import EngineOptions
from qmpmodel.core.task import CheckTask, Property
from qmpmodel.core.trace import trace_from_path
from qmpmodel.engines import smt
from qmpmodel.engines.smt.gate import explicit_hints, goals_for, lemma_library
from qmpmodel.errors import ModelDefinitionError
from qmpmodel.invariants import invariant
from qmpmodel.specs import load_spec

TINY = "specs/tiny.toml"


def _toy() -> tuple[Model, list[Property]]:
    """Two counters: x climbs to 3 by inc; y copies x when even. Hand-known facts:
    reachable (x, y): x in 0..3, y in {0, 2}; so y <= 2 holds, x <= 2 fails at depth 3, and
    y <= x holds but is not 1-inductive on its own (y == 2, x == 1 is a CTI: x only grows)."""
    lay = StateLayout()
    x = lay.int("x", 0, 7)
    y = lay.int("y", 0, 7)
    acts = (
        Action("inc", "env", (), x < 3, ((x, x + 1),), fair="env"),
        Action("copy", "env", (), (x == 2) & (y != x), ((y, x),), fair="env"),
    )
    model = Model(lay, (0, 0), acts, lit(False))
    props = [Property("y-small", "state", y <= 2), Property("x-small", "state", x <= 2),
             Property("y-below-x", "state", y <= x)]
    return model, props


def _reachable(model: Model) -> set[tuple[int, ...]]:
    succ = compile_successors(model)
    seen = {model.init}
    todo = [model.init]
    while todo:
        s = todo.pop()
        for _a, t in succ(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


@pytest.mark.parametrize("name", ["y-small", "y-below-x"])
def test_pdr_proves_toy_property_with_a_checked_invariant(name: str) -> None:
    model, props = _toy()
    prop = next(p for p in props if p.name == name)
    out = smt.pdr(model, smt.bad_goal(prop, model))
    assert out.verdict == "proved", out.note
    # the certificate is an invariant: true on every reachable state, and it excludes the bad ones
    reach = _reachable(model)
    assert reach == {(0, 0), (1, 0), (2, 0), (2, 2), (3, 0), (3, 2)}
    for s in reach:
        assert all(evaluate(e, s) for e in out.invariant), (s, out.text)
    assert len(out.text) == len(out.invariant)
    assert all("x" in t or "y" in t for t in out.text)


def test_pdr_reports_a_reachable_violation() -> None:
    model, props = _toy()
    out = smt.pdr(model, smt.bad_goal(props[1], model))
    assert out.verdict == "reachable"


def test_run_prove_method_pdr_gives_holds_pdr_and_a_replayable_violation() -> None:
    model, props = _toy()
    task = CheckTask(model, tuple((p, "holds") for p in props))
    r = smt.run(task, EngineOptions(prove=True, method="pdr", depth=8))
    by = {i.name: i for i in r.invariants}
    assert by["y-small"].verdict == "holds" and by["y-small"].method == "pdr"
    assert by["y-small"].certificate
    assert by["y-below-x"].verdict == "holds" and by["y-below-x"].method == "pdr"
    # x <= 2 is false: refuted by BMC with a shortest path that replays through the model
    bad = by["x-small"]
    assert bad.verdict == "violated" and bad.depth == 3 and bad.outcome == "contradicted"
    assert bad.trace is not None
    tr = trace_from_path(model, model.init, [s.index for s in bad.trace.steps])
    assert tr.states()[-1]["x"] == 3


def _lockstep() -> tuple[Model, Property]:
    """x and y climb together to 5; a stutter step does nothing. ``y <= 5`` holds, but no k makes
    it k-inductive: (x = 0, y = 5) stutters k times, then inc reaches y = 6. PDR needs x == y."""
    lay = StateLayout()
    x = lay.int("x", 0, 7)
    y = lay.int("y", 0, 7)
    acts = (Action("inc", "env", (), x < 5, ((x, x + 1), (y, y + 1)), fair="env"),
            Action("stutter", "env", (), lit(True), (), fair="env"))
    return Model(lay, (0, 0), acts, lit(False)), Property("y-bounded", "state", y <= 5)


def test_kind_cannot_but_pdr_can() -> None:
    model, prop = _lockstep()
    task = CheckTask(model, ((prop, "holds"),))
    kind = smt.run(task, EngineOptions(prove=True, method="kind", depth=4)).invariants[0]
    assert kind.verdict == "unknown" and "not inductive at k=4" in kind.note
    # what BMC established is stated, never claimed as holds
    assert "no violation up to depth" in kind.note
    pdr = smt.run(task, EngineOptions(prove=True, method="pdr", depth=4)).invariants[0]
    assert pdr.verdict == "holds" and pdr.method == "pdr"
    # the invariant relates the two counters (what makes y <= 5 inductive)
    assert any("x" in t and "y" in t for t in pdr.certificate), pdr.certificate
    auto = smt.run(task, EngineOptions(prove=True, method="auto", depth=4)).invariants[0]
    assert auto.verdict == "holds" and auto.method == "pdr"


def test_gate_queries_a_known_violation_once_at_the_explicit_depth() -> None:
    p = prepare(load_spec(TINY))
    inv = invariant("reply-order-all").on(p.probes)
    hints = explicit_hints(p.model, [(inv, "violated")])
    assert hints is not None and hints.first == {"reply-order-all": 13} and hints.diameter == 20
    out = smt.bmc(p.model, goals_for(p.model, [(inv, "violated")], hints), 30)
    assert out.hits["reply-order-all"].depth == 13
    assert out.queries == 1
    # a wrong hint is an engine disagreement, not a silent deeper search
    (g,) = goals_for(p.model, [(inv, "violated")], hints)
    g.first = 12
    with pytest.raises(ModelDefinitionError, match="disagree"):
        smt.bmc(p.model, [g], 30)


def test_lemma_library_is_invariant_on_every_reachable_state_of_tiny() -> None:
    p = prepare(load_spec(TINY))
    lib = lemma_library(p.model, list(p.task.lemmas()))
    assert len(lib.proved) > 50
    assert "invariant:reply-order-all" in lib.dropped  # violated in tiny: never kept
    reach = _reachable(p.model)
    for name, e in lib.proved:
        assert all(evaluate(e, s) for s in reach), name


def test_prove_mode_on_tiny_decides_every_safety_property() -> None:
    spec = load_spec(TINY)
    p = prepare(spec)
    r = smt.run(p.task, EngineOptions(prove=True, depth=30))
    for i in r.invariants:
        if p.task.property(i.name).kind == "liveness" or i.expected == "skip":
            assert i.verdict == "unknown"
        elif i.name == "reply-order-all":
            assert i.verdict == "violated" and i.depth == 13 and i.met
        else:
            assert i.verdict == "holds" and i.method in ("k-induction", "pdr"), (i.name, i.verdict, i.note)


def test_cli_method_flag_and_exit_code() -> None:
    from click.testing import CliRunner

    from qmpmodel.cli import main

    r = CliRunner().invoke(main, ["check", TINY, "--engine", "smt", "--prove", "--method", "kind", "-v"])
    # progress (liveness) stays undecided: exit 3, nothing contradicted
    assert r.exit_code == 3, r.output
    assert "reply-order-all            violated at depth 13" in r.output
    assert "no-deadlock                holds (k-induction)" in r.output
    bad = CliRunner().invoke(main, ["check", TINY, "--engine", "smt", "--prove", "--method", "ic3"])
    assert bad.exit_code == 2

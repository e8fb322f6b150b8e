"""The Hypothesis engine (qmpmodel.engines.hypothesis) and the pytest entry point (qmpmodel.testing).

Every counterexample Hypothesis finds is replayed with the explicit engine's
replay (every guard re-checked) and must violate the same invariant; the
exhaustive engine must agree that the invariant is violated, at a depth no
greater than the shrunk trace's.
"""

from __future__ import annotations

import functools
import unittest
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from qmpmodel.check import check_spec, prepare
from qmpmodel.core.results import EngineOptions
from qmpmodel.engines.hypothesis import (
    compile_properties,
    confirm_with_explicit,
    format_program,
    minimise_path,
    parse_program,
    replay_violation,
    run,
    search,
)
from qmpmodel.invariants import invariant
from qmpmodel.specs import load_spec
from qmpmodel.testing import DEFAULT_SETTINGS, replay_program, state_machine_for

ROOT = Path(__file__).resolve().parent.parent
CURRENT = ROOT / "specs" / "qemu-current.toml"
TINY = ROOT / "specs" / "tiny.toml"
BUGS = sorted((ROOT / "specs" / "bugs").glob("*.toml"))

#: Budget of the bug-spec test: examples until the first counterexample.
BUG_EXAMPLES = 1000

#: Bugs too rare for the steered search within BUG_EXAMPLES (seed 0): spec stem, invariant -> reason.
TOO_RARE: dict[tuple[str, str], str] = {}


def _bug_cases() -> list[object]:
    cases: list[object] = []
    for path in BUGS:
        spec = load_spec(path)
        for inv, exp in spec.expectations:
            if exp == "violated" and inv.kind != "liveness":
                reason = TOO_RARE.get((path.stem, inv.name))
                marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
                cases.append(pytest.param(path, inv.name, id=f"{path.stem}:{inv.name}", marks=marks))
    return cases


@functools.cache
def _explicit_depths(path: Path) -> dict[str, int | None]:
    """The explicit engine's shortest depth per invariant of a spec (one exhaustive run per spec)."""
    return {r.name: r.depth for r in check_spec(load_spec(path)).invariants if r.verdict == "violated"}


def _run_testcase(machine_testcase: type[unittest.TestCase]) -> unittest.TestResult:
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(machine_testcase)
    result = unittest.TestResult()
    suite.run(result)
    return result


def test_finds_cross_session_reply_and_replays() -> None:
    prepared = prepare(load_spec(CURRENT))
    (prop,) = compile_properties(prepared.model, [invariant("no-cross-session-reply").on(prepared.probes)])
    out = search(prepared.model, [prop], examples=500, seed=0)
    assert out.prop == "no-cross-session-reply"
    assert out.trace is not None
    assert replay_violation(prepared.model, prop, list(out.path)) is not None
    shortest = confirm_with_explicit(prepared.task, "no-cross-session-reply", out.trace)
    explicit = {r.name: r for r in check_spec(load_spec(CURRENT)).invariants}["no-cross-session-reply"]
    assert explicit.depth == shortest
    assert shortest <= len(out.path) <= 1.5 * shortest


def test_engine_contract_on_qemu_current() -> None:
    prepared = prepare(load_spec(CURRENT))
    task = prepared.task.only(["suspend-balance", "reply-order-all", "no-cross-session-reply", "progress"])
    r = run(task, EngineOptions(examples=300, seed=0))
    assert not r.complete
    assert r.states > 1 and r.transitions >= r.depth > 0
    by = {i.name: i for i in r.invariants}
    for name in ("no-cross-session-reply", "reply-order-all"):
        assert by[name].verdict == "violated" and by[name].met
        assert by[name].trace is not None and by[name].depth == by[name].trace.depth
    # random testing never claims "holds"
    assert all(i.verdict in ("violated", "not-found", "unknown") for i in r.invariants)
    assert by["suspend-balance"].verdict == "not-found" and by["suspend-balance"].examples == 300
    assert by["suspend-balance"].text() == "not found in 300 examples"
    assert by["suspend-balance"].outcome == "inconclusive"
    assert "liveness" in by["progress"].note


def test_same_seed_same_result() -> None:
    prepared = prepare(load_spec(TINY))

    def once(seed: int) -> tuple[object, ...]:
        r = run(prepared.task, EngineOptions(examples=150, seed=seed))
        return (r.states, r.transitions, r.depth,
                tuple((i.name, i.verdict, i.depth, i.trace.path() if i.trace else None, i.note)
                      for i in r.invariants))

    first = once(7)
    assert first == once(7)
    assert dict((n, v) for n, v, *_ in first[3])["reply-order-all"] == "violated"  # type: ignore[misc]


def test_program_round_trip() -> None:
    prepared = prepare(load_spec(TINY))
    (prop,) = compile_properties(prepared.model, [invariant("reply-order-all").on(prepared.probes)])
    out = search(prepared.model, [prop], examples=300, seed=1)
    assert out.trace is not None
    program = format_program(out.trace)
    lines = program.splitlines()
    assert len(lines) == out.trace.depth
    assert all(line.startswith('state.step("') and "  # " in line for line in lines)
    assert parse_program(prepared.model, program) == list(out.path)
    replay = replay_program(TINY, program)
    assert replay.path == list(out.path)
    assert not replay.holds(prepared.prop("reply-order-all"))
    with pytest.raises(ValueError, match="not enabled"):
        replay_program(TINY, lines[-1])


def test_testcase_passes_on_qemu_current() -> None:
    machine = state_machine_for(CURRENT)
    assert machine.TestCase.settings.max_examples == DEFAULT_SETTINGS.max_examples
    names = {n for n in dir(machine) if n.startswith("check_")}
    assert "check_suspend_balance" in names and "check_no_cross_session_reply" not in names
    result = _run_testcase(machine.TestCase)
    assert result.wasSuccessful(), result.failures + result.errors


def test_testcase_fails_when_a_violated_invariant_is_pinned_holds(tmp_path: Path) -> None:
    text = TINY.read_text(encoding="utf-8")
    spec = tmp_path / "tiny-wrong.toml"
    spec.write_text(text.replace('reply-order-all = "violated"', ""), encoding="utf-8")
    # Hypothesis' own shrinking of a failing TestCase takes tens of seconds (it is exercised, with a
    # step budget, by the engine tests); here the failure message's step-deletion pass shrinks it
    machine = state_machine_for(spec, test_settings=settings(DEFAULT_SETTINGS, max_examples=200,
                                                             phases=(Phase.generate,)))
    result = _run_testcase(machine.TestCase)
    assert not result.wasSuccessful()
    (_case, message), = result.failures
    assert "invariant 'reply-order-all' violated after 13 steps" in message  # the shortest: 13
    assert 'state.step("send", client=0' in message


@pytest.mark.skipif(not BUGS, reason="no bug specs under specs/bugs yet")
@pytest.mark.parametrize(("path", "name"), _bug_cases())
def test_every_bug_is_found_and_replays(path: Path, name: str) -> None:
    prepared = prepare(load_spec(path))
    (prop,) = compile_properties(prepared.model, [invariant(name).on(prepared.probes)])
    # a case known to be too rare gets a token budget: it is expected to fail (strict xfail)
    examples = 100 if (path.stem, name) in TOO_RARE else BUG_EXAMPLES
    out = search(prepared.model, [prop], examples=examples, seed=0)
    assert out.prop == name, f"{name} not found in {examples} examples"
    assert out.trace is not None
    # replayed with the explicit engine's replay, the shrunk run violates the same invariant ...
    assert replay_violation(prepared.model, prop, list(out.path)) is not None
    # ... and the exhaustive engine agrees, with a shortest counterexample no longer than it,
    # and the minimised run is at most 1.5 times the shortest (issue 18)
    shortest = _explicit_depths(path).get(name)
    assert shortest is not None, f"the explicit engine does not find {name} violated"
    assert shortest <= len(out.path) <= 1.5 * shortest


def _reachable(model: object) -> list[tuple[int, ...]]:
    from qmpmodel.core.model import compile_successors

    succ = compile_successors(model)  # type: ignore[arg-type]
    seen = {model.init}  # type: ignore[attr-defined]
    todo = [model.init]  # type: ignore[attr-defined]
    while todo:
        s = todo.pop()
        for _a, t in succ(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return sorted(seen)


@pytest.mark.parametrize(("spec", "name"), [(TINY, "reply-order-all"),
                                            (ROOT / "specs/bugs/C-drain-polls-only-aio-context.toml", "no-deadlock")])
def test_distance_is_zero_exactly_at_or_one_step_before_a_violation(spec: Path, name: str) -> None:
    """The steering distance (branch distance of bad and of its one-step precondition) on every reachable state."""
    from qmpmodel.core.model import compile_successors, is_stuck
    from qmpmodel.engines.hypothesis import compile_distance

    prepared = prepare(load_spec(spec))
    model = prepared.model
    (prop,) = compile_properties(model, [invariant(name).on(prepared.probes)])
    assert prop.bad is not None
    dist = compile_distance(model, prop.bad)
    succ = compile_successors(model)

    def bad(s: tuple[int, ...]) -> bool:
        return not prop.holds(s, is_stuck(model, succ(s)))

    seen_zero = seen_positive = False
    for s in _reachable(model):
        d = dist(s)
        assert d >= 0
        if bad(s):
            assert d == 0
        if d == 0:
            seen_zero = True
            # zero: bad now, or (with a precondition) one enabled step makes it bad
            assert bad(s) or any(bad(t) for _a, t in succ(s)), model.decode(s)
        else:
            seen_positive = True
    assert seen_zero and seen_positive


def test_minimiser_is_deterministic_and_finds_the_shortest_path_of_the_same_steps() -> None:
    prepared = prepare(load_spec(CURRENT))
    (prop,) = compile_properties(prepared.model, [invariant("no-cross-session-reply").on(prepared.probes)])
    out = search(prepared.model, [prop], examples=300, seed=3, minimise=False, steer=False)
    assert out.prop == "no-cross-session-reply"
    raw = list(out.path)
    first = minimise_path(prepared.model, prop, raw)
    assert first == minimise_path(prepared.model, prop, raw)  # a function of the path alone
    assert replay_violation(prepared.model, prop, first) is not None
    assert len(first) <= len(raw)
    assert set(first) <= set(raw) or len(first) < len(raw)
    assert len(first) == 8  # the explicit engine's shortest (specs/README.md)


def test_machine_uses_only_public_hypothesis_api() -> None:
    import inspect

    from qmpmodel.engines.hypothesis import machine

    src = inspect.getsource(machine)
    assert "_rules_strategy" not in src and "hypothesis.internal" not in src


P_STALE = ROOT / "specs" / "bugs" / "P-stale-capabilities-suspend.toml"


def test_p_stale_suspend_violations_are_found_at_the_default_budget(tmp_path: Path) -> None:
    """The rare P-stale interleavings (a stale qmp_capabilities run in the next session): ``check`` at seed 0, 200 examples.

    Run as the command line runs it, in a process of its own, and again in this test process,
    which has imported much more: Hypothesis mixes integer constants of every loaded
    (non-library) module into what it draws unless the engine turns that off, and then the same
    seed gave different runs in the two (the same example counts and traces now).
    """
    import json
    import os
    import subprocess
    import sys
    from dataclasses import replace

    names = ["suspend-balance", "suspend-accounting", "no-deadlock"]
    out = tmp_path / "result.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "qmpmodel", "check", str(P_STALE), "--engine", "hypothesis", "-q",
                    "-k", " or ".join(names), "--json", str(out)], cwd=ROOT, env=env, check=False,
                   capture_output=True)
    (result,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    by = {i["name"]: i for i in result["invariants"]}
    prepared = prepare(load_spec(P_STALE))
    shortest = _explicit_depths(P_STALE)
    for name in names:
        got = by[name]
        assert got["verdict"] == "violated", f"{name}: {got['text']}"
        path = [step["index"] for step in got["trace"]]
        (prop,) = compile_properties(prepared.model, [invariant(name).on(prepared.probes)])
        assert replay_violation(prepared.model, prop, path) is not None
        depth = shortest[name]
        assert depth is not None and depth <= len(path) <= 1.5 * depth
    spec = load_spec(P_STALE)
    here = check_spec(replace(spec, expectations=tuple((i, e) for i, e in spec.expectations if i.name in names)),
                      "hypothesis", EngineOptions())
    for r in here.invariants:
        assert (r.verdict, r.note) == (by[r.name]["verdict"], by[r.name]["note"])
        assert r.trace is not None and [s.index for s in r.trace.steps] == [s["index"] for s in by[r.name]["trace"]]


def test_novelty_search_without_a_distance_finds_and_replays() -> None:
    """Novelty alone (no property distance: every state at distance 0) still walks the model and finds the bug."""
    prepared = prepare(load_spec(TINY))
    (prop,) = compile_properties(prepared.model, [invariant("reply-order-all").on(prepared.probes)])
    out = search(prepared.model, [prop], examples=400, seed=0, steer=False, novelty=True, greedy_odds=2,
                 densities=(0.5, 0.75))
    assert out.prop == "reply-order-all"
    assert replay_violation(prepared.model, prop, list(out.path)) is not None
    assert len(out.path) == 13  # the shortest (see test_testcase_fails_when_a_violated_invariant_is_pinned_holds)


def test_novelty_prefers_the_least_visited_successor() -> None:
    """Greedy steps with novelty and no distance: an example's episodes do not repeat the same path."""
    from hypothesis import given
    from hypothesis import strategies as st

    from qmpmodel.engines.hypothesis import SearchStats, build_machine

    prepared = prepare(load_spec(TINY))
    paths: list[tuple[int, ...]] = []

    stats = SearchStats()
    machine = build_machine(prepared.model, (), swarm=False, stats=stats, novelty=True, greedy_odds=1)

    @given(st.data())
    @settings(max_examples=1, database=None, deadline=None)
    def walk(data: st.DataObject) -> None:
        m = machine()
        for _ in range(60):
            before = tuple(m.path)
            m.step(data)
            if before and not m.path:  # the episode ended: a new one starts
                paths.append(before)

    walk()
    assert len(paths) >= 2
    # always greedy, ties broken by visits in this example: the second episode leaves the first one's path
    assert paths[0] != paths[1]
    # without novelty, always-greedy steps at distance 0 take the lowest-numbered action: the same path
    paths.clear()
    machine = build_machine(prepared.model, (), swarm=False, distance=lambda _s: 0, greedy_odds=1)
    walk()
    assert len(paths) >= 2 and paths[0] == paths[1]

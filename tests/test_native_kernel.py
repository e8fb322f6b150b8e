"""The native kernel on toy models with hand-known answers, its batch API, budgets and fallback."""

from __future__ import annotations

import random
from array import array

import pytest

from qmpmodel.core.expr import StateLayout, evaluate, lit
from qmpmodel.core.model import Action, Model, compile_successors, is_stuck
from qmpmodel.core.results import EngineOptions
from qmpmodel.core.task import CheckTask, Observer, Property
from qmpmodel.engines import explicit
from qmpmodel.engines.native import engine as native
from qmpmodel.engines.native.build import Loaded, NoCompiler, SystemToolchain
from qmpmodel.engines.native.codegen import pack_layout
from qmpmodel.engines.native.kernel import PENDING_BIT, STUCK_BIT
from qmpmodel.errors import ModelDefinitionError

TC = SystemToolchain(flags=("-O0",))


def counter(limit: int = 3) -> tuple[Model, list[Property]]:
    """x counts to 3 (weakly fair) and an unfair reset sets it to 0 and ``done``; y counts to 2 (unfair).

    Reachable: every (x, y) with done = 0 and with done = 1: 2 * 4 * 3 = 24 states; the farthest,
    (3, 2, 1), is 3 + 1 + 3 + 2 = 9 steps away. Stuck (no fair action: x = 3) with pending work
    (y = 1 and done) first after 3 + 1 + 3 + 1 = 8 steps; y = 2 first after 2 steps.
    """
    lay = StateLayout()
    x, y, done = lay.int("x", 0, 3), lay.int("y", 0, 2), lay.bool("done")
    acts = (
        Action("inc_x", "a", (), x < limit, ((x, x + 1),), fair="a"),
        Action("inc_y", "b", (), y < 2, ((y, y + 1),)),
        Action("reset", "a", (), x == 3, ((x, lit(0)), (done, lit(True)))),
    )
    model = Model(lay, (0, 0, 0), acts, pending=(y == 1) & done)
    props = [Property("y-small", "state", y < 2), Property("no-stuck", "deadlock", x >= 0)]
    return model, props


def test_counter_space_and_verdicts() -> None:
    model, props = counter()
    task = CheckTask(model, tuple((p, "holds") for p in props))
    r = native.run(task, EngineOptions(), toolchain=TC)
    assert (r.states, r.depth, r.complete) == (24, 9, True)
    by = {i.name: i for i in r.invariants}
    assert (by["y-small"].verdict, by["y-small"].depth) == ("violated", 2)
    assert (by["no-stuck"].verdict, by["no-stuck"].depth) == ("violated", 8)
    assert by["no-stuck"].trace is not None and by["no-stuck"].trace.states()[-1] == {"x": 3, "y": 1, "done": True}
    ex = explicit.run(task, EngineOptions())
    assert [(i.verdict, i.depth) for i in r.invariants] == [(i.verdict, i.depth) for i in ex.invariants]
    assert r.states == ex.states == 24


def test_range_error_is_reported_not_wrapped() -> None:
    lay = StateLayout()
    x = lay.int("x", 0, 3)
    model = Model(lay, (0,), (Action("inc", "a", (), x < 5, ((x, x + 1),)),), pending=x < 0)
    task = CheckTask(model, ((Property("any", "state", x >= 0), "holds"),))
    with pytest.raises(ModelDefinitionError, match=r"inc sets x to 4, outside its declared range 0\.\.3"):
        native.run(task, EngineOptions(), toolchain=TC)


def wide() -> Model:
    """13 variables of 5 bits: 65 bits, so the last field straddles two words."""
    lay = StateLayout()
    vs = [lay.int(f"v{i}", -3, 28) for i in range(13)]
    acts = tuple(Action(f"bump{i}", "a", (("i", i),), v < 28, ((v, v + 1),)) for i, v in enumerate(vs))
    return Model(lay, tuple([-3] * 13), acts, pending=vs[0] < -3)


def test_layout_straddles_and_round_trips() -> None:
    model = wide()
    lay = pack_layout(model)
    assert (lay.bits, lay.words, lay.exact) == (65, 2, False)
    assert (lay.fields[12].offset, lay.fields[12].width) == (60, 5)
    k = native.compile_kernel(model, [], [], TC)
    b = k.batch()
    rng = random.Random(7)
    states = [tuple(rng.randint(-3, 28) for _ in range(13)) for _ in range(200)]
    words = b.pack(states)
    assert len(words) == 2 * len(states)
    assert b.unpack(words) == states


def test_batch_api_matches_python() -> None:
    model, props = counter()
    k = native.compile_kernel(model, [p.expr for p in props], [], TC)
    b = k.batch()
    succ = compile_successors(model)
    states = [(x, y, d) for x in range(4) for y in range(3) for d in (0, 1)]
    words = b.pack(states)
    out, acts, src = b.expand(words)
    expect = [(i, a, t) for i, s in enumerate(states) for a, t in succ(s)]
    assert list(zip(src, acts, b.unpack(out), strict=True)) == expect
    bits = b.evaluate(words)
    for s, m in zip(states, bits, strict=True):
        for j, p in enumerate(props):
            assert bool(m >> j & 1) == (not evaluate(p.expr, s))
        assert bool(m >> STUCK_BIT & 1) == is_stuck(model, succ(s))
        assert bool(m >> PENDING_BIT & 1) == bool(evaluate(model.pending, s))
    w = b.words
    assert b.insert(words[:5 * w]) == [True] * 5
    assert b.insert(words[:10 * w] + words[:w]) == [False] * 5 + [True] * 5 + [False]
    fp = b.fingerprints(words)
    assert len(set(fp)) == len(states) and list(b.fingerprints(words[:3 * w])) == list(fp[:3])
    assert b.canonical(words) == words  # no group: every state is its own representative
    assert b.words == 1
    with pytest.raises(ValueError):
        k2 = native.compile_kernel(wide(), [], [], TC)
        k2.batch().unpack(array("Q", [0, 0, 0]))  # two words per state


class _StopAfter(Observer):
    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def progress(self, states: int, depth: int) -> bool:
        self.calls += 1
        return self.calls < self.n


def test_budgets_end_in_unknown() -> None:
    model = wide()
    task = CheckTask(model, ((Property("fine", "state", model.layout.vars[0] >= -3), "holds"),))
    r = native.run(task, EngineOptions(max_states=5000), toolchain=TC)
    ex = explicit.run(task, EngineOptions(max_states=5000))
    assert (r.states, r.complete, r.invariants[0].verdict) == (5000, False, "unknown") == (ex.states, ex.complete,
                                                                                         ex.invariants[0].verdict)
    assert "state budget" in r.invariants[0].note
    r = native.run(task, EngineOptions(max_states=10**9, max_memory=1 << 20), toolchain=TC)
    assert (r.complete, r.invariants[0].verdict) == (False, "unknown")
    assert "memory budget" in r.invariants[0].note
    k = native.compile_kernel(model, [], [], TC)
    obs = _StopAfter(2)
    found = k.search(progress=lambda s, d, b: obs.progress(s, d), progress_every=100)
    assert found.status == 2 and obs.calls == 2 and found.states < 10**6


class _NoCompiler:
    def load(self, model_source: str) -> Loaded:
        raise NoCompiler("no C compiler found (test)")


def test_fallback_without_compiler() -> None:
    model, props = counter()
    task = CheckTask(model, tuple((p, "holds") for p in props))
    r = native.run(task, EngineOptions(), toolchain=_NoCompiler())
    ex = explicit.run(task, EngineOptions())
    assert r.states == ex.states
    assert [(i.verdict, i.depth) for i in r.invariants] == [(i.verdict, i.depth) for i in ex.invariants]
    assert all("explicit Python engine used" in i.note for i in r.invariants)

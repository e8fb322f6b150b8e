"""The native engine against its oracle, the explicit engine, on every spec.

For each spec whose reachable space is small enough, the kernel's states (in
id order) must be exactly the states of a plain Python breadth-first search
over the model's successor function (the same *set*, and the same order, so
the same state ids), and the native engine's results must equal the explicit
engine's: state and transition counts, depth, every verdict, every violation
depth and every counterexample path (liveness lassos included).

Kernels are compiled at -O0 here (faster to compile; semantics do not depend
on the optimisation level) and cached like the engine's own.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from qmpmodel.check import prepare
from qmpmodel.core.model import Model, State, compile_successors
from qmpmodel.core.results import EngineOptions
from qmpmodel.engines import explicit
from qmpmodel.engines.native import engine as native
from qmpmodel.engines.native.build import SystemToolchain
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.toml"))
LIMIT = 60_000
TC = SystemToolchain(flags=("-O0",))

pytestmark = pytest.mark.skipif(not SystemToolchain().compiler, reason="no C compiler")


def python_bfs(model: Model, limit: int) -> list[State] | None:
    """Reachable states in breadth-first discovery order (successors in action order)."""
    succ = compile_successors(model)
    seen = {model.init}
    order = [model.init]
    todo = deque([model.init])
    while todo:
        for _a, t in succ(todo.popleft()):
            if t not in seen:
                if len(order) >= limit:
                    return None
                seen.add(t)
                order.append(t)
                todo.append(t)
    return order


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(ROOT / "specs")) for p in SPECS])
def test_native_equals_explicit(path: Path) -> None:
    p = prepare(load_spec(str(path)))
    states = python_bfs(p.model, LIMIT)
    if states is None:
        pytest.skip(f"more than {LIMIT} states")
    kernel = native.task_kernel(p.task, TC)
    found = kernel.search(keep_states=True)
    assert found.status == 0
    mine = kernel.batch().unpack(found.kept())
    assert set(mine) == set(states)
    assert mine == states  # same order, so the same ids and parents as the explicit engine

    opts = EngineOptions(max_states=LIMIT)
    ex = explicit.run(p.task, opts)
    nat = native.run(p.task, opts, toolchain=TC)
    assert (nat.states, nat.transitions, nat.depth, nat.complete) == (ex.states, ex.transitions, ex.depth, True)
    for a, b in zip(ex.invariants, nat.invariants, strict=True):
        assert (a.name, a.verdict, a.depth) == (b.name, b.verdict, b.depth)
        if a.trace is not None:
            assert b.trace is not None
            assert (a.trace.path(), a.trace.loop, a.trace.cycle) == (b.trace.path(), b.trace.loop, b.trace.cycle)

"""Symmetry reduction: the monitor group, its soundness proof, and the reduced search.

The reduced search must visit exactly the canonical forms of the explicit
engine's states (one per orbit), report the same violation depths, and give
counterexamples that replay on the concrete model; a group that is not an
automorphism, or a property naming one monitor, must be refused.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from qmpmodel.check import prepare
from qmpmodel.core.expr import evaluate
from qmpmodel.core.results import EngineOptions
from qmpmodel.core.symcheck import check_group
from qmpmodel.core.symmetry import SymmetryGroup
from qmpmodel.core.task import CheckTask, Property
from qmpmodel.core.trace import states_of
from qmpmodel.engines import explicit
from qmpmodel.engines.native import engine as native
from qmpmodel.engines.native.build import SystemToolchain
from qmpmodel.invariants import INVARIANTS
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.symmetry import monitor_group, qemu_symmetry
from qmpmodel.specs import load_spec
from qmpmodel.statemachine import build
from tests.test_native import python_bfs

ROOT = Path(__file__).resolve().parent.parent
TWO_MONITORS = ["specs/mutants/negotiation-events-before-capabilities.toml",
                "specs/bugs/O-coroutine-screendump-hang.toml"]
TC = SystemToolchain(flags=("-O0",))


def test_group_of_three_monitors() -> None:
    b = Bounds(monitors=3, clients=3, requests=1, mix=("quick",))
    model = build(Design({}), b, "<test>").model
    g = monitor_group(model, b)
    assert g is not None and g.order == 6 and len(g.generators) == 2 and g.closed()
    # monitors differing in client count are not interchangeable
    b2 = Bounds(monitors=2, clients=3, requests=1, mix=("quick",))
    assert monitor_group(build(Design({}), b2, "<test>").model, b2) is None


def test_swap_renames_clients_and_requests() -> None:
    b = Bounds(monitors=2, clients=2, requests=1, mix=("quick",))
    model = build(Design({}), b, "<test>").model
    g = monitor_group(model, b)
    assert g is not None
    names = model.layout.names
    s = list(model.init)
    nr = b.requests + 1
    s[names.index("mon0.conn")] = 1  # client 0 connected to monitor 0
    s[names.index("mon0.q0")] = 0 * nr + 1 + 1  # its request 1
    s[names.index("dsp.mon")] = 0
    s[names.index("dsp.req")] = 0 * nr + 1 + 1
    t = g.elements[0].apply(s, g.lo)
    assert t[names.index("mon1.conn")] == 2 and t[names.index("mon0.conn")] == 0
    assert t[names.index("mon1.q0")] == 1 * nr + 1 + 1
    assert (t[names.index("dsp.mon")], t[names.index("dsp.req")]) == (1, 1 * nr + 1 + 1)
    assert g.canonical(s) == g.canonical(t) == min(tuple(s), t)


def test_group_is_proved_and_refused() -> None:
    b = Bounds(monitors=2, clients=2, requests=1, mix=("quick", "oob"))
    qm = build(Design({}), b, "<test>")
    model = qm.model
    props = [(inv.name, inv.on(qm.design).expr) for inv in INVARIANTS]
    assert qemu_symmetry(model, b, props).group is not None
    # a property about monitor 0 alone is not preserved
    one = model.layout.vars[model.layout.names.index("mon0.qlen")] == 0
    sym = qemu_symmetry(model, b, [*props, ("mon0-idle", one)])
    assert sym.group is None and "mon0-idle" in sym.note
    # moving monitor slots without renaming the requests they hold is not an automorphism
    g = monitor_group(model, b)
    assert g is not None
    bare = replace(g.elements[0], remap=tuple(None for _ in g.lo))
    bad = SymmetryGroup(g.lo, g.hi, (bare,), (bare,), domain=g.domain)
    assert check_group(model, bad, []) is not None


@pytest.mark.parametrize("spec", TWO_MONITORS)
def test_reduced_search_visits_one_state_per_orbit(spec: str) -> None:
    p = prepare(load_spec(str(ROOT / spec)))
    sym = p.task.symmetry()
    assert sym.group is not None, sym.note
    group = sym.group
    states = python_bfs(p.model, 100_000)
    assert states is not None
    orbits = {group.canonical(s) for s in states}
    kernel = native.task_kernel(p.task, TC)
    found = kernel.search(keep_states=True, group=group)
    mine = kernel.batch(group).unpack(found.kept())
    assert set(mine) == orbits and len(mine) == len(orbits) < len(states)
    b = kernel.batch(group)
    words = b.pack(states[:500])
    assert b.unpack(b.canonical(words)) == [group.canonical(s) for s in states[:500]]

    opts = EngineOptions(max_states=100_000)
    ex = explicit.run(p.task, opts)
    red = native.run(p.task, replace(opts, symmetry=True), toolchain=TC)
    assert red.states == len(orbits)
    live = {prop.name for prop, _e in p.task.obligations if prop.kind == "liveness"}
    for a, r in zip(ex.invariants, red.invariants, strict=True):
        if a.name in live:
            assert r.verdict == "unknown" and "symmetry" in r.note
            continue
        assert (a.verdict, a.depth) == (r.verdict, r.depth), a.name
        if r.trace is not None:
            prop = p.task.property(r.name)
            path = [st.index for st in r.trace.steps]
            last = states_of(p.model, path)[-1]
            if prop.kind == "state":
                assert not evaluate(prop.expr, last)


def test_symmetry_off_is_said() -> None:
    p = prepare(load_spec(str(ROOT / "specs/tiny.toml")))
    r = native.run(p.task, EngineOptions(symmetry=True), toolchain=TC)
    assert all("symmetry off" in i.note for i in r.invariants if i.expected != "skip")
    task = CheckTask(p.model, ((Property("x", "state", p.model.pending | ~p.model.pending), "holds"),))
    assert task.symmetry().group is None

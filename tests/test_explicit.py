"""The explicit engine on toy models (whose answers are known by hand) and pinned counts."""

from pathlib import Path

import pytest

from qmpmodel.check import check_spec
from qmpmodel.core.expr import FALSE, TRUE, StateLayout, lit
from qmpmodel.core.model import Action, Model
from qmpmodel.core.task import Observer, Property
from qmpmodel.engines.explicit import check_explicit
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parents[1]


def toy(actions_fn, init, pending=FALSE):
    lay = StateLayout()
    x = lay.int("x", 0, 9)
    y = lay.bool("y")
    acts = tuple(actions_fn(x, y))
    return Model(lay, init, acts, pending), (x, y)


def state_inv(name, xy, fn):
    return Property(name, "state", fn(*xy))


def test_shortest_counterexample_in_a_diamond():
    # x: 0 -> 1 -> 2 -> 3 by +1, or 0 -> 3 directly only after setting y
    def acts(x, y):
        yield Action("inc", "t", (), x < 9, ((x, x + 1),), "t")
        yield Action("set", "u", (), ~y, ((y, TRUE),), "")
        yield Action("jump", "u", (), y & (x == 0), ((x, lit(3)),), "")
    m, v = toy(acts, (0, 0))
    r = check_explicit(m, [(state_inv("x-not-3", v, lambda x, y: x != 3), "holds")])
    (res,) = r.invariants
    assert res.verdict == "violated"
    assert res.depth == 2  # set, jump (not inc, inc, inc)
    assert [s.action for s in res.trace.steps] == ["set", "jump"]
    assert r.complete and r.states == 20  # x in 0..9, y in {0, 1}


def test_budget_gives_unknown_never_holds():
    def acts(x, y):
        yield Action("inc", "t", (), x < 9, ((x, x + 1),), "t")
    m, v = toy(acts, (0, 0))
    r = check_explicit(m, [(state_inv("true", v, lambda x, y: TRUE), "holds")], max_states=3)
    assert not r.complete
    assert r.invariants[0].verdict == "unknown"


def test_observer_can_stop_the_search():
    class Stop(Observer):
        def progress(self, states, depth):
            return False

    def acts(x, y):
        yield Action("inc", "t", (), x < 9, ((x, x + 1),), "t")
    m, v = toy(acts, (0, 0))
    r = check_explicit(m, [(state_inv("true", v, lambda x, y: TRUE), "holds")], observer=Stop())
    assert not r.complete and r.invariants[0].verdict == "unknown"


def test_stuck_state_with_pending_work_is_a_deadlock():
    # the system stops at x == 2 with work pending; only an unfair client action remains
    def acts(x, y):
        yield Action("inc", "t", (), x < 2, ((x, x + 1),), "t")
        yield Action("client", "c", (), ~y, ((y, TRUE),), "")
    m, _v = toy(acts, (0, 0), pending=lit(True) == lit(True))
    m = Model(m.layout, m.init, m.actions, m.layout.vars[0] == 2)
    r = check_explicit(m, [(Property("no-deadlock", "deadlock", TRUE), "holds")])
    (res,) = r.invariants
    assert res.verdict == "violated" and res.depth == 2
    assert "stuck" in res.note


def test_fair_lasso_and_its_absence():
    # a loop on y toggling, while x (the goal: x == 0 means "request pending") waits for "serve"
    def acts(x, y):
        yield Action("serve", "dispatcher", (), x == 0, ((x, lit(1)),), "dispatcher")
        yield Action("toggle", "client", (), TRUE, ((y, ~y),), "")
    m, _v = toy(acts, (0, 0))
    goal = m.layout.vars[0] == 0
    # serve is continuously enabled while x == 0: weak fairness forbids ignoring it
    r = check_explicit(m, [(Property("progress", "liveness", goal), "holds")])
    assert r.invariants[0].verdict == "holds"

    def unfair(x, y):
        yield Action("serve", "env", (), (x == 0) & y, ((x, lit(1)),), "env")
        yield Action("toggle", "client", (), TRUE, ((y, ~y),), "")
    m2, _v2 = toy(unfair, (0, 0))
    # serve is enabled only every other state: a loop that never takes it is weakly fair
    r2 = check_explicit(m2, [(Property("progress", "liveness", m2.layout.vars[0] == 0), "holds")])
    res = r2.invariants[0]
    assert res.verdict == "violated" and res.trace.loop is not None
    assert all(s.action == "toggle" for s in res.trace.steps)


def test_pinned_state_count_of_tiny():
    # regression pin (stateright habit): any change to the model's semantics shows here
    r = check_spec(load_spec(ROOT / "specs" / "tiny.toml"))
    assert (r.states, r.transitions, r.depth) == (282, 436, 20)
    assert r.met and r.complete


@pytest.fixture(scope="module")
def current():
    return check_spec(load_spec(ROOT / "specs" / "qemu-current.toml"))


def test_pinned_state_count_of_qemu_current(current):
    r = current
    assert r.states == 44301
    verdicts = {i.name: (i.verdict, i.depth) for i in r.invariants}
    # bug P at depth 8: connect, send, read, disconnect, pop, closed, connect, reply
    assert verdicts["no-cross-session-reply"] == ("violated", 8)
    assert verdicts["reply-order"] == ("holds", None)


@pytest.mark.parametrize("name", ["suspend-balance", "queue-bound", "no-deadlock", "progress"])
def test_current_qemu_keeps_the_core_properties(current, name):
    r = current
    assert next(i for i in r.invariants if i.name == name).verdict == "holds"

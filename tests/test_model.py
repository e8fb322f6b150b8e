"""The model interface: compiled successors agree with Action.enabled/apply; determinism."""

from qmpmodel.core.model import compile_successors
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.statemachine import build_model


def small_model():
    return build_model(Design({}), Bounds(monitors=1, clients=2, requests=1, mix=("quick", "oob")))


def test_compiled_successors_agree_with_the_action_objects():
    m = small_model()
    succ = compile_successors(m)
    frontier, seen = [m.init], {m.init}
    while frontier:
        s = frontier.pop()
        fast = succ(s)
        slow = [(i, a.apply(s)) for i, a in enumerate(m.actions) if a.enabled(s)]
        assert fast == slow
        for _, t in fast:
            if t not in seen:
                seen.add(t)
                frontier.append(t)
    assert len(seen) > 100


def test_building_twice_gives_the_same_model():
    a, b = small_model(), small_model()
    assert a.init == b.init
    assert [x.label for x in a.actions] == [x.label for x in b.actions]
    assert a.var_names == b.var_names


def test_states_are_hashable_tuples_within_declared_ranges():
    from qmpmodel.core.model import check_ranges

    m = small_model()
    succ = compile_successors(m)
    frontier, seen = [m.init], {m.init}
    while frontier:
        s = frontier.pop()
        assert isinstance(s, tuple) and hash(s) is not None
        assert check_ranges(m, s) == []
        for _, t in succ(s):
            if t not in seen:
                seen.add(t)
                frontier.append(t)

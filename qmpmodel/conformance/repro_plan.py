"""Plan a QEMU run from a model counterexample (``qmpmodel reproduce``).

A counterexample is a total order of model steps; ``repro_steps`` says which
of them a tester controls (client writes, connects, disconnects, releasing a
command held on a FIFO), which QEMU performs by itself as soon as it can
(*automatic*: reading, dispatching, replying), and which cannot be driven at
all.

A trace is *forceable* when every controlled step happens while QEMU is
quiescent (no automatic step enabled): the script then waits for QEMU to
settle before each action, and the run follows the trace whatever QEMU's
scheduler does. :func:`eager_outcome` decides this on the model: it explores
every order of automatic steps between the trace's controlled steps, each
controlled step taken only at a quiescent state, and says whether all, some
or none of those runs violate the property. "Some" is a race between QEMU's
threads; "none" means the trace needs a client to act while QEMU is still
busy (a race against QEMU). Both are retried a bounded number of times.

When the literal trace is not forceable, :func:`eager_counterexample` looks
for the shortest counterexample of the same property whose every controlled
step is at a quiescent state (a *substitution*: a model trace too, and the
run's transcript is checked against the model anyway). For bug P this
replaces the ``qmp_capabilities`` that the dispatcher must hold across a
disconnect and a reconnect (it finishes in microseconds) by a
``blockdev-add`` held on a FIFO, sent after negotiation.

:func:`build_ops` turns a path into the script (:class:`Op`). Pure: no I/O,
no clock. "§" cites ``../shared/qemu-dispatch-semantics.md``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qmpmodel.conformance.repro_steps import (
    AUTOMATIC,
    CONTROLLED,
    REALIZABLE,
    Step,
    kind_names,
)
from qmpmodel.core.expr import evaluate
from qmpmodel.core.model import Model, compile_predicate, compile_successors
from qmpmodel.qemu.probes import Probes

__all__ = [
    "Expect",
    "Op",
    "Plan",
    "build_ops",
    "eager_counterexample",
    "eager_outcome",
    "literal_races",
    "path_states",
    "violation_predicate",
]

@dataclass(frozen=True)
class Expect:
    """A message the run must receive before going on: on ``client``'s connection."""

    client: int
    what: str  # reply | event
    req: tuple[int, int] | None = None  # (client, seq) the reply answers
    step: int = 0


@dataclass(frozen=True)
class Op:
    """One action of the QEMU script.

    ``what``: ``connect`` (then wait for the greeting), ``send``, ``closer``
    (the brace ending a ``garbage`` request), ``disconnect``, ``release``
    (open the FIFO of ``req``), ``await`` (every message in ``expect``),
    ``blocked`` (wait until QEMU's main thread waits on a FIFO), ``settle``
    (let QEMU do work that nothing observable confirms).
    """

    what: str
    client: int = -1
    seq: int = -1
    kind: str = ""
    step: int = 0
    expect: tuple[Expect, ...] = ()
    req: tuple[int, int] | None = None


@dataclass(frozen=True)
class Plan:
    """A path of the model turned into a script, and what is known about forcing it."""

    steps: tuple[Step, ...]
    ops: tuple[Op, ...]
    kinds: Mapping[tuple[int, int], str]  # (client, seq) -> kind name
    outcome: str  # all | some | none: eager runs of these controlled steps that violate the property
    literal: bool  # the path is the given trace (False: a substitution)
    races: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def deterministic(self) -> bool:
        return self.outcome == "all"


def path_states(model: Model, steps: Sequence[Step]) -> list[tuple[int, ...]]:
    """States 0..n along ``steps`` (the caller has replayed the trace, so every step is enabled)."""
    s = model.init
    out = [s]
    for st in steps:
        s = model.actions[st.action].apply(s)
        out.append(s)
    return out


# -- quiescence and eager exploration ---------------------------------------------------


def _classes(model: Model) -> tuple[list[bool], list[bool]]:
    auto = [a.family in AUTOMATIC for a in model.actions]
    ctrl = [a.family in CONTROLLED for a in model.actions]
    return auto, ctrl


def _realizable_action(model: Model, i: int, names: Mapping[int, str]) -> bool:
    a = model.actions[i]
    if a.family != "send":
        return True
    return names.get(dict(a.params).get("kind", -1), "?") in REALIZABLE


def literal_races(model: Model, steps: Sequence[Step], states: Sequence[tuple[int, ...]]) -> list[str]:
    """Controlled steps of the path taken while QEMU still had automatic work to do."""
    succ = compile_successors(model)
    out = []
    for st in steps:
        if st.family not in CONTROLLED:
            continue
        s = states[st.index - 1]
        c = model.actions[st.action]
        # pending work that commutes with the client's step and leaves QEMU idle is no race
        # (the dispatcher going idle at startup); anything that leads to more work is
        busy = [model.actions[a].label for a, s2 in succ(s) if model.actions[a].family in AUTOMATIC
                and not (_commute(model, c, model.actions[a], s, s2) and _quiet(model, succ(s2)))]
        if busy:
            shown = ", ".join(busy[:3]) + (", ..." if len(busy) > 3 else "")
            out.append(f"step {st.index} ({st.label}) is taken while QEMU can still do: {shown}")
    return out


def _quiet(model: Model, nxt: Sequence[tuple[int, tuple[int, ...]]]) -> bool:
    return not any(model.actions[a].family in AUTOMATIC for a, _s in nxt)


def _commute(model: Model, c: Any, a: Any, s: tuple[int, ...], after_a: tuple[int, ...]) -> bool:
    """Do controlled ``c`` and automatic ``a`` commute at ``s`` (a diamond with the same messages)?

    Then taking ``c`` before QEMU does ``a`` is no race: the order is not observable.
    """
    if a.messages or not c.enabled(after_a):
        return False
    after_c = c.apply(s)
    if not a.enabled(after_c):
        return False
    return bool(a.apply(after_c) == c.apply(after_a)) and all(
        evaluate(e.to, s) == evaluate(e.to, after_a) for e in c.messages)


def eager_outcome(model: Model, violated: Any, controlled: Sequence[int], max_states: int = 200_000) -> str:
    """Do eager runs of this controlled sequence violate the property: ``all``, ``some`` or ``none``?

    A run takes automatic steps in any order, and the next controlled action
    (by action index) only when no automatic step is enabled. A run ends at a
    quiescent state after the last controlled action; a run whose next
    controlled action is not enabled there ends too (it does not follow the
    plan: it counts as not violating). ``violated`` is a compiled predicate;
    observer flags are sticky, so the end state decides.
    """
    succ = compile_successors(model)
    auto, _ctrl = _classes(model)
    n = len(controlled)
    seen: set[tuple[tuple[int, ...], int]] = set()
    stack: list[tuple[tuple[int, ...], int]] = [(model.init, 0)]
    hits = ends = 0
    while stack:
        s, k = stack.pop()
        if (s, k) in seen:
            continue
        seen.add((s, k))
        if len(seen) > max_states:
            break
        nxt = succ(s)
        autos = [s2 for a, s2 in nxt if auto[a]]
        if autos:
            stack.extend((s2, k) for s2 in autos)
            continue
        if k < n:
            moved = [s2 for a, s2 in nxt if a == controlled[k]]
            if moved:
                stack.extend((s2, k + 1) for s2 in moved)
                continue
        ends += 1
        hits += bool(violated(s))
    if hits == 0:
        return "none"
    return "all" if hits == ends else "some"


def eager_counterexample(model: Model, violated: Any, negotiate_first: bool,
                         max_states: int = 300_000) -> list[int] | None:
    """Action indices of a shortest path to a violation taking controlled steps only when quiescent.

    Undrivable steps and unrealizable request kinds are excluded. ``None`` if
    there is none within ``max_states``.
    """
    succ = compile_successors(model)
    auto, ctrl = _classes(model)
    names = kind_names(model, negotiate_first)
    parent: dict[tuple[int, ...], tuple[tuple[int, ...], int] | None] = {model.init: None}
    queue = deque([model.init])
    while queue:
        s = queue.popleft()
        if violated(s):
            path: list[int] = []
            cur: tuple[tuple[int, ...], int] | None = parent[s]
            while cur is not None:
                path.append(cur[1])
                cur = parent[cur[0]]
            return path[::-1]
        nxt = succ(s)
        autos = [(a, s2) for a, s2 in nxt if auto[a]]
        moves = autos or [(a, s2) for a, s2 in nxt if ctrl[a] and _realizable_action(model, a, names)]
        for a, s2 in moves:
            if s2 not in parent:
                parent[s2] = (s, a)
                if len(parent) > max_states:
                    return None
                queue.append(s2)
    return None


def violation_predicate(expr: Any) -> Any:
    """A compiled "the property is violated here" test for a state property expression."""
    holds = compile_predicate(expr)
    return lambda s: not holds(s)


# -- the script -------------------------------------------------------------------------


def build_ops(model: Model, probes: Probes, steps: Sequence[Step], states: Sequence[tuple[int, ...]],
              kinds: Mapping[tuple[int, int], str]) -> list[Op]:
    """The script of a path: controlled steps in order, each preceded by waits for what came before.

    Before a controlled step the script waits for every message the path
    wrote to a connected client before it, for QEMU's main thread to block
    on a FIFO when a ``blocking`` handler started, and settles briefly when
    QEMU did work that nothing observable confirms. A ``garbage`` request's
    parse error is only answered once its closing brace is written, right
    after the next request of that connection (the one swallowed, §3.2).
    """
    succ = compile_successors(model)
    ops: list[Op] = []
    pending: list[Expect] = []
    deferred: dict[int, list[Expect]] = {}  # client -> expects waiting for its garbage closer
    open_garbage: dict[int, tuple[int, int]] = {}  # client -> its garbage request awaiting a closer
    unobserved = blocked = False
    for st in steps:
        a = model.actions[st.action]
        before = states[st.index - 1]
        if st.family in CONTROLLED:
            if pending:
                ops.append(Op("await", expect=tuple(pending), step=st.index))
                pending = []
            if blocked:
                ops.append(Op("blocked", step=st.index))
                blocked = False
            quiet = not any(model.actions[x].family in AUTOMATIC for x, _s in succ(before))
            if unobserved and quiet:
                ops.append(Op("settle", step=st.index))
            unobserved = False
            ops.extend(_controlled(st, before, probes, kinds, deferred, open_garbage))
            continue
        for e in a.messages:
            to = int(evaluate(e.to, before))
            if not to:
                continue
            req = probes.request_of(e.ref) if e.ref else None
            ex = Expect(to - 1, e.what, req if e.what == "reply" else None, st.index)
            if req is not None and e.what == "reply" and open_garbage.get(req[0]) == req:
                deferred.setdefault(req[0], []).append(ex)
            else:
                pending.append(ex)
        if st.family == "handler_bh":
            req = probes.request_of(st.params["req"])
            blocked = blocked or kinds.get(req) == "blocking"
        if not a.messages:
            unobserved = True
    for c, req in sorted(open_garbage.items()):
        ops.append(Op("closer", client=c, req=req))
        pending.extend(deferred.pop(c, []))
    if pending:
        ops.append(Op("await", expect=tuple(pending)))
    return ops


def _controlled(st: Step, before: tuple[int, ...], probes: Probes, kinds: Mapping[tuple[int, int], str],
                deferred: dict[int, list[Expect]],
                open_garbage: dict[int, tuple[int, int]]) -> list[Op]:
    p = st.params
    if st.family == "connect":
        return [Op("connect", client=p["client"], step=st.index)]
    if st.family == "disconnect":
        open_garbage.pop(p["client"], None)
        deferred.pop(p["client"], None)
        return [Op("disconnect", client=p["client"], step=st.index)]
    if st.family == "blocking_complete":
        ref = int(evaluate(probes.executing_request(), before))
        return [Op("release", req=probes.request_of(ref), step=st.index)]
    c, i = p["client"], p["seq"]
    kind = kinds[(c, i)]
    out = [Op("send", client=c, seq=i, kind=kind, step=st.index)]
    if c in open_garbage:
        # the brace that balances the earlier garbage: the request just written was swallowed
        out.append(Op("closer", client=c, req=open_garbage.pop(c), step=st.index))
        if deferred.get(c):
            out.append(Op("await", expect=tuple(deferred.pop(c)), step=st.index))
    if kind == "garbage":
        open_garbage[c] = (c, i)
    return out

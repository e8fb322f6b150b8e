"""Plan a QEMU run from a model counterexample (``qmpmodel reproduce``).

A counterexample is a total order of model steps. A tester facing a real
QEMU controls only some of them:

* **controlled** steps: a client connects, writes a request, disconnects, and
  the environment releases a command held on a FIFO (``blocking_complete``:
  the ``blkdebug`` trick of QEMU's ``tests/qtest/qmp-test.c``);
* **automatic** steps: what QEMU's threads do by themselves as soon as they
  can (the I/O thread reading, the dispatcher popping and replying, a
  coroutine command's I/O completing). The tester can wait for them to have
  happened (a reply arrived, the main thread blocks on the FIFO), not
  delay them;
* every other step (a vCPU's MMIO, a drain started by the main loop, an HMP
  command, QEMU exiting, ...) cannot be driven from outside
  (:data:`UNDRIVABLE`).

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
for the shortest counterexample of the same spec and property whose every
controlled step is at a quiescent state (a *substitution*: it is a model
trace too, and the run's transcript is checked against the model anyway).
For bug P this replaces the ``qmp_capabilities`` that the dispatcher must
hold across a disconnect and a reconnect (it finishes in microseconds) by a
``blockdev-add`` held on a FIFO, sent after negotiation.

Pure: no I/O, no clock. "§" cites ``../shared/qemu-dispatch-semantics.md``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qmpmodel.core.expr import evaluate
from qmpmodel.core.model import Model, compile_predicate, compile_successors
from qmpmodel.qemu.design import AXES, Design

__all__ = [
    "AUTOMATIC",
    "CONTROLLED",
    "JUDGEABLE",
    "REALIZABLE",
    "Expect",
    "Op",
    "Plan",
    "Step",
    "build_ops",
    "decode_steps",
    "design_mismatch",
    "eager_counterexample",
    "eager_outcome",
    "literal_races",
    "undrivable_steps",
]

#: Steps the tester performs.
CONTROLLED = frozenset({"connect", "send", "disconnect", "blocking_complete"})
#: Steps QEMU performs by itself, promptly (reader, dispatcher, main loop BHs, block I/O).
AUTOMATIC = frozenset({
    "read", "read_oob", "read_oob_rejected", "swallow", "closed", "dispatcher_pop", "dispatcher_idle",
    "dispatch_error", "dispatch_capabilities", "dispatch_capabilities_bad", "dispatch_capabilities_again",
    "dispatch_not_found", "dispatch_coroutine", "dispatch_bh", "handler_bh", "dispatcher_reply",
    "coroutine_start", "coroutine_end", "io_complete", "rcu_grace_period", "rcu_callbacks",
    "drain_call_rcu_return",
})
#: Why a step family cannot be driven from outside QEMU 7.2 started with ``-machine none``.
UNDRIVABLE: Mapping[str, str] = {
    "mmio_nested_poll": "a vCPU emulating MMIO runs a nested aio_poll (needs a guest driving a device; "
                        "-machine none has no vCPU doing that, and no client action makes one do it)",
    "mmio_return": "a vCPU returns from MMIO emulation (needs a guest)",
    "drain_begin": "the main loop starts a block drain while a coroutine command's I/O is in flight "
                   "(a scheduler/block-layer decision inside QEMU; no QMP write makes it happen at that step)",
    "drain_end": "the main loop's drain ends (inside QEMU)",
    "monitor_cleanup": "QEMU starts exiting (monitor_cleanup) at a chosen point between internal steps",
    "cleanup_destroy_monitors": "monitor_cleanup destroys the monitors (inside QEMU's exit path)",
    "dispatcher_exit": "the dispatcher coroutine terminates at shutdown (inside QEMU)",
    "hmp_opened": "the HMP monitor's chardev opens (HMP is not driven by reproduce)",
    "hmp_command": "an HMP command (HMP is not driven by reproduce)",
    "hmp_async_complete": "a 2010 async HMP command completes (not in QEMU 7.2)",
    "hmp_coroutine_start": "an HMP coroutine command runs in the HMP nested loop (HMP is not driven)",
    "hmp_coroutine_end": "an HMP coroutine command ends (HMP is not driven)",
    "hmp_nested_loop_exit": "the HMP nested loop exits (HMP is not driven)",
    "mux_out": "a mux chardev focus switch (needs a mux chardev and a terminal)",
    "mux_in": "a mux chardev focus switch (needs a mux chardev and a terminal)",
    "async_complete": "a 2010 async QMP command completes (not in QEMU 7.2)",
    "deferred_event": "a deferred event BH (a mutant design, not QEMU 7.2)",
}
#: Step families that exist only in a design QEMU 7.2.22 does not implement (design_mismatch names it).
DESIGN_ONLY = frozenset({"read_drop", "read_direct", "closed_blocks_on_queue_lock", "closed_after_queue_lock",
                         "deferred_event", "async_complete", "hmp_async_complete"})
#: Axes the tester is (the client), or that only enable environment steps.
_CLIENT_AXES = frozenset({"client_oob", "client_wait_negotiation", "client_discipline"})
_ENV_AXES = frozenset({"shutdown", "vcpu_nested_poll", "rcu_nested_poll", "main_drain", "mux"})
#: Request kinds with a concrete QMP realization on QEMU 7.2 ``-machine none`` (see reproduce.py).
REALIZABLE: Mapping[str, str] = {
    "qmp_capabilities": "qmp_capabilities (with enable: [\"oob\"] when the design's client accepts oob)",
    "caps": "qmp_capabilities with enable: [\"oob\"]",
    "caps-nooob": "qmp_capabilities without capabilities",
    "caps-bad": "qmp_capabilities with an unknown capability",
    "quick": "query-name",
    "quick-noid": "query-name without id",
    "blocking": "blockdev-add of a blkdebug node whose config is a FIFO (held until released)",
    "coroutine": "block_resize of a file node given on QEMU's command line",
    "oob": "exec-oob migrate-pause",
    "oob-inband": "execute migrate-pause",
    "exec-oob-bad": "exec-oob query-name (query-name does not allow OOB)",
    "event": "stop or cont (whichever changes the run state, so that it raises an event)",
    "unknown": "execute of a command that does not exist",
    "exec-oob-unknown": "exec-oob of a command that does not exist",
    "bad-request": "an object without execute: {\"id\": ...}",
    "parse-error": "the bytes {] (brackets balance at once: one parse error)",
    "garbage": "an object missing its closing brace; the brace is written after the next request, "
               "which the parser's recovery swallows (§3.2)",
    "nonobject": "the JSON array [1, 2]",
}
#: Properties whose violation a transcript shows (repro_judge.py states each on the transcript).
JUDGEABLE: Mapping[str, str] = {
    "no-cross-session-reply": "a reply carrying the id of a request written on another connection",
    "reply-order": "two execute requests of a connection answered in the other order",
    "reply-order-all": "two requests of a connection (exec-oob included) answered in the other order",
    "exactly-once-reply": "a request of a connection that stays open answered twice or never",
    "negotiation-gating": "an event received before the connection's qmp_capabilities succeeded",
}


@dataclass(frozen=True)
class Step:
    """One model step of a path: its index in the path (1-based), action index and decoded params."""

    index: int
    action: int
    family: str
    actor: str
    label: str
    params: Mapping[str, int]


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


# -- decoding ---------------------------------------------------------------------------


def _kind_names(model: Model, negotiate_first: bool) -> dict[int, str]:
    mix = [str(k) for k in model.summary.get("mix", [])]  # type: ignore[union-attr]
    names = {i + 1: k for i, k in enumerate(mix)}
    if negotiate_first:
        names[0] = "qmp_capabilities"
    return names


def decode_steps(model: Model, metas: Sequence[Mapping[str, Any]]) -> tuple[Step, ...]:
    """The steps of an ITF trace (``#meta`` of states 1..n) as :class:`Step` values."""
    return tuple(Step(k, int(m["action_index"]), str(m["action"]), str(m["actor"]), str(m["label"]),
                      {p: int(v) for p, v in m["params"].items()})
                 for k, m in enumerate(metas[1:], start=1))


def path_states(model: Model, steps: Sequence[Step]) -> list[tuple[int, ...]]:
    """States 0..n along ``steps`` (the caller has replayed the trace, so every step is enabled)."""
    s = model.init
    out = [s]
    for st in steps:
        s = model.actions[st.action].apply(s)
        out.append(s)
    return out


def request_of_ref(ref: int, requests: int) -> tuple[int, int]:
    """Model request reference -> (client, seq) (``statemachine._Builder.ref``)."""
    nr = requests + 1
    return (ref - 1) // nr, (ref - 1) % nr


def sent_kinds(steps: Sequence[Step], model: Model, negotiate_first: bool) -> dict[tuple[int, int], str]:
    names = _kind_names(model, negotiate_first)
    return {(st.params["client"], st.params["seq"]): names.get(st.params["kind"], "?")
            for st in steps if st.family == "send"}


# -- what cannot be run at all ----------------------------------------------------------


def design_mismatch(design: Design, bounds: Any) -> list[str]:
    """Server design axes and bounds on which the spec is not QEMU 7.2.22 (design.py defaults)."""
    out = []
    for ax in AXES:
        if ax.name in _CLIENT_AXES or ax.name in _ENV_AXES:
            continue
        v = design.values.get(ax.name, ax.default)
        if v != ax.default:
            out.append(f"design.{ax.name} = {v!r} (QEMU 7.2.22: {ax.default!r})")
    if bounds.queue_max != 8:
        out.append(f"bounds.queue_max = {bounds.queue_max} (QEMU 7.2.22: QMP_REQ_QUEUE_LEN_MAX = 8)")
    if bounds.iothread_monitors and not all(bounds.iothread_monitors):
        out.append("bounds.iothread_monitors: a QMP monitor without the I/O thread (reproduce uses unix "
                   "sockets, which always use it)")
    return out


def undrivable_steps(steps: Sequence[Step], kinds: Mapping[tuple[int, int], str]) -> list[str]:
    """Steps (and requests) of the path that no tester can perform or cause."""
    out = []
    for st in steps:
        if st.family in CONTROLLED or st.family in AUTOMATIC or st.family in DESIGN_ONLY:
            continue
        why = UNDRIVABLE.get(st.family, f"an internal step of {st.actor} that no client action causes")
        out.append(f"step {st.index} ({st.actor}: {st.label}): {why}")
    for (c, i), k in sorted(kinds.items()):
        if k not in REALIZABLE:
            out.append(f"client{c}'s request {i} has kind {k!r}, which QEMU 7.2 with -machine none cannot "
                       "produce on demand")
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
    if a.emits or not c.enabled(after_a):
        return False
    after_c = c.apply(s)
    if not a.enabled(after_c):
        return False
    return bool(a.apply(after_c) == c.apply(after_a)) and all(
        evaluate(e.to, s) == evaluate(e.to, after_a) for e in c.emits)


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
    names = _kind_names(model, negotiate_first)
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


def build_ops(model: Model, steps: Sequence[Step], states: Sequence[tuple[int, ...]],
              kinds: Mapping[tuple[int, int], str], requests: int) -> list[Op]:
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
            ops.extend(_controlled(st, before, model, kinds, requests, deferred, open_garbage))
            continue
        for e in a.emits:
            to = int(evaluate(e.to, before))
            if not to:
                continue
            req = request_of_ref(e.ref, requests) if e.ref else None
            ex = Expect(to - 1, e.what, req if e.what == "reply" else None, st.index)
            if req is not None and e.what == "reply" and open_garbage.get(req[0]) == req:
                deferred.setdefault(req[0], []).append(ex)
            else:
                pending.append(ex)
        if st.family == "handler_bh":
            req = request_of_ref(st.params["req"], requests)
            blocked = blocked or kinds.get(req) == "blocking"
        if not a.emits:
            unobserved = True
    for c, req in sorted(open_garbage.items()):
        ops.append(Op("closer", client=c, req=req))
        pending.extend(deferred.pop(c, []))
    if pending:
        ops.append(Op("await", expect=tuple(pending)))
    return ops


def _controlled(st: Step, before: tuple[int, ...], model: Model, kinds: Mapping[tuple[int, int], str],
                requests: int, deferred: dict[int, list[Expect]],
                open_garbage: dict[int, tuple[int, int]]) -> list[Op]:
    p = st.params
    if st.family == "connect":
        return [Op("connect", client=p["client"], step=st.index)]
    if st.family == "disconnect":
        open_garbage.pop(p["client"], None)
        deferred.pop(p["client"], None)
        return [Op("disconnect", client=p["client"], step=st.index)]
    if st.family == "blocking_complete":
        dreq = model.var_names.index("dsp.req")
        return [Op("release", req=request_of_ref(before[dreq], requests), step=st.index)]
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

"""What a tester can do with each step of a model counterexample (``qmpmodel reproduce``).

* **controlled** steps (:data:`CONTROLLED`): a client connects, writes a
  request, disconnects, and the environment releases a command held on a
  FIFO (``blocking_complete``: the ``blkdebug`` trick of QEMU's
  ``tests/qtest/qmp-test.c``);
* **automatic** steps (:data:`AUTOMATIC`): what QEMU's threads do by
  themselves as soon as they can (the I/O thread reading, the dispatcher
  popping and replying, a coroutine command's I/O completing). A tester can
  wait for them to have happened (a reply arrived, the main thread blocks on
  the FIFO), not delay them;
* every other step (a vCPU's MMIO, a drain started by the main loop, an HMP
  command, QEMU exiting, ...) cannot be driven from outside
  (:data:`UNDRIVABLE`), or exists only in a design QEMU 7.2.22 does not
  implement (:data:`DESIGN_ONLY`, reported by :func:`design_mismatch`).

:func:`wire_blockers` sums this up for one counterexample: the reasons it
cannot be reproduced on QEMU 7.2.22 by a client, or none. Pure data and
functions; "§" cites ``../shared/qemu-dispatch-semantics.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qmpmodel.core.model import Model
from qmpmodel.qemu.design import AXES, Design

__all__ = [
    "AUTOMATIC",
    "CONTROLLED",
    "DESIGN_ONLY",
    "JUDGEABLE",
    "REALIZABLE",
    "UNDRIVABLE",
    "Step",
    "decode_steps",
    "design_mismatch",
    "kind_names",
    "sent_kinds",
    "undrivable_steps",
    "wire_blockers",
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


# -- decoding ---------------------------------------------------------------------------


def kind_names(model: Model, negotiate_first: bool) -> dict[int, str]:
    raw = model.summary.get("mix", [])
    mix = [str(k) for k in raw] if isinstance(raw, (list, tuple)) else []
    names = {i + 1: k for i, k in enumerate(mix)}
    if negotiate_first:
        names[0] = "qmp_capabilities"
    return names


def decode_steps(model: Model, metas: Sequence[Mapping[str, Any]]) -> tuple[Step, ...]:
    """The steps of an ITF trace (``#meta`` of states 1..n) as :class:`Step` values."""
    return tuple(Step(k, int(m["action_index"]), str(m["action"]), str(m["actor"]), str(m["label"]),
                      {p: int(v) for p, v in m["params"].items()})
                 for k, m in enumerate(metas[1:], start=1))


def sent_kinds(steps: Sequence[Step], model: Model, negotiate_first: bool) -> dict[tuple[int, int], str]:
    names = kind_names(model, negotiate_first)
    return {(st.params["client"], st.params["seq"]): names.get(st.params["kind"], "?")
            for st in steps if st.family == "send"}


# -- what cannot be run at all ----------------------------------------------------------


def design_mismatch(design: Design, bounds: Any) -> list[str]:
    """Server design axes and bounds on which the spec is not QEMU 7.2.22 (design.py defaults)."""
    out = []
    if design.base not in ("qemu-current", "2018-oob"):
        out.append(f"design.base = {design.base!r} (QEMU 7.2.22 is 'qemu-current')")
    if design.proposal is not None:
        out.append(f"design.proposal = {design.proposal!r}: a proposed change QEMU 7.2.22 does not have")
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


def wire_blockers(design: Design, bounds: Any, model: Model, invariant: str, kind: str,
                  steps: Sequence[Step]) -> list[str]:
    """Why a client cannot reproduce this counterexample on QEMU 7.2.22 (empty: it can try).

    ``kind`` is the property's kind (state, deadlock, liveness).
    """
    out = undrivable_steps(steps, sent_kinds(steps, model, bounds.negotiate_first))
    out += design_mismatch(design, bounds)
    if invariant not in JUDGEABLE:
        why = {"deadlock": "a deadlock is a state of QEMU's threads, and a finite transcript cannot show that "
                           "nothing will ever happen",
               "liveness": "a liveness violation is an infinite run; a finite transcript cannot show 'never'"}
        out.append(f"{invariant} is not visible on the wire: " + why.get(
            kind, "it is a statement about QEMU's internal state, which a transcript does not show"))
    return out

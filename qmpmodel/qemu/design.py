"""Design axes, bounds and request kinds: the parameters of the one model.

Every historical or proposed dispatcher design is a point in this space
(``specs/designs/*.toml``); every catalogued bug is a point plus bounds
(``specs/bugs/*.toml``). Each axis documents its values and cites the
reference (``../shared/qemu-dispatch-semantics.md``, "§" below) for the
default, which is current QEMU (upstream after effd60c8 and its follow-ups;
also Debian's 7.2.22, which carries the backport).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["AXES", "BOUNDS", "BOUND_DOCS", "KINDS", "Axis", "Bounds", "Design", "Kind"]


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[object, ...]
    default: object
    doc: str


AXES: tuple[Axis, ...] = (
    Axis("dispatch", ("queue", "direct"), "queue",
         "queue: requests are parsed by the reader, queued per monitor and run by the single "
         "dispatcher (2018+, §3.3-3.4); direct: the reader runs the handler synchronously "
         "(2010 design, §5)."),
    Axis("oob", (True, False), True,
         "The `oob` capability exists (2018+): offered iff the monitor uses the I/O thread (§3.1)."),
    Axis("hop_all", (False, True), False,
         "true: the dispatcher coroutine hops to qemu_aio_context before every request and back "
         "after it (9ce44e2ce2, Oct 2020 - Jan 2024, §3.4); false: only coroutine commands hop "
         "(effd60c8)."),
    Axis("inband_ctx", ("iohandler", "aio"), "iohandler",
         "AioContext of the one-shot BH that runs a non-coroutine in-band handler: iohandler_ctx "
         "(effd60c8) or qemu_aio_context (2020-2024; root cause of bugs A, B, I)."),
    Axis("coroutine_ctx", ("aio", "iohandler"), "aio",
         "AioContext a coroutine command runs in: qemu_aio_context (the hop in qmp_dispatch) or "
         "iohandler_ctx (the hop skipped: bug C's counterfactual, bug H's regression)."),
    Axis("queue_lock_across_yield", (False, True), False,
         "true: the dispatcher keeps qmp_queue_lock across its hop yield (before S. Reiter's 2021 "
         "fix, bug F)."),
    Axis("closed_resume", (True, False), True,
         "CHR_EVENT_CLOSED resumes the monitor iff the queue rule had suspended it (W. Bumiller's "
         "2019 fix; false = bug E)."),
    Axis("queue_full", ("suspend", "drop"), "suspend",
         "With OOB, a full queue suspends the monitor (flow control, 2018 onward) or drops the "
         "request with a COMMAND_DROPPED event (bf1e7301745a, bug D)."),
    Axis("stale_reply", ("deliver", "discard"), "deliver",
         "The reply of a request whose session ended is written to the chardev anyway (current, "
         "bug P) or discarded (qemu-current-fixed; the 2017 QmpSession design)."),
    Axis("shutdown", (False, True), False,
         "Enable monitor_cleanup (QEMU exit) as an action (§3.8)."),
    Axis("shutdown_check", ("before-pop", "when-idle"), "before-pop",
         "The dispatcher checks the shutdown flag before every pop (b248e61652) or only when its "
         "queues are empty (bug L)."),
    Axis("wake_null_check", (True, False), True,
         "qmp_dispatcher_co_wake checks that the coroutine still exists (A. Drobyshev's fix; "
         "false = bug M)."),
    Axis("cleanup_order", ("dispatcher-first", "iothread-first", "monitors-first"),
         "dispatcher-first",
         "monitor_cleanup: wait for the dispatcher to exit, then stop the I/O thread, then destroy "
         "monitors (357bda9590 + c81219a7dd); iothread-first and monitors-first are the orders "
         "those commits fixed (bug G b and a)."),
    Axis("hmp_coroutine", ("nested-loop", "suspend"), "nested-loop",
         "HMP coroutine commands run in a nested aio_poll(qemu_aio_context) holding the BQL "
         "(current, §5) or suspend the monitor instead (2023 RFC 1/3, unmerged)."),
    Axis("device_add", ("blocking-drain", "coroutine-drain"), "blocking-drain",
         "device_add calls drain_call_rcu, dropping the BQL while it waits (7bed89958bfb), or is "
         "a coroutine command using drain_call_rcu_co (2023 RFC 2/3 + 3/3, unmerged)."),
    Axis("vcpu_nested_poll", (False, True), False,
         "A vCPU thread can take the BQL for MMIO emulation and run a nested "
         "aio_poll(qemu_aio_context) (AIO_WAIT_WHILE in virtio dataplane stop; bug A)."),
    Axis("rcu_nested_poll", (False, True), False,
         "The vCPU's nested poll runs inside an RCU read-side critical section (bug B)."),
    Axis("main_drain", (False, True), False,
         "The main loop can start a drain: a nested aio_poll(qemu_aio_context) until the block "
         "layer's in-flight counter is 0 (bug C)."),
    Axis("mux", ("none", "guarded", "clobber"), "none",
         "The HMP monitor sits on a mux chardev whose focus can switch: guarded = mux_out flag "
         "makes MUX_OUT/MUX_IN idempotent (2023 fix); clobber = before it (bug K)."),
    Axis("async_error_resume", (True, False), True,
         "2010 async API: a cmd_async handler that fails synchronously resumes the HMP monitor "
         "(the ret < 0 branch, §5); false = bug Q."),
    Axis("async_reply_id", ("request", "monitor-current"), "request",
         "2010 async API: the QMP completion's reply carries the request's id, or the id of the "
         "monitor's current command at completion time (monitor-current, unverified reading of "
         "2010 monitor.c)."),
    Axis("events_in_negotiation", (False, True), False,
         "Mutant: events are also sent to monitors still in capabilities negotiation "
         "(forbidden by the QMP spec, §4)."),
    Axis("read_size", ("byte", "buffer"), "byte",
         "monitor_can_read returns 1: one byte per read callback, so suspension takes effect at "
         "once (§2.1); buffer: larger reads, whose bytes already read are parsed despite "
         "suspension (the unmerged 2017/2019/2020 patches, bug R)."),
    Axis("suspend_threshold", ("full", "off-by-one"), "full",
         "handle_qmp_command suspends when the push makes the queue full (length MAX-1 before "
         "the push, §3.3); off-by-one is a mutant that suspends one request later."),
    Axis("pop_from", ("head", "tail"), "head",
         "The dispatcher pops the head of a monitor's queue; tail is a mutant (LIFO)."),
    Axis("oob_path", ("immediate", "queued"), "immediate",
         "exec-oob requests are dispatched at once in the reader thread (§3.3 step 1); queued is a "
         "mutant that sends them through the in-band queue like pre-2018 QEMU."),
    Axis("oob_checks", (True, False), True,
         "qmp_dispatch rejects exec-oob unless OOB is negotiated and the command allows it "
         "(checks 3 and 9 of §3.5); false is a mutant that skips both."),
    Axis("event_emit", ("sync", "deferred"), "sync",
         "An event raised by an in-band handler is written before the handler returns (§4); "
         "deferred is a mutant that emits it later from a BH."),
    Axis("client_oob", (True, False), True,
         "Clients accept `oob` when the greeting offers it."),
    Axis("client_wait_negotiation", (True, False), True,
         "Clients wait for the qmp_capabilities reply before sending commands (qemu.qmp does)."),
    Axis("client_discipline", (True, False), True,
         "Clients keep at most queue_max in-band requests in flight (QMP spec §3.10 advice)."),
)

_AXES_BY_NAME = {a.name: a for a in AXES}


@dataclass(frozen=True)
class Kind:
    """A request template a client may send: the wire form and the command class."""

    name: str
    form: str  # execute | exec-oob | parse-error | garbage | nonobject | hmp
    command: str  # quick | blocking | coroutine | hang | oob | noreply | event | device_add | async | none
    doc: str
    has_id: bool = True

    @property
    def handler_runs(self) -> bool:
        """A command handler runs, so the reply may be an error from it (§3.5 check 11)."""
        return self.command in ("quick", "blocking", "coroutine", "hang", "oob", "noreply", "event",
                                "device_add", "async")


KINDS: Mapping[str, Kind] = {k.name: k for k in (
    Kind("quick", "execute", "quick", "An in-band command that returns at once (query-status)."),
    Kind("quick-noid", "execute", "quick", "The same without `id`: matched by position.", has_id=False),
    Kind("blocking", "execute", "blocking",
         "Blocks its thread (with the BQL) until an external completion: blockdev-add of a "
         "blkdebug node whose config is a FIFO (qmp-test.c)."),
    Kind("coroutine", "execute", "coroutine",
         "A coroutine command (block_resize): raises bs->in_flight, yields for I/O, finishes "
         "when the I/O completes."),
    Kind("hang", "execute", "hang",
         "A coroutine command whose completion never comes (screendump with -device qxl, bug O)."),
    Kind("oob", "exec-oob", "oob", "exec-oob of an allow-oob command (migrate-pause, yank)."),
    Kind("oob-inband", "execute", "oob", "execute of an allow-oob command: runs in-band."),
    Kind("exec-oob-bad", "exec-oob", "quick",
         "exec-oob of a command without allow-oob: error reply in the reader (bug U)."),
    Kind("noreply", "execute", "noreply", "success-response: false (QGA guest-shutdown): no reply."),
    Kind("event", "execute", "event", "Raises an event before returning (stop, cont)."),
    Kind("device-add", "execute", "device_add",
         "device_add: drain_call_rcu (blocking-drain) or drain_call_rcu_co (coroutine-drain)."),
    Kind("async", "execute", "async", "2010 cmd_async handler: replies from a completion callback."),
    Kind("caps", "execute", "caps",
         "qmp_capabilities accepting `oob` when offered (a request at any position; see "
         "bounds.negotiate_first)."),
    Kind("caps-nooob", "execute", "caps", "qmp_capabilities accepting no capability."),
    Kind("caps-bad", "execute", "caps",
         "qmp_capabilities with an unknown capability: GenericError from argument checking, "
         "mode unchanged (QEMU 7.2: \"Parameter 'null' does not accept value …\")."),
    Kind("unknown", "execute", "unknown", "A command that does not exist: CommandNotFound, no handler."),
    Kind("exec-oob-unknown", "exec-oob", "unknown",
         "exec-oob of a command that does not exist: CommandNotFound in the reader when OOB is "
         "negotiated (the existence check precedes the allow-oob check), else GenericError."),
    Kind("bad-request", "execute", "invalid",
         "An object that fails qmp_dispatch's member checks (checks 3-5: 'execute' not a string, "
         "an unexpected member, no 'execute'): GenericError with the id, in either mode, no handler."),
    Kind("parse-error", "parse-error", "none",
         "Malformed JSON whose brackets balance: one error reply without id."),
    Kind("garbage", "garbage", "none",
         "Malformed JSON with an unbalanced bracket: the parser's recovery swallows the next "
         "message (bug T)."),
    Kind("nonobject", "nonobject", "none", "A JSON value that is not an object ([1, 2])."),
    Kind("hmp-quick", "hmp", "quick", "An HMP command that returns at once (info status)."),
    Kind("hmp-coroutine", "hmp", "coroutine", "HMP block_resize: a coroutine HMP command."),
    Kind("hmp-device-add", "hmp", "device_add",
         "HMP device_add (a coroutine HMP command under device_add = coroutine-drain)."),
    Kind("hmp-async", "hmp", "async",
         "2010 async HMP command: monitor suspended at submit, resumed on completion or error."),
)}


@dataclass(frozen=True)
class Bounds:
    """Finite bounds that make the state space finite."""

    monitors: int = 1
    clients: int = 1
    requests: int = 2
    queue_max: int = 8
    #: Monitor of each client (default: client c on monitor c % monitors).
    client_monitors: tuple[int, ...] = ()
    #: Whether each QMP monitor's chardev can use the I/O thread (default: all).
    iothread_monitors: tuple[bool, ...] = ()
    #: The command mix clients draw from (names of KINDS, form != hmp).
    mix: tuple[str, ...] = ("quick",)
    #: HMP monitor: 0 or 1, with this many commands drawn from hmp_mix.
    hmp: int = 0
    hmp_requests: int = 1
    hmp_mix: tuple[str, ...] = ("hmp-quick",)
    vcpus: int = 1
    #: How many times each vCPU / the main loop may enter a nested poll.
    nested_polls: int = 1
    #: How many mux focus switches may happen.
    mux_switches: int = 2
    #: Whether external completions (I/O, FIFO writes) are weakly fair.
    fair_completion: bool = True
    #: Every session starts with qmp_capabilities (seq 0). When false, seq 0 is drawn
    #: from the mix like any other request (negotiation is then a `caps*` kind).
    negotiate_first: bool = True

    def monitor_of(self, c: int) -> int:
        return self.client_monitors[c] if self.client_monitors else c % self.monitors

    def uses_iothread(self, m: int) -> bool:
        return self.iothread_monitors[m] if self.iothread_monitors else True


BOUNDS: tuple[str, ...] = tuple(f.name for f in fields(Bounds))

#: One line per bound, for specs/README.md.
BOUND_DOCS: Mapping[str, str] = {
    "monitors": "QMP monitors, 1-4 (each on a unix socket unless iothread_monitors says otherwise).",
    "clients": "Client sessions, 0-6. Clients of one monitor connect one after the other.",
    "requests": "Requests per client after qmp_capabilities (seq 0), 0-16.",
    "queue_max": "QMP_REQ_QUEUE_LEN_MAX, 1-8 (8 in QEMU; smaller bounds keep the same mechanism).",
    "client_monitors": "Monitor index of each client (default: client c on monitor c % monitors).",
    "iothread_monitors": "Per monitor: does its chardev use the monitor I/O thread (default true; false = read "
                         "in the main loop, no `oob` offered).",
    "mix": "Request kinds clients draw from (see the kinds table).",
    "hmp": "0 or 1 HMP monitor.",
    "hmp_requests": "Commands typed on the HMP monitor.",
    "hmp_mix": "HMP command kinds.",
    "vcpus": "vCPU threads that may run a nested aio_poll (with design.vcpu_nested_poll), 0-2.",
    "nested_polls": "How many nested polls each vCPU / the main-loop drain may start.",
    "mux_switches": "Mux focus switches (with design.mux).",
    "fair_completion": "External completions (I/O, FIFO writes, async callbacks) are weakly fair.",
    "negotiate_first": "Sessions start with qmp_capabilities (default); false: seq 0 comes from the mix "
                       "too, and negotiation is a `caps`, `caps-nooob` or `caps-bad` request anywhere.",
}


@dataclass(frozen=True)
class Design:
    """A point on the design axes (unspecified axes take current QEMU's value)."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name == "values":
            raise AttributeError(name)
        axis = _AXES_BY_NAME.get(name)
        if axis is None:
            raise AttributeError(name)
        return self.values.get(name, axis.default)

    @staticmethod
    def axis(name: str) -> Axis | None:
        return _AXES_BY_NAME.get(name)

"""Names for designs: the axes a spec's ``[design]`` table may set, and the named bases.

An axis value other than current QEMU's selects a design class
(:mod:`qmpmodel.qemu.designs.variants`, :mod:`qmpmodel.qemu.designs.direct2010`);
a spec's design is the composition of the classes its axes select over its
``base`` (default ``qemu-current``), plus a proposal file's class if it names
one (:mod:`qmpmodel.qemu.proposal`). Two selected classes that change the same
step cannot be composed: that is bad input, and the remedy is a design class
that says how the two combine.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

from qmpmodel.errors import InputError
from qmpmodel.qemu.designs.async2017 import AsyncReturnsOrderly2019, AsyncReturnsProtocol2017
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.designs.direct2010 import (
    AsyncApi2010,
    AsyncReplyMonitorCurrentId,
    HmpAsyncErrorKeepsSuspended,
)
from qmpmodel.qemu.designs.variants import (
    CleanupDestroysMonitorsFirst,
    CleanupStopsIothreadFirst,
    ClientDoesNotWaitForNegotiation,
    ClientRefusesOob,
    ClientWithoutDiscipline,
    ClosedWithoutResume,
    CommandDropped,
    CoroutineDeviceAdd,
    CoroutineStaysInIohandler,
    DiscardStaleReplies,
    EventDeferred,
    EventsInNegotiation,
    HmpSuspendInsteadOfNestedLoop,
    HopAll,
    InbandBhInAioContext,
    LargeReads,
    MainDrain,
    MuxClobber,
    MuxGuarded,
    NeverOpenedMonitorSkipped,
    NoOobCapability,
    OobThroughQueue,
    OobWithoutChecks,
    PopFromTail,
    QueueLockAcrossYield,
    RcuNestedPoll,
    ShutdownCheckWhenIdle,
    SuspendOffByOne,
    VcpuNestedPoll,
    WakeWithoutNullCheck,
    WithShutdown,
)

__all__ = ["AXES", "BASES", "Axis", "axis", "compose"]


@dataclass(frozen=True)
class Axis:
    """A design axis: its values, current QEMU's value, and the class each other value selects."""

    name: str
    values: tuple[object, ...]
    default: object
    classes: Mapping[object, type[QemuCurrent]]
    doc: str


AXES: tuple[Axis, ...] = (
    Axis('dispatch', ('queue', 'direct'), 'queue',
         {'direct': AsyncApi2010},
         'queue: requests are parsed by the reader, queued per monitor and run by the single dispatcher (2018+, §3.3-3.4); direct: the reader runs the handler synchronously (2010 design, §5).'),
    Axis('oob', (True, False), True,
         {False: NoOobCapability},
         'The `oob` capability exists (2018+): offered iff the monitor uses the I/O thread (§3.1).'),
    Axis('hop_all', (False, True), False,
         {True: HopAll},
         'true: the dispatcher coroutine hops to qemu_aio_context before every request and back after it (9ce44e2ce2, Oct 2020 - Jan 2024, §3.4); false: only coroutine commands hop (effd60c8).'),
    Axis('inband_ctx', ('iohandler', 'aio'), 'iohandler',
         {'aio': InbandBhInAioContext},
         'AioContext of the one-shot BH that runs a non-coroutine in-band handler: iohandler_ctx (effd60c8) or qemu_aio_context (2020-2024; root cause of bugs A, B, I).'),
    Axis('coroutine_ctx', ('aio', 'iohandler'), 'aio',
         {'iohandler': CoroutineStaysInIohandler},
         "AioContext a coroutine command runs in: qemu_aio_context (the hop in qmp_dispatch) or iohandler_ctx (the hop skipped: bug C's counterfactual, bug H's regression)."),
    Axis('queue_lock_across_yield', (False, True), False,
         {True: QueueLockAcrossYield},
         "true: the dispatcher keeps qmp_queue_lock across its hop yield (before S. Reiter's 2021 fix, bug F)."),
    Axis('closed_resume', (True, False), True,
         {False: ClosedWithoutResume},
         "CHR_EVENT_CLOSED resumes the monitor iff the queue rule had suspended it (W. Bumiller's 2019 fix; false = bug E)."),
    Axis('queue_full', ('suspend', 'drop'), 'suspend',
         {'drop': CommandDropped},
         'With OOB, a full queue suspends the monitor (flow control, 2018 onward) or drops the request with a COMMAND_DROPPED event (bf1e7301745a, bug D).'),
    Axis('stale_reply', ('deliver', 'discard'), 'deliver',
         {'discard': DiscardStaleReplies},
         'The reply of a request whose session ended is written to the chardev anyway (current, bug P) or discarded (qemu-current-fixed; the 2017 QmpSession design).'),
    Axis('async_commands', ('none', 'protocol-2017', 'orderly-2019'), 'none',
         {'protocol-2017': AsyncReturnsProtocol2017, 'orderly-2019': AsyncReturnsOrderly2019},
         "The 2017 async-commands design (never merged; docs/fidelity-ii.md 1f): async-2017 commands return at once and reply from a completion, written at once for clients that negotiated `async` (protocol-2017, v1/v2) or in issue order (orderly-2019, v3-v6); both drop the returns of a closed session."),
    Axis('shutdown', (False, True), False,
         {True: WithShutdown},
         'Enable monitor_cleanup (QEMU exit) as an action (§3.8).'),
    Axis('shutdown_check', ('before-pop', 'when-idle'), 'before-pop',
         {'when-idle': ShutdownCheckWhenIdle},
         'The dispatcher checks the shutdown flag before every pop (b248e61652) or only when its queues are empty (bug L).'),
    Axis('wake_null_check', (True, False), True,
         {False: WakeWithoutNullCheck},
         "qmp_dispatcher_co_wake checks that the coroutine still exists (A. Drobyshev's fix; false = bug M)."),
    Axis('cleanup_order', ('dispatcher-first', 'iothread-first', 'monitors-first'), 'dispatcher-first',
         {'iothread-first': CleanupStopsIothreadFirst, 'monitors-first': CleanupDestroysMonitorsFirst},
         'monitor_cleanup: wait for the dispatcher to exit, then stop the I/O thread, then destroy monitors (357bda9590 + c81219a7dd); iothread-first and monitors-first are the orders those commits fixed (bug G b and a).'),
    Axis('hmp_coroutine', ('nested-loop', 'suspend'), 'nested-loop',
         {'suspend': HmpSuspendInsteadOfNestedLoop},
         'HMP coroutine commands run in a nested aio_poll(qemu_aio_context) holding the BQL (current, §5) or suspend the monitor instead (2023 RFC 1/3, unmerged).'),
    Axis('device_add', ('blocking-drain', 'coroutine-drain'), 'blocking-drain',
         {'coroutine-drain': CoroutineDeviceAdd},
         'device_add calls drain_call_rcu, dropping the BQL while it waits (7bed89958bfb), or is a coroutine command using drain_call_rcu_co (2023 RFC 2/3 + 3/3, unmerged).'),
    Axis('vcpu_nested_poll', (False, True), False,
         {True: VcpuNestedPoll},
         'A vCPU thread can take the BQL for MMIO emulation and run a nested aio_poll(qemu_aio_context) (AIO_WAIT_WHILE in virtio dataplane stop; bug A).'),
    Axis('rcu_nested_poll', (False, True), False,
         {True: RcuNestedPoll},
         "The vCPU's nested poll runs inside an RCU read-side critical section (bug B)."),
    Axis('main_drain', (False, True), False,
         {True: MainDrain},
         "The main loop can start a drain: a nested aio_poll(qemu_aio_context) until the block layer's in-flight counter is 0 (bug C)."),
    Axis('mux', ('none', 'guarded', 'clobber'), 'none',
         {'guarded': MuxGuarded, 'clobber': MuxClobber},
         'The HMP monitor sits on a mux chardev whose focus can switch: guarded = mux_out flag makes MUX_OUT/MUX_IN idempotent (2023 fix); clobber = before it (bug K).'),
    Axis('async_error_resume', (True, False), True,
         {False: HmpAsyncErrorKeepsSuspended},
         '2010 async API: a cmd_async handler that fails synchronously resumes the HMP monitor (the ret < 0 branch, §5); false = bug Q.'),
    Axis('async_reply_id', ('request', 'monitor-current'), 'request',
         {'monitor-current': AsyncReplyMonitorCurrentId},
         "2010 async API: the QMP completion's reply carries the request's id, or the id of the monitor's current command at completion time (monitor-current, unverified reading of 2010 monitor.c)."),
    Axis('never_opened_events', ('deliver', 'suppress'), 'deliver',
         {'suppress': NeverOpenedMonitorSkipped},
         "QEMU 7.2 sends events to a QMP monitor that never received CHR_EVENT_OPENED (commands == NULL is not negotiation mode; on a mux chardev its client may be connected: bug X); suppress: such a monitor gets none (the fix)."),
    Axis('events_in_negotiation', (False, True), False,
         {True: EventsInNegotiation},
         'Mutant: events are also sent to monitors still in capabilities negotiation (forbidden by the QMP spec, §4).'),
    Axis('read_size', ('byte', 'buffer'), 'byte',
         {'buffer': LargeReads},
         'monitor_can_read returns 1: one byte per read callback, so suspension takes effect at once (§2.1); buffer: larger reads, whose bytes already read are parsed despite suspension (the unmerged 2017/2019/2020 patches, bug R).'),
    Axis('suspend_threshold', ('full', 'off-by-one'), 'full',
         {'off-by-one': SuspendOffByOne},
         'handle_qmp_command suspends when the push makes the queue full (length MAX-1 before the push, §3.3); off-by-one is a mutant that suspends one request later.'),
    Axis('pop_from', ('head', 'tail'), 'head',
         {'tail': PopFromTail},
         "The dispatcher pops the head of a monitor's queue; tail is a mutant (LIFO)."),
    Axis('oob_path', ('immediate', 'queued'), 'immediate',
         {'queued': OobThroughQueue},
         'exec-oob requests are dispatched at once in the reader thread (§3.3 step 1); queued is a mutant that sends them through the in-band queue like pre-2018 QEMU.'),
    Axis('oob_checks', (True, False), True,
         {False: OobWithoutChecks},
         'qmp_dispatch rejects exec-oob unless OOB is negotiated and the command allows it (checks 3 and 9 of §3.5); false is a mutant that skips both.'),
    Axis('event_emit', ('sync', 'deferred'), 'sync',
         {'deferred': EventDeferred},
         'An event raised by an in-band handler is written before the handler returns (§4); deferred is a mutant that emits it later from a BH.'),
    Axis('client_oob', (True, False), True,
         {False: ClientRefusesOob},
         'Clients accept `oob` when the greeting offers it.'),
    Axis('client_wait_negotiation', (True, False), True,
         {False: ClientDoesNotWaitForNegotiation},
         'Clients wait for the qmp_capabilities reply before sending commands (qemu.qmp does).'),
    Axis('client_discipline', (True, False), True,
         {False: ClientWithoutDiscipline},
         'Clients keep at most queue_max in-band requests in flight (QMP spec §3.10 advice).'),
)

_AXES_BY_NAME = {a.name: a for a in AXES}


def axis(name: str) -> Axis | None:
    return _AXES_BY_NAME.get(name)


class QemuCurrentFixed(DiscardStaleReplies):
    """Current QEMU with stale replies discarded (the fix of bug P)."""

    title = "Current QEMU, stale replies discarded"


class AsyncCommands2017(DiscardStaleReplies, ClientRefusesOob):
    """Marc-André Lureau's QmpSession/QmpReturn series (2017-2019, unmerged): returns of a
    closed session are cancelled (disconnect cancellation, §7 P)."""

    title = "2017 async commands (cancel on disconnect)"


class CoroutineDispatcher2020(HopAll, InbandBhInAioContext):
    """9ce44e2ce2 (Oct 2020 - Jan 2024): the coroutine dispatcher hops to qemu_aio_context
    for every request; handler BHs live there too."""

    title = "2020 coroutine dispatcher"


class DeviceAddCoroutine2023(CoroutineDeviceAdd, HmpSuspendInsteadOfNestedLoop):
    """The 2023 RFC "qmp: make qmp_device_add() a coroutine" (unmerged)."""

    title = "2023 device_add coroutine RFC"


#: Named designs a spec may use as ``[design] base``.
BASES: Mapping[str, type[QemuCurrent]] = {
    "qemu-current": QemuCurrent,
    "qemu-current-fixed": QemuCurrentFixed,
    "2010-async-api": AsyncApi2010,
    "2017-async-commands": AsyncCommands2017,
    "2018-oob": QemuCurrent,
    "2020-coroutine-dispatcher": CoroutineDispatcher2020,
    "2023-device-add-coroutine": DeviceAddCoroutine2023,
    "2023-iohandler-bh": QemuCurrent,
}


def _changes(cls: type, base: type) -> dict[str, object]:
    """The public attributes ``cls`` defines differently from ``base``."""
    out: dict[str, object] = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        mine = inspect.getattr_static(cls, name)
        if mine is not inspect.getattr_static(base, name, None):
            out[name] = mine
    return out


def compose(base: type[QemuCurrent], classes: list[type[QemuCurrent]], source: str = "<spec>",
            name: str = "Design") -> type[QemuCurrent]:
    """The design ``classes`` (earlier ones win) over ``base``.

    A class that ``base`` or another chosen class already includes is dropped;
    two chosen classes that change the same step are bad input.
    """
    chosen: list[type[QemuCurrent]] = []
    for c in classes:
        if c not in chosen:
            chosen.append(c)
    chosen = [c for c in chosen if not issubclass(base, c) and not any(o is not c and issubclass(o, c) for o in chosen)]
    if not chosen:
        return base
    changed = {c: _changes(c, base) for c in chosen}
    for a, b in combinations(chosen, 2):
        both = sorted(n for n in set(changed[a]) & set(changed[b]) if changed[a][n] is not changed[b][n])
        if both:
            raise InputError(source, "design", "axes that change different steps",
                             f"{a.__name__} and {b.__name__} both change {both[0]}",
                             "write a design class that says how they combine")
    bases = (*chosen, base) if not any(issubclass(c, base) for c in chosen) else tuple(chosen)
    return type(name, bases, {"__module__": __name__, "__qualname__": name})

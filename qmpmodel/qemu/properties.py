"""The named QMP properties: statement, source and predicate over probes.

Each :class:`Invariant` is data (Hypothesis' and stateright's habit). Its
predicate reads only :class:`~qmpmodel.qemu.probes.Probes`, never a state
variable, so it applies to every design; :meth:`Invariant.on` turns it into
the :class:`~qmpmodel.core.task.Property` every engine checks.

Kinds: ``state`` (the predicate holds in every reachable state), ``deadlock``
(no complete wait-for cycle, and no reachable state with pending work where
QEMU itself is stuck), ``liveness`` (the predicate is a goal that must not
hold forever on a fair lasso: under weak fairness of the dispatcher, the main
loop, the reader, the call_rcu thread and, when the spec says so, external
completions).

Sources cite ``../shared/qemu-dispatch-semantics.md`` (§7 bug letters, §8
candidate invariants) and the QMP spec (docs/interop/qmp-spec.rst).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qmpmodel.core.expr import Expr, all_of, any_of, ite, lit
from qmpmodel.core.results import Expected
from qmpmodel.core.task import Property, PropertyKind
from qmpmodel.qemu.probes import AioContext, Probes

__all__ = ["INVARIANTS", "Invariant", "history_clean"]


@dataclass(frozen=True)
class Invariant:
    """A named property: what it says, where it comes from, and how to evaluate it."""

    name: str
    statement: str
    source: str
    kind: PropertyKind
    predicate: Callable[[Probes], Expr]
    #: liveness: the fairness groups assumed (``None``: all; see :class:`~qmpmodel.core.task.Property`)
    fairness: tuple[str, ...] | None = None
    #: the expectation a spec that does not mention the property pins
    default: Expected = "holds"

    def on(self, probes: Probes) -> Property:
        """This property on one model, as the engines take it."""
        return Property(self.name, self.kind, self.predicate(probes), self.statement, self.fairness)


def history_clean(p: Probes, flag: str) -> Expr:
    """No session observed ``flag`` (:data:`~qmpmodel.qemu.probes.HISTORY`)."""
    return all_of(~p.history(c, flag) for c in p.client_ids)


def _suspend_balance(p: Probes) -> Expr:
    """Design-neutral: never negative (no resume without its suspend), and a suspended monitor
    has a reason a client can see: QEMU holds one of its requests (QMP), or the mux focus is
    elsewhere or a long command runs (HMP)."""
    parts: list[Expr] = []
    for m in p.monitor_ids:
        parts.append(p.suspend_cnt(m) >= 0)
        parts.append(~p.suspended(m) | p.request_pending(m))
    if p.has_hmp:
        parts.append(p.hmp_suspend_cnt() >= 0)
        parts.append((p.hmp_suspend_cnt() == 0) | (p.hmp_suspend_reasons() > 0))
    return all_of(parts)


def _suspend_accounting(p: Probes) -> Expr:
    """The design's exact accounting: ``suspend_cnt`` equals the number of valid reasons."""
    parts = [p.suspend_cnt(m) == p.suspend_reasons(m) for m in p.monitor_ids]
    if p.has_hmp:
        parts.append(p.hmp_suspend_cnt() == p.hmp_suspend_reasons())
    return all_of(parts)


def _oob_progress(p: Probes) -> Expr:
    """Goal that must not persist: an accepted exec-oob request of a live session is unanswered."""
    parts: list[Expr] = []
    for m in p.monitor_ids:
        for c in p.clients_of(m):
            for i in range(1, p.requests_per_client):
                parts.append(all_of([~p.shutdown_requested(), p.session_open(c), p.command_mode(m), p.oob_enabled(m),
                                     p.kind_is(c, i, "oob"), p.sent(c) > i, ~p.answered(c, i)]))
    return any_of(parts)


def _resume_progress(p: Probes) -> Expr:
    """Goal that must not persist: a QMP monitor is suspended (before shutdown)."""
    return ~p.shutdown_requested() & any_of(p.suspended(m) for m in p.monitor_ids)


def _bounded_bypass(p: Probes) -> Expr:
    return all_of(p.bypassed(m) <= p.bypass_bound for m in p.monitor_ids)


#: Weak fairness of QEMU's own threads, not of external completions: oob-progress must hold
#: even if no in-band command ever completes.
QEMU_THREADS: tuple[str, ...] = ("reader", "dispatcher", "main", "vcpu", "call_rcu", "iothread")


def _queue_bound(p: Probes) -> Expr:
    parts: list[Expr] = []
    for m in p.monitor_ids:
        qlen = p.queue_len(m)
        parts.append(qlen <= p.queue_max)
        # without OOB: at most one request queued or executing (§8.3)
        parts.append(p.oob_enabled(m) | (qlen + ite(p.execution_holds_monitor(m), lit(1), lit(0)) <= 1))
    return all_of(parts)


def _inband_fifo(p: Probes) -> Expr:
    """Queued refs increase from head to tail, and the executing one precedes them."""
    parts: list[Expr] = []
    for m in p.monitor_ids:
        qlen = p.queue_len(m)
        for j in range(p.queue_max - 1):
            parts.append((qlen <= j + 1) | (p.queue_slot(m, j) < p.queue_slot(m, j + 1)))
        parts.append(~p.executing(m) | (qlen == 0) | (p.executing_request() < p.queue_slot(m, 0)))
    return all_of(parts)


def _oob_immediacy(p: Probes) -> Expr:
    """No accepted OOB request (exec-oob, negotiated, allow-oob) waits in a queue."""
    parts: list[Expr] = []
    for m in p.monitor_ids:
        for c in p.clients_of(m):
            for i in range(1, p.requests_per_client):
                queued = p.queued(m, p.request(c, i))
                parts.append(~(p.oob_enabled(m) & p.kind_is(c, i, "oob") & queued))
    return all_of(parts)


def _context_discipline(p: Probes) -> Expr:
    co = p.coroutine_handler_ctx()
    return ((co == 0) | (co == AioContext.AIO)) & (p.pending_bh_ctx() != AioContext.AIO)


def _bql_atomicity(p: Probes) -> Expr:
    return all_of(~p.in_mmio(v) | p.holds_bql_vcpu(v) for v in p.vcpu_ids)


def _rcu_discipline(p: Probes) -> Expr:
    parts = [~(p.in_rcu_reader(v) & p.in_drain_call_rcu(v)) for v in p.vcpu_ids]
    # drain_call_rcu_co from a coroutine whose nested loop holds the BQL (bug J)
    parts.append(~(p.coroutine_waits_for_call_rcu() & p.in_hmp_nested_loop()))
    return all_of(parts)


def _history(flag: str) -> Callable[[Probes], Expr]:
    return lambda p: history_clean(p, flag)


INVARIANTS: tuple[Invariant, ...] = (
    Invariant("suspend-balance",
              "No monitor's suspend count is ever negative (a resume without its suspend), and a suspended "
              "monitor has a reason a client can see: QEMU holds one of its requests (queued or executing), "
              "or, for HMP, the mux focus is elsewhere or a long command runs.",
              "§8.1; bugs E, K, Q", "state", _suspend_balance),
    Invariant("suspend-accounting",
              "Every monitor's suspend_cnt equals the number of suspension reasons of the design's own "
              "accounting (current QEMU: a full queue with OOB, a request queued or executing without OOB, "
              "mux focus elsewhere, a long HMP command).",
              "§8.1 (current QEMU's mechanism; checked where a spec pins it)", "state", _suspend_accounting,
              default="skip"),
    Invariant("queue-bound",
              "With OOB a monitor queues at most queue_max (8) requests; without OOB at most one "
              "request is queued or executing.",
              "§8.3; QMP spec 'flow control'; bug R", "state", _queue_bound),
    Invariant("inband-fifo",
              "Each monitor's in-band requests are dequeued in the order they were queued.",
              "§8.4", "state", _inband_fifo),
    Invariant("inband-mutual-exclusion",
              "At most one in-band request, over all QMP monitors, is between dequeue and end.",
              "§8.5; bug Q", "state", lambda p: p.inband_in_progress() <= 1),
    Invariant("reply-order",
              "A session receives the replies to its execute requests in issue order.",
              "§8.6; QMP spec 'Issuing Commands'; bug Q", "state", _history("order")),
    Invariant("reply-order-all",
              "A session receives all its replies, exec-oob ones included, in issue order "
              "(expected to fail wherever OOB is used: bug U).",
              "§7 U", "state", _history("order_all")),
    Invariant("exactly-once-reply",
              "Every request a live session sent gets exactly one reply (none for a successful "
              "success-response:false command), never two.",
              "§8.8; bugs D, T", "state", lambda p: history_clean(p, "duplicate") & history_clean(p, "lost")),
    Invariant("no-cross-session-reply",
              "No session receives a reply to a request another session sent.",
              "§8.9; bug P", "state", _history("foreign_reply")),
    Invariant("id-echo",
              "A reply to a request with an id carries that id.",
              "§8.10; §3.6", "state", _history("id")),
    Invariant("negotiation-gating",
              "No event reaches a session before its qmp_capabilities succeeded, and only "
              "qmp_capabilities runs in negotiation mode.",
              "§8.11; QMP spec 'Capabilities Negotiation'", "state", _history("event_negotiating")),
    Invariant("flag-validity",
              "A command runs out-of-band only if it allows OOB and OOB was negotiated.",
              "§8.12; §6.1", "state", lambda p: ~p.oob_flag_violation_seen()),
    Invariant("oob-immediacy",
              "An accepted exec-oob request never waits in the in-band queue.",
              "§8.7", "state", _oob_immediacy),
    Invariant("context-discipline",
              "Non-coroutine in-band handlers run from an iohandler_ctx BH; coroutine commands run "
              "in qemu_aio_context.",
              "§8.13; bugs C, H, I", "state", _context_discipline),
    Invariant("no-nested-dispatch",
              "No in-band request is dequeued, and no non-coroutine handler starts, inside a "
              "nested event loop (a drain, an HMP nested loop, a vCPU's AIO_WAIT_WHILE).",
              "§8.14; bugs A, B, I", "state", lambda p: ~p.nested_dispatch_seen()),
    Invariant("coroutine-nested-resume",
              "A coroutine command never starts or resumes inside a nested event loop (the residual "
              "of bug I that current QEMU still has).",
              "§7 I (residual), §1.1", "state", lambda p: ~p.nested_coroutine_seen()),
    Invariant("no-lock-across-yield",
              "The dispatcher never yields while holding qmp_queue_lock.",
              "§8.15; bug F", "state", lambda p: ~p.yielded_holding_queue_lock()),
    Invariant("bql-atomicity",
              "A vCPU inside its BQL critical section (MMIO emulation) never loses the BQL to a "
              "handler that drops it.",
              "§8.16; bug A", "state", _bql_atomicity),
    Invariant("rcu-discipline",
              "drain_call_rcu is never called inside an RCU read-side critical section, nor while "
              "the BQL is held by a nested loop that waits for the caller.",
              "§8.17; bugs B, J", "state", _rcu_discipline),
    Invariant("no-deadlock",
              "No cycle in the wait-for graph, and no reachable state with pending work and no "
              "enabled action.",
              "§8.18-19; bugs B, C, F, J", "deadlock", lambda p: ~p.wait_cycle()),
    Invariant("progress",
              "Under weak fairness of the dispatcher and the main loop, every request of a "
              "connected session is eventually answered.",
              "§8.18-19; bugs E, O", "liveness", lambda p: p.unanswered()),
    Invariant("oob-progress",
              "An accepted exec-oob request (OOB negotiated, an allow-oob command) of a live session is "
              "answered even if no in-band command ever completes: weak fairness of QEMU's threads only, "
              "not of external completions.",
              "QMP spec 'Out-of-band execution'; §3.10; the 2018 design", "liveness", _oob_progress,
              fairness=QEMU_THREADS),
    Invariant("resume-progress",
              "A suspended QMP monitor is eventually resumed, under weak fairness (external completions "
              "included when the spec says they are fair).",
              "§8.1, §8.18; bugs E, O", "liveness", _resume_progress),
    Invariant("bounded-bypass",
              "While an in-band request waits in a monitor's queue, at most K requests of other monitors "
              "are dequeued (K: bounds.bypass_bound, default the number of monitors).",
              "§8.19 (round robin over mon_list)", "state", _bounded_bypass),
    Invariant("shutdown-safety",
              "After shutdown is requested no request is dequeued, no wake-up reaches the exited "
              "dispatcher, no BH is added to the stopped I/O thread, and monitors are destroyed only "
              "after the dispatcher exited.",
              "§8.20; bugs G, L, M", "state", lambda p: p.shutdown_violation() == 0),
    Invariant("hmp-context",
              "HMP commands run in the main thread, holding the BQL (QEMU asserts it for commands that touch "
              "global state: an HMP command in the monitor I/O thread aborts QEMU).",
              "§5; docs/fidelity-ii.md 1e, F5 (chardev/char.c:217-228, block/block-backend.c:582)", "state",
              lambda p: ~p.hmp_outside_main_thread_seen()),
    Invariant("event-before-reply",
              "An event an in-band handler raises before returning reaches the session before that "
              "command's reply.",
              "§8.22", "state", _history("event_after_reply")),
)

"""The named QMP properties: statement, source and predicate.

Each :class:`Invariant` is data (Hypothesis' and stateright's habit). A
``state`` invariant's predicate is an :class:`~qmpmodel.core.expr.Expr` over the
model's variables, so every engine evaluates the same predicate (compiled to
Python, or translated to z3). Two properties are not state predicates:

* ``no-deadlock`` combines a state predicate (no cycle in the wait-for graph,
  built from :attr:`Model.wait_edges`) with a check the engines do on the
  transition relation (no reachable state with pending work and no enabled
  action);
* ``progress`` is liveness under weak fairness of the dispatcher, the main
  loop, the reader, the call_rcu thread and (when the spec says so) external
  completions: a fair lasso on the explored graph in which a connected
  client's request stays unanswered.

Sources cite ``../shared/qemu-dispatch-semantics.md`` (§7 bug letters, §8
candidate invariants) and the QMP spec (docs/interop/qmp-spec.rst).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from qmpmodel.core.expr import TRUE, Expr, Var, all_of, any_of, ite, lit
from qmpmodel.core.model import Model
from qmpmodel.core.task import Property, PropertyKind
from qmpmodel.core.waitgraph import no_wait_cycle
from qmpmodel.errors import InputError, close_matches
from qmpmodel.qemu.design import Bounds, Design
from qmpmodel.statemachine import Consts as K

__all__ = ["INVARIANTS", "Invariant", "ModelView", "invariant", "progress_goal", "state_predicate"]


@dataclass(frozen=True)
class ModelView:
    """What a predicate may look at: the model's variables, the design and bounds."""

    model: Model
    design: Design
    bounds: Bounds

    def v(self, name: str) -> Var:
        for var in self.model.layout.vars:
            if var.name == name:
                return var
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return name in self.model.layout.names

    def matching(self, pattern: str) -> Iterator[Var]:
        rx = re.compile(pattern)
        return (v for v in self.model.layout.vars if rx.fullmatch(v.name))

    def flags(self, pattern: str) -> Expr:
        """``True`` when none of the matching observer flags is set."""
        return all_of(~v for v in self.matching(pattern))


@dataclass(frozen=True)
class Invariant:
    name: str
    statement: str
    source: str
    kind: PropertyKind
    predicate: Callable[[ModelView], Expr] | None = None

    def on(self, mv: ModelView) -> Property:
        """This property on one model, as the engines take it."""
        expr = progress_goal(mv) if self.kind == "liveness" else state_predicate(self, mv)
        return Property(self.name, self.kind, expr, self.statement)


def _suspend_balance(mv: ModelView) -> Expr:
    d, b = mv.design, mv.bounds
    parts: list[Expr] = []
    qm = b.queue_max
    for m in range(b.monitors):
        susp = mv.v(f"mon{m}.suspend_cnt")
        if d.dispatch == "direct":
            parts.append(susp == 0)
            continue
        oob, qlen = mv.v(f"mon{m}.oob"), mv.v(f"mon{m}.qlen")
        dpc = mv.v("dsp.pc")
        holds = all_of([mv.v("dsp.mon") == m, ~mv.v("dsp.oob_saved"), dpc != K.D_WAIT, dpc != K.D_POP,
                        dpc != K.D_EXIT])
        full = lit(0) if d.queue_full == "drop" else ite(oob & (qlen >= qm), lit(1), lit(0))
        reasons = full + ite(holds, lit(1), lit(0)) + ite(~oob & (qlen >= 1), lit(1), lit(0))
        parts.append(susp == reasons)
    if mv.has("hmp.suspend_cnt"):
        hs = mv.v("hmp.suspend_cnt")
        parts.append(hs == ite(mv.v("hmp.mux_out"), lit(1), lit(0)) + ite(mv.v("hmp.busy"), lit(1), lit(0)))
    return all_of(parts)


def _queue_bound(mv: ModelView) -> Expr:
    qm = mv.bounds.queue_max
    parts: list[Expr] = []
    for m in range(mv.bounds.monitors):
        qlen, oob = mv.v(f"mon{m}.qlen"), mv.v(f"mon{m}.oob")
        running = all_of([mv.v("dsp.mon") == m, mv.v("dsp.pc") != K.D_WAIT, mv.v("dsp.pc") != K.D_POP,
                          mv.v("dsp.pc") != K.D_EXIT, ~mv.v("dsp.oob_saved")])
        parts.append(qlen <= qm)
        # without OOB: at most one request queued or executing (§8.3)
        parts.append(oob | (qlen + ite(running, lit(1), lit(0)) <= 1))
    return all_of(parts)


def _inband_fifo(mv: ModelView) -> Expr:
    """Queued refs increase from head to tail, and the executing one precedes them."""
    parts: list[Expr] = []
    qm = mv.bounds.queue_max
    for m in range(mv.bounds.monitors):
        qlen = mv.v(f"mon{m}.qlen")
        q = [mv.v(f"mon{m}.q{j}") for j in range(qm)]
        for j in range(qm - 1):
            parts.append((qlen <= j + 1) | (q[j] < q[j + 1]))
        dpc = mv.v("dsp.pc")
        busy = all_of([mv.v("dsp.mon") == m, dpc != K.D_WAIT, dpc != K.D_POP, dpc != K.D_EXIT])
        parts.append(~busy | (qlen == 0) | (mv.v("dsp.req") < q[0]))
    return all_of(parts)


def _mutual_exclusion(mv: ModelView) -> Expr:
    if mv.design.dispatch != "direct":
        return TRUE  # one dispatcher coroutine: structurally one in-band request at a time
    count = lit(0)
    for v in mv.matching(r"mon\d+\.async\d+"):
        count = count + ite(v != 0, lit(1), lit(0))
    # the reader itself runs a handler synchronously; pending async handlers are in progress too
    return count <= 1


def _oob_immediacy(mv: ModelView) -> Expr:
    """No accepted OOB request (exec-oob, negotiated, allow-oob) waits in a queue."""
    b = mv.bounds
    kinds = list(dict.fromkeys(b.mix))
    if "oob" not in kinds:
        return TRUE
    oob_id = kinds.index("oob") + 1
    nr = b.requests + 1
    parts: list[Expr] = []
    for m in range(b.monitors):
        oob = mv.v(f"mon{m}.oob")
        for c in range(b.clients):
            if b.monitor_of(c) != m:
                continue
            for i in range(1, nr):
                r = c * nr + i + 1
                queued = any_of(mv.v(f"mon{m}.q{j}") == r for j in range(b.queue_max))
                is_oob = mv.v(f"client{c}.kind{i}") == oob_id
                parts.append(~(oob & is_oob & queued))
    return all_of(parts)


def _context_discipline(mv: ModelView) -> Expr:
    dpc, dctx = mv.v("dsp.pc"), mv.v("dsp.ctx")
    in_co = any_of(dpc == x for x in (K.D_CO_START, K.D_CO_WAIT, K.D_CO_END))
    return (~in_co | (dctx == K.AIO)) & (mv.v("bh.ctx") != K.AIO)


def _bql_atomicity(mv: ModelView) -> Expr:
    parts = []
    for v in mv.matching(r"vcpu\d+\.nest"):
        i = int(v.name[4:v.name.index(".")])
        parts.append((v != K.N_MMIO) | (mv.v("bql") == K.VCPU0 + i))
    return all_of(parts)


def _rcu_discipline(mv: ModelView) -> Expr:
    parts: list[Expr] = []
    for v in mv.matching(r"vcpu\d+\.rcu_read"):
        i = v.name[4:v.name.index(".")]
        parts.append(~(v & (mv.v(f"vcpu{i}.pc") == K.RCU_WAIT)))
    # drain_call_rcu_co from a coroutine whose nested loop holds the BQL (bug J)
    hmploop = mv.v("main.nest") == K.N_HMPLOOP
    for name in ("rcu.waits_hmp_coroutine", "rcu.waits_dispatcher"):
        if mv.has(name):
            parts.append(~(mv.v(name) & hmploop))
    return all_of(parts)


def _no_wait_cycle(mv: ModelView) -> Expr:
    return no_wait_cycle(mv.model)


def progress_goal(mv: ModelView) -> Expr:
    """Something that must eventually happen has not happened yet.

    A connected client's request is unanswered (before shutdown: requests
    still queued at shutdown are left unanswered by design, §3.8), or a
    requested shutdown has not completed (QEMU does not exit, bug G b).
    """
    parts = []
    b = mv.bounds
    running = mv.v("sd.pc") == K.S_NONE
    for c in range(b.clients):
        st = mv.v(f"client{c}.st")
        live = (st == K.C_NEG) | (st == K.C_READY)
        for i in range(b.requests + 1):
            parts.append(running & live & (mv.v(f"client{c}.sent") > i) & ~mv.v(f"client{c}.answered{i}"))
    parts.append(mv.v("sd.pc") == K.S_REQ)
    return any_of(parts)


def _shutdown_safety(mv: ModelView) -> Expr:
    return mv.v("x.shutdown") == 0


INVARIANTS: tuple[Invariant, ...] = (
    Invariant("suspend-balance",
              "Every monitor's suspend_cnt equals the number of currently valid suspension reasons "
              "(queue rule, HMP mux focus, long HMP command) and is never negative.",
              "§8.1; bugs E, K, Q", "state", _suspend_balance),
    Invariant("queue-bound",
              "With OOB a monitor queues at most queue_max (8) requests; without OOB at most one "
              "request is queued or executing.",
              "§8.3; QMP spec 'flow control'; bug R", "state", _queue_bound),
    Invariant("inband-fifo",
              "Each monitor's in-band requests are dequeued in the order they were queued.",
              "§8.4", "state", _inband_fifo),
    Invariant("inband-mutual-exclusion",
              "At most one in-band request, over all QMP monitors, is between dequeue and end.",
              "§8.5; bug Q", "state", _mutual_exclusion),
    Invariant("reply-order",
              "A session receives the replies to its execute requests in issue order.",
              "§8.6; QMP spec 'Issuing Commands'; bug Q", "state",
              lambda mv: mv.flags(r"client\d+\.x_order")),
    Invariant("reply-order-all",
              "A session receives all its replies, exec-oob ones included, in issue order "
              "(expected to fail wherever OOB is used: bug U).",
              "§7 U", "state", lambda mv: mv.flags(r"client\d+\.x_order_all")),
    Invariant("exactly-once-reply",
              "Every request a live session sent gets exactly one reply (none for a successful "
              "success-response:false command), never two.",
              "§8.8; bugs D, T", "state",
              lambda mv: mv.flags(r"client\d+\.x_(duplicate|lost)")),
    Invariant("no-cross-session-reply",
              "No session receives a reply to a request another session sent.",
              "§8.9; bug P", "state", lambda mv: mv.flags(r"client\d+\.x_foreign_reply")),
    Invariant("id-echo",
              "A reply to a request with an id carries that id.",
              "§8.10; §3.6", "state", lambda mv: mv.flags(r"client\d+\.x_id")),
    Invariant("negotiation-gating",
              "No event reaches a session before its qmp_capabilities succeeded, and only "
              "qmp_capabilities runs in negotiation mode.",
              "§8.11; QMP spec 'Capabilities Negotiation'", "state",
              lambda mv: mv.flags(r"client\d+\.x_event_negotiating")),
    Invariant("flag-validity",
              "A command runs out-of-band only if it allows OOB and OOB was negotiated.",
              "§8.12; §6.1", "state", lambda mv: ~mv.v("x.flag_validity")),
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
              "§8.14; bugs A, B, I", "state", lambda mv: ~mv.v("x.nested_dispatch")),
    Invariant("coroutine-nested-resume",
              "A coroutine command never starts or resumes inside a nested event loop (the residual "
              "of bug I that current QEMU still has).",
              "§7 I (residual), §1.1", "state", lambda mv: ~mv.v("x.nested_coroutine")),
    Invariant("no-lock-across-yield",
              "The dispatcher never yields while holding qmp_queue_lock.",
              "§8.15; bug F", "state",
              lambda mv: ~(mv.v("dsp.qlock") & (mv.v("dsp.sched") < K.CONT))),
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
              "§8.18-19; bugs B, C, F, J", "deadlock", _no_wait_cycle),
    Invariant("progress",
              "Under weak fairness of the dispatcher and the main loop, every request of a "
              "connected session is eventually answered.",
              "§8.18-19; bugs E, O", "liveness"),
    Invariant("shutdown-safety",
              "After shutdown is requested no request is dequeued, no wake-up reaches the exited "
              "dispatcher, no BH is added to the stopped I/O thread, and monitors are destroyed only "
              "after the dispatcher exited.",
              "§8.20; bugs G, L, M", "state", _shutdown_safety),
    Invariant("event-before-reply",
              "An event an in-band handler raises before returning reaches the session before that "
              "command's reply.",
              "§8.22", "state", lambda mv: mv.flags(r"client\d+\.x_event_after_reply")),
)

_BY_NAME = {i.name: i for i in INVARIANTS}


def invariant(name: str, source: str = "<command line>", where: str | None = None) -> Invariant:
    """Look an invariant up by name; an unknown name is an :class:`InputError` with a hint."""
    inv = _BY_NAME.get(name)
    if inv is None:
        raise InputError(source, where, "an invariant name (see 'qmpmodel invariants')", repr(name),
                         close_matches(name, _BY_NAME))
    return inv


def state_predicate(inv: Invariant, mv: ModelView) -> Expr:
    """The state predicate of ``inv`` on this model (``True`` for pure liveness)."""
    return inv.predicate(mv) if inv.predicate is not None else TRUE

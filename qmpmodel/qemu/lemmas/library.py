"""The lemma library: every structural lemma by name, and the candidates a prover starts from."""

from __future__ import annotations

from qmpmodel.core.expr import Expr
from qmpmodel.qemu.lemmas import sessions as s
from qmpmodel.qemu.lemmas import threads as t
from qmpmodel.qemu.lemmas.view import Lemma, ModelView
from qmpmodel.qemu.properties import INVARIANTS

__all__ = ["LEMMAS", "candidate_lemmas", "lemmas_for", "named_lemmas"]


LEMMAS: tuple[Lemma, ...] = (
    Lemma("values", "Every variable whose updates are constants or copies holds a value some action "
          "assigns it (or its initial value).", t.values),
    Lemma("continuation", "A dispatcher continuing on a thread holds that thread's BQL.", t.continuation),
    Lemma("sent-kinds", "A request's kind is set exactly when it is sent.", s.sent_kinds),
    Lemma("session-mode", "A live session past negotiation is in command mode.", s.session_mode),
    Lemma("unanswered-somewhere", "A sent, unanswered request of the live session is unread, queued or "
          "running.", s.unanswered_somewhere),
    Lemma("negotiating", "A session in negotiation that waits for the qmp_capabilities reply sent "
          "nothing else.", s.negotiating),
    Lemma("dispatcher-exit", "The dispatcher exits only after shutdown was requested.", t.dispatcher_exit),
    Lemma("exited", "The main thread has exited exactly when monitor_cleanup is done; from the shutdown "
          "request until then it waits in monitor_cleanup's AIO_WAIT_WHILE holding the BQL, and the dispatcher "
          "it woke is not idle.", t.exited),
    Lemma("bql-holder", "The main loop holds the BQL at top level only while the dispatcher continues on it.",
          t.bql_holder),
    Lemma("fresh", "A client not yet connected sent nothing; a handler BH is pending only for a dispatcher "
          "waiting for it.", s.fresh),
    Lemma("closing", "A close is pending only while no session is connected.", s.closing),
    Lemma("queue-slots", "Queue slots below qlen hold a request, the others are 0; qlen <= queue_max.",
          s.queue_slots),
    Lemma("input-slots", "Input slots below inlen hold a message, the others are 0.", s.input_slots),
    Lemma("connection", "mon.conn is c + 1 exactly while client c's session is open; a monitor "
          "with no session that is not closing has no unread input.", s.connection),
    Lemma("input-contents", "The unread input of the live session is its last inlen messages, in order.",
          s.input_contents),
    Lemma("in-flight", "bs->in_flight counts the coroutine commands between their start and end.",
          t.in_flight),
    Lemma("handler-owner", "A thread blocked inside a handler is the one running the dispatcher's BH.",
          t.handler_owner),
    Lemma("frozen", "A variable no action of the model sets to another value keeps its initial value.",
          t.frozen),
    Lemma("rcu-waiters", "A drain_call_rcu marker is queued exactly while its waiter waits for it; "
          "call_rcu is busy exactly while a marker is queued.", t.rcu_waiters),
    Lemma("dispatcher-busy", "dsp.busy is false exactly when the dispatcher is idle or exited "
          "(a wake-up after exit sets it).", t.dispatcher_busy),
    Lemma("dispatcher-idle", "The dispatcher is idle in qmp_dispatcher_co only while every request "
          "queue is empty.", t.dispatcher_idle),
    Lemma("dispatcher-kind", "The dispatcher holds only a request the reader queues; it runs a coroutine "
          "handler only for a coroutine command, and waits for the handler BH only for a command the BH runs.",
          t.dispatcher_kind),
    Lemma("queued-kinds", "A queued request, and the one the dispatcher holds, is of a kind the reader "
          "queues (exec-oob runs in the reader).", t.queued_kinds),
    Lemma("dispatcher-parked", "A dispatcher yielded for the handler BH or inside a coroutine handler is "
          "scheduled nowhere.", t.dispatcher_parked),
    Lemma("dispatcher-bh", "A dispatcher waiting for the handler BH has it scheduled, or a thread runs the "
          "handler.", t.dispatcher_bh),
    Lemma("coroutine-wait", "An I/O request in flight belongs to a waiting coroutine; the waiting "
          "dispatcher waits for I/O or for call_rcu.", t.coroutine_wait),
    Lemma("mon-list", "Monitors hold distinct places in mon_list; one bypassed n times in a row moved n "
          "places up.", s.mon_list),
    Lemma("idle-queue", "A monitor with no session that is not closing has an empty queue.", s.idle_queue),
    Lemma("session-order", "A monitor's clients connect one after the other.", s.session_order),
    Lemma("first-negotiation", "Until the first session's qmp_capabilities is dispatched, its monitor "
          "is in negotiation mode.", s.first_negotiation),
    Lemma("input-owner", "The unread input of a closed session not yet cleaned up is its last inlen "
          "messages, in order.", s.input_owner),
    Lemma("dispatcher-first", "The running request precedes the queued requests and the unread input "
          "of its monitor.", s.dispatcher_first),
    Lemma("queue-contents", "Queued requests are the current session's, in increasing order, sent "
          "before its unread input.", s.queue_contents),
    Lemma("dispatcher-request", "The running request was sent on dsp.mon, and dsp.kind is its kind.",
          s.dispatcher_request),
    Lemma("oob-session", "OOB is on only in command mode, and stays on while the session that "
          "negotiated it lives.", s.oob_session),
    Lemma("oob-saved", "A request running for a monitor with OOB on was dequeued with OOB on.", s.oob_saved),
    Lemma("pending-unanswered", "A request not yet sent, unread, queued or running has no reply, and the "
          "last in-band reply its client saw answers an earlier request.", s.pending_unanswered),
    Lemma("answered-before", "The last reply a client saw answers a request it sent.", s.answered_before),
    Lemma("answered-last", "The last reply a client saw answers a request that has its reply.", s.answered_last),
    Lemma("pending-before-any", "While a request waits, the last reply of any kind its client saw answers "
          "an earlier request.", s.pending_before_any),
)


def named_lemmas(mv: ModelView) -> list[tuple[str, Expr]]:
    """Every applicable structural lemma on this model, by name."""
    if not mv.design.has_dispatcher():
        return []
    out = []
    for lem in LEMMAS:
        try:
            e = lem.build(mv)
        except KeyError:  # the design's encoding lacks a variable this lemma is about
            continue
        if not (e.op == "const" and e.args[0] is True):
            out.append((lem.name, e))
    return out


def candidate_lemmas(mv: ModelView) -> list[tuple[str, Expr]]:
    """Candidates for :func:`qmpmodel.engines.smt.prove`: the structural lemmas and every state invariant.

    Each structural lemma is split into its top-level conjuncts (``name#k``).
    The state invariants of :data:`qmpmodel.invariants.INVARIANTS` strengthen
    each other (``queue-bound`` needs ``suspend-balance`` and vice versa).
    Candidates false on a design are pruned by the prover, never assumed.
    """
    out = [part for n, e in named_lemmas(mv) for part in _conjuncts(n, e)]
    # every declared variable range is a candidate (most are trivially inductive)
    for v in mv.model.layout.vars:
        if v.sort == "int":
            out.append((f"range:{v.name}", (v >= v.lo) & (v <= v.hi)))
    for inv in INVARIANTS:
        if inv.kind == "state":
            e = inv.predicate(mv.design)
            if not (e.op == "const" and e.args[0] is True):
                out += _conjuncts(f"invariant:{inv.name}", e)
    return out


def _conjuncts(name: str, e: Expr) -> list[tuple[str, Expr]]:
    """A lemma's top-level conjuncts as candidates of their own (``name#k``): Houdini then drops
    only the part a design falsifies (one false clause of ``fresh`` no longer costs the others).

    An equality of two counts (``suspend_cnt == reasons``) is two candidates, ``<=`` and
    ``>=``: a design that suspends too often (bug E never resumes) keeps the half it does not
    break, which is what bounds its queue. An equivalence of two conditions is two
    implications (``=>``, ``<=``): on a mux chardev a client is connected before its session
    opens (bug X), which breaks only one direction of ``connection``.
    """
    parts: list[Expr] = list(e.args) if e.op == "and" else [e]  # type: ignore[arg-type]
    out: list[tuple[str, Expr]] = []
    for k, part in enumerate(parts):
        n = f"{name}#{k}" if len(parts) > 1 else name
        a, b = part.args[:2] if part.op == "==" else (None, None)
        if not (isinstance(a, Expr) and isinstance(b, Expr)) or "const" in (a.op, b.op):
            out.append((n, part))
        elif a.sort == "int":
            out += [(f"{n}<=", a <= b), (f"{n}>=", a >= b)]
        elif a.sort == "bool":
            out += [(f"{n}=>", ~a | b), (f"{n}<=", a | ~b)]
    return out


def lemmas_for(mv: ModelView) -> list[Expr]:
    """The structural lemma expressions."""
    return [e for _n, e in named_lemmas(mv)]

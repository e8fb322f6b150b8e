"""The probes of current QEMU's encoding: :class:`~qmpmodel.qemu.probes.Probes` implemented.

Every design inherits these; one that changes the encoding overrides the
probes it affects (and only those), so properties stay unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from qmpmodel.core.expr import FALSE, Expr, all_of, any_of, ite, lit
from qmpmodel.core.waitgraph import no_wait_cycle
from qmpmodel.qemu.codes import ClientSt, Ctx, Dsp, Nest, Run, Sd, Waiter
from qmpmodel.qemu.harness import Harness
from qmpmodel.qemu.probes import HISTORY
from qmpmodel.qemu.state import Monitor

__all__ = ["QemuProbes"]


class QemuProbes(Harness):
    """The probes of current QEMU's encoding (designs inherit and may override them)."""

    # -- configuration ---------------------------------------------------------
    @property
    def monitor_ids(self) -> range:
        return range(self.bounds.monitors)

    @property
    def client_ids(self) -> range:
        return range(self.bounds.clients)

    @property
    def requests_per_client(self) -> int:
        return self.NR

    @property
    def vcpu_ids(self) -> range:
        return range(self.V)

    @property
    def has_hmp(self) -> bool:
        return self.hmp

    def clients_of(self, m: int) -> list[int]:
        return list(self.mons[m].clients)

    def request(self, c: int, i: int) -> int:
        return self.ref(c, i)

    def oob_offered(self, m: int) -> bool:
        """The greeting on monitor ``m`` offers the ``oob`` capability."""
        return self.offers_oob(self.mons[m])

    def offers_oob(self, m: Monitor) -> bool:  # pragma: no cover - the dispatch part defines it
        raise NotImplementedError

    def request_of(self, r: int) -> tuple[int, int]:
        """(client, seq) of ref ``r``."""
        return self.split_ref(r)

    def request_name(self, r: int) -> str:
        """``client{c}#{i}`` for ref ``r`` (``-`` for 0)."""
        if r <= 0:
            return "-"
        c, i = self.split_ref(r)
        return f"client{c}#{i}"

    def kind_name(self, kind_id: int) -> str:
        """The request kind behind a kind id of the model's actions (0: qmp_capabilities)."""
        if kind_id == 0:
            return "qmp_capabilities"
        return self.kinds[kind_id - 1] if 0 < kind_id <= len(self.kinds) else f"kind {kind_id}"

    def reader_of(self, m: int) -> str:
        """The thread that reads monitor ``m``'s input: ``iothread`` or ``main``."""
        return self.reader_thread(self.mons[m])[0]

    def client_monitor(self, c: int) -> int:
        return self.clients[c].mon

    def reader_thread(self, m: Monitor) -> tuple[str, Expr]:  # pragma: no cover - the Reader part defines it
        raise NotImplementedError

    # -- monitors --------------------------------------------------------------
    def connected(self, m: int) -> Expr:
        return self.mons[m].conn != 0

    def session(self, m: int) -> Expr:
        """The connected client's index + 1 (0: nobody)."""
        return self.mons[m].conn

    def command_mode(self, m: int) -> Expr:
        return self.mons[m].mode

    def oob_enabled(self, m: int) -> Expr:
        return self.mons[m].oob

    def suspend_cnt(self, m: int) -> Expr:
        return self.mons[m].susp

    def suspended(self, m: int) -> Expr:
        return self.mons[m].susp > 0

    def suspend_reasons(self, m: int) -> Expr:
        """Current QEMU's accounting (§8.1): a full queue with OOB, the request executing
        without OOB, one queued without OOB."""
        mon = self.mons[m]
        qm = self.queue_max
        full = ite(mon.oob & (mon.qlen >= qm), lit(1), lit(0)) if self.queue_full_suspends() else lit(0)
        return full + ite(self.execution_holds_monitor(m), lit(1), lit(0)) + ite(~mon.oob & (mon.qlen >= 1), lit(1), lit(0))

    def queue_full_suspends(self) -> bool:
        """A full queue suspends the monitor (flow control; COMMAND_DROPPED designs refuse instead)."""
        return True

    def queue_len(self, m: int) -> Expr:
        return self.mons[m].qlen

    def queue_slot(self, m: int, j: int) -> Expr:
        """The ref at position ``j`` of ``m``'s in-band queue (head is 0), 0 when empty."""
        return self.mons[m].q[j]

    def queued(self, m: int, r: int) -> Expr:
        return any_of(s == r for s in self.mons[m].q)

    def unread(self, m: int, r: int) -> Expr:
        """Request ``r`` was written to ``m`` and not parsed yet."""
        return any_of(s == r for s in self.mons[m].inq)

    def dispatcher_active(self) -> Expr:
        pc = self.dsp.pc
        return (pc != Dsp.WAIT) & (pc != Dsp.POP) & (pc != Dsp.EXIT)

    def executing(self, m: int) -> Expr:
        """An in-band request of ``m`` is between dequeue and end."""
        if not self.has_dispatcher():
            return FALSE
        return (self.dsp.mon == m) & self.dispatcher_active()

    def execution_holds_monitor(self, m: int) -> Expr:
        """``m``'s request executes and was dequeued without OOB: the monitor stays suspended."""
        if not self.has_dispatcher():
            return FALSE
        return all_of([self.dsp.mon == m, ~self.dsp.oob_saved, self.dispatcher_active()])

    def executing_request(self) -> Expr:
        """The ref of the executing in-band request (meaningful while one executes)."""
        return self.dsp.req

    def request_pending(self, m: int) -> Expr:
        """QEMU holds an in-band request of ``m``: queued, or executing."""
        return (self.queue_len(m) > 0) | self.executing(m)

    def bypassed(self, m: int) -> Expr:
        """How many requests of other monitors were dequeued while ``m``'s queue was not
        empty, since ``m`` was last served (saturates at ``bypass_bound + 1``; 0 with one monitor)."""
        return self.bypass[m] if self.bypass else lit(0)

    def inband_in_progress(self) -> Expr:
        """How many in-band requests are between dequeue and end: one dispatcher, at most one."""
        return ite(self.dispatcher_active(), lit(1), lit(0)) if self.has_dispatcher() else lit(0)

    # -- sessions ----------------------------------------------------------------
    def session_open(self, c: int) -> Expr:
        st = self.clients[c].st
        return (st == ClientSt.NEG) | (st == ClientSt.READY)

    def negotiated(self, c: int) -> Expr:
        return self.clients[c].st == ClientSt.READY

    def sent(self, c: int) -> Expr:
        return self.clients[c].sent

    def answered(self, c: int, i: int) -> Expr:
        return self.clients[c].ans[i]

    def kind_is(self, c: int, i: int, kind: str) -> Expr:
        if kind not in self.kind_id and kind != "qmp_capabilities":
            return FALSE
        return self.is_kind(c, i, kind)

    def history(self, c: int, flag: str) -> Expr:
        cl = self.clients[c]
        table = {"foreign_reply": cl.x_cross, "duplicate": cl.x_dup, "order": cl.x_order,
                 "order_all": cl.x_order_all, "id": cl.x_id, "lost": cl.x_lost,
                 "event_negotiating": cl.x_negev, "event_after_reply": cl.x_evorder}
        return table[flag]

    # -- threads, contexts, QEMU-internal observations -----------------------------
    def coroutine_handler_ctx(self) -> Expr:
        """Where a coroutine command's handler runs (0 when none runs)."""
        pc = self.dsp.pc
        running = any_of(pc == x for x in (Dsp.CO_START, Dsp.CO_WAIT, Dsp.CO_END))
        return ite(running, self.dsp.ctx, lit(0))

    def pending_bh_ctx(self) -> Expr:
        """The AioContext of a scheduled do_qmp_dispatch_bh (0 when none)."""
        return self.bhctx

    def in_mmio(self, v: int) -> Expr:
        return self.threads[1 + v].nest == Nest.MMIO

    def holds_bql_vcpu(self, v: int) -> Expr:
        return self.bql == self.threads[1 + v].tid

    def in_rcu_reader(self, v: int) -> Expr:
        var = self.threads[1 + v].rcu
        return FALSE if var is None else var

    def in_drain_call_rcu(self, v: int) -> Expr:
        return self.threads[1 + v].pc == Run.RCU_WAIT

    def coroutine_waits_for_call_rcu(self) -> Expr:
        """A coroutine (the dispatcher's command or HMP's) waits in drain_call_rcu_co."""
        flags = [self.rwaits[w] for w in (Waiter.HMP_COROUTINE, Waiter.DISPATCHER) if w in self.rwaits]
        return any_of(flags)

    def in_hmp_nested_loop(self) -> Expr:
        return self.main.nest == Nest.HMPLOOP

    def draining(self) -> Expr:
        """The main loop is inside a block-layer drain (a nested aio_poll)."""
        return self.main.nest == Nest.DRAIN

    def block_in_flight(self) -> Expr:
        """bs->in_flight: block requests in flight."""
        return self.inflight

    def hmp_suspend_cnt(self) -> Expr:
        return self.hsusp if self.hmp else lit(0)

    def hmp_suspend_reasons(self) -> Expr:
        """The mux focus is elsewhere, or a long command runs with the monitor suspended."""
        if not self.hmp:
            return lit(0)
        return ite(self.hmux, lit(1), lit(0)) + ite(self.hbusy, lit(1), lit(0))

    def yielded_holding_queue_lock(self) -> Expr:
        return self.dsp.qlock & (self.dsp.sched < Ctx.CONT)

    def nested_dispatch_seen(self) -> Expr:
        return self.xnest

    def nested_coroutine_seen(self) -> Expr:
        return self.xnestco

    def oob_flag_violation_seen(self) -> Expr:
        return self.xflag

    def shutdown_violation(self) -> Expr:
        """The first shutdown-safety violation (:class:`~qmpmodel.qemu.codes.XShutdown`), 0 if none."""
        return self.xsd

    def shutdown_requested(self) -> Expr:
        return self.sd != Sd.NONE

    def exit_requested(self) -> Expr:
        """QEMU's ``shutdown_requested`` (``quit`` or a signal, F3); main_loop_should_exit has not
        necessarily run yet (``shutdown_requested`` above is monitor_cleanup's flag)."""
        return FALSE if self.rs_shutdown is None else self.rs_shutdown

    def opened(self, m: int) -> Expr:
        """Monitor ``m`` received CHR_EVENT_OPENED (always, unless it is on a mux chardev, F4)."""
        mon = self.mons[m]
        return self.connected(m) if mon.opened is None else mon.opened

    def hmp_outside_main_thread_seen(self) -> Expr:
        """An HMP command ran outside the main thread, without the BQL (F5)."""
        return FALSE if self.xhmpctx is None else self.xhmpctx

    def env_events_left(self) -> Expr:
        """How many more events the environment may raise (F2)."""
        return lit(0) if self.env_left is None else self.env_left

    def shutdown_done(self) -> Expr:
        return self.sd == Sd.DONE

    def named_probes(self) -> dict[str, Callable[[], Expr]]:
        """Probes by the names ``reach`` goals use (``mon[0].suspended``, ``client[1].answered[2]``).

        A design that publishes a probe of its own adds it here
        (``return {**super().named_probes(), "mon[0].held": ...}``).
        """
        out: dict[str, Callable[[], Expr]] = {}
        for m in self.monitor_ids:
            for key, fn in (("connected", self.connected), ("session", self.session),
                            ("command_mode", self.command_mode), ("oob", self.oob_enabled),
                            ("suspend_cnt", self.suspend_cnt), ("suspended", self.suspended),
                            ("queue_len", self.queue_len), ("executing", self.executing),
                            ("opened", self.opened)):
                out[f"mon[{m}].{key}"] = partial(fn, m)
            for j in range(self.queue_max):
                out[f"mon[{m}].queue[{j}]"] = partial(self.queue_slot, m, j)
        for c in self.client_ids:
            out[f"client[{c}].connected"] = partial(self.session_open, c)
            out[f"client[{c}].negotiated"] = partial(self.negotiated, c)
            out[f"client[{c}].sent"] = partial(self.sent, c)
            for i in range(self.requests_per_client):
                out[f"client[{c}].answered[{i}]"] = partial(self.answered, c, i)
            for flag in HISTORY:
                out[f"client[{c}].{flag}"] = partial(self.history, c, flag)
        for v in self.vcpu_ids:
            out[f"vcpu[{v}].in_mmio"] = partial(self.in_mmio, v)
            out[f"vcpu[{v}].in_rcu_reader"] = partial(self.in_rcu_reader, v)
            out[f"vcpu[{v}].in_drain_call_rcu"] = partial(self.in_drain_call_rcu, v)
        out.update({
            "dispatcher.request": self.executing_request,
            "dispatcher.executing": lambda: any_of(self.executing(m) for m in self.monitor_ids),
            "coroutine.ctx": self.coroutine_handler_ctx,
            "handler_bh.ctx": self.pending_bh_ctx,
            "main.draining": self.draining,
            "hmp.nested_loop": self.in_hmp_nested_loop,
            "hmp.suspend_cnt": self.hmp_suspend_cnt,
            "block.in_flight": self.block_in_flight,
            "shutdown.requested": self.shutdown_requested,
            "shutdown.done": self.shutdown_done,
            "exit.requested": self.exit_requested,
            "env.events_left": self.env_events_left,
            "pending": self.pending,
            "unanswered": self.unanswered,
            "wait_cycle": self.wait_cycle,
        })
        return out

    def wait_cycle(self) -> Expr:
        """Every edge of some wait-for cycle is present (:meth:`~qmpmodel.qemu.parts.waiting.Waiting.wait_edges`)."""
        return ~no_wait_cycle(self.wait_edges())

    def unanswered(self) -> Expr:
        """Something that must eventually happen has not: a live session's request is
        unanswered (before shutdown: requests still queued then are left unanswered by
        design, §3.8), or a requested shutdown has not completed (bug G b)."""
        parts = []
        running = ~self.shutdown_requested()
        for c in self.client_ids:
            for i in range(self.NR):
                parts.append(running & self.session_open(c) & (self.sent(c) > i) & ~self.answered(c, i))
        parts.append(self.shutdown_requested() & ~self.shutdown_done())
        return any_of(parts)

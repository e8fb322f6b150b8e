"""The one model of QEMU's monitor dispatch (QMP and HMP).

:func:`build_model` turns a :class:`~qmpmodel.qemu.design.Design` (a point on the
design axes) and :class:`~qmpmodel.qemu.design.Bounds` into a
:class:`~qmpmodel.core.model.Model`: a state layout and a deterministic tuple of
guarded actions written as :mod:`qmpmodel.core.expr` trees, which every engine
consumes. "§" cites ``../shared/qemu-dispatch-semantics.md``.

Actors and their state (all small integers):

* clients, one session each, on a fixed monitor; several clients of one monitor
  connect one after the other (a closed connection and a new session, §3.8);
* per QMP monitor: session, mode, accepted ``oob``, ``suspend_cnt``, the
  request queue (``queue_max`` slots), unread input, parser error recovery;
* the dispatcher coroutine: program counter, where it is scheduled (an
  AioContext, or "continuing on thread t"), ``busy``, its home context;
* threads that poll main-loop AioContexts with the BQL: the main thread and
  vCPUs, each with a program counter and a nesting reason (drain, HMP nested
  loop, monitor_cleanup, MMIO emulation);
* the monitor I/O thread (reads, parses and runs OOB commands, no BQL);
* the call_rcu thread and the RCU grace period; the block layer's in-flight
  counter; the HMP monitor and its coroutine; shutdown.

Observer variables record what clients see (``x_*`` flags, answered bits):
the order properties are predicates over them (§8: "order properties may keep
a small history in the state").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qmpmodel.core.expr import (
    FALSE,
    TRUE,
    Expr,
    StateLayout,
    Var,
    all_of,
    any_of,
    as_expr,
    ite,
    lit,
)
from qmpmodel.core.model import Action, Emit, Model, WaitEdge
from qmpmodel.errors import InputError, close_matches
from qmpmodel.qemu.design import KINDS, Bounds, Design

__all__ = ["Consts", "build_model"]


class Consts:
    """Enumerations of the model's program counters and identifiers."""

    # threads (BQL holder ids); vCPU i is VCPU0 + i, call_rcu is after the vCPUs
    NONE, MAIN, IOT, VCPU0 = 0, 1, 2, 3
    # AioContexts / schedule targets; CONT + thread = "continues on that thread"
    IOH, AIO, CONT = 1, 2, 10
    # runner thread pc
    RUN, BLOCKED, RCU_WAIT, RCU_REACQ, QLOCK, DEAD = 0, 1, 2, 3, 4, 5
    # nesting reasons
    N_NONE, N_DRAIN, N_HMPLOOP, N_CLEANUP, N_MMIO = 0, 1, 2, 3, 4
    # dispatcher pc
    D_WAIT, D_POP, D_DISPATCH, D_BH, D_REPLY, D_CO_START, D_CO_WAIT, D_CO_END, D_AFTER, D_EXIT = range(10)
    # client state
    C_NEW, C_NEG, C_READY, C_GONE = 0, 1, 2, 3
    # call_rcu
    R_IDLE, R_GRACE, R_NEEDBQL = 0, 1, 2
    W_DSP, W_HCO = 20, 21
    # io owner
    IO_DSP, IO_HCO = 1, 2
    # HMP coroutine
    H_NONE, H_START, H_WAIT, H_END, H_DONE = 0, 1, 2, 3, 4
    # shutdown
    S_NONE, S_REQ, S_DONE = 0, 1, 2
    # shutdown-safety violation codes (first one wins)
    X_DEQ_AFTER_SHUTDOWN, X_WAKE_AFTER_EXIT, X_BH_AFTER_IOSTOP, X_DESTROY_ACTIVE = 1, 2, 3, 4


K = Consts


def _fam_kinds(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


@dataclass
class _Client:
    idx: int
    mon: int
    st: Var
    sent: Var
    kind: list[Var | None]  # index by seq; seq 0 (qmp_capabilities) has no var
    ans: list[Var]
    last: Var
    lasta: Var
    ev: list[Var]
    x_cross: Var
    x_dup: Var
    x_order: Var
    x_order_all: Var
    x_id: Var
    x_lost: Var
    x_negev: Var
    x_evorder: Var


@dataclass
class _Mon:
    idx: int
    iothread: bool
    clients: list[int]
    conn: Var
    mode: Var
    oob: Var
    susp: Var
    qlen: Var
    q: list[Var]
    inlen: Var
    inq: list[Var]
    perr: Var
    closing: Var
    accept: Var
    pos: Var
    lastid: Var
    ap: list[Var]  # 2010 async pending requests


@dataclass
class _Thread:
    tid: int
    name: str
    pc: Var
    nest: Var
    polls: Var
    rcu: Var | None


class _Builder:
    def __init__(self, design: Design, bounds: Bounds, source: str) -> None:
        self.d = design
        self.b = bounds
        self.source = source
        self.lay = StateLayout()
        self.actions: list[Action] = []
        self._emits: list[Emit] = []
        self._validate()
        self.kinds = _fam_kinds(bounds.mix)
        self.kind_id = {k: i + 1 for i, k in enumerate(self.kinds)}  # 0 = qmp_capabilities
        self.NR = bounds.requests + 1
        self.QM = bounds.queue_max
        self._declare()

    # -- validation ---------------------------------------------------------
    def _validate(self) -> None:
        b = self.b
        src = self.source
        if not 1 <= b.monitors <= 4:
            raise InputError(src, "bounds.monitors", "an integer from 1 to 4", str(b.monitors))
        if not 0 <= b.clients <= 6:
            raise InputError(src, "bounds.clients", "an integer from 0 to 6", str(b.clients))
        if not 0 <= b.requests <= 16:
            raise InputError(src, "bounds.requests", "an integer from 0 to 16", str(b.requests))
        if not 1 <= b.queue_max <= 8:
            raise InputError(src, "bounds.queue_max", "an integer from 1 to 8", str(b.queue_max))
        if not 0 <= b.vcpus <= 2:
            raise InputError(src, "bounds.vcpus", "0, 1 or 2", str(b.vcpus))
        if b.hmp not in (0, 1):
            raise InputError(src, "bounds.hmp", "0 or 1", str(b.hmp))
        for key, mix, hmp in (("bounds.mix", b.mix, False), ("bounds.hmp_mix", b.hmp_mix, True)):
            for name in mix:
                kind = KINDS.get(name)
                if kind is None or (kind.form == "hmp") != hmp:
                    valid = [k for k, v in KINDS.items() if (v.form == "hmp") == hmp]
                    raise InputError(src, key, "one of " + ", ".join(valid), repr(name),
                                     close_matches(name, valid))
        if b.client_monitors and (len(b.client_monitors) != b.clients
                                  or any(not 0 <= m < b.monitors for m in b.client_monitors)):
            raise InputError(src, "bounds.client_monitors",
                             f"{b.clients} monitor indices below {b.monitors}", str(list(b.client_monitors)))
        if b.iothread_monitors and len(b.iothread_monitors) != b.monitors:
            raise InputError(src, "bounds.iothread_monitors", f"{b.monitors} booleans",
                             str(list(b.iothread_monitors)))
        if "hmp-device-add" in b.hmp_mix and self.d.device_add != "coroutine-drain":
            raise InputError(src, "bounds.hmp_mix",
                             "hmp-device-add only with design.device_add = 'coroutine-drain'", None)

    # -- declarations -------------------------------------------------------
    def _declare(self) -> None:
        L, b, d = self.lay, self.b, self.d
        nref = b.clients * self.NR
        nk = len(self.kinds)
        V = b.vcpus if d.vcpu_nested_poll else 0
        self.V = V
        self.RCU_T = K.VCPU0 + V
        self.bql = L.int("bql", 0, self.RCU_T)
        self.threads: list[_Thread] = []
        main_polls = b.nested_polls if d.main_drain else 0
        self.main = _Thread(K.MAIN, "main", L.int("main.pc", 0, K.DEAD), L.int("main.nest", 0, K.N_MMIO),
                            L.int("main.drains", 0, main_polls), None)
        self.threads.append(self.main)
        for i in range(V):
            t = K.VCPU0 + i
            self.threads.append(_Thread(
                t, f"vcpu{i}", L.int(f"vcpu{i}.pc", 0, K.DEAD), L.int(f"vcpu{i}.nest", 0, K.N_MMIO),
                L.int(f"vcpu{i}.polls", 0, b.nested_polls),
                L.bool(f"vcpu{i}.rcu_read") if d.rcu_nested_poll else None))
        # dispatcher coroutine
        self.dpc = L.int("dsp.pc", 0, K.D_EXIT)
        self.dsched = L.int("dsp.sched", 0, K.CONT + self.RCU_T)
        self.dctx = L.int("dsp.ctx", K.IOH, K.AIO)
        self.dbusy = L.bool("dsp.busy")
        self.dreq = L.int("dsp.req", 0, nref)
        self.dkind = L.int("dsp.kind", 0, nk)
        self.dmon = L.int("dsp.mon", 0, b.monitors - 1)
        self.doob = L.bool("dsp.oob_saved")
        self.derr = L.bool("dsp.err")
        self.dqlock = L.bool("dsp.qlock")
        self.bhctx = L.int("bh.ctx", 0, K.AIO)
        self.bhon = L.int("bh.on", 0, self.RCU_T)
        self.inflight = L.int("blk.in_flight", 0, 2)
        # an I/O request in flight for the QMP dispatcher's / the HMP coroutine command
        self.io = L.bool("blk.io_dispatcher")
        self.ioh = L.bool("blk.io_hmp")
        self.rpc = L.int("rcu.pc", 0, K.R_NEEDBQL)
        # one drain_call_rcu marker per possible waiter: a thread, the dispatcher, the HMP coroutine
        self.rwaits: dict[int, Var] = {}
        self.evq = L.int("event.deferred", 0, nref) if d.event_emit == "deferred" else None
        self.xnest = L.bool("x.nested_dispatch")
        self.xnestco = L.bool("x.nested_coroutine")
        self.xflag = L.bool("x.flag_validity")
        self.sd = L.int("sd.pc", 0, K.S_DONE)
        self.iostop = L.bool("sd.iothread_stopped")
        self.xsd = L.int("x.shutdown", 0, K.X_DESTROY_ACTIVE)
        # monitors
        self.mons: list[_Mon] = []
        for m in range(b.monitors):
            clients = [c for c in range(b.clients) if b.monitor_of(c) == m]
            n_in = self.NR
            self.mons.append(_Mon(
                idx=m, iothread=b.uses_iothread(m), clients=clients,
                conn=L.int(f"mon{m}.conn", 0, b.clients), mode=L.bool(f"mon{m}.command_mode"),
                oob=L.bool(f"mon{m}.oob"), susp=L.int(f"mon{m}.suspend_cnt", -1, 3),
                # with larger reads (bug R) a suspended monitor keeps queueing: up to every request
                qlen=L.int(f"mon{m}.qlen", 0, max(self.QM + 1, len(clients) * n_in)),
                q=[L.int(f"mon{m}.q{j}", 0, nref) for j in range(self.QM)],
                inlen=L.int(f"mon{m}.inlen", 0, n_in),
                inq=[L.int(f"mon{m}.in{j}", 0, nref) for j in range(n_in)],
                perr=L.bool(f"mon{m}.parse_recovery"), closing=L.bool(f"mon{m}.closing"),
                accept=L.bool(f"mon{m}.accept_bh"), pos=L.int(f"mon{m}.pos", 0, b.monitors - 1),
                lastid=L.int(f"mon{m}.last_id", 0, nref),
                ap=[L.int(f"mon{m}.async{j}", 0, nref) for j in range(2 if d.dispatch == "direct" else 0)],
            ))
        # clients
        self.clients: list[_Client] = []
        has_ev = any(KINDS[k].command == "event" for k in self.kinds)
        for c in range(b.clients):
            self.clients.append(_Client(
                idx=c, mon=b.monitor_of(c), st=L.int(f"client{c}.st", 0, K.C_GONE),
                sent=L.int(f"client{c}.sent", 0, self.NR),
                kind=[None if b.negotiate_first else L.int(f"client{c}.kind0", 0, nk)]
                + [L.int(f"client{c}.kind{i}", 0, nk) for i in range(1, self.NR)],
                ans=[L.bool(f"client{c}.answered{i}") for i in range(self.NR)],
                last=L.int(f"client{c}.last_inband", -1, self.NR - 1),
                lasta=L.int(f"client{c}.last_any", -1, self.NR - 1),
                ev=[L.bool(f"client{c}.event{i}") for i in range(self.NR)] if has_ev else [],
                x_cross=L.bool(f"client{c}.x_foreign_reply"), x_dup=L.bool(f"client{c}.x_duplicate"),
                x_order=L.bool(f"client{c}.x_order"), x_order_all=L.bool(f"client{c}.x_order_all"),
                x_id=L.bool(f"client{c}.x_id"), x_lost=L.bool(f"client{c}.x_lost"),
                x_negev=L.bool(f"client{c}.x_event_negotiating"),
                x_evorder=L.bool(f"client{c}.x_event_after_reply"),
            ))
        # HMP
        self.hmp = b.hmp == 1
        if self.hmp:
            self.hsusp = L.int("hmp.suspend_cnt", -1, 3)
            self.hmux = L.bool("hmp.mux_out")
            self.hopened = L.bool("hmp.opened")
            self.hsw = L.int("hmp.switches_left", 0, b.mux_switches if d.mux != "none" else 0)
            self.hsent = L.int("hmp.sent", 0, b.hmp_requests)
            self.hbusy = L.bool("hmp.busy")
            self.hasync = L.bool("hmp.async_pending")
            self.hcopc = L.int("hmp_co.pc", 0, K.H_DONE)
            self.hcosched = L.bool("hmp_co.scheduled")
            self.hcokind = L.int("hmp_co.kind", 0, 2)  # 1 block_resize, 2 device_add
        for t in self.threads:
            self.rwaits[t.tid] = L.bool(f"rcu.waits_{t.name}")
        self.rwaits[K.W_DSP] = L.bool("rcu.waits_dispatcher")
        if self.hmp:
            self.rwaits[K.W_HCO] = L.bool("rcu.waits_hmp_coroutine")
        self._init_overrides: dict[int, int] = {
            self.dpc.index: K.D_WAIT, self.dctx.index: K.IOH, self.dbusy.index: 1,
            self.dsched.index: K.IOH,
        }
        # monitor_init_globals schedules the dispatcher in iohandler_ctx with busy = true (§1.4)
        self._init_overrides[self.dpc.index] = K.D_POP
        self._init_overrides[self.main.polls.index] = main_polls
        for t in self.threads[1:]:
            self._init_overrides[t.polls.index] = b.nested_polls
        for mon in self.mons:
            # new monitors are inserted at the head of mon_list (§2.2)
            self._init_overrides[mon.pos.index] = b.monitors - 1 - mon.idx
        for cl in self.clients:
            self._init_overrides[cl.last.index] = -1
            self._init_overrides[cl.lasta.index] = -1
        if self.hmp:
            self._init_overrides[self.hsw.index] = b.mux_switches if d.mux != "none" else 0

    # -- request references ---------------------------------------------------
    def ref(self, c: int, i: int) -> int:
        return c * self.NR + i + 1

    def refs_of_mon(self, m: int) -> list[tuple[int, int, int]]:
        return [(self.ref(c, i), c, i) for c in self.mons[m].clients for i in range(self.NR)]

    def kind_var(self, c: int, i: int) -> Var | None:
        return self.clients[c].kind[i]

    def kinds_for(self, c: int, i: int) -> list[str]:
        return ["qmp_capabilities"] if i == 0 and self.b.negotiate_first else self.kinds

    def is_kind(self, c: int, i: int, k: str) -> Expr:
        if i == 0 and self.b.negotiate_first:
            return TRUE if k == "qmp_capabilities" else FALSE
        v = self.kind_var(c, i)
        assert v is not None
        return v == self.kind_id[k]

    # -- building blocks --------------------------------------------------------
    def act(self, family: str, actor: str, guard: Expr, updates: dict[Var, Expr | int | bool] | list[tuple[Var, Expr | int | bool]],
            fair: str = "", **params: int) -> None:
        items = updates.items() if isinstance(updates, dict) else updates
        merged: dict[Var, Expr] = {}
        for v, e in items:
            merged[v] = as_expr(e)
        upd = tuple((v, e) for v, e in merged.items() if not (e.op == "var" and e.args[0] == v.index))
        emits, self._emits = tuple(self._emits), []
        if guard.op == "const" and not guard.args[0]:
            return
        self.actions.append(Action(family, actor, tuple(params.items()), guard, upd, fair, emits=emits))

    def thread(self, tid: int) -> _Thread:
        return next(t for t in self.threads if t.tid == tid)

    def pollers(self, ctx: int) -> list[tuple[_Thread, Expr, bool]]:
        """Threads that can run a ready item of ``ctx`` now: (thread, guard, top-level).

        The main loop proper polls iohandler_ctx, qemu_aio_context and glib sources
        (top level: takes the BQL for the item). A nested aio_poll(qemu_aio_context)
        polls only qemu_aio_context, holding the BQL; monitor_cleanup's
        AIO_WAIT_WHILE also polls iohandler_ctx (§1.2, §3.8).
        """
        out: list[tuple[_Thread, Expr, bool]] = []
        mt = self.main
        free_main = (mt.pc == K.RUN) & (self.dsched != K.CONT + K.MAIN)
        out.append((mt, free_main & (mt.nest == K.N_NONE) & (self.bql == 0), True))
        nested_ok = [K.N_DRAIN, K.N_HMPLOOP, K.N_CLEANUP] if ctx == K.AIO else [K.N_CLEANUP]
        out.append((mt, free_main & any_of(mt.nest == n for n in nested_ok) & (self.bql == K.MAIN), False))
        if ctx == K.AIO:
            for t in self.threads[1:]:
                out.append((t, (t.pc == K.RUN) & (t.nest == K.N_MMIO) & (self.bql == t.tid)
                            & (self.dsched != K.CONT + t.tid), False))
        return out

    def dsp_runners(self) -> list[tuple[str, _Thread, Expr, bool]]:
        """Ways the dispatcher coroutine can be running now: (how, thread, guard, top)."""
        out: list[tuple[str, _Thread, Expr, bool]] = []
        for ctx, cname in ((K.IOH, "iohandler"), (K.AIO, "aio")):
            for t, g, top in self.pollers(ctx):
                out.append((cname, t, (self.dsched == ctx) & g, top))
        for t in self.threads:
            # continuing: the thread holds the BQL for the whole coroutine run
            out.append(("cont", t, (self.dsched == K.CONT + t.tid) & (t.pc == K.RUN), False))  # it already holds the BQL
        return out

    def end_segment(self, t: _Thread, top: bool, yields: bool, upd: dict[Var, Expr | int | bool]) -> None:
        """BQL and schedule bookkeeping at the end of a dispatcher segment on ``t``."""
        if yields:
            if t is self.main:
                # a top-level main loop item releases the BQL when it returns
                upd[self.bql] = ite(self.main.nest == K.N_NONE, lit(0), lit(K.MAIN))
            else:
                upd[self.bql] = lit(t.tid)
        else:
            upd[self.dsched] = lit(K.CONT + t.tid)
            upd[self.bql] = lit(t.tid)

    def nested_flag(self, t: _Thread, var: Var, upd: dict[Var, Expr | int | bool]) -> None:
        """Record that monitor work started on a thread inside a nested event loop."""
        if t is self.main:
            upd[var] = var | ((t.nest != K.N_NONE) & (t.nest != K.N_CLEANUP))
        else:
            upd[var] = lit(True)

    def resume(self, m: _Mon, upd: dict[Var, Expr | int | bool], cond: Expr = TRUE) -> None:
        """monitor_resume: decrement; on reaching 0 schedule accept_input (§2.4)."""
        new = ite(cond, m.susp - 1, m.susp)
        upd[m.susp] = new
        upd[m.accept] = m.accept | (cond & (m.susp == 1))
        if m.iothread:
            upd[self.xsd] = self.first_x(self.xsd, cond & (m.susp == 1) & self.iostop, K.X_BH_AFTER_IOSTOP)

    def enqueue_marker(self, waiter: int, upd: dict[Var, Expr | int | bool]) -> None:
        """drain_call_rcu(_co): queue a marker callback and wait for it (util/rcu.c).

        A marker queued while a grace period is already complete waits for the
        callbacks batch being run (an over-approximation: QEMU would start another
        grace period).
        """
        upd[self.rwaits[waiter]] = lit(True)
        upd[self.rpc] = ite(self.rpc == K.R_IDLE, lit(K.R_GRACE), self.rpc)

    def first_x(self, var: Var, cond: Expr, code: int) -> Expr:
        return ite((var == 0) & cond, lit(code), var)

    def wake(self, upd: dict[Var, Expr | int | bool]) -> None:
        """qmp_dispatcher_co_wake (§3.3 c): schedule the dispatcher if it was idle."""
        d = self.d
        idle = ~self.dbusy
        alive = self.dpc != K.D_EXIT
        upd[self.dbusy] = lit(True)
        upd[self.dsched] = ite(idle & alive, self.dctx, self.dsched)
        upd[self.dpc] = ite(idle & alive, lit(K.D_POP), self.dpc)
        if not d.wake_null_check:
            upd[self.xsd] = self.first_x(self.xsd, idle & ~alive, K.X_WAKE_AFTER_EXIT)

    # -- replies and events -------------------------------------------------------
    def reply(self, c: int, i: int, inband: Expr | bool, upd: dict[Var, Expr | int | bool],
              ok_caps: Expr | bool = False, id_from: Expr | None = None, kind_event: Expr = FALSE,
              cls: str = "return", has_id: bool = True, may_fail: bool = False) -> None:
        """The reply to request (c, i) is written to its monitor's chardev now (§3.7).

        It reaches whichever client is connected then: the issuing session, or
        the next one (bug P) unless the design discards stale replies.
        """
        m = self.mons[self.clients[c].mon]
        inb = as_expr(inband)
        to = m.conn if self.d.stale_reply == "deliver" else ite(m.conn == c + 1, m.conn, lit(0))
        self._emits.append(Emit("reply", to, self.ref(c, i), cls, has_id, m.idx, may_fail))
        for c2 in m.clients:
            cl = self.clients[c2]
            rcv = m.conn == c2 + 1
            if c2 != c:
                if self.d.stale_reply == "deliver":
                    upd[cl.x_cross] = cl.x_cross | rcv
                continue
            upd[cl.x_dup] = cl.x_dup | (rcv & cl.ans[i])
            upd[cl.ans[i]] = cl.ans[i] | rcv
            upd[cl.x_order] = cl.x_order | (rcv & inb & (cl.last >= i))
            upd[cl.last] = ite(rcv & inb & (cl.last < i), lit(i), cl.last)
            upd[cl.x_order_all] = cl.x_order_all | (rcv & (cl.lasta >= i))
            upd[cl.lasta] = ite(rcv & (cl.lasta < i), lit(i), cl.lasta)
            if id_from is not None:
                upd[cl.x_id] = cl.x_id | (rcv & (id_from != self.ref(c, i)))
            if cl.ev:
                upd[cl.x_evorder] = cl.x_evorder | (rcv & kind_event & ~cl.ev[i])
            if ok_caps is not False:
                upd[cl.st] = ite(rcv & as_expr(ok_caps) & (cl.st == K.C_NEG), lit(K.C_READY), cl.st)

    def resolve_silently(self, c: int, i: int, upd: dict[Var, Expr | int | bool], lost: Expr | bool) -> None:
        """Request (c, i) will never get a reply: by design (noreply) or lost."""
        cl = self.clients[c]
        m = self.mons[cl.mon]
        rcv = m.conn == c + 1
        upd[cl.ans[i]] = cl.ans[i] | rcv
        upd[cl.x_lost] = cl.x_lost | (rcv & as_expr(lost))

    def event(self, c: int, i: int, upd: dict[Var, Expr | int | bool]) -> None:
        """qapi_event_emit: broadcast to monitors in command mode (§4)."""
        for m in self.mons:
            self._emits.append(Emit("event", ite(m.mode | self.d.events_in_negotiation, m.conn, lit(0)),
                                    self.ref(c, i), "event", False, m.idx))
            for c2 in m.clients:
                cl = self.clients[c2]
                deliver = (m.conn == c2 + 1) & (m.mode | self.d.events_in_negotiation)
                upd[cl.x_negev] = cl.x_negev | (deliver & (cl.st != K.C_READY))
                if c2 == c and cl.ev:
                    upd[cl.ev[i]] = cl.ev[i] | deliver

    # -- the model ----------------------------------------------------------------
    def build(self) -> Model:
        self.clients_actions()
        self.reader_actions()
        if self.d.dispatch == "queue":
            self.dispatcher_actions()
            self.bh_actions()
        self.env_actions()
        if self.hmp:
            self.hmp_actions()
        if self.d.shutdown:
            self.shutdown_actions()
        init = [0] * len(self.lay.vars)
        for idx, val in self._init_overrides.items():
            init[idx] = val
        return Model(self.lay, tuple(init), tuple(self.actions), self.pending(), tuple(self.wait_edges()),
                     summary={"monitors": self.b.monitors, "clients": self.b.clients,
                              "requests": self.b.requests, "mix": list(self.kinds)})

    # clients ---------------------------------------------------------------------
    def clients_actions(self) -> None:
        d = self.d
        for cl in self.clients:
            m = self.mons[cl.mon]
            c = cl.idx
            actor = f"client{c}"
            earlier = [self.clients[x] for x in m.clients if x < c]
            g = all_of([cl.st == K.C_NEW, m.conn == 0, ~m.closing, self.sd != K.S_DONE,
                        *[e.st == K.C_GONE for e in earlier]])
            # CHR_EVENT_OPENED: negotiation mode, capabilities reset, greeting (§3.1)
            self.act("connect", actor, g, {cl.st: K.C_NEG, m.conn: c + 1, m.mode: False, m.oob: False}, client=c)
            first = 0
            if self.b.negotiate_first:
                # seq 0: qmp_capabilities, with oob if offered and wanted (§3.1)
                self.act("send", actor, (cl.st == K.C_NEG) & (cl.sent == 0),
                         self.push_input(m, c, 0, {cl.sent: 1}), client=c, seq=0, kind=0)
                first = 1
            for i in range(first, self.NR):
                ready = cl.st == K.C_READY if d.client_wait_negotiation and first else \
                    (cl.st == K.C_READY) | (cl.st == K.C_NEG)
                for k in self.kinds:
                    kind = KINDS[k]
                    g = ready & (cl.sent == i)
                    if d.client_discipline and kind.form != "exec-oob":
                        g = g & (self.inflight_inband(cl, i) < self.QM)
                    upd = self.push_input(m, c, i, {cl.sent: i + 1})
                    kv = cl.kind[i]
                    assert kv is not None
                    upd[kv] = self.kind_id[k]
                    self.act("send", actor, g, upd, client=c, seq=i, kind=self.kind_id[k])
            # the client closes its connection; CHR_EVENT_CLOSED is handled by the reader
            self.act("disconnect", actor, (cl.st == K.C_NEG) | (cl.st == K.C_READY),
                     {cl.st: K.C_GONE, m.conn: 0, m.closing: True}, client=c)

    def inflight_inband(self, cl: _Client, upto: int) -> Expr:
        total: Expr = lit(0)
        for i in range(upto):
            inband = TRUE if i == 0 and self.b.negotiate_first else any_of(
                self.is_kind(cl.idx, i, k) for k in self.kinds if KINDS[k].form != "exec-oob")
            total = total + ite(inband & ~cl.ans[i], lit(1), lit(0))
        return total

    def push_input(self, m: _Mon, c: int, i: int, upd: dict[Var, Expr | int | bool]) -> dict[Var, Expr | int | bool]:
        r = self.ref(c, i)
        for j, slot in enumerate(m.inq):
            upd[slot] = ite(m.inlen == j, lit(r), slot)
        upd[m.inlen] = m.inlen + 1
        return upd

    # reader (monitor_qmp_read -> json streamer -> handle_qmp_command) --------------
    def reader_guard(self, m: _Mon) -> tuple[str, Expr]:
        if m.iothread and self.d.dispatch == "queue":
            return "iothread", ~self.iostop
        mt = self.main
        return "main", all_of([mt.pc == K.RUN, mt.nest == K.N_NONE, self.bql == 0,
                               self.dsched != K.CONT + K.MAIN, self.sd != K.S_DONE])

    def reader_actions(self) -> None:
        d = self.d
        for m in self.mons:
            actor, tg = self.reader_guard(m)
            fair = "reader"
            can_read = (m.susp == 0) if d.read_size == "byte" else TRUE
            base = tg & (m.inlen > 0) & ~m.closing
            # CHR_EVENT_CLOSED: drop queued requests, resume iff the queue rule had
            # suspended (§3.8, fix of bug E), reset the parser.
            self.closed_action(m, actor, tg)
            for r, c, i in self.refs_of_mon(m.idx):
                head = m.inq[0] == r
                for k in self.kinds_for(c, i):
                    kg = base & can_read & head & self.is_kind(c, i, k)
                    # parser error recovery swallows this message (bug T, §3.2)
                    upd = self.pop_input(m, {m.perr: False})
                    self.resolve_silently(c, i, upd, lost=True)
                    self.act("swallow", actor, kg & m.perr, upd, fair, mon=m.idx, req=r, kind=self.kid(k))
                    if d.dispatch == "direct":
                        self.direct_read(m, actor, kg & ~m.perr, r, c, i, k)
                    else:
                        self.queue_read(m, actor, kg & ~m.perr, r, c, i, k)

    def kid(self, k: str) -> int:
        return 0 if k == "qmp_capabilities" else self.kind_id[k]

    def pop_input(self, m: _Mon, upd: dict[Var, Expr | int | bool]) -> dict[Var, Expr | int | bool]:
        for j in range(len(m.inq)):
            upd[m.inq[j]] = m.inq[j + 1] if j + 1 < len(m.inq) else lit(0)
        upd[m.inlen] = m.inlen - 1
        return upd

    def closed_action(self, m: _Mon, actor: str, tg: Expr) -> None:
        d = self.d
        upd: dict[Var, Expr | int | bool] = {m.closing: False, m.perr: False, m.inlen: 0, m.qlen: 0}
        for s in m.inq + m.q:
            upd[s] = 0
        suspended_by_queue = (~m.oob | (m.qlen == self.QM)) & (m.qlen > 0)
        if d.queue_full == "drop":
            suspended_by_queue = ~m.oob & (m.qlen > 0)
        if d.closed_resume:
            self.resume(m, upd, suspended_by_queue)
        if d.queue_lock_across_yield and actor == "main":
            # monitor_qmp_cleanup_queue_and_resume takes qmp_queue_lock: blocks while
            # the dispatcher holds it across a yield (bug F)
            locked = self.dqlock & (self.dmon == m.idx)
            self.act("closed", actor, tg & m.closing & ~locked, upd, "reader", mon=m.idx)
            self.act("closed_blocks_on_queue_lock", actor, tg & m.closing & locked,
                     {self.main.pc: K.QLOCK, self.bql: K.MAIN}, "main", mon=m.idx)
            upd2 = dict(upd)
            upd2[self.main.pc] = lit(K.RUN)
            upd2[self.bql] = lit(0)
            self.act("closed_after_queue_lock", actor, (self.main.pc == K.QLOCK) & m.closing & ~locked,
                     upd2, "main", mon=m.idx)
        else:
            self.act("closed", actor, tg & m.closing, upd, "reader", mon=m.idx)

    def queue_read(self, m: _Mon, actor: str, g: Expr, r: int, c: int, i: int, k: str) -> None:
        """handle_qmp_command (§3.3)."""
        d = self.d
        kind = KINDS.get(k)
        form = kind.form if kind else "execute"
        upd = self.pop_input(m, {m.lastid: r})
        if form == "exec-oob" and d.oob and d.oob_path == "immediate":
            # OOB path: dispatched at once in the reader thread, regardless of negotiation
            # (§3.3 step 1); qmp_dispatch rejects it unless OOB is negotiated (check 3) and
            # the command allows it (check 9).
            allows = kind is not None and kind.command == "oob"
            if d.oob_checks:
                if allows or (kind is not None and kind.command == "unknown"):
                    ok = dict(upd)
                    # check 6 (command exists) precedes check 9 (allows OOB): an unknown
                    # command is CommandNotFound on this path too (QEMU 7.2 transcript "errors")
                    if allows:
                        self.reply(c, i, False, ok, may_fail=True)
                    else:
                        self.reply(c, i, False, ok, cls="CommandNotFound")
                    self.act("read_oob", actor, g & m.oob, ok, "reader", mon=m.idx, req=r, kind=self.kid(k))
                    g = g & ~m.oob
                self.reply(c, i, False, upd, cls="GenericError")
                self.act("read_oob_rejected", actor, g, upd, "reader", mon=m.idx, req=r, kind=self.kid(k))
            else:
                upd[self.xflag] = self.xflag | ~(m.oob & lit(allows))
                self.reply(c, i, False, upd)
                self.act("read_oob", actor, g, upd, "reader", mon=m.idx, req=r, kind=self.kid(k))
            return
        qm = self.QM
        if d.queue_full == "drop":
            full = m.oob & (m.qlen == qm)
            drop = dict(upd)
            self.resolve_silently(c, i, drop, lost=True)  # COMMAND_DROPPED event instead of a reply
            self.act("read_drop", actor, g & full, drop, "reader", mon=m.idx, req=r, kind=self.kid(k))
            g = g & ~full
            susp = ~m.oob
        elif d.suspend_threshold == "off-by-one":
            susp = ~m.oob | (m.qlen == qm)
        else:
            susp = ~m.oob | (m.qlen == qm - 1)
        upd[m.susp] = ite(susp, m.susp + 1, m.susp)
        for j, slot in enumerate(m.q):
            upd[slot] = ite(m.qlen == j, lit(r), slot)
        upd[m.qlen] = m.qlen + 1
        if form == "garbage":
            upd[m.perr] = lit(True)
        self.wake(upd)
        self.act("read", actor, g, upd, "reader", mon=m.idx, req=r, kind=self.kid(k))

    def direct_read(self, m: _Mon, actor: str, g: Expr, r: int, c: int, i: int, k: str) -> None:
        """2010: the read handler runs the command synchronously (§5); QMP not suspended."""
        kind = KINDS.get(k)
        cmd = kind.command if kind else "caps"
        upd = self.pop_input(m, {m.lastid: r})
        if cmd == "caps":
            upd[m.mode] = lit(True)
            self.reply(c, i, True, upd, ok_caps=True)
        elif kind is not None and (kind.form in ("parse-error", "garbage", "nonobject") or cmd == "invalid"):
            if kind.form == "garbage":
                upd[m.perr] = lit(True)
            self.reply(c, i, True, upd, cls="GenericError", has_id=cmd == "invalid")
        elif cmd == "async":
            # cmd_async: the handler starts the work; the completion replies later
            for j, slot in enumerate(m.ap):
                prev_free = all_of(m.ap[x] != 0 for x in range(j))
                upd[slot] = ite(prev_free & (slot == 0), lit(r), slot)
            g = g & any_of(s == 0 for s in m.ap)
        elif cmd == "noreply":
            self.resolve_silently(c, i, upd, lost=False)
        else:
            if cmd == "event":
                self.event(c, i, upd)
            self.reply(c, i, True, upd, kind_event=lit(cmd == "event"), may_fail=cmd != "unknown",
                       cls="CommandNotFound" if cmd == "unknown" else "return")
        self.act("read_direct", actor, g, upd, "reader", mon=m.idx, req=r, kind=self.kid(k))

    # dispatcher ------------------------------------------------------------------
    def dispatcher_actions(self) -> None:
        d = self.d
        qm = self.QM
        active = [m.qlen > 0 for m in self.mons]
        for how, t, g, top in self.dsp_runners():
            params = {"thread": t.tid, "via": {"iohandler": K.IOH, "aio": K.AIO, "cont": K.CONT}[how],
                      "top": int(top)}
            gp = g & (self.dpc == K.D_POP)
            shut = self.sd != K.S_NONE
            # monitor_qmp_dispatcher_pop_any (§3.4 step 1)
            if d.shutdown_check == "before-pop":
                exit_g = gp & shut
                pop_g = gp & ~shut
            else:
                exit_g = gp & shut & ~any_of(active)
                pop_g = gp
            upd: dict[Var, Expr | int | bool] = {self.dpc: K.D_EXIT, self.dsched: 0, self.dbusy: False}
            self.end_segment(t, top, True, upd)
            self.act("dispatcher_exit", t.name, exit_g, upd, "dispatcher", **params)
            upd = {self.dpc: K.D_WAIT, self.dsched: 0, self.dbusy: False}
            self.end_segment(t, top, True, upd)
            self.act("dispatcher_idle", t.name, pop_g & ~any_of(active) & ~shut if d.shutdown_check != "before-pop" else pop_g & ~any_of(active),
                     upd, "dispatcher", **params)
            for m in self.mons:
                first = all_of([m.qlen > 0] + [(o.qlen == 0) | (o.pos > m.pos) for o in self.mons if o is not m])
                upd = {self.dreq: m.q[0] if d.pop_from == "head" else self.queue_tail(m), self.dmon: m.idx,
                       self.doob: m.oob, self.dbusy: True, self.derr: False}
                upd[self.dkind] = self.kind_of_ref(m, upd[self.dreq])  # type: ignore[arg-type]
                if d.pop_from == "head":
                    for j in range(qm):
                        upd[m.q[j]] = m.q[j + 1] if j + 1 < qm else lit(0)
                else:
                    for j in range(qm):
                        upd[m.q[j]] = ite(m.qlen == j + 1, lit(0), m.q[j])
                upd[m.qlen] = m.qlen - 1
                # round robin: the served monitor moves to the tail of mon_list
                for o in self.mons:
                    upd[o.pos] = lit(len(self.mons) - 1) if o is m else ite(o.pos > m.pos, o.pos - 1, o.pos)
                # early resume (§3.4 step 2)
                if d.queue_full == "suspend":
                    self.resume(m, upd, m.oob & (m.qlen == qm))
                if shut is not None and d.shutdown:
                    upd[self.xsd] = self.first_x(self.xsd, shut, K.X_DEQ_AFTER_SHUTDOWN)
                self.nested_flag(t, self.xnest, upd)
                upd[self.dpc] = lit(K.D_DISPATCH)
                if d.hop_all:
                    # 9ce44e2ce2: hop to qemu_aio_context before every request
                    upd[self.dsched] = lit(K.AIO)
                    upd[self.dctx] = lit(K.AIO)
                    upd[self.dqlock] = lit(d.queue_lock_across_yield)
                    self.end_segment(t, top, True, upd)
                else:
                    self.end_segment(t, top, False, upd)
                self.act("dispatcher_pop", t.name, pop_g & first, upd, "dispatcher", mon=m.idx, **params)
            self.dispatch_actions(t, g, top, params)

    def queue_tail(self, m: _Mon) -> Expr:
        out: Expr = m.q[0]
        for j in range(1, self.QM):
            out = ite(m.qlen == j + 1, m.q[j], out)
        return out

    def kind_of_ref(self, m: _Mon, ref: Expr) -> Expr:
        out: Expr = lit(0)
        for r, c, i in self.refs_of_mon(m.idx):
            kv = lit(0) if i == 0 and self.b.negotiate_first else self.kind_var(c, i)
            out = ite(ref == r, kv, out)  # type: ignore[arg-type]
        return out

    def dispatch_actions(self, t: _Thread, g: Expr, top: bool, params: dict[str, int]) -> None:
        """qmp_dispatch and the segments after it, per request and kind (§3.5)."""
        d = self.d
        for m in self.mons:
            for r, c, i in self.refs_of_mon(m.idx):
                mine = g & (self.dreq == r)
                for k in self.kinds_for(c, i):
                    kind = KINDS.get(k)
                    kg = mine & (self.dkind == self.kid(k))
                    form = kind.form if kind else "execute"
                    cmd = kind.command if kind else "caps"
                    gd = kg & (self.dpc == K.D_DISPATCH)
                    base: dict[Var, Expr | int | bool] = {self.dqlock: False}
                    p = dict(params, req=r, kind=self.kid(k))
                    if form in ("parse-error", "garbage", "nonobject") or cmd == "invalid" or (
                            form == "exec-oob" and not (d.oob_path == "queued" and cmd == "oob")):
                        # errors answered by the dispatcher itself, no handler (§3.4 step 5);
                        # parse errors and non-objects carry no id (§3.6)
                        upd = dict(base)
                        self.reply(c, i, True, upd, cls="GenericError",
                                   has_id=form == "exec-oob" or cmd == "invalid")
                        self.finish(m, t, top, upd)
                        self.act("dispatch_error", t.name, gd, upd, "dispatcher", **p)
                        continue
                    if cmd == "caps" and k == "caps-bad":
                        # an unknown capability fails argument checking (check 11) in either
                        # mode; nothing changes (QEMU 7.2 transcript "negotiate")
                        upd = dict(base)
                        self.reply(c, i, True, upd, cls="GenericError")
                        self.finish(m, t, top, upd)
                        self.act("dispatch_capabilities_bad", t.name, gd, upd, "dispatcher", **p)
                        continue
                    if cmd == "caps":
                        # qmp_capabilities (§3.1 step 3): in command mode already, it is
                        # CommandNotFound and changes nothing
                        wants = {"qmp_capabilities": d.client_oob, "caps": True, "caps-nooob": False}[k]
                        upd = dict(base)
                        upd[m.mode] = lit(True)
                        upd[m.oob] = lit(bool(d.oob and wants and m.iothread))
                        self.reply(c, i, True, upd, ok_caps=True)
                        self.finish(m, t, top, upd)
                        self.act("dispatch_capabilities", t.name, gd & ~m.mode, upd, "dispatcher", **p)
                        upd = dict(base)
                        self.reply(c, i, True, upd, cls="CommandNotFound")
                        self.finish(m, t, top, upd)
                        self.act("dispatch_capabilities_again", t.name, gd & m.mode, upd, "dispatcher", **p)
                        continue
                    # negotiation mode: only qmp_capabilities exists (§3.1 step 2); an
                    # unknown command is CommandNotFound in either mode (check 6)
                    upd = dict(base)
                    self.reply(c, i, True, upd, cls="CommandNotFound")
                    self.finish(m, t, top, upd)
                    self.act("dispatch_not_found", t.name, gd & (~m.mode | lit(cmd == "unknown")), upd,
                             "dispatcher", **p)
                    gd = gd & m.mode
                    if cmd == "unknown":
                        continue
                    coroutine = cmd in ("coroutine", "hang") or (cmd == "device_add" and d.device_add == "coroutine-drain")
                    if coroutine:
                        target = K.AIO if d.coroutine_ctx == "aio" else K.IOH
                        upd = dict(base)
                        upd[self.dpc] = lit(K.D_CO_START)
                        hop = ite(self.dctx != target, lit(True), lit(False))
                        upd[self.dctx] = lit(target)
                        upd[self.dsched] = ite(hop, lit(target), lit(K.CONT + t.tid))
                        upd[self.bql] = ite(hop, lit(0) if top else lit(t.tid), lit(t.tid))
                        if t is self.main:
                            upd[self.bql] = ite(hop, ite(self.main.nest == K.N_NONE, lit(0), lit(K.MAIN)), lit(K.MAIN))
                        self.act("dispatch_coroutine", t.name, gd, upd, "dispatcher", **p)
                    else:
                        # non-coroutine handler: one-shot BH, dispatcher yields (§3.5)
                        upd = dict(base)
                        upd[self.dpc] = lit(K.D_BH)
                        upd[self.dsched] = lit(0)
                        upd[self.bhctx] = lit(K.IOH if d.inband_ctx == "iohandler" else K.AIO)
                        self.end_segment(t, top, True, upd)
                        self.act("dispatch_bh", t.name, gd, upd, "dispatcher", **p)
                    self.coroutine_segments(m, t, kg, top, params, r, c, i, k, cmd)

    def coroutine_segments(self, m: _Mon, t: _Thread, kg: Expr, top: bool, params: dict[str, int],
                           r: int, c: int, i: int, k: str, cmd: str) -> None:
        p = dict(params, req=r, kind=self.kid(k))
        # resumed after the BH: emit the reply, late resume (§3.4 steps 5-6)
        upd: dict[Var, Expr | int | bool] = {}
        if cmd == "noreply":
            self.resolve_silently(c, i, upd, lost=False)
        else:
            self.reply(c, i, True, upd, kind_event=lit(cmd == "event"), may_fail=True,
                       has_id=KINDS[k].has_id)
        self.finish(m, t, top, upd)
        self.act("dispatcher_reply", t.name, kg & (self.dpc == K.D_REPLY), upd, "dispatcher", **p)
        if cmd not in ("coroutine", "hang", "device_add"):
            return
        # coroutine handler starts in the context the dispatcher is in now
        upd = {}
        self.nested_flag(t, self.xnestco, upd)
        if cmd == "coroutine":
            upd.update({self.inflight: self.inflight + 1, self.io: True})
        elif cmd == "device_add":
            self.enqueue_marker(K.W_DSP, upd)
        upd[self.dpc] = lit(K.D_CO_WAIT)
        upd[self.dsched] = lit(0)
        self.end_segment(t, top, True, upd)
        self.act("coroutine_start", t.name, kg & (self.dpc == K.D_CO_START), upd, "dispatcher", **p)
        # resumed after the I/O or RCU wait: finish, hop back to iohandler_ctx (§3.5)
        upd = {}
        self.nested_flag(t, self.xnestco, upd)
        if cmd == "coroutine":
            upd[self.inflight] = self.inflight - 1
        upd[self.dpc] = lit(K.D_AFTER)
        self.hop_back(t, self.dctx != K.IOH, upd)
        self.act("coroutine_end", t.name, kg & (self.dpc == K.D_CO_END), upd, "dispatcher", **p)
        # back in iohandler_ctx: monitor_qmp_dispatch writes the reply
        upd = {}
        self.reply(c, i, True, upd, may_fail=True, has_id=KINDS[k].has_id)
        self.finish(m, t, top, upd)
        self.act("dispatcher_reply", t.name, kg & (self.dpc == K.D_AFTER), upd, "dispatcher", after=1, **p)

    def finish(self, m: _Mon, t: _Thread, top: bool, upd: dict[Var, Expr | int | bool]) -> None:
        """Late resume, then loop to the next pop; hop back first under hop_all (§3.4)."""
        self.resume(m, upd, ~self.doob)
        upd[self.dpc] = lit(K.D_POP)
        if self.d.hop_all:
            self.hop_back(t, self.dctx == K.AIO, upd)
        else:
            self.end_segment(t, top, False, upd)

    def hop_back(self, t: _Thread, back: Expr, upd: dict[Var, Expr | int | bool]) -> None:
        """aio_co_schedule(iohandler_ctx, self) + yield when ``back``, else continue on ``t``.

        A top-level main-loop item releases the BQL when the coroutine yields; a
        nested poller (and a vCPU) keeps holding it.
        """
        upd[self.dctx] = lit(K.IOH)
        upd[self.dsched] = ite(back, lit(K.IOH), lit(K.CONT + t.tid))
        if t is self.main:
            upd[self.bql] = ite(back, ite(self.main.nest == K.N_NONE, lit(0), lit(K.MAIN)), lit(K.MAIN))
        else:
            upd[self.bql] = lit(t.tid)

    # the one-shot BH that runs a non-coroutine handler ----------------------------
    def bh_actions(self) -> None:
        d = self.d
        for ctx in (K.IOH, K.AIO):
            for t, g, top in self.pollers(ctx):
                for m in self.mons:
                    for r, c, i in self.refs_of_mon(m.idx):
                        for k in self.kinds_for(c, i):
                            kind = KINDS.get(k)
                            if kind is None or not (kind.form == "execute" or (
                                    kind.form == "exec-oob" and d.oob_path == "queued" and kind.command == "oob")):
                                continue
                            cmd = kind.command
                            if cmd in ("coroutine", "hang") or (cmd == "device_add" and d.device_add == "coroutine-drain"):
                                continue
                            gg = g & (self.bhctx == ctx) & (self.dreq == r) & (self.dkind == self.kid(k)) & (self.dpc == K.D_BH)
                            p = {"thread": t.tid, "ctx": ctx, "top": int(top), "req": r, "kind": self.kid(k)}
                            upd: dict[Var, Expr | int | bool] = {self.bhctx: 0}
                            self.nested_flag(t, self.xnest, upd)
                            if cmd == "blocking":
                                # the handler blocks its thread, BQL held (FIFO open, qmp-test.c)
                                upd.update({t.pc: K.BLOCKED, self.bhon: t.tid, self.bql: t.tid})
                            elif cmd == "device_add":
                                # drain_call_rcu drops the BQL while it waits (§7 A)
                                upd.update({t.pc: K.RCU_WAIT, self.bhon: t.tid, self.bql: 0})
                                self.enqueue_marker(t.tid, upd)
                            else:
                                if cmd == "event":
                                    if d.event_emit == "sync":
                                        self.event(c, i, upd)
                                    else:
                                        assert self.evq is not None
                                        upd[self.evq] = lit(r)
                                upd.update({self.dpc: K.D_REPLY, self.dsched: self.dctx})
                            self.act("handler_bh", t.name, gg, upd, "main" if t is self.main else "", **p)
        # the blocked handler finishes (external completion: the FIFO is written)
        for t in self.threads:
            upd = {t.pc: K.RUN, self.bhon: 0, self.dpc: K.D_REPLY, self.dsched: self.dctx,
                   self.bql: ite(t.nest == K.N_NONE, lit(0), lit(t.tid))}
            self.act("blocking_complete", "env", (t.pc == K.BLOCKED) & (self.bhon == t.tid), upd,
                     "env" if self.b.fair_completion else "", thread=t.tid)
            # drain_call_rcu returns once the BQL is taken again
            upd = {t.pc: K.RUN, self.bhon: 0, self.dpc: K.D_REPLY, self.dsched: self.dctx,
                   self.bql: ite(t.nest == K.N_NONE, lit(0), lit(t.tid))}
            self.act("drain_call_rcu_return", t.name, (t.pc == K.RCU_REACQ) & (self.bhon == t.tid) & (self.bql == 0),
                     upd, "main" if t is self.main else "vcpu", thread=t.tid)
        if self.evq is not None:
            for m in self.mons:
                for r, c, i in self.refs_of_mon(m.idx):
                    upd = {self.evq: 0}
                    self.event(c, i, upd)
                    self.act("deferred_event", "main", self.evq == r, upd, "main", req=r)

    # environment: block I/O, call_rcu, vCPUs, main-loop drain ---------------------
    def env_actions(self) -> None:
        d, b = self.d, self.b
        fair_env = "env" if b.fair_completion else ""
        # an I/O request completes: aio_co_wake the coroutine in its home context
        self.act("io_complete", "block", self.io & (self.dpc == K.D_CO_WAIT),
                 {self.io: False, self.dpc: K.D_CO_END, self.dsched: self.dctx}, fair_env, owner=K.IO_DSP)
        if self.hmp:
            self.act("io_complete", "block", self.ioh & (self.hcopc == K.H_WAIT),
                     {self.ioh: False, self.hcopc: K.H_END, self.hcosched: True}, fair_env, owner=K.IO_HCO)
        # call_rcu thread: grace period waits for every reader (util/rcu.c)
        readers = [t.rcu for t in self.threads if t.rcu is not None]
        self.act("rcu_grace_period", "call_rcu", (self.rpc == K.R_GRACE) & all_of(~x for x in readers),
                 {self.rpc: K.R_NEEDBQL}, "call_rcu")
        # callbacks run with the BQL; each drain marker wakes its waiter
        upd = {self.rpc: K.R_IDLE}
        for w, flag in self.rwaits.items():
            upd[flag] = lit(False)
            if w == K.W_DSP:
                upd[self.dpc] = ite(flag, lit(K.D_CO_END), self.dpc)
                upd[self.dsched] = ite(flag, self.dctx, self.dsched)
            elif w == K.W_HCO:
                upd[self.hcopc] = ite(flag, lit(K.H_END), self.hcopc)
                upd[self.hcosched] = flag | self.hcosched
            else:
                t = self.thread(w)
                upd[t.pc] = ite(flag, lit(K.RCU_REACQ), t.pc)
        self.act("rcu_callbacks", "call_rcu", (self.rpc == K.R_NEEDBQL) & (self.bql == 0), upd, "call_rcu")
        # vCPUs: MMIO emulation with a nested aio_poll(qemu_aio_context) (bugs A, B)
        for t in self.threads[1:]:
            upd = {self.bql: t.tid, t.nest: K.N_MMIO, t.polls: t.polls - 1}
            if t.rcu is not None:
                upd[t.rcu] = lit(True)
            self.act("mmio_nested_poll", t.name, (t.nest == K.N_NONE) & (t.pc == K.RUN) & (self.bql == 0) & (t.polls > 0),
                     upd, "", thread=t.tid)
            upd = {self.bql: 0, t.nest: K.N_NONE}
            if t.rcu is not None:
                upd[t.rcu] = lit(False)
            self.act("mmio_return", t.name, (t.nest == K.N_MMIO) & (t.pc == K.RUN) & (self.bql == t.tid)
                     & (self.dsched != K.CONT + t.tid), upd, "vcpu", thread=t.tid)
        if d.main_drain:
            mt = self.main
            self.act("drain_begin", "main", (mt.pc == K.RUN) & (mt.nest == K.N_NONE) & (self.bql == 0)
                     & (self.inflight > 0) & (mt.polls > 0) & (self.dsched != K.CONT + K.MAIN),
                     {mt.nest: K.N_DRAIN, self.bql: K.MAIN, mt.polls: mt.polls - 1})
            self.act("drain_end", "main", (mt.pc == K.RUN) & (mt.nest == K.N_DRAIN) & (self.bql == K.MAIN)
                     & (self.inflight == 0) & (self.dsched != K.CONT + K.MAIN),
                     {mt.nest: K.N_NONE, self.bql: 0}, "main")
        if d.dispatch == "direct":
            for m in self.mons:
                for r, c, i in self.refs_of_mon(m.idx):
                    for j, slot in enumerate(m.ap):
                        upd = {slot: 0}
                        id_from = m.lastid if d.async_reply_id == "monitor-current" else None
                        self.reply(c, i, True, upd, id_from=id_from, may_fail=True)
                        self.act("async_complete", "main", slot == r, upd, fair_env, mon=m.idx, req=r, slot=j)

    # HMP ---------------------------------------------------------------------------
    def hmp_actions(self) -> None:
        d, b = self.d, self.b
        mt = self.main
        self.act("hmp_opened", "hmp", ~self.hopened, {self.hopened: True})
        if d.mux != "none":
            left = self.hsw > 0
            if d.mux == "guarded":
                self.act("mux_out", "mux", left, {self.hsw: self.hsw - 1, self.hmux: True,
                                                  self.hsusp: ite(self.hmux, self.hsusp, self.hsusp + 1)})
                self.act("mux_in", "mux", left, {self.hsw: self.hsw - 1, self.hmux: False,
                                                 self.hsusp: ite(self.hmux, self.hsusp - 1, self.hsusp)})
            else:
                # before the 2023 fix: MUX_OUT always increments, MUX_IN before OPENED stores 0 (bug K)
                self.act("mux_out", "mux", left, {self.hsw: self.hsw - 1, self.hmux: True, self.hsusp: self.hsusp + 1})
                self.act("mux_in", "mux", left, {self.hsw: self.hsw - 1, self.hmux: False,
                                                 self.hsusp: ite(~self.hopened, lit(0),
                                                                 ite(self.hmux, self.hsusp - 1, self.hsusp))})
        top = all_of([mt.pc == K.RUN, mt.nest == K.N_NONE, self.bql == 0, self.dsched != K.CONT + K.MAIN,
                      self.sd != K.S_DONE])
        g = top & (self.hsusp == 0) & self.hopened & (self.hsent < b.hmp_requests) & ~self.hbusy & (self.hcopc == K.H_NONE)
        for k in _fam_kinds(b.hmp_mix):
            kind = KINDS[k]
            kid = list(KINDS).index(k)
            upd: dict[Var, Expr | int | bool] = {self.hsent: self.hsent + 1}
            if kind.command == "quick":
                self.act("hmp_command", "main", g, upd, "", kind=kid)
            elif kind.command in ("coroutine", "device_add"):
                upd.update({self.hcopc: K.H_START, self.hcosched: True,
                            self.hcokind: 1 if kind.command == "coroutine" else 2})
                if d.hmp_coroutine == "nested-loop":
                    upd.update({mt.nest: K.N_HMPLOOP, self.bql: K.MAIN})
                else:
                    upd.update({self.hsusp: self.hsusp + 1, self.hbusy: True})
                self.act("hmp_command", "main", g, upd, "", kind=kid)
            elif kind.command == "async":
                # 2010: suspend at submit; a synchronous error must resume (bug Q)
                ok = {**upd, **{self.hsusp: self.hsusp + 1, self.hbusy: True, self.hasync: True}}
                self.act("hmp_command", "main", g, ok, "", kind=kid, outcome=0)
                err = {**upd, **{self.hsusp: self.hsusp + (0 if d.async_error_resume else 1)}}
                self.act("hmp_command", "main", g, err, "", kind=kid, outcome=1)
        self.act("hmp_async_complete", "main", self.hasync,
                 {self.hasync: False, self.hbusy: False, self.hsusp: self.hsusp - 1},
                 "env" if b.fair_completion else "")
        # the HMP coroutine, entered in qemu_aio_context
        for t, pg, ptop in self.pollers(K.AIO):
            gg = pg & self.hcosched
            p = {"thread": t.tid, "top": int(ptop)}
            upd = {self.hcosched: False, self.hcopc: K.H_WAIT}
            io = {**upd, **{self.inflight: self.inflight + 1, self.ioh: True}}
            self.act("hmp_coroutine_start", t.name, gg & (self.hcopc == K.H_START) & (self.hcokind == 1), io, "main", **p)
            rcu: dict[Var, Expr | int | bool] = dict(upd)
            self.enqueue_marker(K.W_HCO, rcu)
            self.act("hmp_coroutine_start", t.name, gg & (self.hcopc == K.H_START) & (self.hcokind == 2), rcu, "main",
                     drain=1, **p)
            fin: dict[Var, Expr | int | bool] = {self.hcosched: False, self.hcopc: K.H_DONE,
                                                 self.inflight: ite(self.hcokind == 1, self.inflight - 1, self.inflight)}
            if d.hmp_coroutine == "suspend":
                fin.update({self.hcopc: K.H_NONE, self.hsusp: self.hsusp - 1, self.hbusy: False, self.hcokind: 0})
            self.act("hmp_coroutine_end", t.name, gg & (self.hcopc == K.H_END), fin, "main", **p)
        if d.hmp_coroutine == "nested-loop":
            self.act("hmp_nested_loop_exit", "main", (mt.nest == K.N_HMPLOOP) & (mt.pc == K.RUN) & (self.hcopc == K.H_DONE)
                     & (self.dsched != K.CONT + K.MAIN),
                     {mt.nest: K.N_NONE, self.bql: 0, self.hcopc: K.H_NONE, self.hcokind: 0}, "main")

    # shutdown ------------------------------------------------------------------------
    def shutdown_actions(self) -> None:
        d = self.d
        mt = self.main
        top = all_of([mt.pc == K.RUN, mt.nest == K.N_NONE, self.bql == 0, self.dsched != K.CONT + K.MAIN])
        upd: dict[Var, Expr | int | bool] = {self.sd: K.S_REQ, mt.nest: K.N_CLEANUP, self.bql: K.MAIN}
        self.wake(upd)
        if d.cleanup_order == "iothread-first":
            upd[self.iostop] = lit(True)
        self.act("monitor_cleanup", "main", top & (self.sd == K.S_NONE), upd)
        waiting = (self.sd == K.S_REQ) & (mt.nest == K.N_CLEANUP) & (mt.pc == K.RUN) & (self.dsched != K.CONT + K.MAIN)
        done = {self.sd: K.S_DONE, mt.nest: K.N_NONE, self.bql: 0, self.iostop: True, mt.pc: K.DEAD}
        if d.cleanup_order == "monitors-first":
            # destroy monitors without waiting for the dispatcher (bug G a)
            active = (self.dpc != K.D_WAIT) & (self.dpc != K.D_EXIT) & (self.dpc != K.D_POP)
            done[self.xsd] = self.first_x(self.xsd, active, K.X_DESTROY_ACTIVE)
            self.act("cleanup_destroy_monitors", "main", waiting, done, "main")
        else:
            self.act("cleanup_destroy_monitors", "main", waiting & (self.dpc == K.D_EXIT), done, "main")

    # liveness helpers and wait-for edges ----------------------------------------------
    def pending(self) -> Expr:
        parts: list[Expr] = []
        for cl in self.clients:
            # requests still queued at shutdown are left unanswered by design (§3.8)
            live = ((cl.st == K.C_NEG) | (cl.st == K.C_READY)) & (self.sd == K.S_NONE)
            for i in range(self.NR):
                parts.append(live & (cl.sent > i) & ~cl.ans[i])
        for t in self.threads:
            parts.append((t.pc != K.RUN) & (t.pc != K.DEAD))
        parts.append(self.main.nest == K.N_DRAIN)
        if self.hmp:
            parts.append(self.hcopc != K.H_NONE)
            parts.append(self.hbusy)
        parts.append(self.sd == K.S_REQ)
        return any_of(parts)

    def wait_edges(self) -> list[WaitEdge]:
        E: list[WaitEdge] = []
        ctx_name = {K.IOH: "iohandler_ctx", K.AIO: "qemu_aio_context"}
        for t in self.threads:
            E.append(WaitEdge(t.name, "BQL", "needs the BQL to continue", (t.pc == K.RCU_REACQ) & (self.bql != 0)))
            E.append(WaitEdge("BQL", t.name, "held by", self.bql == t.tid))
            E.append(WaitEdge(t.name, "call_rcu", "drain_call_rcu waits for the call_rcu thread",
                              (t.pc == K.RCU_WAIT) & self.rwaits[t.tid]))
            if t.rcu is not None:
                E.append(WaitEdge("rcu_grace_period", t.name, "grace period waits for the RCU reader",
                                  t.rcu & (self.rpc == K.R_GRACE)))
        E.append(WaitEdge("call_rcu", "rcu_grace_period", "synchronize_rcu", self.rpc == K.R_GRACE))
        E.append(WaitEdge("call_rcu", "BQL", "runs callbacks with the BQL", (self.rpc == K.R_NEEDBQL) & (self.bql != 0)))
        E.append(WaitEdge("dispatcher", "call_rcu", "drain_call_rcu_co waits for call_rcu",
                          (self.dpc == K.D_CO_WAIT) & self.rwaits[K.W_DSP]))
        if self.hmp:
            E.append(WaitEdge("hmp_coroutine", "call_rcu", "drain_call_rcu_co waits for call_rcu",
                              (self.hcopc == K.H_WAIT) & self.rwaits[K.W_HCO]))
            E.append(WaitEdge("main", "hmp_coroutine", "HMP nested event loop waits for the command coroutine",
                              (self.main.nest == K.N_HMPLOOP) & (self.hcopc != K.H_DONE)))
            E.append(WaitEdge("hmp_coroutine", "qemu_aio_context", "scheduled, waits to be polled",
                              self.hcosched))
        # drain waits for bs->in_flight, held by the coroutine that raised it
        E.append(WaitEdge("main", "bs->in_flight", "drain polls until in_flight == 0",
                          (self.main.nest == K.N_DRAIN) & (self.inflight > 0)))
        holds_dsp = (self.dpc == K.D_CO_WAIT) | (self.dpc == K.D_CO_END)
        E.append(WaitEdge("bs->in_flight", "dispatcher", "raised by the coroutine command",
                          holds_dsp & (self.dkind != 0) & (self.io | (self.dpc == K.D_CO_END))
                          & (self.inflight > 0)))
        # the dispatcher waits to be polled in the context it is scheduled in
        for ctx in (K.IOH, K.AIO):
            E.append(WaitEdge("dispatcher", ctx_name[ctx], "scheduled, waits to be polled", self.dsched == ctx))
            E.append(WaitEdge("handler_bh", ctx_name[ctx], "one-shot BH waits to be polled", self.bhctx == ctx))
            served = any_of(g for _t, g, _top in self.pollers(ctx))
            blocked_pollers = [t for t in self.threads if ctx == K.AIO or t is self.main]
            for t in blocked_pollers:
                E.append(WaitEdge(ctx_name[ctx], t.name, f"polled only by {t.name}, which is busy",
                                  ~served & (t.pc != K.DEAD)
                                  & ((t is self.main) | (t.nest == K.N_MMIO) if t is not self.main else TRUE)))
        E.append(WaitEdge("main", "qmp_queue_lock", "CHR_EVENT_CLOSED blocks on the queue lock",
                          self.main.pc == K.QLOCK))
        E.append(WaitEdge("qmp_queue_lock", "dispatcher", "held across a yield", self.dqlock))
        E.append(WaitEdge("dispatcher", "handler_bh", "yielded until the BH wakes it", self.dpc == K.D_BH))
        return E


def build_model(design: Design, bounds: Bounds, source: str = "<spec>") -> Model:
    """Build the model for a design point and bounds.

    Raises :class:`~qmpmodel.errors.InputError` naming ``source`` when the
    bounds are inconsistent (an unknown kind in the mix, a client on a missing
    monitor, ...).
    """
    return _Builder(design, bounds, source).build()

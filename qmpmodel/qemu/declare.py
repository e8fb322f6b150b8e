"""The state of a configuration, declared in a fixed order (the state layout of traces).

:class:`Declarations` declares QEMU's variables as records (threads, the
dispatcher coroutine, monitors, clients, HMP, the run state), only those the
bounds and the design's hooks call for, then a design's own
(:meth:`Declarations.declare_extra`), and sets the initial values that are not 0.
"""

from __future__ import annotations

from qmpmodel.core.expr import StateLayout, Var
from qmpmodel.qemu.codes import Boot, ClientSt, Ctx, Nest, Run, Tid, Waiter
from qmpmodel.qemu.config import Configuration
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.legend import label_variables
from qmpmodel.qemu.state import Client, DispatcherState, Monitor, Thread

__all__ = ["Declarations"]


class Declarations(Configuration):
    """QEMU's state variables, grouped in records, and their initial values."""

    lay: StateLayout
    kinds: list[str]
    NR: int
    queue_max: int
    init_values: dict[int, int]

    # -- declarations (a fixed order: the state layout of traces) ---------------
    def declare(self) -> None:
        L, b = self.lay, self.bounds
        nref = b.clients * self.NR
        nk = len(self.kinds)
        V = self.vcpu_threads()
        self.V = V
        self.RCU_T = Tid.VCPU0 + V
        self.bql = L.int("bql", 0, self.RCU_T)
        main_polls = self.main_drain_polls()
        self.main = Thread(Tid.MAIN, "main", L.int("main.pc", 0, Run.DEAD), L.int("main.nest", 0, Nest.MMIO),
                           L.int("main.drains", 0, main_polls), None)
        self.threads = [self.main]
        for i in range(V):
            self.threads.append(Thread(
                Tid.VCPU0 + i, f"vcpu{i}", L.int(f"vcpu{i}.pc", 0, Run.DEAD), L.int(f"vcpu{i}.nest", 0, Nest.MMIO),
                L.int(f"vcpu{i}.polls", 0, b.nested_polls),
                L.bool(f"vcpu{i}.rcu_read") if self.vcpu_rcu_reader() else None))
        self.dsp = DispatcherState(
            pc=L.int("dsp.pc", 0, 9), sched=L.int("dsp.sched", 0, Ctx.CONT + self.RCU_T),
            ctx=L.int("dsp.ctx", Ctx.IOH, Ctx.AIO), busy=L.bool("dsp.busy"), req=L.int("dsp.req", 0, nref),
            kind=L.int("dsp.kind", 0, nk), mon=L.int("dsp.mon", 0, b.monitors - 1),
            oob_saved=L.bool("dsp.oob_saved"), err=L.bool("dsp.err"), qlock=L.bool("dsp.qlock"))
        self.bhctx = L.int("bh.ctx", 0, Ctx.AIO)
        self.bhon = L.int("bh.on", 0, self.RCU_T)
        self.inflight = L.int("blk.in_flight", 0, 2)
        self.io = L.bool("blk.io_dispatcher")
        self.ioh = L.bool("blk.io_hmp")
        self.rpc = L.int("rcu.pc", 0, 2)
        self.evq = L.int("event.deferred", 0, nref) if self.deferred_events() else None
        self.xnest = L.bool("x.nested_dispatch")
        self.xnestco = L.bool("x.nested_coroutine")
        self.xflag = L.bool("x.flag_validity")
        self.sd = L.int("sd.pc", 0, 2)
        self.iostop = L.bool("sd.iothread_stopped")
        self.xsd = L.int("x.shutdown", 0, 4)
        self.declare_monitors(nref)
        self.declare_clients(nk)
        self.hmp = b.hmp == 1
        if self.hmp:
            self.declare_hmp()
        self.rwaits: dict[int, Var] = {t.tid: L.bool(f"rcu.waits_{t.name}") for t in self.threads}
        self.rwaits[Waiter.DISPATCHER] = L.bool("rcu.waits_dispatcher")
        if self.hmp:
            self.rwaits[Waiter.HMP_COROUTINE] = L.bool("rcu.waits_hmp_coroutine")
        # the history of dequeues: how often each monitor's waiting request was bypassed
        self.bypass_bound = b.bypass_bound or b.monitors
        self.bypass = [L.int(f"mon{m}.x_bypassed", 0, self.bypass_bound + 1) for m in range(b.monitors)] \
            if b.monitors > 1 else []
        self.declare_runstate(nref)
        label_variables(self)
        self.declare_extra(L)
        self.initial_values(main_polls)

    def declare_monitors(self, nref: int) -> None:
        L, b = self.lay, self.bounds
        self.mons: list[Monitor] = []
        for m in range(b.monitors):
            clients = [c for c in range(b.clients) if b.monitor_of(c) == m]
            # a design that reads past suspension (bug R) overflows the queue: up to every request
            qlen_max = max(self.queue_max + 1, self.NR * len(clients))
            self.mons.append(Monitor(
                idx=m, iothread=b.uses_iothread(m), clients=clients,
                conn=L.int(f"mon{m}.conn", 0, b.clients), mode=L.bool(f"mon{m}.command_mode"),
                oob=L.bool(f"mon{m}.oob"), susp=L.int(f"mon{m}.suspend_cnt", -1, 3),
                qlen=L.int(f"mon{m}.qlen", 0, qlen_max),
                q=[L.int(f"mon{m}.q{j}", 0, nref) for j in range(self.queue_max)],
                inlen=L.int(f"mon{m}.inlen", 0, self.NR),
                inq=[L.int(f"mon{m}.in{j}", 0, nref) for j in range(self.NR)],
                perr=L.bool(f"mon{m}.parse_recovery"), closing=L.bool(f"mon{m}.closing"),
                accept=L.bool(f"mon{m}.accept_bh"), pos=L.int(f"mon{m}.pos", 0, b.monitors - 1),
                lastid=L.int(f"mon{m}.last_id", 0, nref),
                ap=[L.int(f"mon{m}.async{j}", 0, nref) for j in range(self.async_slots())]))

    def declare_clients(self, nk: int) -> None:
        L, b, NR = self.lay, self.bounds, self.NR
        self.clients: list[Client] = []
        has_ev = any(KINDS[k].command == "event" for k in self.kinds)
        for c in range(b.clients):
            self.clients.append(Client(
                idx=c, mon=b.monitor_of(c), st=L.int(f"client{c}.st", 0, ClientSt.GONE),
                sent=L.int(f"client{c}.sent", 0, NR),
                kind=[None if b.negotiate_first else L.int(f"client{c}.kind0", 0, nk)]
                + [L.int(f"client{c}.kind{i}", 0, nk) for i in range(1, NR)],
                ans=[L.bool(f"client{c}.answered{i}") for i in range(NR)],
                last=L.int(f"client{c}.last_inband", -1, NR - 1), lasta=L.int(f"client{c}.last_any", -1, NR - 1),
                ev=[L.bool(f"client{c}.event{i}") for i in range(NR)] if has_ev else [],
                x_cross=L.bool(f"client{c}.x_foreign_reply"), x_dup=L.bool(f"client{c}.x_duplicate"),
                x_order=L.bool(f"client{c}.x_order"), x_order_all=L.bool(f"client{c}.x_order_all"),
                x_id=L.bool(f"client{c}.x_id"), x_lost=L.bool(f"client{c}.x_lost"),
                x_negev=L.bool(f"client{c}.x_event_negotiating"),
                x_evorder=L.bool(f"client{c}.x_event_after_reply")))

    def declare_hmp(self) -> None:
        L, b = self.lay, self.bounds
        self.hsusp = L.int("hmp.suspend_cnt", -1, 3)
        self.hmux = L.bool("hmp.mux_out")
        self.hopened = L.bool("hmp.opened")
        self.hsw = L.int("hmp.switches_left", 0, self.mux_switches())
        self.hsent = L.int("hmp.sent", 0, b.hmp_requests)
        self.hbusy = L.bool("hmp.busy")
        self.hasync = L.bool("hmp.async_pending")
        self.hcopc = L.int("hmp_co.pc", 0, 4)
        self.hcosched = L.bool("hmp_co.scheduled")
        self.hcokind = L.int("hmp_co.kind", 0, 2)  # 1 block_resize, 2 device_add

    def hmp_mux_monitor(self) -> int:
        """The QMP monitor whose mux chardev HMP shares (F5), -1 when none."""
        b = self.bounds
        return next((m for m in range(b.monitors) if b.on_mux(m)), -1) if b.hmp_mux else -1

    def declare_runstate(self, nref: int) -> None:
        """State of the F1-F5 features, declared only when a spec enables them (so every other
        spec keeps its state layout): QEMU's ``shutdown_requested`` and ``powerdown_requested``
        (softmmu/runstate.c), the environment's event budget, qemu_init's progress and, per
        monitor on a mux chardev, whether it was opened and is on ``mon_list``."""
        L, b = self.lay, self.bounds
        self.rs_shutdown: Var | None = L.bool("runstate.shutdown_requested") if self.exit_requests() else None
        self.rs_event: Var | None = L.int("runstate.event_request", 0, nref) if self.main_loop_requests() else None
        self.env_left: Var | None = L.int("env.events_left", 0, b.env_events) if b.env_events else None
        self.boot: Var | None = None
        self.focus_hmp: Var | None = None
        self.hmp_line: Var | None = None
        self.xhmpctx: Var | None = None
        if b.hmp_mux:
            self.focus_hmp = L.bool("mux.focus_hmp")
            self.hmp_line = L.int("mux.hmp_line", 0, len(b.hmp_mix))
            self.xhmpctx = L.bool("x.hmp_outside_main_thread")
        if any(b.on_mux(m) for m in range(b.monitors)):
            self.boot = L.int("boot.stage", 0, Boot.RUNNING)
            for mon in self.mons:
                if b.on_mux(mon.idx):
                    mon.opened = L.bool(f"mon{mon.idx}.opened")
                    mon.listed = L.bool(f"mon{mon.idx}.listed")

    def declare_extra(self, layout: StateLayout) -> None:
        """A design's own state variables (appended after QEMU's); set initial values
        other than 0 in :attr:`init_values` (``self.init_values[var.index] = value``)."""

    def initial_values(self, main_polls: int) -> None:
        """monitor_init_globals schedules the dispatcher in iohandler_ctx with busy = true (§1.4)."""
        iv = self.init_values
        d = self.dsp
        iv.update({d.pc.index: 1, d.ctx.index: Ctx.IOH, d.busy.index: 1, d.sched.index: Ctx.IOH})
        iv[self.main.polls.index] = main_polls
        for t in self.threads[1:]:
            iv[t.polls.index] = self.bounds.nested_polls
        for mon in self.mons:
            # new monitors are inserted at the head of mon_list (§2.2)
            iv[mon.pos.index] = self.bounds.monitors - 1 - mon.idx
        for cl in self.clients:
            iv[cl.last.index] = -1
            iv[cl.lasta.index] = -1
        if self.hmp:
            iv[self.hsw.index] = self.mux_switches()
        if self.env_left is not None:
            iv[self.env_left.index] = self.bounds.env_events

    # -- request refs: (client c, seq i) as one positive integer ------------------
    def ref(self, c: int, i: int) -> int:
        """Request (client c, seq i) as a positive integer."""
        return c * self.NR + i + 1

    def split_ref(self, r: int) -> tuple[int, int]:
        c, i = divmod(r - 1, self.NR)
        return c, i

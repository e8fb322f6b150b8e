"""The harness every design shares: state, actions, threads, and the observer.

:class:`Harness` declares the state of a configuration (bounds) in a fixed
order, turns :class:`~qmpmodel.qemu.steps.Update` objects into
:class:`~qmpmodel.core.model.Action` instances, answers "which thread can run
an item of this AioContext now" (:meth:`Harness.pollers`), and derives the
clients' history (what each session received, in which order) from the
messages actions emit (:mod:`qmpmodel.qemu.observer`), so reply order,
exactly-once, id echo, cross-session replies and event order apply to every
design without edits.

The parts (:mod:`qmpmodel.qemu.parts`) subclass the harness and add the steps
of one QEMU component each; :class:`qmpmodel.qemu.designs.current.QemuCurrent`
joins them. State records group the variables of one component (a monitor, a
client, the dispatcher coroutine, a thread); a design that needs more state
declares it in :meth:`Harness.declare_extra`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from qmpmodel.core.expr import TRUE, Expr, StateLayout, Var, all_of, any_of, ite, lit
from qmpmodel.core.model import Action, Model, WaitEdge
from qmpmodel.errors import InputError, ModelDefinitionError, close_matches
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.codes import Boot, ClientSt, Ctx, Nest, Run, Tid, Waiter
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.legend import label_variables
from qmpmodel.qemu.observer import observe
from qmpmodel.qemu.state import Client, DispatcherState, Monitor, Thread
from qmpmodel.qemu.steps import Update, Value, step_info

__all__ = ["Harness"]


class Harness:
    """State, action construction and thread bookkeeping shared by every design."""

    #: The design's name in reports (a class attribute of each design).
    title: str = "QEMU"

    def __init__(self, bounds: Bounds, source: str = "<spec>") -> None:
        self.bounds = bounds
        self.source = source
        self.lay = StateLayout()
        self.validate()
        self.kinds = list(dict.fromkeys(bounds.mix))
        self.kind_id = {k: i + 1 for i, k in enumerate(self.kinds)}  # 0 = qmp_capabilities
        self.NR = bounds.requests + 1
        self.queue_max = bounds.queue_max
        self.init_values: dict[int, int] = {}
        self.declare()

    # -- configuration hooks (overridden by environment and design mixins) ------
    def vcpu_threads(self) -> int:
        """vCPU threads that can run a nested aio_poll (bug A's MMIO emulation)."""
        return 0

    def vcpu_rcu_reader(self) -> bool:
        """Whether a vCPU's nested poll runs inside an RCU read-side critical section (bug B)."""
        return False

    def main_may_drain(self) -> bool:
        """The main loop may start a drain: aio_poll(qemu_aio_context) until in_flight == 0 (bug C)."""
        return False

    def main_drain_polls(self) -> int:
        """How many drains the main loop may start."""
        return self.bounds.nested_polls if self.main_may_drain() else 0

    def deferred_events(self) -> bool:
        """Whether handlers' events are emitted later from a BH (mutant event-deferred)."""
        return False

    def async_slots(self) -> int:
        """Pending cmd_async requests per monitor (2010 design)."""
        return 0

    def mux_switches(self) -> int:
        """Mux focus switches the HMP monitor's chardev may see."""
        return 0

    def coroutine_device_add(self) -> bool:
        """device_add is a coroutine command using drain_call_rcu_co (2023 RFC, unmerged)."""
        return False

    def has_dispatcher(self) -> bool:
        """Requests go through the queue and the dispatcher coroutine (2018 onward)."""
        return True

    def oob_capability(self) -> bool:
        """The ``oob`` capability exists (2018 onward; offered iff the monitor uses the I/O thread)."""
        return True

    def client_accepts_oob(self) -> bool:
        """Clients accept ``oob`` when the greeting offers it (an environment assumption)."""
        return True

    def monitor_cleanup_enabled(self) -> bool:
        """QEMU may exit (monitor_cleanup) during the run for a reason outside the model (§3.8)."""
        return False

    def async_returns(self) -> str:
        """The 2017 async-commands design (F6): ``""`` (none), ``"protocol-2017"`` or ``"orderly-2019"``."""
        return ""

    def exit_requests(self) -> bool:
        """Something in the model asks QEMU to exit: a ``quit`` request or a signal (F3)."""
        return self.bounds.signals > 0 or any(KINDS[k].command == "quit" for k in self.bounds.mix)

    def main_loop_requests(self) -> bool:
        """A handler may ask the main loop to raise an event (``system_powerdown``, F1)."""
        return any(KINDS[k].command == "request" for k in self.bounds.mix)

    def monitor_cleanup_reachable(self) -> bool:
        """monitor_cleanup can run: as a free action, or after main_loop_should_exit (F3)."""
        return self.monitor_cleanup_enabled() or self.exit_requests()

    # -- validation -------------------------------------------------------------
    def validate(self) -> None:
        """Bounds the model supports; a violation is bad input naming the key."""
        b, src = self.bounds, self.source
        checks = (("monitors", 1, 4), ("clients", 0, 6), ("requests", 0, 16), ("queue_max", 1, 8),
                  ("vcpus", 0, 2))
        for key, lo, hi in checks:
            val = getattr(b, key)
            if not lo <= val <= hi:
                want = "0, 1 or 2" if key == "vcpus" else f"an integer from {lo} to {hi}"
                raise InputError(src, f"bounds.{key}", want, str(val))
        if b.bypass_bound < 0 or b.bypass_bound > 8:
            raise InputError(src, "bounds.bypass_bound", "an integer from 0 to 8", str(b.bypass_bound))
        if b.hmp not in (0, 1):
            raise InputError(src, "bounds.hmp", "0 or 1", str(b.hmp))
        for key, mix, hmp in (("bounds.mix", b.mix, False), ("bounds.hmp_mix", b.hmp_mix, True)):
            for name in mix:
                kind = KINDS.get(name)
                if kind is None or (kind.form == "hmp") != hmp:
                    valid = [k for k, v in KINDS.items() if (v.form == "hmp") == hmp]
                    raise InputError(src, key, "one of " + ", ".join(valid), repr(name),
                                     close_matches(name, valid))
        if not self.async_returns() and any(k in ("async-2017", "caps-async") for k in b.mix):
            raise InputError(src, "bounds.mix", "async-2017 and caps-async only with design.async_commands = "
                             "'protocol-2017' or 'orderly-2019'", None)
        if "hmp-device-add" in b.hmp_mix and not self.coroutine_device_add():
            raise InputError(src, "bounds.hmp_mix", "hmp-device-add only with design.device_add = 'coroutine-drain'",
                             None)
        if b.client_monitors and (len(b.client_monitors) != b.clients
                                  or any(not 0 <= m < b.monitors for m in b.client_monitors)):
            raise InputError(src, "bounds.client_monitors",
                             f"{b.clients} monitor indices below {b.monitors}", str(list(b.client_monitors)))
        if b.iothread_monitors and len(b.iothread_monitors) != b.monitors:
            raise InputError(src, "bounds.iothread_monitors", f"{b.monitors} booleans",
                             str(list(b.iothread_monitors)))
        if b.mux_monitors and len(b.mux_monitors) != b.monitors:
            raise InputError(src, "bounds.mux_monitors", f"{b.monitors} booleans", str(list(b.mux_monitors)))
        if b.hmp_mux and (b.hmp != 1 or not any(b.on_mux(m) for m in range(b.monitors))):
            raise InputError(src, "bounds.hmp_mux", "true only with hmp = 1 and a monitor in mux_monitors", "true")
        if b.hmp_mux and any(k not in ("hmp-quick", "hmp-main-thread") for k in b.hmp_mix):
            raise InputError(src, "bounds.hmp_mix", "hmp-quick or hmp-main-thread with hmp_mux", str(list(b.hmp_mix)))
        if "hmp-main-thread" in b.hmp_mix and not b.hmp_mux:
            raise InputError(src, "bounds.hmp_mix", "hmp-main-thread only with hmp_mux = true", None)
        for key, hi in (("events_per_command", 4), ("env_events", 16), ("signals", 1)):
            val = getattr(b, key)
            if not 0 <= val <= hi:
                raise InputError(src, f"bounds.{key}", f"an integer from 0 to {hi}", str(val))

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

    # -- requests ---------------------------------------------------------------
    def ref(self, c: int, i: int) -> int:
        """Request (client c, seq i) as a positive integer."""
        return c * self.NR + i + 1

    def split_ref(self, r: int) -> tuple[int, int]:
        c, i = divmod(r - 1, self.NR)
        return c, i

    def refs_of_mon(self, m: int) -> list[tuple[int, int, int]]:
        return [(self.ref(c, i), c, i) for c in self.mons[m].clients for i in range(self.NR)]

    def kinds_for(self, c: int, i: int) -> list[str]:
        return ["qmp_capabilities"] if i == 0 and self.bounds.negotiate_first else self.kinds

    def kid(self, k: str) -> int:
        return 0 if k == "qmp_capabilities" else self.kind_id[k]

    def is_kind(self, c: int, i: int, k: str) -> Expr:
        if i == 0 and self.bounds.negotiate_first:
            return lit(k == "qmp_capabilities")
        v = self.clients[c].kind[i]
        assert v is not None
        return v == self.kind_id[k]

    # -- actions ----------------------------------------------------------------
    def action(self, family: str, actor: str, guard: Expr, u: Update, fair: str = "",
               **params: int) -> Iterator[Action]:
        """The action ``guard -> u`` (none when the guard is constant false), with the
        history its messages imply (:func:`~qmpmodel.qemu.observer.observe`).

        ``family`` and ``params`` name the instance (``dispatcher_pop(mon=0, ...)``);
        ``actor`` is the thread or party that takes the step; ``fair`` its
        weak-fairness group (empty: an environment step that may never happen).
        """
        if guard.op == "const" and not guard.args[0]:
            return
        observe(self, u)
        upd = tuple((v, e) for v, e in u.assign.items() if not (e.op == "var" and e.args[0] == v.index))
        origins = tuple((v.index, w) for v, w in u.origins.items())
        # the step that builds this action: the method that called action() (a generator frame)
        info = step_info(type(self), sys._getframe(1).f_code.co_name)
        yield Action(family, actor, tuple((k, int(v)) for k, v in params.items()), guard, upd, fair,
                     emits=tuple(u.emits), origins=origins, step=info.title if info else "")

    def build(self) -> Model:
        """Every action of every part, in the fixed order that makes traces replayable."""
        actions = tuple(self.behaviour())
        init = [0] * len(self.lay.vars)
        for idx, val in self.init_values.items():
            init[idx] = int(val)
        b = self.bounds
        return Model(self.lay, tuple(init), actions, self.pending(), tuple(self.wait_edges()),
                     summary={"monitors": b.monitors, "clients": b.clients, "requests": b.requests,
                              "mix": list(self.kinds)})

    def behaviour(self) -> Iterator[Action]:  # pragma: no cover - QemuCurrent defines it
        raise ModelDefinitionError(f"{type(self).__name__} defines no behaviour")

    def pending(self) -> Expr:  # pragma: no cover - a part defines it
        raise ModelDefinitionError(f"{type(self).__name__} defines no pending work")

    def wait_edges(self) -> list[WaitEdge]:  # pragma: no cover - a part defines it
        return []

    # -- threads and the BQL ------------------------------------------------------
    def thread(self, tid: int) -> Thread:
        return next(t for t in self.threads if t.tid == tid)

    def pollers(self, ctx: int) -> list[tuple[Thread, Expr, bool]]:
        """Threads that can run a ready item of ``ctx`` now: (thread, guard, top-level).

        The main loop proper polls iohandler_ctx, qemu_aio_context and glib sources
        (top level: takes the BQL for the item). A nested aio_poll(qemu_aio_context)
        polls only qemu_aio_context, holding the BQL; monitor_cleanup's
        AIO_WAIT_WHILE also polls iohandler_ctx (§1.2, §3.8).
        """
        out: list[tuple[Thread, Expr, bool]] = []
        mt, dsched = self.main, self.dsp.sched
        free_main = (mt.pc == Run.RUN) & (dsched != Ctx.CONT + Tid.MAIN)
        out.append((mt, free_main & (mt.nest == Nest.NONE) & (self.bql == 0) & self.main_loop_runs(), True))
        nested_ok = [Nest.DRAIN, Nest.HMPLOOP, Nest.CLEANUP] if ctx == Ctx.AIO else [Nest.CLEANUP]
        out.append((mt, free_main & any_of(mt.nest == n for n in nested_ok) & (self.bql == Tid.MAIN), False))
        if ctx == Ctx.AIO:
            for t in self.threads[1:]:
                out.append((t, (t.pc == Run.RUN) & (t.nest == Nest.MMIO) & (self.bql == t.tid)
                            & (dsched != Ctx.CONT + t.tid), False))
        return out

    def main_top_level(self) -> Expr:
        """The main loop is at top level, not running the dispatcher, BQL free."""
        mt = self.main
        return all_of([mt.pc == Run.RUN, mt.nest == Nest.NONE, self.bql == 0, self.dsp.sched != Ctx.CONT + Tid.MAIN,
                       self.main_loop_runs()])

    def main_loop_runs(self) -> Expr:
        """The main loop dispatches (true unless a spec enables F1/F3/F4): qemu_init has returned,
        and no request waits for main_loop_should_exit, which runs at the end of the main-loop
        iteration that raised it, before the next dispatch (softmmu/runstate.c:671-721, main_loop)."""
        parts: list[Expr] = []
        if self.boot is not None:
            parts.append(self.boot == Boot.RUNNING)
        if self.rs_shutdown is not None:
            parts.append(~self.rs_shutdown)
        if self.rs_event is not None:
            parts.append(self.rs_event == 0)
        return all_of(parts)

    def release_bql(self, t: Thread) -> Expr:
        """The BQL after ``t``'s item yields: a top-level main-loop item releases it."""
        if t is self.main:
            return ite(self.main.nest == Nest.NONE, lit(0), lit(Tid.MAIN))
        return lit(t.tid)

    def end_segment(self, t: Thread, yields: bool, u: Update) -> None:
        """BQL and schedule bookkeeping at the end of a dispatcher segment on ``t``."""
        if yields:
            u[self.bql] = self.release_bql(t)
        else:
            u[self.dsp.sched] = Ctx.CONT + t.tid
            u[self.bql] = t.tid

    def hop_back(self, t: Thread, back: Expr, u: Update) -> None:
        """aio_co_schedule(iohandler_ctx, self) + yield when ``back``, else continue on ``t``."""
        u[self.dsp.ctx] = Ctx.IOH
        u[self.dsp.sched] = ite(back, lit(Ctx.IOH), lit(Ctx.CONT + t.tid))
        u[self.bql] = ite(back, self.release_bql(t), lit(t.tid)) if t is self.main else lit(t.tid)

    def nested_flag(self, t: Thread, var: Var, u: Update) -> None:
        """Record (a ghost flag) that monitor work started inside a nested event loop."""
        if t is self.main:
            u[var] = var | ((t.nest != Nest.NONE) & (t.nest != Nest.CLEANUP))
        else:
            u[var] = TRUE

    @staticmethod
    def first_x(var: Var, cond: Expr, code: int) -> Expr:
        """Record the first violation code in a ghost variable."""
        return ite((var == 0) & cond, lit(code), var)

    @staticmethod
    def assign(u: Update, items: dict[Var, Value]) -> Update:
        u.update(items)
        return u

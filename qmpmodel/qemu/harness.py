"""The harness every design shares: actions, threads, and the observer.

:class:`Harness` builds on :class:`~qmpmodel.qemu.declare.Declarations` (the
state of a configuration, in a fixed order) and
:class:`~qmpmodel.qemu.config.Configuration` (the design's hooks and the
bounds it supports). It turns :class:`~qmpmodel.qemu.steps.Update` objects
into :class:`~qmpmodel.core.model.Action` instances, answers "which thread
can run an item of this AioContext now" (:meth:`Harness.pollers`), and
derives the clients' history (what each session received, in which order)
from the messages actions emit (:mod:`qmpmodel.qemu.observer`), so reply
order, exactly-once, id echo, cross-session replies and event order apply to
every design without edits.

The parts (:mod:`qmpmodel.qemu.parts`) subclass the harness and add the steps
of one QEMU component each; :class:`qmpmodel.qemu.designs.current.QemuCurrent`
joins them. State records group the variables of one component (a monitor, a
client, the dispatcher coroutine, a thread); a design that needs more state
declares it in :meth:`~qmpmodel.qemu.declare.Declarations.declare_extra`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from qmpmodel.core.expr import TRUE, Expr, StateLayout, Var, all_of, any_of, ite, lit
from qmpmodel.core.model import Action, Model, WaitEdge
from qmpmodel.errors import ModelDefinitionError
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.codes import Boot, Ctx, Nest, Run, Tid
from qmpmodel.qemu.declare import Declarations
from qmpmodel.qemu.observer import observe
from qmpmodel.qemu.state import Thread
from qmpmodel.qemu.steps import Update, Value, step_info

__all__ = ["Harness"]


class Harness(Declarations):
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

    # -- requests ---------------------------------------------------------------
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

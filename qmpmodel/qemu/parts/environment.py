"""What surrounds the monitor: block I/O, the call_rcu thread, vCPUs and drains.

These are QEMU threads and subsystems the dispatcher interacts with: an I/O
completion wakes a yielded coroutine command in its home context; the
call_rcu thread waits for a grace period and runs callbacks with the BQL
(drain_call_rcu's marker among them, util/rcu.c); a vCPU emulating MMIO takes
the BQL and runs a nested aio_poll(qemu_aio_context) (bug A), maybe inside an
RCU read-side critical section (bug B); the main loop may drain the block
layer (bug C).
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import FALSE, TRUE, all_of, ite, lit
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Boot, Ctx, Dsp, HmpCo, IoOwner, Nest, Rcu, Run, Sd, Tid, Waiter
from qmpmodel.qemu.parts.output import Output
from qmpmodel.qemu.state import Thread
from qmpmodel.qemu.steps import Update, step

__all__ = ["Environment"]


class Environment(Output):
    """Block I/O completion, call_rcu, vCPU MMIO with nested polls, main-loop drains."""

    def environment_actions(self) -> Iterator[Action]:
        yield from self.io_completion()
        yield from self.call_rcu_thread()
        for t in self.threads[1:]:
            yield from self.vcpu_mmio(t)
        if self.main_may_drain():
            yield from self.bdrv_drain()
        yield from self.environment_extra()
        if self.env_left is not None:
            yield from self.environment_event()

    @step("environment", "a design's own external events (the 2010 async completions)", ref="§5")
    def environment_extra(self) -> Iterator[Action]:
        """More environment actions of a design (the 2010 async completions)."""
        yield from ()

    def fair_env(self) -> str:
        """External completions are weakly fair unless the spec says they may never come."""
        return "env" if self.bounds.fair_completion else ""

    @step("aio_co_wake", "I/O completion", ref="§7 C")
    def io_completion(self) -> Iterator[Action]:
        """An I/O request completes and wakes its coroutine in the coroutine's home context."""
        d = self.dsp
        u = Update({self.io: FALSE, d.pc: Dsp.CO_END, d.sched: d.ctx})
        yield from self.action("io_complete", "block", self.io & (d.pc == Dsp.CO_WAIT), u, self.fair_env(),
                               owner=IoOwner.DISPATCHER)
        if self.hmp:
            u = Update({self.ioh: FALSE, self.hcopc: HmpCo.END, self.hcosched: TRUE})
            yield from self.action("io_complete", "block", self.ioh & (self.hcopc == HmpCo.WAIT), u, self.fair_env(),
                                   owner=IoOwner.HMP_COROUTINE)

    @step("call_rcu_thread", ref="§1.1, util/rcu.c")
    def call_rcu_thread(self) -> Iterator[Action]:
        """synchronize_rcu waits for every reader; callbacks run with the BQL and wake drain waiters."""
        d = self.dsp
        readers = [t.rcu for t in self.threads if t.rcu is not None]
        yield from self.action("rcu_grace_period", "call_rcu", (self.rpc == Rcu.GRACE) & all_of(~x for x in readers),
                               Update({self.rpc: Rcu.NEEDBQL}), "call_rcu")
        u = Update({self.rpc: Rcu.IDLE})
        for w, flag in self.rwaits.items():
            u[flag] = FALSE
            if w == Waiter.DISPATCHER:
                u[d.pc] = ite(flag, lit(Dsp.CO_END), d.pc)
                u[d.sched] = ite(flag, d.ctx, d.sched)
            elif w == Waiter.HMP_COROUTINE:
                u[self.hcopc] = ite(flag, lit(HmpCo.END), self.hcopc)
                u[self.hcosched] = flag | self.hcosched
            else:
                t = self.thread(w)
                u[t.pc] = ite(flag, lit(Run.RCU_REACQ), t.pc)
        yield from self.action("rcu_callbacks", "call_rcu", (self.rpc == Rcu.NEEDBQL) & (self.bql == 0), u,
                               "call_rcu")

    @step("AIO_WAIT_WHILE", "vCPU MMIO emulation", ref="§7 A, B")
    def vcpu_mmio(self, t: Thread) -> Iterator[Action]:
        u = Update({self.bql: t.tid, t.nest: Nest.MMIO, t.polls: t.polls - 1})
        if t.rcu is not None:
            u[t.rcu] = TRUE
        g = (t.nest == Nest.NONE) & (t.pc == Run.RUN) & (self.bql == 0) & (t.polls > 0)
        yield from self.action("mmio_nested_poll", t.name, g, u, "", thread=t.tid)
        u = Update({self.bql: 0, t.nest: Nest.NONE})
        if t.rcu is not None:
            u[t.rcu] = FALSE
        g = (t.nest == Nest.MMIO) & (t.pc == Run.RUN) & (self.bql == t.tid) & (self.dsp.sched != Ctx.CONT + t.tid)
        yield from self.action("mmio_return", t.name, g, u, "vcpu", thread=t.tid)

    @step("qapi_event_emit", "with no command in flight", ref="§4; docs/fidelity-ii.md 1a, F2")
    def environment_event(self) -> Iterator[Action]:
        """A job coroutine, the guest or a timer raises an event (JOB_STATUS_CHANGE after
        ``job-complete`` returned, BLOCK_JOB_COMPLETED of a throttled job): broadcast like any
        other, at most ``bounds.env_events`` times, while QEMU runs."""
        assert self.env_left is not None
        g = (self.env_left > 0) & (self.sd == Sd.NONE)
        if self.boot is not None:
            g = g & (self.boot == Boot.RUNNING)
        u = Update({self.env_left: self.env_left - 1})
        self.qapi_event_broadcast(u, 0)
        yield from self.action("env_event", "env", g, u, "env" if self.bounds.fair_env_events else "")

    @step("bdrv_drain", ref="§7 C")
    def bdrv_drain(self) -> Iterator[Action]:
        """The main loop drains: a nested aio_poll(qemu_aio_context) until in_flight == 0."""
        mt = self.main
        not_dsp = self.dsp.sched != Ctx.CONT + Tid.MAIN
        g = (mt.pc == Run.RUN) & (mt.nest == Nest.NONE) & (self.bql == 0) & (self.inflight > 0) & (mt.polls > 0) & not_dsp \
            & self.main_loop_runs()
        yield from self.action("drain_begin", "main", g,
                               Update({mt.nest: Nest.DRAIN, self.bql: Tid.MAIN, mt.polls: mt.polls - 1}))
        g = (mt.pc == Run.RUN) & (mt.nest == Nest.DRAIN) & (self.bql == Tid.MAIN) & (self.inflight == 0) & not_dsp
        yield from self.action("drain_end", "main", g, Update({mt.nest: Nest.NONE, self.bql: 0}), "main")

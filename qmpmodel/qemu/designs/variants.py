"""Design variants: each changes the steps one patch (or one bug) changes.

Every variant is a mixin over :class:`~qmpmodel.qemu.designs.current.QemuCurrent`
written with the same public steps a user's proposal uses. A spec's
``[design]`` axes are shorthand for these classes
(:mod:`qmpmodel.qemu.designs.registry`). Docstrings cite the reference (§) and
the commit or bug they model.
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import FALSE, TRUE, Expr, ite, lit
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Ctx, Dsp, HmpCo, Run, Tid, XShutdown
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.state import Monitor, Thread
from qmpmodel.qemu.steps import Update

# -- the dispatcher's contexts and locks (2020-2024) ------------------------------------------


class HopAll(QemuCurrent):
    """9ce44e2ce2 (Oct 2020 - Jan 2024): the dispatcher hops to qemu_aio_context before every
    request and back after it (§3.4)."""

    def keeps_queue_lock_across_yield(self) -> bool:
        return False

    def hop_before_dispatch(self, t: Thread, u: Update) -> None:
        u[self.dsp.sched] = Ctx.AIO
        u[self.dsp.ctx] = Ctx.AIO
        u[self.dsp.qlock] = lit(self.keeps_queue_lock_across_yield())
        self.end_segment(t, True, u)

    def dispatcher_loop_back(self, t: Thread, u: Update) -> None:
        self.hop_back(t, self.dsp.ctx == Ctx.AIO, u)


class QueueLockAcrossYield(HopAll):
    """Before S. Reiter's 2021 fix: qmp_queue_lock is held across the hop's yield, and
    CHR_EVENT_CLOSED in the main loop blocks on it (bug F)."""

    def keeps_queue_lock_across_yield(self) -> bool:
        return True

    def monitor_qmp_event_closed(self, m: Monitor, actor: str, tg: Expr) -> Iterator[Action]:
        if actor != "main":
            yield from super().monitor_qmp_event_closed(m, actor, tg)
            return
        u = Update()
        self.monitor_qmp_cleanup_queue_and_resume(m, u)
        locked = self.dsp.qlock & (self.dsp.mon == m.idx)
        yield from self.action("closed", actor, tg & m.closing & ~locked, u, "reader", mon=m.idx)
        block = Update({self.main.pc: Run.QLOCK, self.bql: Tid.MAIN})
        yield from self.action("closed_blocks_on_queue_lock", actor, tg & m.closing & locked, block, "main",
                               mon=m.idx)
        after = u.copy()
        after.update({self.main.pc: Run.RUN, self.bql: 0})
        yield from self.action("closed_after_queue_lock", actor, (self.main.pc == Run.QLOCK) & m.closing & ~locked,
                               after, "main", mon=m.idx)


class InbandBhInAioContext(QemuCurrent):
    """2020-2024: do_qmp_dispatch_bh is scheduled in qemu_aio_context, so any nested
    aio_poll may run a handler (root cause of bugs A, B, I)."""

    def handler_bh_ctx(self) -> int:
        return Ctx.AIO


class CoroutineStaysInIohandler(QemuCurrent):
    """A coroutine command runs in iohandler_ctx: the hop skipped (bug C's counterfactual,
    bug H's regression 1f25c172f837)."""

    def coroutine_home_ctx(self) -> int:
        return Ctx.IOH


# -- flow control and disconnects (2018-2019) ---------------------------------------------------


class CommandDropped(QemuCurrent):
    """bf1e7301745a (2018): a request arriving on a full queue (with OOB) is dropped with a
    COMMAND_DROPPED event instead of suspending the monitor (bug D)."""

    def queue_full_refused(self, m: Monitor) -> Expr:
        return m.oob & (m.qlen == self.queue_max)

    def suspend_rule(self, m: Monitor) -> Expr:
        return ~m.oob

    def queue_rule_suspended(self, m: Monitor) -> Expr:
        return ~m.oob & (m.qlen > 0)

    def early_resume(self, m: Monitor, u: Update) -> None:
        pass

    def queue_full_suspends(self) -> bool:
        return False


class ClosedWithoutResume(QemuCurrent):
    """Before W. Bumiller's 2019 fix: CHR_EVENT_CLOSED empties the queue without resuming a
    monitor the queue rule had suspended (bug E)."""

    def closed_resume(self, m: Monitor, u: Update, suspended: Expr) -> None:
        pass


class DiscardStaleReplies(QemuCurrent):
    """The reply of a request whose session ended is discarded (qemu-current-fixed; the 2017
    QmpSession design's cancelled returns, §7 P)."""

    def reply_gate(self, m: Monitor, c: int) -> Expr:
        return m.conn == c + 1


# -- shutdown (2020-2021) ------------------------------------------------------------------


class WithShutdown(QemuCurrent):
    """QEMU may exit during the run: monitor_cleanup is an action (§3.8)."""

    def monitor_cleanup_enabled(self) -> bool:
        return True


class ShutdownCheckWhenIdle(QemuCurrent):
    """Before b248e61652: the dispatcher checks the shutdown flag only when its queues are
    empty, so it keeps executing queued requests (bug L)."""

    def shutdown_check(self, gp: Expr, shut: Expr, active: Expr) -> tuple[Expr, Expr, Expr]:
        return gp & shut & ~active, gp, gp & ~active & ~shut


class WakeWithoutNullCheck(QemuCurrent):
    """Before A. Drobyshev's fix: qmp_dispatcher_co_wake calls aio_co_wake on the exited
    dispatcher (bug M)."""

    def wake_exited_dispatcher(self, u: Update, exited: Expr) -> None:
        u[self.xsd] = self.first_x(self.xsd, exited, XShutdown.WAKE_AFTER_EXIT)


class CleanupStopsIothreadFirst(QemuCurrent):
    """Before c81219a7dd: monitor_cleanup stops the I/O thread before the dispatcher exits
    (bug G b)."""

    def cleanup_before_waiting(self, u: Update) -> None:
        u[self.iostop] = TRUE


class CleanupDestroysMonitorsFirst(QemuCurrent):
    """Before 357bda9590: monitors are destroyed without waiting for the dispatcher (bug G a)."""

    def cleanup_waits_for(self, u: Update) -> Expr:
        pc = self.dsp.pc
        active = (pc != Dsp.WAIT) & (pc != Dsp.EXIT) & (pc != Dsp.POP)
        u[self.xsd] = self.first_x(self.xsd, active, XShutdown.DESTROY_ACTIVE)
        return TRUE


# -- HMP, device_add and nested loops (2023 and environments) ---------------------------------


class HmpSuspendInsteadOfNestedLoop(QemuCurrent):
    """2023 RFC 1/3 (unmerged): an HMP coroutine command suspends the monitor instead of
    spinning a nested event loop."""

    def hmp_coroutine_wait(self, u: Update) -> None:
        u.update({self.hsusp: self.hsusp + 1, self.hbusy: TRUE})

    def hmp_coroutine_done(self, u: Update) -> None:
        u.update({self.hcopc: HmpCo.NONE, self.hsusp: self.hsusp - 1, self.hbusy: False, self.hcokind: 0})

    def hmp_nested_loop_exit(self) -> Iterator[Action]:
        yield from ()


class CoroutineDeviceAdd(QemuCurrent):
    """2023 RFC 2/3 + 3/3 (unmerged): device_add is a coroutine command using drain_call_rcu_co."""

    def coroutine_device_add(self) -> bool:
        return True


class VcpuNestedPoll(QemuCurrent):
    """A vCPU may take the BQL for MMIO emulation and run a nested aio_poll(qemu_aio_context)
    (AIO_WAIT_WHILE in virtio dataplane stop; bug A)."""

    def vcpu_threads(self) -> int:
        return self.bounds.vcpus


class RcuNestedPoll(QemuCurrent):
    """The vCPU's nested poll runs inside an RCU read-side critical section (bug B)."""

    def vcpu_rcu_reader(self) -> bool:
        return True


class MainDrain(QemuCurrent):
    """The main loop may drain the block layer: a nested aio_poll(qemu_aio_context) until
    bs->in_flight is 0 (bug C)."""

    def main_may_drain(self) -> bool:
        return True


class MuxGuarded(QemuCurrent):
    """The HMP monitor is on a mux chardev; the ``mux_out`` flag makes MUX_OUT/MUX_IN
    idempotent (2023 fix)."""

    def mux_switches(self) -> int:
        return self.bounds.mux_switches

    def mux_focus(self) -> Iterator[Action]:
        left = self.hsw > 0
        yield from self.action("mux_out", "mux", left, Update({
            self.hsw: self.hsw - 1, self.hmux: TRUE, self.hsusp: ite(self.hmux, self.hsusp, self.hsusp + 1)}))
        yield from self.action("mux_in", "mux", left, Update({
            self.hsw: self.hsw - 1, self.hmux: False, self.hsusp: ite(self.hmux, self.hsusp - 1, self.hsusp)}))


class MuxClobber(MuxGuarded):
    """Before the 2023 fix: MUX_OUT always increments suspend_cnt and MUX_IN before OPENED
    stores 0 (bug K)."""

    def mux_focus(self) -> Iterator[Action]:
        left = self.hsw > 0
        yield from self.action("mux_out", "mux", left, Update({
            self.hsw: self.hsw - 1, self.hmux: TRUE, self.hsusp: self.hsusp + 1}))
        yield from self.action("mux_in", "mux", left, Update({
            self.hsw: self.hsw - 1, self.hmux: False,
            self.hsusp: ite(~self.hopened, lit(0), ite(self.hmux, self.hsusp - 1, self.hsusp))}))


class NeverOpenedMonitorSkipped(QemuCurrent):
    """The fix of bug X (docs/fidelity-ii.md 1e, F4): a QMP monitor that never received
    CHR_EVENT_OPENED gets no event (``monitor_init_qmp`` sets ``commands`` to
    ``&qmp_cap_negotiation_commands``, or ``monitor_qapi_event_emit`` skips ``commands == NULL``)."""

    def never_opened_gate(self, m: Monitor) -> Expr:
        return FALSE


# -- mutants: one deliberate deviation each, to show a property can fail ------------------------


class EventsInNegotiation(QemuCurrent):
    """Mutant: events also reach monitors still negotiating (forbidden by the QMP spec, §4)."""

    def event_gate(self, m: Monitor) -> Expr:
        return TRUE


class LargeReads(QemuCurrent):
    """monitor_can_read returns more than 1: bytes already read are parsed despite suspension
    (the unmerged 2017/2019/2020 patches, bug R)."""

    def monitor_can_read(self, m: Monitor) -> Expr:
        return TRUE


class SuspendOffByOne(QemuCurrent):
    """Mutant: handle_qmp_command suspends one request later than the queue limit."""

    def suspend_rule(self, m: Monitor) -> Expr:
        return ~m.oob | (m.qlen == self.queue_max)


class PopFromTail(QemuCurrent):
    """Mutant: the dispatcher pops the tail of a monitor's queue (LIFO)."""

    def pop_request(self, m: Monitor, u: Update) -> None:
        d = self.dsp
        qm = self.queue_max
        tail: Expr = m.q[0]
        for j in range(1, qm):
            tail = ite(m.qlen == j + 1, m.q[j], tail)
        u.update({d.req: tail, d.mon: m.idx, d.oob_saved: m.oob, d.busy: TRUE, d.err: False})
        u[d.kind] = self.kind_of_ref(m, u[d.req])
        for j in range(qm):
            u[m.q[j]] = ite(m.qlen == j + 1, lit(0), m.q[j])
        u[m.qlen] = m.qlen - 1


class OobThroughQueue(QemuCurrent):
    """Mutant: exec-oob requests go through the in-band queue, like pre-2018 QEMU."""

    def qmp_is_oob(self, k: str) -> bool:
        return False

    def runs_queued_oob(self, cmd: str) -> bool:
        return cmd == "oob"


class OobWithoutChecks(QemuCurrent):
    """Mutant: qmp_dispatch skips checks 3 and 9 (OOB negotiated, command allows OOB)."""

    def handle_qmp_command_oob(self, m: Monitor, actor: str, g: Expr, r: int, c: int, i: int,
                               k: str) -> Iterator[Action]:
        u = self.pop_input(m, Update({m.lastid: r}))
        u[self.xflag] = self.xflag | ~(m.oob & lit(KINDS[k].command == "oob"))
        self.qmp_send_response(u, c, i, inband=False)
        yield from self.action("read_oob", actor, g, u, "reader", mon=m.idx, req=r, kind=self.kid(k))


class EventDeferred(QemuCurrent):
    """Mutant: an event raised by a handler is emitted later from a BH."""

    def deferred_events(self) -> bool:
        return True

    def handler_event(self, u: Update, c: int, i: int) -> None:
        assert self.evq is not None
        u[self.evq] = self.ref(c, i)

    def deferred_event_actions(self) -> Iterator[Action]:
        assert self.evq is not None
        for m in self.mons:
            for r, c, i in self.refs_of_mon(m.idx):
                u = Update({self.evq: 0})
                self.monitor_qapi_event_emit(u, c, i)
                yield from self.action("deferred_event", "main", self.evq == r, u, "main", req=r)


class NoOobCapability(QemuCurrent):
    """Before 2018: there is no ``oob`` capability; exec-oob is an in-band error."""

    def oob_capability(self) -> bool:
        return False


# -- clients (environment assumptions) -------------------------------------------------------


class ClientRefusesOob(QemuCurrent):
    """Clients do not accept ``oob`` even when offered."""

    def client_accepts_oob(self) -> bool:
        return False


class ClientDoesNotWaitForNegotiation(QemuCurrent):
    """Clients send commands before the qmp_capabilities reply arrives."""

    def client_waits_for_negotiation(self) -> bool:
        return False


class ClientWithoutDiscipline(QemuCurrent):
    """Clients may keep more than queue_max in-band requests in flight."""

    def client_keeps_discipline(self) -> bool:
        return False


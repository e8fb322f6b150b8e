"""monitor_qmp_dispatch / qmp_dispatch and the segments of a request's execution (§3.4-3.5).

After the pop, the dispatcher answers errors itself (parse errors, bad
requests, unknown commands, negotiation mode), runs qmp_capabilities, and for
a command either hops into qemu_aio_context to run a coroutine handler on its
own stack, or schedules the one-shot BH ``do_qmp_dispatch_bh`` and yields
until the BH wakes it. Then it writes the reply, applies the late resume and
loops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qmpmodel.core.expr import FALSE, TRUE, Expr, ite, lit
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import Ctx, Dsp, Waiter
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.parts.output import Output
from qmpmodel.qemu.parts.signals import Signals
from qmpmodel.qemu.state import Monitor, Thread
from qmpmodel.qemu.steps import Update, step

__all__ = ["QmpDispatch"]

_ERROR_FORMS = ("parse-error", "garbage", "nonobject")


class QmpDispatch(Output, Signals):
    """qmp_dispatch's checks, the handler's context, the reply and the late resume."""

    # -- command classes ---------------------------------------------------------------
    @step("qmp_register_command", "QCO_COROUTINE", ref="§6.1", commit="04f22362f1")
    def is_coroutine_command(self, cmd: str) -> bool:
        """Coroutine commands run on the dispatcher's stack (block_resize, screendump)."""
        return cmd in ("coroutine", "hang") or (cmd == "device_add" and self.coroutine_device_add())

    @step("qmp_dispatch", "hop into the coroutine's context", ref="§3.5, §7 C, H", commit="effd60c878, 719c6819ed")
    def coroutine_home_ctx(self) -> int:
        """A coroutine command runs in qemu_aio_context (the hop in qmp_dispatch)."""
        return Ctx.AIO

    @step("qmp_dispatch", "AioContext of do_qmp_dispatch_bh", ref="§3.5", commit="effd60c878")
    def handler_bh_ctx(self) -> int:
        """Non-coroutine handlers run from a one-shot BH in iohandler_ctx (effd60c8)."""
        return Ctx.IOH

    @step("qmp_dispatch", "exec-oob in the queue", ref="§3.3")
    def runs_queued_oob(self, cmd: str) -> bool:
        """Whether an ``exec-oob`` request that reached the queue runs its handler (never today)."""
        return False

    def offers_oob(self, m: Monitor) -> bool:
        """``capab_offered[OOB] = use_io_thread`` (§3.1)."""
        return self.oob_capability() and m.iothread

    def handler_event_counts(self, cmd: str) -> list[int | None]:
        """How many events (F1) a handler of class ``cmd`` may raise: ``[None]`` when the spec
        allows none (the action keeps its label), else 0..``bounds.events_per_command``. A
        blocked handler or drain_call_rcu finishes in a per-thread step that raises none."""
        if self.bounds.events_per_command == 0 or cmd in ("blocking", "device_add", "hang"):
            return [None]
        return list(range(self.bounds.events_per_command + 1))

    @step("qapi_event_emit", "0..n events from any handler", ref="§4; docs/fidelity-ii.md 1a, F1")
    def handler_raises_events(self, u: Update, c: int, i: int, n: int) -> None:
        """The handler raises ``n`` events before it returns (job_start's JOB_STATUS_CHANGE,
        vm_stop's STOP, an export's BLOCK_EXPORT_DELETED), each written at once."""
        for _ in range(n):
            self.monitor_qapi_event_emit(u, c, i)

    # -- the dispatch --------------------------------------------------------------------
    def qmp_dispatch_actions(self, t: Thread, g: Expr, top: bool, params: dict[str, int]) -> Iterator[Action]:
        d = self.dsp
        for m in self.mons:
            for r, c, i in self.refs_of_mon(m.idx):
                for k in self.kinds_for(c, i):
                    kg = g & (d.req == r) & (d.kind == self.kid(k))
                    p = dict(params, req=r, kind=self.kid(k))
                    yield from self.qmp_dispatch(m, t, kg, top, p, c, i, k)

    @step("monitor_qmp_dispatch", ref="§3.4 step 5, §3.5", commit="9ce44e2ce2")
    def qmp_dispatch(self, m: Monitor, t: Thread, kg: Expr, top: bool, p: dict[str, int], c: int, i: int,
                     k: str) -> Iterator[Action]:
        d = self.dsp
        kind = KINDS.get(k)
        form = kind.form if kind else "execute"
        cmd = kind.command if kind else "caps"
        gd = kg & (d.pc == Dsp.DISPATCH)
        if form in _ERROR_FORMS or cmd == "invalid" or (form == "exec-oob" and not self.runs_queued_oob(cmd)):
            # errors answered by the dispatcher itself, no handler (§3.4 step 5); parse
            # errors and non-objects carry no id (§3.6)
            u = self.base_update()
            self.dispatcher_reply(u, m, c, i, cls="GenericError", has_id=form == "exec-oob" or cmd == "invalid")
            self.finish(m, t, top, u)
            yield from self.action("dispatch_error", t.name, gd, u, "dispatcher", **p)
            return
        if cmd == "caps":
            yield from self.qmp_capabilities(m, t, gd, top, p, c, i, k)
            return
        # negotiation mode: only qmp_capabilities exists (§3.1 step 2); an unknown
        # command is CommandNotFound in either mode (check 6)
        u = self.base_update()
        self.dispatcher_reply(u, m, c, i, cls="CommandNotFound")
        self.finish(m, t, top, u)
        yield from self.action("dispatch_not_found", t.name, gd & (~m.mode | lit(cmd == "unknown")), u,
                               "dispatcher", **p)
        if cmd == "unknown":
            return
        gd = gd & m.mode
        if self.is_coroutine_command(cmd):
            yield from self.qmp_dispatch_coroutine(t, gd, top, p)
        else:
            yield from self.qmp_dispatch_bh(t, gd, top, p)
        yield from self.dispatcher_after_handler(m, t, kg, top, p, c, i, k, cmd)

    def dispatcher_reply(self, u: Update, m: Monitor, c: int, i: int, **kw: Any) -> None:
        """monitor_qmp_dispatch writes the reply of the request the dispatcher serves."""
        self.qmp_send_response(u, c, i, gate=self.dispatcher_reply_gate(m), **kw)

    @step("monitor_qmp_dispatch", "whether to write the reply", ref="§3.8, §7 P")
    def dispatcher_reply_gate(self, m: Monitor) -> Expr:
        """Current QEMU always writes it, whatever session is connected now."""
        return TRUE

    def base_update(self) -> Update:
        """Every segment after the pop has released qmp_queue_lock."""
        return Update({self.dsp.qlock: FALSE})

    @step("qmp_qmp_capabilities", ref="§3.1 step 3, monitor/qmp-cmds-control.c")
    def qmp_capabilities(self, m: Monitor, t: Thread, gd: Expr, top: bool, p: dict[str, int], c: int, i: int,
                         k: str) -> Iterator[Action]:
        if k == "caps-bad":
            # an unknown capability fails argument checking (check 11) in either mode;
            # nothing changes (QEMU 7.2 transcript "negotiate")
            u = self.base_update()
            self.dispatcher_reply(u, m, c, i, cls="GenericError")
            self.finish(m, t, top, u)
            yield from self.action("dispatch_capabilities_bad", t.name, gd, u, "dispatcher", **p)
            return
        # in command mode already, it is CommandNotFound and changes nothing
        wants = {"qmp_capabilities": self.client_accepts_oob(), "caps": True, "caps-nooob": False,
                 "caps-async": False}[k]
        u = self.base_update()
        u[m.mode] = TRUE
        u[m.oob] = lit(bool(wants and self.offers_oob(m)))
        self.other_capabilities(u, m, k)
        self.dispatcher_reply(u, m, c, i, negotiated=True)
        self.finish(m, t, top, u)
        yield from self.action("dispatch_capabilities", t.name, gd & ~m.mode, u, "dispatcher", **p)
        u = self.base_update()
        self.dispatcher_reply(u, m, c, i, cls="CommandNotFound")
        self.finish(m, t, top, u)
        yield from self.action("dispatch_capabilities_again", t.name, gd & m.mode, u, "dispatcher", **p)

    @step("qmp_qmp_capabilities", "capabilities other than oob", ref="§3.1 step 3; docs/fidelity-ii.md 1f")
    def other_capabilities(self, u: Update, m: Monitor, k: str) -> None:
        """Current QEMU offers only ``oob`` (the 2017 design's ``async`` is a design of its own)."""

    @step("monitor_qmp_dispatch", "write the reply of an in-band request", ref="§3.4 step 5, §3.7")
    def qmp_return(self, u: Update, m: Monitor, c: int, i: int, k: str, cmd: str) -> None:
        """The reply is written as the handler returns (the 2017 designs defer or order it)."""
        self.dispatcher_reply(u, m, c, i, after_event=cmd == "event", may_fail=True, has_id=KINDS[k].has_id)

    @step("qmp_dispatch", "coroutine command: hop to its context", ref="§3.5", commit="effd60c878")
    def qmp_dispatch_coroutine(self, t: Thread, gd: Expr, top: bool, p: dict[str, int]) -> Iterator[Action]:
        d = self.dsp
        target = self.coroutine_home_ctx()
        u = self.base_update()
        u[d.pc] = Dsp.CO_START
        hop = ite(d.ctx != target, TRUE, FALSE)
        u[d.ctx] = target
        u[d.sched] = ite(hop, lit(target), lit(Ctx.CONT + t.tid))
        u[self.bql] = ite(hop, self.release_bql(t), lit(t.tid))
        yield from self.action("dispatch_coroutine", t.name, gd, u, "dispatcher", **p)

    @step("qmp_dispatch", "non-coroutine command: schedule do_qmp_dispatch_bh and yield", ref="§3.5",
          commit="effd60c878")
    def qmp_dispatch_bh(self, t: Thread, gd: Expr, top: bool, p: dict[str, int]) -> Iterator[Action]:
        u = self.base_update()
        u[self.dsp.pc] = Dsp.BH
        u[self.dsp.sched] = 0
        u[self.bhctx] = self.handler_bh_ctx()
        self.end_segment(t, True, u)
        yield from self.action("dispatch_bh", t.name, gd, u, "dispatcher", **p)

    @step("monitor_qmp_dispatcher_co", "after the handler: reply, resume, loop", ref="§3.4 steps 5-6")
    def dispatcher_after_handler(self, m: Monitor, t: Thread, kg: Expr, top: bool, p: dict[str, int], c: int,
                                 i: int, k: str, cmd: str) -> Iterator[Action]:
        d = self.dsp
        u = Update()
        if cmd == "noreply":
            self.no_reply(u, c, i, lost=False)
        else:
            # a main-loop event (cmd "request") precedes the reply unless a shutdown overtook the
            # request: monitor_cleanup runs the handler BH and no main_loop_should_exit follows
            self.qmp_return(u, m, c, i, k, cmd)
        self.finish(m, t, top, u)
        yield from self.action("dispatcher_reply", t.name, kg & (d.pc == Dsp.REPLY), u, "dispatcher", **p)
        if cmd in ("coroutine", "hang", "device_add"):
            yield from self.coroutine_handler(m, t, kg, top, p, c, i, k, cmd)

    @step("qmp_dispatch", "coroutine handler: start, yield, finish, hop back", ref="§3.5")
    def coroutine_handler(self, m: Monitor, t: Thread, kg: Expr, top: bool, p: dict[str, int], c: int, i: int,
                          k: str, cmd: str) -> Iterator[Action]:
        d = self.dsp
        # the handler starts in the context the dispatcher is in now
        u = Update()
        self.nested_flag(t, self.xnestco, u)
        if cmd == "coroutine":
            u.update({self.inflight: self.inflight + 1, self.io: TRUE})
        elif cmd == "device_add":
            self.drain_call_rcu_enqueue(Waiter.DISPATCHER, u)
        u[d.pc] = Dsp.CO_WAIT
        u[d.sched] = 0
        self.end_segment(t, True, u)
        yield from self.action("coroutine_start", t.name, kg & (d.pc == Dsp.CO_START), u, "dispatcher", **p)
        # resumed after the I/O or RCU wait: finish, hop back to iohandler_ctx (§3.5)
        for n in self.handler_event_counts(cmd):
            u = Update()
            self.nested_flag(t, self.xnestco, u)
            if n:
                self.handler_raises_events(u, c, i, n)
            if cmd == "coroutine":
                u[self.inflight] = self.inflight - 1
            u[d.pc] = Dsp.AFTER
            self.hop_back(t, d.ctx != Ctx.IOH, u)
            more = {} if n is None else {"events": n}
            yield from self.action("coroutine_end", t.name, kg & (d.pc == Dsp.CO_END), u, "dispatcher", **p, **more)
        # back in iohandler_ctx: monitor_qmp_dispatch writes the reply
        u = Update()
        self.qmp_return(u, m, c, i, k, cmd)
        self.finish(m, t, top, u)
        yield from self.action("dispatcher_reply", t.name, kg & (d.pc == Dsp.AFTER), u, "dispatcher", after=1, **p)

    # -- after the request -----------------------------------------------------------------
    def finish(self, m: Monitor, t: Thread, top: bool, u: Update) -> None:
        """Late resume, then loop to the next pop."""
        self.late_resume(m, u)
        u[self.dsp.pc] = Dsp.POP
        self.dispatcher_loop_back(t, u)

    @step("monitor_qmp_dispatcher_co", "late resume", ref="§3.4 step 6", commit="9ce44e2ce2")
    def late_resume(self, m: Monitor, u: Update) -> None:
        """Without OOB (saved at pop) the monitor was suspended for this request: resume it."""
        self.monitor_resume(m, u, ~self.dsp.oob_saved)

    @step("monitor_qmp_dispatcher_co", "loop to the next pop", ref="§3.4", commit="effd60c878")
    def dispatcher_loop_back(self, t: Thread, u: Update) -> None:
        """The dispatcher continues on the same thread (it stays in iohandler_ctx)."""
        self.end_segment(t, False, u)

"""The 2017 async-commands design (Marc-André Lureau, 2016-2019, never merged): F6.

docs/fidelity-ii.md 1f. A command marked ``'async': true`` (QCT_ASYNC) gets a
handler that registers a pending ``QmpReturn`` and returns at once: the
dispatcher goes on with the next request while the operation runs, and a
completion writes the reply later. Two versions differ in when the reply goes
out:

* **protocol-2017** (v1/v2, "QmpClient"): ``qmp_return`` writes it at once,
  so it may overtake replies of requests sent after it; clients match replies
  by ``id``. The return is deferred for a client that negotiated the ``async``
  capability (``caps-async``, or the first ``qmp_capabilities`` when clients
  accept it); for a client without it the design is unverified (the stored
  sources do not show it), and the model answers it at once, as today.
* **orderly-2019** (v3-v6, "QmpSession", not protocol-visible): every in-band
  return joins the session's ``pending`` queue; ``qmp_return_orderly`` writes
  the finished returns at the head of the queue up to the first unfinished
  one, so in-band replies keep their issue order; an OOB return is written at
  once.

In both, destroying the session (CHR_EVENT_CLOSED) detaches its pending
returns: a late return is dropped and never reaches a later session (unlike
current QEMU's bug P). The queue of pending returns is the monitor's
``mon{m}.async{j}`` slots (request refs, oldest first); orderly-2019 adds a
``finished`` flag per slot, protocol-2017 the negotiated ``async`` flag.
Not modelled: the "An async command requires an 'id'" error (the model's
async kind always carries an id) and ``qmp_return_is_cancelled``.
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import FALSE, TRUE, Expr, StateLayout, Var, all_of, ite, lit
from qmpmodel.core.model import Action
from qmpmodel.qemu.designs.variants import DiscardStaleReplies
from qmpmodel.qemu.state import Monitor
from qmpmodel.qemu.steps import Update, step

__all__ = ["AsyncReturnsOrderly2019", "AsyncReturnsProtocol2017"]


class AsyncReturns(DiscardStaleReplies):
    """What both versions share: the pending-returns queue, async handlers, session destroy."""

    def async_slots(self) -> int:
        # one session per monitor at a time, and its queue is emptied when it closes
        return self.NR

    # -- the pending-returns queue ----------------------------------------------------------
    def deferred(self, m: Monitor) -> Expr:  # pragma: no cover - each version defines it
        """Whether an async command of ``m``'s session gets a deferred return."""
        raise NotImplementedError

    def queue_append(self, u: Update, m: Monitor, r: int, when: Expr, finished: Expr = FALSE) -> None:
        """Append ref ``r`` to ``m``'s pending returns (the first free slot) when ``when``."""
        for j, slot in enumerate(m.ap):
            first_free = all_of([slot == 0, *(m.ap[x] != 0 for x in range(j))])
            u[slot] = ite(when & first_free, lit(r), u[slot])

    def queue_remove(self, u: Update, m: Monitor, j: int) -> None:
        """Remove slot ``j``: later entries move up, keeping their order."""
        n = len(m.ap)
        for x in range(j, n):
            u[m.ap[x]] = m.ap[x + 1] if x + 1 < n else lit(0)

    # -- steps --------------------------------------------------------------------------------
    @step("qmp_dispatch", "QCT_ASYNC: register a pending QmpReturn", ref="docs/fidelity-ii.md 1f, F6")
    def qmp_async_return_pending(self, u: Update, c: int, i: int) -> None:
        """The handler links a QmpReturn into the session's pending list and returns."""
        m = self.mons[self.clients[c].mon]
        self.queue_append(u, m, self.ref(c, i), self.deferred(m))

    @step("qmp_session_destroy", "detach pending returns", ref="docs/fidelity-ii.md 1f")
    def monitor_qmp_cleanup_queue_and_resume(self, m: Monitor, u: Update) -> None:
        """CHR_EVENT_CLOSED destroys the session: its pending returns are detached (dropped later)."""
        super().monitor_qmp_cleanup_queue_and_resume(m, u)
        for slot in m.ap:
            u[slot] = 0

    def environment_extra(self) -> Iterator[Action]:
        yield from super().environment_extra()
        yield from self.async_completions()

    def async_completions(self) -> Iterator[Action]:  # pragma: no cover - each version defines it
        raise NotImplementedError

    def pending_async(self, m: Monitor) -> Expr:
        """How many async commands of ``m`` still run (their return is pending)."""
        out: Expr = lit(0)
        for slot in m.ap:
            out = out + ite(slot != 0, lit(1), lit(0))
        return out

    def inband_in_progress(self) -> Expr:
        """The dispatcher's request, and every async command whose return is pending: the design
        runs in-band commands concurrently (inband-mutual-exclusion is violated by design)."""
        count = super().inband_in_progress()
        for m in self.mons:
            count = count + self.pending_async(m)
        return count


class AsyncReturnsProtocol2017(AsyncReturns):
    """v1/v2: deferred returns written as they complete, for clients that negotiated ``async``."""

    title = "2017 async commands (deferred returns, protocol-visible)"

    def async_returns(self) -> str:
        return "protocol-2017"

    def client_accepts_async(self) -> bool:
        """Clients accept ``async`` in their first qmp_capabilities (an environment assumption)."""
        return True

    def declare_extra(self, layout: StateLayout) -> None:
        super().declare_extra(layout)
        self.async_cap: dict[int, Var] = {m.idx: layout.bool(f"mon{m.idx}.async_negotiated") for m in self.mons}

    def deferred(self, m: Monitor) -> Expr:
        return self.async_cap[m.idx]

    def qmp_return(self, u: Update, m: Monitor, c: int, i: int, k: str, cmd: str) -> None:
        if cmd != "async2017":
            super().qmp_return(u, m, c, i, k, cmd)
            return
        # a deferred return is written by its completion; without ``async`` (or once a new session
        # reset the capabilities) the dispatcher writes it now, and a stale one is discarded
        self.qmp_send_response(u, c, i, may_fail=True, gate=all_of([self.dispatcher_reply_gate(m),
                                                                      ~self.async_cap[m.idx]]))

    def other_capabilities(self, u: Update, m: Monitor, k: str) -> None:
        wants = k == "caps-async" or (k == "qmp_capabilities" and self.client_accepts_async())
        u[self.async_cap[m.idx]] = lit(wants)

    def monitor_qmp_event_opened(self, m: Monitor, u: Update, when: Expr = TRUE) -> None:
        super().monitor_qmp_event_opened(m, u, when)
        cap = self.async_cap[m.idx]
        u[cap] = ite(when, FALSE, cap)

    @step("qmp_return", "the operation completes", ref="docs/fidelity-ii.md 1f (v1/v2)")
    def async_completions(self) -> Iterator[Action]:
        """A completion writes its reply at once, whatever is pending before it."""
        for m in self.mons:
            for r, c, i in self.refs_of_mon(m.idx):
                for j, slot in enumerate(m.ap):
                    u = Update()
                    self.queue_remove(u, m, j)
                    self.qmp_send_response(u, c, i, may_fail=True)
                    yield from self.action("async_return", "env", slot == r, u, self.fair_env(), mon=m.idx,
                                           req=r, slot=j)


class AsyncReturnsOrderly2019(AsyncReturns):
    """v3-v6: every in-band return is queued and written in issue order (qmp_return_orderly)."""

    title = "2019 async commands (orderly returns, not protocol-visible)"

    def async_returns(self) -> str:
        return "orderly-2019"

    def declare_extra(self, layout: StateLayout) -> None:
        super().declare_extra(layout)
        self.ret_done: dict[int, list[Var]] = {
            m.idx: [layout.bool(f"mon{m.idx}.return_finished{j}") for j in range(len(m.ap))] for m in self.mons}

    def deferred(self, m: Monitor) -> Expr:
        return TRUE  # not protocol-visible: every async command's return is queued

    def queue_append(self, u: Update, m: Monitor, r: int, when: Expr, finished: Expr = FALSE) -> None:
        done = self.ret_done[m.idx]
        for j, slot in enumerate(m.ap):
            first_free = all_of([slot == 0, *(m.ap[x] != 0 for x in range(j))])
            u[slot] = ite(when & first_free, lit(r), u[slot])
            u[done[j]] = ite(when & first_free, finished, u[done[j]])

    def queue_remove(self, u: Update, m: Monitor, j: int) -> None:
        super().queue_remove(u, m, j)
        done, n = self.ret_done[m.idx], len(m.ap)
        for x in range(j, n):
            u[done[x]] = done[x + 1] if x + 1 < n else FALSE

    def dispatcher_reply(self, u: Update, m: Monitor, c: int, i: int, **kw: object) -> None:
        """qmp_return_orderly for an in-band return that finishes now: written at once when nothing
        is pending before it, else queued as finished (every reply the dispatcher writes)."""
        empty = m.ap[0] == 0
        gate = all_of([self.dispatcher_reply_gate(m), empty])
        self.qmp_send_response(u, c, i, gate=gate, **kw)  # type: ignore[arg-type]
        self.queue_append(u, m, self.ref(c, i), ~empty, TRUE)

    def qmp_return(self, u: Update, m: Monitor, c: int, i: int, k: str, cmd: str) -> None:
        if cmd != "async2017":  # an async command's return was queued by its handler
            super().qmp_return(u, m, c, i, k, cmd)

    def monitor_qmp_cleanup_queue_and_resume(self, m: Monitor, u: Update) -> None:
        super().monitor_qmp_cleanup_queue_and_resume(m, u)
        for flag in self.ret_done[m.idx]:
            u[flag] = FALSE

    @step("qmp_return_orderly", ref="docs/fidelity-ii.md 1f (v3-v6)")
    def async_completions(self) -> Iterator[Action]:
        """A completion marks its return finished; the finished return at the head of the queue
        is written (one per step, in order)."""
        for m in self.mons:
            done = self.ret_done[m.idx]
            for r, c, i in self.refs_of_mon(m.idx):
                for j, slot in enumerate(m.ap):
                    u = Update({done[j]: TRUE})
                    yield from self.action("async_return", "env", (slot == r) & ~done[j], u, self.fair_env(),
                                           mon=m.idx, req=r, slot=j)
                u = Update()
                self.queue_remove(u, m, 0)
                self.qmp_send_response(u, c, i, may_fail=True)
                yield from self.action("return_orderly", "main", (m.ap[0] == r) & done[0], u, "main",
                                       mon=m.idx, req=r)

    def pending_async(self, m: Monitor) -> Expr:
        out: Expr = lit(0)
        for slot, flag in zip(m.ap, self.ret_done[m.idx], strict=True):
            out = out + ite((slot != 0) & ~flag, lit(1), lit(0))
        return out

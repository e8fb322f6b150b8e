"""The QEMU model's state records: the variables of one component each.

A design reads and writes state through these records (``m.qlen``,
``self.dsp.pc``, ``cl.sent``): the encoding is the model's own business;
nothing outside :mod:`qmpmodel.qemu` reads it (properties read probes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qmpmodel.core.expr import Var

__all__ = ["Client", "DispatcherState", "Monitor", "Thread"]


@dataclass
class Monitor:
    """A QMP monitor (``MonitorQMP``, §2.2) and its chardev input."""

    idx: int
    iothread: bool
    clients: list[int]
    conn: Var  #: the connected session: client index + 1, 0 when none
    mode: Var  #: command mode (``commands == &qmp_commands``)
    oob: Var  #: ``capab[OOB]`` accepted
    susp: Var  #: ``suspend_cnt``
    qlen: Var  #: length of ``qmp_requests``
    q: list[Var]  #: the request queue, head first (request refs, 0 = empty)
    inlen: Var  #: messages written by the client, not yet parsed
    inq: list[Var]  #: those messages, oldest first
    perr: Var  #: the JSON streamer is recovering from an error (bug T)
    closing: Var  #: CHR_EVENT_CLOSED is pending
    accept: Var  #: a monitor_accept_input BH is scheduled
    pos: Var  #: position in ``mon_list`` (round robin, §3.4)
    lastid: Var  #: the last request the reader handed over (2010 async ids)
    ap: list[Var] = field(default_factory=list)  #: 2010: pending cmd_async requests
    #: F4, a monitor on a mux chardev: CHR_EVENT_OPENED was delivered once (``commands != NULL``)
    opened: Var | None = None
    #: F4: monitor_qmp_setup_handlers_bh ran (the monitor is on ``mon_list``, the mux reads in the I/O thread)
    listed: Var | None = None

    @property
    def on_mux(self) -> bool:
        return self.opened is not None


@dataclass
class Client:
    """A client session on one monitor, and what it observed (the history)."""

    idx: int
    mon: int
    st: Var  #: :class:`~qmpmodel.qemu.codes.ClientSt`
    sent: Var  #: requests written so far
    kind: list[Var | None]  #: the kind of each request (seq 0: qmp_capabilities, no var)
    ans: list[Var]  #: answered (or resolved without a reply) per request
    last: Var  #: highest seq of an in-band reply received
    lasta: Var  #: highest seq of any reply received
    ev: list[Var]  #: per request: its handler's event was received
    x_cross: Var  #: received a reply to another session's request
    x_dup: Var  #: received a second reply to a request
    x_order: Var  #: an in-band reply arrived after a later one
    x_order_all: Var  #: any reply arrived after a later one
    x_id: Var  #: a reply carried another request's id
    x_lost: Var  #: a request of the live session will never be answered
    x_negev: Var  #: an event arrived before negotiation completed
    x_evorder: Var  #: a reply arrived before its handler's event


@dataclass
class Thread:
    """A thread that takes the BQL and polls main-loop AioContexts."""

    tid: int
    name: str
    pc: Var  #: :class:`~qmpmodel.qemu.codes.Run`
    nest: Var  #: :class:`~qmpmodel.qemu.codes.Nest`
    polls: Var  #: nested polls left
    rcu: Var | None  #: inside an RCU read-side critical section


@dataclass
class DispatcherState:
    """``qmp_dispatcher_co`` and the request it is serving (§3.4)."""

    pc: Var  #: :class:`~qmpmodel.qemu.codes.Dsp`
    sched: Var  #: :class:`~qmpmodel.qemu.codes.Ctx` where it is scheduled
    ctx: Var  #: its home AioContext
    busy: Var  #: ``qmp_dispatcher_co_busy``
    req: Var  #: the request being served
    kind: Var  #: its kind id
    mon: Var  #: its monitor
    oob_saved: Var  #: ``oob_enabled`` saved at pop (§3.4 step 2)
    err: Var  #: unused by current QEMU (kept for the state layout)
    qlock: Var  #: holds qmp_queue_lock (bug F)

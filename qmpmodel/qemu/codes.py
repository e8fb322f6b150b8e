"""The QEMU model's enumerations: program counters, AioContexts, thread ids.

Only the QEMU model uses these codes; everything outside it reads probes
(:mod:`qmpmodel.qemu.probes`). Each member names the QEMU state it stands for.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Boot", "ClientSt", "Ctx", "Dsp", "HmpCo", "IoOwner", "Nest", "Rcu", "Run", "Sd", "Tid", "Waiter", "XShutdown"]


class Tid(IntEnum):
    """Who holds the BQL (``bql``), who a BH or coroutine runs on. vCPU i is ``VCPU0 + i``;
    the call_rcu thread's id follows the vCPUs."""

    NONE = 0  #: nobody
    MAIN = 1  #: the main loop thread
    IOT = 2  #: the monitor I/O thread (never holds the BQL)
    VCPU0 = 3  #: the first vCPU thread


class Ctx(IntEnum):
    """Where the dispatcher coroutine or a BH is scheduled."""

    NONE = 0  #: not scheduled
    IOH = 1  #: iohandler_ctx: polled only by the main loop proper (§1.2)
    AIO = 2  #: qemu_aio_context: also polled by every nested aio_poll (§1.2)
    CONT = 10  #: ``CONT + tid``: continues running on thread tid (it holds the BQL)


class Run(IntEnum):
    """A BQL-taking thread's program counter."""

    RUN = 0  #: running its loop
    BLOCKED = 1  #: blocked inside a handler (FIFO open of blockdev-add, qmp-test.c)
    RCU_WAIT = 2  #: inside drain_call_rcu, BQL dropped, waiting for call_rcu
    RCU_REACQ = 3  #: drain_call_rcu returned, needs the BQL back
    QLOCK = 4  #: CHR_EVENT_CLOSED blocked on qmp_queue_lock (bug F)
    DEAD = 5  #: exited (main thread after monitor_cleanup)


class Nest(IntEnum):
    """Why a thread is inside a nested event loop."""

    NONE = 0  #: top level
    DRAIN = 1  #: bdrv drain: aio_poll(qemu_aio_context) until in_flight == 0
    HMPLOOP = 2  #: HMP coroutine command's AIO_WAIT_WHILE (§5)
    CLEANUP = 3  #: monitor_cleanup's AIO_WAIT_WHILE (§3.8)
    MMIO = 4  #: a vCPU's AIO_WAIT_WHILE during MMIO emulation (bug A)


class Dsp(IntEnum):
    """The dispatcher coroutine's program counter (monitor_qmp_dispatcher_co, §3.4)."""

    WAIT = 0  #: yielded, all queues empty
    POP = 1  #: scheduled or running: about to pop (monitor_qmp_dispatcher_pop_any)
    DISPATCH = 2  #: popped a request: qmp_dispatch next
    BH = 3  #: yielded until do_qmp_dispatch_bh wakes it
    REPLY = 4  #: the handler finished: write the reply
    CO_START = 5  #: a coroutine command is about to start its handler
    CO_WAIT = 6  #: the coroutine handler yielded (I/O or drain_call_rcu_co)
    CO_END = 7  #: the coroutine handler is about to finish
    AFTER = 8  #: back from the coroutine handler: write the reply
    EXIT = 9  #: terminated (qmp_dispatcher_co = NULL)


class ClientSt(IntEnum):
    """A client session's state."""

    NEW = 0  #: not connected yet (or, on a mux chardev, connected before the greeting: F4)
    NEG = 1  #: connected, capabilities negotiation mode
    READY = 2  #: command mode (qmp_capabilities succeeded)
    GONE = 3  #: disconnected


class Rcu(IntEnum):
    """The call_rcu thread (util/rcu.c)."""

    IDLE = 0  #: no callbacks queued
    GRACE = 1  #: synchronize_rcu: waiting for readers
    NEEDBQL = 2  #: running callbacks: needs the BQL


class Waiter(IntEnum):
    """drain_call_rcu waiters other than threads (threads use their Tid)."""

    DISPATCHER = 20  #: drain_call_rcu_co in the dispatcher's coroutine command
    HMP_COROUTINE = 21  #: drain_call_rcu_co in the HMP command coroutine


class IoOwner(IntEnum):
    """Whose I/O request completes in ``io_complete``."""

    DISPATCHER = 1  #: the QMP coroutine command
    HMP_COROUTINE = 2  #: the HMP coroutine command


class HmpCo(IntEnum):
    """The HMP command coroutine (handle_hmp_command, §5)."""

    NONE = 0  #: no coroutine command
    START = 1  #: created, scheduled in qemu_aio_context
    WAIT = 2  #: yielded (I/O or drain_call_rcu_co)
    END = 3  #: about to finish
    DONE = 4  #: finished; the nested loop may exit


class Sd(IntEnum):
    """monitor_cleanup (QEMU exit, §3.8)."""

    NONE = 0  #: running
    REQ = 1  #: qmp_dispatcher_co_shutdown set; waiting for the dispatcher to exit
    DONE = 2  #: monitors destroyed


class XShutdown(IntEnum):
    """The first shutdown-safety violation seen (a ghost variable for bugs G, L, M)."""

    NONE = 0  #: none
    DEQ_AFTER_SHUTDOWN = 1  #: a request was dequeued after shutdown was requested (bug L)
    WAKE_AFTER_EXIT = 2  #: aio_co_wake of the exited dispatcher (bug M)
    BH_AFTER_IOSTOP = 3  #: a BH scheduled in the stopped I/O thread (bug G b)
    DESTROY_ACTIVE = 4  #: monitors destroyed while the dispatcher was active (bug G a)


class Boot(IntEnum):
    """How far qemu_init got (softmmu/vl.c), modelled only with a monitor on a mux chardev (1e of
    docs/fidelity-ii.md): the main loop runs only once ``qemu_init`` returned."""

    INIT = 0  #: qemu_init: monitors created, mux chardevs not opened (suspend_mux_open, vl.c:3543)
    CONT = 1  #: qmp_x_exit_preconfig called qmp_cont (autostart, vl.c:2631): RESUME raised
    RUNNING = 2  #: resume_mux_open (vl.c:3614) delivered CHR_EVENT_OPENED; the main loop runs

"""What each value of the model's variables means, in QEMU's and the client's terms.

Renderings show ``dsp.pc: popped: qmp_dispatch next (2) → coroutine handler
yielded (6)`` instead of ``2 → 6``: every coded variable gets labels here,
right after it is declared (:meth:`~qmpmodel.qemu.harness.Harness.declare`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qmpmodel.qemu.codes import Boot, ClientSt, Ctx, Dsp, HmpCo, Nest, Rcu, Run, Sd, Tid, XShutdown
from qmpmodel.qemu.probes import HISTORY

if TYPE_CHECKING:
    from qmpmodel.qemu.declare import Declarations

__all__ = ["label_variables"]

DSP = {
    Dsp.WAIT: "idle in qmp_dispatcher_co (queues empty)",
    Dsp.POP: "about to pop (monitor_qmp_dispatcher_pop_any)",
    Dsp.DISPATCH: "popped a request: qmp_dispatch next",
    Dsp.BH: "yielded until do_qmp_dispatch_bh wakes it",
    Dsp.REPLY: "handler done: writing the reply",
    Dsp.CO_START: "coroutine handler about to start",
    Dsp.CO_WAIT: "coroutine handler yielded",
    Dsp.CO_END: "coroutine handler finishing",
    Dsp.AFTER: "back from the coroutine handler: writing the reply",
    Dsp.EXIT: "exited (qmp_dispatcher_co = NULL)",
}
RUN = {
    Run.RUN: "running", Run.BLOCKED: "blocked inside a handler", Run.RCU_WAIT: "in drain_call_rcu, BQL dropped",
    Run.RCU_REACQ: "drain_call_rcu returned, needs the BQL", Run.QLOCK: "blocked on qmp_queue_lock",
    Run.DEAD: "exited",
}
NEST = {
    Nest.NONE: "top level", Nest.DRAIN: "inside a drain (nested aio_poll)",
    Nest.HMPLOOP: "inside the HMP command's nested loop", Nest.CLEANUP: "inside monitor_cleanup's AIO_WAIT_WHILE",
    Nest.MMIO: "inside MMIO emulation's nested aio_poll",
}
CLIENT = {ClientSt.NEW: "not connected (or connected before the greeting, F4)", ClientSt.NEG: "negotiating",
          ClientSt.READY: "command mode", ClientSt.GONE: "disconnected"}
BOOT = {Boot.INIT: "qemu_init: mux chardevs not opened", Boot.CONT: "autostart's qmp_cont done (RESUME raised)",
        Boot.RUNNING: "resume_mux_open done: the main loop runs"}
RCU = {Rcu.IDLE: "idle", Rcu.GRACE: "waiting for a grace period", Rcu.NEEDBQL: "running callbacks (needs the BQL)"}
HMPCO = {HmpCo.NONE: "none", HmpCo.START: "scheduled in qemu_aio_context", HmpCo.WAIT: "yielded",
         HmpCo.END: "finishing", HmpCo.DONE: "finished"}
SD = {Sd.NONE: "running", Sd.REQ: "monitor_cleanup waits for the dispatcher", Sd.DONE: "monitors destroyed"}
XSD = {XShutdown.NONE: "none", XShutdown.DEQ_AFTER_SHUTDOWN: "a request dequeued after shutdown",
       XShutdown.WAKE_AFTER_EXIT: "aio_co_wake of the exited dispatcher",
       XShutdown.BH_AFTER_IOSTOP: "a BH scheduled in the stopped I/O thread",
       XShutdown.DESTROY_ACTIVE: "monitors destroyed under an active dispatcher"}


def _threads(h: Declarations) -> dict[int, str]:
    out: dict[int, str] = {int(Tid.NONE): "nobody", int(Tid.MAIN): "main loop", int(Tid.IOT): "I/O thread"}
    out.update({int(Tid.VCPU0) + i: f"vCPU{i}" for i in range(h.V)})
    out[int(h.RCU_T)] = "call_rcu thread"
    return out


def label_variables(h: Declarations) -> None:
    """Attach value labels to every coded variable of the harness's state."""
    threads = _threads(h)
    ctx = {0: "not scheduled", int(Ctx.IOH): "iohandler_ctx", int(Ctx.AIO): "qemu_aio_context"}
    ctx.update({int(Ctx.CONT) + t: f"continuing on {name}" for t, name in threads.items() if t})
    refs = {0: "none"}
    for c in range(h.bounds.clients):
        for i in range(h.NR):
            refs[h.ref(c, i)] = f"client{c}#{i}"
    kinds = {0: "qmp_capabilities", **{i + 1: k for i, k in enumerate(h.kinds)}}
    conn = {0: "no session", **{c + 1: f"client{c}" for c in range(h.bounds.clients)}}
    d = h.dsp
    for var, labels in ((d.pc, DSP), (d.sched, ctx), (d.ctx, ctx), (d.req, refs), (d.kind, kinds),
                        (h.bhctx, ctx), (h.bql, threads), (h.bhon, threads), (h.rpc, RCU), (h.sd, SD),
                        (h.xsd, XSD)):
        var.labels = {int(k): v for k, v in labels.items()}
    if h.evq is not None:
        h.evq.labels = refs
    for t in h.threads:
        t.pc.labels = {int(k): v for k, v in RUN.items()}
        t.nest.labels = {int(k): v for k, v in NEST.items()}
    for m in h.mons:
        m.conn.labels = conn
        m.lastid.labels = refs
        for slot in (*m.q, *m.inq, *m.ap):
            slot.labels = refs
    for cl in h.clients:
        cl.st.labels = {int(k): v for k, v in CLIENT.items()}
        for var, flag in ((cl.x_cross, "foreign_reply"), (cl.x_dup, "duplicate"), (cl.x_order, "order"),
                          (cl.x_order_all, "order_all"), (cl.x_id, "id"), (cl.x_lost, "lost"),
                          (cl.x_negev, "event_negotiating"), (cl.x_evorder, "event_after_reply")):
            var.labels = {1: f"client{cl.idx} {HISTORY[flag]}"}
        for kv in cl.kind:
            if kv is not None:
                kv.labels = kinds
    if h.rs_event is not None:
        h.rs_event.labels = {0: "no event requested", **{r: f"event requested by {n}" for r, n in refs.items() if r}}
    if h.boot is not None:
        h.boot.labels = {int(k): v for k, v in BOOT.items()}
    if h.hmp:
        h.hcopc.labels = {int(k): v for k, v in HMPCO.items()}

"""Lemmas about threads, the BQL, AioContexts, RCU and the encoding's value sets."""

from __future__ import annotations

from qmpmodel.core.expr import TRUE, Expr, all_of, any_of, ite, lit
from qmpmodel.qemu.codes import Ctx, Dsp, HmpCo, Nest, Rcu, Run, Sd, Tid
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.lemmas.view import ModelView, active

__all__ = [
    "bql_holder",
    "continuation",
    "coroutine_wait",
    "dispatcher_bh",
    "dispatcher_busy",
    "dispatcher_exit",
    "dispatcher_idle",
    "dispatcher_kind",
    "dispatcher_parked",
    "exited",
    "frozen",
    "handler_owner",
    "in_flight",
    "queued_kinds",
    "rcu_waiters",
    "value_sets",
    "values",
]


def in_flight(mv: ModelView) -> Expr:
    """``bs->in_flight`` counts the coroutine commands (dispatcher, HMP) inside their I/O."""
    if not mv.has("blk.in_flight"):
        return TRUE
    kinds = list(dict.fromkeys(mv.bounds.mix))
    count: Expr = lit(0)
    if "coroutine" in kinds:
        dpc = mv.v("dsp.pc")
        holds = ((dpc == Dsp.CO_WAIT) | (dpc == Dsp.CO_END)) & (mv.v("dsp.kind") == kinds.index("coroutine") + 1)
        count = count + ite(holds, lit(1), lit(0))
    if mv.has("hmp_co.pc"):
        hpc = mv.v("hmp_co.pc")
        count = count + ite(((hpc == HmpCo.WAIT) | (hpc == HmpCo.END)) & (mv.v("hmp_co.kind") == 1), lit(1), lit(0))
    return mv.v("blk.in_flight") == count


def thread_names(mv: ModelView) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = [(Tid.MAIN, "main")]
    i = 0
    while mv.has(f"vcpu{i}.pc"):
        out.append((Tid.VCPU0 + i, f"vcpu{i}"))
        i += 1
    return out


def handler_owner(mv: ModelView) -> Expr:
    """A thread blocked in a handler (FIFO, drain_call_rcu) runs the dispatcher's BH."""
    parts: list[Expr] = []
    bh_on, dpc = mv.v("bh.on"), mv.v("dsp.pc")
    for tid, name in thread_names(mv):
        pc = mv.v(f"{name}.pc")
        inside = (pc == Run.BLOCKED) | (pc == Run.RCU_WAIT) | (pc == Run.RCU_REACQ)
        parts.append(~inside | ((bh_on == tid) & (dpc == Dsp.BH)))
        parts.append((bh_on != tid) | inside)
    return all_of(parts)




def frozen(mv: ModelView) -> Expr:
    """A variable that no action of this model sets to another value than its initial one keeps it."""
    model = mv.model
    assigned = {v.index for a in model.actions for v, e in a.updates
                if not (e.op == "const" and int(e.args[0]) == model.init[v.index])}  # type: ignore[call-overload]
    parts: list[Expr] = []
    for v in model.layout.vars:
        if v.index not in assigned:
            init = model.init[v.index]
            parts.append((v == init) if v.sort == "int" else (v if init else ~v))
    return all_of(parts)


def rcu_waiters(mv: ModelView) -> Expr:
    """A drain_call_rcu marker is queued exactly while its waiter waits for it."""
    parts: list[Expr] = []
    flags: list[Expr] = []
    for _tid, name in thread_names(mv):
        if mv.has(f"rcu.waits_{name}"):
            w = mv.v(f"rcu.waits_{name}")
            flags.append(w)
            parts.append(w == (mv.v(f"{name}.pc") == Run.RCU_WAIT))
    if mv.has("rcu.waits_dispatcher"):
        w = mv.v("rcu.waits_dispatcher")
        flags.append(w)
        parts.append(~w | (mv.v("dsp.pc") == Dsp.CO_WAIT))
    if mv.has("rcu.waits_hmp_coroutine"):
        w = mv.v("rcu.waits_hmp_coroutine")
        flags.append(w)
        parts.append(~w | (mv.v("hmp_co.pc") == HmpCo.WAIT))
    parts.append((mv.v("rcu.pc") != Rcu.IDLE) == any_of(flags))
    return all_of(parts)


def dispatcher_busy(mv: ModelView) -> Expr:
    """``busy`` is false only while the dispatcher is parked (idle or exited)."""
    dpc, busy = mv.v("dsp.pc"), mv.v("dsp.busy")
    return ((dpc == Dsp.WAIT) | (dpc == Dsp.EXIT) | busy) & ((dpc != Dsp.WAIT) | ~busy)


def dispatcher_idle(mv: ModelView) -> Expr:
    """The dispatcher parks in qmp_dispatcher_co only with every queue empty (a push wakes it)."""
    queues = [v == 0 for v in mv.matching(r"mon\d+\.qlen")]
    return (mv.v("dsp.pc") != Dsp.WAIT) | all_of(queues)


def _queued_kinds(mv: ModelView) -> list[int]:
    """Kind codes of the requests the reader queues (qmp_capabilities is 0)."""
    d = mv.design
    out = [0]
    for k in dict.fromkeys(mv.bounds.mix):
        kind = KINDS.get(k)
        if kind is not None and (kind.form == "execute" or (kind.form == "exec-oob" and d.runs_queued_oob(kind.command))):
            out.append(d.kid(k))
    return out


def queued_kinds(mv: ModelView) -> Expr:
    """A queued request, and the one the dispatcher holds, is of a kind the reader queues."""
    d = mv.design
    ok = _queued_kinds(mv)
    parts: list[Expr] = []
    for m in d.mons:
        for r, c, i in d.refs_of_mon(m.idx):
            kv = d.clients[c].kind[i]
            if kv is None:
                continue
            good = any_of(kv == x for x in ok)
            parts.extend((q != r) | good for q in m.q)
            parts.append(~(active(mv) & (mv.v("dsp.req") == r)) | good)
    return all_of(parts)


def dispatcher_kind(mv: ModelView) -> Expr:
    """The dispatcher holds only a request the reader queues; it runs a coroutine handler only for a
    coroutine command, and waits for the handler BH (and replies after it) only for a command the
    BH runs."""
    d = mv.design
    kinds = list(dict.fromkeys(mv.bounds.mix))
    coroutine = [d.kid(k) for k in kinds if k in KINDS and d.is_coroutine_command(KINDS[k].command)]
    by_bh = [d.kid(k) for k in kinds if d.bh_runs(k)]
    dpc, kind = mv.v("dsp.pc"), mv.v("dsp.kind")
    inside = any_of(dpc == x for x in (Dsp.CO_START, Dsp.CO_WAIT, Dsp.CO_END, Dsp.AFTER))
    return all_of([~active(mv) | any_of(kind == c for c in _queued_kinds(mv)),
                   ~inside | any_of(kind == c for c in coroutine),
                   ((dpc != Dsp.BH) & (dpc != Dsp.REPLY)) | any_of(kind == c for c in by_bh)])


def dispatcher_parked(mv: ModelView) -> Expr:
    """A dispatcher yielded for the handler BH or inside a coroutine handler is scheduled nowhere."""
    dpc = mv.v("dsp.pc")
    return ((dpc != Dsp.BH) & (dpc != Dsp.CO_WAIT)) | (mv.v("dsp.sched") == 0)


def dispatcher_bh(mv: ModelView) -> Expr:
    """A dispatcher waiting for the handler BH has it scheduled, or a thread runs the handler."""
    return (mv.v("dsp.pc") != Dsp.BH) | (mv.v("bh.ctx") != 0) | (mv.v("bh.on") != 0)


def coroutine_wait(mv: ModelView) -> Expr:
    """An I/O request in flight belongs to a waiting coroutine; a waiting dispatcher waits for I/O or RCU."""
    dpc = mv.v("dsp.pc")
    io = mv.v("blk.io_dispatcher")
    why: Expr = io
    if mv.has("rcu.waits_dispatcher"):
        why = why | mv.v("rcu.waits_dispatcher")
    parts = [~io | (dpc == Dsp.CO_WAIT), (dpc != Dsp.CO_WAIT) | why]
    if mv.has("rcu.waits_dispatcher"):
        parts.append(~(io & mv.v("rcu.waits_dispatcher")))
    if mv.has("blk.io_hmp") and mv.has("hmp_co.pc"):
        parts.append(~mv.v("blk.io_hmp") | (mv.v("hmp_co.pc") == HmpCo.WAIT))
    return all_of(parts)


def ite_leaves(e: Expr) -> list[Expr] | None:
    """The possible results of an update: constants and variables at the leaves of its ``ite`` tree."""
    if e.op in ("const", "var"):
        return [e]
    if e.op == "ite":
        a, b = ite_leaves(e.args[1]), ite_leaves(e.args[2])  # type: ignore[arg-type]
        return None if a is None or b is None else a + b
    return None


def value_sets(mv: ModelView) -> dict[int, set[int]]:
    """Per integer variable whose updates are all constants, copies or ``ite`` of them: its possible values.

    A least fixpoint over the updates (a copy ``x := y`` adds ``y``'s values);
    a variable with an arithmetic update (a counter) has no entry.
    """
    model = mv.model
    vals: dict[int, set[int]] = {v.index: {model.init[v.index]} for v in model.layout.vars if v.sort == "int"}
    copies: dict[int, set[int]] = {k: set() for k in vals}
    for a in model.actions:
        for v, e in a.updates:
            if v.index not in vals:
                continue
            leaves = ite_leaves(e)
            if leaves is None:
                vals.pop(v.index)
                copies.pop(v.index)
                continue
            for x in leaves:
                if x.op == "const":
                    vals[v.index].add(int(x.args[0]))  # type: ignore[call-overload]
                else:
                    copies[v.index].add(int(x.args[0]))  # type: ignore[call-overload]
    changed = True
    while changed:
        changed = False
        for k in list(vals):
            if k not in vals:
                continue
            for src in copies[k]:
                if src != k and src not in vals:
                    vals.pop(k)
                    changed = True
                    break
                if src != k and not vals[src] <= vals[k]:
                    vals[k] |= vals[src]
                    changed = True
    return vals


def values(mv: ModelView) -> Expr:
    """Every program counter and identifier holds one of the values some action assigns it."""
    parts: list[Expr] = []
    for k, vs in value_sets(mv).items():
        v = mv.model.layout.vars[k]
        if len(vs) < v.hi - v.lo + 1:
            parts.append(any_of(v == x for x in sorted(vs)))
    return all_of(parts)


def continuation(mv: ModelView) -> Expr:
    """A dispatcher continuing on a thread (no yield in between) runs with that thread's BQL."""
    parts: list[Expr] = []
    sched = mv.v("dsp.sched")
    for tid, _name in thread_names(mv):
        parts.append((sched != Ctx.CONT + tid) | (mv.v("bql") == tid))
    return all_of(parts)


def dispatcher_exit(mv: ModelView) -> Expr:
    """The dispatcher exits only after shutdown was requested; idle or exited, it is scheduled nowhere."""
    dpc, sched = mv.v("dsp.pc"), mv.v("dsp.sched")
    running = any_of(dpc == x for x in (Dsp.POP, Dsp.DISPATCH, Dsp.REPLY, Dsp.CO_START, Dsp.CO_END, Dsp.AFTER))
    return all_of([(dpc != Dsp.EXIT) | ((mv.v("sd.pc") != Sd.NONE) & (sched == 0)),
                   (dpc != Dsp.WAIT) | (sched == 0), ~running | (sched != 0)])


def exited(mv: ModelView) -> Expr:
    """The main thread has exited exactly when monitor_cleanup is done; until then, from the shutdown
    request on, it waits in monitor_cleanup's AIO_WAIT_WHILE holding the BQL, and the dispatcher it
    woke is not idle; the I/O thread stops only after it."""
    dead, sd, nest = mv.v("main.pc") == Run.DEAD, mv.v("sd.pc"), mv.v("main.nest")
    parts = [dead == (sd == Sd.DONE), ~dead | (nest == Nest.NONE), (sd == Sd.REQ) == (nest == Nest.CLEANUP)]
    parts.append((nest != Nest.CLEANUP) | (mv.v("bql") == Tid.MAIN))
    parts.append((sd != Sd.REQ) | (mv.v("dsp.pc") != Dsp.WAIT))
    if mv.has("sd.iothread_stopped"):
        parts.append(~mv.v("sd.iothread_stopped") | (sd != Sd.NONE))
    return all_of(parts)


def bql_holder(mv: ModelView) -> Expr:
    """The main thread holds the BQL outside a nested loop only while the dispatcher continues on it."""
    mt_nest, bql = mv.v("main.nest"), mv.v("bql")
    running = (mv.v("main.pc") == Run.RUN) & (mt_nest == Nest.NONE)
    return ~(running & (bql == Tid.MAIN)) | (mv.v("dsp.sched") == Ctx.CONT + Tid.MAIN)

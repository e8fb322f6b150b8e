"""Each invariant's predicate holds and fails on small hand-built states.

Each case names a design and bounds, a state that satisfies the property and a
minimal change that breaks it, with the reference section that says why.
"""

import pytest

from qmpmodel.core.expr import evaluate
from qmpmodel.invariants import INVARIANTS, invariant
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.codes import Ctx, Dsp, Nest, Run, Sd, Tid, XShutdown
from qmpmodel.qemu.design import Design
from qmpmodel.statemachine import build

B1 = Bounds(monitors=1, clients=1, requests=2, mix=("quick", "oob"))
HMP = Bounds(monitors=1, clients=0, requests=0, hmp=1, hmp_mix=("hmp-async",))
VCPU = Bounds(monitors=1, clients=1, requests=1, vcpus=1, mix=("device-add",))
DIRECT = Bounds(monitors=1, clients=1, requests=2, mix=("async", "quick"))

# name: (design, bounds, good state changes, extra changes that break it)
CASES = {
    # §3.3: a non-OOB monitor is suspended while its request is queued; suspended with nothing
    # queued or executing is bug E's symptom (the reader never resumes)
    "suspend-balance": ({}, B1, {"mon0.qlen": 1, "mon0.q0": 1, "mon0.suspend_cnt": 1},
                        {"mon0.qlen": 0, "mon0.q0": 0}),
    # a resume without its suspend (§8.1: the count is never negative)
    "suspend-balance/negative": ({}, B1, {}, {"mon0.suspend_cnt": -1}),
    # §5: HMP suspended while the mux focus is elsewhere; suspended with the focus back: bug K
    "suspend-balance/hmp": ({"mux": "guarded"}, HMP, {"hmp.mux_out": True, "hmp.suspend_cnt": 1},
                            {"hmp.mux_out": False}),
    # §8.1 current QEMU's exact accounting: one suspension per queued non-OOB request
    "suspend-accounting": ({}, B1, {"mon0.qlen": 1, "mon0.q0": 1, "mon0.suspend_cnt": 1},
                           {"mon0.suspend_cnt": 2}),
    "suspend-accounting/hmp": ({"mux": "guarded"}, HMP, {"hmp.mux_out": True, "hmp.suspend_cnt": 1},
                               {"hmp.suspend_cnt": 0}),
    # §8.19: with two monitors K = 2 other dequeues are allowed while a request waits
    "bounded-bypass": ({}, Bounds(monitors=2, clients=2, requests=1, mix=("quick",)), {"mon1.x_bypassed": 2},
                       {"mon1.x_bypassed": 3}),
    # §8.3: without OOB at most one request queued or executing
    "queue-bound": ({}, B1, {"mon0.qlen": 1, "mon0.q0": 1},
                    {"dsp.pc": Dsp.BH, "dsp.mon": 0, "dsp.req": 2}),
    "inband-fifo": ({}, Bounds(monitors=1, clients=1, requests=3, mix=("quick",)),
                    {"mon0.oob": True, "mon0.qlen": 2, "mon0.q0": 2, "mon0.q1": 3},
                    {"mon0.q0": 3, "mon0.q1": 2}),
    "inband-mutual-exclusion": ({"dispatch": "direct"}, DIRECT, {"mon0.async0": 2},
                                {"mon0.async1": 3}),
    "reply-order": ({}, B1, {}, {"client0.x_order": True}),
    "reply-order-all": ({}, B1, {}, {"client0.x_order_all": True}),
    "exactly-once-reply": ({}, B1, {"client0.answered0": True}, {"client0.x_duplicate": True}),
    "exactly-once-reply/lost": ({}, B1, {}, {"client0.x_lost": True}),
    "no-cross-session-reply": ({}, B1, {}, {"client0.x_foreign_reply": True}),
    "id-echo": ({}, B1, {}, {"client0.x_id": True}),
    "negotiation-gating": ({}, B1, {}, {"client0.x_event_negotiating": True}),
    "flag-validity": ({}, B1, {}, {"x.flag_validity": True}),
    # an accepted exec-oob request (kind 2 = "oob") sitting in the queue
    "oob-immediacy": ({}, B1, {"mon0.oob": True, "client0.kind1": 2, "client0.kind2": 1,
                               "mon0.qlen": 1, "mon0.q0": 3}, {"mon0.q0": 2}),
    # §3.5: a coroutine command runs in qemu_aio_context
    "context-discipline": ({}, B1, {"dsp.pc": Dsp.CO_WAIT, "dsp.ctx": Ctx.AIO}, {"dsp.ctx": Ctx.IOH}),
    "context-discipline/bh": ({}, B1, {"bh.ctx": Ctx.IOH}, {"bh.ctx": Ctx.AIO}),
    "no-nested-dispatch": ({}, B1, {}, {"x.nested_dispatch": True}),
    "coroutine-nested-resume": ({}, B1, {}, {"x.nested_coroutine": True}),
    "no-lock-across-yield": ({"queue_lock_across_yield": True}, B1,
                             {"dsp.qlock": True, "dsp.sched": Ctx.CONT + Tid.MAIN}, {"dsp.sched": Ctx.AIO}),
    # §7 A: a vCPU in MMIO emulation without the BQL
    "bql-atomicity": ({"vcpu_nested_poll": True}, VCPU, {"vcpu0.nest": Nest.MMIO, "bql": Tid.VCPU0},
                      {"bql": 0}),
    # §7 B: drain_call_rcu inside an RCU read-side section
    "rcu-discipline": ({"vcpu_nested_poll": True, "rcu_nested_poll": True}, VCPU,
                       {"vcpu0.rcu_read": True, "vcpu0.nest": Nest.MMIO},
                       {"vcpu0.pc": Run.RCU_WAIT, "rcu.waits_vcpu0": True}),
    # §7 F: the wait-for cycle dispatcher -> qemu_aio_context -> main -> queue lock -> dispatcher
    "no-deadlock": ({"queue_lock_across_yield": True, "hop_all": True}, Bounds(
        monitors=1, clients=1, requests=1, iothread_monitors=(False,), mix=("quick",)),
        {"dsp.qlock": True, "dsp.sched": Ctx.AIO, "dsp.pc": Dsp.DISPATCH},
        {"main.pc": Run.QLOCK, "bql": Tid.MAIN}),
    "shutdown-safety": ({"shutdown": True}, B1, {"sd.pc": Sd.REQ}, {"x.shutdown": XShutdown.DEQ_AFTER_SHUTDOWN}),
    "event-before-reply": ({}, Bounds(monitors=1, clients=1, requests=1, mix=("event",)), {},
                           {"client0.x_event_after_reply": True}),
    # docs/fidelity-ii.md 1e (bug Y): an HMP command ran in the monitor I/O thread
    "hmp-context": ({}, Bounds(monitors=1, clients=1, requests=0, mux_monitors=(True,), hmp=1, hmp_mux=True),
                    {"mux.focus_hmp": True}, {"x.hmp_outside_main_thread": True}),
}


def judge(name, design, bounds, changes):
    qm = build(Design(design), bounds)
    model = qm.model
    state = dict(model.decode(model.init))
    unknown = set(changes) - set(state)
    assert not unknown, f"no such variables: {unknown}"
    state.update(changes)
    pred = invariant(name.split("/")[0]).on(qm.design).expr
    return bool(evaluate(pred, model.encode(state)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_predicate_holds_then_fails(case):
    design, bounds, good, bad = CASES[case]
    assert judge(case, design, bounds, good), "the good state should satisfy the property"
    assert not judge(case, design, bounds, {**good, **bad}), "the changed state should violate it"


def test_every_state_invariant_has_a_case():
    covered = {c.split("/")[0] for c in CASES}
    state_kinds = {i.name for i in INVARIANTS if i.kind != "liveness"}
    assert state_kinds <= covered


def test_invariants_are_documented_data():
    names = [i.name for i in INVARIANTS]
    assert len(names) == len(set(names))
    required = {"suspend-balance", "queue-bound", "inband-fifo", "inband-mutual-exclusion", "reply-order",
                "exactly-once-reply", "no-cross-session-reply", "id-echo", "negotiation-gating",
                "flag-validity", "oob-immediacy", "context-discipline", "no-nested-dispatch",
                "no-lock-across-yield", "bql-atomicity", "rcu-discipline", "no-deadlock", "progress",
                "shutdown-safety", "event-before-reply"}
    assert required <= set(names)
    for inv in INVARIANTS:
        assert inv.statement.endswith(".") and inv.source


def test_unknown_invariant_name_suggests_a_close_match():
    from qmpmodel.errors import InputError

    with pytest.raises(InputError, match="did you mean 'reply-order'"):
        invariant("reply-ordr", "spec.toml", "expect.reply-ordr")

"""Each catalogued bug is found, and its shortest counterexample is the reference's scenario.

For every bug spec the violated invariant's trace must contain the story's key
steps in order (§7 of ../shared/qemu-dispatch-semantics.md), and deadlocks must
name the resources of the cycle the reference describes.
"""

from pathlib import Path

import pytest

from qmpmodel.check import check_spec
from qmpmodel.invariants import INVARIANTS
from qmpmodel.specs import expand_paths, load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = expand_paths([str(ROOT / "specs")])


@pytest.fixture(scope="module")
def results():
    return {p.relative_to(ROOT / "specs").as_posix(): check_spec(load_spec(p)) for p in SPECS}


# spec -> (invariant, key step families in order, resources the wait-for cycle must name)
STORIES = {
    # §7 A: device_add's BH runs in a vCPU's nested poll and drops the BQL
    "bugs/A-vcpu-nested-poll-device-add.toml": ("bql-atomicity", ["dispatch_bh", "mmio_nested_poll", "handler_bh"], set()),
    # §7 B: vCPU in rcu_read_lock -> call_rcu -> grace period -> vCPU
    "bugs/B-drain-call-rcu-in-rcu-reader.toml": ("no-deadlock", ["mmio_nested_poll", "handler_bh"],
                                                 {"vcpu0", "call_rcu", "rcu_grace_period"}),
    # §7 C: coroutine in iohandler_ctx, I/O completes, drain polls only qemu_aio_context
    "bugs/C-drain-polls-only-aio-context.toml": ("no-deadlock", ["coroutine_start", "io_complete", "drain_begin"],
                                                 {"main", "bs->in_flight", "dispatcher", "iohandler_ctx"}),
    "bugs/H-reschedule-self-regression.toml": ("no-deadlock", ["coroutine_start", "drain_begin"],
                                               {"main", "bs->in_flight", "dispatcher", "iohandler_ctx"}),
    # §7 D: the request arriving on a full queue is dropped
    "bugs/D-command-dropped.toml": ("exactly-once-reply", ["read", "read_drop"], set()),
    # §7 E: queue rule suspends, client disconnects, cleanup does not resume
    "bugs/E-closed-without-resume.toml": ("suspend-balance", ["read", "disconnect", "closed"], set()),
    # §7 F: pop with the lock, hop yield, CLOSED blocks on the lock in the main thread
    "bugs/F-queue-lock-across-yield.toml": ("no-deadlock", ["dispatcher_pop", "closed_blocks_on_queue_lock"],
                                            {"dispatcher", "qemu_aio_context", "main", "qmp_queue_lock"}),
    "bugs/G-cleanup-destroys-monitors-first.toml": ("shutdown-safety", ["monitor_cleanup", "cleanup_destroy_monitors"], set()),
    "bugs/G-cleanup-stops-iothread-first.toml": ("shutdown-safety", ["monitor_cleanup", "dispatcher_reply"], set()),
    # §7 I: an HMP coroutine command's nested loop runs a QMP handler
    "bugs/I-dispatcher-reentrancy.toml": ("no-nested-dispatch", ["dispatch_bh", "hmp_command", "handler_bh"], set()),
    "bugs/I-residual-coroutine-resume.toml": ("coroutine-nested-resume", ["dispatch_coroutine", "hmp_command", "coroutine_start"], set()),
    # §7 J: HMP nested loop holds the BQL that call_rcu needs
    "bugs/J-hmp-nested-loop-drain-call-rcu-co.toml": ("no-deadlock", ["hmp_command", "hmp_coroutine_start"],
                                                      {"main", "hmp_coroutine", "call_rcu", "BQL"}),
    "bugs/K-mux-suspend-clobber.toml": ("suspend-balance", ["mux_out", "mux_out"], set()),
    # §7 L: the dispatcher pops inside monitor_cleanup's wait loop
    "bugs/L-pop-after-shutdown.toml": ("shutdown-safety", ["monitor_cleanup", "dispatcher_pop"], set()),
    # §7 M: the dispatcher exits, then a request is parsed and wakes it
    "bugs/M-wake-after-dispatcher-exit.toml": ("shutdown-safety", ["monitor_cleanup", "dispatcher_exit", "read"], set()),
    "bugs/O-coroutine-screendump-hang.toml": ("progress", ["dispatch_coroutine", "coroutine_start"], set()),
    # §7 P: A's command popped, A disconnects, B connects, A's reply reaches B
    "bugs/P-reply-to-next-session.toml": ("no-cross-session-reply",
                                          ["disconnect", "dispatcher_pop", "closed", "connect"], set()),
    "bugs/Q-async-api-error-path.toml": ("suspend-balance", ["hmp_command"], set()),
    "bugs/R-large-reads.toml": ("queue-bound", ["read", "read"], set()),
    "bugs/T-parser-recovery-swallows.toml": ("exactly-once-reply", ["read", "swallow"], set()),
    "bugs/U-exec-oob-error-bypasses-queue.toml": ("reply-order-all", ["read", "read_oob_rejected"], set()),
    # X (docs/fidelity-ii.md 1e): the setup BH lists the monitor, the client connects before OPENED,
    # autostart's qmp_cont raises RESUME
    "bugs/X-never-opened-monitor.toml": ("negotiation-gating",
                                         ["monitor_qmp_setup_handlers_bh", "connect", "qmp_cont"], set()),
    # Y (docs/fidelity-ii.md 1e): the QMP setup BH moves the mux's reads into the I/O thread; the
    # client gives HMP the focus and types a command, which runs there
    "bugs/Y-hmp-in-monitor-iothread.toml": ("hmp-context",
                                            ["monitor_qmp_setup_handlers_bh", "mux_escape", "hmp_write", "hmp_read"],
                                            set()),
    # P's consequence with environment events: the stale qmp_capabilities switches the mode
    "bugs/P-stale-capabilities-events.toml": ("negotiation-gating",
                                              ["disconnect", "connect", "dispatch_capabilities", "env_event"], set()),
}


def is_subsequence(needle, hay):
    it = iter(hay)
    return all(any(x == y for y in it) for x in needle)


@pytest.mark.parametrize("spec", sorted(STORIES))
def test_counterexample_tells_the_story(results, spec):
    inv_name, steps, cycle_nodes = STORIES[spec]
    r = results[spec]
    inv = next(i for i in r.invariants if i.name == inv_name)
    assert inv.verdict == "violated", f"{spec}: {inv_name} not violated"
    families = [s.action for s in inv.trace.steps]
    assert is_subsequence(steps, families), f"{spec}: {families}"
    if cycle_nodes:
        named = {n for edge in inv.trace.cycle for n in edge[:2]}
        assert cycle_nodes <= named, f"{spec}: cycle {inv.trace.cycle}"


def test_P_reply_reaches_the_second_session(results):
    inv = next(i for i in results["bugs/P-reply-to-next-session.toml"].invariants
               if i.name == "no-cross-session-reply")
    last = inv.trace.steps[-1].state
    assert last["client1.x_foreign_reply"] and last["client0.st"] == 3  # client0 gone
    assert last["client1.st"] == 1  # still negotiating, as the reference says


def test_X_event_reaches_the_client_before_its_greeting(results):
    inv = next(i for i in results["bugs/X-never-opened-monitor.toml"].invariants if i.name == "negotiation-gating")
    last = inv.trace.steps[-1].state
    # connected at the byte level, no greeting yet (ClientSt.NEW), the mux not open (boot stage CONT)
    assert last["mon0.conn"] == 1 and last["client0.st"] == 0 and last["boot.stage"] == 1
    assert not last["mon0.opened"] and last["client0.x_event_negotiating"]


def test_every_spec_meets_its_expectations(results):
    unmet = [(s, i.name, i.verdict) for s, r in results.items() for i in r.invariants if not i.met]
    assert not unmet
    assert all(r.complete for r in results.values())


def test_every_catalogued_bug_has_a_spec():
    letters = {p.name[0] for p in (ROOT / "specs" / "bugs").glob("*.toml")}
    assert set("ABCDEFGHIJKLMOPQTUXY") <= letters


def test_no_invariant_is_vacuous(results):
    violated = {i.name for r in results.values() for i in r.invariants if i.verdict == "violated"}
    assert {i.name for i in INVARIANTS} <= violated


def test_fixed_variants_remove_the_violation(results):
    pairs = {"C-drain-polls-only-aio-context": ("C-fixed-hop-to-aio-context", "no-deadlock"),
             "D-command-dropped": ("D-fixed-suspend-on-full", "exactly-once-reply"),
             "E-closed-without-resume": ("E-fixed-resume-on-closed", "suspend-balance"),
             "F-queue-lock-across-yield": ("F-fixed-unlock-before-yield", "no-deadlock"),
             "J-hmp-nested-loop-drain-call-rcu-co": ("J-fixed-hmp-suspend", "no-deadlock"),
             "K-mux-suspend-clobber": ("K-fixed-mux-out-flag", "suspend-balance"),
             "L-pop-after-shutdown": ("L-fixed-check-before-pop", "shutdown-safety"),
             "P-reply-to-next-session": ("P-fixed-discard-stale-reply", "no-cross-session-reply"),
             "Q-async-api-error-path": ("Q-fixed-resume-on-error", "suspend-balance"),
             "X-never-opened-monitor": ("X-fixed-skip-never-opened", "negotiation-gating")}
    for bug, (fixed, name) in pairs.items():
        verdict = {i.name: i.verdict for i in results[f"bugs/{bug}.toml"].invariants}
        fixed_verdict = {i.name: i.verdict for i in results[f"bugs/{fixed}.toml"].invariants}
        assert verdict[name] == "violated" and fixed_verdict[name] == "holds", bug

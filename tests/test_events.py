"""Events, QEMU's exit and the never-opened monitor (issue 13, F1-F4): the transcripts are the evidence.

Each test edits a transcript recorded from QEMU 7.2.22 (tests/data/transcripts/)
into one that QEMU's code cannot produce, and checks that the model rejects it
at the edited line; or it checks the configuration conform derives from a
transcript. docs/fidelity-ii.md cites the QEMU source for each behaviour.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from qmpmodel.check import prepare
from qmpmodel.conformance.analysis import event_bounds
from qmpmodel.conformance.conform import ConformSpec, conform, load_conform_spec
from qmpmodel.conformance.transcript import TranscriptLine, load_transcript, renumber
from qmpmodel.core.expr import Expr, evaluate
from qmpmodel.core.model import compile_predicate, compile_successors
from qmpmodel.errors import InputError
from qmpmodel.qemu.query import parse_goal
from qmpmodel.specs import load_spec, parse_spec

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data" / "transcripts"
SPEC = ROOT / "specs" / "qemu-current.toml"


@pytest.fixture(scope="module")
def cspec() -> ConformSpec:
    return load_conform_spec(SPEC)


def compile_value(e: Expr) -> Any:
    return lambda s: int(evaluate(e, s))


def datas(name: str) -> list[dict[str, Any]]:
    return [dict(ln.data) for ln in load_transcript(DATA / f"{name}.jsonl")]


def line_of(ds: list[dict[str, Any]], pred: Any) -> int:
    """The index in ``ds`` of the first line matching ``pred``."""
    return next(n for n, d in enumerate(ds) if pred(d))


def is_msg(conn: str, key: str, value: Any) -> Any:
    """A message received on ``conn`` whose ``key`` is ``value``."""
    return lambda d: (d.get("conn") == conn and d.get("dir") == "<-" and isinstance(d.get("msg"), dict)
                      and d["msg"].get(key) == value)


def moved(ds: list[dict[str, Any]], src: int, dst: int) -> list[TranscriptLine]:
    """``ds`` with line index ``src`` moved to index ``dst`` (its timestamp taken from the line it replaces)."""
    out = list(ds)
    line = dict(out.pop(src))
    line["t"] = out[dst]["t"] if dst < len(out) else line["t"]
    out.insert(dst, line)
    return renumber(out)


# -- F3: quit ------------------------------------------------------------------------------------


def test_quit_reply_before_shutdown_is_rejected(cspec: ConformSpec) -> None:
    """main_loop_should_exit raises SHUTDOWN at the end of the iteration whose BH ran qmp_quit,
    before the dispatcher is re-entered to write the reply (runstate.c:671-695)."""
    ds = datas("quit-three-monitors")
    shutdown = line_of(ds, is_msg("c1", "event", "SHUTDOWN"))
    reply = line_of(ds, is_msg("c1", "id", "quit"))
    assert shutdown < reply
    r = conform(moved(ds, reply, shutdown), cspec, "m")
    assert r.verdict == "rejected" and r.line == shutdown + 1, r.render()


def test_no_request_is_served_after_quit(cspec: ConformSpec) -> None:
    """The request written with quit is never answered: the dispatcher checks the shutdown flag
    before its next pop (monitor/qmp.c:228, 252)."""
    ds = datas("quit-three-monitors")
    eof = line_of(ds, lambda d: d.get("conn") == "c1" and d.get("event") == "eof")
    answer = {"t": ds[eof]["t"], "dir": "<-", "conn": "c1", "msg": {"return": {"name": "x"}, "id": "after-quit"}}
    r = conform(renumber([*ds[:eof], answer, *ds[eof:]]), cspec, "m")
    assert r.verdict == "rejected" and r.line == eof + 1, r.render()


def test_eof_reaches_a_negotiating_connection(cspec: ConformSpec) -> None:
    """c3 never negotiated and still sees EOF (every monitor is destroyed); but no event reaches it."""
    ds = datas("quit-three-monitors")
    assert conform(renumber(ds), cspec, "m").accepted
    eof = line_of(ds, lambda d: d.get("conn") == "c3" and d.get("event") == "eof")
    event = {"t": ds[eof]["t"], "dir": "<-", "conn": "c3",
             "msg": {"event": "SHUTDOWN", "data": {"guest": False, "reason": "host-qmp-quit"},
                     "timestamp": {"seconds": 0, "microseconds": 0}}}
    r = conform(renumber([*ds[:eof], event, *ds[eof:]]), cspec, "m")
    assert r.verdict == "rejected" and r.line == eof + 1, r.render()


# -- F3: a signal --------------------------------------------------------------------------------


def test_exit_needs_the_signal(cspec: ConformSpec) -> None:
    """Without the SIGTERM nothing makes QEMU exit: the first EOF is unexplained (SHUTDOWN alone
    could be any event of the environment)."""
    ds = datas("sigterm-while-blocked")
    sig = line_of(ds, lambda d: "signal" in d)
    assert conform(renumber(ds), cspec, "m").accepted
    rest = ds[:sig] + ds[sig + 1:]
    eof = line_of(rest, lambda d: d.get("event") == "eof")
    r = conform(renumber(rest), cspec, "m")
    assert r.verdict == "rejected" and r.line == eof + 1, r.render()
    assert "the server closing c1 (eof)" in r.render()


def test_interrupted_reply_follows_shutdown(cspec: ConformSpec) -> None:
    """The blocked handler fails with EINTR and returns; main_loop_should_exit raises SHUTDOWN
    before the dispatcher writes that reply (in monitor_cleanup's wait)."""
    ds = datas("sigterm-while-blocked")
    shutdown = line_of(ds, is_msg("c1", "event", "SHUTDOWN"))
    reply = line_of(ds, is_msg("c1", "id", "blocked"))
    r = conform(moved(ds, reply, shutdown), cspec, "m")
    assert r.verdict == "rejected" and r.line == shutdown + 1, r.render()


def test_no_reply_before_the_signal(cspec: ConformSpec) -> None:
    """Had the blocked command answered before the signal, the request queued behind it would have
    been answered too before the (quiescent) signal: the signal line is then unexplained."""
    ds = datas("sigterm-while-blocked")
    sig = line_of(ds, lambda d: "signal" in d)
    reply = line_of(ds, is_msg("c1", "id", "blocked"))
    r = conform(moved(ds, reply, sig), cspec, "m")
    assert r.verdict == "rejected" and r.line == sig + 2, r.render()  # the signal, one line later now
    assert 'the reply to c1\'s request "queued"' in r.render()


# -- F1, F2: events ----------------------------------------------------------------------------


def test_powerdown_event_precedes_its_reply(cspec: ConformSpec) -> None:
    """system_powerdown only sets a request; main_loop_should_exit raises POWERDOWN before the
    dispatcher is re-entered (monitor/qmp-cmds.c:106-109, runstate.c:719-721)."""
    ds = datas("async-events")
    event = line_of(ds, is_msg("c1", "event", "POWERDOWN"))
    reply = line_of(ds, is_msg("c1", "id", "powerdown"))
    assert event + 1 == reply
    r = conform(moved(ds, event, reply), cspec, "m")
    assert r.verdict == "rejected" and r.line == event + 1, r.render()


def test_events_need_both_sources(cspec: ConformSpec) -> None:
    """block-job-events needs events before a reply (blockdev-mirror's JOB_STATUS_CHANGE) and
    events with no command in flight (after job-complete returned)."""
    lines = load_transcript(DATA / "block-job-events.jsonl")
    ds = [dict(ln.data) for ln in lines]
    first_event = line_of(ds, lambda d: isinstance(d.get("msg"), dict) and "event" in d["msg"])
    after_complete = line_of(ds, is_msg("c1", "id", "complete")) + 1
    assert ds[after_complete]["msg"]["event"] == "JOB_STATUS_CHANGE"
    assert conform(lines, cspec, "m").accepted
    r = conform(lines, replace(cspec, events_per_command=0, environment_events=0), "m")
    assert r.verdict == "rejected" and r.line == first_event + 1, r.render()
    r = conform(lines, replace(cspec, environment_events=0), "m")
    assert r.verdict == "rejected" and r.line == after_complete + 1, r.render()


def test_event_bounds_from_transcripts() -> None:
    """Handler events are counted between a request and its reply, cleanup events after SHUTDOWN,
    the mux layout read from the recorded command line."""
    eb = event_bounds(load_transcript(DATA / "block-job-events.jsonl"))
    assert eb.events_per_command == 4  # blockdev-mirror: created, running, ready, BLOCK_JOB_READY
    assert eb.signals == 0 and not eb.mux_monitors and eb.environment_events == 16
    eb = event_bounds(load_transcript(DATA / "quit-three-monitors.jsonl"))
    assert eb.events_per_command == 2  # SHUTDOWN, BLOCK_EXPORT_DELETED between quit and its reply
    eb = event_bounds(load_transcript(DATA / "sigterm-while-blocked.jsonl"))
    assert eb.signals == 1
    eb = event_bounds(load_transcript(DATA / "mux-hmp.jsonl"))
    assert eb.mux_monitors == frozenset({"mux0"})
    eb = event_bounds(load_transcript(DATA / "negotiate.jsonl"))
    assert (eb.events_per_command, eb.environment_events, eb.signals) == (0, 0, 0)


# -- F4: the never-opened monitor ------------------------------------------------------------------


def test_event_before_greeting_needs_the_7_2_behaviour(cspec: ConformSpec) -> None:
    """mux-hmp line 4 (RESUME before the greeting) is explained by QEMU 7.2's event emission to a
    monitor whose commands table is unset; with the fix (suppress) it is not."""
    lines = load_transcript(DATA / "mux-hmp.jsonl")
    assert conform(lines, cspec, "m").accepted
    spec = replace(cspec.spec, design=replace(cspec.spec.design, values={"never_opened_events": "suppress"}))
    r = conform(lines, replace(cspec, spec=spec), "m")
    assert r.verdict == "rejected" and r.line == 4, r.render()
    assert "the event RESUME received on c1" in r.render()


# -- F5: HMP on the QMP connection's mux ------------------------------------------------------------


def _replace_hmp_line(ds: list[dict[str, Any]], old: str, new: str) -> int:
    n = line_of(ds, lambda d: d.get("to") == "hmp" and d.get("raw") == old)
    ds[n] = {**ds[n], "raw": new}
    return n


def test_hmp_cont_in_the_iothread_aborts(cspec: ConformSpec) -> None:
    """mux-hmp-abort: HMP ``cont`` runs in the monitor I/O thread and QEMU aborts (EOF); HMP ``info
    status`` there does not, so the EOF is then unexplained."""
    ds = datas("mux-hmp-abort")
    assert conform(renumber(ds), cspec, "m").accepted
    _replace_hmp_line(ds, "cont\r", "info status\r")
    eof = line_of(ds, lambda d: d.get("event") == "eof")
    r = conform(renumber(ds), cspec, "m")
    assert r.verdict == "rejected" and r.line == eof + 1, r.render()


def test_after_hmp_cont_nothing_more_comes(cspec: ConformSpec) -> None:
    """mux-hmp with HMP ``cont`` instead of ``info status``: QEMU would abort there, so the rest of
    the session (the focus switch back, QMP's cont and its reply) is unexplained."""
    ds = datas("mux-hmp")
    n = _replace_hmp_line(ds, "info status\r", "cont\r")
    r = conform(renumber(ds), cspec, "m")
    assert r.verdict == "rejected" and r.line is not None and r.line > n + 1, r.render()


def test_hmp_output_needs_the_focus(cspec: ConformSpec) -> None:
    """Without the Ctrl-A c that gives HMP the focus, its banner on the QMP connection is unexplained."""
    ds = datas("mux-hmp")
    esc = line_of(ds, lambda d: d.get("to") == "mux")
    r = conform(renumber(ds[:esc] + ds[esc + 1:]), cspec, "m")
    assert r.verdict == "rejected" and r.line == esc + 1, r.render()
    assert "unrecognized line" in r.render()


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "key"), [('events_per_command = 9', "conform.events_per_command"),
                                            ('environment_events = "many"', "conform.environment_events")])
def test_conform_event_bounds_are_validated(tmp_path: Path, table: str, key: str) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.read_text().replace("[conform]\n", f"[conform]\n{table}\n"))
    with pytest.raises(InputError) as e:
        load_conform_spec(spec)
    assert key in str(e.value)


# -- the model alone --------------------------------------------------------------------------------


@pytest.mark.parametrize(("bounds", "key"), [({"mux_monitors": [True, False]}, "bounds.mux_monitors"),
                                             ({"events_per_command": 5}, "bounds.events_per_command"),
                                             ({"signals": 2}, "bounds.signals"),
                                             ({"env_events": 17}, "bounds.env_events")])
def test_new_bounds_are_validated(bounds: dict[str, Any], key: str) -> None:
    with pytest.raises(InputError) as e:
        prepare(parse_spec({"bounds": bounds}, "s.toml"))
    assert key in str(e.value)


def test_exit_order_on_every_run() -> None:
    """On every run of specs/qemu-current-exit.toml, per client: the reply to ``quit`` comes after
    a request-less event (SHUTDOWN), nothing comes after EOF, and when the monitors are destroyed
    every connected client gets EOF (docs/fidelity-ii.md 1b)."""
    p = prepare(load_spec(ROOT / "specs" / "qemu-current-exit.toml"))
    model, probes = p.model, p.probes
    succ = compile_successors(model)
    n = len(probes.client_ids)
    targets = [[(e, compile_value(e.to)) for e in a.wire] for a in model.actions]
    quit_of = {(c, i): compile_value(probes.kind_is(c, i, "quit"))
               for c in probes.client_ids for i in range(probes.requests_per_client)}
    start = (model.init, (False,) * n, (False,) * n)  # (state, SHUTDOWN seen, EOF seen)
    seen, todo, destroyed = {start}, [start], 0
    while todo:
        s, shut, eof = todo.pop()
        for a, t in succ(s):
            shut2, eof2 = list(shut), list(eof)
            for e, to in targets[a]:
                c = to(s) - 1
                if c < 0:
                    continue
                assert not eof2[c], f"{model.actions[a].label}: a {e.what} after EOF"
                if e.what == "event" and e.ref == 0:
                    shut2[c] = True
                elif e.what == "reply" and quit_of[probes.request_of(e.ref)](s):
                    assert shut2[c], f"{model.actions[a].label}: quit's reply before SHUTDOWN"
                elif e.what == "eof":
                    eof2[c] = True
            if model.actions[a].family == "cleanup_destroy_monitors":
                destroyed += 1
                connected = [c for c in range(n) if compile_value(probes.session_open(c))(s)]
                assert all(eof2[c] for c in connected)
            nxt = (t, tuple(shut2), tuple(eof2))
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert destroyed > 0


def _shortest(spec: str, goal: str) -> int | None:
    """Breadth-first: the depth of the first state satisfying ``goal`` (a reach goal over probes)."""
    p = prepare(load_spec(ROOT / "specs" / spec))
    pred = compile_predicate(parse_goal(goal, p.probes))
    succ = compile_successors(p.model)
    frontier, seen, depth = [p.model.init], {p.model.init}, 0
    while frontier:
        if any(pred(s) for s in frontier):
            return depth
        nxt = []
        for s in frontier:
            for _a, t in succ(s):
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier, depth = nxt, depth + 1
    return None


def test_probes_publish_the_new_state() -> None:
    # bug X: setup BH, byte-level connect, qmp_cont's RESUME; the monitor never opened
    assert _shortest("bugs/X-never-opened-monitor.toml", "client[0].event_negotiating and not mon[0].opened") == 3
    assert _shortest("bugs/X-fixed-skip-never-opened.toml", "client[0].event_negotiating") is None
    # signal, main_loop_should_exit, the dispatcher exits, the monitors are destroyed
    assert _shortest("qemu-current-exit.toml", "exit.requested and shutdown.done") == 4
    # the environment may raise its event before anyone listens (it reaches nobody then)
    assert _shortest("qemu-current-events.toml", "env.events_left == 0") == 1

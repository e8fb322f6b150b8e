"""Record every scenario from a real QEMU and check what the reference asserts.

Marked ``qemu``; skipped when ``qemu-system-x86_64`` is not installed.  Each
scenario is recorded once per test session (a few seconds in all).
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qmpmodel.cli.record import record as record_cmd
from qmpmodel.conformance.jsonstream import split_stream
from qmpmodel.conformance.observations import Observation, observations
from qmpmodel.conformance.record import SCENARIOS, RecordError, Session, record
from qmpmodel.conformance.transcript import TranscriptLine, dump_transcript, parse_transcript

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 not installed"),
]

Recorded = dict[str, tuple[tuple[TranscriptLine, ...], dict[str, tuple[Observation, ...]]]]


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    out: Recorded = {}
    for name in SCENARIOS:
        text = "".join(json.dumps(d) + "\n" for d in record(name))
        lines = parse_transcript(text, f"<{name}>")
        out[name] = (lines, observations(lines))
    return out


def reply_ids(obs: tuple[Observation, ...]) -> list[Any]:
    return [json.loads(o.id) if o.id else None for o in obs if o.kind == "reply"]


def release_line(lines: tuple[TranscriptLine, ...], rid: str) -> int:
    return next(x.lineno for x in lines if x.is_comment and x.data.get("release") == rid)


def reply_line(obs: tuple[Observation, ...], rid: str) -> int:
    return next(o.line for o in obs if o.kind == "reply" and o.id == json.dumps(rid))


#: Scenarios whose QMP monitor shares a mux chardev with HMP (docs/fidelity-ii.md F4, F5).
MUX = {"mux-hmp", "mux-hmp-abort"}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_connection_starts_with_a_greeting_offering_oob(recorded: Recorded, name: str) -> None:
    # §3.1 greeting first (but see the never-opened monitor below); §2.2 oob offered iff the
    # chardev can use the I/O thread (unix socket, and a mux chardev over one).
    for obs in recorded[name][1].values():
        received = [o for o in obs if o.kind not in ("request", "connect", "disconnect", "eof", "mux-input")]
        g = next(i for i, o in enumerate(received) if o.kind == "greeting")
        assert all(o.kind == "event" for o in received[:g])
        assert g == 0 or name in MUX
        assert received[g].capabilities == ("oob",)
        assert all(o.kind != "greeting" for o in received[g + 1:])
        assert name in MUX or all(o.kind != "unrecognized" for o in received)  # HMP output is not JSON


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_event_before_negotiation_completes(recorded: Recorded, name: str) -> None:
    # §3.1 / §8 invariant 11, from the greeting on: events before the greeting come from a
    # monitor whose chardev was not opened yet (checked in test_mux_event_before_greeting).
    for obs in recorded[name][1].values():
        greeted = negotiated = False
        caps_ids = {o.id for o in obs if o.kind == "request" and o.command == "qmp_capabilities"}
        for o in obs:
            greeted = greeted or o.kind == "greeting"
            if o.kind == "event" and greeted:
                assert negotiated, f"event {o.event} at line {o.line} before negotiation"
            if o.kind == "reply" and o.ok and o.id in caps_ids:
                negotiated = True


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "disconnect-while-running"])
def test_replies_echo_ids_exactly_once(recorded: Recorded, name: str) -> None:
    # §3.6 id echo; §8 invariant 8 (no reply twice).
    for obs in recorded[name][1].values():
        req_ids = [o.id for o in obs if o.kind == "request" and o.id is not None]
        got = [o.id for o in obs if o.kind == "reply" and o.id is not None]
        assert len(got) == len(set(got))
        assert set(got) <= set(req_ids)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_in_band_replies_in_issue_order(recorded: Recorded, name: str) -> None:
    # §3.10 / §8 invariant 6, per connection, for requests with ids.
    for obs in recorded[name][1].values():
        order = [o.id for o in obs if o.kind == "request" and o.in_band and o.id is not None]
        got = [o.id for o in obs if o.kind == "reply" and o.id in set(order)]
        assert got == [i for i in order if i in set(got)]


def test_negotiation_mode(recorded: Recorded) -> None:
    obs = recorded["negotiate"][1]["c1"]
    r = {json.loads(o.id): o for o in obs if o.kind == "reply" and o.id}
    assert r["before-caps"].error_class == "CommandNotFound"
    assert r["before-caps"].error_desc == "Expecting capabilities negotiation with 'qmp_capabilities'"
    assert r["bad-cap"].error_class == "GenericError"
    assert r["caps"].ok and r[1].ok
    assert r["caps-again"].error_class == "CommandNotFound"
    assert r["oob-not-negotiated"].error_desc == "QMP input member 'exec-oob' is unexpected"
    assert [o for o in obs if o.kind == "reply"][-1].id is None


def test_oob_negotiation(recorded: Recorded) -> None:
    r = {json.loads(o.id): o for o in recorded["negotiate-oob"][1]["c1"] if o.kind == "reply" and o.id}
    assert r["caps-as-oob"].error_desc == "QMP input member 'exec-oob' is unexpected"
    assert r["caps"].ok
    assert r["oob-1"].error_class == "GenericError"  # migrate-pause: allow-oob, fails outside postcopy
    assert r["oob-not-allowed"].error_desc == "The command query-name does not support OOB"
    assert r["both"].error_desc == "QMP input member 'execute' clashes with 'exec-oob'"


def test_errors(recorded: Recorded) -> None:
    obs = recorded["errors"][1]["c1"]
    replies = [o for o in obs if o.kind == "reply"]
    ids = [json.loads(o.id) if o.id else None for o in replies]
    # Parse errors and non-objects are answered without id (§3.6).
    for o in replies:
        if o.error_desc and (o.error_desc.startswith("JSON parse error")
                             or o.error_desc == "QMP input must be a JSON object"):
            assert o.id is None
    assert "swallowed" not in ids and "swallowing" not in ids  # §7 T
    assert {"two-1", "two-2", "split", "no-newline", "single-quoted", "unknown"} <= set(ids)
    assert next(o for o in replies if o.id == '"unknown"').error_class == "CommandNotFound"
    # The checker's streamer predicts exactly the requests QEMU answered.
    requests = [o for o in obs if o.kind == "request"]
    assert len(requests) == len(replies)
    for req, rep in zip(requests, replies, strict=True):
        assert req.id == rep.id
        if req.request_kind == "parse-error":
            assert rep.error_desc == req.error_desc


def test_oob_overtakes_blocked_command(recorded: Recorded) -> None:
    lines, per = recorded["oob-overtakes-blocked"]
    obs = per["c1"]
    assert reply_line(obs, "oob-1") < release_line(lines, "ib-blocks-1") < reply_line(obs, "ib-blocks-1")
    assert reply_ids(obs)[-6:] == ["oob-1", "ib-blocks-1", "ib-quick-1", "oob-2", "blocks-2", "err-2"]


def test_queue_full_stops_reading(recorded: Recorded) -> None:
    # §3.3: with 8 queued the monitor is suspended; the OOB request behind them waits.
    lines, per = recorded["queue-full-then-oob"]
    obs = per["c1"]
    assert reply_line(obs, "oob-a") < release_line(lines, "blocked-1")
    assert reply_line(obs, "oob-b") > release_line(lines, "blocked-2")
    assert reply_line(obs, "oob-b") > reply_line(obs, "b2")


def test_two_monitors(recorded: Recorded) -> None:
    lines, per = recorded["two-monitors"]
    a, b = per["c1"], per["c2"]
    assert [o.event for o in a if o.kind == "event"] == ["STOP", "RESUME"]
    assert [o.event for o in b if o.kind == "event"] == ["RESUME"]  # STOP came while negotiating
    # One dispatcher for all monitors (§8 invariant 5); OOB is not held back.
    assert reply_line(b, "b-oob") < release_line(lines, "a-blocks") < reply_line(b, "b-inband")


def test_events_precede_the_reply_of_their_command(recorded: Recorded) -> None:
    # §8 invariant 22; a second stop/cont emits no event.
    obs = recorded["stop-cont-events"][1]["c1"]
    seq = [o.event if o.kind == "event" else json.loads(o.id or "null") for o in obs if o.kind in ("event", "reply")]
    assert seq == ["c1-caps", "STOP", "stop-1", "stop-2", "status-stopped", "RESUME", "cont-1", "cont-2",
                   "status-running"]


def test_reply_of_a_running_command_reaches_the_next_client(recorded: Recorded) -> None:
    # §3.8 / §7 P: the popped command is not cancelled, its reply goes to the
    # new session (in negotiation mode); the queued one is dropped.
    _lines, per = recorded["disconnect-while-running"]
    c1, c2 = per["c1"], per["c2"]
    assert "c1-blocks" not in reply_ids(c1) and "c1-queued" not in reply_ids(c1)
    assert reply_ids(c2) == ["c1-blocks", "c2-caps", "c2-after"]
    assert "c1-queued" not in reply_ids(c2)


def test_coroutine_commands(recorded: Recorded) -> None:
    r = {json.loads(o.id): o for o in recorded["coroutine-commands"][1]["c1"] if o.kind == "reply" and o.id}
    assert r["resize-file"].ok
    assert r["resize-null"].error_desc == "Image format driver does not support resize"
    assert r["screendump"].error_desc == "There is no console to take a screendump from"


def test_pipelines_answer_all_twenty(recorded: Recorded) -> None:
    per = recorded["pipeline-20"][1]
    for conn, tag in (("c1", "plain"), ("c2", "oob")):
        assert reply_ids(per[conn])[1:] == [f"{tag}-{i}" for i in range(20)]


STREAM_CASES = [
    b"{]\n", b"{\xff", b"{\x01", b"{'bad \xff", b"%p", b"null\n", b"{}", b'{"a":1]}', b"1 2 ",
    b'"\\ud800" ', b'{"a":1,"a":2}', b'{"execute": "x" \x01{"execute":"y","id":1}',
    b'{"execute": "a",\n{"execute":"q"}\n', b"nul ", b'ABC{"execute":"q"}', b"01 ", b"-x", b"[[[]]", b"]]]",
    b'{"execute":"q","id":"\xc0\x80"}', b'{"execute":"q","id":"\xed\xa0\x80"}', b'"abc\x01"', b"\x01\x01 ",
    b'{"a" {"b":1}}', b"{1:2}", b"[1,]", b"'\\'x' ", b"tru{e", b'{"execute":"query-name","id":"a"} \x7f{}',
]


def test_streamer_agrees_with_qemu() -> None:
    """Per byte string (fresh connection), QEMU answers exactly the messages our streamer predicts.

    A control character and a ``sync`` request follow each case: the control
    character forces a reset (§3.2), so ``sync`` is always parsed.
    """
    sync = b'\x01{"execute":"query-name","id":"sync"}'
    with Session.start() as s:
        for case in STREAM_CASES:
            predicted = []
            for m in split_stream(case + sync).messages:
                if not m.ok:
                    predicted.append(m.error)
                elif not isinstance(m.value, dict):
                    predicted.append("QMP input must be a JSON object")
                else:
                    predicted.append(m.value.get("id", "<no id>"))
            assert predicted[-1] == "sync"
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(5)
            sock.connect(str(s.sock_path("mon0")))
            f = sock.makefile("rb")
            try:
                f.readline()
                sock.sendall(b'{"execute":"qmp_capabilities"}\n')
                f.readline()
                sock.sendall(case + sync)
                seen: list[Any] = []
                while not seen or seen[-1] != "sync":
                    msg = json.loads(f.readline())
                    desc = msg.get("error", {}).get("desc", "")
                    if "id" in msg:
                        seen.append(msg["id"])
                    elif desc.startswith("JSON parse error") or desc == "QMP input must be a JSON object":
                        seen.append(desc)
                    else:
                        seen.append("<no id>")
                assert seen == predicted, case
            finally:
                f.close()
                sock.close()


def test_cli_record_writes_a_loadable_transcript(tmp_path: Path) -> None:
    out = tmp_path / "n.jsonl"
    res = CliRunner().invoke(record_cmd, ["negotiate", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = parse_transcript(out.read_text())
    assert dump_transcript(lines) == out.read_text()


def test_cli_unknown_scenario_exits_2() -> None:
    res = CliRunner().invoke(record_cmd, ["pipline-20", "--out", "/dev/null"])
    assert res.exit_code == 2
    assert "did you mean 'pipeline-20'?" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_qemu_is_killed_by_pid_when_a_scenario_fails() -> None:
    pid = 0
    with pytest.raises(RecordError, match="timed out"), Session.start(timeout=0.3) as s:
        assert s.proc is not None
        pid = s.proc.pid
        c = s.connect()
        s.negotiate(c)
        s.wait_id(c, "never-sent")  # bounded wait: raises RecordError
    assert pid and not Path(f"/proc/{pid}").exists()


# -- issue 13 scenarios (docs/fidelity-ii.md) ---------------------------------------------------


def seq(obs: tuple[Observation, ...]) -> list[Any]:
    """Events (by name), replies (by id) and eof, in wire order."""
    out: list[Any] = []
    for o in obs:
        if o.kind == "event":
            out.append(o.event)
        elif o.kind == "reply":
            out.append(json.loads(o.id) if o.id else None)
        elif o.kind == "eof":
            out.append("<eof>")
    return out


def exit_status(lines: tuple[TranscriptLine, ...]) -> tuple[int, str]:
    ln = next(x for x in lines if x.is_comment and "exit" in x.data)
    return ln.data["exit"], ln.note or ""


def test_quit_events_before_reply_then_eof_everywhere(recorded: Recorded) -> None:
    lines, per = recorded["quit-three-monitors"]
    c1, c2, c3 = (seq(per[c]) for c in ("c1", "c2", "c3"))
    # main_loop_should_exit raises SHUTDOWN, qemu_cleanup closes the export, then
    # monitor_cleanup lets the dispatcher write the reply; the queued request is dropped
    assert c1[-4:] == ["SHUTDOWN", "BLOCK_EXPORT_DELETED", "quit", "<eof>"]
    assert "after-quit" not in c1
    assert c2[-3:] == ["SHUTDOWN", "BLOCK_EXPORT_DELETED", "<eof>"]  # with no command in flight
    assert c3 == ["<eof>"]  # still negotiating: no event, only the close
    assert exit_status(lines)[0] == 0


def test_mux_event_before_greeting(recorded: Recorded) -> None:
    lines, per = recorded["mux-hmp"]
    obs = per["c1"]
    received = [o for o in obs if o.kind in ("event", "greeting", "reply", "unrecognized")]
    assert (received[0].kind, received[0].event) == ("event", "RESUME")  # qmp_cont during qemu_init
    assert received[1].kind == "greeting"
    assert any(o.kind == "unrecognized" and o.message == "VM status: paused" for o in obs)  # HMP, same socket
    assert seq(obs)[-6:-3] == ["RESUME", "cont", "status"]
    assert seq(obs)[-3:] == ["SHUTDOWN", "quit", "<eof>"]
    assert exit_status(lines)[0] == 0


def test_mux_hmp_command_runs_in_the_io_thread_and_aborts(recorded: Recorded) -> None:
    lines, per = recorded["mux-hmp-abort"]
    obs = per["c1"]
    assert obs[-1].kind == "eof" and obs[-2].kind == "unrecognized"  # the echo of "cont", then EOF
    status, note = exit_status(lines)
    assert status == -6 and "qemu_in_main_thread()" in note  # SIGABRT from GLOBAL_STATE_CODE()


def test_job_events_before_and_after_replies_on_every_monitor(recorded: Recorded) -> None:
    per = recorded["block-job-events"][1]
    c1 = seq(per["c1"])
    i = c1.index("mirror")
    assert c1[i - 4:i] == ["JOB_STATUS_CHANGE"] * 3 + ["BLOCK_JOB_READY"]  # created, running, ready
    j = c1.index("complete")
    assert c1[j + 1:j + 5] == ["JOB_STATUS_CHANGE", "JOB_STATUS_CHANGE", "BLOCK_JOB_COMPLETED", "JOB_STATUS_CHANGE"]
    k = c1.index("dismiss")
    assert c1[k - 1] == "JOB_STATUS_CHANGE"  # status null before the reply
    c2 = seq(per["c2"])
    # mon1 sent nothing after negotiating and got every event of mon0's commands
    assert [e for e in c2 if isinstance(e, str) and e.isupper()] == [e for e in c1 if isinstance(e, str)
                                                                     and e.isupper()]


def test_main_loop_events_precede_the_reply(recorded: Recorded) -> None:
    per = recorded["async-events"][1]
    c1 = seq(per["c1"])
    for event, rid in (("POWERDOWN", "powerdown"), ("RESET", "reset"), ("STOP", "hmp-stop"),
                       ("RESUME", "hmp-cont"), ("BLOCK_EXPORT_DELETED", "nbd-remove")):
        assert c1[c1.index(rid) - 1] == event
    r = {json.loads(o.id): o for o in per["c1"] if o.kind == "reply" and o.id}
    assert r["add-bmc"].error_desc == "Parameter 'driver' expects a pluggable device type"
    assert r["add-kbd"].error_class == "GenericError" and r["del-missing"].error_class == "DeviceNotFound"
    assert r["eject-missing"].error_class == "DeviceNotFound"
    after = c1[c1.index("backup") + 1:]
    assert after[:2] == ["JOB_STATUS_CHANGE", "JOB_STATUS_CHANGE"]  # waiting, pending: no command in flight


def test_error_classes(recorded: Recorded) -> None:
    r = {json.loads(o.id): o.error_class for o in recorded["error-classes"][1]["c1"] if o.kind == "reply" and o.id}
    assert r["unknown"] == "CommandNotFound"
    assert r["qom-missing"] == r["del-missing"] == r["yank-missing"] == r["oob-yank-missing"] == "DeviceNotFound"
    assert r["balloon-query"] == r["balloon-set"] == r["job-speed"] == "DeviceNotActive"
    assert r["job-dismiss"] == r["qom-prop"] == "GenericError"
    assert r["kvm"] is None  # query-kvm succeeds: KVMMissingCap needs KVM without a sync MMU


def test_exec_oob_of_missing_commands(recorded: Recorded) -> None:
    per = recorded["exec-oob-unknown"][1]
    r = {json.loads(o.id): o for c in ("c1", "c2") for o in per[c] if o.kind == "reply" and o.id}
    unexpected = "QMP input member 'exec-oob' is unexpected"
    for rid in ("neg-missing", "neg-exists", "nooob-0", "nooob-1", "nooob-2", "nooob-exists"):
        assert r[rid].error_desc == unexpected  # OOB not negotiated: check 2 before any lookup
    for i in range(6):  # with oob: the lookup (check 6) precedes the allow-oob check (9)
        assert r[f"oob-{i}"].error_class == "CommandNotFound"
    assert r["oob-not-allowed"].error_desc == "The command query-name does not support OOB"
    assert r["oob-caps"].error_desc == "The command qmp_capabilities does not support OOB"
    assert r["oob-not-a-string"].error_desc == "QMP input member 'exec-oob' must be a string"
    assert r["inband-0"].error_class == r["inband-1"].error_class == "CommandNotFound"


def test_sigterm_with_a_blocked_command(recorded: Recorded) -> None:
    lines, per = recorded["sigterm-while-blocked"]
    c1, c2 = seq(per["c1"]), seq(per["c2"])
    assert c1[-3:] == ["SHUTDOWN", "blocked", "<eof>"]  # the blocked command still answers, after SHUTDOWN
    assert "queued" not in c1 and "b-queued" not in c2  # popped by nobody: shutdown stops the dispatcher
    assert c2[-2:] == ["SHUTDOWN", "<eof>"]
    blocked = next(o for o in per["c1"] if o.kind == "reply" and o.id == '"blocked"')
    assert blocked.error_desc is not None and "Interrupted system call" in blocked.error_desc
    sig = next(x.lineno for x in lines if x.is_comment and x.data.get("signal") == "SIGTERM")
    assert sig < blocked.line

"""Record QMP transcripts from a real QEMU: the scenarios and :func:`record`.

The machinery (:class:`~qmpmodel.conformance.session.Session`: QEMU started
with QMP monitors on unix sockets, raw sockets, bounded waits, QEMU killed by
pid) is in :mod:`qmpmodel.conformance.session`; this module holds the first
ten scenarios and the registry.  The scenarios added for issue 13 (events,
server-side close, error classes, a mux chardev) are in
:mod:`qmpmodel.conformance.record_fidelity`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from qmpmodel.conformance.live import DEFAULT_QEMU, DEFAULT_TIMEOUT, QEMU_ARGS, RecordError, Retry
from qmpmodel.conformance.record_fidelity import FIDELITY_SCENARIOS
from qmpmodel.conformance.session import Scenario, Session
from qmpmodel.errors import InputError, close_matches

__all__ = [
    "DEFAULT_QEMU",
    "DEFAULT_TIMEOUT",
    "QEMU_ARGS",
    "SCENARIOS",
    "RecordError",
    "Scenario",
    "Session",
    "record",
    "write_transcript",
]


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------


def _negotiate(s: Session) -> None:
    c = s.connect()
    s.greeting(c)
    s.send(c, {"execute": "query-version", "id": "before-caps"})
    s.wait_id(c, "before-caps")
    s.send(c, {"execute": "qmp_capabilities", "arguments": {"enable": ["no-such-cap"]}, "id": "bad-cap"})
    s.wait_id(c, "bad-cap")
    s.send(c, {"execute": "qmp_capabilities", "id": "caps"})
    s.wait_id(c, "caps")
    s.send(c, {"execute": "qmp_capabilities", "id": "caps-again"})
    s.wait_id(c, "caps-again")
    s.send(c, {"execute": "query-status", "id": 1})
    s.wait_id(c, 1)
    s.send(c, {"exec-oob": "migrate-pause", "id": "oob-not-negotiated"})
    s.wait_id(c, "oob-not-negotiated")
    s.send(c, {"execute": "query-name"})
    s.wait_for(c, lambda m: "return" in m and "id" not in m, "the reply without id")
    s.disconnect(c)


def _negotiate_oob(s: Session) -> None:
    c = s.connect()
    s.greeting(c)
    s.send(c, {"exec-oob": "qmp_capabilities", "id": "caps-as-oob"})
    s.wait_id(c, "caps-as-oob")
    s.send(c, {"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": "caps"})
    s.wait_id(c, "caps")
    s.send(c, {"exec-oob": "migrate-pause", "id": "oob-1"})
    s.wait_id(c, "oob-1")
    s.send(c, {"exec-oob": "query-name", "id": "oob-not-allowed"})
    s.wait_id(c, "oob-not-allowed")
    s.send(c, {"execute": "query-name", "id": "ib-1"})
    s.wait_id(c, "ib-1")
    s.send(c, {"execute": "query-name", "exec-oob": "query-name", "id": "both"})
    s.wait_id(c, "both")
    s.disconnect(c)


def _errors(s: Session) -> None:
    c = s.connect()
    s.greeting(c)
    # In negotiation mode (§3.1): parse errors are answered too.
    s.send_raw(c, b"{]\n")
    s.send(c, {"execute": "qmp_capabilities", "id": "caps"})
    s.wait_id(c, "caps")
    cases: list[bytes] = [
        b'{"execute": "no-such-command", "id": "unknown"}\n',
        b"{]\n",                                   # syntax error
        b"{\x01\n",                                # lexical error: control character
        b"null\n",                                 # top-level non-object
        b"[1, 2]\n",
        b"{}\n",                                   # lacks execute
        b'{"execute": true, "id": "not-a-string"}\n',
        b'{"execute": "query-name", "arguments": [], "id": "args-not-object"}\n',
        b'{"execute": "query-name", "extra": true, "id": "extra-member"}\n',
        b'{"exec-oob": "migrate-pause", "id": "oob-without-cap"}\n',
        b"{'execute': 'query-name', 'id': 'single-quoted'}\n",
        b'{"execute": "query-name", "id": "two-1"}{"execute": "query-name", "id": "two-2"}\n',
        b'{"execute": "query-name", "id": "swallowing" {"execute": "query-name", "id": "swallowed"}}\n',
        b'{"execute": "human-monitor-command", "id": 2}\n',
        b'{"id": "no-execute"}\n',
    ]
    for data in cases:
        s.send_raw(c, data)
    # An object split across two writes, and one without a trailing newline.
    s.send_raw(c, b'{"execute": "query-name", ')
    s.settle(0.05)
    s.send_raw(c, b'"id": "split"}\n')
    s.send_raw(c, b'{"execute": "query-name", "id": "no-newline"}')
    s.send(c, {"execute": "query-name", "id": "last"})
    s.wait_id(c, "last")
    s.disconnect(c)
    # OOB negotiated: exec-oob of a command without allow-oob (§3.5 check 9).
    c2 = s.connect()
    s.negotiate(c2, oob=True)
    s.send(c2, {"exec-oob": "query-name", "id": "oob-not-allowed"})
    s.wait_id(c2, "oob-not-allowed")
    s.send(c2, {"exec-oob": "no-such-command", "id": "oob-unknown"})
    s.wait_id(c2, "oob-unknown")
    s.disconnect(c2)


def _pipeline(s: Session) -> None:
    for oob in (False, True):
        c = s.connect()
        s.negotiate(c, oob=oob)
        tag = "oob" if oob else "plain"
        for i in range(20):
            cmd = "query-status" if i % 2 else "query-name"
            s.send(c, {"execute": cmd, "id": f"{tag}-{i}"})
        s.wait_id(c, f"{tag}-19")
        s.disconnect(c)


def _oob_overtakes_blocked(s: Session) -> None:
    c = s.connect()
    s.negotiate(c, oob=True)
    fifo = s.block(c, "ib-blocks-1")
    s.send(c, {"execute": "query-name", "id": "ib-quick-1"})
    s.send(c, {"exec-oob": "migrate-pause", "id": "oob-1"})
    s.wait_id(c, "oob-1")
    s.release(fifo, c, "ib-blocks-1")
    s.wait_id(c, "ib-blocks-1")
    s.wait_id(c, "ib-quick-1")
    # Even a malformed in-band request fails in-band (qmp-test.c).
    fifo = s.block(c, "blocks-2")
    s.send(c, {"id": "err-2"})
    s.send(c, {"exec-oob": "migrate-pause", "id": "oob-2"})
    s.wait_id(c, "oob-2")
    s.release(fifo, c, "blocks-2")
    s.wait_id(c, "blocks-2")
    s.wait_id(c, "err-2")
    s.disconnect(c)


def _queue_full(s: Session) -> None:
    c = s.connect()
    s.negotiate(c, oob=True)
    # Phase 1: blocked + 7 queued -> the queue is not full, the OOB request is read.
    s.note("phase 1: 7 in-band requests queued behind the blocked one, then OOB", conn=c)
    fifo = s.block(c, "blocked-1")
    s.settle(0.1)
    for i in range(1, 8):
        s.send(c, {"execute": "query-name", "id": f"a{i}"})
    s.send(c, {"exec-oob": "migrate-pause", "id": "oob-a"})
    s.wait_id(c, "oob-a")
    s.release(fifo, c, "blocked-1")
    s.wait_id(c, "a7")
    # Phase 2: blocked + 10 queued -> 8 are queued, the monitor stops reading,
    # the OOB request stays unread until the blocked command completes.
    s.note("phase 2: 10 in-band requests behind the blocked one, then OOB", conn=c)
    fifo = s.block(c, "blocked-2")
    s.settle(0.1)
    for i in range(1, 11):
        s.send(c, {"execute": "query-name", "id": f"b{i}"})
    s.send(c, {"exec-oob": "migrate-pause", "id": "oob-b"})
    s.settle(0.5)
    answered = s.has(c, lambda m: m.get("id") == "oob-b")
    s.note(f"after 0.5 s the OOB request was {'answered' if answered else 'not answered'} while blocked",
           conn=c)
    s.release(fifo, c, "blocked-2")
    s.wait_id(c, "oob-b")
    s.wait_id(c, "b10")
    s.disconnect(c)


def _two_monitors(s: Session) -> None:
    a = s.connect("mon0")
    s.negotiate(a, oob=True)
    b = s.connect("mon1")
    s.greeting(b)
    # An event while b is still negotiating is not delivered to b (§3.1).
    s.send(a, {"execute": "stop", "id": "a-stop"})
    s.wait_id(a, "a-stop")
    s.settle(0.1)
    s.negotiate(b, oob=True)
    s.send(b, {"execute": "cont", "id": "b-cont"})
    s.wait_id(b, "b-cont")
    s.wait_for(a, lambda m: m.get("event") == "RESUME", "RESUME on mon0")
    # One dispatcher for all monitors (§1.4, §8 invariant 5): a blocked command
    # on mon0 holds back in-band requests of mon1, but not its OOB requests.
    fifo = s.block(a, "a-blocks")
    s.settle(0.1)
    s.send(b, {"execute": "query-name", "id": "b-inband"})
    s.send(b, {"exec-oob": "migrate-pause", "id": "b-oob"})
    s.wait_id(b, "b-oob")
    s.settle(0.3)
    early = s.has(b, lambda m: m.get("id") == "b-inband")
    s.note(f"while mon0 is blocked, mon1's in-band request was {'answered' if early else 'not answered'}",
           conn=b)
    s.release(fifo, a, "a-blocks")
    s.wait_id(a, "a-blocks")
    s.wait_id(b, "b-inband")
    s.disconnect(b)
    s.disconnect(a)


def _stop_cont(s: Session) -> None:
    c = s.connect()
    s.negotiate(c)
    for rid, cmd in (("stop-1", "stop"), ("stop-2", "stop"), ("status-stopped", "query-status"),
                     ("cont-1", "cont"), ("cont-2", "cont"), ("status-running", "query-status")):
        s.send(c, {"execute": cmd, "id": rid})
        s.wait_id(c, rid)
    s.settle(0.1)
    s.disconnect(c)


def _disconnect_while_running(s: Session) -> None:
    c1 = s.connect()
    s.negotiate(c1, oob=True)
    fifo = s.block(c1, "c1-blocks")
    s.send(c1, {"execute": "query-name", "id": "c1-queued"})
    s.send(c1, {"exec-oob": "migrate-pause", "id": "c1-oob"})
    s.wait_id(c1, "c1-oob")
    s.disconnect(c1)
    c2 = s.connect()
    s.greeting(c2)
    s.send(c2, {"execute": "qmp_capabilities", "id": "c2-caps"})
    s.settle(0.2)
    s.release(fifo, c2, "c1-blocks")
    s.wait_id(c2, "c2-caps")
    s.settle(0.2)
    s.send(c2, {"execute": "query-name", "id": "c2-after"})
    s.wait_id(c2, "c2-after")
    s.disconnect(c2)


def _coroutine_commands(s: Session) -> None:
    c = s.connect()
    s.negotiate(c)
    s.send(c, {"execute": "blockdev-add", "id": "add-null", "arguments": {
        "driver": "null-co", "node-name": "null0", "size": 1048576}})
    s.wait_id(c, "add-null")
    disk = s.dir / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(1048576)
    s.send(c, {"execute": "blockdev-add", "id": "add-file", "arguments": {
        "driver": "file", "node-name": "file0", "filename": str(disk)}})
    s.wait_id(c, "add-file")
    s.send(c, {"execute": "block_resize", "id": "resize-file", "arguments": {"node-name": "file0", "size": 2097152}})
    s.send(c, {"execute": "block_resize", "id": "resize-null", "arguments": {"node-name": "null0", "size": 2097152}})
    s.send(c, {"execute": "query-named-block-nodes", "id": "nodes", "arguments": {"flat": True}})
    s.send(c, {"execute": "block_resize", "id": "resize-missing",
               "arguments": {"node-name": "no-such-node", "size": 4096}})
    s.send(c, {"execute": "screendump", "id": "screendump", "arguments": {"filename": str(s.dir / "shot.ppm")}})
    s.send(c, {"execute": "query-name", "id": "after"})
    s.wait_id(c, "after")
    s.disconnect(c)


def _registry(*items: Scenario) -> Mapping[str, Scenario]:
    return MappingProxyType({sc.name: sc for sc in items})


#: Every scenario by name (read-only).
SCENARIOS: Final[Mapping[str, Scenario]] = _registry(
    Scenario("negotiate", "greeting; commands before/after qmp_capabilities without oob; repeated negotiation",
             ("mon0",), _negotiate),
    Scenario("negotiate-oob", "negotiation with the oob capability; exec-oob allowed and not allowed",
             ("mon0",), _negotiate_oob),
    Scenario("errors", "unknown command, malformed JSON, non-objects, bad members, exec-oob without/with oob",
             ("mon0",), _errors),
    Scenario("pipeline-20", "20 pipelined in-band requests, without and then with oob", ("mon0",), _pipeline),
    Scenario("oob-overtakes-blocked", "an OOB request overtakes an in-band command blocked on a FIFO",
             ("mon0",), _oob_overtakes_blocked),
    Scenario("queue-full-then-oob", "7, then 10 in-band requests behind a blocked one, then an OOB request",
             ("mon0",), _queue_full),
    Scenario("two-monitors", "events on two monitors; one monitor's blocked command holds back the other's",
             ("mon0", "mon1"), _two_monitors),
    Scenario("stop-cont-events", "stop/cont twice each: STOP/RESUME events and replies", ("mon0",), _stop_cont),
    Scenario("disconnect-while-running", "client leaves while its command is blocked; a new client connects",
             ("mon0",), _disconnect_while_running),
    Scenario("coroutine-commands", "block_resize and screendump (coroutine commands) with -machine none",
             ("mon0",), _coroutine_commands),
    *FIDELITY_SCENARIOS,
)


def _qemu_version(qemu: str, timeout: float) -> str:
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RecordError(f"cannot run {qemu} --version: {exc}") from None
    return out.stdout.decode(errors="replace").splitlines()[0] if out.stdout else "unknown"


def record(name: str, qemu: str = DEFAULT_QEMU, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
    """Run scenario *name* against a fresh QEMU and return its transcript lines.

    Raises :class:`InputError` for an unknown scenario, :class:`RecordError`
    when QEMU misbehaves or a wait times out.
    """
    sc = SCENARIOS.get(name)
    if sc is None:
        raise InputError("<command line>", "SCENARIO", "one of " + ", ".join(SCENARIOS), repr(name),
                         close_matches(name, SCENARIOS))
    version = _qemu_version(qemu, timeout)
    header = f"scenario {sc.name}: {sc.description}; {version}"
    why = ""
    for attempt in range(1, sc.attempts + 1):
        try:
            with Session.start(qemu, sc.monitors, timeout, header, sc.layout) as s:
                if attempt > 1:
                    s.note(f"attempt {attempt} of {sc.attempts}: earlier runs took another legal path ({why})")
                sc.run(s)
                with s.lock:
                    return list(s.lines)
        except Retry as exc:
            why = str(exc)
    raise RecordError(f"{sc.attempts} attempts, none took the recorded path: {why}")


def write_transcript(lines: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write transcript *lines* as JSON Lines to *path* (whole or not at all; directories created)."""
    from qmpmodel.artefacts.files import write_atomic

    text = "".join(json.dumps(dict(d), ensure_ascii=False) + "\n" for d in lines)
    write_atomic(path, text, errors="surrogateescape")

"""Run a reproduction script (:class:`~qmpmodel.conformance.repro_plan.Op`) against a real QEMU.

The script drives QEMU through :class:`~qmpmodel.conformance.record.Session`,
so the run is recorded as a transcript (``docs/transcripts.md``) exactly as
``qmpmodel record`` records its scenarios. Request kinds become concrete QMP
(:data:`~qmpmodel.conformance.repro_plan.REALIZABLE` documents each); ids are
``<connection>-<seq>`` (``c1-0`` is the first connection's seq 0), unique
per run, so the judges can attribute every reply.

Safety: every wait is bounded by the session timeout, QEMU is killed by pid
when the run ends (``Session.start``), and nothing outside the session's
temporary directory is written.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qmpmodel.conformance.record import RecordError, Session
from qmpmodel.conformance.repro_plan import Expect, Op

__all__ = ["RunResult", "run_script"]

#: Seconds to let QEMU do work that nothing observable confirms (the recorder uses 0.1-0.5).
SETTLE = 0.1
#: Seconds to wait after the last step, so that a missing or an extra reply can show.
FINAL_SETTLE = 0.3


@dataclass
class RunResult:
    """One run: its transcript lines (dicts), the ids written per connection, and how it ended."""

    lines: list[dict[str, Any]]
    intended: dict[str, str] = field(default_factory=dict)  # request id -> connection label
    held: list[str] = field(default_factory=list)  # ids still blocked on a FIFO at the end
    noid: dict[str, int] = field(default_factory=dict)  # connection -> requests written without an id
    error: str | None = None  # a wait timed out (the run went another way than the script)
    seconds: float = 0.0


def _has_id(kind: str) -> bool:
    return kind not in ("garbage", "parse-error", "nonobject", "quick-noid")


class _Runner:
    def __init__(self, s: Session, oob: bool, client_monitor: Mapping[int, str]) -> None:
        self.s = s
        self.oob = oob
        self.monitor_of = client_monitor
        self.label: dict[int, str] = {}
        self.open: dict[int, bool] = {}
        self.fifos: dict[tuple[int, int], Path] = {}
        self.ids: dict[tuple[int, int], str] = {}
        self.cursor: dict[tuple[str, str], int] = {}
        self.running = True  # the VM's run state, for `event` requests (stop / cont)
        self.result = RunResult([])

    def do(self, op: Op) -> None:
        getattr(self, "op_" + op.what)(op)

    def op_connect(self, op: Op) -> None:
        label = self.s.connect(self.monitor_of[op.client])
        self.label[op.client], self.open[op.client] = label, True
        self.s.greeting(label)

    def op_disconnect(self, op: Op) -> None:
        self.s.disconnect(self.label[op.client])
        self.open[op.client] = False

    def op_send(self, op: Op) -> None:
        label, c, i = self.label[op.client], op.client, op.seq
        rid = f"{label}-{i}"
        self.ids[(c, i)] = rid
        if _has_id(op.kind):
            self.result.intended[rid] = label
        else:
            self.result.noid[label] = self.result.noid.get(label, 0) + 1
        k = op.kind
        if k == "blocking":
            self.fifos[(c, i)] = self.s.block(label, rid)
            self.result.held.append(rid)
        elif k == "garbage":
            self.s.send_raw(label, b'{"execute": "query-name", "id": ' + json.dumps(rid).encode() + b" ")
        elif k == "parse-error":
            self.s.send_raw(label, b"{]\n")
        elif k == "nonobject":
            self.s.send_raw(label, b"[1, 2]\n")
        else:
            self.s.send(label, self._message(k, rid, i))

    def _message(self, k: str, rid: str, seq: int) -> dict[str, Any]:
        msg: dict[str, Any]
        if k in ("qmp_capabilities", "caps", "caps-nooob", "caps-bad"):
            msg = {"execute": "qmp_capabilities"}
            enable = {"qmp_capabilities": ["oob"] if self.oob else None, "caps": ["oob"], "caps-nooob": None,
                      "caps-bad": ["qmpmodel-no-such-capability"]}[k]
            if enable:
                msg["arguments"] = {"enable": enable}
        elif k == "coroutine":
            msg = {"execute": "block_resize", "arguments": {"node-name": "repro-file", "size": 1 << (20 + seq % 2)}}
        elif k == "event":
            msg = {"execute": "stop" if self.running else "cont"}
            self.running = not self.running
        else:
            form, name = {"quick": ("execute", "query-name"), "quick-noid": ("execute", "query-name"),
                          "oob": ("exec-oob", "migrate-pause"), "oob-inband": ("execute", "migrate-pause"),
                          "exec-oob-bad": ("exec-oob", "query-name"),
                          "unknown": ("execute", "qmpmodel-no-such-command"),
                          "exec-oob-unknown": ("exec-oob", "qmpmodel-no-such-command"),
                          "bad-request": ("", "")}[k]
            msg = {form: name} if form else {}
        if _has_id(k):
            msg["id"] = rid
        return msg

    def op_closer(self, op: Op) -> None:
        if self.open.get(op.client):
            self.s.send_raw(self.label[op.client], b"}\n")

    def op_release(self, op: Op) -> None:
        assert op.req is not None
        fifo, rid = self.fifos[op.req], self.ids[op.req]
        owner = op.req[0]
        # the note goes with a connection still open: the request's own, else the monitor's current one
        conn = self.label[owner] if self.open.get(owner) else next(
            (self.label[c] for c, o in sorted(self.open.items(), reverse=True) if o), self.label[owner])
        self.s.release(fifo, conn, rid)
        self.result.held.remove(rid)

    def op_blocked(self, op: Op) -> None:
        """Wait until QEMU's main thread sleeps in open() of a FIFO (wchan ``wait_for_partner``)."""
        proc = self.s.proc
        assert proc is not None
        path = Path(f"/proc/{proc.pid}/task/{proc.pid}/wchan")
        deadline = time.monotonic() + self.s.timeout
        while time.monotonic() < deadline:
            try:
                if path.read_text().strip() == "wait_for_partner":
                    return
            except OSError:
                break  # no /proc: fall back to a settle
            time.sleep(0.005)
        time.sleep(SETTLE * 2)

    def op_settle(self, op: Op) -> None:
        self.s.settle(SETTLE)

    def op_await(self, op: Op) -> None:
        for ex in op.expect:
            self._expect(ex)

    def _expect(self, ex: Expect) -> None:
        label = self.label[ex.client]
        if ex.what == "event":
            self._nth(label, "event", lambda m: "event" in m, "an event")
            return
        assert ex.req is not None
        rid = self.ids.get(ex.req)
        kind_has_id = rid is not None and rid in self.result.intended
        if kind_has_id:
            self.s.wait_for(label, lambda m: m.get("id") == rid and ("return" in m or "error" in m),
                            f"the reply to {rid}")
        else:
            self._nth(label, "noid", lambda m: "id" not in m and ("return" in m or "error" in m),
                      "a reply without id")

    def _nth(self, label: str, what: str, pred: Any, text: str) -> None:
        start = self.cursor.get((label, what), 0)
        i = self.s.wait_for(label, pred, text, start=start)
        self.cursor[(label, what)] = i + 1


def run_script(ops: Sequence[Op], qemu: str, monitors: Sequence[str], client_monitor: Mapping[int, str],
               oob: bool, header: str, timeout: float, notes: Mapping[int, str]) -> RunResult:
    """Start QEMU, perform ``ops``, and return the recorded run.

    ``notes`` maps a model step to a comment recorded before its first op.
    A wait that times out ends the run early with ``error`` set (the run took
    another interleaving than the script's); QEMU failing to start raises
    :class:`RecordError`.
    """
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qmpmodel-repro-") as disk_dir:
        extra: tuple[str, ...] = ()
        if any(op.kind == "coroutine" for op in ops):
            # a file node for block_resize (a coroutine command), given on the command line so
            # that no extra QMP request appears in the transcript
            disk = Path(disk_dir) / "disk.img"
            with open(disk, "wb") as f:
                f.truncate(1 << 20)
            extra = ("-blockdev", f"driver=file,filename={disk},node-name=repro-file")
        return _run(ops, qemu, monitors, client_monitor, oob, header, timeout, notes, extra, t0)


def _run(ops: Sequence[Op], qemu: str, monitors: Sequence[str], client_monitor: Mapping[int, str], oob: bool,
         header: str, timeout: float, notes: Mapping[int, str], extra: Sequence[str], t0: float) -> RunResult:
    with Session.start(qemu, monitors, timeout, header, extra_args=extra) as s:
        r = _Runner(s, oob, client_monitor)
        noted: set[int] = set()
        try:
            for op in ops:
                if op.what in ("connect", "send", "disconnect", "release") and op.step in notes \
                        and op.step not in noted:
                    noted.add(op.step)
                    s.note(notes[op.step])
                r.do(op)
            s.settle(FINAL_SETTLE)
        except RecordError as e:
            r.result.error = str(e)
        with s.lock:
            r.result.lines = list(s.lines)
    r.result.seconds = time.monotonic() - t0
    return r.result

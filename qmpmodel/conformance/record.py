"""Record QMP transcripts from a real QEMU.

Each scenario starts ``qemu-system-x86_64 -machine none -nodefaults -display
none -accel tcg`` with one or more QMP monitors on unix sockets in a temporary
directory (``-chardev socket,…,server=on,wait=off -mon chardev=…,mode=control``),
drives it with raw sockets so that every byte written is known exactly, and
returns the transcript (``docs/transcripts.md``) as a list of JSON objects.

Safety: every wait is bounded (:data:`DEFAULT_TIMEOUT`); QEMU is always killed
by its pid in a ``finally`` clause, also when the scenario fails; reader
threads are daemon threads joined with a timeout.

A command is kept blocked with the trick of QEMU's ``tests/qtest/qmp-test.c``:
``blockdev-add`` of a ``blkdebug`` node whose ``config`` is a FIFO makes the
main thread block in ``open()`` until somebody opens the FIFO for writing
(:meth:`Session.release`).  The release is recorded as a comment line with
``"release": <id of the blocked request>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

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

DEFAULT_QEMU: Final = "qemu-system-x86_64"
#: Bound on every single wait (seconds).
DEFAULT_TIMEOUT: Final = 10.0
#: The fixed part of QEMU's command line.
QEMU_ARGS: Final = ("-machine", "none", "-nodefaults", "-display", "none", "-accel", "tcg")


class RecordError(RuntimeError):
    """QEMU did not behave as the scenario needed (did not start, timed out, …)."""


class _Conn:
    """One client connection: a socket, a reader thread and what it received."""

    def __init__(self, session: Session, label: str, monitor: str, sock: socket.socket) -> None:
        self.session = session
        self.label = label
        self.monitor = monitor
        self.sock = sock
        self.received: list[Any] = []  # decoded messages (None for raw lines)
        self.cond = threading.Condition(session.lock)
        self.closing = False
        self.eof = False
        self.thread = threading.Thread(target=self._reader, name=f"qmp-reader-{label}", daemon=True)

    def _reader(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cond:
                    if buf:
                        self._record_line(buf)
                    if not self.closing:
                        self.eof = True
                        self.session._append({"dir": "--", "conn": self.label, "event": "eof"})
                    self.cond.notify_all()
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self.cond:
                    self._record_line(line)
                    self.cond.notify_all()

    def _record_line(self, line: bytes) -> None:
        text = line.removesuffix(b"\r").decode("utf-8", errors="surrogateescape")
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if isinstance(msg, dict):
            self.session._append({"dir": "<-", "conn": self.label, "msg": msg})
            self.received.append(msg)
        else:
            self.session._append({"dir": "<-", "conn": self.label, "msg": None, "raw": text})
            self.received.append(None)


class Session:
    """A running QEMU plus the transcript being recorded.

    Use :func:`Session.start` as a context manager; scenarios call
    :meth:`connect`, :meth:`send`, :meth:`send_raw`, :meth:`wait_for`,
    :meth:`block`, :meth:`release`, :meth:`disconnect`, :meth:`note`.
    """

    def __init__(self, qemu: str, tmpdir: Path, monitors: Sequence[str], timeout: float,
                 extra_args: Sequence[str] = ()) -> None:
        self.qemu = qemu
        self.extra_args = tuple(extra_args)
        self.dir = tmpdir
        self.monitors = tuple(monitors)
        self.timeout = timeout
        self.lock = threading.RLock()
        self.lines: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conns: dict[str, _Conn] = {}
        self._next_conn = 1
        self._fifos = 0

    # -- life cycle -------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def start(cls, qemu: str = DEFAULT_QEMU, monitors: Sequence[str] = ("mon0",),
              timeout: float = DEFAULT_TIMEOUT, header: str | None = None,
              extra_args: Sequence[str] = ()) -> Iterator[Session]:
        """Start QEMU with one QMP monitor per name in *monitors*; kill it on exit.

        *header* is recorded as the first (comment) line. *extra_args* are appended
        to QEMU's command line.
        """
        tmp = Path(tempfile.mkdtemp(prefix="qmpmodel-rec-"))
        s = cls(qemu, tmp, monitors, timeout, extra_args)
        if header is not None:
            s.note(header)
        try:
            s._launch()
            yield s
        finally:
            s._shutdown()
            shutil.rmtree(tmp, ignore_errors=True)

    def sock_path(self, monitor: str) -> Path:
        """The unix socket of *monitor*."""
        return self.dir / f"{monitor}.sock"

    def _launch(self) -> None:
        argv = [self.qemu, *QEMU_ARGS]
        for m in self.monitors:
            argv += ["-chardev", f"socket,id={m},path={self.sock_path(m)},server=on,wait=off",
                     "-mon", f"chardev={m},mode=control"]
        argv += self.extra_args
        shown = " ".join(a.replace(str(self.dir), "$TMP") for a in argv[1:])
        self.note(f"qemu: {Path(self.qemu).name} {shown}")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise RecordError(f"cannot start {self.qemu}: {exc}") from None
        deadline = time.monotonic() + self.timeout
        while not all(self.sock_path(m).exists() for m in self.monitors):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RecordError(f"QEMU exited with status {self.proc.returncode}: {err.strip()}")
            if time.monotonic() > deadline:
                raise RecordError("QEMU did not create its monitor sockets in time")
            time.sleep(0.01)

    def _shutdown(self) -> None:
        for c in self.conns.values():
            c.closing = True
            with contextlib.suppress(OSError):
                c.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.sock.close()
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=self.timeout)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
        for c in self.conns.values():
            c.thread.join(timeout=2)

    # -- recording --------------------------------------------------------

    def _append(self, line: dict[str, Any]) -> None:
        with self.lock:
            self.lines.append({"t": round(time.monotonic() - self.t0, 6), **line})

    def note(self, text: str, conn: str | None = None, **extra: Any) -> None:
        """Record a comment line (ignored by checkers)."""
        line: dict[str, Any] = {"dir": "--"}
        if conn is not None:
            line["conn"] = conn
        line["note"] = text
        line.update(extra)
        self._append(line)

    def connect(self, monitor: str | None = None) -> str:
        """Open a new connection to *monitor*; return its label (``c1``, ``c2``, …)."""
        mon = monitor or self.monitors[0]
        label = f"c{self._next_conn}"
        self._next_conn += 1
        # QEMU creates the socket file at bind(), a moment before listen(): on a
        # loaded machine a connect in between is refused, so retry until the deadline
        deadline = time.monotonic() + self.timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.sock_path(mon)))
                break
            except (ConnectionRefusedError, FileNotFoundError) as exc:
                sock.close()
                if time.monotonic() > deadline or (self.proc is not None and self.proc.poll() is not None):
                    raise RecordError(f"cannot connect to monitor {mon}: {exc}") from None
                time.sleep(0.02)
            except OSError as exc:
                sock.close()
                raise RecordError(f"cannot connect to monitor {mon}: {exc}") from None
        sock.settimeout(None)
        conn = _Conn(self, label, mon, sock)
        self.conns[label] = conn
        self._append({"dir": "--", "conn": label, "event": "connect", "monitor": mon})
        conn.thread.start()
        return label

    def send(self, conn: str, msg: Mapping[str, Any]) -> None:
        """Write ``json.dumps(msg) + "\\n"`` (recorded as a ``msg`` line before writing)."""
        data = (json.dumps(msg) + "\n").encode()
        with self.lock:
            self._append({"dir": "->", "conn": conn, "msg": dict(msg)})
        self.conns[conn].sock.sendall(data)

    def send_raw(self, conn: str, data: bytes) -> None:
        """Write *data* exactly (recorded as a ``raw`` line before writing)."""
        with self.lock:
            self._append({"dir": "->", "conn": conn, "msg": None,
                          "raw": data.decode("utf-8", errors="surrogateescape")})
        self.conns[conn].sock.sendall(data)

    def disconnect(self, conn: str) -> None:
        """Close the connection from the client side."""
        c = self.conns[conn]
        with c.cond:
            c.closing = True
            if not c.eof:
                self._append({"dir": "--", "conn": conn, "event": "disconnect"})
        with contextlib.suppress(OSError):
            c.sock.shutdown(socket.SHUT_RDWR)
        c.thread.join(timeout=self.timeout)
        c.sock.close()

    # -- waiting ----------------------------------------------------------

    def wait_for(self, conn: str, pred: Callable[[Any], bool], what: str,
                 timeout: float | None = None, start: int = 0) -> int:
        """Wait until a message received on *conn* (from index *start*) satisfies *pred*.

        Returns its index in the connection's received list; raises
        :class:`RecordError` after *timeout* seconds.
        """
        c = self.conns[conn]
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with c.cond:
            while True:
                for i in range(start, len(c.received)):
                    m = c.received[i]
                    if m is not None and pred(m):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or c.eof:
                    raise RecordError(f"{conn}: timed out waiting for {what}")
                c.cond.wait(left)

    def wait_id(self, conn: str, rid: Any, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the reply with id *rid* on *conn* and return it."""
        i = self.wait_for(conn, lambda m: "id" in m and m["id"] == rid and ("return" in m or "error" in m),
                          f"the reply with id {rid!r}", timeout)
        msg: dict[str, Any] = self.conns[conn].received[i]
        return msg

    def wait_count(self, conn: str, n: int, timeout: float | None = None) -> None:
        """Wait until *conn* has received at least *n* lines."""
        c = self.conns[conn]
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with c.cond:
            while len(c.received) < n:
                left = deadline - time.monotonic()
                if left <= 0 or c.eof:
                    raise RecordError(f"{conn}: timed out waiting for {n} messages")
                c.cond.wait(left)

    def has(self, conn: str, pred: Callable[[Any], bool]) -> bool:
        """True if *conn* already received a message satisfying *pred*."""
        c = self.conns[conn]
        with c.cond:
            return any(m is not None and pred(m) for m in c.received)

    def received(self, conn: str) -> list[Any]:
        """A copy of what *conn* received so far."""
        c = self.conns[conn]
        with c.cond:
            return list(c.received)

    def settle(self, seconds: float) -> None:
        """Let QEMU run for *seconds* (to observe that something does *not* happen)."""
        time.sleep(seconds)

    # -- protocol helpers -------------------------------------------------

    def greeting(self, conn: str) -> dict[str, Any]:
        """Wait for the greeting on *conn*."""
        i = self.wait_for(conn, lambda m: "QMP" in m, "the greeting")
        msg: dict[str, Any] = self.conns[conn].received[i]
        return msg

    def negotiate(self, conn: str, oob: bool = False, rid: Any = None) -> dict[str, Any]:
        """Wait for the greeting, send ``qmp_capabilities`` (with ``oob`` if asked), wait for its reply."""
        self.greeting(conn)
        req: dict[str, Any] = {"execute": "qmp_capabilities"}
        if oob:
            req["arguments"] = {"enable": ["oob"]}
        req["id"] = rid if rid is not None else f"{conn}-caps"
        self.send(conn, req)
        return self.wait_id(conn, req["id"])

    def block(self, conn: str, rid: str) -> Path:
        """Send an in-band ``blockdev-add`` that blocks QEMU's main thread until :meth:`release`.

        (tests/qtest/qmp-test.c: a ``blkdebug`` node whose ``config`` is a FIFO.)
        """
        self._fifos += 1
        fifo = self.dir / f"fifo{self._fifos}"
        os.mkfifo(fifo)
        self.send(conn, {"execute": "blockdev-add", "id": rid, "arguments": {
            "driver": "blkdebug", "node-name": f"blk{self._fifos}", "config": str(fifo),
            "image": {"driver": "null-co", "read-zeroes": True}}})
        return fifo

    def release(self, fifo: Path, conn: str, rid: str) -> None:
        """Unblock the command blocked on *fifo*: open it for writing (non-blocking, retried) and close it."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:  # ENXIO: QEMU has not opened it for reading yet
                if time.monotonic() > deadline:
                    raise RecordError(f"QEMU never opened {fifo.name}: {exc}") from None
                time.sleep(0.005)
        self.note("external: FIFO opened for writing and closed, the blocked command can complete",
                  conn=conn, release=rid)
        os.close(fd)


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A named recording: its monitors, a one-line description, and the driver."""

    name: str
    description: str
    monitors: tuple[str, ...]
    run: Callable[[Session], None]


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
    with Session.start(qemu, sc.monitors, timeout, header) as s:
        sc.run(s)
        with s.lock:
            return list(s.lines)


def write_transcript(lines: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write transcript *lines* as JSON Lines to *path*."""
    text = "".join(json.dumps(dict(d), ensure_ascii=False) + "\n" for d in lines)
    Path(path).write_text(text, encoding="utf-8", errors="surrogateescape")

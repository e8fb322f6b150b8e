"""A running QEMU driven over raw sockets, recording a transcript.

:class:`Session` starts ``qemu-system-x86_64 -machine none -nodefaults -display
none -accel tcg`` with QMP monitors on unix sockets in a temporary directory
(``-chardev socket,…,server=on,wait=off -mon chardev=…,mode=control``), and
records every byte written and every line received (``docs/transcripts.md``).
:class:`Layout` describes other monitor layouts: a QMP monitor sharing a mux
chardev with an HMP monitor, and extra command-line arguments.

Safety: every wait is bounded (:data:`DEFAULT_TIMEOUT`); QEMU is always killed
by its pid in a ``finally`` clause, also when the scenario fails; reader
threads are daemon threads joined with a timeout.

A command is kept blocked with the trick of QEMU's ``tests/qtest/qmp-test.c``:
``blockdev-add`` of a ``blkdebug`` node whose ``config`` is a FIFO makes the
main thread block in ``open()`` until somebody opens the FIFO for writing
(:meth:`Session.release`).  The release is recorded as a comment line with
``"release": <id of the blocked request>``.  A signal sent to QEMU
(:meth:`Session.signal`) is recorded as a comment with ``"signal"``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DEFAULT_QEMU",
    "DEFAULT_TIMEOUT",
    "QEMU_ARGS",
    "Layout",
    "RecordError",
    "Retry",
    "Scenario",
    "Session",
]

DEFAULT_QEMU: Final = "qemu-system-x86_64"
#: Bound on every single wait (seconds).
DEFAULT_TIMEOUT: Final = 10.0
#: The fixed part of QEMU's command line.
QEMU_ARGS: Final = ("-machine", "none", "-nodefaults", "-display", "none", "-accel", "tcg")


@dataclass(frozen=True)
class Layout:
    """Where QEMU's monitors are and what else is on its command line.

    ``monitors`` get a QMP monitor each on a unix socket.  A monitor also named
    in ``mux_hmp`` gets a *mux* chardev (``mux=on``) shared by an HMP monitor and
    the QMP monitor, HMP first: the QMP monitor sets its handlers last (in a
    bottom half of the monitor I/O thread), so the mux's initial focus is QMP.
    ``extra_args`` are appended with ``$TMP`` replaced by the temporary
    directory; ``prepare`` runs on that directory before QEMU starts.
    """

    monitors: tuple[str, ...] = ("mon0",)
    mux_hmp: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    prepare: Callable[[Path], None] | None = None


class RecordError(RuntimeError):
    """QEMU did not behave as the scenario needed (did not start, timed out, …)."""


class Retry(RecordError):
    """The run took a legal path other than the one the scenario records: start QEMU again."""


class _Conn:
    """One client connection: a socket, a reader thread and what it received."""

    def __init__(self, session: Session, label: str, monitor: str, sock: socket.socket) -> None:
        self.session = session
        self.label = label
        self.monitor = monitor
        self.sock = sock
        self.received: list[Any] = []  # decoded messages (None for raw lines)
        self.raw: list[str] = []  # the text of the lines that are not JSON objects (HMP output)
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
            self.raw.append(text)


class Session:
    """A running QEMU plus the transcript being recorded.

    Use :func:`Session.start` as a context manager; scenarios call
    :meth:`connect`, :meth:`send`, :meth:`send_raw`, :meth:`wait_for`,
    :meth:`block`, :meth:`release`, :meth:`disconnect`, :meth:`note`.
    """

    def __init__(self, qemu: str, tmpdir: Path, layout: Layout, timeout: float) -> None:
        self.qemu = qemu
        self.dir = tmpdir
        self.layout = layout
        self.monitors = layout.monitors
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
              layout: Layout | None = None, extra_args: Sequence[str] = ()) -> Iterator[Session]:
        """Start QEMU with one QMP monitor per name in *monitors* (or per *layout*); kill it on exit.

        *header* is recorded as the first (comment) line. *extra_args* are appended
        to QEMU's command line (after the layout's own).
        """
        tmp = Path(tempfile.mkdtemp(prefix="qmpmodel-rec-"))
        lay = layout or Layout(tuple(monitors))
        if extra_args:
            lay = replace(lay, extra_args=(*lay.extra_args, *extra_args))
        s = cls(qemu, tmp, lay, timeout)
        if header is not None:
            s.note(header)
        try:
            if s.layout.prepare is not None:
                s.layout.prepare(tmp)
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
            if m in self.layout.mux_hmp:
                argv += ["-chardev", f"socket,id={m},path={self.sock_path(m)},server=on,wait=off,mux=on",
                         "-mon", f"chardev={m}", "-mon", f"chardev={m},mode=control"]
            else:
                argv += ["-chardev", f"socket,id={m},path={self.sock_path(m)},server=on,wait=off",
                         "-mon", f"chardev={m},mode=control"]
        argv += [a.replace("$TMP", str(self.dir)) for a in self.layout.extra_args]
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

    def send_raw(self, conn: str, data: bytes, to: str | None = None) -> None:
        """Write *data* exactly (recorded as a ``raw`` line before writing).

        *to* (``"hmp"`` or ``"mux"``) records that on a mux chardev the bytes
        reach the HMP monitor or the mux itself (its escape), not QMP.
        """
        line: dict[str, Any] = {"dir": "->", "conn": conn, "msg": None,
                                "raw": data.decode("utf-8", errors="surrogateescape")}
        if to is not None:
            line["to"] = to
        with self.lock:
            self._append(line)
        self.conns[conn].sock.sendall(data)

    def signal(self, signum: signal.Signals) -> None:
        """Send *signum* to QEMU (recorded as a comment with ``"signal"`` before sending)."""
        assert self.proc is not None
        self.note(f"external: {signum.name} sent to QEMU", signal=signum.name)
        os.kill(self.proc.pid, signum)

    def wait_exit(self, timeout: float | None = None) -> int:
        """Wait until QEMU has exited; record its status (and last stderr line) as a comment."""
        assert self.proc is not None
        try:
            status = self.proc.wait(timeout=self.timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            raise RecordError("QEMU did not exit in time") from None
        err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
        # "terminating on signal 15 from pid N (PROGRAM)" names the recorder: leave that out
        last = re.sub(r" from pid \d+ \([^)]*\)", "", err.splitlines()[-1]) if err else ""
        self.note(f"QEMU exited with status {status}" + (f": {last}" if last else ""), exit=status)
        return status

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

    def wait_eof(self, conn: str, timeout: float | None = None) -> None:
        """Wait until the server closed *conn* (its ``eof`` line is recorded by the reader)."""
        c = self.conns[conn]
        c.thread.join(timeout=self.timeout if timeout is None else timeout)
        with c.cond:
            if not c.eof:
                raise RecordError(f"{conn}: timed out waiting for the server to close it")

    def wait_raw(self, conn: str, text: str, timeout: float | None = None) -> None:
        """Wait until *conn* received a line that is not a JSON object and contains *text*."""
        c = self.conns[conn]
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with c.cond:
            while not any(text in r for r in c.raw):
                left = deadline - time.monotonic()
                if left <= 0 or c.eof:
                    raise RecordError(f"{conn}: timed out waiting for a line containing {text!r}")
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




@dataclass(frozen=True)
class Scenario:
    """A named recording: its monitors, a one-line description, and the driver.

    ``layout`` overrides the plain one-socket-per-monitor layout; ``attempts``
    bounds how often :func:`~qmpmodel.conformance.record.record` starts QEMU
    again when the driver raises :class:`Retry` (a race QEMU may lose).
    """

    name: str
    description: str
    monitors: tuple[str, ...]
    run: Callable[[Session], None]
    layout: Layout | None = None
    attempts: int = 1

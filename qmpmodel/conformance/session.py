"""A running QEMU driven over raw sockets, recording a transcript.

:class:`Session` starts ``qemu-system-x86_64 -machine none -nodefaults -display
none -accel tcg`` with QMP monitors on unix sockets in a temporary directory
(``-chardev socket,…,server=on,wait=off -mon chardev=…,mode=control``), and
records every byte written and every line received (``docs/transcripts.md``).
A :class:`~qmpmodel.conformance.live.Layout` describes other monitor layouts:
a QMP monitor sharing a mux chardev with an HMP monitor, and extra
command-line arguments. The process and the connections are
:mod:`qmpmodel.conformance.live`'s; a session records what happens on them.

Safety: every wait is bounded (:data:`~qmpmodel.conformance.live.DEFAULT_TIMEOUT`); QEMU is always killed
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
from typing import Any

from qmpmodel.conformance.live import (
    DEFAULT_QEMU,
    DEFAULT_TIMEOUT,
    Connection,
    Layout,
    RecordError,
    exit_status,
    kill,
    launch,
    open_socket,
    qemu_command,
)

__all__ = ["Scenario", "Session"]


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
        self.conns: dict[str, Connection] = {}
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
        argv = qemu_command(self.qemu, self.layout, self.dir, self.sock_path)
        shown = " ".join(a.replace(str(self.dir), "$TMP") for a in argv[1:])
        self.note(f"qemu: {Path(self.qemu).name} {shown}")
        self.proc = launch(argv, [self.sock_path(m) for m in self.monitors], self.timeout)

    def _shutdown(self) -> None:
        for c in self.conns.values():
            c.close()
        if self.proc is not None:
            kill(self.proc, self.timeout)
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
        proc = self.proc
        sock = open_socket(self.sock_path(mon), mon, self.timeout, lambda: proc is None or proc.poll() is None)
        conn = Connection(label, mon, sock, self.lock, self._append, self.timeout)
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
        status, last = exit_status(self.proc, self.timeout if timeout is None else timeout)
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
        return self.conns[conn].wait_for(pred, what, timeout, start)

    def wait_id(self, conn: str, rid: Any, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the reply with id *rid* on *conn* and return it."""
        i = self.wait_for(conn, lambda m: "id" in m and m["id"] == rid and ("return" in m or "error" in m),
                          f"the reply with id {rid!r}", timeout)
        msg: dict[str, Any] = self.conns[conn].received[i]
        return msg

    def wait_count(self, conn: str, n: int, timeout: float | None = None) -> None:
        """Wait until *conn* has received at least *n* lines."""
        self.conns[conn].wait_count(n, timeout)

    def wait_eof(self, conn: str, timeout: float | None = None) -> None:
        """Wait until the server closed *conn* (its ``eof`` line is recorded by the reader)."""
        self.conns[conn].wait_eof(timeout)

    def wait_raw(self, conn: str, text: str, timeout: float | None = None) -> None:
        """Wait until *conn* received a line that is not a JSON object and contains *text*."""
        self.conns[conn].wait_raw(text, timeout)

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

"""A live QEMU: its command line, its process, and client connections to its monitors.

The pieces :class:`~qmpmodel.conformance.session.Session` is made of, each
bounded in time: :func:`launch` starts ``qemu-system-x86_64 -machine none
-nodefaults -display none -accel tcg`` with the monitors of a :class:`Layout`
and waits for their sockets; :func:`kill` always ends it by pid;
:class:`Connection` is one client socket with a daemon reader thread that
hands every line it receives to a recorder, and the waits on what arrived.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DEFAULT_QEMU",
    "DEFAULT_TIMEOUT",
    "QEMU_ARGS",
    "Connection",
    "Layout",
    "RecordError",
    "Retry",
    "exit_status",
    "kill",
    "launch",
    "open_socket",
    "qemu_command",
]

DEFAULT_QEMU: Final = "qemu-system-x86_64"
#: Bound on every single wait (seconds).
DEFAULT_TIMEOUT: Final = 10.0
#: The fixed part of QEMU's command line.
QEMU_ARGS: Final = ("-machine", "none", "-nodefaults", "-display", "none", "-accel", "tcg")

Record = Callable[[dict[str, Any]], None]


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


# -- the process ------------------------------------------------------------------------


def qemu_command(qemu: str, layout: Layout, directory: Path, sock_path: Callable[[str], Path]) -> list[str]:
    """QEMU's argv: a unix-socket chardev and a QMP monitor per monitor (a mux with HMP first where asked)."""
    argv = [qemu, *QEMU_ARGS]
    for m in layout.monitors:
        if m in layout.mux_hmp:
            argv += ["-chardev", f"socket,id={m},path={sock_path(m)},server=on,wait=off,mux=on",
                     "-mon", f"chardev={m}", "-mon", f"chardev={m},mode=control"]
        else:
            argv += ["-chardev", f"socket,id={m},path={sock_path(m)},server=on,wait=off",
                     "-mon", f"chardev={m},mode=control"]
    return argv + [a.replace("$TMP", str(directory)) for a in layout.extra_args]


def launch(argv: Sequence[str], sockets: Sequence[Path], timeout: float) -> subprocess.Popen[bytes]:
    """Start QEMU in its own session and wait until every monitor socket exists."""
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise RecordError(f"cannot start {argv[0]}: {exc}") from None
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in sockets):
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RecordError(f"QEMU exited with status {proc.returncode}: {err.strip()}")
        if time.monotonic() > deadline:
            kill(proc, timeout)
            raise RecordError("QEMU did not create its monitor sockets in time")
        time.sleep(0.01)
    return proc


def kill(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGKILL QEMU if it still runs, reap it, close its stderr."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    if proc.stderr is not None:
        proc.stderr.close()


def exit_status(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, str]:
    """Wait until QEMU has exited: its status and its last stderr line (without the sender's pid)."""
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RecordError("QEMU did not exit in time") from None
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    # "terminating on signal 15 from pid N (PROGRAM)" names the recorder: leave that out
    return status, re.sub(r" from pid \d+ \([^)]*\)", "", err.splitlines()[-1]) if err else ""


def open_socket(path: Path, monitor: str, timeout: float, alive: Callable[[], bool]) -> socket.socket:
    """Connect to a monitor's unix socket, retrying while QEMU runs and the deadline allows.

    QEMU creates the socket file at bind(), a moment before listen(): on a
    loaded machine a connect in between is refused.
    """
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.settimeout(None)
            return sock
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            sock.close()
            if time.monotonic() > deadline or not alive():
                raise RecordError(f"cannot connect to monitor {monitor}: {exc}") from None
            time.sleep(0.02)
        except OSError as exc:
            sock.close()
            raise RecordError(f"cannot connect to monitor {monitor}: {exc}") from None


# -- a client connection ----------------------------------------------------------------


class Connection:
    """One client connection: a socket, a reader thread, what it received, and waits on it.

    Every line received is handed to ``record`` (under ``lock``) as a transcript
    line; the reader records ``eof`` when the server closes a connection the
    client did not close.
    """

    def __init__(self, label: str, monitor: str, sock: socket.socket, lock: threading.RLock,
                 record: Record, timeout: float) -> None:
        self.label = label
        self.monitor = monitor
        self.sock = sock
        self.timeout = timeout
        self.record = record
        self.received: list[Any] = []  # decoded messages (None for raw lines)
        self.raw: list[str] = []  # the text of the lines that are not JSON objects (HMP output)
        self.cond = threading.Condition(lock)
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
                        self.record({"dir": "--", "conn": self.label, "event": "eof"})
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
            self.record({"dir": "<-", "conn": self.label, "msg": msg})
            self.received.append(msg)
        else:
            self.record({"dir": "<-", "conn": self.label, "msg": None, "raw": text})
            self.received.append(None)
            self.raw.append(text)

    def close(self) -> None:
        """Shut the socket down and close it (the reader ends without recording ``eof``)."""
        self.closing = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()

    def _until(self, ready: Callable[[], bool], what: str, timeout: float | None) -> None:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self.cond:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise RecordError(f"{self.label}: timed out waiting for {what}")
                self.cond.wait(left)

    def wait_for(self, pred: Callable[[Any], bool], what: str, timeout: float | None = None, start: int = 0) -> int:
        """The index of the first message from ``start`` on that satisfies ``pred``, once it arrived."""
        found: list[int] = []

        def ready() -> bool:
            found[:] = [i for i in range(start, len(self.received))
                        if self.received[i] is not None and pred(self.received[i])][:1]
            return bool(found)

        self._until(ready, what, timeout)
        return found[0]

    def wait_count(self, n: int, timeout: float | None = None) -> None:
        self._until(lambda: len(self.received) >= n, f"{n} messages", timeout)

    def wait_raw(self, text: str, timeout: float | None = None) -> None:
        self._until(lambda: any(text in r for r in self.raw), f"a line containing {text!r}", timeout)

    def wait_eof(self, timeout: float | None = None) -> None:
        self.thread.join(timeout=self.timeout if timeout is None else timeout)
        with self.cond:
            if not self.eof:
                raise RecordError(f"{self.label}: timed out waiting for the server to close it")

"""Scenarios for issue 13 (Fidelity II): events, server-side close, error classes, a mux chardev.

Each driver runs against ``qemu-system-x86_64 -machine none`` (Debian's 7.2.22
here) through :class:`~qmpmodel.conformance.session.Session`.  What each one
shows, with the QEMU function responsible, is in ``docs/fidelity-ii.md``:

* ``quit-three-monitors``: SHUTDOWN and BLOCK_EXPORT_DELETED before the
  ``quit`` reply, a request behind ``quit`` never answered, EOF on every
  connection (also the one still negotiating);
* ``mux-hmp``: a QMP monitor sharing a mux chardev with HMP receives an event
  *before* its greeting (the never-opened monitor), then HMP and QMP traffic;
* ``mux-hmp-abort``: on that layout HMP commands run in the monitor I/O
  thread; HMP ``cont`` trips an assertion and QEMU aborts (EOF);
* ``block-job-events``: job events before a command's reply and after it with
  no command in flight, on every monitor in command mode;
* ``async-events``: events raised by the main loop (POWERDOWN, RESET), by HMP
  inside QMP, by a throttled job; device_add/device_del on ``-machine none``;
* ``error-classes``: DeviceNotFound, DeviceNotActive, CommandNotFound next to
  GenericError;
* ``exec-oob-unknown``: exec-oob of commands that do not exist, under several
  names, in negotiation mode, without and with ``oob``;
* ``sigterm-while-blocked``: QEMU told to exit while a command is blocked and
  others are queued: SHUTDOWN, the blocked command's reply, EOF.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from qmpmodel.conformance.live import Layout, Retry
from qmpmodel.conformance.session import Scenario, Session

__all__ = ["FIDELITY_SCENARIOS"]


def _is_event(name: str) -> Any:
    return lambda m: m.get("event") == name


def _job_status(job: str, status: str) -> Any:
    return lambda m: (m.get("event") == "JOB_STATUS_CHANGE" and isinstance(m.get("data"), dict)
                      and m["data"].get("id") == job and m["data"].get("status") == status)


def _call(s: Session, conn: str, rid: str, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"execute": cmd, "id": rid}
    if args is not None:
        msg["arguments"] = args
    s.send(conn, msg)
    return s.wait_id(conn, rid)


def _null_node(s: Session, conn: str, name: str, size: int, zeroes: bool = True) -> None:
    args: dict[str, Any] = {"driver": "null-co", "node-name": name, "size": size}
    if zeroes:
        args["read-zeroes"] = True
    _call(s, conn, f"add-{name}", "blockdev-add", args)


# -- quit with three monitors -------------------------------------------------------------


def _quit_three_monitors(s: Session) -> None:
    a = s.connect("mon0")
    s.negotiate(a, oob=True)
    b = s.connect("mon1")
    s.negotiate(b)
    c = s.connect("mon2")
    s.greeting(c)  # stays in negotiation mode: no event reaches it, only the EOF
    # An NBD export: qemu_cleanup's blk_exp_close_all() emits BLOCK_EXPORT_DELETED
    # before monitor_cleanup() lets the dispatcher write the quit reply.
    _null_node(s, a, "exported", 1 << 20)
    _call(s, a, "nbd-start", "nbd-server-start",
          {"addr": {"type": "unix", "data": {"path": str(s.dir / "nbd.sock")}}})
    _call(s, a, "export", "block-export-add", {"type": "nbd", "id": "exp0", "node-name": "exported"})
    # quit and a request behind it in one write: the dispatcher, told to shut
    # down, never pops the second one (monitor_qmp_dispatcher_co, §3.8)
    s.send_raw(a, b'{"execute": "quit", "id": "quit"}\n{"execute": "query-name", "id": "after-quit"}\n')
    for conn in (a, b, c):
        s.wait_eof(conn)
    s.wait_exit()


# -- a QMP monitor on a mux chardev with HMP ----------------------------------------------


def _pad_file(tmp: Path) -> None:
    # 64 MiB (sparse) for a generic loader: while the main thread copies it into
    # guest RAM, the QMP monitor's setup bottom half (monitor I/O thread) puts it
    # on mon_list, so qmp_cont's RESUME finds it there with commands == NULL
    with open(tmp / "pad.bin", "wb") as f:
        f.truncate(64 << 20)


_MUX_LAYOUT = Layout(monitors=("mux0",), mux_hmp=("mux0",),
                     extra_args=("-m", "128", "-device", "loader,file=$TMP/pad.bin,addr=0,force-raw=on"),
                     prepare=_pad_file)


def _mux_start(s: Session) -> str:
    """Connect while QEMU initialises; retry unless an event precedes the greeting; negotiate."""
    c = s.connect("mux0")
    s.greeting(c)
    first = next(m for m in s.received(c) if m is not None)
    if "event" not in first:
        raise Retry("the greeting came first: the monitor's I/O-thread setup ran after qmp_cont")
    _call(s, c, "caps", "qmp_capabilities")
    return c


def _focus_next(s: Session, c: str) -> None:
    # Ctrl-A c: the mux gives the focus to the next front end; bytes of the
    # same read would still go to the old focus, so it is a write of its own
    s.send_raw(c, b"\x01c", to="mux")
    s.settle(0.2)


def _mux_hmp(s: Session) -> None:
    c = _mux_start(s)
    _call(s, c, "stop", "stop")
    _focus_next(s, c)  # to HMP
    s.send_raw(c, b"info status\r", to="hmp")
    s.wait_raw(c, "VM status: paused")
    _focus_next(s, c)  # back to QMP
    _call(s, c, "cont", "cont")
    _call(s, c, "status", "query-status")
    s.send(c, {"execute": "quit", "id": "quit"})
    s.wait_eof(c)
    s.wait_exit()


def _mux_hmp_abort(s: Session) -> None:
    # The QMP monitor's setup BH ran last, so the mux reads its chardev in the
    # monitor I/O thread (mux_chr_update_read_handlers with the I/O thread's
    # context) and HMP commands run there: HMP cont reaches GLOBAL_STATE_CODE()
    # in blk_next() and QEMU aborts; the connection sees EOF
    c = _mux_start(s)
    _focus_next(s, c)  # to HMP
    s.send_raw(c, b"cont\r", to="hmp")
    s.wait_eof(c)
    s.wait_exit()


# -- block jobs on null-co nodes ----------------------------------------------------------


def _block_job_events(s: Session) -> None:
    a = s.connect("mon0")
    s.negotiate(a, oob=True)
    b = s.connect("mon1")
    s.negotiate(b)  # sends nothing more: every job event reaches it with no command in flight
    _null_node(s, a, "src", 1 << 20)
    _null_node(s, a, "tgt", 1 << 20, zeroes=False)
    # job_start() inside the handler: created, running (and, on null-co, ready) before the reply
    _call(s, a, "mirror", "blockdev-mirror", {"job-id": "job0", "device": "src", "target": "tgt",
                                              "sync": "full", "auto-dismiss": False})
    s.wait_for(a, _is_event("BLOCK_JOB_READY"), "BLOCK_JOB_READY")
    # job-complete returns at once; waiting/pending/concluded follow from the job coroutine
    _call(s, a, "complete", "job-complete", {"id": "job0"})
    s.wait_for(a, _job_status("job0", "concluded"), "job0 concluded")
    s.wait_for(b, _job_status("job0", "concluded"), "job0 concluded on mon1")
    _call(s, a, "dismiss", "job-dismiss", {"id": "job0"})  # status null before the reply
    _call(s, a, "create", "blockdev-create", {"job-id": "create0", "options": {
        "driver": "file", "filename": str(s.dir / "created.img"), "size": 1 << 20}})
    s.wait_for(a, _job_status("create0", "concluded"), "create0 concluded")
    s.wait_for(b, _job_status("create0", "concluded"), "create0 concluded on mon1")
    _call(s, a, "dismiss-create", "job-dismiss", {"id": "create0"})
    s.wait_for(b, _job_status("create0", "null"), "create0 null on mon1")
    s.disconnect(b)
    s.disconnect(a)


# -- events without a command, and device_add/device_del ----------------------------------


def _async_events(s: Session) -> None:
    a = s.connect("mon0")
    s.negotiate(a, oob=True)
    b = s.connect("mon1")
    s.negotiate(b)
    # -machine none has no bus and no machine hotplug handler: nothing can be
    # hot-plugged, so DEVICE_DELETED cannot be triggered (qdev_device_add_from_qdict)
    _call(s, a, "add-bmc", "device_add", {"driver": "ipmi-bmc-sim", "id": "bmc0"})
    _call(s, a, "add-kbd", "device_add", {"driver": "usb-kbd", "id": "kbd0"})
    _call(s, a, "del-missing", "device_del", {"id": "kbd0"})
    # the handler only sets a request flag; main_loop_should_exit() raises the
    # event in the same main-loop iteration, before the dispatcher coroutine
    # (rescheduled in iohandler_ctx) writes the reply
    _call(s, a, "powerdown", "system_powerdown")
    s.wait_for(b, _is_event("POWERDOWN"), "POWERDOWN on mon1")
    _call(s, a, "reset", "system_reset")
    s.wait_for(b, _is_event("RESET"), "RESET on mon1")
    # HMP inside QMP: vm_stop()/vm_start() raise STOP/RESUME before the reply
    _call(s, a, "hmp-stop", "human-monitor-command", {"command-line": "stop"})
    _call(s, a, "hmp-cont", "human-monitor-command", {"command-line": "cont"})
    # nbd-server-remove deletes the export synchronously: BLOCK_EXPORT_DELETED before the reply
    _null_node(s, a, "exported", 1 << 20)
    _call(s, a, "nbd-start", "nbd-server-start",
          {"addr": {"type": "unix", "data": {"path": str(s.dir / "nbd.sock")}}})
    _call(s, a, "export", "block-export-add", {"type": "nbd", "id": "exp0", "node-name": "exported"})
    _call(s, a, "nbd-remove", "nbd-server-remove", {"name": "exp0"})
    _call(s, a, "eject-missing", "eject", {"id": "cd0"})  # no removable medium on -machine none
    # a throttled backup job: its completion events arrive with no command in flight
    _null_node(s, a, "src", 4 << 20)
    _null_node(s, a, "tgt", 4 << 20, zeroes=False)
    _call(s, a, "backup", "blockdev-backup", {"job-id": "job0", "device": "src", "target": "tgt",
                                              "sync": "full", "speed": 8 << 20})
    for conn in (a, b):
        s.wait_for(conn, _job_status("job0", "null"), f"job0 null on {conn}")
    s.settle(0.1)
    _call(s, a, "status", "query-status")
    s.disconnect(b)
    s.disconnect(a)


# -- error classes ------------------------------------------------------------------------


def _error_classes(s: Session) -> None:
    a = s.connect("mon0")
    s.negotiate(a, oob=True)
    _call(s, a, "unknown", "no-such-command")                                   # CommandNotFound
    _call(s, a, "qom-missing", "qom-list", {"path": "/nonexistent"})            # DeviceNotFound
    _call(s, a, "del-missing", "device_del", {"id": "nodev"})                   # DeviceNotFound
    _call(s, a, "balloon-query", "query-balloon")                               # DeviceNotActive
    _call(s, a, "balloon-set", "balloon", {"value": 1 << 20})                   # DeviceNotActive
    _call(s, a, "job-speed", "block-job-set-speed", {"device": "nojob", "speed": 0})  # DeviceNotActive
    _call(s, a, "job-dismiss", "job-dismiss", {"id": "nojob"})                  # GenericError
    _call(s, a, "qom-prop", "qom-get", {"path": "/machine", "property": "nope"})  # GenericError
    _call(s, a, "yank-missing", "yank", {"instances": [{"type": "chardev", "id": "nochr"}]})  # DeviceNotFound
    # the same handler out of band: yank allows OOB and fails in the I/O thread
    s.send(a, {"exec-oob": "yank", "id": "oob-yank-missing",
               "arguments": {"instances": [{"type": "chardev", "id": "nochr"}]}})
    s.wait_id(a, "oob-yank-missing")
    _call(s, a, "kvm", "query-kvm")  # KVMMissingCap needs KVM without a sync MMU: not reachable here
    s.disconnect(a)


# -- exec-oob of commands that do not exist -----------------------------------------------

_MISSING = ("no-such-command", "x-no-such-command", "", "x-oob-test", "__org.example_no-such", "QUERY-NAME")


def _exec_oob(s: Session, conn: str, name: str, rid: str) -> None:
    s.send(conn, {"exec-oob": name, "id": rid})
    s.wait_id(conn, rid)


def _exec_oob_unknown(s: Session) -> None:
    # negotiation mode: OOB is never enabled yet, 'exec-oob' is an unexpected member
    c1 = s.connect("mon0")
    s.greeting(c1)
    _exec_oob(s, c1, "no-such-command", "neg-missing")
    _exec_oob(s, c1, "migrate-pause", "neg-exists")
    _call(s, c1, "c1-caps", "qmp_capabilities")
    # command mode without oob: the same GenericError for every name
    for i, name in enumerate(_MISSING[:3]):
        _exec_oob(s, c1, name, f"nooob-{i}")
    _exec_oob(s, c1, "migrate-pause", "nooob-exists")
    s.disconnect(c1)
    # with oob: qmp_dispatch looks the name up before checking allow-oob
    c2 = s.connect("mon0")
    s.negotiate(c2, oob=True)
    for i, name in enumerate(_MISSING):
        _exec_oob(s, c2, name, f"oob-{i}")                   # CommandNotFound
    _exec_oob(s, c2, "query-name", "oob-not-allowed")        # exists, no allow-oob: GenericError
    _exec_oob(s, c2, "qmp_capabilities", "oob-caps")         # exists in command mode too: GenericError
    _exec_oob(s, c2, "migrate-pause", "oob-exists")          # allow-oob, handler fails: GenericError
    s.send(c2, {"exec-oob": 1, "id": "oob-not-a-string"})   # member check: GenericError
    s.wait_id(c2, "oob-not-a-string")
    for i, name in enumerate(_MISSING[:2]):
        _call(s, c2, f"inband-{i}", name)                    # in band: CommandNotFound
    s.disconnect(c2)


# -- QEMU told to exit while a command is blocked -----------------------------------------


def _sigterm_while_blocked(s: Session) -> None:
    a = s.connect("mon0")
    s.negotiate(a, oob=True)
    b = s.connect("mon1")
    s.negotiate(b)
    s.block(a, "blocked")  # never released: the signal ends it
    s.send(a, {"execute": "query-name", "id": "queued"})
    s.send(a, {"exec-oob": "migrate-pause", "id": "oob"})
    s.wait_id(a, "oob")
    s.send(b, {"execute": "query-status", "id": "b-queued"})
    s.settle(0.2)
    # the signal interrupts the blocked open() (EINTR: the handler fails); the
    # main loop then raises SHUTDOWN, qemu_cleanup() lets the dispatcher write
    # the blocked command's reply and pops nothing more
    s.signal(signal.SIGTERM)
    for conn in (a, b):
        s.wait_eof(conn)
    s.wait_exit()


FIDELITY_SCENARIOS: tuple[Scenario, ...] = (
    Scenario("quit-three-monitors", "quit with three monitors (oob, no oob, negotiating) and an NBD export: "
             "SHUTDOWN and BLOCK_EXPORT_DELETED before the reply, EOF everywhere", ("mon0", "mon1", "mon2"),
             _quit_three_monitors),
    Scenario("mux-hmp", "a QMP monitor sharing a mux chardev with HMP: an event before the greeting, HMP "
             "and QMP on one connection", ("mux0",), _mux_hmp, layout=_MUX_LAYOUT, attempts=10),
    Scenario("mux-hmp-abort", "HMP cont on a mux chardev shared with an I/O-thread QMP monitor: the "
             "command runs in the monitor I/O thread, QEMU aborts, EOF", ("mux0",), _mux_hmp_abort,
             layout=_MUX_LAYOUT, attempts=10),
    Scenario("block-job-events", "blockdev-mirror, job-complete, blockdev-create, job-dismiss on null-co and "
             "file nodes: job events before and after replies, on two monitors", ("mon0", "mon1"),
             _block_job_events),
    Scenario("async-events", "events from the main loop (POWERDOWN, RESET), HMP in QMP, nbd-server-remove "
             "and a throttled job; device_add/device_del on -machine none", ("mon0", "mon1"), _async_events),
    Scenario("error-classes", "DeviceNotFound, DeviceNotActive, CommandNotFound and GenericError replies",
             ("mon0",), _error_classes),
    Scenario("exec-oob-unknown", "exec-oob of nonexistent commands under several names: negotiating, "
             "without oob, with oob", ("mon0",), _exec_oob_unknown),
    Scenario("sigterm-while-blocked", "SIGTERM while a command is blocked and others are queued: SHUTDOWN, "
             "the blocked reply, EOF", ("mon0", "mon1"), _sigterm_while_blocked),
)

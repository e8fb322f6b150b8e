"""Bounds: the finite sizes that make a configuration's state space finite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

__all__ = ["BOUNDS", "BOUND_DOCS", "Bounds"]


@dataclass(frozen=True)
class Bounds:
    """Finite bounds that make the state space finite."""

    monitors: int = 1
    clients: int = 1
    requests: int = 2
    queue_max: int = 8
    #: Monitor of each client (default: client c on monitor c % monitors).
    client_monitors: tuple[int, ...] = ()
    #: Whether each QMP monitor's chardev can use the I/O thread (default: all).
    iothread_monitors: tuple[bool, ...] = ()
    #: The command mix clients draw from (names of KINDS, form != hmp).
    mix: tuple[str, ...] = ("quick",)
    #: HMP monitor: 0 or 1, with this many commands drawn from hmp_mix.
    hmp: int = 0
    hmp_requests: int = 1
    hmp_mix: tuple[str, ...] = ("hmp-quick",)
    vcpus: int = 1
    #: How many times each vCPU / the main loop may enter a nested poll.
    nested_polls: int = 1
    #: How many mux focus switches may happen.
    mux_switches: int = 2
    #: Whether external completions (I/O, FIFO writes) are weakly fair.
    fair_completion: bool = True
    #: Every session starts with qmp_capabilities (seq 0). When false, seq 0 is drawn
    #: from the mix like any other request (negotiation is then a `caps*` kind).
    negotiate_first: bool = True
    #: bounded-bypass: how many requests of other monitors may be dequeued while one waits
    #: (0: the number of monitors).
    bypass_bound: int = 0
    #: F1: every handler (and qemu_cleanup after SHUTDOWN) may raise 0..E events before its reply.
    events_per_command: int = 0
    #: F2: events the environment raises with no command in flight (job coroutines, guest, timers):
    #: at most this many in a run.
    env_events: int = 0
    #: Whether those environment events are weakly fair (all of them eventually happen).
    fair_env_events: bool = False
    #: F3: an external signal (SIGTERM: termsig_handler) may ask QEMU to exit (0 or 1).
    signals: int = 0
    #: F4: per QMP monitor, whether its chardev is a mux (``-chardev ...,mux=on``), not opened
    #: until qemu_init ends (default: none).
    mux_monitors: tuple[bool, ...] = ()
    #: F5: the HMP monitor (hmp = 1) is the first front end of the first QMP monitor's mux chardev.
    hmp_mux: bool = False

    def monitor_of(self, c: int) -> int:
        return self.client_monitors[c] if self.client_monitors else c % self.monitors

    def uses_iothread(self, m: int) -> bool:
        return self.iothread_monitors[m] if self.iothread_monitors else True

    def on_mux(self, m: int) -> bool:
        return bool(self.mux_monitors[m]) if self.mux_monitors else False


BOUNDS: tuple[str, ...] = tuple(f.name for f in fields(Bounds))

#: One line per bound, for specs/README.md.
BOUND_DOCS: Mapping[str, str] = {
    "monitors": "QMP monitors, 1-4 (each on a unix socket unless iothread_monitors says otherwise).",
    "clients": "Client sessions, 0-6. Clients of one monitor connect one after the other.",
    "requests": "Requests per client after qmp_capabilities (seq 0), 0-16.",
    "queue_max": "QMP_REQ_QUEUE_LEN_MAX, 1-8 (8 in QEMU; smaller bounds keep the same mechanism).",
    "client_monitors": "Monitor index of each client (default: client c on monitor c % monitors).",
    "iothread_monitors": "Per monitor: does its chardev use the monitor I/O thread (default true; false = read "
                         "in the main loop, no `oob` offered).",
    "mix": "Request kinds clients draw from (see the kinds table).",
    "hmp": "0 or 1 HMP monitor.",
    "hmp_requests": "Commands typed on the HMP monitor.",
    "hmp_mix": "HMP command kinds.",
    "vcpus": "vCPU threads that may run a nested aio_poll (with design.vcpu_nested_poll), 0-2.",
    "nested_polls": "How many nested polls each vCPU / the main-loop drain may start.",
    "mux_switches": "Mux focus switches (with design.mux).",
    "fair_completion": "External completions (I/O, FIFO writes, async callbacks) are weakly fair.",
    "bypass_bound": "bounded-bypass's K: requests of other monitors that may be dequeued while one waits in a "
                    "monitor's queue (0, the default: the number of monitors).",
    "negotiate_first": "Sessions start with qmp_capabilities (default); false: seq 0 comes from the mix "
                       "too, and negotiation is a `caps`, `caps-nooob` or `caps-bad` request anywhere.",
    "events_per_command": "F1, 0-4: every handler may raise 0..E events before its reply (job_start, vm_stop, "
                          "export deletion), and qemu_cleanup 0..E events after SHUTDOWN (default 0: none).",
    "env_events": "F2, 0-16: events with no command in flight (job coroutines, guest, timers), broadcast to "
                  "every monitor in command mode; at most this many in a run (default 0: none).",
    "fair_env_events": "Whether those environment events are weakly fair (default false: they may never come).",
    "signals": "F3, 0 or 1: an external SIGTERM may ask QEMU to exit (termsig_handler -> "
               "main_loop_should_exit -> monitor_cleanup, EOF on every connection).",
    "mux_monitors": "F4: per QMP monitor, whether its chardev is a mux (not opened until qemu_init ends: "
                    "the client's bytes connect before CHR_EVENT_OPENED, autostart raises RESUME first).",
    "hmp_mux": "F5: the HMP monitor (hmp = 1) shares the first mux chardev of mux_monitors as its first front end "
               "(`-mon chardev=mux0 -mon chardev=mux0,mode=control`): that monitor's client switches the focus "
               "(Ctrl-A c) and types HMP commands, which run in the monitor I/O thread.",
}

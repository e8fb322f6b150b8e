"""What a configuration asks of the model: the design's hooks and the bounds it supports.

:class:`Configuration` is the root of every design: the hooks a design or an
environment mixin overrides (``vcpu_threads``, ``has_dispatcher``, ...) with
current QEMU's answers, and :meth:`Configuration.validate`, which turns
unsupported bounds into bad input naming the spec key.
"""

from __future__ import annotations

from qmpmodel.errors import InputError, close_matches
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.kinds import KINDS

__all__ = ["Configuration"]


class Configuration:
    """The configuration hooks every design answers, and the validation of its bounds."""

    bounds: Bounds
    source: str

    # -- configuration hooks (overridden by environment and design mixins) ------
    def vcpu_threads(self) -> int:
        """vCPU threads that can run a nested aio_poll (bug A's MMIO emulation)."""
        return 0

    def vcpu_rcu_reader(self) -> bool:
        """Whether a vCPU's nested poll runs inside an RCU read-side critical section (bug B)."""
        return False

    def main_may_drain(self) -> bool:
        """The main loop may start a drain: aio_poll(qemu_aio_context) until in_flight == 0 (bug C)."""
        return False

    def main_drain_polls(self) -> int:
        """How many drains the main loop may start."""
        return self.bounds.nested_polls if self.main_may_drain() else 0

    def deferred_events(self) -> bool:
        """Whether handlers' events are emitted later from a BH (mutant event-deferred)."""
        return False

    def async_slots(self) -> int:
        """Pending cmd_async requests per monitor (2010 design)."""
        return 0

    def mux_switches(self) -> int:
        """Mux focus switches the HMP monitor's chardev may see."""
        return 0

    def coroutine_device_add(self) -> bool:
        """device_add is a coroutine command using drain_call_rcu_co (2023 RFC, unmerged)."""
        return False

    def has_dispatcher(self) -> bool:
        """Requests go through the queue and the dispatcher coroutine (2018 onward)."""
        return True

    def oob_capability(self) -> bool:
        """The ``oob`` capability exists (2018 onward; offered iff the monitor uses the I/O thread)."""
        return True

    def client_accepts_oob(self) -> bool:
        """Clients accept ``oob`` when the greeting offers it (an environment assumption)."""
        return True

    def monitor_cleanup_enabled(self) -> bool:
        """QEMU may exit (monitor_cleanup) during the run for a reason outside the model (§3.8)."""
        return False

    def async_returns(self) -> str:
        """The 2017 async-commands design (F6): ``""`` (none), ``"protocol-2017"`` or ``"orderly-2019"``."""
        return ""

    def exit_requests(self) -> bool:
        """Something in the model asks QEMU to exit: a ``quit`` request or a signal (F3)."""
        return self.bounds.signals > 0 or any(KINDS[k].command == "quit" for k in self.bounds.mix)

    def main_loop_requests(self) -> bool:
        """A handler may ask the main loop to raise an event (``system_powerdown``, F1)."""
        return any(KINDS[k].command == "request" for k in self.bounds.mix)

    def monitor_cleanup_reachable(self) -> bool:
        """monitor_cleanup can run: as a free action, or after main_loop_should_exit (F3)."""
        return self.monitor_cleanup_enabled() or self.exit_requests()

    # -- validation -------------------------------------------------------------
    def validate(self) -> None:
        """Bounds the model supports; a violation is bad input naming the key."""
        b, src = self.bounds, self.source
        checks = (("monitors", 1, 4), ("clients", 0, 6), ("requests", 0, 16), ("queue_max", 1, 8),
                  ("vcpus", 0, 2))
        for key, lo, hi in checks:
            val = getattr(b, key)
            if not lo <= val <= hi:
                want = "0, 1 or 2" if key == "vcpus" else f"an integer from {lo} to {hi}"
                raise InputError(src, f"bounds.{key}", want, str(val))
        if b.bypass_bound < 0 or b.bypass_bound > 8:
            raise InputError(src, "bounds.bypass_bound", "an integer from 0 to 8", str(b.bypass_bound))
        if b.hmp not in (0, 1):
            raise InputError(src, "bounds.hmp", "0 or 1", str(b.hmp))
        for key, mix, hmp in (("bounds.mix", b.mix, False), ("bounds.hmp_mix", b.hmp_mix, True)):
            for name in mix:
                kind = KINDS.get(name)
                if kind is None or (kind.form == "hmp") != hmp:
                    valid = [k for k, v in KINDS.items() if (v.form == "hmp") == hmp]
                    raise InputError(src, key, "one of " + ", ".join(valid), repr(name),
                                     close_matches(name, valid))
        if not self.async_returns() and any(k in ("async-2017", "caps-async") for k in b.mix):
            raise InputError(src, "bounds.mix", "async-2017 and caps-async only with design.async_commands = "
                             "'protocol-2017' or 'orderly-2019'", None)
        if "hmp-device-add" in b.hmp_mix and not self.coroutine_device_add():
            raise InputError(src, "bounds.hmp_mix", "hmp-device-add only with design.device_add = 'coroutine-drain'",
                             None)
        if b.client_monitors and (len(b.client_monitors) != b.clients
                                  or any(not 0 <= m < b.monitors for m in b.client_monitors)):
            raise InputError(src, "bounds.client_monitors",
                             f"{b.clients} monitor indices below {b.monitors}", str(list(b.client_monitors)))
        if b.iothread_monitors and len(b.iothread_monitors) != b.monitors:
            raise InputError(src, "bounds.iothread_monitors", f"{b.monitors} booleans",
                             str(list(b.iothread_monitors)))
        if b.mux_monitors and len(b.mux_monitors) != b.monitors:
            raise InputError(src, "bounds.mux_monitors", f"{b.monitors} booleans", str(list(b.mux_monitors)))
        if b.hmp_mux and (b.hmp != 1 or not any(b.on_mux(m) for m in range(b.monitors))):
            raise InputError(src, "bounds.hmp_mux", "true only with hmp = 1 and a monitor in mux_monitors", "true")
        if b.hmp_mux and any(k not in ("hmp-quick", "hmp-main-thread") for k in b.hmp_mix):
            raise InputError(src, "bounds.hmp_mix", "hmp-quick or hmp-main-thread with hmp_mux", str(list(b.hmp_mix)))
        if "hmp-main-thread" in b.hmp_mix and not b.hmp_mux:
            raise InputError(src, "bounds.hmp_mix", "hmp-main-thread only with hmp_mux = true", None)
        for key, hi in (("events_per_command", 4), ("env_events", 16), ("signals", 1)):
            val = getattr(b, key)
            if not 0 <= val <= hi:
                raise InputError(src, f"bounds.{key}", f"an integer from 0 to {hi}", str(val))

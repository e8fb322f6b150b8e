"""Current QEMU: every part with its default steps.

Upstream after effd60c8 and its follow-ups; also Debian's 7.2.22, which
carries the backport. A design is a subclass that overrides the steps its
patch changes (``docs/proposals.md``).
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.model import Action
from qmpmodel.qemu.parts.bh import HandlerBH
from qmpmodel.qemu.parts.clients import Clients
from qmpmodel.qemu.parts.dispatcher import Dispatcher
from qmpmodel.qemu.parts.environment import Environment
from qmpmodel.qemu.parts.mainloop import MainLoop
from qmpmodel.qemu.parts.muxhmp import HmpOnMux
from qmpmodel.qemu.parts.reader import Reader
from qmpmodel.qemu.parts.shutdown import Shutdown
from qmpmodel.qemu.parts.waiting import Waiting
from qmpmodel.qemu.published import QemuProbes
from qmpmodel.qemu.renumber import Renumbering

__all__ = ["QemuCurrent"]


class QemuCurrent(MainLoop, Clients, Reader, Dispatcher, HandlerBH, Environment, HmpOnMux, Shutdown, Waiting, Renumbering,
                  QemuProbes):
    """QEMU's monitor dispatch today (the base design)."""

    title = "Current QEMU"

    def behaviour(self) -> Iterator[Action]:
        """Every action, part by part, in a fixed order (trace action indices depend on it)."""
        yield from self.client_actions()
        yield from self.reader_actions()
        if self.has_dispatcher():
            yield from self.dispatcher_actions()
            yield from self.handler_bh_actions()
        yield from self.environment_actions()
        if self.hmp:
            # F5: HMP on a QMP connection's mux replaces the abstract HMP commands
            yield from self.hmp_mux_actions() if self.bounds.hmp_mux else self.hmp_actions()
        if self.monitor_cleanup_reachable():
            yield from self.monitor_cleanup()
        # F1-F4 (only when a spec enables them: every other spec keeps its actions and order)
        yield from self.mainloop_actions()
        yield from self.extra_actions()

    def extra_actions(self) -> Iterator[Action]:
        """Actions a design adds (a proposal's new mechanism); none in current QEMU."""
        yield from ()

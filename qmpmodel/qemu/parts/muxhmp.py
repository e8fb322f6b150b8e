"""HMP and QMP on one mux chardev (F5, docs/fidelity-ii.md 1e "HMP runs in the monitor I/O thread").

With ``-chardev socket,...,mux=on -mon chardev=mux0 -mon chardev=mux0,mode=control``
one client connection carries both monitors. The mux hands the client's bytes
to the front end that has the focus (chardev/char-mux.c:220-240); Ctrl-A c
moves the focus (``mux_set_focus``: MUX_OUT to one front end, MUX_IN to the
other). After ``resume_mux_open`` the focus is on the last front end added,
the QMP monitor.

The front end that set its handlers last decides the context the mux reads in
(``qemu_chr_be_update_read_handlers``, chardev/char.c:217-228): the HMP monitor
sets them with the main context (monitor/hmp.c:1506), the QMP monitor's setup
bottom half with the I/O thread's (monitor/qmp.c:467-479), and with HMP first
the bottom half is always last. So ``monitor_read`` -> ``handle_hmp_command``
runs in the monitor I/O thread, without the BQL. ``info status`` works there;
``cont`` reaches ``GLOBAL_STATE_CODE()`` in ``blk_next``
(block/block-backend.c:582) and QEMU aborts: every connection sees EOF, no
reply comes (recorded: mux-hmp-abort, 6 of 6 runs).

HMP's output (banner, prompt, echo, command output) is not modelled as text:
``conform`` accepts raw lines on such a connection once HMP had the focus.
"""

from __future__ import annotations

from collections.abc import Iterator

from qmpmodel.core.expr import TRUE, Expr
from qmpmodel.core.model import Action
from qmpmodel.qemu.codes import ClientSt, Nest, Run, Sd
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.parts.hmp import Hmp
from qmpmodel.qemu.parts.output import Output
from qmpmodel.qemu.state import Monitor
from qmpmodel.qemu.steps import Update, step

__all__ = ["HmpOnMux"]


class HmpOnMux(Output, Hmp):
    """The client's focus switches and HMP lines on a shared mux, HMP commands in the I/O thread."""

    def hmp_mux_actions(self) -> Iterator[Action]:
        assert self.focus_hmp is not None and self.hmp_line is not None
        m = self.mons[self.hmp_mux_monitor()]
        mix = list(dict.fromkeys(self.bounds.hmp_mix))
        for c in m.clients:
            cl = self.clients[c]
            actor = f"client{c}"
            talking = (m.conn == c + 1) & ((cl.st == ClientSt.NEG) | (cl.st == ClientSt.READY))
            # Ctrl-A c: the mux moves the focus to the other front end; it reads the client's bytes
            # in order, so what was written before the escape went to the front end focused then
            yield from self.action("mux_escape", actor, talking & (self.hmp_line == 0) & (m.inlen == 0),
                                   Update({self.focus_hmp: ~self.focus_hmp}), client=c)
            for n, k in enumerate(mix):
                g = talking & self.focus_hmp & (self.hmp_line == 0) & (self.hsent < self.bounds.hmp_requests)
                u = Update({self.hmp_line: n + 1, self.hsent: self.hsent + 1})
                yield from self.action("hmp_write", actor, g, u, client=c, kind=list(KINDS).index(k))
        for n, k in enumerate(mix):
            yield from self.monitor_read_hmp(m, n + 1, k)

    def hmp_reads_in_iothread(self, m: Monitor) -> Expr:
        """The mux reads in the I/O thread once the QMP monitor's setup bottom half set its handlers
        (after HMP's: it is the first front end)."""
        return TRUE if m.listed is None else m.listed

    @step("handle_hmp_command", "in the mux's read context", ref="monitor/hmp.c:1506; chardev/char.c:217-228; F5")
    def monitor_read_hmp(self, m: Monitor, line: int, k: str) -> Iterator[Action]:
        assert self.hmp_line is not None
        kid = list(KINDS).index(k)
        alive = (self.sd != Sd.DONE) & (self.main.pc != Run.DEAD)
        g = (self.hmp_line == line) & alive
        assert self.xhmpctx is not None
        iot = self.hmp_reads_in_iothread(m)
        # in the I/O thread, without the BQL: the CTX hazard (property hmp-context)
        u = Update({self.hmp_line: 0, self.xhmpctx: TRUE})
        if KINDS[k].command == "main_thread":
            self.qemu_abort(u)
        yield from self.action("hmp_read", "iothread", g & iot, u, "iothread", kind=kid)
        yield from self.action("hmp_read", "main", g & ~iot & self.main_top_level(), Update({self.hmp_line: 0}),
                               "main", kind=kid, main=1)

    @step("GLOBAL_STATE_CODE", "assert(qemu_in_main_thread()) fails: abort()", ref="block/block-backend.c:582; F5")
    def qemu_abort(self, u: Update) -> None:
        """QEMU aborts: the process dies, every connection sees EOF, nothing else is written."""
        mt = self.main
        u.update({self.sd: Sd.DONE, mt.pc: Run.DEAD, mt.nest: Nest.NONE, self.bql: 0, self.iostop: TRUE})
        for mon in self.mons:
            self.monitor_eof(u, mon)

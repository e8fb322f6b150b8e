"""Request renumbering: the model's symmetry in request sequence numbers.

A client's requests occupy numbered slots (refs). Once the first request
after ``qmp_capabilities`` (seq 1) is answered and no longer referenced
anywhere (not queued, not unread, not executing), nothing distinguishes the
state from one in which that request never existed and every later one has a
sequence number one lower. :meth:`Renumbering.retire_answered_request` applies
that renaming to a concrete state, so conformance can follow transcripts with
more requests than the model has slots (``docs/conformance.md``).

Only the model knows which variables hold refs; a design that adds one
extends :meth:`Renumbering.ref_vars`.
"""

from __future__ import annotations

from qmpmodel.core.expr import Var
from qmpmodel.core.model import State
from qmpmodel.qemu.codes import Dsp
from qmpmodel.qemu.harness import Harness

__all__ = ["Renumbering"]

_IDLE = (Dsp.WAIT, Dsp.POP, Dsp.EXIT)


class Renumbering(Harness):
    """Retiring answered requests (used by conformance)."""

    def ref_vars(self) -> list[Var]:
        """Variables whose value may be a request ref (the dispatcher's ``req`` excluded)."""
        out: list[Var] = []
        for m in self.mons:
            out += [*m.q, *m.inq, *m.ap]
        if self.evq is not None:
            out.append(self.evq)
        if self.rs_event is not None:
            out.append(self.rs_event)
        out += [m.lastid for m in self.mons]
        return out

    def renumbering_applies(self) -> bool:
        """Refs are free to rename: requests go through the queue (not the 2010 design's slots)."""
        return self.has_dispatcher()

    def retire_answered_request(self, s: State, c: int) -> State | None:
        """``s`` with client ``c``'s request seq 1 retired and later ones renumbered, or ``None``
        when that request is still referenced (or not answered, or not followed by another)."""
        if not self.renumbering_applies():
            return None
        cl = self.clients[c]
        nr = self.NR
        if s[cl.sent.index] < 2 or not s[cl.ans[1].index]:
            return None
        r1 = self.ref(c, 1)
        lastids = {m.lastid.index for m in self.mons}
        strict = [v.index for v in self.ref_vars() if v.index not in lastids]
        if any(s[v] == r1 for v in strict):
            return None
        d = self.dsp
        if s[d.req.index] == r1 and s[d.pc.index] not in _IDLE:
            return None
        lst = list(s)
        lo, hi = self.ref(c, 2), self.ref(c, nr - 1)
        for v in [*(x.index for x in self.ref_vars()), d.req.index]:
            x = lst[v]
            if x == r1:
                lst[v] = 0
            elif lo <= x <= hi:
                lst[v] = x - 1
        kinds = [k.index for k in cl.kind[1:] if k is not None]
        for j in range(len(kinds) - 1):
            lst[kinds[j]] = lst[kinds[j + 1]]
        lst[kinds[-1]] = 0
        ans = [a.index for a in cl.ans]
        for j in range(1, nr - 1):
            lst[ans[j]] = lst[ans[j + 1]]
        lst[ans[nr - 1]] = 0
        if cl.ev:
            ev = [e.index for e in cl.ev[1:]]
            for j in range(len(ev) - 1):
                lst[ev[j]] = lst[ev[j + 1]]
            lst[ev[-1]] = 0
        for v in (cl.last.index, cl.lasta.index):
            if lst[v] >= 1:
                lst[v] -= 1
        lst[cl.sent.index] -= 1
        return tuple(lst)

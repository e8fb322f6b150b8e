"""The conformance search: model runs whose external behaviour is a transcript's.

:func:`compile_model` builds and compiles the model of a configuration once
(cached); :class:`Search` explores (model state, per connection: requests
handed to the model, cursor into its items, released blocked requests) depth
first, consuming steps first. The matching rules are in
:mod:`qmpmodel.conformance.conform`'s docstring and docs/conformance.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qmpmodel.conformance.analysis import Conn, Item
from qmpmodel.core.expr import Expr, any_of, ite, lit, to_python
from qmpmodel.core.model import Model, State, compile_successors
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.probes import Probes
from qmpmodel.statemachine import build

__all__ = ["Compiled", "Search", "compile_model", "design_key"]

_INTERNAL_FAIR = frozenset({"reader", "dispatcher", "main", "vcpu", "call_rcu", "iothread"})



@dataclass
class Compiled:
    model: Model
    probes: Probes
    succ: Callable[[State], list[tuple[int, State]]]
    nr: int
    #: per action: its client-visible messages (replies and events) and where each goes
    emits: list[list[tuple[Any, Callable[[State], int]]]]
    sent: list[Callable[[State], int]]
    suspend_cnt: list[Callable[[State], int]]
    executing_request: Callable[[State], int]


def _value_fn(e: Expr, cache: dict[str, Callable[[State], int]]) -> Callable[[State], int]:
    """A compiled evaluator of an integer or boolean expression (the source is the model's own)."""
    src = to_python(e)
    if src not in cache:
        cache[src] = eval(f"lambda s: int({src})")
    return cache[src]


@lru_cache(maxsize=16)
def compile_model(design_key: tuple[str, str | None, tuple[tuple[str, Any], ...]], bounds: Bounds) -> Compiled:
    base, proposal, items = design_key
    qm = build(Design(dict(items), base, proposal), bounds, "<conform>")
    model, p = qm.model, qm.design
    cache: dict[str, Callable[[State], int]] = {}
    emits = [[(e, _value_fn(e.to, cache)) for e in a.wire] for a in model.actions]
    executing = any_of(p.executing(m) for m in p.monitor_ids)
    return Compiled(model, p, compile_successors(model), bounds.requests + 1, emits,
                     [_value_fn(p.sent(c), cache) for c in p.client_ids],
                     [_value_fn(p.suspend_cnt(m), cache) for m in p.monitor_ids],
                     _value_fn(ite(executing, p.executing_request(), lit(0)), cache))


def design_key(design: Design) -> tuple[str, str | None, tuple[tuple[str, Any], ...]]:
    return design.base, design.proposal, tuple(sorted(design.values.items()))


# --------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------


class Search:
    def __init__(self, conns: list[Conn], cm: Compiled, design: Design, bounds: Bounds,
                 max_states: int, deadline: float | None,
                 error_classes: frozenset[str] = frozenset({"GenericError"})) -> None:
        self.conns = conns
        self.error_classes = error_classes
        self.cm = cm
        self.d = design
        self.b = bounds
        self.max_states = max_states
        self.deadline = deadline
        self.nr = cm.nr
        p = cm.probes
        self.probes = p
        self.kid = {p.kind_name(i): i for i in range(len(bounds.mix) + 1)}
        # which (conn, request index) have a release barrier
        self.release_of: dict[tuple[int, int], int] = {}
        self.id_index: dict[str, list[tuple[int, int]]] = {}
        for cn in conns:
            for k, rq in enumerate(cn.reqs):
                if rq.obs.id is not None:
                    self.id_index.setdefault(rq.obs.id, []).append((cn.index, k))
        for cn in conns:
            for it in cn.items:
                if it.what == "release" and it.release in self.id_index:
                    self.release_of.setdefault(self.id_index[it.release][0], it.line)
        # requests the signal may interrupt: released by the signal step
        self.signalled = frozenset((cn.index, k) for cn in conns for k, rq in enumerate(cn.reqs)
                                   if rq.signalled and "blocking" in rq.kinds)
        for cn in conns:
            if cn.signal_pos is not None:
                for key in self.signalled:
                    self.release_of.setdefault(key, cn.items[cn.signal_pos].line)
        acts = cm.model.actions
        self.fam = [a.family for a in acts]
        self.kind_names = dict(enumerate(KINDS))
        self.par = [dict(a.params) for a in acts]
        self.internal = [a.fair in _INTERNAL_FAIR for a in acts]
        # progress bookkeeping
        n = len(conns)
        self.max_rc = [0] * n
        self.max_sc = [0] * n
        self.offers: dict[tuple[int, str, int], set[str]] = {}
        #: cursors of states where a written request could not be handed to the
        #: model because all its request slots were in use
        self.exhausted_at: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        self.diverge: tuple[int, int] | None = None  # (conn, item position) once rejected
        self.states = 0
        self.budget_hit = False
        self.expected_caps = {m: (["oob"] if p.oob_offered(m) else []) for m in p.monitor_ids}

    # -- helpers ---------------------------------------------------------------
    def offer(self, c: int, what: str, pos: int, text: str) -> None:
        s = self.offers.setdefault((c, what, pos), set())
        if len(s) < 12:
            s.add(text)

    def req_of_ref(self, s: tuple[int, ...], sc: tuple[int, ...], ref: int) -> tuple[int, int]:
        c, i = self.probes.request_of(ref)
        return c, i + sc[c] - self.cm.sent[c](s)

    def describe_emit(self, s: tuple[int, ...], sc: tuple[int, ...], e: Any) -> str:
        if e.what == "greeting":
            return f"a greeting offering {self.expected_caps[e.monitor]}"
        if e.what == "eof":
            return "the server closing the connection (eof)"
        if e.what != "reply":
            return "an event"
        c, k = self.req_of_ref(s, sc, e.ref)
        if 0 <= k < len(self.conns[c].reqs):
            return f"the reply to {self.conns[c].reqs[k].describe(self.conns[c].label)} [{e.cls}]"
        return f"a reply [{e.cls}]"  # pragma: no cover

    def match(self, s: tuple[int, ...], sc: tuple[int, ...], e: Any, it: Item) -> bool:
        if e.what == "eof":
            return it.what == "eof"
        if e.what == "greeting":
            caps = sorted(it.obs.capabilities or ()) if it.obs is not None else []
            return it.what == "greeting" and caps == self.expected_caps[e.monitor]
        if it.what != "recv" or it.obs is None:
            return False
        o = it.obs
        if e.what == "event":
            return o.kind == "event"
        if o.kind != "reply":
            return False
        c, k = self.req_of_ref(s, sc, e.ref)
        rq = self.conns[c].reqs[k]
        if o.id != rq.expected_id:
            return False
        got = "return" if o.ok else (o.error_class or "?")
        if got == e.cls:
            return True
        # a handler ran: argument checks or the handler itself may have failed, with
        # any QapiErrorClass of the schema but CommandNotFound (the model's
        # Emit.may_fail; QEMU 7.2 transcripts coroutine-commands, errors, error-classes)
        return bool(e.may_fail) and got in self.error_classes

    def quiescent(self, succs: list[tuple[int, tuple[int, ...]]]) -> list[str]:
        return [self.cm.model.actions[a].label for a, _ in succs if self.internal[a]]

    def canon(self, s: tuple[int, ...]) -> tuple[int, ...]:
        """Retire answered requests while the model allows it (:mod:`qmpmodel.qemu.renumber`)."""
        for c in range(len(self.conns)):
            while (t := self.probes.retire_answered_request(s, c)) is not None:
                s = t
        return s

    def bound_matters(self) -> bool:
        """Could more request slots let the search consume the diverging item?

        Only if, in a state stuck at that item with its slots exhausted, a
        request that could explain the item was not yet in the model.
        """
        if self.diverge is None:
            return False
        cx, px = self.diverge
        at = [(rc, sc) for rc, sc in self.exhausted_at if rc[cx] == px]
        if not at:
            return False
        items = self.conns[cx].items
        it = items[px] if px < len(items) else None
        if it is None:
            return False
        if it.what == "release":
            return True
        if it.what != "recv" or it.obs is None:
            return False
        if it.obs.kind == "reply":
            if it.obs.id is None:
                # only a parse error, a non-object or a request without id answers
                # without an id: could one of those still be handed to the model?
                noid = [(cx, k) for k, rq in enumerate(self.conns[cx].reqs)
                        if rq.obs.id is None or set(rq.kinds) & {"parse-error", "nonobject", "garbage"}]
                return any(sc[c] <= k for _rc, sc in at for c, k in noid)
            targets = self.id_index.get(it.obs.id, [])
            return any(sc[c] <= k for _rc, sc in at for c, k in targets)
        # an event: any request whose handler runs may raise events (F1)
        evs = [(cn.index, k) for cn in self.conns for k, rq in enumerate(cn.reqs)
               if any(KINDS[kk].handler_runs for kk in rq.kinds if kk in KINDS)]
        return any(sc[c] <= k for _rc, sc in at for c, k in evs)

    def signal_ready(self, s: tuple[int, ...], sc: tuple[int, ...], rc: tuple[int, ...],
                     succs: list[tuple[int, tuple[int, ...]]]) -> bool:
        """The signal barrier: every connection at its signal item (a later one not started), every
        request written before it handed to a readable monitor, the model quiescent."""
        conns = self.conns
        for c, cn in enumerate(conns):
            if cn.signal_pos is None:
                if rc[c] > 0:
                    return False
                continue
            if rc[c] != cn.signal_pos:
                return False
            it = cn.items[cn.signal_pos]
            if sc[c] < it.reqs_before and self.cm.suspend_cnt[cn.monitor](s) <= 0:
                self.offer(c, "item", rc[c], f"first handing {cn.reqs[sc[c]].describe(cn.label)} to a readable "
                           "monitor (it was written before the signal)")
                return False
        busy = self.quiescent(succs)
        if busy:
            for c, cn in enumerate(conns):
                if cn.signal_pos is not None:
                    self.offer(c, "item", rc[c], "the signal only after its internal steps: " + ", ".join(busy[:4]))
            return False
        return True

    # -- the search --------------------------------------------------------------
    def run(self) -> bool:
        conns = self.conns
        n = len(conns)
        init: tuple[Any, ...] = (self.cm.model.init, (0,) * n, (0,) * n, frozenset())
        seen = {init}
        stack = [init]
        succ = self.cm.succ
        ends = tuple(len(cn.items) for cn in conns)
        while stack:
            st = stack.pop()
            s, sc, rc, rel = st
            self.states += 1
            if self.states > self.max_states or (
                    self.deadline is not None and self.states % 2048 == 0 and time.monotonic() > self.deadline):
                self.budget_hit = True
                return False
            for c in range(n):
                if rc[c] > self.max_rc[c]:
                    self.max_rc[c] = rc[c]
                if sc[c] > self.max_sc[c]:
                    self.max_sc[c] = sc[c]
            if rc == ends:
                return True
            succs = succ(s)
            nexts: list[tuple[Any, ...]] = []
            # release barriers (not a model action)
            for c in range(n):
                if rc[c] < ends[c] and conns[c].items[rc[c]].what == "release":
                    it = conns[c].items[rc[c]]
                    if sc[c] < it.reqs_before and self.cm.suspend_cnt[conns[c].monitor](s) <= 0:
                        rq = conns[c].reqs[sc[c]]
                        self.offer(c, "item", rc[c], f"first handing {rq.describe(conns[c].label)} to a "
                                   "readable monitor (it was written before the release)")
                        continue
                    busy = self.quiescent(succs)
                    if busy:
                        self.offer(c, "item", rc[c], "the release only after its internal steps: "
                                   + ", ".join(busy[:4]))
                        continue
                    new_rel = rel
                    if it.release in self.id_index:
                        new_rel = rel | {self.id_index[it.release][0]}
                    rc2 = (*rc[:c], rc[c] + 1, *rc[c + 1:])
                    nexts.append((s, sc, rc2, new_rel))
                elif rc[c] < ends[c] and conns[c].items[rc[c]].hmp_output:
                    # HMP's text on a shared mux (banner, prompt, echo, output): not matched (F5)
                    nexts.append((s, sc, (*rc[:c], rc[c] + 1, *rc[c + 1:]), rel))
            for a, s2 in succs:
                fam = self.fam[a]
                p = self.par[a]
                sc2, rc2, rel2 = sc, rc, rel
                if fam == "send":
                    c = p["client"]
                    k = sc[c]
                    cn = conns[c]
                    if k >= len(cn.reqs):
                        continue
                    rq = cn.reqs[k]
                    if rc[c] < rq.items_before:
                        continue
                    if rq.unsupported:
                        self.offer(c, "req", k, "nothing: " + rq.unsupported)
                        continue
                    if not any(self.kid.get(kk) == p["kind"] for kk in rq.kinds):
                        continue
                    sc2 = (*sc[:c], k + 1, *sc[c + 1:])
                elif fam in ("connect", "disconnect"):
                    c = p["client"]
                    if rc[c] >= ends[c] or conns[c].items[rc[c]].what != fam:
                        continue
                    rc2 = (*rc[:c], rc[c] + 1, *rc[c + 1:])
                elif fam in ("mux_escape", "hmp_write"):
                    # bytes for the mux or HMP (F5): the connection's next item, of the right kind
                    c = p["client"]
                    it2 = conns[c].items[rc[c]] if rc[c] < ends[c] else None
                    want = "escape" if fam == "mux_escape" else self.kind_names.get(p["kind"])
                    if it2 is None or it2.hmp_kind != want:
                        continue
                    rc2 = (*rc[:c], rc[c] + 1, *rc[c + 1:])
                elif fam == "signal":
                    if not self.signal_ready(s, sc, rc, succs):
                        continue
                    rc2 = tuple(r + 1 if cn.signal_pos is not None else r for r, cn in zip(rc, conns, strict=True))
                    rel2 = rel | self.signalled
                elif fam == "blocking_complete":
                    ref = self.cm.executing_request(s)
                    key = self.req_of_ref(s, sc, ref)
                    if key in self.release_of and key not in rel:
                        continue
                emits = self.cm.emits[a]
                ok = True
                if emits:
                    rcl = list(rc2)
                    for e, fn in emits:
                        to = fn(s)
                        if not to:
                            continue
                        c = to - 1
                        nxt_it = conns[c].items[rcl[c]] if rcl[c] < ends[c] else None
                        if nxt_it is not None and self.match(s, sc, e, nxt_it):
                            rcl[c] += 1
                            continue
                        self.offer(c, "item", rcl[c], self.describe_emit(s, sc, e))
                        ok = False
                        break
                    if not ok:
                        continue
                    rc2 = tuple(rcl)
                nexts.append((self.canon(s2), sc2, rc2, rel2))
            # request slots exhausted: the model cannot take the next written request
            for c in range(n):
                k = sc[c]
                if (k < len(conns[c].reqs) and rc[c] >= conns[c].reqs[k].items_before
                        and self.cm.sent[c](s) >= self.nr and not conns[c].reqs[k].unsupported
                        and len(self.exhausted_at) < 100_000):
                    self.exhausted_at.add((rc, sc))
            # explore consuming steps first (pushed last)
            nexts.sort(key=lambda t: sum(t[2]) + sum(t[1]))
            for t in nexts:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return False



"""Conformance: is a recorded QMP transcript a behaviour of the model?

``conform(lines, spec)`` searches over the model's internal steps and over the
interleavings allowed by per-connection order for a run whose external
behaviour (requests written, greetings, replies and events received,
connects, disconnects, external releases of blocked commands) is the
transcript's.  ``docs/conformance.md`` documents the mapping table and the
matching rules; the summary:

* configuration from the transcript: monitors (by first appearance), one model
  client per connection (in connect order), the command mix from the QAPI
  schema of the transcript's QEMU and the mapping table
  (:mod:`qmpmodel.conformance.commands`);
* the design from the spec, except the three *client* axes, which describe
  the environment: the transcript is the client (``client_discipline`` and
  ``client_wait_negotiation`` off, ``client_oob`` on iff some connection
  negotiates ``oob``);
* a search state is (model state, per connection: requests handed to the
  model, cursor into the other observations, released blocked requests);
* a request may be handed to the model only after every observation that
  precedes it on its connection was consumed; it may be handed later than its
  line (the socket buffers it);
* a step whose :class:`~qmpmodel.core.model.Emit` reaches a connected client must
  match that client's next received observation: a reply to the same request
  (by id, by position without id) with a compatible class (a handler that may
  fail may answer with any ``QapiErrorClass`` of the schema but
  CommandNotFound), or an event;
* ``{"release": ID}`` comments are barriers: every earlier observation of the
  connection consumed, every earlier request handed to the model unless its
  monitor is suspended, and the model quiescent (no enabled weakly fair
  internal step); ``blocking_complete`` of that request only afterwards;
* a ``{"signal": ...}`` comment is the model's ``signal`` step, a barrier on
  every connection alike; a request written before it and answered after it
  may be a blocked one the signal interrupts (EINTR), completed only after it;
* greetings and the server's close (``eof``) are messages of the model like
  replies and events (:class:`~qmpmodel.core.model.Emit`); events may come
  from handlers (0..E before their reply) and from the environment, bounded
  by :func:`event_bounds` unless the spec's ``[conform]`` table fixes them;
* request slots are recycled once a request is answered and no longer
  referenced (a renumbering that the model's symmetry in ``seq`` allows), so
  long transcripts fit the model's ``requests <= 10``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from qmpmodel.conformance.commands import (
    BUILTIN_COMMANDS,
    CONFORM_KINDS,
    ConformSpec,
    candidate_kinds,
    load_conform_spec,
)
from qmpmodel.conformance.transcript import (
    Observation,
    TranscriptLine,
    canonical_json,
    load_transcript,
    observations,
)
from qmpmodel.core.expr import Expr, any_of, ite, lit, to_python
from qmpmodel.core.model import Model, State, compile_successors
from qmpmodel.errors import InputError
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.probes import Probes
from qmpmodel.statemachine import build

__all__ = [
    "BUILTIN_COMMANDS",
    "CONFORM_KINDS",
    "ConformResult",
    "ConformSpec",
    "EventBounds",
    "conform",
    "conform_file",
    "event_bounds",
    "load_conform_spec",
]

_INTERNAL_FAIR = frozenset({"reader", "dispatcher", "main", "vcpu", "call_rcu", "iothread"})
_MAX_REQUESTS = 16  # the model's bound on bounds.requests


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass
class ConformResult:
    transcript: str
    verdict: str  # accepted | rejected | unknown
    line: int | None = None
    message: str = ""
    allowed: list[str] = field(default_factory=list)
    states: int = 0
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.verdict == "accepted"

    def render(self) -> str:
        if self.accepted:
            return f"{self.transcript}: conforms ({self.states:,} states)"
        where = f"{self.transcript}:{self.line}" if self.line else self.transcript
        allowed = "; ".join(self.allowed) if self.allowed else "nothing on this connection"
        head = "undecided" if self.verdict == "unknown" else "no model behaviour explains"
        return f"{where}: {head} {self.message}; the model allowed: {allowed}"

    def to_json(self) -> dict[str, Any]:
        return {"transcript": self.transcript, "verdict": self.verdict, "line": self.line,
                "message": self.message, "allowed": self.allowed, "states": self.states,
                "seconds": round(self.seconds, 3), "config": self.config, "notes": self.notes}


# --------------------------------------------------------------------------
# Transcript analysis
# --------------------------------------------------------------------------


@dataclass
class _Item:
    """One observation of a connection, or a release or signal barrier."""

    what: str  # connect | greeting | recv | release | signal | disconnect | eof | unrecognized | mux-input
    line: int
    obs: Observation | None = None
    release: str | None = None  # canonical id named by a release comment
    reqs_before: int = 0  # requests of the connection written before this item


@dataclass
class _Req:
    obs: Observation
    items_before: int  # non-request items before it on its connection
    kinds: tuple[str, ...] = ()  # candidate model kinds (seq 0: qmp_capabilities)
    unsupported: str | None = None  # why the model cannot send it
    signalled: bool = False  # written before the signal, answered after it (may be interrupted)

    @property
    def expected_id(self) -> str | None:
        return self.obs.id if self.obs.request_kind in ("execute", "exec-oob", "other") else None

    def describe(self, conn: str) -> str:
        o = self.obs
        if o.request_kind in ("parse-error", "non-object"):
            return f"{conn}'s {o.request_kind} request (line {o.line})"
        name = o.id if o.id is not None else (repr(o.command) if o.command else "request")
        return f"{conn}'s request {name} (line {o.line})"


@dataclass
class _Conn:
    label: str
    index: int
    monitor: int
    items: list[_Item]
    reqs: list[_Req]
    oob: bool = False
    signal_pos: int | None = None  # index of its signal barrier in items
    monitor_name: str = ""


_SIGNAL = object()  # the signal barrier in a connection's merged observations


def signal_line(lines: Sequence[TranscriptLine]) -> int | None:
    """The line of the transcript's first ``signal`` comment (the model has one signal step)."""
    return next((ln.lineno for ln in lines if ln.is_comment and "signal" in ln.data), None)


def _signalled_ids(per: Mapping[str, Sequence[Observation]], at: int | None) -> set[tuple[str, str]]:
    """(conn, id) of requests written before the signal and answered after it."""
    out: set[tuple[str, str]] = set()
    if at is None:
        return out
    for label, obs in per.items():
        written = {o.id for o in obs if o.kind == "request" and o.id is not None and o.line < at}
        out |= {(label, o.id) for o in obs if o.kind == "reply" and o.id in written and o.line > at
                and o.id is not None}
    return out


def _analyse(lines: Sequence[TranscriptLine], cspec: ConformSpec, source: str) -> list[_Conn]:
    per = observations(lines)
    released_ids: dict[str, int] = {}
    releases: list[tuple[int, str | None, str]] = []
    sig = signal_line(lines)
    signalled = _signalled_ids(per, sig)
    for ln in lines:
        if ln.is_comment and "release" in ln.data:
            rid = canonical_json(ln.data["release"])
            releases.append((ln.lineno, ln.conn, rid))
            released_ids.setdefault(rid, ln.lineno)
    conns: list[_Conn] = []
    monitors: dict[str, int] = {}
    order = sorted(per, key=lambda c: per[c][0].line)
    id_conn: dict[str, str] = {}
    for label in order:
        for o in per[label]:
            if o.kind == "request" and o.id is not None:
                id_conn.setdefault(o.id, label)
    for idx, label in enumerate(order):
        obs = per[label]
        mon = obs[0].monitor or "?"
        monitors.setdefault(mon, len(monitors))
        merged: list[tuple[int, int, Any]] = [(o.line, n, o) for n, o in enumerate(obs)]
        for rel_line, conn, rid in releases:
            owner = conn if conn is not None else id_conn.get(rid)
            if owner == label:
                merged.append((rel_line, -1, rid))
        if sig is not None and obs[0].line < sig:
            merged.append((sig, -1, _SIGNAL))
        merged.sort(key=lambda t: (t[0], t[1]))
        items: list[_Item] = []
        reqs: list[_Req] = []
        signal_pos: int | None = None
        for at_line, _n, o in merged:
            if o is _SIGNAL:
                signal_pos = len(items)
                items.append(_Item("signal", at_line, reqs_before=len(reqs)))
            elif isinstance(o, str):
                items.append(_Item("release", at_line, release=o, reqs_before=len(reqs)))
            elif o.kind == "request":
                reqs.append(_Req(o, len(items), signalled=(label, o.id) in signalled))
            else:
                what = {"reply": "recv", "event": "recv"}.get(o.kind, o.kind)
                items.append(_Item(what, at_line, o, reqs_before=len(reqs)))
        conns.append(_Conn(label, idx, monitors[mon], items, reqs, signal_pos=signal_pos, monitor_name=mon))
    for cn in conns:
        _classify(cn, cspec, released_ids)
    return conns


def _classify(cn: _Conn, cspec: ConformSpec, released_ids: Mapping[str, int]) -> None:
    """Candidate model kinds per request; any request may come first (bounds.negotiate_first off).

    A request the signal may have interrupted (written before it, answered after it) may also
    be a blocked one (docs/fidelity-ii.md 1b: EINTR in the handler's open())."""
    for rq in cn.reqs:
        o = rq.obs
        released = o.id is not None and o.id in released_ids
        rq.kinds = candidate_kinds(o, cspec, released)
        if rq.signalled and not released and o.request_kind == "execute":
            rq.kinds = ("blocking", *(k for k in rq.kinds if k != "blocking"))
        cn.oob = cn.oob or rq.kinds == ("caps",)


# --------------------------------------------------------------------------
# The model, compiled once per configuration
# --------------------------------------------------------------------------


@dataclass
class _Compiled:
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
def _compile(design_key: tuple[str, str | None, tuple[tuple[str, Any], ...]], bounds: Bounds) -> _Compiled:
    base, proposal, items = design_key
    qm = build(Design(dict(items), base, proposal), bounds, "<conform>")
    model, p = qm.model, qm.design
    cache: dict[str, Callable[[State], int]] = {}
    emits = [[(e, _value_fn(e.to, cache)) for e in a.wire] for a in model.actions]
    executing = any_of(p.executing(m) for m in p.monitor_ids)
    return _Compiled(model, p, compile_successors(model), bounds.requests + 1, emits,
                     [_value_fn(p.sent(c), cache) for c in p.client_ids],
                     [_value_fn(p.suspend_cnt(m), cache) for m in p.monitor_ids],
                     _value_fn(ite(executing, p.executing_request(), lit(0)), cache))


def _design_key(design: Design) -> tuple[str, str | None, tuple[tuple[str, Any], ...]]:
    return design.base, design.proposal, tuple(sorted(design.values.items()))


# --------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------


class _Search:
    def __init__(self, conns: list[_Conn], cm: _Compiled, design: Design, bounds: Bounds,
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

    def match(self, s: tuple[int, ...], sc: tuple[int, ...], e: Any, it: _Item) -> bool:
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


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class EventBounds:
    """What the transcript needs of F1-F4: events per command, environment events, a signal,
    monitors on a mux chardev (docs/conformance.md, "Events and the server's close")."""

    events_per_command: int
    environment_events: int
    signals: int
    mux_monitors: frozenset[str]


_MUX_CHARDEV = re.compile(r"-chardev\s+\S*?\bid=([^,\s]+)[^\s]*?\bmux=on")


def event_bounds(lines: Sequence[TranscriptLine], cspec: ConformSpec | None = None) -> EventBounds:
    """Bounds large enough for every explanation of ``lines`` (unless ``cspec`` fixes them).

    * events per command: a handler's events reach its own session between the request and
      its reply; qemu_cleanup's events follow SHUTDOWN after the session's last request, before
      its EOF. The bound is the largest such count (at most 4, the model's maximum);
    * environment events: each reaches at least one session, so at most every event seen
      (at most 16);
    * one signal step if the transcript has a ``signal`` comment;
    * monitors whose chardev the recorded command line (a ``qemu:`` note) declares ``mux=on``.
    """
    per = observations(lines)
    handler = cleanup = total = 0
    for obs in per.values():
        total += sum(o.kind == "event" for o in obs)
        for n, o in enumerate(obs):
            if o.kind != "request":
                continue
            count = 0
            for later in obs[n + 1:]:
                if later.kind == "reply":
                    break
                count += later.kind == "event"
            handler = max(handler, count)
        if obs and obs[-1].kind == "eof":
            last = max((n for n, o in enumerate(obs) if o.kind == "request"), default=-1)
            cleanup = max(cleanup, sum(o.kind == "event" for o in obs[last + 1:]) - 1)
    ev = min(4, max(handler, cleanup))
    env = min(16, total)
    if cspec is not None and cspec.events_per_command is not None:
        ev = cspec.events_per_command
    if cspec is not None and cspec.environment_events is not None:
        env = cspec.environment_events
    mux: set[str] = set()
    for ln in lines:
        if ln.is_comment and ln.note and ln.note.startswith("qemu:"):
            mux |= set(_MUX_CHARDEV.findall(ln.note))
    return EventBounds(ev, env, 1 if signal_line(lines) is not None else 0, frozenset(mux))


def _config(conns: list[_Conn], cspec: ConformSpec, requests: int,
            eb: EventBounds) -> tuple[Design, Bounds, list[str]]:
    spec = cspec.spec
    notes: list[str] = list(cspec.table.notes) if cspec.table else [
        "no QAPI schema: a command outside the mapping table may or may not exist"]
    n_mon = max((cn.monitor for cn in conns), default=0) + 1
    kinds_used = {k for cn in conns for rq in cn.reqs for k in rq.kinds}
    mix = tuple(k for k in KINDS if k in kinds_used) or ("quick",)
    values = dict(spec.design.values)
    # the transcript is the client: it negotiates per session with caps* requests
    values.update(client_discipline=False, client_wait_negotiation=False)
    design = Design(values, spec.design.base, spec.design.proposal)
    names = {cn.monitor: cn.monitor_name for cn in conns}
    mux = tuple(names.get(m) in eb.mux_monitors for m in range(n_mon))
    bounds = replace(spec.bounds, monitors=n_mon, clients=len(conns), requests=requests, mix=mix,
                     client_monitors=tuple(cn.monitor for cn in conns), iothread_monitors=(), hmp=0,
                     negotiate_first=False, events_per_command=eb.events_per_command,
                     env_events=eb.environment_events, signals=eb.signals,
                     mux_monitors=mux if any(mux) else ())
    return design, bounds, notes


def conform(lines: Sequence[TranscriptLine], cspec: ConformSpec, source: str = "<transcript>",
            max_states: int = 2_000_000, timeout: float | None = None) -> ConformResult:
    """Decide whether transcript *lines* is a behaviour of the model of *cspec*."""
    t0 = time.monotonic()
    conns = _analyse(lines, cspec, source)
    eb = event_bounds(lines, cspec)
    if not conns:
        raise InputError(source, None, "at least one connection", "none")
    n_mon = max(cn.monitor for cn in conns) + 1
    if n_mon > 4 or len(conns) > 6:
        raise InputError(source, None, "a configuration the model can hold (at most 4 monitors and 6 "
                         "connections)", f"{n_mon} monitors, {len(conns)} connections",
                         "configuration too large: split the transcript")
    need = max((len(cn.reqs) - 1 for cn in conns), default=0)
    need = max(need, 1)
    ladder = sorted({min(need, r) for r in (2, 4, _MAX_REQUESTS)})
    deadline = t0 + timeout if timeout else None
    total = 0
    res: ConformResult | None = None
    for requests in ladder:
        design, bounds, notes = _config(conns, cspec, requests, eb)
        cm = _compile(_design_key(design), bounds)
        srch = _Search(conns, cm, design, bounds, max_states, deadline, cspec.handler_error_classes)
        ok = srch.run()
        total += srch.states
        config = {"monitors": bounds.monitors, "clients": bounds.clients, "requests": requests,
                  "mix": list(bounds.mix), "client_monitors": list(bounds.client_monitors),
                  "connections": [cn.label for cn in conns], "client_oob": design.value("client_oob"),
                  "schema": cspec.table.source if cspec.table else None,
                  "events_per_command": eb.events_per_command, "environment_events": eb.environment_events,
                  "signals": eb.signals, "mux_monitors": sorted(eb.mux_monitors)}
        if ok:
            return ConformResult(source, "accepted", states=total, seconds=time.monotonic() - t0,
                                 config=config, notes=notes)
        res = _reject(srch, source, config, notes)
        res.states = total
        if srch.budget_hit:
            res.verdict = "unknown"
            res.notes.append(f"state budget ({max_states:,}) or timeout reached")
            break
        if not srch.bound_matters():
            break
        if requests == ladder[-1]:
            res.verdict = "unknown"
            res.notes.append(f"the model's request slots ({requests} per session, the model's maximum is "
                             f"{_MAX_REQUESTS}) were exhausted on some path: the rejection may be an artifact "
                             "of the bound (configuration too large)")
    assert res is not None
    res.seconds = time.monotonic() - t0
    return res


def _reject(srch: _Search, source: str, config: dict[str, Any], notes: list[str]) -> ConformResult:
    conns = srch.conns
    cands: list[tuple[int, int, str, int]] = []  # (line, conn, what, pos)
    for cn in conns:
        c = cn.index
        if srch.max_rc[c] < len(cn.items):
            cands.append((cn.items[srch.max_rc[c]].line, c, "item", srch.max_rc[c]))
        if srch.max_sc[c] < len(cn.reqs):
            rq = cn.reqs[srch.max_sc[c]]
            # a request is stuck only if every observation before it was consumed
            if srch.max_rc[c] >= rq.items_before and rq.unsupported:
                cands.append((rq.obs.first_line or rq.obs.line, c, "req", srch.max_sc[c]))
    _line, c, what, pos = min(cands)
    srch.diverge = (c, pos if what == "item" else srch.max_rc[c])
    cn = conns[c]
    allowed = sorted(srch.offers.get((c, what, pos), set()))
    if what == "req":
        rq = cn.reqs[pos]
        what_req = " ".join(x for x in (rq.obs.request_kind, rq.obs.command) if x)
        msg = f"the request written on {cn.label} ({what_req})"
        if rq.unsupported:
            allowed = ["nothing: " + rq.unsupported]
        return ConformResult(source, "rejected", rq.obs.line, msg, allowed, config=config, notes=notes)
    it = cn.items[pos]
    note = ""
    if it.what == "release":
        rel_allowed = allowed
        nxt = next((j for j in range(pos + 1, len(cn.items)) if cn.items[j].what != "release"), None)
        note = f" (after the release at line {it.line}, which the model could not reach there)"
        if nxt is not None:
            it = cn.items[nxt]
            # what the model could write there first, then why the release could not happen
            rel_sorted = sorted(rel_allowed, key=lambda x: (not x.startswith("the reply") and x != "an event", x))
            allowed = sorted(srch.offers.get((c, "item", nxt), set())) + [
                f"at the release (line {cn.items[pos].line}): {x}" for x in rel_sorted[:6]]
    msg = _describe_item(it, cn.label) + note
    return ConformResult(source, "rejected", it.line, msg, allowed, config=config, notes=notes)


def _describe_item(it: _Item, conn: str) -> str:
    o = it.obs
    if it.what == "release":
        return f"the release of {it.release} on {conn}"
    if it.what == "signal":
        return f"the signal (line {it.line}) seen from {conn}"
    if o is None:  # pragma: no cover
        return f"line {it.line}"
    if o.kind == "reply":
        cls = "return" if o.ok else o.error_class
        idt = f" with id {o.id}" if o.id is not None else " without id"
        return f"the reply{idt} [{cls}] received on {conn}"
    if o.kind == "event":
        return f"the event {o.event} received on {conn}"
    if o.kind == "greeting":
        return f"the greeting {list(o.capabilities or ())} on {conn}"
    if o.kind == "unrecognized":
        return f"the unrecognized line received on {conn} (not a JSON object the model can match)"
    if o.kind == "eof":
        return f"the server closing {conn} (eof)"
    if o.kind == "mux-input":
        return (f"the bytes written on {conn} for the HMP monitor or the mux escape (the model has no "
                "mux chardev shared by QMP and HMP)")
    return f"the {o.kind} of {conn}"


def conform_file(path: str | Path, cspec: ConformSpec, **kw: Any) -> ConformResult:
    """Load and check one transcript file (bad input raises :class:`InputError`)."""
    lines = load_transcript(path)
    return conform(lines, cspec, str(path), **kw)

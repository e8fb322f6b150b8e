"""Conformance: is a recorded QMP transcript a behaviour of the model?

``conform(lines, spec)`` searches over the model's internal steps and over the
interleavings allowed by per-connection order for a run whose external
behaviour (requests written, greetings, replies and events received,
connects, disconnects, external releases of blocked commands) is the
transcript's.  ``docs/conformance.md`` documents the mapping table and the
matching rules; the summary:

* configuration from the transcript: monitors (by first appearance), one model
  client per connection (in connect order), the command mix through the
  mapping table (:data:`BUILTIN_COMMANDS`, extensible from the spec);
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
  (by id, by position without id) with a compatible class, or an event;
* ``{"release": ID}`` comments are barriers: every earlier observation of the
  connection consumed, every earlier request handed to the model unless its
  monitor is suspended, and the model quiescent (no enabled weakly fair
  internal step); ``blocking_complete`` of that request only afterwards;
* request slots are recycled once a request is answered and no longer
  referenced (a renumbering that the model's symmetry in ``seq`` allows), so
  long transcripts fit the model's ``requests <= 10``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from qmpmodel.conformance.transcript import (
    Observation,
    TranscriptLine,
    canonical_json,
    load_transcript,
    observations,
)
from qmpmodel.core.expr import Expr, any_of, ite, lit, to_python
from qmpmodel.core.model import Model, State, compile_successors
from qmpmodel.errors import InputError, close_matches
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.probes import Probes
from qmpmodel.specs import Spec, parse_spec, read_toml
from qmpmodel.statemachine import build

__all__ = [
    "BUILTIN_COMMANDS",
    "CONFORM_KINDS",
    "ConformResult",
    "ConformSpec",
    "conform",
    "conform_file",
    "load_conform_spec",
]

#: Command name -> model command kind (``docs/conformance.md``).  ``event``
#: commands may also be matched as ``quick`` per request (a second ``stop``
#: raises no STOP); ``oob`` commands map to ``oob`` under ``exec-oob`` and to
#: ``oob-inband`` under ``execute``.  A request named by a ``release`` comment
#: is ``blocking`` whatever its name.  Everything else is ``quick``.
BUILTIN_COMMANDS: Mapping[str, str] = {
    "block_resize": "coroutine",
    "screendump": "coroutine",
    "migrate-pause": "oob",
    "migrate-recover": "oob",
    "yank": "oob",
    "query-yank": "oob",
    "x-oob-test": "oob",
    "stop": "event",
    "cont": "event",
    "quit": "event",
}

#: Values allowed in a spec's ``[conform.commands]`` table.
CONFORM_KINDS: tuple[str, ...] = ("quick", "blocking", "coroutine", "oob", "event", "noreply", "hang", "device-add")

_INTERNAL_FAIR = frozenset({"reader", "dispatcher", "main", "vcpu", "call_rcu", "iothread"})
_MAX_REQUESTS = 16  # the model's bound on bounds.requests


# --------------------------------------------------------------------------
# Spec with the conform extension
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConformSpec:
    spec: Spec
    commands: Mapping[str, str] = field(default_factory=dict)  # [conform.commands]
    schema_kinds: Mapping[str, str] = field(default_factory=dict)  # from [commands] qapi


def load_conform_spec(path: str | Path) -> ConformSpec:
    """Read a spec; a ``[conform.commands]`` table maps command names to kinds.

    The table is removed before the ordinary spec parser sees the file.  A
    ``[commands] qapi = …`` schema also feeds the mapping (allow-oob -> oob,
    coroutine -> coroutine, success-response false -> noreply).
    """
    src = str(path)
    data = read_toml(path)
    conf = data.pop("conform", {})
    if not isinstance(conf, dict):
        raise InputError(src, "conform", "a table", type(conf).__name__)
    for k in conf:
        if k not in ("commands", "qapi"):
            raise InputError(src, f"conform.{k}", "'commands' or 'qapi'", repr(k),
                             close_matches(k, ["commands", "qapi"]))
    cmds = conf.get("commands", {})
    if not isinstance(cmds, dict):
        raise InputError(src, "conform.commands", "a table of command name = kind", type(cmds).__name__)
    for name, kind in cmds.items():
        if kind not in CONFORM_KINDS:
            raise InputError(src, f"conform.commands.{name}", "one of " + ", ".join(CONFORM_KINDS), repr(kind),
                             close_matches(str(kind), CONFORM_KINDS))
    spec = parse_spec(data, src)
    schema_kinds: dict[str, str] = {}
    tbl = data.get("commands")
    # [conform] qapi names the schema of the QEMU that produced the transcripts: it
    # says which commands exist (others are CommandNotFound) and maps their flags
    for where, path in (("commands.qapi", tbl.get("qapi") if isinstance(tbl, dict) else None),
                        ("conform.qapi", conf.get("qapi"))):
        if path is None:
            continue
        if not isinstance(path, str):
            raise InputError(src, where, "a path to a QAPI schema (a string)", type(path).__name__)
        from qmpmodel.schema.qapi import load_schema, model_kind

        p = Path(path)
        full = p if p.is_absolute() else Path(src).parent / p
        for c in load_schema(full).commands:
            schema_kinds[c.name] = model_kind(c)
    return ConformSpec(spec, dict(cmds), schema_kinds)


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
    """One observation of a connection, or a release barrier."""

    what: str  # connect | greeting | recv | release | disconnect | eof | unrecognized
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


def _kind_of(name: str | None, cspec: ConformSpec) -> str:
    if name is None:
        return "quick"
    if name in cspec.commands:
        return cspec.commands[name]
    if name in BUILTIN_COMMANDS:
        return BUILTIN_COMMANDS[name]
    return cspec.schema_kinds.get(name, "quick")


def _analyse(lines: Sequence[TranscriptLine], cspec: ConformSpec, source: str) -> list[_Conn]:
    per = observations(lines)
    released_ids: dict[str, int] = {}
    releases: list[tuple[int, str | None, str]] = []
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
        merged.sort(key=lambda t: (t[0], t[1]))
        items: list[_Item] = []
        reqs: list[_Req] = []
        for at_line, _n, o in merged:
            if isinstance(o, str):
                items.append(_Item("release", at_line, release=o, reqs_before=len(reqs)))
            elif o.kind == "request":
                reqs.append(_Req(o, len(items)))
            else:
                what = {"reply": "recv", "event": "recv"}.get(o.kind, o.kind)
                items.append(_Item(what, at_line, o, reqs_before=len(reqs)))
        conns.append(_Conn(label, idx, monitors[mon], items, reqs))
    for cn in conns:
        _classify(cn, cspec, released_ids)
    return conns


def _caps_kind(o: Observation) -> str:
    """qmp_capabilities by its ``enable`` argument: the model's ``caps*`` kinds (§3.1)."""
    import json

    try:
        args = json.loads(o.arguments) if o.arguments else {}
    except ValueError:  # pragma: no cover - canonical JSON always parses
        return "caps-bad"
    enable = args.get("enable", []) if isinstance(args, dict) else None
    if not isinstance(enable, list) or any(x != "oob" for x in enable):
        return "caps-bad"
    return "caps" if "oob" in enable else "caps-nooob"


def _classify(cn: _Conn, cspec: ConformSpec, released_ids: Mapping[str, int]) -> None:
    """Candidate model kinds per request; any request may come first (bounds.negotiate_first off)."""
    for rq in cn.reqs:
        o = rq.obs
        mapped = o.command is not None and (o.command in cspec.commands or o.command in BUILTIN_COMMANDS
                                            or o.command in cspec.schema_kinds)
        # with a schema the set of commands is known; without one, an unmapped name
        # may or may not exist, and both are tried
        missing = not mapped and bool(cspec.schema_kinds)
        if o.request_kind == "other" or (o.request_kind == "execute" and not isinstance(o.command, str)):
            # fails qmp_dispatch's member checks before any lookup (§3.5 checks 3-5)
            rq.kinds = ("bad-request",)
        elif o.request_kind == "execute" and o.command == "qmp_capabilities":
            rq.kinds = (_caps_kind(o),)
            cn.oob = cn.oob or rq.kinds == ("caps",)
        elif o.request_kind == "parse-error":
            rq.kinds = ("parse-error",)
        elif o.request_kind == "non-object":
            rq.kinds = ("nonobject",)
        elif o.request_kind == "exec-oob":
            k = _kind_of(o.command, cspec)
            if k == "oob" and not missing:
                rq.kinds = ("oob",)
            elif missing:
                rq.kinds = ("exec-oob-unknown",)
            else:
                # a name the mapping does not know may not exist at all (check 6)
                rq.kinds = ("exec-oob-bad",) if mapped else ("exec-oob-bad", "exec-oob-unknown")
        else:  # execute (string or not) or another object: in-band
            k = "quick" if o.request_kind == "other" else _kind_of(o.command, cspec)
            if o.id is not None and o.id in released_ids:
                k = "blocking"
            if k == "oob":
                rq.kinds = ("oob-inband",)
            elif k == "event":
                rq.kinds = ("event", "quick")
            elif missing and o.request_kind == "execute":
                rq.kinds = ("unknown",)
            elif k == "quick" and not mapped and o.request_kind == "execute":
                rq.kinds = ("quick", "unknown")
            else:
                rq.kinds = (k,)
            if o.id is None and rq.kinds[0] == "quick":
                rq.kinds = ("quick-noid", *rq.kinds[1:])


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
    emits = [[(e, _value_fn(e.to, cache)) for e in a.emits if e.what in ("reply", "event")] for a in model.actions]
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
                 max_states: int, deadline: float | None) -> None:
        self.conns = conns
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
        self.expected_caps = ["oob"] if p.oob_offered(0) else []

    # -- helpers ---------------------------------------------------------------
    def offer(self, c: int, what: str, pos: int, text: str) -> None:
        s = self.offers.setdefault((c, what, pos), set())
        if len(s) < 12:
            s.add(text)

    def req_of_ref(self, s: tuple[int, ...], sc: tuple[int, ...], ref: int) -> tuple[int, int]:
        c, i = self.probes.request_of(ref)
        return c, i + sc[c] - self.cm.sent[c](s)

    def describe_emit(self, s: tuple[int, ...], sc: tuple[int, ...], e: Any) -> str:
        if e.what != "reply":
            return "an event"
        c, k = self.req_of_ref(s, sc, e.ref)
        if 0 <= k < len(self.conns[c].reqs):
            return f"the reply to {self.conns[c].reqs[k].describe(self.conns[c].label)} [{e.cls}]"
        return f"a reply [{e.cls}]"  # pragma: no cover

    def match(self, s: tuple[int, ...], sc: tuple[int, ...], e: Any, it: _Item) -> bool:
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
        # a handler ran: argument checks or the handler itself may have failed
        # (the model's Emit.may_fail; QEMU 7.2 transcripts coroutine-commands, errors)
        return bool(e.may_fail) and got == "GenericError"

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
        evs = [(cn.index, k) for cn in self.conns for k, rq in enumerate(cn.reqs) if "event" in rq.kinds]
        return any(sc[c] <= k for _rc, sc in at for c, k in evs)

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
                sc2, rc2 = sc, rc
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
                    pos = rc[c] + 1
                    if fam == "connect" and pos < ends[c] and conns[c].items[pos].what == "greeting":
                        g = conns[c].items[pos].obs
                        caps = list(g.capabilities or ()) if g else []
                        if sorted(caps) != sorted(self.expected_caps):
                            self.offer(c, "item", pos, f"a greeting offering {self.expected_caps}")
                            continue
                        pos += 1
                    rc2 = (*rc[:c], pos, *rc[c + 1:])
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
                nexts.append((self.canon(s2), sc2, rc2, rel))
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


def _config(conns: list[_Conn], cspec: ConformSpec, requests: int) -> tuple[Design, Bounds, list[str]]:
    spec = cspec.spec
    notes: list[str] = []
    n_mon = max((cn.monitor for cn in conns), default=0) + 1
    kinds_used = {k for cn in conns for rq in cn.reqs for k in rq.kinds}
    mix = tuple(k for k in KINDS if k in kinds_used) or ("quick",)
    values = dict(spec.design.values)
    # the transcript is the client: it negotiates per session with caps* requests
    values.update(client_discipline=False, client_wait_negotiation=False)
    design = Design(values, spec.design.base, spec.design.proposal)
    bounds = replace(spec.bounds, monitors=n_mon, clients=len(conns), requests=requests, mix=mix,
                     client_monitors=tuple(cn.monitor for cn in conns), iothread_monitors=(), hmp=0,
                     negotiate_first=False)
    return design, bounds, notes


def conform(lines: Sequence[TranscriptLine], cspec: ConformSpec, source: str = "<transcript>",
            max_states: int = 2_000_000, timeout: float | None = None) -> ConformResult:
    """Decide whether transcript *lines* is a behaviour of the model of *cspec*."""
    t0 = time.monotonic()
    conns = _analyse(lines, cspec, source)
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
        design, bounds, notes = _config(conns, cspec, requests)
        cm = _compile(_design_key(design), bounds)
        srch = _Search(conns, cm, design, bounds, max_states, deadline)
        ok = srch.run()
        total += srch.states
        config = {"monitors": bounds.monitors, "clients": bounds.clients, "requests": requests,
                  "mix": list(bounds.mix), "client_monitors": list(bounds.client_monitors),
                  "connections": [cn.label for cn in conns], "client_oob": design.value("client_oob")}
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
        return f"the server closing {conn} (eof: the model has no server-side close)"
    return f"the {o.kind} of {conn}"


def conform_file(path: str | Path, cspec: ConformSpec, **kw: Any) -> ConformResult:
    """Load and check one transcript file (bad input raises :class:`InputError`)."""
    lines = load_transcript(path)
    return conform(lines, cspec, str(path), **kw)

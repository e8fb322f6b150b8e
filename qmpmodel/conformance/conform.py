"""Conformance: is a recorded QMP transcript a behaviour of the model?

``conform(lines, spec)`` searches over the model's internal steps and over the
interleavings allowed by per-connection order for a run whose external
behaviour (requests written, greetings, replies and events received,
connects, disconnects, the server's close, external releases of blocked
commands and signals) is the transcript's: :mod:`~qmpmodel.conformance.analysis`
reads the transcript, :mod:`~qmpmodel.conformance.search` searches, this module
configures the model and explains a rejection.  ``docs/conformance.md``
documents the mapping table and the matching rules; the summary:

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

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qmpmodel.conformance.analysis import Conn, EventBounds, Item, analyse, event_bounds
from qmpmodel.conformance.commands import (
    BUILTIN_COMMANDS,
    CONFORM_KINDS,
    ConformSpec,
    load_conform_spec,
)
from qmpmodel.conformance.search import Search, compile_model, design_key
from qmpmodel.conformance.transcript import TranscriptLine, load_transcript
from qmpmodel.errors import InputError
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.kinds import KINDS

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
# Entry points
# --------------------------------------------------------------------------

def _config(conns: list[Conn], cspec: ConformSpec, requests: int,
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
    # F5: bytes for HMP on a QMP connection's mux: the HMP monitor shares that mux
    hmp_lines = [k for cn in conns for it in cn.items if (k := it.hmp_kind) is not None and k != "escape"]
    shared = any(it.what == "mux-input" for cn in conns for it in cn.items) and any(mux)
    hmp_mix = tuple(k for k in KINDS if k in hmp_lines) or ("hmp-quick",)
    bounds = replace(spec.bounds, monitors=n_mon, clients=len(conns), requests=requests, mix=mix,
                     client_monitors=tuple(cn.monitor for cn in conns), iothread_monitors=(),
                     hmp=1 if shared else 0, hmp_mux=shared, hmp_mix=hmp_mix if shared else spec.bounds.hmp_mix,
                     hmp_requests=max(1, len(hmp_lines)) if shared else spec.bounds.hmp_requests, negotiate_first=False,
                     events_per_command=eb.events_per_command, env_events=eb.environment_events,
                     signals=eb.signals, mux_monitors=mux if any(mux) else ())
    return design, bounds, notes


def conform(lines: Sequence[TranscriptLine], cspec: ConformSpec, source: str = "<transcript>",
            max_states: int = 2_000_000, timeout: float | None = None) -> ConformResult:
    """Decide whether transcript *lines* is a behaviour of the model of *cspec*."""
    t0 = time.monotonic()
    conns = analyse(lines, cspec, source)
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
        cm = compile_model(design_key(design), bounds)
        srch = Search(conns, cm, design, bounds, max_states, deadline, cspec.handler_error_classes)
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


def _reject(srch: Search, source: str, config: dict[str, Any], notes: list[str]) -> ConformResult:
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


def _describe_item(it: Item, conn: str) -> str:
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
        return (f"the bytes written on {conn} for the HMP monitor or the mux escape (the model has no HMP "
                "front end on a QMP connection's mux chardev: F5)")
    return f"the {o.kind} of {conn}"


def conform_file(path: str | Path, cspec: ConformSpec, **kw: Any) -> ConformResult:
    """Load and check one transcript file (bad input raises :class:`InputError`)."""
    lines = load_transcript(path)
    return conform(lines, cspec, str(path), **kw)

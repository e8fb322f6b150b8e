"""Judge a property on a recorded transcript (``qmpmodel reproduce``).

Each judge states the invariant of ``qmpmodel/invariants.py`` in terms of
what a client saw, so that "QEMU violated it" is decided on the transcript
(``docs/transcripts.md``), not on the model:

* ``no-cross-session-reply`` (§8.9, bug P): a connection received a reply
  carrying the id of a request that another connection wrote;
* ``reply-order`` / ``reply-order-all`` (§8.6, bug U): a connection received
  the replies to two of its requests in the opposite order of the requests
  (parse order of QEMU's streamer); ``reply-order`` looks only at in-band
  requests (everything but ``exec-oob``, §3.3);
* ``exactly-once-reply`` (§8.8, bugs D, T): a request written on a connection
  that stays open got two replies, or none: it was never parsed as a request
  (the parser's recovery swallowed it, §3.2), or it was parsed, not held on a
  FIFO, and nothing answered it by the end of the run;
* ``negotiation-gating`` (§8.11): an event arrived on a connection before its
  ``qmp_capabilities`` succeeded.

Ids are unique per run (``c1-0``, ``c1-1``, ...), so a reply is attributed to
its request by id. Replies without id (parse errors, requests without id)
are not attributed and never count as evidence.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from qmpmodel.conformance.observations import Observation, observations
from qmpmodel.conformance.transcript import TranscriptLine, canonical_json

__all__ = ["Judgement", "judge"]


@dataclass(frozen=True)
class Judgement:
    """Whether the transcript shows the violation, and the lines that show it (or why not)."""

    violated: bool
    evidence: str


def judge(invariant: str, lines: Sequence[TranscriptLine], intended: Mapping[str, str],
          held: Collection[str] = (), noid: Mapping[str, int] | None = None) -> Judgement:
    """Decide ``invariant`` on ``lines``.

    ``intended`` maps each request id the script wrote (as a JSON value, e.g.
    ``"c1-2"``) to the connection label it was written on; ``held`` lists ids
    of requests left blocked on a FIFO at the end (never expected to answer);
    ``noid`` counts, per connection, the requests written without an id
    (malformed JSON, non-objects, commands without id): each deserves one
    reply without id.
    """
    obs = observations(lines)
    if invariant == "no-cross-session-reply":
        return _cross_session(obs)
    if invariant in ("reply-order", "reply-order-all"):
        return _order(obs, inband_only=invariant == "reply-order")
    if invariant == "exactly-once-reply":
        return _exactly_once(lines, obs, intended, held, noid or {})
    if invariant == "negotiation-gating":
        return _gating(obs)
    raise KeyError(invariant)


def _replies(conn_obs: Sequence[Observation]) -> list[Observation]:
    return [o for o in conn_obs if o.kind == "reply"]


def _cross_session(obs: Mapping[str, Sequence[Observation]]) -> Judgement:
    owner: dict[str, tuple[str, int]] = {}
    for conn, seq in obs.items():
        for o in seq:
            if o.kind == "request" and o.id is not None:
                owner.setdefault(o.id, (conn, o.line))
    for conn, seq in obs.items():
        for o in _replies(seq):
            who = owner.get(o.id) if o.id is not None else None
            if who is not None and who[0] != conn:
                return Judgement(True, f"line {o.line}: {conn} received the reply with id {o.id}, the id of "
                                       f"the request {who[0]} wrote at line {who[1]}")
    return Judgement(False, "every reply with an id reached the connection that wrote the request")


def _order(obs: Mapping[str, Sequence[Observation]], inband_only: bool) -> Judgement:
    for conn, seq in obs.items():
        reqs = [o for o in seq if o.kind == "request" and o.id is not None and (o.in_band or not inband_only)]
        answered: dict[str, int] = {}
        for o in _replies(seq):
            if o.id is not None:
                answered.setdefault(o.id, o.line)
        done = [(r, answered[r.id]) for r in reqs if r.id in answered]
        for k, (a, la) in enumerate(done):
            for b, lb in done[k + 1:]:
                if lb < la:
                    return Judgement(True, f"{conn} wrote {a.id} (line {a.line}) before {b.id} (line {b.line}) "
                                           f"but received the reply to {b.id} (line {lb}) before the reply to "
                                           f"{a.id} (line {la})")
    what = "in-band requests" if inband_only else "requests"
    return Judgement(False, f"every connection received the replies to its {what} in issue order")


def _written_at(lines: Sequence[TranscriptLine], conn: str, rid: str) -> int:
    """The line where ``conn`` wrote the request with id ``rid`` (a whole object or inside raw bytes)."""
    text = json.dumps(rid)
    for ln in lines:
        if ln.dir == "->" and ln.conn == conn and (
                (isinstance(ln.msg, dict) and ln.msg.get("id") == rid) or (ln.raw is not None and text in ln.raw)):
            return ln.lineno
    return 0


def _exactly_once(lines: Sequence[TranscriptLine], obs: Mapping[str, Sequence[Observation]],
                  intended: Mapping[str, str], held: Collection[str], noid: Mapping[str, int]) -> Judgement:
    for conn, seq in obs.items():
        closed = any(o.kind in ("disconnect", "eof") for o in seq)
        parsed = {o.id: o for o in seq if o.kind == "request" and o.id is not None}
        counts: dict[str, list[int]] = {}
        for o in _replies(seq):
            if o.id is not None:
                counts.setdefault(o.id, []).append(o.line)
        for rid, at in counts.items():
            if len(at) > 1 and rid in parsed:
                return Judgement(True, f"{conn}'s request {rid} was answered {len(at)} times (lines "
                                       f"{', '.join(map(str, at))})")
        for raw, label in intended.items():
            rid = canonical_json(raw)
            if label != conn or rid in counts or raw in held:
                continue
            if rid not in parsed:
                # lost while the session was live: QEMU answered something written after it
                written = _written_at(lines, conn, raw)
                if not closed or any(o.line > written for o in _replies(seq)):
                    return Judgement(True, f"{conn} wrote the request {rid}, which QEMU never parsed as a "
                                           "request (its bytes were swallowed by the parser's error recovery, "
                                           "§3.2), and no reply carries its id")
            elif not closed:
                return Judgement(True, f"{conn}'s request {rid} (line {parsed[rid].line}) got no reply by the "
                                       "end of the run, although the connection stayed open")
        want = noid.get(conn, 0)
        parsed_noid = sum(1 for o in seq if o.kind == "request" and o.id is None)
        got = sum(1 for o in _replies(seq) if o.id is None)
        if not closed and want > max(parsed_noid, got):
            return Judgement(True, f"{conn} wrote {want} requests without id; QEMU parsed {parsed_noid} of them "
                                   f"(the others were swallowed by the parser's error recovery, §3.2) and sent "
                                   f"{got} replies without id")
    return Judgement(False, "every request of an open connection was answered exactly once")


def _gating(obs: Mapping[str, Sequence[Observation]]) -> Judgement:
    for conn, seq in obs.items():
        caps = {o.id for o in seq if o.kind == "request" and o.command == "qmp_capabilities" and o.id is not None}
        ready = False
        for o in seq:
            if o.kind == "reply" and o.ok and o.id in caps:
                ready = True
            elif o.kind == "event" and not ready:
                return Judgement(True, f"line {o.line}: {conn} received the event {o.event} before its "
                                       "qmp_capabilities succeeded")
    return Judgement(False, "no event reached a connection still negotiating")

"""Transcript mutants for tests of a conformance checker.

``swap_replies``, ``drop_reply``, ``duplicate_reply``, ``move_reply_after``,
``change_id`` and ``event_during_negotiation`` each return the mutated
transcript and the (1-based) line number that the mutation made wrong: a
checker must reject the mutant at or after that line.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from qmpmodel.conformance.observations import Observation, observations
from qmpmodel.conformance.transcript import TranscriptLine, canonical_json, renumber

__all__ = [
    "change_id",
    "drop_reply",
    "duplicate_reply",
    "event_during_negotiation",
    "move_reply_after",
    "swap_replies",
]


def _datas(lines: Sequence[TranscriptLine]) -> list[dict[str, Any]]:
    return [dict(line.data) for line in lines]


def _reply_obs(lines: Sequence[TranscriptLine], conn: str | None) -> list[tuple[Observation, bool]]:
    """Replies (with whether they answer an in-band request, matched by id)."""
    out: list[tuple[Observation, bool]] = []
    for c, obs in observations(lines).items():
        if conn is not None and c != conn:
            continue
        kinds = {o.id: o.in_band for o in obs if o.kind == "request" and o.id is not None}
        # A reply without id (parse error, non-object) answers an in-band request.
        out.extend((o, True if o.id is None else kinds.get(o.id, False))
                   for o in obs if o.kind == "reply")
    return out


def _pick(cands: list[Any], index: int, what: str) -> Any:
    if not cands:
        raise ValueError(f"no {what} in this transcript")
    return cands[index % len(cands)]


def _index_of(lines: Sequence[TranscriptLine], lineno: int) -> int:
    for i, line in enumerate(lines):
        if line.lineno == lineno:
            return i
    raise ValueError(f"no line {lineno}")  # pragma: no cover


def swap_replies(lines: Sequence[TranscriptLine], conn: str | None = None,
                 index: int = 0) -> tuple[list[TranscriptLine], int]:
    """Swap the messages of two consecutive in-band replies of one connection.

    Only pairs whose requests both have ids and whose messages differ are
    candidates; *index* picks one.  The earlier position now carries the later
    request's reply: that line is wrong (in-band replies come in issue order, §3.10).
    """
    per: dict[str, list[Observation]] = {}
    for o, inb in _reply_obs(lines, conn):
        if inb and o.id is not None:
            per.setdefault(o.conn, []).append(o)
    cands = [(a, b) for rs in per.values() for a, b in itertools.pairwise(rs)
             if a.message != b.message and a.id != b.id]
    a, b = _pick(cands, index, "two consecutive in-band replies with ids")
    datas = _datas(lines)
    i, j = _index_of(lines, a.line), _index_of(lines, b.line)
    datas[i]["msg"], datas[j]["msg"] = datas[j]["msg"], datas[i]["msg"]
    return renumber(datas), i + 1


def drop_reply(lines: Sequence[TranscriptLine], conn: str | None = None,
               index: int = 0) -> tuple[list[TranscriptLine], int]:
    """Delete an in-band reply that is followed by another in-band reply on its connection.

    The following reply's line is wrong: it answers a later request while an
    earlier in-band request is still unanswered (§3.10, §8 invariant 8).
    """
    per: dict[str, list[Observation]] = {}
    for o, inb in _reply_obs(lines, conn):
        if inb:
            per.setdefault(o.conn, []).append(o)
    cands = [(a, b) for rs in per.values() for a, b in itertools.pairwise(rs) if a.id is not None]
    a, b = _pick(cands, index, "in-band reply followed by another in-band reply")
    i, j = _index_of(lines, a.line), _index_of(lines, b.line)
    datas = _datas(lines)
    del datas[i]
    return renumber(datas), j  # b moved up by one: old index j -> new 1-based j


def duplicate_reply(lines: Sequence[TranscriptLine], conn: str | None = None,
                    index: int = 0) -> tuple[list[TranscriptLine], int]:
    """Insert a copy of a reply right after it; the copy's line is wrong (exactly-once, §8.8)."""
    cands = [o for o, _ in _reply_obs(lines, conn)]
    a = _pick(cands, index, "reply")
    i = _index_of(lines, a.line)
    datas = _datas(lines)
    datas.insert(i + 1, dict(datas[i]))
    return renumber(datas), i + 2


def _reply_line(lines: Sequence[TranscriptLine], conn: str | None, rid: Any) -> Observation:
    want = canonical_json(rid)
    for o, _ in _reply_obs(lines, conn):
        if o.id == want:
            return o
    raise ValueError(f"no reply with id {want}")


def move_reply_after(lines: Sequence[TranscriptLine], moved_id: Any, anchor_id: Any,
                     conn: str | None = None) -> tuple[list[TranscriptLine], int]:
    """Move the reply with id *moved_id* to just after the reply with id *anchor_id*.

    Ids are given as JSON values (``"oob-1"``).  The returned line is the
    anchor's reply (now before the moved one).  Note that such a mutant is
    only wrong if the checker knows the anchor could not have completed before
    the moved reply was sent — e.g. an OOB reply that overtook a command
    blocked until an external ``release`` (see ``docs/transcripts.md``).
    """
    mv = _reply_line(lines, conn, moved_id)
    an = _reply_line(lines, mv.conn, anchor_id)
    i, j = _index_of(lines, mv.line), _index_of(lines, an.line)
    if j < i:
        raise ValueError("the anchor reply already precedes the moved reply")
    datas = _datas(lines)
    moved = datas.pop(i)
    datas.insert(j, moved)  # j now points just after the anchor (which moved up)
    return renumber(datas), j  # anchor's new 1-based line = j


def change_id(lines: Sequence[TranscriptLine], conn: str | None = None, index: int = 0,
              new_id: Any = "mutant-id-0") -> tuple[list[TranscriptLine], int]:
    """Replace the ``id`` of a reply by *new_id* (no request used it); that line is wrong (§3.6)."""
    used = {o.id for obs in observations(lines).values() for o in obs if o.id is not None}
    while canonical_json(new_id) in used:
        new_id = f"{new_id}'"
    cands = [o for o, _ in _reply_obs(lines, conn) if o.id is not None]
    a = _pick(cands, index, "reply with an id")
    i = _index_of(lines, a.line)
    datas = _datas(lines)
    msg = dict(datas[i]["msg"])
    msg["id"] = new_id
    datas[i]["msg"] = msg
    return renumber(datas), i + 1


def event_during_negotiation(lines: Sequence[TranscriptLine], conn: str | None = None,
                             event: Mapping[str, Any] | None = None) -> tuple[list[TranscriptLine], int]:
    """Insert an event right after a connection's greeting, before ``qmp_capabilities``.

    Events are not delivered in negotiation mode (§3.1, §8 invariant 11): the
    inserted line is wrong.  *event* defaults to a copy of the first event in
    the transcript, else a ``STOP`` event.
    """
    greet = None
    first_event: dict[str, Any] | None = None
    for obs in observations(lines).values():
        for o in obs:
            if o.kind == "greeting" and greet is None and (conn is None or o.conn == conn):
                greet = o
            if o.kind == "event" and first_event is None:
                first_event = dict(lines[_index_of(lines, o.line)].msg)
    if greet is None:
        raise ValueError("no greeting in this transcript")
    msg = dict(event) if event is not None else (
        first_event or {"timestamp": {"seconds": 0, "microseconds": 0}, "event": "STOP"})
    i = _index_of(lines, greet.line)
    datas = _datas(lines)
    datas.insert(i + 1, {"t": datas[i]["t"], "dir": "<-", "conn": greet.conn, "msg": msg})
    return renumber(datas), i + 2

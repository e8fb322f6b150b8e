"""What a transcript shows on each connection, in wire order: :class:`Observation`.

:func:`observations` turns a transcript into per-connection lists of
observations: the requests QEMU's streamer cut from the bytes a client wrote
(:mod:`qmpmodel.conformance.jsonstream`), and the greetings, replies, events
and connection events it received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qmpmodel.conformance.jsonstream import JsonStreamer, StreamMessage
from qmpmodel.conformance.transcript import (
    ObservationKind,
    RequestKind,
    TranscriptLine,
    canonical_json,
    request_bytes,
)

__all__ = ["Observation", "observations"]


@dataclass(frozen=True)
class Observation:
    """One thing seen on one connection, in wire order.

    ``line`` is the transcript line; for a request it is the ``"->"`` line
    whose bytes completed the message (``first_line`` the one where it began).

    Requests: ``request_kind`` is ``execute`` (object with ``execute`` and
    without ``exec-oob``), ``exec-oob`` (object with ``exec-oob`` and without
    ``execute`` — QEMU's ``qmp_is_oob``, §3.3: answered at once, whatever its
    other members), ``parse-error``, ``non-object``, or ``other`` (any other
    object, e.g. ``{"id": 1}`` or both keys; in-band like ``execute``).
    ``command`` is the string value of ``execute``/``exec-oob``, if any.

    ``id`` is the canonical JSON text of the ``id`` member (``'"a"'``, ``'1'``,
    ``'null'``) or None when absent (§3.6).  ``arguments`` likewise.
    Replies: ``ok`` (``return``) or not (``error``), ``error_class``,
    ``error_desc``.  Events: ``event``.  Greetings: ``capabilities``.
    """

    kind: ObservationKind
    line: int
    conn: str
    monitor: str | None
    t: float
    first_line: int | None = None
    request_kind: RequestKind | None = None
    command: str | None = None
    id: str | None = None
    arguments: str | None = None
    ok: bool | None = None
    error_class: str | None = None
    error_desc: str | None = None
    event: str | None = None
    capabilities: tuple[str, ...] | None = None
    message: str | None = None

    @property
    def in_band(self) -> bool:
        """True for a request that QEMU queues (everything but ``exec-oob``, §3.3)."""
        return self.kind == "request" and self.request_kind != "exec-oob"


def _request_observation(conn: str, monitor: str | None, t: float, first: int, last: int,
                         m: StreamMessage) -> Observation:
    if m.error is not None:
        return Observation("request", last, conn, monitor, t, first, "parse-error", error_desc=m.error)
    v = m.value
    if not isinstance(v, dict):
        return Observation("request", last, conn, monitor, t, first, "non-object", message=canonical_json(v))
    kind: RequestKind
    if "exec-oob" in v and "execute" not in v:
        kind, cmd = "exec-oob", v["exec-oob"]
    elif "execute" in v and "exec-oob" not in v:
        kind, cmd = "execute", v["execute"]
    else:
        kind, cmd = "other", None
    return Observation(
        "request", last, conn, monitor, t, first, kind,
        command=cmd if isinstance(cmd, str) else None,
        id=canonical_json(v["id"]) if "id" in v else None,
        arguments=canonical_json(v["arguments"]) if "arguments" in v else None,
        message=canonical_json(v),
    )


def _received_observation(line: TranscriptLine, monitor: str | None) -> Observation:
    assert line.conn is not None
    msg = line.msg
    base = (line.lineno, line.conn, monitor, line.t, line.lineno)
    if not isinstance(msg, dict):
        return Observation("unrecognized", *base, message=line.raw)
    text = canonical_json(msg)
    mid = canonical_json(msg["id"]) if "id" in msg else None
    if "QMP" in msg:
        caps = msg["QMP"].get("capabilities") if isinstance(msg["QMP"], dict) else None
        return Observation("greeting", *base, message=text,
                           capabilities=tuple(str(c) for c in caps) if isinstance(caps, list) else None)
    if "return" in msg:
        return Observation("reply", *base, id=mid, ok=True, message=text)
    if "error" in msg:
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        cls, desc = err.get("class"), err.get("desc")
        return Observation("reply", *base, id=mid, ok=False,
                           error_class=cls if isinstance(cls, str) else None,
                           error_desc=desc if isinstance(desc, str) else None, message=text)
    if "event" in msg:
        ev = msg["event"]
        return Observation("event", *base, event=ev if isinstance(ev, str) else None, message=text)
    return Observation("unrecognized", *base, message=text)


def observations(lines: Sequence[TranscriptLine]) -> dict[str, tuple[Observation, ...]]:
    """Per connection (in order of first appearance), its observations in wire order.

    Requests are found by running :class:`JsonStreamer` over the bytes the
    client wrote on the connection (a new streamer per connection, as QEMU
    re-creates the parser on CHR_EVENT_CLOSED, §3.8) and placed at the line
    whose bytes completed them.  Bytes still pending when the connection ends
    produce nothing (QEMU discards them).  Comment lines are skipped.
    """
    monitors: dict[str, str | None] = {}
    streamers: dict[str, JsonStreamer] = {}
    result: dict[str, list[Observation]] = {}
    # first line of each byte offset range still buffered, per conn
    starts: dict[str, list[tuple[int, int]]] = {}
    for line in lines:
        if line.is_comment or line.conn is None:
            continue
        conn = line.conn
        obs = result.setdefault(conn, [])
        if line.event == "connect":
            monitors[conn] = line.monitor
            streamers[conn] = JsonStreamer()
            starts[conn] = []
        mon = monitors.get(conn)
        if line.dir == "--":
            obs.append(Observation(line.event, line.lineno, conn, mon, line.t))  # type: ignore[arg-type]
        elif line.dir == "<-":
            obs.append(_received_observation(line, mon))
        elif line.to is not None:
            # bytes for the HMP monitor or the mux escape: never seen by QMP's parser
            obs.append(Observation("mux-input", line.lineno, conn, mon, line.t, message=line.raw))
        else:
            st = streamers[conn]
            begin = st.offset
            starts[conn].append((begin, line.lineno))
            for m in st.feed(request_bytes(line)):
                first = max((ln for off, ln in starts[conn] if off <= m.start), default=line.lineno)
                obs.append(_request_observation(conn, mon, line.t, first, line.lineno, m))
    return {k: tuple(v) for k, v in result.items()}

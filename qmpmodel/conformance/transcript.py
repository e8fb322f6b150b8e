"""QMP transcripts: the recorded file, line by line, and the bytes each client wrote.

A transcript is a JSON Lines file recorded from a real QEMU (see
``docs/transcripts.md`` for the format). This module is independent of the
model: :func:`load_transcript` / :func:`parse_transcript` validate every line
and raise :class:`~qmpmodel.errors.InputError` naming file and line;
:func:`connection_bytes` gives what a client wrote on one connection.

The rest of the transcript toolkit: :mod:`~qmpmodel.conformance.jsonstream`
(QEMU's JSON streamer, splitting those bytes into messages),
:mod:`~qmpmodel.conformance.observations` (what each connection shows, in
wire order) and :mod:`~qmpmodel.conformance.mutants` (broken transcripts for
tests of a conformance checker).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from qmpmodel.errors import InputError, close_matches

__all__ = [
    "CONNECTION_EVENTS",
    "DIRECTIONS",
    "MUX_TARGETS",
    "ObservationKind",
    "RequestKind",
    "TranscriptLine",
    "canonical_json",
    "connection_bytes",
    "dump_transcript",
    "load_transcript",
    "make_line",
    "parse_transcript",
    "renumber",
    "request_bytes",
]

#: The three values of ``"dir"``.
DIRECTIONS: Final = ("->", "<-", "--")
#: The values of ``"event"`` on a ``"--"`` line.
CONNECTION_EVENTS: Final = ("connect", "disconnect", "eof")

_KEYS: Final = frozenset({"t", "dir", "conn", "msg", "raw", "event", "monitor", "note", "to"})
#: Values of ``"to"`` on a ``"->"`` line: on a mux chardev the bytes reach the HMP
#: monitor, or the mux itself (its escape, Ctrl-A c), not the QMP monitor.
MUX_TARGETS: Final = ("hmp", "mux")

ObservationKind = Literal[
    "connect", "disconnect", "eof", "request", "greeting", "reply", "event", "unrecognized", "mux-input"
]
RequestKind = Literal["execute", "exec-oob", "parse-error", "non-object", "other"]


def canonical_json(value: Any) -> str:
    """Serialise *value* canonically (sorted keys, no spaces) for comparisons."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --------------------------------------------------------------------------
# Transcript lines
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptLine:
    """One validated transcript line.

    ``data`` is the line's JSON object (read-only view); the other fields are
    typed copies of its members.  ``lineno`` is 1-based.
    """

    lineno: int
    t: float
    dir: str
    conn: str | None
    msg: Any = field(compare=False, hash=False)
    raw: str | None = None
    event: str | None = None
    monitor: str | None = None
    note: str | None = None
    to: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def is_comment(self) -> bool:
        """A ``"--"`` line without ``"event"``: ignored by every consumer."""
        return self.dir == "--" and self.event is None


def make_line(data: Mapping[str, Any], lineno: int, source: str = "<transcript>") -> TranscriptLine:
    """Validate one decoded line and return it as a :class:`TranscriptLine`.

    Raises :class:`InputError` (``source: line N: expected …``) for any
    malformed line.
    """
    where = f"line {lineno}"

    def bad(expected: str, found: str | None = None, hint: str | None = None) -> InputError:
        return InputError(source, where, expected, found, hint)

    if not isinstance(data, Mapping):
        raise bad("a JSON object", type(data).__name__)
    d = data.get("dir")
    if d not in DIRECTIONS:
        hint = close_matches(d, DIRECTIONS) if isinstance(d, str) else None
        raise bad('"dir" to be one of "->", "<-", "--"', _short(json.dumps(d)) if "dir" in data else "no \"dir\"", hint)
    is_comment = d == "--" and "event" not in data
    if not is_comment:
        for key in data:
            if key not in _KEYS:
                raise bad("only the keys " + ", ".join(sorted(_KEYS)), repr(key), close_matches(key, _KEYS))
    t = data.get("t")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
        raise bad('"t" to be a non-negative number of seconds', _short(json.dumps(t)) if "t" in data else 'no "t"')
    conn = data.get("conn")
    if conn is not None and (not isinstance(conn, str) or not conn):
        raise bad('"conn" to be a non-empty string', _short(json.dumps(conn)))
    if is_comment:
        note = data.get("note")
        if not isinstance(note, str):
            raise bad('a "note" string on a "--" line without "event" (a comment)',
                      _short(json.dumps(note)) if "note" in data else 'no "note" and no "event"')
        return TranscriptLine(lineno, float(t), d, conn, None, note=note, data=MappingProxyType(dict(data)))
    if conn is None:
        raise bad('a "conn" label', 'no "conn"')
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise bad('"note" to be a string', _short(json.dumps(note)))
    if d == "--":
        ev = data["event"]
        if ev not in CONNECTION_EVENTS:
            hint = close_matches(ev, CONNECTION_EVENTS) if isinstance(ev, str) else None
            raise bad('"event" to be "connect", "disconnect" or "eof"', _short(json.dumps(ev)), hint)
        mon = data.get("monitor")
        if ev == "connect":
            if not isinstance(mon, str) or not mon:
                raise bad('a "monitor" name on a connect line',
                          _short(json.dumps(mon)) if "monitor" in data else 'no "monitor"')
        elif mon is not None:
            raise bad(f'no "monitor" on a {ev} line', _short(json.dumps(mon)))
        for key in ("msg", "raw", "to"):
            if key in data:
                raise bad(f'no "{key}" on a "--" line', repr(key))
        return TranscriptLine(lineno, float(t), d, conn, None, event=ev, monitor=mon, note=note,
                              data=MappingProxyType(dict(data)))
    for key in ("event", "monitor"):
        if key in data:
            raise bad(f'no "{key}" on a "{d}" line', repr(key))
    to = data.get("to")
    if "to" in data:
        if d != "->":
            raise bad('no "to" on a "<-" line', repr("to"))
        if to not in MUX_TARGETS:
            raise bad('"to" to be "hmp" or "mux" (bytes for the HMP monitor or the mux escape)',
                      _short(json.dumps(to)), close_matches(to, MUX_TARGETS) if isinstance(to, str) else None)
        if data.get("msg") is not None:
            raise bad('"msg": null with "raw" on a line with "to" (HMP input is not JSON)',
                      _short(json.dumps(data.get("msg"))))
    if "msg" not in data:
        raise bad('a "msg" member (an object, or null with "raw")', 'no "msg"')
    msg = data["msg"]
    raw = data.get("raw")
    if msg is None:
        if not isinstance(raw, str):
            raise bad('a "raw" string when "msg" is null',
                      _short(json.dumps(raw)) if "raw" in data else 'no "raw"')
    else:
        if not isinstance(msg, dict):
            raise bad('"msg" to be a JSON object (write anything else as "msg": null with "raw")',
                      _short(json.dumps(msg)))
        if "raw" in data:
            raise bad('no "raw" when "msg" is an object', repr("raw"))
    return TranscriptLine(lineno, float(t), d, conn, msg, raw=raw, note=note, to=to,
                          data=MappingProxyType(dict(data)))


def parse_transcript(text: str, source: str = "<transcript>") -> tuple[TranscriptLine, ...]:
    """Parse and validate transcript *text* (JSON Lines).

    Besides per-line checks, every connection must start with a ``connect``
    line, its label must not be reused after it closed, nothing may follow its
    ``disconnect``, and nothing may be received after its ``eof``.  Blank lines
    are not allowed (they would shift line numbers silently).
    """
    lines: list[TranscriptLine] = []
    state: dict[str, str] = {}  # conn -> "open" | "eof" | "closed"
    raw_lines = text.split("\n")
    if raw_lines and raw_lines[-1] == "":
        raw_lines.pop()
    for n, line_text in enumerate(raw_lines, start=1):
        where = f"line {n}"
        if not line_text.strip():
            raise InputError(source, where, "one JSON object per line", "an empty line")
        try:
            data = json.loads(line_text)
        except json.JSONDecodeError as exc:
            raise InputError(source, f"line {n}, column {exc.colno}", "a JSON object",
                             f"invalid JSON: {exc.msg}") from None
        line = make_line(data, n, source)
        if line.conn is not None and not line.is_comment:
            st = state.get(line.conn)
            if line.event == "connect":
                if st is not None:
                    raise InputError(source, where, f"a new label for a new connection ({line.conn!r} was already used)",
                                     "a second connect")
                state[line.conn] = "open"
            elif st is None:
                raise InputError(source, where, f"a connect line for {line.conn!r} before its first use",
                                 f'"dir": "{line.dir}"' + (f', "event": "{line.event}"' if line.event else ""))
            elif st == "closed":
                raise InputError(source, where, f"nothing on connection {line.conn!r} after its disconnect",
                                 f'"dir": "{line.dir}"')
            elif line.event == "disconnect":
                state[line.conn] = "closed"
            elif line.event == "eof":
                if st == "eof":
                    raise InputError(source, where, "at most one eof per connection", "a second eof")
                state[line.conn] = "eof"
            elif line.dir == "<-" and st == "eof":
                raise InputError(source, where, f"nothing received on {line.conn!r} after the server closed it (eof)",
                                 '"dir": "<-"')
        lines.append(line)
    return tuple(lines)


def load_transcript(path: str | Path) -> tuple[TranscriptLine, ...]:
    """Read and validate the transcript file *path* (see :func:`parse_transcript`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise InputError(str(p), None, "a readable transcript file", exc.strerror or str(exc)) from None
    return parse_transcript(text, str(p))


def dump_transcript(lines: Iterable[TranscriptLine]) -> str:
    """Serialise *lines* back to JSON Lines text (one object per line, ``\\n``-terminated)."""
    return "".join(json.dumps(dict(line.data), ensure_ascii=False) + "\n" for line in lines)


def renumber(datas: Iterable[Mapping[str, Any]], source: str = "<mutant>") -> list[TranscriptLine]:
    """Build validated lines from decoded objects, numbering them from 1."""
    return [make_line(d, i, source) for i, d in enumerate(datas, start=1)]


# --------------------------------------------------------------------------
# Bytes written by the client
# --------------------------------------------------------------------------


def request_bytes(line: TranscriptLine) -> bytes:
    """The bytes a ``"->"`` line stands for.

    ``msg`` lines stand for ``json.dumps(msg) + "\\n"`` (what the recorder
    writes); ``raw`` lines for their text encoded as UTF-8, where the code
    points U+DC80..U+DCFF stand for the single bytes 0x80..0xFF that are not
    valid UTF-8 (Python's ``surrogateescape``).
    """
    if line.msg is not None:
        return (json.dumps(line.msg) + "\n").encode("utf-8")
    assert line.raw is not None
    return line.raw.encode("utf-8", errors="surrogateescape")


def connection_bytes(lines: Sequence[TranscriptLine], conn: str) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """Concatenate what the client wrote on *conn* for its QMP monitor.

    Returns the byte stream and, per ``"->"`` line, ``(lineno, end offset)``
    so that an offset can be mapped back to the line that wrote it.  Lines
    with ``"to"`` (HMP input, the mux escape) never reach QMP and are left out.
    """
    out = bytearray()
    spans: list[tuple[int, int]] = []
    for line in lines:
        if line.dir == "->" and line.conn == conn and line.to is None:
            out += request_bytes(line)
            spans.append((line.lineno, len(out)))
    return bytes(out), tuple(spans)

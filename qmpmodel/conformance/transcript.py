"""QMP transcripts: loading, QEMU's JSON streamer, observations, mutations.

A transcript is a JSON Lines file recorded from a real QEMU (see
``docs/transcripts.md`` for the format).  This module is independent of the
model; it provides what a conformance checker needs:

* :func:`load_transcript` / :func:`parse_transcript` validate every line and
  raise :class:`~qmpmodel.errors.InputError` naming file and line;
* :class:`JsonStreamer` / :func:`split_stream` split the bytes a client wrote on
  one connection into messages exactly as QEMU 7.2's JSON lexer, streamer and
  parser do (reference §3.2, ``qobject/json-lexer.c``, ``json-streamer.c``,
  ``json-parser.c``);
* :func:`observations` turns a transcript into per-connection lists of
  :class:`Observation` in wire order;
* ``swap_replies``, ``drop_reply``, ``duplicate_reply``, ``move_reply_after``,
  ``change_id``, ``event_during_negotiation`` build mutants for tests: each
  returns the mutated transcript and the (1-based) line number that the
  mutation made wrong.
"""

from __future__ import annotations

import itertools
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
    "JsonStreamer",
    "Observation",
    "ObservationKind",
    "RequestKind",
    "StreamMessage",
    "StreamSplit",
    "TranscriptLine",
    "canonical_json",
    "change_id",
    "connection_bytes",
    "drop_reply",
    "dump_transcript",
    "duplicate_reply",
    "event_during_negotiation",
    "load_transcript",
    "make_line",
    "move_reply_after",
    "observations",
    "parse_transcript",
    "renumber",
    "request_bytes",
    "split_stream",
    "swap_replies",
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


# --------------------------------------------------------------------------
# QEMU's JSON lexer / streamer / parser (reference §3.2)
# --------------------------------------------------------------------------

# Lexer states (names follow QEMU's; implementation is ours).
_RECOVERY, _DQ, _DQ_ESC, _SQ, _SQ_ESC, _ZERO, _EXP_DIGITS, _EXP_SIGN, _EXP_E = range(9)
_MANTISSA, _MANTISSA_DIGITS, _DIGITS, _SIGN, _KEYWORD, _START = range(9, 15)
# Token types.
_T_LCURLY, _T_RCURLY, _T_LSQUARE, _T_RSQUARE, _T_COLON, _T_COMMA = "{", "}", "[", "]", ":", ","
_T_INTEGER, _T_FLOAT, _T_KEYWORD, _T_STRING, _T_ERROR = "int", "float", "kw", "str", "error"

_STRUCTURAL: Final = {ord("{"): _T_LCURLY, ord("}"): _T_RCURLY, ord("["): _T_LSQUARE,
                      ord("]"): _T_RSQUARE, ord(":"): _T_COLON, ord(","): _T_COMMA}
_WS: Final = frozenset(b" \t\r\n")
_DIGIT: Final = frozenset(b"0123456789")
_LOWER: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz")

_MAX_TOKEN_SIZE: Final = 64 << 20
_MAX_TOKEN_COUNT: Final = 2 << 20
_MAX_NESTING: Final = 1 << 10

#: Result of one transition: ``(next state or token type, consumed?)``.
_Step = tuple[int | str, bool]


def _transition(state: int, b: int) -> _Step:
    """One step of QEMU's lexer table (json-lexer.c, 7.2).

    Returns the next state, or a token type when a token ends; ``consumed`` is
    False for the look-ahead transitions (the byte is fed again in IN_START).
    """
    if state == _START:
        if b in _STRUCTURAL:
            return _STRUCTURAL[b], True
        if b in _WS:
            return _START, True
        if b == 0x22:
            return _DQ, True
        if b == 0x27:
            return _SQ, True
        if b == 0x30:
            return _ZERO, True
        if b in _DIGIT:
            return _DIGITS, True
        if b == 0x2D:
            return _SIGN, True
        if b in _LOWER:
            return _KEYWORD, True
        return _T_ERROR, True
    if state == _RECOVERY:
        # §3.2: skip until a structural character, a control character other
        # than TAB, or an impossible UTF-8 byte; then lex it afresh.
        if (b < 0x20 and b != 0x09) or b >= 0xFE or b in _STRUCTURAL:
            return _START, False
        return _RECOVERY, True
    if state in (_DQ, _SQ):
        quote = 0x22 if state == _DQ else 0x27
        if not 0x20 <= b <= 0xFD:
            return _T_ERROR, True
        if b == quote:
            return _T_STRING, True
        if b == 0x5C:
            return (_DQ_ESC if state == _DQ else _SQ_ESC), True
        return state, True
    if state in (_DQ_ESC, _SQ_ESC):
        if not 0x20 <= b <= 0xFD:
            return _T_ERROR, True
        return (_DQ if state == _DQ_ESC else _SQ), True
    if state == _ZERO:
        if b in _DIGIT:
            return _T_ERROR, True
        if b == 0x2E:
            return _MANTISSA, True
        return _T_INTEGER, False
    if state == _EXP_DIGITS:
        return (_EXP_DIGITS, True) if b in _DIGIT else (_T_FLOAT, False)
    if state == _EXP_SIGN:
        return (_EXP_DIGITS, True) if b in _DIGIT else (_T_ERROR, True)
    if state == _EXP_E:
        if b in (0x2B, 0x2D):
            return _EXP_SIGN, True
        return (_EXP_DIGITS, True) if b in _DIGIT else (_T_ERROR, True)
    if state == _MANTISSA_DIGITS:
        if b in _DIGIT:
            return _MANTISSA_DIGITS, True
        if b in (0x45, 0x65):
            return _EXP_E, True
        return _T_FLOAT, False
    if state == _MANTISSA:
        return (_MANTISSA_DIGITS, True) if b in _DIGIT else (_T_ERROR, True)
    if state == _DIGITS:
        if b in _DIGIT:
            return _DIGITS, True
        if b in (0x45, 0x65):
            return _EXP_E, True
        if b == 0x2E:
            return _MANTISSA, True
        return _T_INTEGER, False
    if state == _SIGN:
        if b == 0x30:
            return _ZERO, True
        return (_DIGITS, True) if b in _DIGIT else (_T_ERROR, True)
    if state == _KEYWORD:
        return (_KEYWORD, True) if b in _LOWER else (_T_KEYWORD, False)
    raise AssertionError(f"bad lexer state {state}")  # pragma: no cover


@dataclass(frozen=True)
class StreamMessage:
    """One message QEMU's streamer hands to the monitor (reference §3.2).

    Exactly one of ``value`` (a parsed JSON value, when ``error`` is None) and
    ``error`` (QEMU's error text, e.g. ``"JSON parse error, expecting value"``)
    is meaningful.  ``start`` is the offset of the message's first token (or of
    the offending byte), ``end`` the offset just past the byte whose arrival
    made QEMU emit it — for a top-level number or keyword that is the byte
    *after* the token (QEMU's lexer needs one byte of look-ahead).
    """

    start: int
    end: int
    value: Any = field(compare=False, hash=False)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the bytes parsed as a JSON value."""
        return self.error is None


@dataclass(frozen=True)
class StreamSplit:
    """Result of :func:`split_stream`: the messages, and the bytes left over.

    ``pending_start`` is the offset from which bytes were still buffered
    (an unfinished token or an unbalanced object) when the stream ended; QEMU
    discards them when the connection closes.  ``None`` if nothing is pending.
    """

    messages: tuple[StreamMessage, ...]
    pending_start: int | None


class _ParseError(Exception):
    pass


class _Parser:
    """Token list -> value, with json-parser.c's error texts (first error wins)."""

    def __init__(self, tokens: list[tuple[str, bytes]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def fail(self, message: str) -> _ParseError:
        return _ParseError("JSON parse error, " + message)

    def peek(self) -> tuple[str, bytes] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pop(self) -> tuple[str, bytes] | None:
        tok = self.peek()
        if tok is not None:
            self.pos += 1
        return tok

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail("premature EOI")
        kind, text = tok
        if kind == _T_LCURLY:
            return self.obj()
        if kind == _T_LSQUARE:
            return self.array()
        self.pos += 1
        if kind == _T_KEYWORD:
            if text == b"true":
                return True
            if text == b"false":
                return False
            if text == b"null":
                return None
            raise self.fail(f"invalid keyword '{text.decode('ascii')}'")
        if kind == _T_STRING:
            return _decode_string(text, self.fail)
        if kind == _T_INTEGER:
            n = int(text)
            if -(1 << 63) <= n < (1 << 64):
                return n
            return float(text)
        if kind == _T_FLOAT:
            return float(text)
        raise self.fail("expecting value")

    def obj(self) -> dict[str, Any]:
        self.pop()
        out: dict[str, Any] = {}
        peek = self.peek()
        if peek is None:
            raise self.fail("premature EOI")
        if peek[0] == _T_RCURLY:
            self.pop()
            return out
        while True:
            self.pair(out)
            tok = self.pop()
            if tok is None:
                raise self.fail("premature EOI")
            if tok[0] == _T_RCURLY:
                return out
            if tok[0] != _T_COMMA:
                raise self.fail("expected separator in dict")

    def pair(self, out: dict[str, Any]) -> None:
        if self.peek() is None:
            raise self.fail("premature EOI")
        key = self.value()
        if not isinstance(key, str):
            raise self.fail("key is not a string in object")
        tok = self.pop()
        if tok is None:
            raise self.fail("premature EOI")
        if tok[0] != _T_COLON:
            raise self.fail("missing : in object pair")
        val = self.value()
        if key in out:
            raise self.fail("duplicate key")
        out[key] = val

    def array(self) -> list[Any]:
        self.pop()
        out: list[Any] = []
        peek = self.peek()
        if peek is None:
            raise self.fail("premature EOI")
        if peek[0] == _T_RSQUARE:
            self.pop()
            return out
        while True:
            out.append(self.value())
            tok = self.pop()
            if tok is None:
                raise self.fail("premature EOI")
            if tok[0] == _T_RSQUARE:
                return out
            if tok[0] != _T_COMMA:
                raise self.fail("expected separator in list")


def _valid_codepoint(cp: int) -> bool:
    # util/unicode.c: in range, not a noncharacter, not a surrogate.
    return (0 <= cp <= 0x10FFFF and not 0xFDD0 <= cp <= 0xFDEF
            and (cp & 0xFFFE) != 0xFFFE and not 0xD800 <= cp <= 0xDFFF)


def _hex4(text: bytes, i: int) -> int:
    digits = text[i:i + 4]
    if len(digits) < 4 or any(chr(c) not in "0123456789abcdefABCDEF" for c in digits):
        return -1
    return int(digits, 16)


def _decode_string(text: bytes, fail: Any) -> str:
    """Decode a string token (quotes included) the way json-parser.c does.

    Escapes ``\\" \\' \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX`` (with surrogate
    pairs); raw bytes must be valid *modified* UTF-8 (``C0 80`` = U+0000), no
    surrogates, no noncharacters.
    """
    quote = text[0]
    out: list[str] = []
    i = 1
    end = len(text) - 1
    simple = {ord('"'): '"', ord("'"): "'", ord("\\"): "\\", ord("/"): "/", ord("b"): "\b",
              ord("f"): "\f", ord("n"): "\n", ord("r"): "\r", ord("t"): "\t"}
    while i < end and text[i] != quote:
        c = text[i]
        if c == 0x5C:
            beg = i
            e = text[i + 1]
            i += 2
            if e in simple:
                out.append(simple[e])
                continue
            if e != ord("u"):
                raise fail("invalid escape sequence in string")
            cp = _hex4(text, i)
            i += 4
            if 0xD800 <= cp <= 0xDBFF and text[i:i + 2] == b"\\u":
                cp = 0x10000 + ((cp & 0x3FF) << 10)
                trailing = _hex4(text, i + 2)
                if 0xDC00 <= trailing <= 0xDFFF:
                    cp |= trailing & 0x3FF
                    i += 6
                else:
                    cp = -1
            if not _valid_codepoint(cp):
                shown = text[beg:i].decode("latin-1")
                raise fail(f"{shown} is not a valid Unicode character")
            out.append(chr(cp))
            continue
        # mod_utf8_codepoint
        if c < 0x80:
            out.append(chr(c))
            i += 1
            continue
        if c >= 0xFE or not c & 0x40:
            raise fail("invalid UTF-8 sequence in string")
        n = 0
        mask = 0x80
        while c & mask:
            n += 1
            mask >>= 1
        cp = c & (mask - 1)
        for k in range(1, n):
            nb = text[i + k] if i + k < len(text) else 0
            if nb & 0xC0 != 0x80:
                raise fail("invalid UTF-8 sequence in string")
            cp = (cp << 6) | (nb & 0x3F)
        min_cp = (0x80, 0x800, 0x10000, 0x200000, 0x4000000)[n - 2]
        if not _valid_codepoint(cp) or (cp < min_cp and not (cp == 0 and n == 2)):
            raise fail("invalid UTF-8 sequence in string")
        out.append(chr(cp))
        i += n
    return "".join(out)


class JsonStreamer:
    """Incremental model of QEMU's JSON message streamer for one connection.

    Feed bytes with :meth:`feed`; each call returns the messages completed by
    those bytes.  Behaviour (QEMU 7.2, reference §3.2):

    * tokens are grouped until braces and brackets balance (or either count
      goes negative); a top-level scalar is a message by itself;
    * single-quoted strings are accepted (QEMU's extension);
    * a syntax error is found only when the group is complete, so every token
      up to the balancing bracket is discarded with it (reference §7 T: a
      request inside the window is swallowed without a reply);
    * a lexical error (a byte that cannot continue or start a token, such as
      a control character other than TAB/CR/LF, ``0xFE``/``0xFF``, an upper-case
      letter outside a string) emits ``JSON parse error, stray '…'`` at once,
      drops the group, resets the counts, and makes the lexer skip bytes until a
      structural character, a control character other than TAB, or 0xFE/0xFF;
    * the nesting (1024), token count and token size limits emit an error and reset.
    """

    def __init__(self) -> None:
        self._state = _START
        self._token = bytearray()
        self._token_start = 0
        self._tokens: list[tuple[str, bytes]] = []
        self._group_start: int | None = None
        self._braces = 0
        self._brackets = 0
        self._size = 0
        self._offset = 0
        self._out: list[StreamMessage] = []

    @property
    def offset(self) -> int:
        """Number of bytes fed so far."""
        return self._offset

    @property
    def pending_start(self) -> int | None:
        """Offset where still-buffered input starts, or None when idle."""
        if self._group_start is not None:
            return self._group_start
        if self._state not in (_START, _RECOVERY):
            return self._token_start
        return None

    def feed(self, data: bytes) -> list[StreamMessage]:
        """Feed *data*; return the messages it completed, in order."""
        self._out = []
        for b in data:
            self._feed_byte(b)
            self._offset += 1
        out, self._out = self._out, []
        return out

    def _feed_byte(self, b: int) -> None:
        consumed = False
        while not consumed:
            if self._state == _START and not self._token:
                self._token_start = self._offset
            nxt, consumed = _transition(self._state, b)
            if consumed:
                self._token.append(b)
            if isinstance(nxt, str):
                if nxt == _T_ERROR:
                    self._token_error(bytes(self._token))
                    self._token.clear()
                    self._state = _RECOVERY
                else:
                    self._process(nxt, bytes(self._token))
                    self._token.clear()
                    self._state = _START
            elif nxt == _START:
                self._token.clear()
                self._state = _START
            elif nxt == _RECOVERY:
                self._token.clear()
                self._state = _RECOVERY
            else:
                self._state = nxt
        # (QEMU's 64 MiB single-token limit is not modelled.)

    def _emit(self, value: Any, error: str | None) -> None:
        start = self._group_start if self._group_start is not None else self._token_start
        self._out.append(StreamMessage(start, self._offset + 1, value, error))
        self._reset_group()

    def _reset_group(self) -> None:
        self._tokens = []
        self._group_start = None
        self._braces = self._brackets = 0
        self._size = 0

    def _token_error(self, text: bytes) -> None:
        # QEMU's reply shows bytes that are not UTF-8 as U+FFFD.
        shown = text.decode("utf-8", errors="replace")
        self._emit(None, f"JSON parse error, stray '{shown}'")

    def _process(self, kind: str, text: bytes) -> None:
        if self._group_start is None:
            self._group_start = self._token_start
        if kind == _T_LCURLY:
            self._braces += 1
        elif kind == _T_RCURLY:
            self._braces -= 1
        elif kind == _T_LSQUARE:
            self._brackets += 1
        elif kind == _T_RSQUARE:
            self._brackets -= 1
        if self._size + len(text) + 1 > _MAX_TOKEN_SIZE:
            self._emit(None, "JSON token size limit exceeded")
            return
        if len(self._tokens) + 1 > _MAX_TOKEN_COUNT:
            self._emit(None, "JSON token count limit exceeded")
            return
        if self._braces + self._brackets > _MAX_NESTING:
            self._emit(None, "JSON nesting depth limit exceeded")
            return
        self._tokens.append((kind, text))
        self._size += len(text)
        if (self._braces > 0 or self._brackets > 0) and self._braces >= 0 and self._brackets >= 0:
            return
        parser = _Parser(self._tokens)
        try:
            value = parser.value()
            if parser.pos != len(self._tokens):  # cannot happen for a complete group
                raise parser.fail("expecting value")
        except _ParseError as exc:
            self._emit(None, str(exc))
            return
        self._emit(value, None)


def split_stream(data: bytes) -> StreamSplit:
    """Split a connection's written bytes into QEMU messages (see :class:`JsonStreamer`)."""
    s = JsonStreamer()
    msgs = s.feed(data)
    return StreamSplit(tuple(msgs), s.pending_start)


# --------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Mutations (for tests of a conformance checker)
# --------------------------------------------------------------------------


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

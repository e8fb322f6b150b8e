"""QEMU's JSON message streamer for one connection (reference §3.2, ``qobject/json-streamer.c``).

:class:`JsonStreamer` / :func:`split_stream` split the bytes a client wrote on
one connection into messages exactly as QEMU 7.2's lexer, streamer and parser
do (:mod:`qmpmodel.conformance.jsonlex`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qmpmodel.conformance.jsonlex import (
    MAX_NESTING,
    MAX_TOKEN_COUNT,
    MAX_TOKEN_SIZE,
    RECOVERY,
    START,
    T_ERROR,
    T_LCURLY,
    T_LSQUARE,
    T_RCURLY,
    T_RSQUARE,
    ParseError,
    Parser,
    transition,
)

__all__ = ["JsonStreamer", "StreamMessage", "StreamSplit", "split_stream"]


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
        self._state = START
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
        if self._state not in (START, RECOVERY):
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
            if self._state == START and not self._token:
                self._token_start = self._offset
            nxt, consumed = transition(self._state, b)
            if consumed:
                self._token.append(b)
            if isinstance(nxt, str):
                if nxt == T_ERROR:
                    self._token_error(bytes(self._token))
                    self._token.clear()
                    self._state = RECOVERY
                else:
                    self._process(nxt, bytes(self._token))
                    self._token.clear()
                    self._state = START
            elif nxt == START:
                self._token.clear()
                self._state = START
            elif nxt == RECOVERY:
                self._token.clear()
                self._state = RECOVERY
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
        if kind == T_LCURLY:
            self._braces += 1
        elif kind == T_RCURLY:
            self._braces -= 1
        elif kind == T_LSQUARE:
            self._brackets += 1
        elif kind == T_RSQUARE:
            self._brackets -= 1
        if self._size + len(text) + 1 > MAX_TOKEN_SIZE:
            self._emit(None, "JSON token size limit exceeded")
            return
        if len(self._tokens) + 1 > MAX_TOKEN_COUNT:
            self._emit(None, "JSON token count limit exceeded")
            return
        if self._braces + self._brackets > MAX_NESTING:
            self._emit(None, "JSON nesting depth limit exceeded")
            return
        self._tokens.append((kind, text))
        self._size += len(text)
        if (self._braces > 0 or self._brackets > 0) and self._braces >= 0 and self._brackets >= 0:
            return
        parser = Parser(self._tokens)
        try:
            value = parser.value()
            if parser.pos != len(self._tokens):  # cannot happen for a complete group
                raise parser.fail("expecting value")
        except ParseError as exc:
            self._emit(None, str(exc))
            return
        self._emit(value, None)


def split_stream(data: bytes) -> StreamSplit:
    """Split a connection's written bytes into QEMU messages (see :class:`JsonStreamer`)."""
    s = JsonStreamer()
    msgs = s.feed(data)
    return StreamSplit(tuple(msgs), s.pending_start)

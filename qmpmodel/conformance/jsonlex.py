"""QEMU's JSON lexer and parser, as the monitor's input path runs them (reference §3.2).

The lexer is a byte-at-a-time state machine whose states and token types
follow ``qobject/json-lexer.c`` (names are QEMU's; the implementation is
ours); :class:`Parser` turns one complete token group into a value with
``json-parser.c``'s error texts. :mod:`qmpmodel.conformance.jsonstream`
drives both as QEMU's streamer does.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "MAX_NESTING",
    "MAX_TOKEN_COUNT",
    "MAX_TOKEN_SIZE",
    "RECOVERY",
    "START",
    "T_ERROR",
    "T_LCURLY",
    "T_LSQUARE",
    "T_RCURLY",
    "T_RSQUARE",
    "ParseError",
    "Parser",
    "transition",
]

# Lexer states (names follow QEMU's; implementation is ours).
RECOVERY, _DQ, _DQ_ESC, _SQ, _SQ_ESC, _ZERO, _EXP_DIGITS, _EXP_SIGN, _EXP_E = range(9)
_MANTISSA, _MANTISSA_DIGITS, _DIGITS, _SIGN, _KEYWORD, START = range(9, 15)
# Token types.
T_LCURLY, T_RCURLY, T_LSQUARE, T_RSQUARE, T_COLON, T_COMMA = "{", "}", "[", "]", ":", ","
T_INTEGER, T_FLOAT, T_KEYWORD, T_STRING, T_ERROR = "int", "float", "kw", "str", "error"

_STRUCTURAL: Final = {ord("{"): T_LCURLY, ord("}"): T_RCURLY, ord("["): T_LSQUARE,
                      ord("]"): T_RSQUARE, ord(":"): T_COLON, ord(","): T_COMMA}
_WS: Final = frozenset(b" \t\r\n")
_DIGIT: Final = frozenset(b"0123456789")
_LOWER: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz")

MAX_TOKEN_SIZE: Final = 64 << 20
MAX_TOKEN_COUNT: Final = 2 << 20
MAX_NESTING: Final = 1 << 10

#: Result of one transition: ``(next state or token type, consumed?)``.
_Step = tuple[int | str, bool]


def transition(state: int, b: int) -> _Step:
    """One step of QEMU's lexer table (json-lexer.c, 7.2).

    Returns the next state, or a token type when a token ends; ``consumed`` is
    False for the look-ahead transitions (the byte is fed again in IN_START).
    """
    if state == START:
        if b in _STRUCTURAL:
            return _STRUCTURAL[b], True
        if b in _WS:
            return START, True
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
        return T_ERROR, True
    if state == RECOVERY:
        # §3.2: skip until a structural character, a control character other
        # than TAB, or an impossible UTF-8 byte; then lex it afresh.
        if (b < 0x20 and b != 0x09) or b >= 0xFE or b in _STRUCTURAL:
            return START, False
        return RECOVERY, True
    if state in (_DQ, _SQ):
        quote = 0x22 if state == _DQ else 0x27
        if not 0x20 <= b <= 0xFD:
            return T_ERROR, True
        if b == quote:
            return T_STRING, True
        if b == 0x5C:
            return (_DQ_ESC if state == _DQ else _SQ_ESC), True
        return state, True
    if state in (_DQ_ESC, _SQ_ESC):
        if not 0x20 <= b <= 0xFD:
            return T_ERROR, True
        return (_DQ if state == _DQ_ESC else _SQ), True
    if state == _ZERO:
        if b in _DIGIT:
            return T_ERROR, True
        if b == 0x2E:
            return _MANTISSA, True
        return T_INTEGER, False
    if state == _EXP_DIGITS:
        return (_EXP_DIGITS, True) if b in _DIGIT else (T_FLOAT, False)
    if state == _EXP_SIGN:
        return (_EXP_DIGITS, True) if b in _DIGIT else (T_ERROR, True)
    if state == _EXP_E:
        if b in (0x2B, 0x2D):
            return _EXP_SIGN, True
        return (_EXP_DIGITS, True) if b in _DIGIT else (T_ERROR, True)
    if state == _MANTISSA_DIGITS:
        if b in _DIGIT:
            return _MANTISSA_DIGITS, True
        if b in (0x45, 0x65):
            return _EXP_E, True
        return T_FLOAT, False
    if state == _MANTISSA:
        return (_MANTISSA_DIGITS, True) if b in _DIGIT else (T_ERROR, True)
    if state == _DIGITS:
        if b in _DIGIT:
            return _DIGITS, True
        if b in (0x45, 0x65):
            return _EXP_E, True
        if b == 0x2E:
            return _MANTISSA, True
        return T_INTEGER, False
    if state == _SIGN:
        if b == 0x30:
            return _ZERO, True
        return (_DIGITS, True) if b in _DIGIT else (T_ERROR, True)
    if state == _KEYWORD:
        return (_KEYWORD, True) if b in _LOWER else (T_KEYWORD, False)
    raise AssertionError(f"bad lexer state {state}")  # pragma: no cover


class ParseError(Exception):
    pass


class Parser:
    """Token list -> value, with json-parser.c's error texts (first error wins)."""

    def __init__(self, tokens: list[tuple[str, bytes]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def fail(self, message: str) -> ParseError:
        return ParseError("JSON parse error, " + message)

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
        if kind == T_LCURLY:
            return self.obj()
        if kind == T_LSQUARE:
            return self.array()
        self.pos += 1
        if kind == T_KEYWORD:
            if text == b"true":
                return True
            if text == b"false":
                return False
            if text == b"null":
                return None
            raise self.fail(f"invalid keyword '{text.decode('ascii')}'")
        if kind == T_STRING:
            return _decode_string(text, self.fail)
        if kind == T_INTEGER:
            n = int(text)
            if -(1 << 63) <= n < (1 << 64):
                return n
            return float(text)
        if kind == T_FLOAT:
            return float(text)
        raise self.fail("expecting value")

    def obj(self) -> dict[str, Any]:
        self.pop()
        out: dict[str, Any] = {}
        peek = self.peek()
        if peek is None:
            raise self.fail("premature EOI")
        if peek[0] == T_RCURLY:
            self.pop()
            return out
        while True:
            self.pair(out)
            tok = self.pop()
            if tok is None:
                raise self.fail("premature EOI")
            if tok[0] == T_RCURLY:
                return out
            if tok[0] != T_COMMA:
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
        if tok[0] != T_COLON:
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
        if peek[0] == T_RSQUARE:
            self.pop()
            return out
        while True:
            out.append(self.value())
            tok = self.pop()
            if tok is None:
                raise self.fail("premature EOI")
            if tok[0] == T_RSQUARE:
                return out
            if tok[0] != T_COMMA:
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

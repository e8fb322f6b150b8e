"""``-k PATTERN``: select specs and properties the way ``pytest -k`` selects tests.

Every (spec, property) pair is an item with three names: the spec's path as
found (``specs/bugs/P-reply-to-next-session.toml``), the property's name
(``no-cross-session-reply``) and the two joined by ``::``
(``specs/bugs/P-reply-to-next-session.toml::no-cross-session-reply``).

PATTERN is a boolean expression::

    expr := or
    or   := and ("or" and)*
    and  := not ("and" not)*
    not  := "not" not | "(" expr ")" | WORD

A WORD (letters, digits and ``_ - . : / [ ] + \\``) matches an item when it is
a case-insensitive substring of one of the item's names, as in pytest. So
``-k P-reply`` selects every property of the P-reply spec, ``-k no-cross``
that property in every spec, ``-k "bugs/ and not fixed"`` every property of
the bug specs whose path does not say ``fixed``, and ``-k "tiny and
(reply-order or id-echo)"`` two properties of one spec (``reply-order``
also matches ``reply-order-all``: substrings).

A spec is checked when at least one of its properties is selected, and only
the selected properties are checked. A malformed PATTERN is bad input naming
the column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from qmpmodel.errors import InputError

__all__ = ["Selector", "item_names", "parse_selector"]

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([\w:+\-.\[\]\\/]+)|(\S))")
_KEYWORDS = ("and", "or", "not")

Selector = Callable[[Iterable[str]], bool]


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, 1-based column)
        for m in _TOKEN.finditer(pattern):
            if m.group(4) is not None:
                raise self._error(m.start(4) + 1, "a word, 'and', 'or', 'not' or a parenthesis", repr(m.group(4)))
            g = next(i for i in (1, 2, 3) if m.group(i) is not None)
            text = m.group(g)
            kind = text if g < 3 or text in _KEYWORDS else "word"
            self.tokens.append((kind, text, m.start(g) + 1))
        self.pos = 0

    def _error(self, column: int, expected: str, found: str) -> InputError:
        return InputError("<command line>", f"-k {self.pattern!r}, column {column}", expected, found)

    def _peek(self) -> tuple[str, str, int]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "end of pattern",
                                                                          len(self.pattern) + 1)

    def parse(self) -> Selector:
        if not self.tokens:
            raise self._error(1, "a word to select by", "an empty pattern")
        sel = self._or()
        kind, text, col = self._peek()
        if kind != "end":
            raise self._error(col, "'and', 'or' or the end of the pattern", repr(text))
        return sel

    def _or(self) -> Selector:
        parts = [self._and()]
        while self._peek()[0] == "or":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda names: any(p(names) for p in parts))

    def _and(self) -> Selector:
        parts = [self._not()]
        while self._peek()[0] == "and":
            self.pos += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda names: all(p(names) for p in parts))

    def _not(self) -> Selector:
        kind, text, col = self._peek()
        if kind == "not":
            self.pos += 1
            inner = self._not()
            return lambda names: not inner(names)
        if kind == "(":
            self.pos += 1
            inner = self._or()
            kind, text, col = self._peek()
            if kind != ")":
                raise self._error(col, "')'", repr(text) if kind != "end" else text)
            self.pos += 1
            return inner
        if kind == "word":
            self.pos += 1
            word = text.lower()
            return lambda names: any(word in n.lower() for n in names)
        raise self._error(col, "a word, 'not' or '('", repr(text) if kind != "end" else text)


def parse_selector(pattern: str) -> Selector:
    """Compile a ``-k`` PATTERN into a predicate over an item's names (:class:`InputError` if malformed)."""
    return _Parser(pattern).parse()


def item_names(spec: str, prop: str) -> tuple[str, str, str]:
    """The names a ``-k`` word is matched against."""
    return spec, prop, f"{spec}::{prop}"

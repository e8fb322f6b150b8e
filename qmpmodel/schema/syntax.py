"""QEMU's schema language: the tokenizer/parser of one file, includes and pragmas.

Same grammar, positions and complaints as QEMU's ``scripts/qapi/parser.py`` and
``scripts/qapi/expr.py`` (read, not copied); used by :mod:`qmpmodel.schema.qapi`.
The policy checks on a definition are in :mod:`qmpmodel.schema.lints`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from qmpmodel.errors import InputError, close_matches

__all__ = ["parse_tree", "quoted", "read_file", "show"]

_PRAGMAS = (
    "doc-required",
    "command-name-exceptions",
    "command-returns-exceptions",
    "member-name-exceptions",
)
_STRAY = re.compile(r"[^\[\]{}:,\s']+")


def quoted(names: Any) -> str:
    return ", ".join(f"'{n}'" for n in names)


def show(value: object) -> str:
    """A parsed value in schema terms, for an error's "got …"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value)


class _Parser:
    """Tokenizer and parser for one schema file (the walk over its expressions is
    :func:`parse_tree`). Same grammar, positions and complaints as QEMU's
    scripts/qapi/parser.py, written anew.

    The token is a character: ``{ } [ ] : ,``, ``'`` (string, value in ``val``),
    ``t``/``f`` (booleans), ``#`` (a ``##`` doc-comment line) or ``None`` at the end.
    """

    def __init__(self, text: str, fname: str) -> None:
        # As QEMU: the file's final newline (added if missing) is where the end of file is.
        self.src = text if text.endswith("\n") else text + "\n"
        self.fname = fname
        self.cursor = self.pos = self.line_pos = 0
        self.line = 1
        self.tok: str | None = None
        self.val: Any = None

    def error(self, expected: str, found: str | None = None, hint: str | None = None) -> InputError:
        col = 1
        for ch in self.src[self.line_pos : self.pos]:
            col = (col + 7) % 8 + 1 if ch == "\t" else col + 1
        return InputError(self.fname, f"line {self.line}, column {col}", expected, found, hint)

    def _found(self) -> str:
        if self.tok is None:
            return "end of file"
        if self.tok == "'":
            return f"string '{self.val}'"
        if self.tok == "#":
            return "a '##' comment"
        return {"t": "true", "f": "false"}.get(self.tok, f"'{self.tok}'")

    def accept(self, skip_comment: bool = True) -> None:
        while True:
            self.tok = self.src[self.cursor]
            self.pos, self.val = self.cursor, None
            self.cursor += 1
            if self.tok == "#":
                # A '##' line always comes back as a token: it opens or closes a doc block.
                keep = not skip_comment or self.src[self.cursor] == "#"
                self.cursor = self.src.find("\n", self.cursor)
                if keep:
                    self.val = self.src[self.pos : self.cursor]
                    return
            elif self.tok in "{}:,[]":
                return
            elif self.tok == "'":
                self.val = self._string()
                return
            elif self.src.startswith("true", self.pos):
                self.val, self.cursor = True, self.pos + 4
                return
            elif self.src.startswith("false", self.pos):
                self.val, self.cursor = False, self.pos + 5
                return
            elif self.tok == "\n":
                if self.cursor == len(self.src):
                    self.tok = None
                    return
                self.line, self.line_pos = self.line + 1, self.cursor
            elif not self.tok.isspace():
                stray = _STRAY.match(self.src, self.pos)
                word = stray.group(0) if stray else self.tok
                raise self.error(
                    "a QAPI token ({ } [ ] : , 'string' true false)", f"stray '{word}'"
                )

    def _string(self) -> str:
        # Only printable ASCII and the one escape '\\' (QEMU has no use for others).
        out: list[str] = []
        esc = False
        while True:
            ch = self.src[self.cursor]
            self.cursor += 1
            if ch == "\n":
                raise self.error(
                    'a closing "\'" on the same line', 'end of line: missing terminating "\'"'
                )
            if esc:
                if ch != "\\":
                    raise self.error(
                        "'\\\\', the only escape in QAPI strings", f"unknown escape \\{ch}"
                    )
                esc = False
            elif ch == "\\":
                esc = True
                continue
            elif ch == "'":
                return "".join(out)
            if not 32 <= ord(ch) < 127:
                raise self.error(
                    "printable ASCII in a string", f"funny character in string: {ch!r}"
                )
            out.append(ch)

    def members(self) -> dict[str, Any]:
        expr: dict[str, Any] = {}
        if self.tok == "}":
            self.accept()
            return expr
        if self.tok != "'":
            raise self.error("string or '}'", self._found())
        while True:
            key = self.val
            self.accept()
            if self.tok != ":":
                raise self.error("':'", self._found())
            self.accept()
            if key in expr:
                raise self.error("each key once in an object", f"duplicate key '{key}'")
            expr[key] = self.value()
            if self.tok == "}":
                self.accept()
                return expr
            if self.tok != ",":
                raise self.error("',' or '}'", self._found())
            self.accept()
            if self.tok != "'":
                raise self.error("string", self._found())

    def values(self) -> list[Any]:
        expr: list[Any] = []
        if self.tok == "]":
            self.accept()
            return expr
        if self.tok is None or self.tok not in "{['tf":
            raise self.error("'{', '[', ']', string, or boolean", self._found())
        while True:
            expr.append(self.value())
            if self.tok == "]":
                self.accept()
                return expr
            if self.tok != ",":
                raise self.error("',' or ']'", self._found())
            self.accept()

    def value(self) -> Any:
        if self.tok == "{":
            self.accept()
            return self.members()
        if self.tok == "[":
            self.accept()
            return self.values()
        if self.tok is not None and self.tok in "'tf":
            val = self.val
            self.accept()
            return val
        raise self.error("'{', '[', string, or boolean", self._found())

    def doc(self) -> str | None:
        """Read a ``##`` … ``##`` block; return the symbol it documents, if any."""
        if self.val != "##":
            raise self.error(
                "'##' alone on its line",
                f"junk after '##' at start of documentation comment: {self.val!r}",
            )
        symbol: str | None = None
        has_text = False
        self.accept(False)
        while self.tok == "#":
            text: str = self.val
            if text.startswith("##"):
                if text != "##":
                    raise self.error(
                        "'##' alone on its line",
                        f"junk after '##' at end of documentation comment: {text!r}",
                    )
                self.accept()
                return symbol
            if text.startswith("# ="):
                if symbol:
                    raise self.error(
                        "no heading inside a definition's documentation",
                        "unexpected '=' markup in definition documentation",
                    )
                has_text = False  # a heading starts a new free-form block
            body = text[1:]
            if body and body[0] != " ":
                raise self.error(
                    "'# ' at the start of a documentation line", "missing space after #"
                )
            body = body[1:]
            if symbol is None and not has_text and body.startswith("@"):
                if not body.endswith(":"):
                    raise self.error("'@NAME:'", f"{body!r}: line should end with ':'")
                symbol = body[1:-1]
                if not symbol:
                    raise self.error("'@NAME:'", "'@:': name required after '@'")
            has_text = True
            self.accept(False)
        raise self.error("'##'", f"{self._found()}: documentation comment must end with '##'")


def read_file(path: str, parent: tuple[str, int] | None) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        what = "include" if parent else "schema"
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8"
        src, where = (parent[0], f"line {parent[1]}") if parent else (path, None)
        raise InputError(
            src, where, f"a readable {what} file", f"can't read {what} file '{path}': {reason}"
        ) from None


def parse_tree(
    fname: str,
    text: str,
    chain: tuple[str, ...],
    seen: set[str],
    pragma: dict[str, Any],
    out: list[tuple[dict[str, Any], str, int, str | None]],
) -> None:
    """Parse ``fname``, expanding includes in place into ``out`` (QEMU's order)."""
    p = _Parser(text, fname)
    p.accept()
    doc: tuple[str | None, int] | None = None

    def reject_doc() -> None:
        if doc and doc[0]:
            raise InputError(
                fname,
                f"line {doc[1]}",
                "a definition after its documentation",
                f"documentation for '{doc[0]}' is not followed by the definition",
            )

    while p.tok is not None:
        line = p.line
        if p.tok == "#":
            reject_doc()
            doc = (p.doc(), line)
            continue
        expr = p.value()
        if not isinstance(expr, dict):
            raise InputError(
                fname,
                f"line {line}",
                "an object",
                show(expr),
                "top-level expression must be an object",
            )
        if "include" in expr or "pragma" in expr:
            reject_doc()
            doc = None
            key = "include" if "include" in expr else "pragma"
            if len(expr) != 1:
                raise InputError(
                    fname,
                    f"line {line}",
                    f"{{ '{key}': … }} alone",
                    f"invalid '{key}' directive with keys {quoted(expr)}",
                )
            if key == "pragma":
                _pragma(expr["pragma"], fname, line, pragma)
                continue
            include = expr["include"]
            if not isinstance(include, str):
                raise InputError(
                    fname,
                    f"line {line}",
                    "a file name",
                    show(include),
                    "value of 'include' must be a string",
                )
            incl = os.path.normpath(os.path.join(os.path.dirname(fname), include))
            if os.path.abspath(incl) in chain:
                raise InputError(
                    fname,
                    f"line {line}",
                    "an include that does not lead back",
                    f"inclusion loop for {include}",
                )
            if os.path.abspath(incl) not in seen:  # a file already read is skipped
                seen.add(os.path.abspath(incl))
                parse_tree(
                    incl,
                    read_file(incl, (fname, line)),
                    (*chain, os.path.abspath(incl)),
                    seen,
                    pragma,
                    out,
                )
            continue
        if doc and not doc[0]:
            raise InputError(
                fname,
                f"line {doc[1]}",
                "'# @NAME:' opening a definition's documentation",
                "free-form text: definition documentation required",
            )
        out.append((expr, fname, line, doc[0] if doc else None))
        doc = None
    reject_doc()


def _pragma(value: object, fname: str, line: int, pragma: dict[str, Any]) -> None:
    if not isinstance(value, dict):
        raise InputError(
            fname, f"line {line}", "an object", show(value), "value of 'pragma' must be an object"
        )
    for name, val in value.items():
        if name not in _PRAGMAS:
            raise InputError(
                fname,
                f"line {line}",
                f"one of the pragmas {quoted(_PRAGMAS)}",
                f"unknown pragma '{name}'",
                close_matches(name, _PRAGMAS),
            )
        if name == "doc-required" and not isinstance(val, bool):
            raise InputError(
                fname,
                f"line {line}",
                "true or false",
                show(val),
                "pragma 'doc-required' must be boolean",
            )
        if name != "doc-required" and (
            not isinstance(val, list) or not all(isinstance(v, str) for v in val)
        ):
            raise InputError(
                fname,
                f"line {line}",
                "a list of strings",
                show(val),
                f"pragma {name} must be a list of strings",
            )
        pragma[name] = val  # as QEMU: one pragma set for the whole schema, last one wins

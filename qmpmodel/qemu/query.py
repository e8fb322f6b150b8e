"""Goal expressions over a model's probes (``qmpmodel reach --goal``).

Syntax (precedence from loosest to tightest)::

    goal    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum [("==" | "!=" | "<" | "<=" | ">" | ">=") sum]
    sum     := unary (("+" | "-") unary)*
    unary   := "-" unary | atom
    atom    := INTEGER | "true" | "false" | NAME | "(" goal ")"

A NAME is a probe the model publishes (:meth:`qmpmodel.qemu.probes.QemuProbes.named_probes`),
never a state variable:

=============================  ==========================================================
``mon[i].suspended``           the monitor's reader is suspended
``mon[i].suspend_cnt``         its suspend count
``mon[i].queue_len``           the length of its in-band queue
``mon[i].queue[j]``            the request at position j of that queue (0: none)
``mon[i].connected``           a session is open on it
``mon[i].session``             which one: the client's index + 1
``mon[i].command_mode``        qmp_capabilities succeeded
``mon[i].oob``                 OOB was negotiated
``mon[i].executing``           an in-band request of this monitor is executing
``client[c].connected``        the client's session is open
``client[c].negotiated``       it is in command mode
``client[c].sent``             how many requests it has written
``client[c].answered[i]``      its request i was answered
``client[c].foreign_reply``    what it observed (also duplicate, order, order_all, id, lost, ...)
``dispatcher.executing``       an in-band request executes (``dispatcher.request``: its ref)
``coroutine.ctx``              where a coroutine handler runs (0: none runs)
``handler_bh.ctx``             where a scheduled do_qmp_dispatch_bh runs (0: none)
``main.draining``              the main loop is inside a block-layer drain
``block.in_flight``            bs->in_flight
``shutdown.requested``         monitor_cleanup started (``shutdown.done``: finished)
``pending``                    some work is unfinished (``unanswered``, ``wait_cycle``)
``iohandler_ctx``              an AioContext constant (also ``qemu_aio_context``)
=============================  ==========================================================

``qmpmodel reach SPEC --list`` prints every name of a spec's model. Boolean
probes are ``true``/``false``; comparing one with ``0`` or ``1`` is accepted.
The goal must be boolean. Every error is an :class:`~qmpmodel.errors.InputError`
from ``"<query>"`` naming the 1-based column, with close matches for a
misspelt name. Examples::

    mon[0].suspended and mon[0].queue_len == 0
    coroutine.ctx == iohandler_ctx and main.draining
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qmpmodel.core.expr import Expr, all_of, any_of, lit
from qmpmodel.errors import InputError, close_matches
from qmpmodel.qemu.probes import AioContext, Probes

__all__ = ["CONSTANTS", "parse_goal", "query_names"]

#: Named constants usable in a goal.
CONSTANTS: dict[str, int] = {
    "iohandler_ctx": int(AioContext.IOH),
    "qemu_aio_context": int(AioContext.AIO),
}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<int>\d+)
  | (?P<name>[A-Za-z_]\w*(?:\[\s*\d+\s*\])?(?:\.[A-Za-z_]\w*(?:\[\s*\d+\s*\])?)*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\(|\))
""", re.VERBOSE)

_KEYWORDS = {"and", "or", "not", "true", "false"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # "int" | "name" | "op" | "kw" | "end"
    text: str
    col: int  # 1-based


def _err(col: int, expected: str, found: str | None = None, hint: str | None = None) -> InputError:
    return InputError("<query>", f"column {col}", expected, found, hint)


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            hint = None
            if ch == "=":
                hint = "use == to compare"
            elif ch in "&|!~":
                hint = "use and, or, not"
            raise _err(pos + 1, "a name, a number, an operator or a parenthesis", repr(ch), hint)
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "name" and word in _KEYWORDS:
                kind = "kw"
            out.append(_Tok(kind, word, pos + 1))
        pos = m.end()
    out.append(_Tok("end", "", len(text) + 1))
    return out


def query_names(probes: Probes) -> list[str]:
    """Every name a goal over this model may use (probes and constants)."""
    return [*probes.named_probes(), *CONSTANTS]


class _Parser:
    def __init__(self, text: str, probes: Probes) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.probes = probes
        self.names = probes.named_probes()

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "kw") and self.tok.text in texts

    @staticmethod
    def found(t: _Tok) -> str:
        return "the end of the goal" if t.kind == "end" else repr(t.text)

    def need_bool(self, e: Expr, t: _Tok, what: str) -> Expr:
        if e.sort != "bool":
            raise _err(t.col, f"a boolean operand for {what!r}", "an integer expression",
                       "compare it, e.g. x != 0")
        return e

    def goal(self) -> Expr:
        first = self.tok
        e = self.or_()
        if self.tok.kind != "end":
            raise _err(self.tok.col, "an operator or the end of the goal", self.found(self.tok))
        if e.sort != "bool":
            raise _err(first.col, "a boolean goal", "an integer expression", "compare it, e.g. x > 0")
        return e

    def or_(self) -> Expr:
        t0 = self.tok
        parts = [self.and_()]
        while self.at("or"):
            self.take()
            t = self.tok
            parts.append(self.need_bool(self.and_(), t, "or"))
        if len(parts) > 1:
            self.need_bool(parts[0], t0, "or")
        return parts[0] if len(parts) == 1 else any_of(parts)

    def and_(self) -> Expr:
        t0 = self.tok
        parts = [self.not_()]
        while self.at("and"):
            self.take()
            t = self.tok
            parts.append(self.need_bool(self.not_(), t, "and"))
        if len(parts) > 1:
            self.need_bool(parts[0], t0, "and")
        return parts[0] if len(parts) == 1 else all_of(parts)

    def not_(self) -> Expr:
        if self.at("not"):
            self.take()
            t = self.tok
            return ~self.need_bool(self.not_(), t, "not")
        return self.compare()

    def compare(self) -> Expr:
        a = self.sum_()
        if not self.at("==", "!=", "<", "<=", ">", ">="):
            return a
        op = self.take()
        b = self.sum_()
        if self.at("==", "!=", "<", "<=", ">", ">="):
            raise _err(self.tok.col, "'and' between two comparisons", repr(self.tok.text))
        a, b = _coerce(a, b), _coerce(b, a)
        if a.sort != b.sort:
            raise _err(op.col, f"operands of one sort for {op.text!r}", f"{a.sort} {op.text} {b.sort}")
        if op.text not in ("==", "!=") and a.sort != "int":
            raise _err(op.col, f"integer operands for {op.text!r}", "booleans")
        return {"==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, "<=": lambda: a <= b,
                ">": lambda: a > b, ">=": lambda: a >= b}[op.text]()

    def sum_(self) -> Expr:
        t0 = self.tok
        e = self.unary()
        while self.at("+", "-"):
            op = self.take()
            t = self.tok
            b = self.unary()
            for x, tx in ((e, t0), (b, t)):
                if x.sort != "int":
                    raise _err(tx.col, f"an integer operand for {op.text!r}", "a boolean")
            e = e + b if op.text == "+" else e - b
        return e

    def unary(self) -> Expr:
        if self.at("-"):
            self.take()
            t = self.tok
            e = self.unary()
            if e.sort != "int":
                raise _err(t.col, "an integer operand for '-'", "a boolean")
            return lit(0) - e
        return self.atom()

    def atom(self) -> Expr:
        t = self.take()
        if t.kind == "int":
            return lit(int(t.text))
        if t.kind == "kw" and t.text in ("true", "false"):
            return lit(t.text == "true")
        if t.kind == "op" and t.text == "(":
            e = self.or_()
            if not self.at(")"):
                raise _err(self.tok.col, "')'", self.found(self.tok))
            self.take()
            return e
        if t.kind == "name":
            return self.name(t)
        raise _err(t.col, "a name, a number, 'true', 'false', 'not' or '('", self.found(t))

    def name(self, t: _Tok) -> Expr:
        key = re.sub(r"\[\s*(\d+)\s*\]", r"[\1]", t.text)
        if key in self.names:
            return self.names[key]()
        if key in CONSTANTS:
            return lit(CONSTANTS[key])
        choices = query_names(self.probes)
        raise _err(t.col, "a probe name or a constant (qmpmodel reach SPEC --list)", repr(t.text),
                   close_matches(key, choices))


def _coerce(x: Expr, other: Expr) -> Expr:
    """An integer literal 0/1 compared with a boolean becomes false/true."""
    if other.sort == "bool" and x.op == "const" and x.sort == "int" and x.args[0] in (0, 1):
        return lit(bool(x.args[0]))
    return x


def parse_goal(text: str, probes: Probes) -> Expr:
    """Parse ``text`` into a boolean :class:`Expr` over the model's probes."""
    if not text.strip():
        raise _err(1, "a goal expression", "an empty string")
    return _Parser(text, probes).goal()

"""QEMU's policy checks on one schema definition (``scripts/qapi/expr.py``, read, not copied).

:func:`expr_lints` returns the complaints QEMU would raise, in its order and
wording: names, missing and unknown keys, flags with a value other than
``true`` (``false`` for ``success-response`` and ``gen``), and ``allow-oob``
together with ``coroutine``.
"""

from __future__ import annotations

import re
from typing import Any

from qmpmodel.schema.syntax import quoted

__all__ = ["METAS", "expr_lints", "features"]

_FLAG_KEYS = ("boxed", "gen", "success-response", "allow-oob", "allow-preconfig", "coroutine")
METAS = ("enum", "struct", "union", "alternate", "command", "event")
# (required, optional) keys per definition kind, as scripts/qapi/expr.py checks them.
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "enum": (("enum", "data"), ("if", "features", "prefix")),
    "struct": (("struct",), ("data", "base", "if", "features")),
    "union": (("union", "base", "discriminator", "data"), ("if", "features")),
    "alternate": (("alternate", "data"), ("if", "features")),
    "command": (("command",), ("data", "returns", "if", "features", *_FLAG_KEYS)),
    "event": (("event",), ("data", "boxed", "if", "features")),
}
_FALSE_FLAGS = ("gen", "success-response")  # may only be written as false
_TRUE_FLAGS = ("boxed", "allow-oob", "allow-preconfig", "coroutine")  # may only be true
_VALID_NAME = re.compile(r"(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$", re.IGNORECASE)

def _name_lint(meta: str, name: str, exceptions: list[str]) -> str | None:
    """QEMU's naming rules: events UPPER_CASE, commands lower-case, types CamelCase."""
    match = _VALID_NAME.match(name)
    if not match or re.sub(r"[^A-Za-z0-9_]", "_", name).startswith("q_"):
        return f"{meta} has an invalid name"
    stem = match.group(3)
    if meta == "event" and re.search(r"[a-z-]", stem):
        return "name of event must not use lowercase or '-'"
    if meta == "command" and (
        re.search(r"[A-Z]", stem) or ("_" in stem and name not in exceptions)
    ):
        return "name of command must not use uppercase or '_'"
    if meta not in ("event", "command") and not re.match(
        r"[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$", stem
    ):
        return f"name of {meta} must use CamelCase"
    if meta not in ("event", "command") and name.endswith("List"):  # reserved for array types
        return f"{meta} name should not end in 'List'"
    return None


def expr_lints(
    expr: dict[str, Any], meta: str, name: str, doc: str | None, pragma: dict[str, Any]
) -> list[str]:
    """Lints of one definition, in the order QEMU checks them (it stops at the first)."""
    found = [m for m in (_name_lint(meta, name, pragma.get("command-name-exceptions", [])),) if m]
    if doc and doc != name:
        found.append(f"documentation comment is for '{doc}'")
    elif not doc and pragma.get("doc-required"):
        found.append("documentation comment required")
    required, optional = _KEYS[meta]
    if missing := sorted(set(required) - set(expr)):
        found.append(f"{meta} misses key{'s' * (len(missing) > 1)} {quoted(missing)}")
    if unknown := sorted(set(expr) - set(required) - set(optional)):
        found.append(
            f"{meta} has unknown key{'s' * (len(unknown) > 1)} {quoted(unknown)}; "
            f"valid keys are {quoted(sorted(required + optional))}"
        )
    allowed = set(optional)
    found += [
        f"flag '{k}' may only use false value"
        for k in _FALSE_FLAGS
        if k in allowed and k in expr and expr[k] is not False
    ]
    found += [
        f"flag '{k}' may only use true value"
        for k in _TRUE_FLAGS
        if k in allowed and k in expr and expr[k] is not True
    ]
    if "allow-oob" in expr and "coroutine" in expr and meta == "command":
        # QEMU forbids the pair until a use case defines its semantics (qapi-code-gen.rst).
        found.append("flags 'allow-oob' and 'coroutine' are incompatible")
    return [f"{meta} '{name}': {m}" for m in found]


def features(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else []
    names = [
        f if isinstance(f, str) else f.get("name") if isinstance(f, dict) else None for f in items
    ]
    return tuple(n for n in names if isinstance(n, str))

"""Specs: a design point, bounds and pinned expectations, read from TOML.

Every key is checked; a mistake becomes one :class:`~qmpmodel.errors.InputError`
line naming the file, the key and what was expected, with a close match for a
misspelt name. ``specs/README.md`` documents the format.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qmpmodel.core.results import Expected
from qmpmodel.errors import InputError, close_matches
from qmpmodel.invariants import INVARIANTS, Invariant, invariant
from qmpmodel.qemu.bounds import BOUNDS, Bounds
from qmpmodel.qemu.design import AXES, BASES, Design
from qmpmodel.qemu.designs.registry import axis as design_axis
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.proposal import load_proposal

__all__ = ["Spec", "expand_paths", "load_spec", "parse_spec", "read_toml"]

_TOP = ("title", "description", "reference", "extends", "design", "bounds", "expect", "check", "commands", "notes",
        "conform")
#: Tables a spec inherits from the spec it ``extends`` (key by key; its own keys win).
_INHERITED = ("bounds", "expect", "check", "commands")
_CHECK = ("max_states", "depth")
_EXPECT_VALUES = ("holds", "violated", "skip")


@dataclass(frozen=True)
class Spec:
    path: str
    title: str
    description: str
    reference: str
    design: Design
    bounds: Bounds
    expectations: tuple[tuple[Invariant, Expected], ...]
    max_states: int | None = None
    depth: int | None = None
    #: Properties a proposal file adds to the library (pinned in ``expectations`` too).
    properties: tuple[Invariant, ...] = ()


def _type_name(v: object) -> str:
    return {bool: "a boolean", int: "an integer", str: "a string", list: "an array",
            dict: "a table", float: "a float"}.get(type(v), type(v).__name__)


def _unknown(src: str, where: str, key: str, valid: Iterable[str]) -> InputError:
    valid = list(valid)
    return InputError(src, where, "one of " + ", ".join(valid), repr(key), close_matches(key, valid))


def parse_spec(data: Mapping[str, Any], src: str) -> Spec:
    for k in data:
        if k not in _TOP:
            raise _unknown(src, k, k, _TOP)
    title = data.get("title", Path(src).stem)
    if not isinstance(title, str):
        raise InputError(src, "title", "a string", _type_name(title))
    design_tbl = data.get("design", {})
    if not isinstance(design_tbl, dict):
        raise InputError(src, "design", "a table", _type_name(design_tbl))
    values: dict[str, object] = {}
    base = "qemu-current"
    proposal: str | None = None
    extra: tuple[Invariant, ...] = ()
    for key, val in design_tbl.items():
        if key == "base":
            if not isinstance(val, str) or val not in BASES:
                raise InputError(src, "design.base", "one of " + ", ".join(BASES), repr(val),
                                 close_matches(str(val), BASES))
            base = val
            continue
        if key == "proposal":
            if not isinstance(val, str):
                raise InputError(src, "design.proposal", "a path to a Python file (a string)", _type_name(val))
            path = Path(val) if Path(val).is_absolute() else Path(src).parent / val
            if not path.is_file():
                raise InputError(src, "design.proposal", "an existing proposal file", str(path))
            proposal = str(path)
            extra = load_proposal(path).properties
            continue
        axis = design_axis(key)
        if axis is None:
            raise _unknown(src, f"design.{key}", key, ["base", "proposal", *(a.name for a in AXES)])
        if type(val) is not type(axis.default) or val not in axis.values:
            raise InputError(src, f"design.{key}", "one of " + ", ".join(_toml(v) for v in axis.values),
                             _toml(val), close_matches(_plain(val), [_plain(v) for v in axis.values]))
        values[key] = val
    design = Design(values, base, proposal)
    bounds = _parse_bounds(data.get("bounds", {}), src)
    if "commands" in data:
        bounds = _commands_from_schema(data["commands"], bounds, src)
    expect_tbl = data.get("expect", {})
    if not isinstance(expect_tbl, dict):
        raise InputError(src, "expect", "a table", _type_name(expect_tbl))
    pinned: dict[str, Expected] = {inv.name: inv.default for inv in (*INVARIANTS, *extra)}
    for name, val in expect_tbl.items():
        invariant(name, src, f"expect.{name}", extra)
        if val not in _EXPECT_VALUES:
            raise InputError(src, f"expect.{name}", "'holds', 'violated' or 'skip'", repr(val),
                             close_matches(str(val), _EXPECT_VALUES))
        pinned[name] = val
    check = data.get("check", {})
    if not isinstance(check, dict):
        raise InputError(src, "check", "a table", _type_name(check))
    for k, v in check.items():
        if k not in _CHECK:
            raise _unknown(src, f"check.{k}", k, _CHECK)
        if type(v) is not int or v <= 0:
            raise InputError(src, f"check.{k}", "a positive integer", repr(v))
    return Spec(src, title, str(data.get("description", "")), str(data.get("reference", "")), design, bounds,
                tuple((invariant(n, extra=extra), e) for n, e in pinned.items()), check.get("max_states"),
                check.get("depth"), extra)


def _plain(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _toml(v: object) -> str:
    """A value as TOML spells it (``true``, not ``True``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return f'"{v}"' if isinstance(v, str) else str(v)


def _parse_bounds(tbl: object, src: str) -> Bounds:
    if not isinstance(tbl, dict):
        raise InputError(src, "bounds", "a table", _type_name(tbl))
    defaults = Bounds()
    kw: dict[str, object] = {}
    for key, val in tbl.items():
        if key not in BOUNDS:
            raise _unknown(src, f"bounds.{key}", key, BOUNDS)
        want = getattr(defaults, key)
        where = f"bounds.{key}"
        if isinstance(want, tuple):
            if not isinstance(val, list):
                raise InputError(src, where, "an array", _type_name(val))
            elem = {"mix": str, "hmp_mix": str, "client_monitors": int, "iothread_monitors": bool,
                    "mux_monitors": bool}[key]
            for n, x in enumerate(val):
                if type(x) is not elem:
                    raise InputError(src, f"{where}[{n}]", _type_name(elem()), _type_name(x))
            if key in ("mix", "hmp_mix"):
                hmp = key == "hmp_mix"
                valid = [k for k, v in KINDS.items() if (v.form == "hmp") == hmp]
                for n, x in enumerate(val):
                    if x not in valid:
                        raise InputError(src, f"{where}[{n}]", "a request kind: " + ", ".join(valid), repr(x),
                                         close_matches(x, valid))
            kw[key] = tuple(val)
        else:
            if type(val) is not type(want):
                raise InputError(src, where, _type_name(want), f"{_type_name(val)} {val!r}")
            kw[key] = val
    return Bounds(**kw)  # type: ignore[arg-type]


def _commands_from_schema(tbl: object, bounds: Bounds, src: str) -> Bounds:
    """``[commands] qapi = "…/qapi-schema.json", select = [...]``: the mix from a QAPI schema."""
    from qmpmodel.schema.qapi import load_schema, model_kind, select_commands

    if not isinstance(tbl, dict):
        raise InputError(src, "commands", "a table", _type_name(tbl))
    for k in tbl:
        if k not in ("qapi", "select"):
            raise _unknown(src, f"commands.{k}", k, ("qapi", "select"))
    path = tbl.get("qapi")
    if not isinstance(path, str):
        raise InputError(src, "commands.qapi", "a path to a QAPI schema (a string)", _type_name(path))
    sel = tbl.get("select")
    if sel is not None and (not isinstance(sel, list) or not all(isinstance(x, str) for x in sel)):
        raise InputError(src, "commands.select", "an array of command names", _type_name(sel))
    full = (Path(src).parent / path) if not Path(path).is_absolute() else Path(path)
    schema = load_schema(full)
    if schema.lints:
        lint = schema.lints[0]
        raise InputError(str(lint.file), f"line {lint.line}", "a schema without lint errors", lint.message)
    mix = list(bounds.mix) if "mix" in tbl else []
    for cmd in select_commands(schema, sel, source=src, where="commands.select"):
        kind = model_kind(cmd)
        if kind not in mix:
            mix.append(kind)
    return Bounds(**{**bounds.__dict__, "mix": tuple(mix) or bounds.mix})


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; an unreadable or malformed one is an :class:`InputError` with its line."""
    src = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise InputError(src, None, "a readable spec file", e.strerror) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(src, None, "UTF-8 text", "undecodable bytes") from None
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        where = None
        if "(at line" in msg:
            msg, _, pos = msg.partition(" (at ")
            where = pos.rstrip(")")
        raise InputError(src, where, "valid TOML", msg) from None


def load_spec(path: str | Path) -> Spec:
    """Read and validate one spec file (with the tables it inherits through ``extends``)."""
    return parse_spec(_with_parents(read_toml(path), str(path), ()), str(path))


def _with_parents(data: dict[str, Any], src: str, seen: tuple[str, ...]) -> dict[str, Any]:
    """``extends = "other.toml"``: inherit bounds, expectations, check and commands, key by key."""
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise InputError(src, "extends", "a path to a spec (a string)", _type_name(parent))
    ppath = Path(parent) if Path(parent).is_absolute() else Path(src).parent / parent
    key = str(ppath.resolve())
    if key in seen:
        raise InputError(src, "extends", "a chain of specs without a cycle", f"{parent} extends itself")
    base = _with_parents(read_toml(ppath), str(ppath), (*seen, key))
    out = dict(data)
    for tbl in _INHERITED:
        inherited = base.get(tbl)
        if isinstance(inherited, dict):
            mine = data.get(tbl, {})
            out[tbl] = {**inherited, **mine} if isinstance(mine, dict) else mine
    if "commands" in base and isinstance(base["commands"], dict) and "qapi" in base["commands"] and "commands" not in data:
        out["commands"] = {**base["commands"], "qapi": str(ppath.parent / base["commands"]["qapi"])}
    return out


def expand_paths(paths: Iterable[str]) -> list[Path]:
    """Spec files named, and ``*.toml`` files under named directories, sorted."""
    out: list[Path] = []
    for p in paths:
        pp = Path(p)
        if pp.is_dir():
            out.extend(sorted(pp.rglob("*.toml")))
        elif pp.exists():
            out.append(pp)
        else:
            raise InputError(p, None, "a spec file or a directory of specs", "no such file")
    return out

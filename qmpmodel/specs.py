"""Specs: a design point, bounds and pinned expectations, read from TOML.

Every key is checked; a mistake becomes one :class:`~qmpmodel.errors.InputError`
line naming the file, the key and what was expected, with a close match for a
misspelt name. ``specs/README.md`` documents the format.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qmpmodel.core.results import Expected
from qmpmodel.errors import InputError, close_matches, raise_all
from qmpmodel.invariants import INVARIANTS, Invariant, invariant
from qmpmodel.qemu.bounds import BOUNDS, Bounds
from qmpmodel.qemu.design import AXES, BASES, Design
from qmpmodel.qemu.designs.registry import axis as design_axis
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.qemu.proposal import load_proposal

__all__ = ["SPEC_TABLES", "Spec", "expand_paths", "is_spec", "load_spec", "parse_spec", "read_toml", "toml_value"]

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


def toml_value(v: object) -> str:
    """``v`` as it is written in a TOML file: ``true``, ``"drop"``, ``3``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v)


def _value_hint(val: object, values: Iterable[object]) -> str | None:
    """``did you mean true?``: a close valid value, written in TOML syntax (never Python's ``True``)."""
    by_text = {str(v).lower(): v for v in values}
    found = difflib.get_close_matches(str(val).lower(), list(by_text), n=2, cutoff=0.6)
    if not found:
        return None
    hint = "did you mean " + " or ".join(toml_value(by_text[f]) for f in found) + "?"
    if isinstance(val, str) and all(isinstance(by_text[f], bool) for f in found):
        hint = hint[:-1] + " (a boolean: no quotes)?"
    return hint


def _unknown(src: str, where: str, key: str, valid: Iterable[str]) -> InputError:
    valid = list(valid)
    return InputError(src, where, "one of " + ", ".join(valid), repr(key), close_matches(key, valid))


class _Errors:
    """Every mistake of one spec file, collected so that all are reported at once.

    A section parser records a mistake with :meth:`add` and goes on with the
    next key (leaving the bad key at its default); a helper that raises
    :class:`InputError` is called inside :meth:`collect`. :meth:`raise_all`
    raises nothing, the one error, or an :class:`~qmpmodel.errors.InputErrors`.
    """

    def __init__(self) -> None:
        self.items: list[InputError] = []

    def add(self, e: InputError) -> None:
        self.items.append(e)

    @contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except InputError as e:
            self.items.append(e)

    def raise_all(self) -> None:
        raise_all(self.items)


def _table(data: Mapping[str, Any], key: str, src: str, errs: _Errors) -> dict[str, Any]:
    """``data[key]`` if it is a table (missing: empty); otherwise record the mistake."""
    tbl = data.get(key, {})
    if isinstance(tbl, dict):
        return tbl
    errs.add(InputError(src, key, "a table", _type_name(tbl)))
    return {}


def parse_spec(data: Mapping[str, Any], src: str) -> Spec:
    """Validate a spec's TOML data; every mistake is reported at once (:class:`InputErrors`)."""
    errs = _Errors()
    for k in data:
        if k not in _TOP:
            errs.add(_unknown(src, k, k, _TOP))
    title = data.get("title", Path(src).stem)
    if not isinstance(title, str):
        errs.add(InputError(src, "title", "a string", _type_name(title)))
    values: dict[str, object] = {}
    base = "qemu-current"
    proposal: str | None = None
    extra: tuple[Invariant, ...] = ()
    for key, val in _table(data, "design", src, errs).items():
        if key == "base":
            if not isinstance(val, str) or val not in BASES:
                errs.add(InputError(src, "design.base", "one of " + ", ".join(BASES), repr(val),
                                    close_matches(str(val), BASES)))
            else:
                base = val
            continue
        if key == "proposal":
            if not isinstance(val, str):
                errs.add(InputError(src, "design.proposal", "a path to a Python file (a string)", _type_name(val)))
                continue
            path = Path(val) if Path(val).is_absolute() else Path(src).parent / val
            if not path.is_file():
                errs.add(InputError(src, "design.proposal", "an existing proposal file", str(path)))
                continue
            with errs.collect():
                extra = load_proposal(path).properties
                proposal = str(path)
            continue
        axis = design_axis(key)
        if axis is None:
            errs.add(_unknown(src, f"design.{key}", key, ["base", "proposal", *(a.name for a in AXES)]))
        elif type(val) is not type(axis.default) or val not in axis.values:
            errs.add(InputError(src, f"design.{key}", "one of " + ", ".join(toml_value(v) for v in axis.values),
                                toml_value(val), _value_hint(val, axis.values)))
        else:
            values[key] = val
    design = Design(values, base, proposal)
    bounds = _parse_bounds(_table(data, "bounds", src, errs), src, errs)
    if "commands" in data:
        with errs.collect():
            bounds = _commands_from_schema(data["commands"], bounds, src)
    pinned: dict[str, Expected] = {inv.name: inv.default for inv in (*INVARIANTS, *extra)}
    for name, val in _table(data, "expect", src, errs).items():
        try:
            invariant(name, src, f"expect.{name}", extra)
        except InputError as e:
            errs.add(e)
            continue
        if val not in _EXPECT_VALUES:
            errs.add(InputError(src, f"expect.{name}", "'holds', 'violated' or 'skip'", repr(val),
                                close_matches(str(val), _EXPECT_VALUES)))
            continue
        pinned[name] = val
    check = _table(data, "check", src, errs)
    for k, v in check.items():
        if k not in _CHECK:
            errs.add(_unknown(src, f"check.{k}", k, _CHECK))
        elif type(v) is not int or v <= 0:
            errs.add(InputError(src, f"check.{k}", "a positive integer", repr(v)))
    errs.raise_all()
    assert isinstance(title, str)
    return Spec(src, title, str(data.get("description", "")), str(data.get("reference", "")), design, bounds,
                tuple((invariant(n, extra=extra), e) for n, e in pinned.items()), check.get("max_states"),
                check.get("depth"), extra)


def _parse_bounds(tbl: Mapping[str, Any], src: str, errs: _Errors) -> Bounds:
    defaults = Bounds()
    kw: dict[str, object] = {}
    for key, val in tbl.items():
        if key not in BOUNDS:
            errs.add(_unknown(src, f"bounds.{key}", key, BOUNDS))
            continue
        want = getattr(defaults, key)
        where = f"bounds.{key}"
        if isinstance(want, tuple):
            if not isinstance(val, list):
                errs.add(InputError(src, where, "an array", _type_name(val)))
                continue
            elem = {"mix": str, "hmp_mix": str, "client_monitors": int, "iothread_monitors": bool,
                    "mux_monitors": bool}[key]
            bad = [InputError(src, f"{where}[{n}]", _type_name(elem()), _type_name(x))
                   for n, x in enumerate(val) if type(x) is not elem]
            if not bad and key in ("mix", "hmp_mix"):
                hmp = key == "hmp_mix"
                valid = [k for k, v in KINDS.items() if (v.form == "hmp") == hmp]
                bad = [InputError(src, f"{where}[{n}]", "a request kind: " + ", ".join(valid), repr(x),
                                  close_matches(x, valid)) for n, x in enumerate(val) if x not in valid]
            if bad:
                errs.items.extend(bad)
                continue
            kw[key] = tuple(val)
        elif type(val) is not type(want):
            errs.add(InputError(src, where, _type_name(want), f"{_type_name(val)} {toml_value(val)}"))
        else:
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


#: A TOML file is a spec when it has one of these tables (``pyproject.toml`` has none).
SPEC_TABLES = ("design", "bounds", "expect", "commands")


def is_spec(data: Mapping[str, Any]) -> bool:
    """Whether parsed TOML ``data`` is meant as a spec (it has a table of :data:`SPEC_TABLES`)."""
    return "extends" in data or any(isinstance(data.get(t), dict) for t in SPEC_TABLES)


def _not_a_spec(data: Mapping[str, Any], src: str) -> InputError:
    tables = [k for k, v in data.items() if isinstance(v, dict)]
    # a stricter cutoff than close_matches': [project] is no misspelt [expect]
    hints = [f"did you mean '{m[0]}'?" for t in tables if (m := difflib.get_close_matches(t, SPEC_TABLES, 1, 0.8))]
    return InputError(src, None, "a spec: a TOML file with a " + ", ".join(f"[{t}]" for t in SPEC_TABLES[:-1])
                      + f" or [{SPEC_TABLES[-1]}] table",
                      "tables " + ", ".join(f"[{t}]" for t in tables) if tables else "no table",
                      hints[0] if hints else None)


def load_spec(path: str | Path) -> Spec:
    """Read and validate one spec file (every mistake at once: :class:`~qmpmodel.errors.InputErrors`),
    with the tables it inherits through ``extends``."""
    data = read_toml(path)
    if not is_spec(data):
        raise _not_a_spec(data, str(path))
    return parse_spec(_with_parents(data, str(path), ()), str(path))


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
    """Spec files named, and the specs among ``*.toml`` files under named directories, sorted.

    Under a directory a ``*.toml`` file is a spec only if it has a spec table
    (:func:`is_spec`): ``check .`` skips ``pyproject.toml``. A file under a
    directory that is not valid TOML is still returned (it may be a broken
    spec; :func:`load_spec` then reports it). A named file is always returned.
    """
    out: list[Path] = []
    for p in paths:
        pp = Path(p)
        if pp.is_dir():
            for f in sorted(pp.rglob("*.toml")):
                try:
                    if not is_spec(read_toml(f)):
                        continue
                except InputError:
                    pass
                out.append(f)
        elif pp.exists():
            out.append(pp)
        else:
            raise InputError(p, None, "a spec file or a directory of specs", "no such file")
    return out

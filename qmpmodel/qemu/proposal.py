"""Loading a proposal: a design written in a Python file next to a spec.

A spec's ``[design] proposal = "late-resume.py"`` names a file that defines
exactly one design class: a subclass of a public design
(:class:`qmpmodel.api.QemuCurrent` or another) that overrides the steps its
patch changes, may declare state variables (``declare_extra``) and may add
properties (:func:`qmpmodel.api.prop`). It uses only :mod:`qmpmodel.api`.

Every loading error is one :class:`~qmpmodel.errors.InputError` naming the
file and line: a syntax error, an import of a private module, no design class
or several, a method that is neither a step of the base nor marked as new
(``@new_step``), a step whose signature differs from the base's.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from qmpmodel.errors import InputError, close_matches
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.properties import Invariant

__all__ = ["Proposal", "load_proposal"]

#: Modules a proposal may import from qmpmodel.
_PUBLIC = ("qmpmodel.api",)


@dataclass(frozen=True)
class Proposal:
    """A loaded proposal file: its design class and the properties it adds."""

    path: str
    design: type[QemuCurrent]
    properties: tuple[Invariant, ...] = ()


def _line_of(obj: object) -> int | None:
    try:
        return inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None


def _check_imports(tree: ast.AST, src: str) -> None:
    for node in ast.walk(tree):
        mods: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            mods = [node.module]
        elif isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        for mod in mods:
            if mod.startswith("qmpmodel") and mod not in _PUBLIC:
                raise InputError(src, f"line {getattr(node, 'lineno', '?')}", "imports from qmpmodel.api only (the public API)",
                                 f"import of {mod}")


def _exec_module(path: Path, src: str) -> ModuleType:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(src, None, "a readable proposal file (.py)", e.strerror) from None
    try:
        tree = ast.parse(text, filename=src)
    except SyntaxError as e:
        raise InputError(src, f"line {e.lineno}", "valid Python", e.msg) from None
    _check_imports(tree, src)
    name = f"qmpmodel_proposal_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise InputError(src, None, "a Python file", "no loader")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except InputError:
        raise
    except Exception as e:  # a user's file: report where it failed, in one line
        line = _user_line(e, str(path))
        raise InputError(src, f"line {line}" if line else None, "a proposal that loads",
                         f"{type(e).__name__}: {e}") from None
    return mod


def _user_line(e: BaseException, path: str) -> int | None:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path]
    return frames[-1].lineno if frames else None


def _validate_class(cls: type[QemuCurrent], src: str) -> None:
    base_attrs = {n for k in cls.__mro__[1:] for n in k.__dict__}
    for name, value in cls.__dict__.items():
        if name.startswith("_") or not callable(value):
            continue
        if getattr(value, "__qmp_new_step__", False):
            continue
        if name not in base_attrs:
            known = sorted(n for n in dir(QemuCurrent) if not n.startswith("_"))
            raise InputError(src, f"line {_line_of(value)}", "an override of an existing step "
                             "(see docs/proposals.md) or a method marked @new_step", repr(name),
                             close_matches(name, known))
        base_fn = next(k.__dict__[name] for k in cls.__mro__[1:] if name in k.__dict__)
        if callable(base_fn) and not isinstance(base_fn, property):
            want = list(inspect.signature(base_fn).parameters)
            got = list(inspect.signature(value).parameters)
            if want != got:
                raise InputError(src, f"line {_line_of(value)}", f"{name}({', '.join(want)}) as in the base design",
                                 f"{name}({', '.join(got)})")


def load_proposal(path: str | Path, source: str | None = None) -> Proposal:
    """Load and validate a proposal file (``source`` names it in errors)."""
    p = Path(path)
    src = source or str(path)
    if p.suffix != ".py":
        raise InputError(src, None, "a Python proposal file (.py)", p.name)
    mod = _exec_module(p, src)
    classes = [v for v in vars(mod).values()
               if isinstance(v, type) and issubclass(v, QemuCurrent) and v.__module__ == mod.__name__]
    if len(classes) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise InputError(src, None, "exactly one design class (a subclass of qmpmodel.api.QemuCurrent)", found)
    cls = classes[0]
    _validate_class(cls, src)
    props = tuple(v for v in vars(mod).values() if isinstance(v, Invariant))
    return Proposal(src, cls, props)

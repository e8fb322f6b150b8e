"""The package's layers, enforced on the import graph.

* ``qmpmodel.core`` knows nothing of QEMU: it imports only itself and
  :mod:`qmpmodel.errors`;
* engines import the core only (and other engines): a new engine never needs
  the QEMU model, and a new design never needs an engine change.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "qmpmodel"


def _qmpmodel_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "qmpmodel":
                out.update(f"qmpmodel.{a.name}" for a in node.names)
            elif node.module.startswith("qmpmodel."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("qmpmodel."))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            out.add("<relative>")
    return out


def _modules(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


ALLOWED = {
    "core": ("qmpmodel.core", "qmpmodel.errors"),
    "engines": ("qmpmodel.core", "qmpmodel.errors", "qmpmodel.engines"),
}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports(layer: str) -> None:
    bad = []
    for path in _modules(layer):
        for mod in sorted(_qmpmodel_imports(path)):
            if not any(mod == a or mod.startswith(a + ".") for a in ALLOWED[layer]):
                bad.append(f"{path.relative_to(PKG.parent)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_the_walk_sees_imports() -> None:
    """The checker itself: a known importer is seen importing what it imports."""
    assert "qmpmodel.core.model" in _qmpmodel_imports(PKG / "engines" / "explicit.py")

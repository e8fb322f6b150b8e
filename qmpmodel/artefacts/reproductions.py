"""The committed record of reproductions on a real QEMU (``reports/reproductions.json``).

``qmpmodel reproduce TRACE --results FILE`` adds or replaces the entry of
the trace's (spec, invariant); ``qmpmodel report`` reads the file next to its
output directory and marks those counterexamples "reproduced on QEMU
7.2.22". The report stays deterministic: it renders the committed file, and
never runs QEMU itself. ``scripts/reproduce-all.sh`` regenerates the file.

Format: ``{"qmpmodel": version, "entries": [entry, ...]}`` with entries
sorted by spec and invariant; an entry is ``reproduce --json``'s document
without ``trace`` (spec, invariant, qemu, verdict, exit, reason, evidence,
tries, hits, seconds_per_try, plan, blockers, design_mismatch, conform).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qmpmodel.errors import InputError

__all__ = ["load_results", "qemu_release", "record_result", "reproduced_label"]


def load_results(path: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Entries by (spec, invariant); a missing file is empty, a malformed one is bad input."""
    p = Path(path)
    if not p.exists():
        return {}
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(str(p), None, "a reproductions file (JSON)", str(exc)) from None
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InputError(str(p), "entries", "a list of reproduction entries")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for k, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("spec"), str) or not isinstance(e.get("invariant"), str):
            raise InputError(str(p), f"entries[{k}]", "an object with spec and invariant")
        out[(e["spec"], e["invariant"])] = e
    return out


def record_result(path: str | Path, entry: Mapping[str, Any]) -> None:
    """Add or replace ``entry`` (keyed by spec and invariant) in the results file."""
    from qmpmodel import __version__

    entries = load_results(path)
    entries[(str(entry["spec"]), str(entry["invariant"]))] = dict(entry)
    doc = {"qmpmodel": __version__, "entries": [entries[k] for k in sorted(entries)]}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(p)


def reproduced_label(entry: Mapping[str, Any] | None) -> str | None:
    """``reproduced on QEMU 7.2.22`` for a reproduced entry, else None."""
    if entry is None or entry.get("verdict") != "reproduced":
        return None
    return f"reproduced on QEMU {qemu_release(str(entry.get('qemu', '')))}".strip()


def qemu_release(version_line: str) -> str:
    """``7.2.22`` from ``QEMU emulator version 7.2.22 (Debian ...)``."""
    tail = version_line.split("version", 1)[1] if "version" in version_line else version_line
    return tail.split("(")[0].strip()


def reproduce_command(prepared: Any, spec: str, inv: Any, itf_path: str | Path) -> str | None:
    """The ``qmpmodel reproduce`` command line for a counterexample a client can drive and see, else None.

    ``inv`` is an :class:`~qmpmodel.core.results.InvariantResult` with a trace.
    """
    from qmpmodel.conformance.repro_steps import Step, wire_blockers
    from qmpmodel.invariants import invariant

    tr = inv.trace
    steps = [Step(k, st.index, st.action, st.actor, st.label, dict(st.params))
             for k, st in enumerate(tr.steps, start=1)]
    kind = invariant(inv.name).kind
    if wire_blockers(prepared.spec.design, prepared.spec.bounds, prepared.model, inv.name, kind, steps):
        return None
    return f"qmpmodel reproduce {itf_path} --spec {spec}"


def reproduction_blocks(entry: Mapping[str, Any] | None, command: str | None) -> list[tuple[Any, ...]]:
    """Report blocks for one counterexample: how to reproduce it, and the committed result."""
    out: list[tuple[Any, ...]] = []
    label = reproduced_label(entry)
    if label is not None and entry is not None:
        how = "the trace itself" if (entry.get("plan") or {}).get("literal") else "a substitution"
        tries = f"{entry.get('hits')} of {entry.get('tries')} tries" if entry.get("tries") else ""
        out.append(("p", f"**{label}** ({how}; {tries}; the transcript conforms to the model): "
                         f"{entry.get('evidence', '')}."))
    elif entry is not None:
        out.append(("p", f"Not reproduced on QEMU: {entry.get('reason', '')}"))
    if command is not None:
        out.append(("p", f"Reproduce on a real QEMU with `{command}` (docs/reproduce.md)."))
    return out

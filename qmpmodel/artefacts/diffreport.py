"""Renderings of a :class:`~qmpmodel.diff.DiffResult`: a review in Markdown, and JSON.

The Markdown is meant to be pasted into a mailing-list review: the bounds, the
steps the patch changes, a table of the properties that changed, and each new
counterexample as numbered steps in QEMU's names.
"""

from __future__ import annotations

from typing import Any

from qmpmodel.artefacts.render import sequence_messages
from qmpmodel.core.results import InvariantResult, Trace
from qmpmodel.diff import DiffResult, PropertyDiff
from qmpmodel.invariants import INVARIANTS
from qmpmodel.statemachine import QemuModel

__all__ = ["diff_json", "diff_markdown", "numbered_steps"]


def _v(r: InvariantResult) -> str:
    return r.text()


def numbered_steps(trace: Trace, qm: QemuModel) -> list[str]:
    """The counterexample as numbered lines: who did what, and what each client received."""
    _parts, msgs = sequence_messages(trace, qm)
    out: list[str] = []
    by_step: dict[int, list[str]] = {}
    for m in msgs:
        arrow = f"{m.src} → {m.dst}: " if m.src != m.dst else f"{m.src}: "
        by_step.setdefault(m.step, []).append(arrow + m.text)
    for k, st in enumerate(trace.steps, start=1):
        texts = by_step.get(k) or [f"{st.actor}: {st.label}"]
        loop = " *(the loop starts here)*" if trace.loop is not None and trace.loop == k - 1 else ""
        out.append(f"{k}. " + "; ".join(texts) + loop)
    if trace.loop is not None and trace.loop >= trace.depth:
        out.append(f"… and then QEMU does nothing more that matters: the run can stay in state {trace.loop} "
                   "for ever.")
    elif trace.loop is not None:
        out.append(f"… and steps {trace.loop + 1}-{trace.depth} again, for ever.")
    return out


def _statement(name: str, r: DiffResult) -> str:
    extra = [i for prep in r.prepared.values() for i in prep.spec.properties]
    return next((i.statement for i in (*INVARIANTS, *extra) if i.name == name), "")


def diff_markdown(r: DiffResult) -> str:
    b, p = r.base, r.proposed
    lines = [f"## qmpmodel diff: {b.title or b.spec} → {p.title or p.spec}", ""]
    bounds = next(iter(r.prepared.values())).spec.bounds if r.prepared else None
    if bounds is not None:
        lines.append(f"Bounds ({r.bounds_from or 'from the proposal'}): {bounds.monitors} monitor(s), "
                     f"{bounds.clients} client(s), {bounds.requests} request(s) each, mix "
                     f"{', '.join(bounds.mix)}, queue_max {bounds.queue_max}. Engine: {p.engine}.")
    lines.append(f"States: {b.states:,} (base), {p.states:,} (proposal).")
    lines.append("")
    if r.changed_steps:
        lines.append("The proposal changes: " + "; ".join(f"`{fn}` ({owner})" for _n, fn, owner in r.changed_steps)
                     + ".")
        lines.append("")
    changed = [d for d in r.properties if d.change != "unchanged"]
    if changed:
        lines += ["| property | base | proposal | change |", "|---|---|---|---|"]
        for d in changed:
            mark = f"**{d.change}**" if d.change in ("newly violated", "fixed") else d.change
            lines.append(f"| {d.name} | {_v(d.base)} | {_v(d.proposed)} | {mark} |")
        lines.append("")
    n_same = len(r.properties) - len(changed)
    lines.append(f"{n_same} other properties unchanged." if changed else f"All {n_same} properties unchanged.")
    for d in r.of("newly violated"):
        lines += ["", f"### Newly violated: {d.name}", "", _statement(d.name, r)]
        tr = d.proposed.trace
        qm = r.prepared[p.spec].qemu if p.spec in r.prepared else None
        if tr is not None and qm is not None:
            lines += ["", *numbered_steps(tr, qm)]
    for d in r.of("fixed"):
        lines += ["", f"### Fixed: {d.name}", "",
                  f"The base's counterexample ({_v(d.base)}) replayed on the proposal: {d.divergence}."]
    for d in r.of("depth changed"):
        lines += ["", f"### Depth changed: {d.name}", "", f"{_v(d.base)} (base), {_v(d.proposed)} (proposal)."]
    return "\n".join(lines).rstrip() + "\n"


def _res(x: InvariantResult) -> dict[str, Any]:
    return {"verdict": x.verdict, "depth": x.depth, "text": x.text(), "method": x.method or None,
            "note": x.note or None}


def _prop(d: PropertyDiff) -> dict[str, Any]:
    return {"name": d.name, "base": _res(d.base), "proposed": _res(d.proposed), "change": d.change,
            "divergence": d.divergence or None}


def diff_json(r: DiffResult, version: str) -> dict[str, Any]:
    return {
        "qmpmodel": version,
        "base": {"spec": r.base.spec, "title": r.base.title, "states": r.base.states,
                 "transitions": r.base.transitions, "complete": r.base.complete},
        "proposed": {"spec": r.proposed.spec, "title": r.proposed.title, "states": r.proposed.states,
                     "transitions": r.proposed.transitions, "complete": r.proposed.complete},
        "bounds_from": r.bounds_from,
        "changed_steps": [{"step": n, "qemu": fn, "defined_in": owner} for n, fn, owner in r.changed_steps],
        "outcome": r.outcome,
        "properties": [_prop(d) for d in r.properties],
    }

"""The ``--json`` result document (a stable contract: CI and other tools read it)."""

from __future__ import annotations

from collections.abc import Sequence

from qmpmodel.core.results import CheckResult, Trace

__all__ = ["results_to_json", "trace_to_json"]


def trace_to_json(trace: Trace | None) -> list[dict[str, object]] | None:
    if trace is None:
        return None
    out = []
    for st in trace.steps:
        step = st.to_json()
        out.append(step)
    return out


def results_to_json(results: Sequence[CheckResult], version: str) -> dict[str, object]:
    return {
        "qmpmodel": version,
        "results": [
            {
                "spec": r.spec,
                "engine": r.engine,
                "states": r.states,
                "transitions": r.transitions,
                "depth": r.depth,
                "seconds": round(r.seconds, 3),
                "complete": r.complete,
                "met": r.met,
                "invariants": [
                    {
                        "name": i.name,
                        "expected": i.expected,
                        "verdict": i.verdict,
                        "depth": i.depth,
                        "trace": trace_to_json(i.trace),
                        **({"loop": i.trace.loop} if i.trace is not None and i.trace.loop is not None else {}),
                        **({"cycle": [list(e) for e in i.trace.cycle]} if i.trace is not None and i.trace.cycle else {}),
                        **({"note": i.note} if i.note else {}),
                        **({} if i.checked else {"checked": False}),
                    }
                    for i in r.invariants
                ],
            }
            for r in results
        ],
    }

"""The ``--json`` result document (a stable contract: CI and other tools read it).

The document (documented in README.md, "Results as JSON")::

    {"qmpmodel": VERSION, "outcome": "met" | "contradicted" | "inconclusive", "exit": 0 | 1 | 3,
     "results": [{"spec", "title", "engine", "states", "transitions", "depth", "seconds",
                  "complete", "outcome", "met",
                  "invariants": [{"name", "expected", "verdict", "text", "outcome", "detail",
                                  "depth", "trace", ...}]}]}

``detail`` refines a verdict the way TLC's exit codes name the kind of
result (:data:`DETAILS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qmpmodel.core.results import EXIT_CODES, CheckResult, InvariantResult, Trace, worst

__all__ = ["DETAILS", "detail", "invariant_to_json", "results_to_json", "trace_to_json"]

#: Detail code -> meaning (the ``detail`` of every invariant in the document).
DETAILS: Mapping[str, str] = {
    "exhaustive": "holds: every reachable state was explored",
    "proved": "holds: proved (``method`` names the proof, e.g. k-induction)",
    "counterexample": "violated: a trace ends in a state that breaks the property",
    "lasso": "violated: a liveness counterexample, a run that loops forever (``loop``)",
    "deadlock": "violated: pending work and no enabled action (``cycle``: the wait-for cycle)",
    "depth-bound": "bounded: no violation up to ``depth`` steps (bounded model checking)",
    "examples": "not-found: no violation in ``examples`` random runs",
    "budget": "unknown: a state or time budget ran out",
    "unsupported": "unknown: the engine cannot decide this kind of property",
    "skipped": "the spec skips this property",
}


def detail(i: InvariantResult) -> str:
    """The detail code of one verdict (a key of :data:`DETAILS`)."""
    if i.expected == "skip":
        return "skipped"
    if i.verdict == "holds":
        return "exhaustive" if i.method in ("", "exhaustive") else "proved"
    if i.verdict == "violated":
        if i.trace is not None and i.trace.loop is not None:
            return "lasso"
        return "deadlock" if i.trace is not None and i.trace.cycle else "counterexample"
    if i.verdict == "bounded":
        return "depth-bound"
    if i.verdict == "not-found":
        return "examples"
    return "budget" if i.checked else "unsupported"


def trace_to_json(trace: Trace | None) -> list[dict[str, object]] | None:
    if trace is None:
        return None
    return [st.to_json() for st in trace.steps]


def invariant_to_json(i: InvariantResult) -> dict[str, object]:
    tr = i.trace
    return {
        "name": i.name,
        "expected": i.expected,
        "verdict": i.verdict,
        "text": i.text(),
        "outcome": i.outcome,
        "detail": detail(i),
        "depth": i.depth,
        "trace": trace_to_json(tr),
        **({"loop": tr.loop} if tr is not None and tr.loop is not None else {}),
        **({"cycle": [list(e) for e in tr.cycle]} if tr is not None and tr.cycle else {}),
        **({"method": i.method} if i.method else {}),
        **({"examples": i.examples} if i.examples is not None else {}),
        **({"note": i.note} if i.note else {}),
        **({} if i.checked else {"checked": False}),
    }


def results_to_json(results: Sequence[CheckResult], version: str) -> dict[str, object]:
    outcome = worst(r.outcome for r in results)
    return {
        "qmpmodel": version,
        "outcome": outcome,
        "exit": EXIT_CODES[outcome],
        "results": [
            {
                "spec": r.spec,
                "title": r.title,
                "engine": r.engine,
                "states": r.states,
                "transitions": r.transitions,
                "depth": r.depth,
                "seconds": round(r.seconds, 3),
                "complete": r.complete,
                "outcome": r.outcome,
                "met": r.met,
                "invariants": [invariant_to_json(i) for i in r.invariants],
            }
            for r in results
        ],
    }

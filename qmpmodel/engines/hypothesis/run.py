"""The Hypothesis engine's entry point: one search per expected violation, one batch for the rest.

Random search refutes, never proves: verdicts are ``violated`` (with the
minimised, replayed trace) or ``not-found`` ("not found in N examples");
``complete`` is always false. ``progress`` (liveness) is ``unknown``.
"""

from __future__ import annotations

from qmpmodel.core.results import EngineOptions, EngineResult, InvariantResult
from qmpmodel.core.task import CheckTask, Observer
from qmpmodel.engines.hypothesis.machine import SearchStats
from qmpmodel.engines.hypothesis.properties import compile_properties
from qmpmodel.engines.hypothesis.search import SearchOutcome, search

__all__ = ["MAX_HOLDS_RERUNS", "run"]

#: Upper bound on re-runs of the batch of properties expected to hold.
MAX_HOLDS_RERUNS = 8


def run(task: CheckTask, options: EngineOptions, observer: Observer | None = None) -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check`).

    Each property pinned ``violated`` gets a search of its own (so Hypothesis
    shrinks for that property): half the examples steered by its distance,
    then, if nothing was found, the other half unsteered; the
    properties pinned ``holds`` are searched together, and a violated one is
    recorded and dropped before the batch is searched again (at most
    :data:`MAX_HOLDS_RERUNS` times).
    """
    model = task.model
    pinned = task.obligations
    stats = SearchStats(observer=observer)
    found: dict[str, SearchOutcome] = {}
    notes: dict[str, str] = {}

    todo = [(inv, exp) for inv, exp in pinned if exp != "skip" and inv.kind != "liveness"]
    for inv, want in todo:
        if want != "violated" or stats.stopped:
            continue
        (prop,) = compile_properties(model, [inv])
        # half the budget steered by the distance to the violation, half a plain walk: steering
        # finds the rare bugs (P-stale) but can mislead (reply-order-all of qemu-current)
        half = (options.examples + 1) // 2
        out = search(model, [prop], examples=half, seed=options.seed, stats=stats)
        if out.prop is None and not stats.stopped and options.examples > half:
            out = search(model, [prop], examples=options.examples - half, seed=options.seed, stats=stats,
                         steer=False)
        if out.prop is not None:
            found[inv.name] = out
    batch = compile_properties(model, [inv for inv, exp in todo if exp == "holds"])
    for _ in range(MAX_HOLDS_RERUNS + 1):
        if not batch or stats.stopped:
            break
        out = search(model, batch, examples=options.examples, seed=options.seed, stats=stats)
        if out.prop is None:
            break
        found[out.prop] = out
        batch = tuple(p for p in batch if p.name != out.prop)
    else:
        for p in batch:
            notes[p.name] = f"not searched: more than {MAX_HOLDS_RERUNS} properties failed"

    results: list[InvariantResult] = []
    for inv, exp in pinned:
        if exp == "skip":
            results.append(InvariantResult(inv.name, exp, "unknown", note="skipped by the spec"))
        elif inv.kind == "liveness":
            results.append(InvariantResult(inv.name, exp, "unknown", checked=False,
                                           note="liveness is not decided by finite random runs"))
        elif inv.name in found:
            o = found[inv.name]
            assert o.trace is not None
            results.append(InvariantResult(
                inv.name, exp, "violated", o.trace.depth, o.trace,
                note=f"found by example {o.examples_to_first} (seed {options.seed}); "
                     f"Hypothesis shrank it to {len(o.raw_path)} steps, the path minimiser to {len(o.path)}"))
        elif stats.stopped or inv.name in notes:
            note = "time budget exhausted" if stats.stopped else notes[inv.name]
            results.append(InvariantResult(inv.name, exp, "unknown", note=note))
        else:
            # random search can refute "holds" but never establish it
            n = options.examples
            results.append(InvariantResult(inv.name, exp, "not-found", examples=n,
                                           note=f"no counterexample in {n} examples (seed {options.seed})"))
    return EngineResult(len(stats.visited), stats.steps, stats.max_depth, False, results)

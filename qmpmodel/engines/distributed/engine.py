"""The distributed engine's entry point: partitions on Ray, verdicts as the native engine's.

``run(task, options, observer)`` compiles the task's native kernel (state and
deadlock properties), starts ``options.workers`` partitions on Ray (a local
Ray on this machine, or the cluster at ``options.ray_address``) and runs the
level-synchronous search of :mod:`~qmpmodel.engines.distributed.explore`.
:func:`explore_task` runs the same search on any :class:`Pool` (tests pass an
in-process one).

Verdicts follow the single-process engines exactly on a complete search: the
same states, transitions and depth, the same first violating state per
property, so the same counterexample (rebuilt across partitions from the
links, replayed through the model by :func:`~qmpmodel.core.trace.trace_from_path`).

Never an overclaim:

* ``progress`` (liveness) is not decided here: a fair lasso needs the whole
  transition graph in one place. Its verdict is ``unknown`` (``checked`` false)
  with a note: run the native or explicit engine on one machine;
* a lost partition (its worker died, its node left) ends the run: every
  property not already violated is ``unknown``, naming the partition;
* ``max_states`` and the observer (``--timeout``) apply to the whole search;
  beyond them, ``unknown``;
* symmetry (``options.symmetry``) as in the native engine: canonical states,
  counterexamples rebuilt forward from the concrete initial state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from qmpmodel.core.model import Model
from qmpmodel.core.results import EngineOptions, EngineResult, InvariantResult
from qmpmodel.core.symmetry import SymmetryGroup
from qmpmodel.core.task import CheckTask, Observer
from qmpmodel.core.trace import cycle_at, states_of, trace_from_path
from qmpmodel.core.waitgraph import deadlock_cycles
from qmpmodel.engines.distributed.explore import (
    Found,
    Outcome,
    Pool,
    RangeFailure,
    WorkerLost,
    explore,
)
from qmpmodel.engines.native import engine as native
from qmpmodel.engines.native.build import NoCompiler, SystemToolchain, system_toolchain
from qmpmodel.engines.native.codegen import generate, pack_layout
from qmpmodel.engines.native.kernel import Kernel
from qmpmodel.errors import InputError, ModelDefinitionError

__all__ = ["LIVENESS_NOTE", "explore_task", "run"]

LIVENESS_NOTE = ("liveness not checked with --workers (run --engine native on one machine: a fair lasso "
                 "needs the whole transition graph in one place)")


def round_states(workers: int) -> int:
    """States each partition expands per round, on average. An exchange costs the coordinator about
    a millisecond or two per worker (measured: ``benchmarks/distributed_scaling.py --overhead``), so
    rounds grow with the pool to keep that a small share; 2**20 bounds a round's messages (about
    300 MiB per worker at 4 successors of 9 words per state)."""
    return min(1 << 20, (1 << 14) * max(2, workers))


def run(task: CheckTask, options: EngineOptions, observer: Observer | None = None) -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check`); needs Ray (``pip install 'qmpmodel[cluster]'``)."""
    from qmpmodel.engines.distributed import cluster

    workers = options.workers or 2
    with cluster.session(workers, options.ray_address) as s:
        return explore_task(task, options, observer, lambda: s.pool(workers))


def explore_task(task: CheckTask, options: EngineOptions, observer: Observer | None, make_pool: Any,
                 outcome: list[Outcome] | None = None, toolchain: SystemToolchain | None = None,
                 batch: int = 0) -> EngineResult:
    """Judge ``task`` with the distributed search on the pool ``make_pool()`` returns.

    ``outcome``, when given, receives the raw :class:`Outcome` (levels, message volume: the benchmark
    reads it). ``toolchain``: the compiler and flags, for the coordinator and every worker.
    ``batch``: states per partition per round (default :func:`round_states`).
    """
    todo = [(p, e) for p, e in task.obligations if e != "skip"]
    judged = [(p, e) for p, e in todo if p.kind != "liveness"]
    group, note = task.symmetry_group(options.symmetry)
    notes: list[str] = [note] if note else []
    if options.max_memory:
        notes.append("the memory budget is not applied to the workers")
    model = task.model
    props = [p.expr for p, _e in judged]
    source = generate(model, props, [])
    try:
        kernel = Kernel(model, pack_layout(model), props, (), (toolchain or system_toolchain()).load(source))
    except NoCompiler as e:
        out = native.run(task, options, observer)
        note = f"distributed engine unavailable ({e})"
        out.invariants = [replace(r, note=f"{note}; {r.note}" if r.note else note) for r in out.invariants]
        return out
    b = kernel.batch(group)
    init = b.canonical(b.pack([model.init]))
    pool: Pool = make_pool()
    stuck = any(p.kind == "deadlock" for p, _e in judged)
    try:
        pool_setup(pool, model, props, source, group, toolchain.flags if toolchain is not None else None)
    except WorkerLost as e:
        found = Outcome(lost=e)
    except NoCompiler as e:  # a worker's node has no C compiler: the kernel cannot run there
        raise InputError("<command line>", "--workers", "a C compiler on every node of the Ray cluster",
                         str(e)) from None
    else:
        try:
            found = explore(pool, init, len(props), stuck, options.max_states, observer,
                            batch or round_states(pool.size))
        except RangeFailure as e:
            path = native.concretize(model, group, e.path) if group is not None else list(e.path)
            raise ModelDefinitionError(f"{e.message} after the path {'/'.join(map(str, path)) or '(initial state)'}"
                                       ) from None
    if outcome is not None:
        outcome.append(found)
    if found.lost is not None:
        lost = found.lost
        notes.append(f"the search is incomplete: partition {lost.index} of {pool.size} (the states whose "
                     f"fingerprint is {lost.index} modulo {pool.size}) was lost: {lost.reason}")
    return _judge(task, judged, found, group, notes)


def pool_setup(pool: Pool, model: Model, props: Sequence[Any], source: str, group: SymmetryGroup | None,
               flags: tuple[str, ...] | None = None) -> list[int]:
    """Load the kernel in every partition; returns their process ids."""
    futs = [pool.submit(k, "setup", model, list(props), source, group, flags) for k in range(pool.size)]
    return [pool.result(k, f) for k, f in enumerate(futs)]


def _first_deadlock(pred: Found | None, stuck: Found | None) -> Found | None:
    """The deadlock property's first violation in the single-process engine's order: it judges a
    state's predicate when its parent is expanded and the stuck test when the state itself is."""
    if pred is None or stuck is None:
        return pred or stuck
    if pred.depth == 0 or (pred.depth - 1, pred.parent_rank) < (stuck.depth, stuck.rank):
        return pred
    return stuck


def _judge(task: CheckTask, judged: Sequence[tuple[Any, str]], found: Outcome, group: SymmetryGroup | None,
           notes: list[str]) -> EngineResult:
    model = task.model
    complete = found.complete
    extra = "; ".join(notes)

    def note(text: str) -> str:
        return "; ".join(x for x in (text, extra) if x)

    why = "" if complete or found.lost is not None else found.why
    cycles = deadlock_cycles(model) if any(p.kind == "deadlock" for p, _e in judged) else []
    position = {p.name: k for k, (p, _e) in enumerate(judged)}
    results: list[InvariantResult] = []
    for p, exp in task.obligations:
        if exp == "skip":
            results.append(InvariantResult(p.name, exp, "unknown", note="skipped by the spec"))
            continue
        if p.kind == "liveness":
            results.append(InvariantResult(p.name, exp, "unknown", checked=False, note=note(LIVENESS_NOTE)))
            continue
        f = found.found.get(position[p.name])
        if p.kind == "deadlock":
            f = _first_deadlock(f, found.stuck)
        if f is None:
            results.append(InvariantResult(p.name, exp, "holds" if complete else "unknown",
                                           method="exhaustive" if complete else "", note=note(why)))
            continue
        path = native.concretize(model, group, f.path) if group is not None else list(f.path)
        last = states_of(model, path)[-1]
        cyc = cycle_at(cycles, last) if p.kind == "deadlock" else ()
        tr = trace_from_path(model, model.init, path, cycle=cyc)
        stuck = p.kind == "deadlock" and not cyc
        results.append(InvariantResult(p.name, exp, "violated", tr.depth, tr, note=note(
            "stuck: pending work and no action of QEMU enabled" if stuck else "")))
    return EngineResult(found.states, found.transitions, found.depth, complete, results)

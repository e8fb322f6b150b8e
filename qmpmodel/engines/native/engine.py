"""The native engine's entry point: compile the task's kernel, search, judge, rebuild traces.

Verdicts follow the explicit engine exactly (same breadth-first order, same
state ids, the same first violating state per property, so the same shortest
counterexamples); the explicit engine is the oracle the tests compare against.

* ``state`` and ``deadlock`` properties are judged in the kernel (predicates when
  a state is discovered, "stuck with pending work" when it is expanded);
* ``progress`` (liveness): the kernel records the transition graph, the goal
  and the enabled fairness groups per state; the fair-lasso search over those
  arrays is the explicit engine's (:func:`~qmpmodel.engines.explicit.find_lasso`);
* symmetry (``EngineOptions.symmetry``): the search visits one canonical state
  per orbit when the task's group was proved sound; liveness is then
  ``unknown`` with a note (a fair lasso of the quotient need not be one of the
  model: run without symmetry). A counterexample found on canonical states is
  rebuilt forward from the concrete initial state, so it replays exactly;
* no C compiler: the explicit engine runs instead, and every result says so;
* budgets (``max_states``, ``max_memory``, observer stop) end in ``unknown``.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import replace

from qmpmodel.core.expr import Expr
from qmpmodel.core.model import Model, compile_successors
from qmpmodel.core.results import EngineOptions, EngineResult, InvariantResult
from qmpmodel.core.symmetry import SymmetryGroup
from qmpmodel.core.task import CheckTask, Obligation, Observer, Property
from qmpmodel.core.trace import cycle_at, states_of, trace_from_path
from qmpmodel.core.waitgraph import deadlock_cycles
from qmpmodel.engines import explicit
from qmpmodel.engines.native.build import NoCompiler, Toolchain, system_toolchain
from qmpmodel.engines.native.capi import STATUS
from qmpmodel.engines.native.codegen import generate, pack_layout
from qmpmodel.engines.native.kernel import Kernel, Search

__all__ = ["compile_kernel", "concretize", "run", "task_kernel"]

#: Liveness goals per kernel: one bit each in the kernel's per-state goal byte.
_MAX_GOALS = 8


def compile_kernel(model: Model, props: Sequence[Expr], goals: Sequence[Expr],
                   toolchain: Toolchain | None = None) -> Kernel:
    """Generate, compile (or fetch from the cache) and load the kernel; raises :class:`NoCompiler`."""
    source = generate(model, props, goals)
    loaded = (toolchain or system_toolchain()).load(source)
    return Kernel(model, pack_layout(model), props, goals, loaded)


def task_kernel(task: CheckTask, toolchain: Toolchain | None = None) -> Kernel:
    """The kernel :func:`run` uses for ``task``: its pinned state and deadlock properties, and its first
    liveness goal (the same source, so the same cached object)."""
    todo = [p for p, e in task.obligations if e != "skip"]
    return compile_kernel(task.model, [p.expr for p in todo if p.kind != "liveness"],
                          [p.expr for p in todo if p.kind == "liveness"][:_MAX_GOALS], toolchain)


def concretize(model: Model, group: SymmetryGroup, path: Sequence[int]) -> list[int]:
    """A concrete path from ``model.init`` through the orbits of a path of canonical states.

    Each canonical step ``c -> canonical(a(c))`` has a concrete counterpart from
    any state of ``c``'s orbit (the group commutes with the actions): the first
    action, in model order, whose successor has the same canonical form.
    """
    succ = compile_successors(model)
    c = group.canonical(model.init)
    s = model.init
    out: list[int] = []
    for a in path:
        c = group.canonical(model.actions[a].apply(c))
        b, t = next((b, t) for b, t in succ(s) if group.canonical(t) == c)
        out.append(b)
        s = t
    return out


def run(task: CheckTask, options: EngineOptions, observer: Observer | None = None,
        toolchain: Toolchain | None = None) -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check`)."""
    todo = [(p, e) for p, e in task.obligations if e != "skip"]
    judged = [(p, e) for p, e in todo if p.kind != "liveness"]
    goals = [p for p, _e in todo if p.kind == "liveness"][:_MAX_GOALS]
    group, note = task.symmetry_group(options.symmetry)
    notes: list[str] = [note] if note else []
    if group is not None:
        # a fair lasso on the quotient need not be one of the model: not judged here
        goals = []
    try:
        kernel = task_kernel(task, toolchain)
    except NoCompiler as e:
        out = explicit.run(task, options, observer)
        note = f"native kernel unavailable ({e}): explicit Python engine used"
        out.invariants = [replace(r, note=f"{note}; {r.note}" if r.note else note) for r in out.invariants]
        return out
    stuck = next((k for k, (p, _e) in enumerate(judged) if p.kind == "deadlock"), -1)
    progress = None
    if observer is not None:
        obs = observer

        def progress(states: int, depth: int, _bytes: int) -> bool:
            return obs.progress(states, depth)

    found = kernel.search(max_states=options.max_states, max_memory=options.max_memory, stuck_prop=stuck,
                          want_edges=bool(goals), group=group, progress=progress)
    if found.error is not None:
        action, var, value, sid = found.error
        err = kernel.range_error(action, var, value)
        path = found.path_to(sid)
        raise type(err)(f"{err} after the path {'/'.join(map(str, path)) or '(initial state)'}")
    return _judge(task, todo, judged, kernel, found, group, notes)


def _judge(task: CheckTask, todo: Sequence[Obligation], judged: Sequence[Obligation], kernel: Kernel,
           found: Search, group: SymmetryGroup | None, notes: list[str]) -> EngineResult:
    model = task.model
    complete = found.status == 0
    why = "" if complete else STATUS[found.status]
    if found.status == 3:
        why += f" ({found.peak_bytes / 2**20:,.0f} MiB)"
    extra = "; ".join(notes)

    def note(text: str) -> str:
        return "; ".join(x for x in (text, extra) if x)

    cycles = deadlock_cycles(model) if any(p.kind == "deadlock" for p, _e in judged) else []
    results: list[InvariantResult] = []
    position = {p.name: k for k, (p, _e) in enumerate(judged)}
    live = [p.name for p, _e in todo if p.kind == "liveness"]
    for p, exp in todo:
        if p.kind == "liveness" and group is not None:
            results.append(InvariantResult(p.name, exp, "unknown", checked=False, note=note(
                "liveness is not checked under symmetry (run without --symmetry)")))
            continue
        if p.kind == "liveness":
            k = live.index(p.name)
            if k >= _MAX_GOALS:
                results.append(InvariantResult(p.name, exp, "unknown", checked=False, note=note(
                    f"more than {_MAX_GOALS} liveness properties: run the explicit engine for this one")))
            else:
                results.append(_liveness(model, p, k, exp, found, complete, note(why)))
            continue
        sid = found.found[position[p.name]]
        if sid < 0:
            results.append(InvariantResult(p.name, exp, "holds" if complete else "unknown",
                                           method="exhaustive" if complete else "", note=note(why)))
            continue
        path = found.path_to(sid)
        if group is not None:
            path = concretize(model, group, path)
        last = states_of(model, path)[-1]
        cyc = cycle_at(cycles, last) if p.kind == "deadlock" else ()
        tr = trace_from_path(model, model.init, path, cycle=cyc)
        stuck = p.kind == "deadlock" and not cyc
        results.append(InvariantResult(p.name, exp, "violated", tr.depth, tr, note=note(
            "stuck: pending work and no action of QEMU enabled" if stuck else "")))
    for p, exp in task.obligations:
        if exp == "skip":
            results.append(InvariantResult(p.name, exp, "unknown", note="skipped by the spec"))
    order = {p.name: k for k, (p, _e) in enumerate(task.obligations)}
    results.sort(key=lambda r: order[r.name])
    return EngineResult(found.states, found.transitions, found.depth, complete, results)


def _liveness(model: Model, p: Property, k: int, exp: str, found: Search, complete: bool,
              why: str) -> InvariantResult:
    """The explicit engine's fair-lasso search over the kernel's graph arrays (goal bit ``k``)."""
    name = p.name
    if not complete:
        return InvariantResult(name, exp, "unknown", note=why)  # type: ignore[arg-type]
    start, to, act, goal, fairmask = found.graph()
    depth_of = array("I")
    for d in range(found.depth + 1):
        depth_of.extend([d] * (found.level_end(d) - len(depth_of)))
    index = {g: i for i, g in enumerate(explicit.fair_group_actions(model))}
    lasso = explicit.find_lasso(model, [bool(g >> k & 1) for g in goal],
                                lambda g, u: bool(fairmask[u] >> index[g] & 1),
                                start, to, act, depth_of, found.path_to, p.fairness)
    if lasso is None:
        return InvariantResult(name, exp, "holds", method="exhaustive", note=why)  # type: ignore[arg-type]
    acts, loop = lasso
    tr = trace_from_path(model, model.init, acts, loop=loop)
    return InvariantResult(name, exp, "violated", tr.depth, tr, note=why)  # type: ignore[arg-type]

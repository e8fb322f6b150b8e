"""Exhaustive explicit-state search (breadth first).

Breadth-first order makes the first violating state found for an invariant
one at minimal depth, so its trace is a shortest counterexample. States are
interned: ``index[state] -> id``, with parent id and action index per id, so
a trace is rebuilt by walking parents. A budget (states, or a stop request
from the observer, which is how the CLI implements ``--timeout``) turns every
undecided verdict into ``unknown``: the engine never claims ``holds`` for a
property it did not check on the whole reachable space.

``progress`` is decided on the explored graph after the search: a fair lasso
is a strongly connected set of states (or a single state where no fair action
is enabled: the system may stutter there) in which a connected client's
request stays unanswered and every weakly fair action group that is enabled
throughout is also taken inside it.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Sequence

from qmpmodel.core.expr import all_of, any_of
from qmpmodel.core.model import Model, State, compile_predicate, compile_successors, is_stuck
from qmpmodel.core.results import EngineOptions, EngineResult, InvariantResult
from qmpmodel.core.task import CheckTask, Obligation, Observer
from qmpmodel.core.trace import cycle_at, trace_from_path
from qmpmodel.core.waitgraph import deadlock_cycles

__all__ = ["check_explicit", "fair_group_actions", "find_lasso", "run"]


def run(task: CheckTask, options: EngineOptions, observer: Observer | None = None) -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check`)."""
    return check_explicit(task.model, task.obligations, options.max_states, observer)


def check_explicit(
    model: Model,
    pinned: Sequence[Obligation],
    max_states: int = 2_000_000,
    observer: Observer | None = None,
) -> EngineResult:
    """Explore every reachable state (within ``max_states``) and judge ``pinned``.

    A liveness property is violated by a fair lasso on which its goal
    (``Property.expr``) holds throughout.
    """
    succ = compile_successors(model)
    todo = [(inv, exp) for inv, exp in pinned if exp != "skip"]
    preds: list[tuple[int, Callable[[State], bool]]] = []
    want_deadlock = want_progress = False
    for n, (inv, _exp) in enumerate(todo):
        if inv.kind == "liveness":
            want_progress = True
            continue
        if inv.kind == "deadlock":
            want_deadlock = True
        preds.append((n, compile_predicate(inv.expr)))
    pending = compile_predicate(model.pending)
    found: dict[int, int] = {}  # invariant position -> violating state id
    deadlock_pos = next((n for n, (inv, _) in enumerate(todo) if inv.kind == "deadlock"), None)

    index: dict[State, int] = {model.init: 0}
    states: list[State] = [model.init]
    parent = array("l", [-1])
    via = array("l", [-1])
    depth_of = array("l", [0])
    keep_edges = want_progress
    edge_start = array("l")
    edge_to = array("l")
    edge_act = array("l")
    transitions = 0
    complete = True
    max_depth = 0
    frontier: deque[int] = deque([0])
    live_preds = list(preds)

    # one compiled conjunction of the live predicates: a state that satisfies all
    # of them (almost every state) costs one call; recompiled when one is found
    exprs = {n: inv.expr for n, (inv, _exp) in enumerate(todo) if inv.kind != "liveness"}
    all_ok = compile_predicate(all_of(exprs[n] for n, _p in live_preds))

    def judge(sid: int, s: State) -> None:
        nonlocal live_preds, all_ok
        if all_ok(s):
            return
        hit = [n for n, p in live_preds if not p(s)]
        for n in hit:
            found[n] = sid
        live_preds = [(n, p) for n, p in live_preds if n not in found]
        all_ok = compile_predicate(all_of(exprs[n] for n, _p in live_preds))

    judge(0, model.init)
    while frontier:
        sid = frontier.popleft()
        s = states[sid]
        d = depth_of[sid]
        if keep_edges:
            edge_start.append(len(edge_to))
        nxt = succ(s)
        # stuck: work is pending and QEMU itself (every weakly fair actor, external
        # completions included) can do nothing; only clients could still act
        if want_deadlock and deadlock_pos not in found and is_stuck(model, nxt) and pending(s):
            found[deadlock_pos] = sid  # type: ignore[index]
        for a, t in nxt:
            transitions += 1
            tid = index.get(t)
            if tid is None:
                tid = len(states)
                if tid >= max_states:
                    complete = False
                    break
                index[t] = tid
                states.append(t)
                parent.append(sid)
                via.append(a)
                depth_of.append(d + 1)
                if d + 1 > max_depth:
                    max_depth = d + 1
                frontier.append(tid)
                judge(tid, t)
            if keep_edges:
                edge_to.append(tid)
                edge_act.append(a)
        if not complete:
            break
        if observer is not None and sid % 4096 == 0 and not observer.progress(len(states), d):
            complete = False
            break
    if keep_edges:
        edge_start.append(len(edge_to))

    def path_to(sid: int) -> list[int]:
        out = []
        while parent[sid] != -1:
            out.append(via[sid])
            sid = parent[sid]
        out.reverse()
        return out

    cycles = deadlock_cycles(model) if want_deadlock else []
    results: list[InvariantResult] = []
    group_fns = {g: compile_predicate(any_of(model.actions[i].guard for i in idxs))
                 for g, idxs in fair_group_actions(model).items()} if want_progress else {}
    for n, (inv, exp) in enumerate(todo):
        if inv.kind == "liveness":
            lasso = None
            if complete:
                goal = compile_predicate(inv.expr)
                lasso = find_lasso(model, [goal(s) for s in states], lambda g, u: group_fns[g](states[u]),
                                   edge_start, edge_to, edge_act, depth_of, path_to, inv.fairness)
            if lasso is not None:
                acts, loop = lasso
                tr = trace_from_path(model, model.init, acts, loop=loop)
                results.append(InvariantResult(inv.name, exp, "violated", tr.depth, tr))
            else:
                results.append(InvariantResult(inv.name, exp, "holds" if complete else "unknown",
                                               method="exhaustive" if complete else "",
                                               note="" if complete else "state or time budget exhausted"))
            continue
        if n in found:
            sid = found[n]
            cyc = cycle_at(cycles, states[sid]) if inv.kind == "deadlock" else ()
            tr = trace_from_path(model, model.init, path_to(sid), cycle=cyc)
            results.append(InvariantResult(inv.name, exp, "violated", tr.depth, tr,
                                           note="" if cyc or inv.kind != "deadlock" else
                                           "stuck: pending work and no action of QEMU enabled"))
        else:
            results.append(InvariantResult(inv.name, exp, "holds" if complete else "unknown",
                                           method="exhaustive" if complete else "",
                                           note="" if complete else "state or time budget exhausted"))
    for skipped, expected in pinned:
        if expected == "skip":
            results.append(InvariantResult(skipped.name, expected, "unknown", note="skipped by the spec"))
    order = {inv.name: k for k, (inv, _e) in enumerate(pinned)}
    results.sort(key=lambda r: order[r.name])
    return EngineResult(len(states), transitions, max_depth, complete, results)


def fair_group_actions(model: Model, fairness: tuple[str, ...] | None = None) -> dict[str, list[int]]:
    """Weak-fairness groups (``fair:actor``), in order of first appearance, with their actions;
    only those whose ``fair`` is in ``fairness`` when given (a property's fairness assumption)."""
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(model.actions):
        if a.fair and (fairness is None or a.fair in fairness):
            groups.setdefault(f"{a.fair}:{a.actor}", []).append(i)
    return groups


def find_lasso(model: Model, bad: Sequence[bool], enabled: Callable[[str, int], bool],
               start: Sequence[int], to: Sequence[int], act: Sequence[int], depth_of: Sequence[int],
               path_to: Callable[[int], list[int]], fairness: tuple[str, ...] | None = None
               ) -> tuple[list[int], int] | None:
    """Shortest-stem fair lasso through states where the goal holds (``bad[u]``).

    The graph is given by state ids: ``start``/``to``/``act`` are the edges in
    compressed form, ``enabled(g, u)`` says whether fairness group ``g`` (a name
    of :func:`fair_group_actions`) has an action enabled at ``u``. Only the groups
    of ``fairness`` are assumed weakly fair (``None``: all). The native engine
    passes its kernel's arrays.
    """
    groups = fair_group_actions(model, fairness)
    group_of = {i: g for g, idxs in groups.items() for i in idxs}
    sccs = _tarjan(len(bad), start, to, bad)
    best: tuple[int, list[int], int] | None = None
    for comp in sccs:
        members = set(comp)
        internal = [(u, k) for u in comp for k in range(start[u], start[u + 1]) if to[k] in members]
        entry = min(comp, key=lambda u: (depth_of[u], u))
        if best is not None and depth_of[entry] >= best[0]:
            continue
        if not internal:
            u = comp[0]
            # a single state: the system may stutter there only if no fair action is enabled
            if any(enabled(g, u) for g in groups):
                continue
            cand = (depth_of[u], path_to(u), len(path_to(u)))
            best = cand if best is None or cand[0] < best[0] else best
            continue
        taken = {group_of.get(act[k]) for _u, k in internal}
        witnesses: list[tuple[str, int]] = []  # ("edge", edge k) or ("state", u)
        fair_ok = True
        for g in groups:
            off = next((u for u in comp if not enabled(g, u)), None)
            if off is not None:
                witnesses.append(("state", off))
            elif g in taken:
                k = next(k for _u, k in internal if group_of.get(act[k]) == g)
                witnesses.append(("edge", k))
            else:
                fair_ok = False
                break
        if not fair_ok:
            continue
        loop_acts = _cycle_through(entry, witnesses, members, start, to, act)
        stem = path_to(entry)
        best = (depth_of[entry], stem + loop_acts, len(stem))
    if best is None:
        return None
    return best[1], best[2]


def _edge_source(k: int, start: Sequence[int]) -> int:
    lo, hi = 0, len(start) - 2
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if start[mid] <= k:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _cycle_through(entry: int, witnesses: list[tuple[str, int]], members: set[int], start: Sequence[int],
                   to: Sequence[int], act: Sequence[int]) -> list[int]:
    """Actions of a cycle from ``entry`` back to it visiting every witness."""
    acts: list[int] = []
    cur = entry
    for kind, w in witnesses:
        if kind == "state":
            acts += _bfs_path(cur, w, members, start, to, act)
            cur = w
        else:
            src = _edge_source(w, start)
            acts += _bfs_path(cur, src, members, start, to, act)
            acts.append(act[w])
            cur = to[w]
    back = _bfs_path(cur, entry, members, start, to, act)
    acts += back
    if not acts:
        # need at least one step to close the loop
        k = next(k for k in range(start[entry], start[entry + 1]) if to[k] in members)
        acts = [act[k], *_bfs_path(to[k], entry, members, start, to, act)]
    return acts


def _bfs_path(src: int, dst: int, members: set[int], start: Sequence[int], to: Sequence[int],
              act: Sequence[int]) -> list[int]:
    if src == dst:
        return []
    prev: dict[int, tuple[int, int]] = {src: (-1, -1)}
    q = deque([src])
    while q:
        u = q.popleft()
        for k in range(start[u], start[u + 1]):
            v = to[k]
            if v in members and v not in prev:
                prev[v] = (u, act[k])
                if v == dst:
                    out = []
                    while v != src:
                        u2, a = prev[v]
                        out.append(a)
                        v = u2
                    out.reverse()
                    return out
                q.append(v)
    raise AssertionError("no path inside a strongly connected component")


def _tarjan(n: int, start: Sequence[int], to: Sequence[int], keep: Sequence[bool]) -> list[list[int]]:
    """Iterative Tarjan SCC over the subgraph induced by ``keep``; O(V + E)."""
    index = [-1] * n
    low = [0] * n
    on = [False] * n
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(n):
        if not keep[root] or index[root] != -1:
            continue
        work = [(root, start[root])]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on[root] = True
        while work:
            u, k = work[-1]
            end = start[u + 1]
            while k < end:
                v = to[k]
                k += 1
                if not keep[v]:
                    continue
                if index[v] == -1:
                    work[-1] = (u, k)
                    index[v] = low[v] = counter
                    counter += 1
                    stack.append(v)
                    on[v] = True
                    work.append((v, start[v]))
                    break
                if on[v]:
                    low[u] = min(low[u], index[v])
            else:
                work.pop()
                if work:
                    p = work[-1][0]
                    low[p] = min(low[p], low[u])
                if low[u] == index[u]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on[w] = False
                        comp.append(w)
                        if w == u:
                            break
                    out.append(comp)
    return out

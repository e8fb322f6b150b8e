"""Deterministic minimisation of a violating path, on the concrete model.

Hypothesis shrinks its choice sequence; that depends on the random stream (a
renamed module changes it) and often leaves whole irrelevant sessions in. The
engine therefore minimises the concrete action path itself, in two passes,
each candidate re-verified by replay:

1. **alphabet-restricted breadth-first search**: only the action instances
   the path uses may be taken. Breadth first over that restricted model
   finds the shortest violating path *made of the same steps* (in any order
   and number); its space is tiny next to the model's, and it is bounded
   (:data:`ALPHABET_STATES` states; beyond, the pass is skipped). The result
   is never longer than the input, which is one such path;
2. **step deletion** (delta debugging): runs of steps, longest first, then
   pairs, to a fixed point. A step whose exact instance is no longer enabled
   is replaced by the enabled instance of the same family sharing most
   parameters.

Both passes are deterministic functions of the path: the minimised length
does not depend on Hypothesis' random choices beyond the action set found.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from qmpmodel.core.model import Model, State, compile_successors, is_stuck
from qmpmodel.engines.hypothesis.properties import Property

__all__ = ["ALPHABET_STATES", "families", "minimise_path", "shortest_with_alphabet"]

#: State budget of the alphabet-restricted search.
ALPHABET_STATES = 200_000

Successors = Callable[[State], list[tuple[int, State]]]


def families(model: Model) -> dict[str, tuple[int, ...]]:
    """Action family -> indices of its instances, in the model's order."""
    out: dict[str, list[int]] = {}
    for i, a in enumerate(model.actions):
        out.setdefault(a.family, []).append(i)
    return {f: tuple(ix) for f, ix in out.items()}


def minimise_path(model: Model, prop: Property, path: Sequence[int], succ: Successors | None = None) -> list[int]:
    """A violating path no longer than ``path``: restricted BFS, then step deletion (see the module)."""
    succ = succ or compile_successors(model)
    best = list(path)
    short = shortest_with_alphabet(model, prop, set(best), succ)
    if short is not None and len(short) < len(best):
        best = short
    fams = families(model)
    violates = _violation_test(model, prop, succ, fams)
    while True:
        states = [model.init]
        for i in best:
            states.append(dict(succ(states[-1]))[i])
        got = _first_deletion(best, states, violates)
        if got is None:
            return best
        best = got


def shortest_with_alphabet(model: Model, prop: Property, alphabet: set[int], succ: Successors,
                           budget: int = ALPHABET_STATES) -> list[int] | None:
    """Breadth-first search for a violation using only actions in ``alphabet``; ``None`` past ``budget``.

    The stuck test of ``no-deadlock`` looks at every enabled action (the
    model's), not only the alphabet's: the restriction limits the path, not
    the semantics.
    """
    parent: dict[State, tuple[State, int] | None] = {model.init: None}
    todo: deque[State] = deque([model.init])
    while todo:
        s = todo.popleft()
        nxt = succ(s)
        if not prop.holds(s, is_stuck(model, nxt)):
            out: list[int] = []
            cur = s
            while True:
                link = parent[cur]
                if link is None:
                    return out[::-1]
                cur, a = link
                out.append(a)
        for a, t in nxt:
            if a in alphabet and t not in parent:
                if len(parent) >= budget:
                    return None
                parent[t] = (s, a)
                todo.append(t)
    return None


def _first_deletion(best: list[int], states: list[State],
                    violates: Callable[[State, Sequence[int]], list[int] | None]) -> list[int] | None:
    """The first violating candidate: the longest deletable run of steps, else a deletable pair."""
    n = len(best)
    for length in range(n - 1, 0, -1):
        for i in range(n - length + 1):
            got = violates(states[i], best[i + length:])
            if got is not None:
                return best[:i] + got
    for i in range(n):
        for j in range(i + 2, n):
            got = violates(states[i], best[i + 1:j] + best[j + 1:])
            if got is not None:
                return best[:i] + got
    return None


def _violation_test(model: Model, prop: Property, succ: Successors,
                    fams: dict[str, tuple[int, ...]]) -> Callable[[State, Sequence[int]], list[int] | None]:
    acts = model.actions

    def closest(i: int, nxt: dict[int, State]) -> int | None:
        a = acts[i]
        cands = [j for j in fams[a.family] if j in nxt]
        if not cands:
            return None
        want = set(a.params)
        return max(cands, key=lambda j: (len(want & set(acts[j].params)), -j))

    def violates(start: State, path: Sequence[int]) -> list[int] | None:
        """Replay ``path`` from ``start`` (closest instances); the steps taken, if they end in a violation."""
        s = start
        out: list[int] = []
        for i in path:
            nxt = dict(succ(s))
            j = i if i in nxt else closest(i, nxt)
            if j is None:
                return None
            out.append(j)
            s = nxt[j]
        return None if prop.holds(s, is_stuck(model, succ(s))) else out

    return violates

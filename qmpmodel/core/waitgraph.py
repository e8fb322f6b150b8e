"""Wait-for cycles of a model: the graph union of its potential wait edges.

A :class:`~qmpmodel.core.model.WaitEdge` says "``waiter`` waits for
``holder`` when ``when`` holds". The union of all potential edges is small
(threads, contexts, locks), so its simple cycles are enumerated once per
model; a state is deadlocked when every edge of one cycle is present in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from qmpmodel.core.expr import Expr, all_of, any_of
from qmpmodel.core.model import Model, WaitEdge

__all__ = ["deadlock_cycles", "no_wait_cycle"]


def deadlock_cycles(edges: Sequence[WaitEdge] | Model) -> list[tuple[WaitEdge, ...]]:
    """Every simple cycle of the union of potential wait-for edges (a model's, or given).

    Parallel edges between two nodes are merged into one edge whose condition
    is their disjunction. The order is deterministic (shortest first, then by
    node names), independent of hash seeds.
    """
    g = nx.MultiDiGraph()
    for e in (edges.wait_edges if isinstance(edges, Model) else edges):
        g.add_edge(e.waiter, e.holder, edge=e)
    simple = nx.DiGraph()
    simple.add_edges_from((u, v) for u, v in g.edges())
    rotated = []
    for cyc in nx.simple_cycles(simple):
        k = cyc.index(min(cyc))
        rotated.append(cyc[k:] + cyc[:k])
    out: list[tuple[WaitEdge, ...]] = []
    for cyc in sorted(rotated, key=lambda c: (len(c), c)):
        choices: list[list[WaitEdge]] = []
        for a, b in zip(cyc, cyc[1:] + cyc[:1], strict=True):
            choices.append([d["edge"] for d in g.get_edge_data(a, b).values()])
        out.append(tuple(c[0] for c in choices) if all(len(c) == 1 for c in choices) else
                   tuple(_merge(c) for c in choices))
    return out


def _merge(edges: list[WaitEdge]) -> WaitEdge:
    e0 = edges[0]
    return WaitEdge(e0.waiter, e0.holder, " / ".join(e.reason for e in edges), any_of(e.when for e in edges))


def no_wait_cycle(edges: Sequence[WaitEdge] | Model) -> Expr:
    """True in a state where no wait-for cycle is complete."""
    return ~any_of(all_of(e.when for e in cyc) for cyc in deadlock_cycles(edges))

"""Wait-for graphs: who waits for whom in one model state, with QEMU's names.

The semantics belong to the model: :func:`wait_for_graph` adds exactly the
:attr:`Model.wait_edges <qmpmodel.core.model.Model.wait_edges>` whose ``when``
holds in the state (the same edges ``no-deadlock`` judges, see
:func:`qmpmodel.invariants.deadlock_cycles`). On top of them it adds
*context* edges, derived from plain state variables, that explain what the
clients are waiting for (a reply to a request that sits in a monitor's input
buffer, its in-band queue, or the dispatcher) and whether a monitor is
suspended. Context edges only leave client, queue and suspend nodes, which no
model edge points at, so they never create a cycle; :func:`find_deadlock_cycle`
ignores them anyway.

Every node carries ``kind`` (``thread``, ``coroutine``, ``lock``, ``context``,
``rcu``, ``counter``, ``bh``, ``queue``, ``suspend``, ``client``) and ``label``
(the QEMU name a reviewer knows); every edge carries ``reasons`` (a tuple),
``label`` (the reasons joined) and ``source`` (``"model"`` or ``"context"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import networkx as nx

from qmpmodel.core.expr import Expr, evaluate
from qmpmodel.core.model import Model, State
from qmpmodel.qemu.probes import Probes

__all__ = [
    "Cycle",
    "cycle_edges",
    "find_deadlock_cycle",
    "node_kind",
    "node_label",
    "normalize_cycle",
    "ref_name",
    "wait_for_graph",
]

#: A wait-for cycle as ``[(waiter, holder), ...]``, each holder the next waiter.
Cycle = list[tuple[str, str]]

_KINDS: tuple[tuple[str, str, str], ...] = (
    # (name pattern, kind, QEMU name shown under the model's name)
    (r"main", "thread", "main loop thread"),
    (r"iothread", "thread", "monitor I/O thread"),
    (r"vcpu\d+", "thread", "vCPU thread"),
    (r"call_rcu", "thread", "call_rcu thread"),
    (r"dispatcher", "coroutine", "qmp_dispatcher_co"),
    (r"hmp_coroutine", "coroutine", "HMP command coroutine"),
    (r"handler_bh", "bh", "do_qmp_dispatch_bh (one-shot BH)"),
    (r"BQL", "lock", "Big QEMU Lock"),
    (r"qmp_queue_lock", "lock", "mon->qmp_queue_lock"),
    (r"qemu_aio_context", "context", "AioContext (main loop)"),
    (r"iohandler_ctx", "context", "AioContext (main loop, iohandlers)"),
    (r"rcu_grace_period", "rcu", "RCU grace period (synchronize_rcu)"),
    (r"bs->in_flight", "counter", "BlockDriverState in-flight counter"),
    (r"mon\d+ queue", "queue", "in-band request queue"),
    (r"mon\d+ input", "queue", "chardev input (unparsed)"),
    (r"mon\d+ suspended", "suspend", "monitor_suspend: reader stopped"),
    (r"client\d+", "client", "QMP client"),
)


def node_kind(name: str) -> str:
    """The kind of a wait-for node, from its name (``"other"`` if unknown)."""
    for pat, kind, _label in _KINDS:
        if re.fullmatch(pat, name):
            return kind
    return "other"


def node_label(name: str) -> str:
    """A two-line label: the model's name and the QEMU name behind it."""
    for pat, _kind, label in _KINDS:
        if re.fullmatch(pat, name):
            return f"{name}\n{label}"
    return name


def ref_name(probes: Probes, ref: int) -> str:
    """The human name ``client{c}#{i}`` of request reference ``ref`` (0: ``-``)."""
    return probes.request_name(ref)


def _as_state(model: Model, state: State | Mapping[str, int | bool]) -> State:
    if isinstance(state, Mapping):
        return model.encode(state)
    return tuple(int(x) for x in state)


def wait_for_graph(model: Model, probes: Probes, state: State | Mapping[str, int | bool]) -> nx.DiGraph:
    """The wait-for graph of ``state`` (a state tuple, or a decoded view)."""
    s = _as_state(model, state)
    g = nx.DiGraph()
    for e in model.wait_edges:
        if evaluate(e.when, s):
            _add(g, e.waiter, e.holder, e.reason, "model")
    _client_context(probes, s, g)
    return g


def _add(g: nx.DiGraph, waiter: str, holder: str, reason: str, source: str) -> None:
    for n in (waiter, holder):
        if n not in g:
            g.add_node(n, kind=node_kind(n), label=node_label(n))
    if g.has_edge(waiter, holder):
        data = g.edges[waiter, holder]
        if reason not in data["reasons"]:
            data["reasons"] = (*data["reasons"], reason)
            data["label"] = " / ".join(data["reasons"])
        if source == "model":
            data["source"] = "model"
        return
    g.add_edge(waiter, holder, reasons=(reason,), label=reason, source=source)


def _client_context(p: Probes, s: State, g: nx.DiGraph) -> None:
    """Clients waiting for replies, and the monitor queue/suspend state they wait behind."""

    def val(e: Expr) -> int:
        return int(evaluate(e, s))

    for c in p.client_ids:
        if not val(p.session_open(c)):
            continue
        m = p.client_monitor(c)
        for i in range(min(val(p.sent(c)), p.requests_per_client)):
            if val(p.answered(c, i)):
                continue
            ref = p.request(c, i)
            why = f"waits for the reply to {p.request_name(ref)}"
            if val(p.executing(m)) and val(p.executing_request()) == ref:
                _add(g, f"client{c}", "dispatcher", why, "context")
            elif val(p.queued(m, ref)):
                where = f"mon{m} queue"
                _add(g, f"client{c}", where, why, "context")
                _add(g, where, "dispatcher", "popped only by the dispatcher coroutine", "context")
            elif val(p.unread(m, ref)):
                where = f"mon{m} input"
                _add(g, f"client{c}", where, why, "context")
                if val(p.suspended(m)):
                    _add(g, where, f"mon{m} suspended", "not read while suspended", "context")
                    _add(g, f"mon{m} suspended", "dispatcher",
                         f"suspend_cnt = {val(p.suspend_cnt(m))}: resumed when the dispatcher pops", "context")
                else:
                    _add(g, where, p.reader_of(m), "parsed by the monitor's reader", "context")


def find_deadlock_cycle(g: nx.DiGraph) -> Cycle | None:
    """The shortest cycle of model wait-for edges (ties: by node names), or ``None``.

    The cycle is rotated to start at its smallest node name, so the answer
    does not depend on networkx' traversal order.
    """
    sub = nx.DiGraph()
    sub.add_edges_from((u, v) for u, v, d in g.edges(data=True) if d.get("source") == "model")
    best: list[str] | None = None
    for cyc in nx.simple_cycles(sub):
        k = cyc.index(min(cyc))
        rot = cyc[k:] + cyc[:k]
        if best is None or (len(rot), rot) < (len(best), best):
            best = rot
    if best is None:
        return None
    return list(zip(best, best[1:] + best[:1], strict=True))


def normalize_cycle(cycle: Sequence[Sequence[str]]) -> Cycle:
    """``cycle`` as ``[(waiter, holder), ...]`` rotated to start at its smallest waiter name."""
    pairs = [(c[0], c[1]) for c in cycle]
    if not pairs:
        return []
    k = min(range(len(pairs)), key=lambda i: pairs[i][0])
    return pairs[k:] + pairs[:k]


def cycle_edges(cycle: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    """``{(waiter, holder)}`` of a cycle given as pairs or as ``(waiter, holder, reason)``."""
    return {(c[0], c[1]) for c in cycle}

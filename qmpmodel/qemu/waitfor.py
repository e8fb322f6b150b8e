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

from qmpmodel.core.expr import evaluate
from qmpmodel.core.model import Model, State
from qmpmodel.statemachine import Consts as K

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


def _requests_per_client(names: Iterable[str]) -> int:
    return sum(1 for n in names if re.fullmatch(r"client0\.answered\d+", n))


def ref_name(model: Model, ref: int) -> str:
    """The human name ``client{c}#{i}`` of request reference ``ref`` (0: ``-``)."""
    nr = _requests_per_client(model.var_names)
    if ref <= 0 or nr == 0:
        return "-" if ref <= 0 else f"req{ref}"
    c, i = divmod(ref - 1, nr)
    return f"client{c}#{i}"


def _as_state(model: Model, state: State | Mapping[str, int | bool]) -> State:
    if isinstance(state, Mapping):
        return model.encode(state)
    return tuple(int(x) for x in state)


def wait_for_graph(model: Model, state: State | Mapping[str, int | bool]) -> nx.DiGraph:
    """The wait-for graph of ``state`` (a state tuple, or a decoded view)."""
    s = _as_state(model, state)
    g = nx.DiGraph()
    for e in model.wait_edges:
        if evaluate(e.when, s):
            _add(g, e.waiter, e.holder, e.reason, "model")
    _client_context(model, s, g)
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


def _client_context(model: Model, s: State, g: nx.DiGraph) -> None:
    """Clients waiting for replies, and the monitor queue/suspend state they wait behind."""
    names = model.var_names
    val = dict(zip(names, s, strict=True))
    nr = _requests_per_client(names)
    mons = sorted({int(m) for n in names for m in re.findall(r"^mon(\d+)\.qlen$", n)})
    dsp_busy = "dsp.pc" in val and val["dsp.pc"] not in (K.D_WAIT, K.D_POP, K.D_EXIT)
    c = 0
    while f"client{c}.sent" in val:
        live = val.get(f"client{c}.st") in (K.C_NEG, K.C_READY)
        for i in range(min(val[f"client{c}.sent"], nr)):
            if not live or val.get(f"client{c}.answered{i}", 1):
                continue
            ref = c * nr + i + 1
            why = f"waits for the reply to {ref_name(model, ref)}"
            where = _where_is(val, mons, ref, dsp_busy)
            if where is None:
                continue
            _add(g, f"client{c}", where, why, "context")
            m = where.split(" ")[0]
            if where.endswith(" input"):
                reader = "iothread" if _reads_on_iothread(model, int(m[3:])) else "main"
                if val.get(f"{m}.suspend_cnt", 0) > 0:
                    _add(g, where, f"{m} suspended", "not read while suspended", "context")
                    _add(g, f"{m} suspended", "dispatcher",
                         f"suspend_cnt = {val[f'{m}.suspend_cnt']}: resumed when the dispatcher pops",
                         "context")
                else:
                    _add(g, where, reader, "parsed by the monitor's reader", "context")
            elif where.endswith(" queue"):
                _add(g, where, "dispatcher", "popped only by the dispatcher coroutine", "context")
        c += 1


def _where_is(val: Mapping[str, int], mons: Sequence[int], ref: int, dsp_busy: bool) -> str | None:
    if dsp_busy and val.get("dsp.req") == ref:
        return "dispatcher"
    for m in mons:
        qlen = val[f"mon{m}.qlen"]
        if any(val.get(f"mon{m}.q{j}") == ref for j in range(qlen)):
            return f"mon{m} queue"
        inlen = val.get(f"mon{m}.inlen", 0)
        if any(val.get(f"mon{m}.in{j}") == ref for j in range(inlen)):
            return f"mon{m} input"
    return None


def _reads_on_iothread(model: Model, m: int) -> bool:
    return any(a.family == "read" and dict(a.params).get("mon") == m and a.actor == "iothread"
               for a in model.actions)


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

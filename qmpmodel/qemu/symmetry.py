"""The symmetry of the QEMU model: interchangeable QMP monitors, each with its clients.

Two QMP monitors are interchangeable when they have the same number of clients
and the same I/O-thread flag (``Bounds.uses_iothread``): nothing else in the
model tells them apart. A group element permutes such monitors; each monitor
carries its clients *in order* (clients of one monitor are not
interchangeable: they connect one after another, ``statemachine.py``
``clients_actions``), and every value that names a monitor, a client or a
request is renamed (the encoding of ``statemachine.py``):

* ``mon{m}.*`` and ``client{c}.*`` variables move to the image monitor's and
  client's slots (``mon{m}.pos``, a position in ``mon_list``, moves with its
  monitor and keeps its value);
* request references ``c * (requests + 1) + i + 1`` (0: none) in
  ``mon{m}.q*``, ``mon{m}.in*``, ``mon{m}.last_id``, ``mon{m}.async*``,
  ``dsp.req``, ``event.deferred`` and ``runstate.event_request`` become ``p(c) * (requests + 1) + i + 1`` (``p``: the client renaming);
* ``mon{m}.conn`` (client + 1, 0: nobody) becomes ``p(c) + 1``;
* ``dsp.mon`` (a monitor index) becomes ``s(m)`` (``s``: the monitor permutation);
* action parameters ``mon``, ``client`` and ``req`` are renamed the same way.

The group is the product of the symmetric groups of the classes of
interchangeable monitors. It is only used once proved sound for the model and
the task's properties (:func:`qmpmodel.core.symcheck.check_group`); a property
that names one monitor or client breaks it, and the note says which.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from qmpmodel.core.expr import Expr, all_of, any_of
from qmpmodel.core.model import Model
from qmpmodel.core.symcheck import check_group
from qmpmodel.core.symmetry import Perm, Symmetry, SymmetryGroup
from qmpmodel.qemu.bounds import Bounds

__all__ = ["monitor_group", "qemu_symmetry"]

_MON = re.compile(r"mon(\d+)\.(.+)")
_CLIENT = re.compile(r"client(\d+)\.(.+)")
_REF_FIELDS = re.compile(r"q\d+|in\d+|last_id|async\d+")
#: Global variables that hold a request reference (the F1 main-loop event request names its request).
_REF_VARS = ("dsp.req", "event.deferred", "runstate.event_request")


def _element(model: Model, bounds: Bounds, sigma: dict[int, int]) -> Perm:
    clients = {m: [c for c in range(bounds.clients) if bounds.monitor_of(c) == m] for m in range(bounds.monitors)}
    pi = {c: c for c in range(bounds.clients)}
    for m, m2 in sigma.items():
        for c, c2 in zip(clients[m], clients[m2], strict=True):
            pi[c] = c2
    nr = bounds.requests + 1

    def ref(r: int) -> int:
        return 0 if r == 0 else pi[(r - 1) // nr] * nr + (r - 1) % nr + 1

    names = {v.name: v.index for v in model.layout.vars}
    src = list(range(len(model.layout.vars)))
    remap: list[tuple[int, ...] | None] = [None] * len(src)
    for v in model.layout.vars:
        dst = v.name
        mm, mc = _MON.fullmatch(v.name), _CLIENT.fullmatch(v.name)
        if mm:
            dst = f"mon{sigma.get(int(mm[1]), int(mm[1]))}.{mm[2]}"
        elif mc:
            dst = f"client{pi[int(mc[1])]}.{mc[2]}"
        i = names[dst]
        src[i] = v.index
        span = range(v.lo, v.hi + 1)
        field = mm[2] if mm else None
        if (field is not None and _REF_FIELDS.fullmatch(field)) or v.name in _REF_VARS:
            remap[i] = tuple(ref(x) if x >= 0 and (x - 1) // nr < bounds.clients else x for x in span)
        elif field == "conn":
            remap[i] = tuple(pi[x - 1] + 1 if 1 <= x <= bounds.clients else x for x in span)
        elif v.name == "dsp.mon":
            remap[i] = tuple(sigma.get(x, x) for x in span)
    remap = [None if r is not None and r == tuple(range(model.layout.vars[i].lo, model.layout.vars[i].hi + 1))
             else r for i, r in enumerate(remap)]
    refs = {r: ref(r) for r in range(bounds.clients * nr + 1)}
    name = "monitors " + ",".join(f"{m}->{m2}" for m, m2 in sorted(sigma.items()) if m != m2)
    return Perm(tuple(src), tuple(remap), {"mon": dict(sigma), "client": pi, "req": refs}, name)


def _domain(model: Model, bounds: Bounds) -> Expr:
    """Which monitor a value belongs to: an inductive invariant the renaming relies on.

    A monitor's queue, input, last id and async slots hold only its own clients'
    requests, its ``conn`` only its own clients, and the dispatcher's current
    request belongs to the monitor ``dsp.mon`` names. (Renaming keeps the order
    of one monitor's requests, which ``inband-fifo`` compares, only within it.)
    """
    nr = bounds.requests + 1
    names = {v.name: v for v in model.layout.vars}
    own = {m: [c for c in range(bounds.clients) if bounds.monitor_of(c) == m] for m in range(bounds.monitors)}
    refs = {m: [c * nr + i + 1 for c in own[m] for i in range(nr)] for m in own}
    parts: list[Expr] = []
    for v in model.layout.vars:
        mm = _MON.fullmatch(v.name)
        if mm is None:
            continue
        m = int(mm[1])
        if _REF_FIELDS.fullmatch(mm[2]):
            parts.append(any_of([v == 0, *(v == r for r in refs[m])]))
        elif mm[2] == "conn":
            parts.append(any_of([v == 0, *(v == c + 1 for c in own[m])]))
    if "dsp.req" in names and "dsp.mon" in names:
        req, mon = names["dsp.req"], names["dsp.mon"]
        parts.append(any_of([req == 0, *((mon == m) & any_of(req == r for r in refs[m]) for m in own)]))
    return all_of(parts)


def monitor_group(model: Model, bounds: Bounds) -> SymmetryGroup | None:
    """Permutations of interchangeable monitors (``None`` when every class has one monitor)."""
    classes: dict[tuple[int, bool, bool], list[int]] = {}
    for m in range(bounds.monitors):
        n = sum(1 for c in range(bounds.clients) if bounds.monitor_of(c) == m)
        # a monitor on a mux chardev (F4) has its own boot behaviour: not interchangeable with others
        classes.setdefault((n, bounds.uses_iothread(m), bounds.on_mux(m)), []).append(m)
    groups = [ms for ms in classes.values() if len(ms) > 1]
    if not groups:
        return None
    per_class = [[dict(zip(ms, p, strict=True)) for p in itertools.permutations(ms)] for ms in groups]
    elements, generators = [], []
    for combo in itertools.product(*per_class):
        sigma = {k: v for part in combo for k, v in part.items()}
        if all(k == v for k, v in sigma.items()):
            continue
        elements.append(_element(model, bounds, sigma))
    for ms in groups:
        # a transposition and a rotation generate the symmetric group of one class
        gens = [{ms[0]: ms[1], ms[1]: ms[0]}]
        if len(ms) > 2:
            gens.append({m: ms[(k + 1) % len(ms)] for k, m in enumerate(ms)})
        generators += [_element(model, bounds, s) for s in gens]
    lo = tuple(v.lo for v in model.layout.vars)
    hi = tuple(v.hi for v in model.layout.vars)
    sizes = ", ".join(f"{len(ms)} monitors ({', '.join(map(str, ms))})" for ms in groups)
    return SymmetryGroup(lo, hi, tuple(elements), tuple(generators),
                         f"{sizes} interchangeable, each with its clients", _domain(model, bounds))


def qemu_symmetry(model: Model, bounds: Bounds, exprs: Sequence[tuple[str, Expr]]) -> Symmetry:
    """The monitor group if it is sound for ``model`` and the named properties, else why not."""
    group = monitor_group(model, bounds)
    if group is None:
        return Symmetry(None, "no two QMP monitors have the same client count and I/O-thread flag")
    why = check_group(model, group, exprs)
    if why is not None:
        return Symmetry(None, f"not sound: {why}")
    return Symmetry(group, f"{group.description}: {group.order} permutations")

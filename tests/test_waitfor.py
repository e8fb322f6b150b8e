"""Wait-for graphs: built from the model's edges, cycles = no-deadlock, pictures name QEMU's resources."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qmpmodel.artefacts.render import dot_to_svg, waitfor_dot, waitfor_mermaid
from qmpmodel.check import check_spec, prepare
from qmpmodel.core.model import compile_predicate, compile_successors
from qmpmodel.invariants import INVARIANTS
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.waitfor import cycle_edges, find_deadlock_cycle, node_kind, wait_for_graph
from qmpmodel.specs import Spec, load_spec

ROOT = Path(__file__).resolve().parent.parent

#: bug letter -> (spec file, inline fallback design and bounds, resources the cycle must name)
BUGS = {
    "C": ("specs/bugs/C-drain-polls-only-aio-context.toml",
          Design({"coroutine_ctx": "iohandler", "main_drain": True}),
          Bounds(monitors=1, clients=1, requests=1, mix=("coroutine",)),
          {"main", "bs->in_flight", "dispatcher", "iohandler_ctx"}),
    "B": ("specs/bugs/B-drain-call-rcu-in-rcu-reader.toml",
          Design({"inband_ctx": "aio", "vcpu_nested_poll": True, "rcu_nested_poll": True}),
          Bounds(monitors=1, clients=1, requests=1, mix=("device-add",), vcpus=1),
          {"vcpu0", "call_rcu", "rcu_grace_period"}),
}


def bug_spec(letter: str) -> Spec:
    path, design, bounds, _names = BUGS[letter]
    if (ROOT / path).exists():
        return load_spec(ROOT / path)
    return Spec(f"<bug {letter}>", f"bug {letter}", "", "", design, bounds,
                tuple((i, "violated" if i.name == "no-deadlock" else "holds") for i in INVARIANTS))


def deadlock_result(letter: str):
    spec = bug_spec(letter)
    r = check_spec(spec)
    inv = next(i for i in r.invariants if i.name == "no-deadlock")
    assert inv.verdict == "violated", f"bug {letter}: no-deadlock not violated"
    assert inv.trace is not None and inv.trace.cycle
    return spec, prepare(spec), inv


@pytest.mark.parametrize("letter", sorted(BUGS))
def test_cycle_at_violation_equals_the_engines(letter: str) -> None:
    _spec, p, inv = deadlock_result(letter)
    g = wait_for_graph(p.model, p.probes, inv.trace.states()[-1])
    cyc = find_deadlock_cycle(g)
    assert cyc is not None
    assert set(cyc) == cycle_edges(inv.trace.cycle)
    assert {n for e in cyc for n in e} == BUGS[letter][3]
    for u, v in cyc:
        assert g.edges[u, v]["source"] == "model" and g.edges[u, v]["label"]


@pytest.mark.parametrize("letter", sorted(BUGS))
def test_graph_cycle_iff_invariant_fails_on_every_reachable_state(letter: str) -> None:
    """The graph's cycle test agrees with no-deadlock's state predicate everywhere."""
    spec = bug_spec(letter)
    p = prepare(spec)
    pred = compile_predicate(p.prop("no-deadlock").expr)
    succ = compile_successors(p.model)
    seen, todo, cycles = {p.model.init}, [p.model.init], 0
    while todo:
        s = todo.pop()
        has_cycle = find_deadlock_cycle(wait_for_graph(p.model, p.probes, s)) is not None
        assert has_cycle == (not pred(s)), p.model.decode(s)
        cycles += has_cycle
        for _a, t in succ(s):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    assert cycles > 0


def test_context_edges_explain_the_waiting_client_and_never_close_a_cycle() -> None:
    _spec, p, inv = deadlock_result("C")
    g = wait_for_graph(p.model, p.probes, inv.trace.states()[-1])
    assert g.has_edge("client0", "dispatcher")
    d = g.edges["client0", "dispatcher"]
    assert d["source"] == "context" and "client0#1" in d["label"]
    for u, _v, d in g.edges(data=True):
        if d["source"] == "context":
            assert node_kind(u) in ("client", "queue", "suspend")
    assert node_kind("BQL") == "lock" and node_kind("iohandler_ctx") == "context"
    assert node_kind("rcu_grace_period") == "rcu" and node_kind("vcpu1") == "thread"


def test_graph_accepts_decoded_views_and_tuples() -> None:
    _spec, p, inv = deadlock_result("B")
    view = inv.trace.states()[-1]
    a, b = wait_for_graph(p.model, p.probes, view), wait_for_graph(p.model, p.probes, p.model.encode(view))
    assert sorted(a.edges) == sorted(b.edges)
    assert find_deadlock_cycle(wait_for_graph(p.model, p.probes, p.model.init)) is None


def _svg_red(svg: str) -> tuple[set[str], int]:
    """Names of nodes drawn red, and the number of red edges, in a Graphviz SVG."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg)
    red_nodes, red_edges = set(), 0
    for grp in root.iter("{http://www.w3.org/2000/svg}g"):
        cls = grp.get("class")
        title = grp.find("s:title", ns)
        shapes = [e for e in grp if e.tag.rsplit("}", 1)[1] in ("polygon", "ellipse", "path")]
        red = any(e.get("stroke") == "#c0392b" for e in shapes)
        if cls == "node" and red and title is not None:
            red_nodes.add(title.text or "")
        elif cls == "edge" and red:
            red_edges += 1
    return red_nodes, red_edges


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
@pytest.mark.parametrize("letter", sorted(BUGS))
def test_svg_highlights_the_cycle_with_qemu_names(letter: str) -> None:
    _spec, p, inv = deadlock_result(letter)
    g = wait_for_graph(p.model, p.probes, inv.trace.states()[-1])
    cyc = find_deadlock_cycle(g)
    svg = dot_to_svg(waitfor_dot(g, cyc, f"bug {letter}"))
    assert svg is not None and svg.lstrip().startswith("<?xml")
    red_nodes, red_edges = _svg_red(svg)
    assert red_nodes == BUGS[letter][3]
    assert red_edges == len(cyc)
    mm = waitfor_mermaid(g, cyc)
    assert mm.startswith("flowchart") and "linkStyle" in mm and "#c0392b" in mm

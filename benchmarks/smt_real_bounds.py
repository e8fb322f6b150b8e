"""Benchmark: proofs of current QEMU's safety properties, per property, and PDR against k-induction.

Table 1, per spec (default: ``specs/qemu-current.toml`` and the real-bounds
specs under ``benchmarks/bounds/``) and per state or deadlock property: which
engine decided it (BMC for a counterexample; the lemma library, i.e. Houdini
then 1-induction; k-induction; PDR), the verdict, the seconds (wall and CPU)
of that decision (the library's own time is printed once per spec), and
whether the proof is parametric (covers more than the spec's bounds). No
proof here is parametric: every "holds" is for the spec's bounds (monitors,
sessions, requests per session, queue length), for executions of any length.
The model keeps per-request state (each request's kind and whether it was
answered, and the flow-control guard counts every earlier unanswered request),
so the inductive invariant is proved per request count; an argument for every
count would need a cutoff or a counter abstraction of the clients.

Table 2 (``--compare``): per property of ``specs/qemu-current.toml`` pinned
``holds``: k-induction alone (k <= 4, every candidate lemma, Houdini-pruned)
against PDR alone (Spacer, no assumptions, z3 resource limit ``--rlimit``).

    python3 benchmarks/smt_real_bounds.py [SPEC ...] [--compare] [--rlimit N] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qmpmodel.check import prepare  # noqa: E402
from qmpmodel.core.results import EngineOptions  # noqa: E402
from qmpmodel.engines.smt import Encoding, Stepper, bad_goal, bmc, pdr, prove  # noqa: E402
from qmpmodel.engines.smt.gate import explicit_hints, goals_for, lemma_library  # noqa: E402
from qmpmodel.engines.smt.run import prove_property  # noqa: E402
from qmpmodel.specs import load_spec  # noqa: E402

#: The default run (about 25 minutes of CPU); ``qemu-current-real-2mon.toml`` (2 monitors x 2 sessions, about
#: 40 minutes) and ``qemu-current-real.toml`` (3 x 2, not decided on this machine) are given by name.
DEFAULT = ["specs/qemu-current.toml", "benchmarks/bounds/qemu-current-2x1.toml", "benchmarks/bounds/qemu-current-3x1.toml"]


class Clock:
    def __init__(self) -> None:
        self.w, self.c = time.perf_counter(), time.process_time()

    def lap(self) -> str:
        w, c = time.perf_counter(), time.process_time()
        out = f"{w - self.w:.1f} / {c - self.c:.1f}"
        self.w, self.c = w, c
        return out


def table(path: str, depth: int) -> None:
    spec = load_spec(str(ROOT / path))
    p = prepare(spec)
    m = p.model
    b = spec.bounds
    print(f"\n### {path}: {b.monitors} monitors, {b.clients} clients, {b.requests} requests each, "
          f"queue_max {b.queue_max}; {len(m.layout.vars)} variables, {len(m.actions)} actions\n", flush=True)
    todo = [(q, e) for q, e in p.task.obligations if e != "skip" and q.kind != "liveness"]
    clk = Clock()
    hints = explicit_hints(m, todo)
    pre = f"diameter {hints.diameter}, {hints.states} states" if hints else "space too large"
    print(f"explicit pre-pass: {pre} ({clk.lap()} s)", flush=True)
    cands = list(p.task.lemmas())
    bv = Encoding(m, [bad_goal(q, m).bad for q, _e in todo] + [e for _n, e in cands])
    li = Encoding(m, [bad_goal(q, m).bad for q, _e in todo] + [e for _n, e in cands], arith="int")
    stepper = Stepper(li)
    rows = []
    for q, e in todo:
        if e != "violated":
            continue
        clk.lap()
        out = bmc(m, goals_for(m, [(q, e)], hints), depth, enc=bv)
        h = out.hits.get(q.name)
        rows.append((q.name, "BMC", f"violated at depth {h.depth}" if h else f"no violation up to {depth}",
                     clk.lap(), "-"))
    clk.lap()
    lib = lemma_library(m, cands, None, bv, stepper)
    print(f"lemma library (Houdini): {len(lib.proved)} of {len(cands)} candidates proved ({clk.lap()} s)\n", flush=True)
    opts = EngineOptions(prove=True, method="auto", depth=depth)
    for q, e in todo:
        if e == "violated":
            continue
        clk.lap()
        r = prove_property(m, q, e, bad_goal(q, m), lib, opts, lambda _k: True, bv, li, stepper, None)
        if isinstance(r, str):
            rows.append((q.name, "k-induction, PDR", "unknown: " + r[:60], clk.lap(), "-"))
            continue
        how = "lemma library" if "library" in r.note and r.method == "k-induction" else r.method
        rows.append((q.name, how, r.text(), clk.lap(), "no (the spec's bounds, any depth)"))
    print("| property | decided by | verdict | seconds (wall / cpu) | parametric |")
    print("|---|---|---|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |", flush=True)


def compare(rlimit: int) -> None:
    p = prepare(load_spec(str(ROOT / "specs/qemu-current.toml")))
    m = p.model
    cands = list(p.task.lemmas())
    bv = Encoding(m, [e for _n, e in cands] + [bad_goal(q, m).bad for q, _e in p.task.obligations if q.kind != "liveness"])
    li = Encoding(m, [e for _n, e in cands] + [bad_goal(q, m).bad for q, _e in p.task.obligations if q.kind != "liveness"],
                  arith="int")
    print("\n### PDR against k-induction, specs/qemu-current.toml (no shared lemma library)\n")
    print("| property | k-induction (k <= 4, Houdini) | s (wall / cpu) | PDR alone | s (wall / cpu) |")
    print("|---|---|---:|---|---:|")
    for q, e in p.task.obligations:
        if e != "holds" or q.kind == "liveness":
            continue
        g = bad_goal(q, m)
        clk = Clock()
        po = prove(m, g, cands, 4, None, bv, Stepper(li))
        t1 = clk.lap()
        pd = pdr(m, g, (), li, rlimit=rlimit)
        t2 = clk.lap()
        kv = po.note if po.verdict == "proved" else f"{po.verdict}: {po.note[:40]}"
        kv = kv if len(kv) < 50 else kv[:47] + "..."
        pv = pd.verdict + (f" ({len(pd.invariant)} lemmas)" if pd.verdict == "proved" else "")
        print(f"| {q.name} | {kv} | {t1} | {pv} | {t2} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("specs", nargs="*")
    ap.add_argument("--depth", type=int, default=30)
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--rlimit", type=int, default=20_000_000)
    a = ap.parse_args()
    for path in a.specs or DEFAULT:
        table(path, a.depth)
    if a.compare:
        compare(a.rlimit)


if __name__ == "__main__":
    main()

"""Benchmark: the z3 engine on the bug specs, and k-induction on current QEMU.

For every spec under ``specs/bugs/`` (or the given paths), and every invariant
the spec pins as ``violated``: seconds until bounded model checking (that
invariant alone, from a fresh solver) returns its first counterexample, with
the depth; the goal is under 5 s each. Then, for ``specs/qemu-current.toml``:
seconds per k-induction attempt for the properties the issue asks to prove.

    python3 benchmarks/smt_bugs.py [SPEC ...] [--depth 30] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qmpmodel.check import prepare  # noqa: E402
from qmpmodel.engines import smt as smt  # noqa: E402
from qmpmodel.invariants import invariant  # noqa: E402
from qmpmodel.specs import load_spec  # noqa: E402

PROVE = ("queue-bound", "suspend-balance", "inband-mutual-exclusion")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("specs", nargs="*")
    ap.add_argument("--depth", type=int, default=30, help="unrolling bound")
    ap.add_argument("--prove-k", type=int, default=3, help="largest k for k-induction")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    paths = a.specs or [str(p.relative_to(ROOT)) for p in sorted((ROOT / "specs" / "bugs").glob("*.toml"))]
    md = a.markdown
    if md:
        print("| spec | invariant | depth | seconds |")
        print("|---|---|---:|---:|")
    worst = 0.0
    for path in paths:
        spec = load_spec(str(ROOT / path) if not Path(path).is_absolute() else path)
        p = prepare(spec)
        for inv, exp in spec.expectations:
            if exp != "violated" or inv.kind == "liveness":
                continue
            t0 = time.perf_counter()
            out = smt.bmc(p.model, [smt.bad_goal(inv.on(p.probes), p.model)], a.depth)
            dt = time.perf_counter() - t0
            hit = out.hits.get(inv.name)
            depth = str(hit.depth) if hit else f"none <= {a.depth}"
            worst = max(worst, dt)
            if md:
                print(f"| {path} | {inv.name} | {depth} | {dt:.2f} |")
            else:
                print(f"{path:<55} {inv.name:<26} depth {depth:>4}  {dt:6.2f} s")
    print(f"\nslowest first counterexample: {worst:.2f} s")
    cur = prepare(load_spec(str(ROOT / "specs" / "qemu-current.toml")))
    lem = list(cur.task.lemmas())
    if md:
        print("\n| k-induction on qemu-current | verdict | k | seconds | note |")
        print("|---|---|---:|---:|---|")
    for name in PROVE:
        t0 = time.perf_counter()
        po = smt.prove(cur.model, smt.bad_goal(invariant(name).on(cur.probes), cur.model), lem, a.prove_k)
        dt = time.perf_counter() - t0
        note = po.note if len(po.note) < 70 else po.note[:67] + "..."
        if md:
            print(f"| {name} | {po.verdict} | {po.k} | {dt:.2f} | {note} |")
        else:
            print(f"prove {name:<26} {po.verdict:<8} k={po.k}  {dt:6.2f} s  {note}")


if __name__ == "__main__":
    main()

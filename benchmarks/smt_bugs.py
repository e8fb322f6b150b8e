"""Benchmark: the z3 engine's gate on the bug specs.

For every spec under ``specs/bugs/`` (or the given paths) and every invariant
it pins as ``violated``: seconds until the gate's first counterexample (the
explicit pre-pass for the shortest depth, then one BMC query at that depth,
as :mod:`qmpmodel.engines.smt.run` does), and the same from a cold BMC (every
depth queried, no hints) for comparison. Goal: under 5 s each. Then the whole
``check --engine smt`` per spec (wall and CPU seconds); goal: under 2 minutes
for ``specs/bugs``.

    python3 benchmarks/smt_bugs.py [SPEC ...] [--cold] [--no-check] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qmpmodel.check import check_spec, prepare  # noqa: E402
from qmpmodel.core.results import EngineOptions  # noqa: E402
from qmpmodel.engines.smt import bad_goal, bmc  # noqa: E402
from qmpmodel.engines.smt.gate import explicit_hints  # noqa: E402
from qmpmodel.specs import load_spec  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("specs", nargs="*")
    ap.add_argument("--depth", type=int, default=30, help="unrolling bound")
    ap.add_argument("--cold", action="store_true", help="also time a cold BMC (no hints)")
    ap.add_argument("--no-check", action="store_true", help="skip the whole-spec check timing")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    paths = a.specs or [str(p.relative_to(ROOT)) for p in sorted((ROOT / "specs" / "bugs").glob("*.toml"))]
    print("| spec | invariant | depth | first counterexample s (wall / cpu) |" + (" cold BMC s |" if a.cold else ""))
    print("|---|---|---:|---:|" + ("---:|" if a.cold else ""))
    worst = 0.0
    check_rows = []
    for path in paths:
        spec = load_spec(str(ROOT / path) if not Path(path).is_absolute() else path)
        p = prepare(spec)
        todo = [(inv, e) for inv, e in p.task.obligations if e != "skip" and inv.kind != "liveness"]
        for inv, exp in todo:
            if exp != "violated":
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            hints = explicit_hints(p.model, [(inv, exp)])
            g = bad_goal(inv, p.model)
            if hints is not None:
                g.upto, g.first = hints.diameter, hints.first.get(inv.name)
            out = bmc(p.model, [g], a.depth)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            hit = out.hits.get(inv.name)
            depth = str(hit.depth) if hit else f"none <= {a.depth}"
            worst = max(worst, dt)
            row = f"| {Path(path).stem} | {inv.name} | {depth} | {dt:.2f} / {dc:.2f} |"
            if a.cold:
                t0 = time.perf_counter()
                bmc(p.model, [bad_goal(inv, p.model)], a.depth)
                row += f" {time.perf_counter() - t0:.2f} |"
            print(row, flush=True)
        if not a.no_check:
            t0, c0 = time.perf_counter(), time.process_time()
            r = check_spec(spec, "smt", EngineOptions(depth=a.depth))
            check_rows.append((Path(path).stem, r.outcome, time.perf_counter() - t0, time.process_time() - c0,
                               sum(1 for i in r.invariants if i.verdict == "holds"),
                               sum(1 for i in r.invariants if i.verdict == "bounded")))
    print(f"\nslowest first counterexample: {worst:.2f} s")
    if check_rows:
        print("\n| spec | outcome | wall s | cpu s | proved | bounded |")
        print("|---|---|---:|---:|---:|---:|")
        for name, outcome, w, c, h, b in check_rows:
            print(f"| {name} | {outcome} | {w:.1f} | {c:.1f} | {h} | {b} |")
        print(f"| total | | {sum(r[2] for r in check_rows):.1f} | {sum(r[3] for r in check_rows):.1f} | | |")


if __name__ == "__main__":
    main()

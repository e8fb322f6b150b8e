"""Benchmark: the Hypothesis engine on every bug spec (specs/bugs/*.toml).

For each invariant a bug spec pins ``violated``: examples and seconds until
Hypothesis' first counterexample, the length Hypothesis shrank it to, the
length after the engine's step-deletion pass, the explicit engine's shortest
length (breadth first), and the ratio final / shortest. Goal: every bug found
within 10 s, ratio at most 1.5.

    python3 benchmarks/hypothesis_bugs.py [--seed 0] [--examples 2000] [--only A-,P-] [--markdown]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from qmpmodel.check import check_spec, prepare
from qmpmodel.engines.hypothesis import compile_properties, replay_violation, search
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--only", default="", help="comma-separated spec name prefixes")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    prefixes = [p for p in a.only.split(",") if p]
    paths = sorted((ROOT / "specs" / "bugs").glob("*.toml"))
    rows = []
    for path in paths:
        if prefixes and not any(path.name.startswith(p) for p in prefixes):
            continue
        spec = load_spec(path)
        pinned = [inv for inv, exp in spec.expectations if exp == "violated" and inv.kind != "liveness"]
        if not pinned:
            continue
        prepared = prepare(spec)
        t0 = time.perf_counter()
        explicit = {r.name: r for r in check_spec(spec).invariants}
        t_explicit = time.perf_counter() - t0
        for inv in pinned:
            (prop,) = compile_properties(prepared.model, [inv.on(prepared.probes)])
            t0 = time.perf_counter()
            out = search(prepared.model, [prop], examples=a.examples, seed=a.seed)
            total = time.perf_counter() - t0
            ex = explicit[inv.name]
            shortest = ex.depth if ex.verdict == "violated" else None
            if out.prop is None:
                rows.append((path.stem, inv.name, "-", "-", "-", "-", str(shortest), "not found", f"{total:.1f}"))
                continue
            assert replay_violation(prepared.model, prop, list(out.path)) is not None
            ratio = f"{len(out.path) / shortest:.2f}" if shortest else "-"
            rows.append((path.stem, inv.name, str(out.examples_to_first), f"{out.seconds_to_first:.2f}",
                         str(len(out.raw_path)), str(len(out.path)), str(shortest), ratio, f"{total:.1f}"))
        del t_explicit
    head = ("spec", "invariant", "examples", "seconds", "hypothesis", "shrunk", "shortest", "ratio", "total s")
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()

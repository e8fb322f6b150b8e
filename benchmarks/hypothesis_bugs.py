"""Benchmark: the Hypothesis engine on every bug spec (specs/bugs/*.toml).

For each invariant a bug spec pins ``violated``, the engine's searches
(:data:`qmpmodel.engines.hypothesis.run.STRATEGIES`, a third of the examples each,
as ``check --engine hypothesis`` runs them): examples until Hypothesis'
first counterexample (over the whole budget), seconds (wall and CPU) of the whole search (finding,
replay and minimisation), the length of the failing run, the
length after the engine's path minimiser, the explicit engine's shortest
length (breadth first), and the ratio final / shortest. Goal: every bug found
within 10 s, ratio at most 1.5. ``--check`` also times
``check --engine hypothesis`` per spec.

    python3 benchmarks/hypothesis_bugs.py [--seed 0] [--examples 200] [--only A-,P-] [--markdown] [--check]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qmpmodel.check import check_spec, prepare  # noqa: E402
from qmpmodel.core.results import EngineOptions  # noqa: E402
from qmpmodel.engines.hypothesis import compile_properties, replay_violation, search  # noqa: E402
from qmpmodel.engines.hypothesis.run import STRATEGIES  # noqa: E402
from qmpmodel.specs import load_spec  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=200, help="per violation (the engine's default: 200)")
    ap.add_argument("--only", default="", help="comma-separated spec name prefixes")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--no-steer", action="store_true", help="plain random search (no distance steering)")
    ap.add_argument("--check", action="store_true", help="also time check --engine hypothesis per spec")
    a = ap.parse_args()
    prefixes = [p for p in a.only.split(",") if p]
    paths = sorted((ROOT / "specs" / "bugs").glob("*.toml"))
    rows = []
    checks: list[tuple[str, str, float, float]] = []
    for path in paths:
        if prefixes and not any(path.name.startswith(p) for p in prefixes):
            continue
        spec = load_spec(path)
        pinned = [inv for inv, exp in spec.expectations if exp == "violated" and inv.kind != "liveness"]
        if not pinned:
            continue
        prepared = prepare(spec)
        explicit = {r.name: r for r in check_spec(spec).invariants}
        for inv in pinned:
            (prop,) = compile_properties(prepared.model, [inv.on(prepared.probes)])
            t0, c0 = time.perf_counter(), time.process_time()
            if a.no_steer:
                out = search(prepared.model, [prop], examples=a.examples, seed=a.seed, steer=False)
            else:  # the engine's searches in turn (qmpmodel.engines.hypothesis.run)
                done = 0
                for k, strategy in enumerate(STRATEGIES):
                    n = (a.examples - done) // (len(STRATEGIES) - k)
                    out = search(prepared.model, [prop], examples=n, seed=a.seed, **strategy)  # type: ignore[arg-type]
                    if out.prop is not None:
                        if out.examples_to_first is not None:
                            out = replace(out, examples_to_first=out.examples_to_first + done)
                        break
                    done += n
            total, cpu = time.perf_counter() - t0, time.process_time() - c0
            ex = explicit[inv.name]
            shortest = ex.depth if ex.verdict == "violated" else None
            if out.prop is None:
                rows.append((path.stem, inv.name, "-", f"{total:.1f} / {cpu:.1f}", "-", "-", str(shortest),
                             "not found"))
                continue
            assert replay_violation(prepared.model, prop, list(out.path)) is not None
            ratio = f"{len(out.path) / shortest:.2f}" if shortest else "-"
            rows.append((path.stem, inv.name, str(out.examples_to_first), f"{total:.1f} / {cpu:.1f}",
                         str(len(out.raw_path)), str(len(out.path)), str(shortest), ratio))
        if a.check:
            t0, c0 = time.perf_counter(), time.process_time()
            r = check_spec(spec, "hypothesis", EngineOptions(examples=a.examples, seed=a.seed))
            checks.append((path.stem, r.outcome, time.perf_counter() - t0, time.process_time() - c0))
    head = ("spec", "invariant", "examples", "search s (wall / cpu)", "failing run", "minimised", "shortest", "ratio")
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        if checks:
            print("\n| spec | outcome | check wall s | cpu s |\n|---|---|---:|---:|")
            for n, o, w, c in checks:
                print(f"| {n} | {o} | {w:.1f} | {c:.1f} |")
            print(f"| total | | {sum(c[2] for c in checks):.1f} | {sum(c[3] for c in checks):.1f} |")
        return
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()

"""Time ``qmpmodel diff`` of each test proposal against current QEMU at the reference bounds.

Prints, per proposal and engine: states of both sides, seconds, and the properties
that changed. Run: python3 benchmarks/diff_reference.py [--engine native] [--bounds SPEC]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from qmpmodel.diff import diff, resolve_side
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parents[1]
PROPOSALS = ["late_resume.py", "fixed_priority.py", "session_tagged_replies.py"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="native")
    ap.add_argument("--bounds", default=str(ROOT / "benchmarks" / "reference.toml"))
    a = ap.parse_args()
    bounds = load_spec(a.bounds).bounds
    print(f"bounds: {bounds.monitors} monitors, {bounds.clients} clients, {bounds.requests} requests, "
          f"mix {', '.join(bounds.mix)}; engine {a.engine}")
    for name in PROPOSALS:
        t0 = time.perf_counter()
        r = diff(resolve_side("qemu-current", "BASE"),
                 resolve_side(str(ROOT / "tests" / "data" / "proposals" / name), "PROPOSED"),
                 bounds=bounds, engine=a.engine)
        dt = time.perf_counter() - t0
        changed = ", ".join(f"{d.name}: {d.change}" for d in r.properties if d.change != "unchanged") or "none"
        print(f"{name:<28} base {r.base.states:>10,} states  proposed {r.proposed.states:>10,} states  "
              f"{dt:7.1f} s   changed: {changed}")


if __name__ == "__main__":
    main()

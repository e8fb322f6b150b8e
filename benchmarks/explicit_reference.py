"""Benchmark: the explicit engine on the reference configuration.

Current-QEMU design, 2 monitors, 2 clients (one per monitor), 3 requests each,
mix quick + exec-oob. Prints distinct states, transitions, seconds, states per
second and peak memory (ru_maxrss) and bytes per visited state.

    python3 benchmarks/explicit_reference.py [--mix quick,oob,coroutine]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

from qmpmodel.engines.explicit import check_explicit
from qmpmodel.invariants import INVARIANTS
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.statemachine import build


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mix", default="quick,oob")
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--tracemalloc", action="store_true", help="measure Python heap (slower)")
    a = ap.parse_args()
    bounds = Bounds(monitors=2, clients=2, requests=a.requests, mix=tuple(a.mix.split(",")))
    design = Design({})
    qm = build(design, bounds, "<benchmark>")
    model = qm.model
    pinned = [(inv.on(qm.design), "holds") for inv in INVARIANTS if inv.kind != "liveness"]
    if a.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    r = check_explicit(model, pinned, max_states=50_000_000)
    dt = time.perf_counter() - t0
    peak_heap = tracemalloc.get_traced_memory()[1] if a.tracemalloc else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"configuration     : current QEMU, 2 monitors, 2 clients, {a.requests} requests each, mix {a.mix}")
    print(f"state variables   : {len(model.layout.vars)}   action instances: {len(model.actions)}")
    print(f"distinct states   : {r.states:,}")
    print(f"transitions       : {r.transitions:,}")
    print(f"max depth         : {r.depth}")
    print(f"seconds           : {dt:.2f}")
    print(f"states per second : {r.states / dt:,.0f}")
    print(f"peak RSS          : {rss / 2**20:,.1f} MiB  ({rss / r.states:,.0f} bytes per state, whole process)")
    bits = sum(max(1, (v.hi - v.lo).bit_length()) for v in model.layout.vars)
    print(f"packed state size : {bits} bits ({(bits + 7) // 8} bytes) from the declared variable ranges")
    if peak_heap is not None:
        print(f"peak Python heap  : {peak_heap / 2**20:,.1f} MiB  ({peak_heap / r.states:,.0f} bytes per state)")


if __name__ == "__main__":
    main()

"""Benchmark: the distributed engine with 1 and 2 Ray workers against the native engine (issue 16).

Configurations as ``native_vs_spin.py`` (current QEMU, one client per monitor, mix quick +
exec-oob, every state invariant and no-deadlock pinned): 2 monitors x 4 requests and 3 x 2. For
each: the native single-process search, then the distributed engine on a fresh local Ray with 1
and with 2 workers (same machine, 2 cores shared with other sessions). Printed per run:

* wall seconds of the search (Ray start-up and worker start-up excluded, kernel compiled and
  cached beforehand) and CPU seconds of each worker process and of the coordinator;
* states per second (wall) and per worker CPU second;
* bytes per state per worker: the kernel's visited set (its own byte count) plus the tree links,
  and each worker's peak resident set (VmHWM, includes Python, numpy and Ray, about 100+ MiB);
* message volume: bytes of successor messages sent to other partitions per level and in total,
  per transition; the largest round (states expanded by one worker in one exchange).

``--levels`` prints the per-level table (frontier, successors, new states, bytes sent) the
scale model in ``docs/distributed-scale.md`` extrapolates from; ``--growth`` prints native state
counts by monitors x requests (the state-space growth the scale model uses); ``--json FILE``
writes every figure.

    python3 benchmarks/distributed_scaling.py [--rows 2x4,3x2,3x2s] [--workers 1,2] [--levels] [--growth]
        [--overhead 1,2,4,8] [--json FILE]

(``3x2s``: 3 x 2 with symmetry, the group proved by z3 before the clock starts.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from native_vs_spin import task_for

from qmpmodel.core.results import EngineOptions
from qmpmodel.engines.native.engine import task_kernel
from qmpmodel.qemu.symmetry import qemu_symmetry

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process, from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_hwm(pid: int) -> int:
    """Peak resident set of a process in bytes (VmHWM)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def native_row(m: int, r: int) -> dict[str, Any]:
    task, _ = task_for(m, r)
    kernel = task_kernel(task)
    stuck = next(k for k, (p, _) in enumerate(task.obligations) if p.kind == "deadlock")
    c0, t0 = self_cpu(), time.perf_counter()
    found = kernel.search(stuck_prop=stuck)
    wall, cpu = time.perf_counter() - t0, self_cpu() - c0
    return {"config": f"{m}x{r}", "engine": "native", "workers": 1, "states": found.states,
            "transitions": found.transitions, "depth": found.depth, "wall": wall, "cpu": [cpu],
            "bytes_per_state": (int(found._ctx.c.cap) * 8 + found.states * 6) / found.states}


def distributed_row(m: int, r: int, workers: int, symmetry: bool = False) -> dict[str, Any]:
    import ray

    from qmpmodel.engines.distributed.cluster import session
    from qmpmodel.engines.distributed.engine import explore_task

    task, bounds = task_for(m, r)
    if symmetry:  # the group's soundness proof (z3) runs before the clock starts
        sym = qemu_symmetry(task.model, bounds, [(p.name, p.expr) for p, _ in task.obligations])
        task = replace(task, symmetry=lambda: sym)
    with session(workers) as s:
        pool = s.pool(workers)
        pids = ray.get([a.pid.remote() for a in pool.actors])
        cpu0 = [proc_cpu(p) for p in pids]
        outs: list[Any] = []
        c0, t0 = self_cpu(), time.perf_counter()
        res = explore_task(task, EngineOptions(max_states=10**10, workers=workers, symmetry=symmetry), None,
                           lambda: pool, outs)
        wall, coord = time.perf_counter() - t0, self_cpu() - c0
        cpu = [proc_cpu(p) - c for p, c in zip(pids, cpu0, strict=True)]
        mem = ray.get([a.memory.remote() for a in pool.actors])
        hwm = [proc_hwm(p) for p in pids]
    out = outs[0]
    sent = sum(lv.sent for lv in out.levels)
    return {"config": f"{m}x{r}" + (" symmetry" if symmetry else ""), "engine": "distributed", "workers": workers, "states": res.states,
            "transitions": res.transitions, "depth": res.depth, "wall": wall, "cpu": cpu, "coordinator_cpu": coord,
            "partition_states": [x["states"] for x in mem],
            "bytes_per_state": [(x["visited"] + x["links"]) / max(1, x["states"]) for x in mem],
            "visited_per_state": [x["visited"] / max(1, x["states"]) for x in mem],
            "hwm": hwm, "sent": sent, "rounds": sum(lv.rounds for lv in out.levels),
            "largest_round": max(lv.largest_round for lv in out.levels),
            "largest_level": max(lv.states for lv in out.levels),
            "levels": [lv.__dict__ for lv in out.levels]}


def overhead_row(workers: int) -> dict[str, Any]:
    """Synchronisation cost: 2 x 2 (55,770 states, 39 levels, one round per level) on ``workers``
    workers, where the search itself is a fraction of a second: wall seconds per exchange (a round
    is 2 exchanges, ranking a level 4; counterexample links are one call per step)."""
    from qmpmodel.engines.distributed.cluster import session
    from qmpmodel.engines.distributed.engine import explore_task

    task, _ = task_for(2, 2)
    with session(workers) as s:
        pool = s.pool(workers)
        explore_task(task, EngineOptions(workers=workers), None, lambda: pool)  # warm: kernel loaded
        outs: list[Any] = []
        t0 = time.perf_counter()
        res = explore_task(task, EngineOptions(workers=workers), None, lambda: pool, outs)
        wall = time.perf_counter() - t0
    levels = outs[0].levels
    exchanges = 2 * sum(lv.rounds for lv in levels) + 4 * len(levels) + 1  # + setup
    return {"workers": workers, "states": res.states, "wall": wall, "exchanges": exchanges,
            "per_exchange": wall / exchanges}


def show(row: dict[str, Any]) -> str:
    cpu = row["cpu"]
    rate = row["states"] / row["wall"]
    per_cpu = row["states"] / max(cpu)  # the slowest worker bounds a level-synchronous search
    base = (f"| {row['config']} | {row['engine']} | {row['workers']} | {row['states']:,} | {row['depth']} | "
            f"{row['wall']:.1f} | {' + '.join(f'{c:.1f}' for c in cpu)} | {rate:,.0f} | {per_cpu:,.0f} | ")
    if row["engine"] == "native":
        return base + f"{row['bytes_per_state']:.1f} (visited + links) | | |"
    bps = " / ".join(f"{b:.1f}" for b in row["bytes_per_state"])
    hwm = " / ".join(f"{h / 2**20:,.0f}" for h in row["hwm"])
    per_tr = row["sent"] / max(1, row["transitions"])
    return base + f"{bps} (visited + links); peak RSS {hwm} MiB | {row['sent'] / 2**20:,.0f} MiB ({per_tr:.1f} B/transition) | {row['coordinator_cpu']:.1f} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="2x4,3x2")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--levels", action="store_true")
    ap.add_argument("--growth", action="store_true")
    ap.add_argument("--json", default="")
    ap.add_argument("--overhead", default="", help="worker counts for the per-exchange cost, e.g. 1,2,4,8")
    args = ap.parse_args()
    rows = []
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores)")
    print("| config | engine | workers | states | depth | wall s | CPU s per worker | states/s (wall) | "
          "states per CPU s of the slowest worker | bytes/state per worker | sent to other partitions | "
          "coordinator CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cfg in filter(None, args.rows.split(",")):
        sym = cfg.endswith("s")  # 3x2s: with symmetry (distributed only)
        m, r = map(int, cfg.rstrip("s").split("x"))
        if not sym:
            row = native_row(m, r)
            rows.append(row)
            print(show(row), flush=True)
        for w in map(int, args.workers.split(",")):
            row = distributed_row(m, r, w, sym)
            rows.append(row)
            print(show(row), flush=True)
        name = f"{m}x{r}" + (" symmetry" if sym else "")
        one = next((x for x in rows if x["config"] == name and x["engine"] == "distributed" and x["workers"] == 1),
                   None)
        for x in rows:
            if one is not None and x["config"] == name and x["engine"] == "distributed" and x["workers"] > 1:
                print(f"  {cfg}: speed-up with {x['workers']} workers: {one['wall'] / x['wall']:.2f} wall, "
                      f"{max(one['cpu']) / max(x['cpu']):.2f} in CPU of the slowest worker; "
                      f"total worker CPU {sum(x['cpu']) / sum(one['cpu']):.2f}x of 1 worker's")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.levels:
        for x in rows:
            if x["engine"] == "distributed" and x["workers"] > 1:
                print(f"\nlevels of {x['config']} with {x['workers']} workers: depth | frontier | successors | "
                      "new | rounds | bytes sent | largest round of one worker")
                for lv in x["levels"]:
                    print(f"{lv['depth']} | {lv['states']} | {lv['successors']} | {lv['new']} | {lv['rounds']} | "
                          f"{lv['sent']} | {lv['largest_round']}")
    if args.growth:
        print("\n| monitors x requests | states | transitions | depth | native search s (CPU) |")
        print("|---|---|---|---|---|")
        for m, r in ((1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3), (2, 4), (3, 1), (3, 2), (4, 1)):
            g = native_row(m, r)
            print(f"| {m}x{r} | {g['states']:,} | {g['transitions']:,} | {g['depth']} | {g['cpu'][0]:.2f} |", flush=True)
            rows.append(g)
    if args.overhead:
        print("\n| workers | states | wall s | exchanges | ms per exchange |")
        print("|---|---|---|---|---|")
        for w in map(int, args.overhead.split(",")):
            o = overhead_row(w)
            print(f"| {w} | {o['states']:,} | {o['wall']:.2f} | {o['exchanges']} | {1000 * o['per_exchange']:.1f} |",
                  flush=True)
            rows.append(o)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Benchmark: the native engine against SPIN on the same exported model (issue 15).

Configurations (current QEMU, one client per monitor, mix quick + exec-oob,
every state invariant and no-deadlock pinned, as ``explicit_reference.py``):
the reference 2 monitors x 3 requests, 2 x 4, 3 x 2, and 3 x 3 with symmetry.
For each: native distinct states/s, visited-set bytes per state (fingerprint
or key table plus parent and action links), peak kernel bytes per state, and
end-to-end seconds including code generation and a cold compile; SPIN on the
Promela export (``qmpmodel export --promela``), without reduction
(``-DNOREDUCE``, depth first) and with its defaults (partial-order reduction,
which has nothing to reduce in a one-process model) plus ``-DCOLLAPSE``.
``--growth`` adds the curve of states and seconds by monitors x requests.
Writes Markdown to ``--out`` (default ``reports/native-benchmark.md``).

    python3 benchmarks/native_vs_spin.py [--rows ref,2x4,3x2,3x3s] [--growth] [--no-spin]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from qmpmodel.core.task import CheckTask
from qmpmodel.engines.native.build import SystemToolchain
from qmpmodel.engines.native.engine import task_kernel
from qmpmodel.engines.spin.promela import export
from qmpmodel.engines.spin.runner import run_pan
from qmpmodel.invariants import INVARIANTS
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.symmetry import qemu_symmetry
from qmpmodel.statemachine import build

#: reachable states (perf-notes.md, confirmed by every engine here), to size SPIN's hash table
EXPECTED = {(2, 3): 697_950, (2, 4): 8_311_364, (3, 2): 13_112_613}
ROWS = {"ref": (2, 3, False), "2x4": (2, 4, False), "3x2": (3, 2, False), "3x3s": (3, 3, True),
        "3x2s": (3, 2, True), "2x3s": (2, 3, True)}


def task_for(monitors: int, requests: int) -> tuple[CheckTask, Bounds]:
    bounds = Bounds(monitors=monitors, clients=monitors, requests=requests, mix=("quick", "oob"))
    design = Design({})
    qm = build(design, bounds, "<benchmark>")
    props = tuple((inv.on(qm.design), "holds") for inv in INVARIANTS if inv.kind != "liveness")
    return CheckTask(qm.model, props), bounds  # type: ignore[arg-type]


def cpu() -> float:
    """CPU seconds of this process and its finished children (gcc, spin, pan): the machine is shared."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def native_row(monitors: int, requests: int, symmetry: bool, cache: Path) -> dict[str, object]:
    t0 = cpu()
    task, bounds = task_for(monitors, requests)
    group = None
    t_sym = 0.0
    if symmetry:
        ts = cpu()
        sym = qemu_symmetry(task.model, bounds, [(p.name, p.expr) for p, _ in task.obligations])
        t_sym = cpu() - ts
        assert sym.group is not None, sym.note
        group = sym.group
    tc = cpu()
    kernel = task_kernel(task, SystemToolchain(cache=cache))
    t_compile = cpu() - tc
    stuck = next(k for k, (p, _) in enumerate(task.obligations) if p.kind == "deadlock")
    ts, wall = cpu(), time.perf_counter()
    found = kernel.search(stuck_prop=stuck, group=group)
    t_search = cpu() - ts
    wall = time.perf_counter() - wall
    total = cpu() - t0
    c = found._ctx.c
    visited = int(c.cap) * 8 + found.states * 6  # table + parent (4) + action (2) per state
    violated = [p.name for (p, _), k in zip(task.obligations, found.found, strict=True) if k >= 0]
    return {"states": found.states, "transitions": found.transitions, "depth": found.depth,
            "search": t_search, "wall": wall, "compile": t_compile, "symcheck": t_sym, "total": total,
            "rate": found.states / t_search, "visited_bps": visited / found.states,
            "peak_bps": found.peak_bytes / found.states, "words": kernel.words, "violated": violated,
            "status": found.status}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="ref,2x4,3x2,3x3s")
    ap.add_argument("--growth", action="store_true")
    ap.add_argument("--no-spin", action="store_true")
    ap.add_argument("--out", default="reports/native-benchmark.md")
    a = ap.parse_args()
    lines = ["# Native engine vs SPIN (issue 15)", "",
             f"Machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f} "
             "(other sessions share the machine: figures are from one run). All seconds are CPU seconds "
             "(process and children: gcc, spin, pan), which a busy machine inflates far less than wall "
             "time; states/s is states per CPU second of the search.", "",
             "| configuration | engine | states | depth | states/s | bytes/state | search s | compile s | end-to-end s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in a.rows.split(","):
        m, r, sym = ROWS[name]
        label = f"{m}x{r}" + (" symmetry" if sym else "") + (" (reference)" if name == "ref" else "")
        with tempfile.TemporaryDirectory() as cache:
            n = native_row(m, r, sym, Path(cache))
        print(label, "native", n, flush=True)
        proof = f" + {n['symcheck']:.1f} proof" if sym else ""
        lines.append(f"| {label} | native | {n['states']:,} | {n['depth']} | {n['rate']:,.0f} | "
                     f"{n['visited_bps']:.1f} visited ({n['peak_bps']:.1f} peak) | {n['search']:.2f} | "
                     f"{n['compile']:.2f}{proof} | {n['total']:.2f} |")
        if a.no_spin or sym:
            if sym:
                lines.append(f"| {label} | SPIN | not run: SPIN has no symmetry reduction here and the "
                             "unreduced space is far beyond memory | | | | | | |")
            continue
        for mode, collapse in (("SPIN -DNOREDUCE", False), ("SPIN POR + COLLAPSE", True)):
            task, _ = task_for(m, r)
            t0 = cpu()
            text = export(task).text
            # a hash table of about two slots per state (pan's -w), so its size does not dominate
            hb = max(18, (EXPECTED.get((m, r), 2**24) * 2).bit_length())
            # depth first (SPIN's default search); POR is SPIN's default, COLLAPSE compresses vectors
            res = run_pan(text, bfs=False, reduce=collapse, collapse=collapse, hash_bits=hb, opt="-O2")
            total = cpu() - t0
            print(label, mode, res.stored, res.search_cpu, res.compile_cpu, res.memory_mib, res.why, flush=True)
            lines.append(f"| {label} | {mode} | {res.stored:,} | {res.depth} | "
                         f"{res.stored / max(res.search_cpu, 1e-9):,.0f} | "
                         f"{res.state_memory_mib * 2**20 / max(res.stored, 1):.1f} states "
                         f"({res.memory_mib * 2**20 / max(res.stored, 1):.1f} with hash table) | {res.search_cpu:.2f} | "
                         f"{res.compile_cpu:.2f} | {total:.2f} |" + ("" if res.complete else f" {res.why}"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    lines += ["", f"Peak RSS of the benchmark process: {rss:,.0f} MiB.", ""]
    if a.growth:
        lines += ["## Growth: states and seconds by monitors x requests (native, no symmetry)", "",
                  "| monitors x requests | states | transitions | depth | search s | end-to-end s |",
                  "|---|---|---|---|---|---|"]
        for m, r in ((1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3), (2, 4), (3, 1), (3, 2)):
            with tempfile.TemporaryDirectory() as cache:
                n = native_row(m, r, False, Path(cache))
            print(f"growth {m}x{r}", n, flush=True)
            lines.append(f"| {m}x{r} | {n['states']:,} | {n['transitions']:,} | {n['depth']} | "
                         f"{n['search']:.2f} | {n['total']:.2f} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The spin engine's one I/O point: run ``spin -a``, compile ``pan.c``, run ``pan``, read its report.

Modes (``pan.c`` compile flags):

* exact (the cross-check): ``-DNOREDUCE -DBFS``: every reachable state is
  stored, breadth first, so the stored-state count equals the explicit
  engine's and the first report of each property is at minimal depth;
* reduced (the benchmark): partial-order reduction and ``-DCOLLAPSE``, depth first.

``pan`` prints ``States= ...`` every million states; those lines feed the
progress callback, which may stop the run (then ``complete`` is false).
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PanResult", "SpinMissing", "run_pan", "spin_available"]

_MARK = re.compile(r"assertion violated \(0==(\d+)\) \(at depth (\d+)\)")
_PROGRESS = re.compile(r"Depth=\s*(\d+)\s+States=\s*([\d.e+]+)")


class SpinMissing(Exception):
    """``spin`` or a C compiler is not installed."""


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def spin_available() -> bool:
    return shutil.which("spin") is not None and shutil.which("cc") is not None


@dataclass
class PanResult:
    stored: int = 0
    transitions: int = 0
    depth: int = 0
    #: assertion mark -> least depth it was reported at
    marks: dict[int, int] = field(default_factory=dict)
    complete: bool = False
    #: why not complete ("stopped", "out of memory", ...)
    why: str = ""
    compile_seconds: float = 0.0
    search_seconds: float = 0.0
    #: CPU seconds of spin + cc, and of pan (children's rusage)
    compile_cpu: float = 0.0
    search_cpu: float = 0.0
    #: pan's "total actual memory usage" (hash table included), and its "actual memory usage for
    #: states", in MiB
    memory_mib: float = 0.0
    state_memory_mib: float = 0.0
    vector_bytes: int = 0
    output: str = ""


def _flags(bfs: bool, reduce: bool, collapse: bool, memlim_mib: int, opt: str) -> list[str]:
    out = [opt, "-DSAFETY", "-w"]
    if not reduce:
        out.append("-DNOREDUCE")
    if bfs:
        out.append("-DBFS")
    if collapse:
        out.append("-DCOLLAPSE")
    if memlim_mib:
        out.append(f"-DMEMLIM={memlim_mib}")
    return out


def run_pan(promela: str, *, bfs: bool = True, reduce: bool = False, collapse: bool = False, memlim_mib: int = 0,
            hash_bits: int = 24, progress: Callable[[int, int], bool] | None = None,
            opt: str = "-O2") -> PanResult:
    """Verify ``promela`` with SPIN; raises :class:`SpinMissing` without spin or a compiler.

    The default (breadth first, no reduction) is the exact mode of the module doc.
    """
    if not spin_available():
        raise SpinMissing("spin is not installed (apt-get install spin)")
    out = PanResult()
    with tempfile.TemporaryDirectory(prefix="qmpmodel-spin-") as tmp:
        d = Path(tmp)
        (d / "model.pml").write_text(promela, encoding="utf-8")
        t0, c0 = time.perf_counter(), _child_cpu()
        gen = subprocess.run(["spin", "-a", "model.pml"], cwd=d, capture_output=True, text=True, check=False)
        if gen.returncode != 0:
            raise ValueError(f"spin -a failed: {(gen.stdout + gen.stderr).strip()[:800]}")
        cc = subprocess.run(["cc", *_flags(bfs, reduce, collapse, memlim_mib, opt), "-o", "pan", "pan.c"], cwd=d,
                            capture_output=True, text=True, check=False)
        if cc.returncode != 0:
            raise ValueError(f"compiling pan.c failed: {cc.stderr.strip()[:800]}")
        out.compile_seconds = time.perf_counter() - t0
        out.compile_cpu = _child_cpu() - c0
        t1, c1 = time.perf_counter(), _child_cpu()
        proc = subprocess.Popen(["./pan", "-c0", "-m100000", f"-w{hash_bits}"], cwd=d, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        stopped = threading.Event()
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = _MARK.search(line)
            if m:
                k, depth = int(m[1]), int(m[2])
                out.marks[k] = min(depth, out.marks.get(k, depth))
            p = _PROGRESS.search(line)
            if p and progress is not None and not stopped.is_set() and not progress(int(float(p[2])), int(p[1])):
                stopped.set()
                proc.kill()
        proc.wait()
        out.search_seconds = time.perf_counter() - t1
        out.search_cpu = _child_cpu() - c1
    text = "".join(lines)
    out.output = text
    m = re.search(r"(\d+) states, stored", text)
    out.stored = int(m[1]) if m else 0
    m = re.search(r"(\d+) transitions \(= stored\+matched\)", text)
    out.transitions = int(m[1]) if m else 0
    m = re.search(r"depth reached (\d+)", text)
    out.depth = int(m[1]) if m else 0
    m = re.search(r"([\d.]+)\s+total actual memory usage", text)
    out.memory_mib = float(m[1]) if m else 0.0
    m = re.search(r"([\d.]+)\s+actual memory usage for states", text)
    out.state_memory_mib = float(m[1]) if m else 0.0
    m = re.search(r"State-vector (\d+) byte", text)
    out.vector_bytes = int(m[1]) if m else 0
    if stopped.is_set():
        out.why = "stopped by the observer"
    elif "out of memory" in text or "pan: reached -DMEMLIM" in text:
        out.why = "memory budget exhausted"
    elif "max search depth too small" in text:
        out.why = "search depth limit reached"
    elif not m and not out.stored:
        out.why = "pan did not finish: " + text.strip()[-300:]
    out.complete = not out.why
    return out

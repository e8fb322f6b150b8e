"""The explicit and z3 engines agree on every spec: same verdicts, same minimal depths.

For each spec under ``specs/`` whose explicit run finishes within a small
state budget, every pinned (not skipped) ``state`` and ``deadlock`` invariant
is judged by both engines. Liveness (``progress``) is not compared: the smt
engine reports it ``unknown``. For ``no-deadlock`` both engines report the
minimal depth of either kind of violation (a wait-for cycle, or stuck with
pending work).

Depth bound: the smt engine unrolls to ``K = min(explicit maximum depth,
CAP)``. When the explicit engine's maximum depth is at most ``CAP`` the
comparison is complete (a ``holds`` from the explicit engine must be a
``holds`` up to ``K`` from z3). Otherwise only violations within ``CAP`` are
compared: an explicit violation deeper than ``CAP`` must be a z3 ``holds up to
CAP``. ``CAP`` is 8 by default to keep the suite fast; set the environment
variable ``QMPMODEL_AGREE_DEPTH`` (e.g. 14, or 50 for every spec in full) to
raise it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qmpmodel.check import prepare
from qmpmodel.engines import smt as smt
from qmpmodel.engines.explicit import check_explicit
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.toml"))
CAP = int(os.environ.get("QMPMODEL_AGREE_DEPTH", "8"))
MAX_STATES = 100_000


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(ROOT / "specs")) for p in SPECS])
def test_engines_agree(path: Path) -> None:
    spec = load_spec(str(path))
    p = prepare(spec)
    pinned = [(inv, exp) for inv, exp in p.task.obligations
              if exp != "skip" and inv.kind in ("state", "deadlock")]
    if not pinned:
        pytest.skip("no state or deadlock invariant pinned")
    ex = check_explicit(p.model, pinned, MAX_STATES)
    if not ex.complete:
        pytest.skip(f"explicit run exceeds {MAX_STATES} states")
    k = min(ex.depth, CAP)
    full = ex.depth <= CAP
    out = smt.bmc(p.model, [smt.bad_goal(inv, p.model) for inv, _ in pinned], k)
    assert not out.stopped
    by = {r.name: r for r in ex.invariants}
    for inv, _exp in pinned:
        e = by[inv.name]
        explicit_depth = e.depth if e.verdict == "violated" else None
        hit = out.hits.get(inv.name)
        smt_depth = hit.depth if hit is not None else None
        if full or explicit_depth is None or explicit_depth <= k:
            assert smt_depth == explicit_depth, (inv.name, "explicit", explicit_depth, "smt", smt_depth, k)
        else:
            assert smt_depth is None, (inv.name, "explicit", explicit_depth, "smt", smt_depth, k)

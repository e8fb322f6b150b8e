"""SPIN, on the exported Promela, agrees with the explicit engine.

Breadth first and without reduction (``-DNOREDUCE -DBFS``), SPIN's stored
states are the model's reachable states, so the count must equal the explicit
engine's exactly; every state and deadlock verdict must agree, and so must the
depth of every violation (breadth first, SPIN reports the least one).

Compiling ``pan.c`` costs seconds per spec, so by default a sample of specs
covering the design axes runs; ``QMPMODEL_SPIN_ALL=1`` runs every spec.
Skipped only where ``spin`` is not installed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qmpmodel.check import prepare
from qmpmodel.core.results import EngineOptions
from qmpmodel.engines import explicit
from qmpmodel.engines.spin import promela
from qmpmodel.engines.spin import run as spin_run
from qmpmodel.engines.spin.runner import run_pan
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parent.parent
ALL = sorted((ROOT / "specs").rglob("*.toml"))
SAMPLE = [ROOT / "specs" / s for s in (
    "tiny.toml",                                   # OOB overtakes: reply-order-all violated
    "bugs/A-vcpu-nested-poll-device-add.toml",     # a wait-for cycle (no-deadlock)
    "bugs/O-coroutine-screendump-hang.toml",       # stuck with pending work, two monitors
    "designs/2010-async-api.toml",                 # the direct-dispatch design
    "mutants/event-deferred.toml",
)]
SPECS = ALL if os.environ.get("QMPMODEL_SPIN_ALL") else SAMPLE

pytestmark = pytest.mark.skipif(shutil.which("spin") is None, reason="spin is not installed")


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(ROOT / "specs")) for p in SPECS])
def test_spin_agrees(path: Path) -> None:
    p = prepare(load_spec(str(path)))
    ex = explicit.run(p.task, EngineOptions(max_states=200_000))
    if not ex.complete:
        pytest.skip("larger than the explicit budget")
    sp = spin_run(p.task, EngineOptions(), opt="-O0")
    assert sp.complete
    assert sp.states == ex.states
    live = {prop.name for prop, _e in p.task.obligations if prop.kind == "liveness"}
    for a, b in zip(ex.invariants, sp.invariants, strict=True):
        if a.name in live or a.expected == "skip":
            assert b.verdict == "unknown"
            continue
        assert (a.name, a.verdict, a.depth) == (b.name, b.verdict, b.depth)


def test_export_is_valid_promela_and_pan_counts_states() -> None:
    """The exported text alone (what ``qmpmodel export --promela`` writes) verifies in SPIN."""
    p = prepare(load_spec(str(ROOT / "specs/tiny.toml")))
    ex = promela.export(p.task, "tiny")
    # SPIN does not judge the liveness properties (they need a fairness-aware never claim)
    assert "d_step" in ex.text and ex.skipped == ("progress", "oob-progress", "resume-progress")
    r = run_pan(ex.text, opt="-O0")
    assert (r.stored, r.complete) == (282, True)  # tests/test_explicit pins 282 states for tiny
    assert set(r.marks) == {promela.MARK + ex.marks.index("reply-order-all")}

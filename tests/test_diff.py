"""``qmpmodel diff``: what a design changes relative to another, on pairs whose answer the reference gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qmpmodel.diff import diff, resolve_side
from qmpmodel.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qmpmodel", *args], cwd=cwd, capture_output=True, text=True)


def changes(base: str, proposed: str) -> dict[str, str]:
    r = diff(resolve_side(base, "BASE"), resolve_side(proposed, "PROPOSED"))
    return {d.name: d.change for d in r.properties if d.change != "unchanged"}


def test_the_fix_of_bug_p_is_reported_fixed_with_the_diverging_step() -> None:
    # §7 P: the stale reply reaches the next session; discarding it is the fix
    r = diff(resolve_side("specs/qemu-current.toml", "BASE"),
             resolve_side("specs/designs/qemu-current-fixed.toml", "PROPOSED"))
    (fixed,) = r.of("fixed")
    assert fixed.name == "no-cross-session-reply" and not r.of("newly violated")
    # the base's 8-step counterexample replays on the fix until its last step, where the reply
    # no longer reaches client1
    assert fixed.divergence.startswith("step 8 (dispatch_capabilities(")
    assert "client1.x_foreign_reply is false in the proposal" in fixed.divergence
    assert r.outcome == "met"


def test_command_dropped_against_flow_control() -> None:
    # §4, §7 D: COMMAND_DROPPED answers a request only with an event; flow control suspends instead
    assert changes("specs/bugs/D-command-dropped.toml", "specs/bugs/D-fixed-suspend-on-full.toml") == {
        "exactly-once-reply": "fixed"}


def test_coroutine_dispatcher_against_the_iohandler_bh() -> None:
    # §3.4: effd60c8 moved non-coroutine handlers back to an iohandler_ctx BH (context discipline)
    c = changes("specs/designs/2020-coroutine-dispatcher.toml", "specs/designs/2023-iohandler-bh.toml")
    assert c.get("context-discipline") == "fixed"
    assert "newly violated" not in c.values()


@pytest.mark.parametrize("proposal, prop", [("late-resume.toml", "oob-progress"),
                                            ("fixed-priority.toml", "bounded-bypass")])
def test_the_test_proposals_add_the_violation_a_reviewer_asks_about(tmp_path: Path, proposal: str,
                                                                     prop: str) -> None:
    out = tmp_path / "out"
    r = run("diff", "qemu-current", f"tests/data/proposals/{proposal}", "--json", str(tmp_path / "d.json"),
            "--markdown", str(tmp_path / "d.md"), "--out", str(out))
    assert r.returncode == 1, r.stdout + r.stderr  # adds a violation
    doc = json.loads((tmp_path / "d.json").read_text())
    by = {p["name"]: p for p in doc["properties"]}
    assert by[prop]["change"] == "newly violated" and by[prop]["base"]["verdict"] == "holds"
    assert doc["outcome"] == "contradicted" and doc["changed_steps"]
    md = (tmp_path / "d.md").read_text()
    assert f"### Newly violated: {prop}" in md and "\n1. " in md  # the counterexample as numbered steps
    assert list(out.glob(f"*{prop}.itf.json"))  # written like check --out


def test_design_specific_checks_are_not_compared() -> None:
    # suspend-accounting is current QEMU's own bookkeeping: a design with another resume policy
    # differs there by construction, which says nothing about the patch
    c = changes("qemu-current", "tests/data/proposals/late-resume.toml")
    assert "suspend-accounting" not in c


def test_bad_sides_are_bad_input() -> None:
    with pytest.raises(InputError, match="a spec"):
        resolve_side("nonsense", "BASE")
    r = run("diff", "qemu-current", "specs/nope.toml")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1

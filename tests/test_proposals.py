"""Proposals written as files outside the package, checked with no change to the package.

The three proposals under ``tests/data/proposals/`` use only ``qmpmodel.api``;
their expected verdicts come from the domain reference and the QMP spec:

* late resume breaks the promise of out-of-band execution (QMP spec
  "Out-of-band execution": an exec-oob request is read and answered even while
  in-band commands block);
* fixed-priority service lets one monitor bypass another without the bound
  that round robin over mon_list gives (§3.4 step 1, §8.19);
* tagging requests with their session fixes bug P (§7 P) and loses no reply
  of a live session.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qmpmodel.check import check_spec, prepare
from qmpmodel.core.results import EngineOptions
from qmpmodel.engines import smt
from qmpmodel.engines.explicit import check_explicit
from qmpmodel.errors import InputError
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parents[1]
PROPOSALS = ROOT / "tests" / "data" / "proposals"


def verdicts(spec: str, engine: str = "explicit") -> dict[str, str]:
    r = check_spec(load_spec(PROPOSALS / spec), engine)
    return {i.name: i.verdict for i in r.invariants}


def test_late_resume_breaks_oob_progress_only() -> None:
    v = verdicts("late-resume.toml")
    assert v["oob-progress"] == "violated"
    # nothing else a client relies on breaks at these bounds: QEMU still answers everything
    for name in ("progress", "exactly-once-reply", "reply-order", "suspend-balance", "no-deadlock"):
        assert v[name] == "holds", name


def test_fixed_priority_breaks_bounded_bypass() -> None:
    v = verdicts("fixed-priority.toml")
    assert v["bounded-bypass"] == "violated"
    assert v["progress"] == "holds"  # every request is still answered: starvation needs unbounded runs


def test_session_tags_fix_bug_p_with_their_own_variable_and_property() -> None:
    spec = load_spec(PROPOSALS / "session-tagged-replies.toml")
    p = prepare(spec)
    assert "dsp.session" in p.model.var_names  # the proposal's own state variable
    assert [i.name for i in spec.properties] == ["no-lost-reply"]  # and its own property
    v = verdicts("session-tagged-replies.toml")
    assert v["no-cross-session-reply"] == "holds" and v["no-lost-reply"] == "holds"
    assert verdicts("../../../specs/qemu-current.toml")["no-cross-session-reply"] == "violated"


@pytest.mark.parametrize("name", ["late_resume.py", "fixed_priority.py", "session_tagged_replies.py"])
def test_a_proposal_is_one_short_file_using_the_public_api(name: str) -> None:
    text = (PROPOSALS / name).read_text()
    assert len(text.splitlines()) <= 40
    imports = [ln for ln in text.splitlines() if ln.startswith(("import ", "from "))]
    assert imports and all(ln.startswith("from qmpmodel.api import") for ln in imports)


@pytest.mark.parametrize("spec", ["late-resume.toml", "fixed-priority.toml", "session-tagged-replies.toml"])
def test_engines_agree_on_proposals(spec: str) -> None:
    """The explicit engine, z3's BMC and Hypothesis judge the proposals' state properties alike."""
    s = load_spec(PROPOSALS / spec)
    p = prepare(s)
    pinned = [(prop, e) for prop, e in p.task.obligations if e != "skip" and prop.kind == "state"]
    ex = {r.name: r for r in check_explicit(p.model, pinned).invariants}
    cap = 8
    out = smt.bmc(p.model, [smt.bad_goal(prop, p.model) for prop, _e in pinned], cap)
    for prop, _e in pinned:
        e = ex[prop.name]
        hit = out.hits.get(prop.name)
        if e.verdict == "violated" and e.depth is not None and e.depth <= cap:
            assert hit is not None and hit.depth == e.depth, prop.name
        else:
            assert hit is None, prop.name
    hyp = check_spec(s, "hypothesis", EngineOptions(examples=30, seed=0))
    for r in hyp.invariants:
        if r.verdict == "violated":
            assert ex[r.name].verdict == "violated", r.name  # random search never invents a violation


def test_conformance_sees_what_a_proposal_changes_on_the_wire() -> None:
    """Real QEMU 7.2 writes a dropped session's reply to the next one (bug P, recorded); the
    session-tagged design cannot produce that transcript, current QEMU can."""
    from qmpmodel.conformance.conform import conform_file, load_conform_spec

    t = ROOT / "tests" / "data" / "transcripts" / "disconnect-while-running.jsonl"
    assert conform_file(t, load_conform_spec(ROOT / "specs" / "qemu-current.toml")).verdict == "accepted"
    r = conform_file(t, load_conform_spec(PROPOSALS / "session-tagged-replies.toml"))
    assert r.verdict == "rejected" and "reply" in r.message


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qmpmodel", *args], cwd=cwd, capture_output=True, text=True)


BAD = {
    "typo.py": ("from qmpmodel.api import Monitor, QemuCurrent, Update\n\n\nclass T(QemuCurrent):\n"
                "    def early_resum(self, m: Monitor, u: Update) -> None:\n        pass\n",
                "line 5: expected an override of an existing step", "did you mean 'early_resume'"),
    "private.py": ("from qmpmodel.qemu.harness import Harness\n", "line 1: expected imports from qmpmodel.api only", ""),
    "syntax.py": ("from qmpmodel.api import QemuCurrent\nclass X(QemuCurrent)\n    pass\n",
                  "line 2: expected valid Python", ""),
    "signature.py": ("from qmpmodel.api import Monitor, QemuCurrent\n\n\nclass S(QemuCurrent):\n"
                     "    def early_resume(self, mon: Monitor) -> None:\n        pass\n",
                     "line 5: expected early_resume(self, m, u)", ""),
    "range.py": ("from qmpmodel.api import QemuCurrent, StateLayout\n\n\nclass R(QemuCurrent):\n"
                 "    def declare_extra(self, layout: StateLayout) -> None:\n        self.v = layout.int('x', 3, 1)\n",
                 "line 6: expected a consistent model", "empty range 3..1"),
    "overflow.py": ("from qmpmodel.api import Monitor, QemuCurrent, StateLayout, Update\n\n\nclass O(QemuCurrent):\n"
                    "    def declare_extra(self, layout: StateLayout) -> None:\n        self.pops = layout.int('dsp.pops', 0, 1)\n\n"
                    "    def early_resume(self, m: Monitor, u: Update) -> None:\n        super().early_resume(m, u)\n"
                    "        u[self.pops] = self.pops + 1\n",
                    "line 10: expected dsp.pops within its declared range 0..1", "got 2 after dispatcher_pop"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_proposals_are_one_line_naming_file_and_line(tmp_path: Path, name: str) -> None:
    text, want, hint = BAD[name]
    (tmp_path / name).write_text(text)
    (tmp_path / "s.toml").write_text(f'[design]\nproposal = "{name}"\n[bounds]\nrequests = 2\n')
    r = run("check", "s.toml", "--json", "out.json", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert name in lines[0] and want in lines[0] and hint in lines[0], lines[0]
    assert not (tmp_path / "out.json").exists()


def test_new_proposal_writes_a_starter_that_checks(tmp_path: Path) -> None:
    r = run("new-proposal", "my-idea", "--dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "my_idea.py").exists() and (tmp_path / "my-idea.toml").exists()
    r = run("check", str(tmp_path / "my-idea.toml"), "-q")
    assert r.returncode == 0, r.stdout + r.stderr  # the starter is current QEMU, expectations pinned as QEMU's
    again = run("new-proposal", "my-idea", "--dir", str(tmp_path))
    assert again.returncode == 2 and "never overwrites" in again.stderr


def test_steps_lists_qemu_functions_and_marks_a_proposals_changes() -> None:
    r = run("steps", str(PROPOSALS / "late-resume.toml"))
    assert r.returncode == 0
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines()}
    assert "monitor_qmp_dispatcher_co (early resume)" in lines["early_resume"]
    assert "[changed by LateResume]" in lines["early_resume"] and "[changed by" not in lines["serves_next"]


def test_unknown_proposal_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text('[design]\nproposal = "missing.py"\n')
    with pytest.raises(InputError, match="an existing proposal file"):
        load_spec(tmp_path / "s.toml")


def test_proposals_doc_reference_is_current() -> None:
    r = subprocess.run([sys.executable, "tools/proposals_doc.py", "--check"], cwd=ROOT)
    assert r.returncode == 0, "run: python3 tools/proposals_doc.py"


def test_committed_review_is_current(tmp_path: Path) -> None:
    out = tmp_path / "late-resume.md"
    run("diff", "qemu-current", "tests/data/proposals/late-resume.toml", "--markdown", str(out))
    assert out.read_text() == (ROOT / "reports" / "diff" / "late-resume.md").read_text(), \
        "regenerate: qmpmodel diff qemu-current tests/data/proposals/late-resume.toml --markdown reports/diff/late-resume.md"

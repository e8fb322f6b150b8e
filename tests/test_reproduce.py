"""``qmpmodel reproduce``: planning, judging, and runs against a real QEMU.

The judges are checked on transcripts recorded from QEMU 7.2.22
(``tests/data/transcripts``), whose facts the reference states: a blocked
command's reply reaches the next session (§7 P, ``disconnect-while-running``),
an OOB reply overtakes a blocked in-band one while in-band replies keep their
order (§3.10, ``oob-overtakes-blocked``), the parser's recovery swallows a
request (§3.2, ``errors``). The planner is checked on the bug specs'
counterexamples against what the reference says a client can and cannot
force. The ``qemu`` tests run the real thing.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from qmpmodel.artefacts.itf import read_itf, write_itf
from qmpmodel.artefacts.report import write_artefacts, write_report
from qmpmodel.check import check_spec, prepare
from qmpmodel.cli import main
from qmpmodel.conformance.repro_judge import judge
from qmpmodel.conformance.reproduce import analyse, reproduce
from qmpmodel.conformance.transcript import load_transcript
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "transcripts"
QEMU = shutil.which("qemu-system-x86_64")
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")

P = "specs/bugs/P-reply-to-next-session.toml"
T = "specs/bugs/T-parser-recovery-swallows.toml"
U = "specs/bugs/U-exec-oob-error-bypasses-queue.toml"
B = "specs/bugs/B-drain-call-rcu-in-rcu-reader.toml"
C = "specs/bugs/C-drain-polls-only-aio-context.toml"
D = "specs/bugs/D-command-dropped.toml"


@pytest.fixture(scope="module")
def cex(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """The explicit engine's shortest counterexamples of a few bug specs, as ITF files."""
    out = tmp_path_factory.mktemp("cex")
    files = {}
    for spec in (P, T, U, B, C, D):
        r = check_spec(load_spec(str(ROOT / spec)), "explicit")
        for inv in r.invariants:
            if inv.trace is not None:
                path = out / f"{Path(spec).stem}.{inv.name}.itf.json"
                write_itf(path, inv.trace, spec, inv.name)
                files[(spec, inv.name)] = path
    return files


def _analyse(path: Path, spec: str, literal: bool = False):  # type: ignore[no-untyped-def]
    return analyse(read_itf(path), prepare(load_spec(str(ROOT / spec))), str(path), literal=literal)


# -- judges on real QEMU transcripts ---------------------------------------------------


def test_judge_cross_session_on_recorded_bug_p() -> None:
    lines = load_transcript(DATA / "disconnect-while-running.jsonl")
    j = judge("no-cross-session-reply", lines, {})
    assert j.violated and 'c2 received the reply with id "c1-blocks"' in j.evidence
    assert not judge("no-cross-session-reply", load_transcript(DATA / "two-monitors.jsonl"), {}).violated


def test_judge_reply_order_on_oob_overtaking() -> None:
    lines = load_transcript(DATA / "oob-overtakes-blocked.jsonl")
    j = judge("reply-order-all", lines, {})
    assert j.violated and '"oob-1"' in j.evidence and '"ib-blocks-1"' in j.evidence
    # in-band replies keep issue order, even the malformed err-2 after blocks-2 (qmp-test.c)
    assert not judge("reply-order", lines, {}).violated
    assert not judge("reply-order-all", load_transcript(DATA / "pipeline-20.jsonl"), {}).violated


def test_judge_swallowed_request_is_lost() -> None:
    lines = load_transcript(DATA / "errors.jsonl")
    j = judge("exactly-once-reply", lines, {"swallowed": "c1"})
    assert j.violated and "never parsed" in j.evidence
    # every request that was parsed got exactly one reply
    assert not judge("exactly-once-reply", lines, {"last": "c1", "split": "c1"}).violated


# -- planning ----------------------------------------------------------------------------


def test_p_is_not_forceable_and_is_substituted_by_a_held_command(cex: dict[tuple[str, str], Path]) -> None:
    an = _analyse(cex[(P, "no-cross-session-reply")], P)
    assert an.runnable and an.plan is not None
    p = an.plan
    assert not p.literal and p.deterministic
    assert "blocking" in p.kinds.values()
    assert [op.what for op in p.ops].count("release") == 1
    # the explanation names the request that cannot be held and the substitution
    text = " ".join(p.notes)
    assert "qmp_capabilities" in text and "substitution" in text
    lit = _analyse(cex[(P, "no-cross-session-reply")], P, literal=True).plan
    assert lit is not None and lit.literal and lit.outcome == "none"
    assert any("connect(client=1)" in r for r in lit.races)


def test_t_is_deterministic_and_u_is_a_race(cex: dict[tuple[str, str], Path]) -> None:
    t = _analyse(cex[(T, "exactly-once-reply")], T).plan
    assert t is not None and t.literal and t.deterministic
    assert any(op.what == "closer" for op in t.ops)
    u = _analyse(cex[(U, "reply-order-all")], U).plan
    # the exec-oob error overtakes only if it is written before the in-band reply: a race
    assert u is not None and u.literal and u.outcome == "none" and u.races


@pytest.mark.parametrize(("spec", "inv", "needle"), [
    (B, "no-deadlock", "mmio_nested_poll"),
    (C, "no-deadlock", "drain_begin"),
    (B, "rcu-discipline", "not visible on the wire"),
])
def test_undrivable_counterexamples_exit_3_without_running(cex: dict[tuple[str, str], Path], spec: str, inv: str,
                                                             needle: str) -> None:
    an = _analyse(cex[(spec, inv)], spec)
    res = reproduce(an, qemu="/nonexistent/qemu")  # never started
    assert res.exit_code == 3 and res.tries == 0
    assert needle in res.reason


def test_a_design_qemu_does_not_implement_is_not_reproduced(cex: dict[tuple[str, str], Path]) -> None:
    res = reproduce(_analyse(cex[(D, "exactly-once-reply")], D), qemu="/nonexistent/qemu")
    assert res.exit_code == 1 and "queue_full = 'drop'" in res.reason


def test_bad_input_exits_2(tmp_path: Path, cex: dict[tuple[str, str], Path]) -> None:
    bad = tmp_path / "bad.itf.json"
    bad.write_text("{", encoding="utf-8")
    r = CliRunner().invoke(main, ["reproduce", str(bad)])
    assert r.exit_code == 2 and "bad.itf.json" in r.output
    # a trace of one spec checked against another spec's model
    r = CliRunner().invoke(main, ["reproduce", str(cex[(P, "no-cross-session-reply")]), "--spec", str(ROOT / T)])
    assert r.exit_code == 2


# -- artefacts and report ------------------------------------------------------------------


def test_check_out_prints_reproduce_only_for_client_observable(tmp_path: Path) -> None:
    results = [check_spec(load_spec(str(ROOT / s)), "explicit") for s in (P, C)]
    results = [dataclasses.replace(r, spec=s) for r, s in zip(results, (P, C), strict=True)]
    prepared = {s: prepare(load_spec(str(ROOT / s))) for s in (P, C)}
    said: list[str] = []
    write_artefacts(results, prepared, tmp_path, echo=said.append)
    assert len(said) == 1 and "qmpmodel reproduce" in said[0] and "P-reply-to-next-session" in said[0]
    md = (tmp_path / "bugs-P-reply-to-next-session.no-cross-session-reply.md").read_text(encoding="utf-8")
    assert "qmpmodel reproduce" in md


def test_report_marks_committed_reproductions(tmp_path: Path) -> None:
    r = check_spec(load_spec(str(ROOT / P)), "explicit")
    r = dataclasses.replace(r, spec=P)
    prepared = {P: prepare(load_spec(str(ROOT / P)))}
    write_report([r], prepared, tmp_path, ("md",))
    assert "reproduced on QEMU" not in (tmp_path / "index.md").read_text(encoding="utf-8")
    entry = {"spec": P, "invariant": "no-cross-session-reply", "verdict": "reproduced", "tries": 1, "hits": 1,
             "qemu": "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", "plan": {"literal": False},
             "evidence": "line 18: c2 received the reply with id \"c1-1\""}
    (tmp_path / "reproductions.json").write_text(json.dumps({"entries": [entry]}), encoding="utf-8")
    write_report([r], prepared, tmp_path, ("md",))
    assert "reproduced on QEMU 7.2.22" in (tmp_path / "index.md").read_text(encoding="utf-8")
    page = (tmp_path / "cex" / "bugs-P-reply-to-next-session.no-cross-session-reply.md").read_text(encoding="utf-8")
    assert "reproduced on QEMU 7.2.22" in page and "a substitution" in page


# -- against a real QEMU ---------------------------------------------------------------------


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.qemu
@needs_qemu
def test_reproduce_bug_p_on_qemu(tmp_path: Path, cex: dict[tuple[str, str], Path]) -> None:
    out, js = tmp_path / "p.jsonl", tmp_path / "p.json"
    r = CliRunner().invoke(main, ["reproduce", str(cex[(P, "no-cross-session-reply")]), "--spec", str(ROOT / P),
                                  "--out", str(out), "--json", str(js), "--tries", "3"])
    assert r.exit_code == 0, r.output
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["verdict"] == "reproduced" and doc["conform"]["verdict"] == "accepted"
    # read the transcript directly: a reply on the second connection carries an id the first one wrote
    lines = _lines(out)
    written = {ln["msg"]["id"]: ln["conn"] for ln in lines  # type: ignore[index]
               if ln["dir"] == "->" and isinstance(ln.get("msg"), dict) and "id" in ln["msg"]}  # type: ignore[operator]
    crossed = [ln for ln in lines if ln["dir"] == "<-" and isinstance(ln.get("msg"), dict)
               and written.get(ln["msg"].get("id")) not in (None, ln["conn"])]  # type: ignore[union-attr]
    assert crossed and crossed[0]["conn"] == "c2"


@pytest.mark.qemu
@needs_qemu
def test_reproduce_bug_t_on_qemu(tmp_path: Path, cex: dict[tuple[str, str], Path]) -> None:
    out = tmp_path / "t.jsonl"
    r = CliRunner().invoke(main, ["reproduce", str(cex[(T, "exactly-once-reply")]), "--spec", str(ROOT / T),
                                  "--out", str(out), "--tries", "3"])
    assert r.exit_code == 0, r.output
    lines = _lines(out)
    garbage = [ln for ln in lines if ln["dir"] == "->" and ln.get("msg") is None and '"id"' in str(ln.get("raw"))]
    replies = [ln for ln in lines if ln["dir"] == "<-" and isinstance(ln.get("msg"), dict)
               and ("return" in ln["msg"] or "error" in ln["msg"])]  # type: ignore[operator]
    # two requests written after negotiation, one parse error answered: the other was swallowed (§3.2)
    assert len(garbage) == 2
    assert [m["msg"] for m in replies[1:]] == [
        {"error": {"class": "GenericError", "desc": "JSON parse error, expected separator in dict"}}]

"""The CLI contract: exit codes, the one-line bad-input message, --json, nothing half-written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "qmpmodel.cli", *args], cwd=cwd, capture_output=True, text=True)


def write(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_check_tiny_exits_0_and_prints_verdicts(tmp_path):
    out = tmp_path / "r.json"
    r = run("check", "specs/tiny.toml", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "reply-order-all" in r.stdout and "violated at depth 13" in r.stdout
    assert "282 states, 436 transitions, depth 20" in r.stdout
    doc = json.loads(out.read_text())
    assert set(doc) == {"qmpmodel", "results"}
    (res,) = doc["results"]
    assert {"spec", "engine", "states", "transitions", "depth", "seconds", "complete", "met", "invariants"} <= set(res)
    assert res["engine"] == "explicit" and res["complete"] is True and res["met"] is True
    inv = {i["name"]: i for i in res["invariants"]}
    roa = inv["reply-order-all"]
    assert roa["expected"] == "violated" and roa["verdict"] == "violated" and roa["depth"] == 13
    assert len(roa["trace"]) == 13 and all({"action", "actor"} <= set(s) for s in roa["trace"])
    assert inv["reply-order"]["trace"] is None and inv["reply-order"]["depth"] is None


def test_unmet_expectation_exits_1(tmp_path):
    spec = write(tmp_path, '[bounds]\nmonitors = 1\nclients = 1\nrequests = 2\nmix = ["quick", "oob"]\n')
    r = run("check", str(spec))
    assert r.returncode == 1
    assert "!! reply-order-all" in r.stdout and "expected holds" in r.stdout


def test_expected_violation_not_found_exits_1(tmp_path):
    spec = write(tmp_path, '[bounds]\nmonitors = 1\nclients = 1\nrequests = 1\nmix = ["quick"]\n'
                 '[expect]\nno-cross-session-reply = "violated"\n')
    assert run("check", str(spec)).returncode == 1


def test_budget_gives_unknown_and_exit_3(tmp_path):
    # a budget that runs out is inconclusive (3), never a violation (1) nor "holds" (0)
    r = run("check", "specs/qemu-current.toml", "--max-states", "100")
    assert r.returncode == 3, r.stdout
    assert "unknown" in r.stdout and "incomplete" in r.stdout


BAD = [
    ("bad toml", "[bounds\nmonitors = 1\n", "expected valid TOML"),
    ("unknown axis", '[design]\nclosed_resum = false\n', "did you mean 'closed_resume'"),
    ("bad axis value", '[design]\nqueue_full = "dropp"\n', "did you mean 'drop'"),
    ("unknown invariant", '[expect]\nreply-ordr = "violated"\n', "did you mean 'reply-order'"),
    ("bad expectation", '[expect]\nreply-order = "violatd"\n', "did you mean 'violated'"),
    ("wrong type", '[bounds]\nmonitors = "two"\n', "bounds.monitors: expected an integer"),
    ("unknown kind", '[bounds]\nmix = ["quik"]\n', "did you mean 'quick'"),
    ("unknown bound", '[bounds]\nrequest = 2\n', "did you mean 'requests'"),
    ("unknown table", '[bound]\nrequests = 2\n', "did you mean 'bounds'"),
    ("out of range", '[bounds]\nmonitors = 9\n', "bounds.monitors: expected an integer from 1 to 4"),
]


@pytest.mark.parametrize(("what", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_spec_is_one_line_exit_2_and_writes_nothing(tmp_path, what, text, message):
    spec = write(tmp_path, text)
    out = tmp_path / "out.json"
    r = run("check", "specs/tiny.toml", str(spec), "--json", str(out))
    assert r.returncode == 2, (what, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert str(spec) in lines[0] and message in lines[0]
    assert r.stdout == "" and not out.exists()


def test_missing_file_and_unknown_engine_are_bad_input(tmp_path):
    r = run("check", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run("check", "specs/tiny.toml", "--engine", "explicitt")
    assert r.returncode == 2 and "did you mean 'explicit'" in r.stderr


def test_invariants_lists_the_library():
    r = run("invariants")
    assert r.returncode == 0
    for name in ("suspend-balance", "no-cross-session-reply", "progress"):
        assert name in r.stdout
    assert "§7 P" in r.stdout or "bug P" in r.stdout

"""The CLI contract: exit codes everywhere, bad input (every mistake, one line each), --json, files written."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from cli_support import ENV, P_SPEC, ROOT, cli, run, unpinned_p, write

from qmpmodel.cli import main

# -- exit status --------------------------------------------------------------------------


def test_check_tiny_exits_0_and_writes_the_results_document(tmp_path):
    out = tmp_path / "r.json"
    r = cli("check", "specs/tiny.toml", "--json", str(out))
    assert r.exit_code == 0, r.output
    assert "reply-order-all" in r.output and "violated at depth 13" in r.output
    assert "282 states, 436 transitions, depth 20" in r.output
    doc = json.loads(out.read_text())
    assert set(doc) == {"qmpmodel", "outcome", "exit", "results"}
    assert doc["outcome"] == "met" and doc["exit"] == 0
    (res,) = doc["results"]
    assert {"spec", "engine", "states", "transitions", "depth", "seconds", "complete", "met", "outcome",
            "invariants"} <= set(res)
    assert res["engine"] == "explicit" and res["complete"] is True and res["met"] is True
    inv = {i["name"]: i for i in res["invariants"]}
    roa = inv["reply-order-all"]
    assert roa["expected"] == "violated" and roa["verdict"] == "violated" and roa["depth"] == 13
    assert roa["outcome"] == "met" and roa["detail"] == "counterexample"
    assert len(roa["trace"]) == 13 and all({"action", "actor"} <= set(s) for s in roa["trace"])
    ro = inv["reply-order"]
    assert ro["trace"] is None and ro["depth"] is None
    assert ro["verdict"] == "holds" and ro["detail"] == "exhaustive" and ro["text"] == "holds"


def test_bug_P_pinned_violated_exits_0_unpinned_exits_1(tmp_path):
    # §7 P: the reply of A's command reaches the next session B; the spec pins it violated
    assert cli("check", P_SPEC).exit_code == 0
    r = cli("check", str(unpinned_p(tmp_path)), "--json", str(tmp_path / "r.json"))
    assert r.exit_code == 1, r.output
    assert "!! no-cross-session-reply" in r.output and "expected holds" in r.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["outcome"] == "contradicted" and doc["exit"] == 1
    (inv,) = [i for i in doc["results"][0]["invariants"] if i["name"] == "no-cross-session-reply"]
    assert inv["outcome"] == "contradicted" and inv["detail"] == "counterexample"


def test_unmet_expectation_exits_1(tmp_path):
    spec = write(tmp_path, '[bounds]\nmonitors = 1\nclients = 1\nrequests = 2\nmix = ["quick", "oob"]\n')
    r = cli("check", str(spec))
    assert r.exit_code == 1
    assert "!! reply-order-all" in r.output and "expected holds" in r.output


def test_expected_violation_not_found_exits_1(tmp_path):
    spec = write(tmp_path, '[bounds]\nmonitors = 1\nclients = 1\nrequests = 1\nmix = ["quick"]\n'
                 '[expect]\nno-cross-session-reply = "violated"\n')
    r = cli("check", str(spec))
    assert r.exit_code == 1
    assert "no-cross-session-reply: holds, expected violated" in r.output


def test_budget_gives_unknown_and_exit_3(tmp_path):
    # a budget that runs out is inconclusive (3), never a violation (1) nor "holds" (0)
    out = tmp_path / "r.json"
    r = cli("check", "specs/qemu-current.toml", "--max-states", "100", "--json", str(out))
    assert r.exit_code == 3, r.output
    assert "unknown" in r.output and "incomplete" in r.output
    doc = json.loads(out.read_text())
    assert doc["outcome"] == "inconclusive" and doc["exit"] == 3
    details = {i["detail"] for i in doc["results"][0]["invariants"] if i["verdict"] == "unknown"}
    assert details == {"budget"}


def test_report_exit_status_follows_the_expectations(tmp_path):
    spec = unpinned_p(tmp_path)
    r = cli("report", str(spec), "--out", str(tmp_path / "rep"), "--format", "md")
    assert r.exit_code == 1, r.output  # a report of a contradicted expectation never exits 0
    assert (tmp_path / "rep" / "index.md").exists()
    assert "1 expectation contradicted" in r.output
    r = cli("report", "specs/qemu-current.toml", "--out", str(tmp_path / "rep2"), "--format", "md",
            "--max-states", "100")
    assert r.exit_code == 3, r.output
    assert cli("report", P_SPEC, "--out", str(tmp_path / "rep3"), "--format", "md").exit_code == 0


def test_conform_exit_3_when_the_search_is_cut_by_its_budget():
    t = "tests/data/transcripts/negotiate.jsonl"
    r = cli("conform", t, "--spec", "specs/qemu-current.toml", "--max-states", "5")
    assert r.exit_code == 3, r.output
    assert "1 undecided" in r.output
    assert cli("conform", t, "--spec", "specs/qemu-current.toml").exit_code == 0


def test_reach_exit_status_against_expect():
    goal = "mon[0].suspend_cnt > 1"  # §3.3: one request suspends once; tiny has one monitor, one request
    r = cli("reach", "specs/tiny.toml", "--goal", goal, "--engine", "explicit", "--expect", "unreachable")
    assert r.exit_code == 0 and "every reachable state explored" in r.output
    assert cli("reach", "specs/tiny.toml", "--goal", goal, "--engine", "explicit").exit_code == 1
    r = cli("reach", "specs/tiny.toml", "--goal", goal, "--depth", "3")  # bounded: undecided
    assert r.exit_code == 3 and "unreachable within 3" in r.output
    r = cli("reach", "specs/tiny.toml", "--goal", "mon[0].suspended", "--expect", "unreachable")
    assert r.exit_code == 1 and "reachable at depth" in r.output


GATING = ["check", "conform", "report", "reach", "replay"]


@pytest.mark.parametrize("command", GATING)
def test_help_documents_the_exit_status(command):
    r = cli(command, "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for line in ("0 all met", "1 contradicted: a pinned expectation is contradicted", "2 bad input",
                 "3 inconclusive: nothing contradicted, something undecided"):
        assert line in text, (command, line)


# -- bad input ------------------------------------------------------------------------------


BAD = [
    ("bad toml", "[bounds\nmonitors = 1\n", "expected valid TOML"),
    ("unknown axis", '[design]\nclosed_resum = false\n', "did you mean 'closed_resume'"),
    ("bad axis value", '[design]\nqueue_full = "dropp"\n', 'did you mean "drop"'),
    ("unknown invariant", '[expect]\nreply-ordr = "violated"\n', "did you mean 'reply-order'"),
    ("bad expectation", '[expect]\nreply-order = "violatd"\n', "did you mean 'violated'"),
    ("wrong type", '[bounds]\nmonitors = "two"\n', "bounds.monitors: expected an integer"),
    ("unknown kind", '[bounds]\nmix = ["quik"]\n', "did you mean 'quick'"),
    ("unknown bound", '[bounds]\nrequest = 2\n', "did you mean 'requests'"),
    ("unknown table", '[bound]\nrequests = 2\n', "did you mean 'bounds'"),
    ("out of range", '[bounds]\nmonitors = 9\n', "bounds.monitors: expected an integer from 1 to 4"),
    ("bool as a string", '[design]\nhop_all = "true"\n', "did you mean true"),
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


def test_boolean_hint_is_valid_toml(tmp_path):
    # `hop_all = "true"` is a string: the hint must be the TOML boolean `true`, never Python's `True`
    spec = write(tmp_path, '[design]\nhop_all = "true"\noob = "False"\n')
    r = cli("check", str(spec))
    assert r.exit_code == 2
    assert "design.hop_all: expected one of false, true" in r.output
    assert "did you mean true (a boolean: no quotes)?" in r.output
    assert "did you mean false (a boolean: no quotes)?" in r.output
    assert "True" not in r.output.replace('"False"', "")


def test_every_mistake_of_every_spec_is_reported_at_once(tmp_path):
    a = write(tmp_path, '[design]\nclosed_resum = false\nqueue_full = "dropp"\n[bounds]\nmonitors = "two"\n'
              '[expect]\nreply-ordr = "violated"\n[check]\nmax_state = 1\n', "a.toml")
    b = write(tmp_path, '[bounds]\nmix = ["quik", "oob", "blockng"]\n', "b.toml")
    out = tmp_path / "out"
    r = run("check", str(a), "specs/tiny.toml", str(b), "--json", str(out / "r.json"), "--out", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    wanted = [(a, "design.closed_resum"), (a, "design.queue_full"), (a, "bounds.monitors"),
              (a, "expect.reply-ordr"), (a, "check.max_state"), (b, "bounds.mix[0]"), (b, "bounds.mix[2]")]
    assert len(lines) == len(wanted), lines
    for line, (f, key) in zip(lines, wanted, strict=True):
        assert line.startswith(f"qmpmodel: {f}: {key}: expected"), line
    assert r.stdout == "" and not out.exists()


def test_directories_hold_specs_and_other_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny.toml").write_text((ROOT / "specs/tiny.toml").read_text())
    r = run("check", ".", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 spec: all expectations met" in r.stdout and "pyproject" not in r.stdout + r.stderr
    r = run("check", "pyproject.toml", cwd=tmp_path)  # named explicitly: bad input
    assert r.returncode == 2
    assert r.stderr.strip() == ("qmpmodel: pyproject.toml: expected a spec: a TOML file with a [design], "
                                "[bounds], [expect] or [commands] table (got tables [build-system], "
                                "[project], [tool])")


def test_missing_file_and_unknown_engine_are_bad_input(tmp_path):
    r = cli("check", str(tmp_path / "nope.toml"))
    assert r.exit_code == 2 and "no such file" in r.output
    r = cli("check", "specs/tiny.toml", "--engine", "explicitt")
    assert r.exit_code == 2 and "did you mean 'explicit'" in r.output


# -- files written ---------------------------------------------------------------------------


def _modes(d: Path) -> dict[str, int]:
    return {p.relative_to(d).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in d.rglob("*") if p.is_file()}


def test_output_files_are_0644_under_umask_022(tmp_path):
    out = tmp_path / "o"
    r = run("check", "specs/tiny.toml", "--json", str(out / "r.json"), "--junit", str(out / "j.xml"),
            "--sarif", str(out / "r.sarif"), "--out", str(out / "cex"), umask=0o022)
    assert r.returncode == 0, r.stderr
    r = run("report", "specs/tiny.toml", "--out", str(out / "report"), umask=0o022)
    assert r.returncode == 0, r.stderr
    modes = _modes(out)
    assert {"r.json", "j.xml", "r.sarif", "report/index.html"} <= set(modes)
    assert any(n.endswith(".itf.json") for n in modes) and any(n.endswith(".md") for n in modes)
    assert {n: m for n, m in modes.items() if m != 0o644} == {}
    assert not [p for p in out.rglob(".*")], "temporary files left behind"


def test_transcript_writer_creates_directories_and_0644(tmp_path):
    from qmpmodel.conformance.record import write_transcript

    old = os.umask(0o022)
    try:
        write_transcript([{"t": 0, "dir": "--", "conn": "c1", "event": "connect"}], tmp_path / "out" / "t.jsonl")
    finally:
        os.umask(old)
    f = tmp_path / "out" / "t.jsonl"
    assert json.loads(f.read_text())["event"] == "connect"
    assert stat.S_IMODE(f.stat().st_mode) == 0o644


def test_json_dash_writes_the_document_to_stdout(tmp_path):
    r = run("check", str(ROOT / "specs/tiny.toml"), "--json", "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # nothing but the document on stdout
    assert doc["results"][0]["spec"] == str(ROOT / "specs/tiny.toml")
    assert "1 spec: all expectations met" in r.stderr
    assert not (tmp_path / "-").exists()
    r = run("conform", "tests/data/transcripts/negotiate.jsonl", "--spec", "specs/qemu-current.toml", "--json", "-")
    assert r.returncode == 0 and json.loads(r.stdout)["results"][0]["verdict"] == "accepted"
    r = cli("check", "specs/tiny.toml", "--json", "-", "--sarif", "-")
    assert r.exit_code == 2 and "--json and --sarif" in r.output


def test_unwritable_output_is_bad_input(tmp_path):
    (tmp_path / "f").write_text("")
    r = cli("check", "specs/tiny.toml", "--json", str(tmp_path / "f" / "r.json"))
    assert r.exit_code == 2
    assert str(tmp_path / "f" / "r.json") in r.output and "Traceback" not in r.output


# -- the command line itself ------------------------------------------------------------------


def test_entry_points_and_one_module_per_subcommand():
    assert isinstance(main, click.Group)
    assert {"check", "conform", "report", "reach", "replay", "record", "schema", "invariants"} <= set(main.commands)
    for name, cmd in main.commands.items():
        assert cmd.callback is not None
        mod = cmd.callback.__module__
        assert mod.startswith("qmpmodel.cli.") and mod != "qmpmodel.cli.main", (name, mod)
    r = subprocess.run([sys.executable, "-m", "qmpmodel", "--version"], cwd=ROOT, capture_output=True, text=True,
                       env=ENV)
    assert r.returncode == 0 and "qmpmodel" in r.stdout
    for f in (ROOT / "qmpmodel" / "cli").glob("*.py"):
        assert len(f.read_text().splitlines()) <= 400, f


def test_invariants_lists_the_library():
    r = cli("invariants")
    assert r.exit_code == 0
    for name in ("suspend-balance", "no-cross-session-reply", "progress"):
        assert name in r.output
    assert "§7 P" in r.output or "bug P" in r.output


def _untimed(doc):
    """A results document without its clock readings."""
    if isinstance(doc, dict):
        return {k: _untimed(v) for k, v in doc.items() if k not in ("seconds", "elapsed", "created")}
    if isinstance(doc, list):
        return [_untimed(v) for v in doc]
    return doc


def test_jobs_check_specs_in_parallel_with_the_same_results_and_order(tmp_path):
    specs = [str(unpinned_p(tmp_path)), P_SPEC, "specs/bugs/D-command-dropped.toml", "specs/tiny.toml"]
    one = run("check", *specs, "--json", str(tmp_path / "one.json"))
    two = run("check", *specs, "-j", "2", "--json", str(tmp_path / "two.json"))
    assert one.returncode == two.returncode == 1, two.stderr
    docs = [json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json")]
    assert [r["spec"] for r in docs[1]["results"]] == [r["spec"] for r in docs[0]["results"]]
    assert _untimed(docs[0]) == _untimed(docs[1])
    # the printed lines too, in spec order (times aside)
    def strip(out):
        return [line.split(",")[0] for line in out.splitlines() if "/" in line and "wrote" not in line]
    assert strip(one.stdout) == strip(two.stdout)


def test_jobs_with_workers_is_bad_input():
    r = cli("check", "specs/tiny.toml", "--workers", "2", "-j", "2")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1


def test_input_errors_cross_process_boundaries_intact():
    """check -j sends a worker's bad-input error back to the parent: it must pickle."""
    import pickle

    from qmpmodel.errors import InputError, InputErrors

    one = InputError("a.toml", "bounds.monitors", "an integer 1-4", "9", "see specs/README.md")
    both = InputErrors([one, InputError("b.toml", None, "a spec")])
    for e in (one, both):
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e)

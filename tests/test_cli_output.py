"""What `check`, `replay` and `reach --help` print: the pytest-like run, traces, -k, -x, colour, replay hints."""

import json
import os
import pty
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import ENV, P_FIXED, P_SPEC, ROOT, cli, run, unpinned_p, write

from qmpmodel.errors import InputError

ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: §3.3: with one monitor and one request, suspend_cnt never exceeds 1; budget 100 never finishes qemu-current.
CAPPED = "[check]\nmax_states = 100\n"


def _lines_under(out: str, spec: str) -> list[str]:
    """The indented lines printed under ``spec``'s own line."""
    lines = out.splitlines()
    i = next(k for k, ln in enumerate(lines) if f" {spec}: " in ln)
    block = []
    for ln in lines[i + 1:]:
        if not ln.startswith("   "):
            break
        block.append(ln)
    return block


def test_default_output_is_a_line_per_spec_and_the_non_holding_properties():
    r = cli("check", "specs/tiny.toml", P_SPEC)
    assert r.exit_code == 0
    spec_lines = [ln for ln in r.output.splitlines() if ln.startswith(("ok ", "FAIL", "??"))]
    assert [ln.split()[1] for ln in spec_lines] == ["specs/tiny.toml:", f"{P_SPEC}:"]
    # tiny pins reply-order-all violated (exec-oob overtakes, §4); P pins no-cross-session-reply (§7 P)
    assert [ln.split()[0] for ln in _lines_under(r.output, "specs/tiny.toml")] == ["reply-order-all"]
    assert [ln.split()[0] for ln in _lines_under(r.output, P_SPEC)] == ["no-cross-session-reply"]
    assert "holds (expected holds)" not in r.output
    assert r.output.splitlines()[-1] == "2 specs: all expectations met"


def test_verbose_prints_every_property_and_quiet_only_the_summary():
    r = cli("check", "specs/tiny.toml", "-v")
    under = _lines_under(r.output, "specs/tiny.toml")
    assert len(under) == len(set(under)) > 10
    assert any("suspend-balance" in ln and "holds (expected holds)" in ln for ln in under)
    q = cli("check", "specs/tiny.toml", "-q")
    assert q.exit_code == 0
    assert q.output.splitlines() == [q.output.splitlines()[0], "1 spec: all expectations met"]
    assert "transitions" in q.output.splitlines()[0]


def test_unexpected_violation_prints_the_trace_of_bug_P(tmp_path):
    spec = unpinned_p(tmp_path)
    r = cli("check", str(spec))
    assert r.exit_code == 1
    under = _lines_under(r.output, str(spec))
    assert under[0].split()[:2] == ["!!", "no-cross-session-reply"]
    # the failing clause in words, then the trace
    assert under[1].strip().startswith("why: client1 received a reply to a request another session sent")
    assert "trace (" in under[2]
    steps = [ln.split(None, 2)[1:] for ln in under[2:] if re.match(r"\s+\d+\.", ln)]
    labels = [label for _actor, label in steps]

    def at(prefix: str) -> int:
        return next(k for k, lab in enumerate(labels) if lab.startswith(prefix))

    # §7 P: A connects and sends; the dispatcher pops A's command; A disconnects; B connects; B gets A's reply
    assert at("connect(client=0)") < at("send(client=0") < at("dispatcher_pop") < at("connect(client=1)")
    assert at("disconnect(client=0)") < at("connect(client=1)")
    assert "client1" in under[-1]  # the last step is what B receives
    # each step names the QEMU function it models, and values are decoded
    assert "[monitor_qmp_dispatcher_pop_any]" in r.output and "dsp.req: client0#0 (1)" in r.output
    assert len(steps) == int(re.search(r"violated at depth (\d+)", under[0]).group(1))


def test_the_end_lists_contradicted_and_undecided_separately(tmp_path):
    p = unpinned_p(tmp_path)
    capped = write(tmp_path, (ROOT / "specs/qemu-current.toml").read_text() + "\n" + CAPPED, "capped.toml")
    r = cli("check", str(p), str(capped), "specs/tiny.toml")
    assert r.exit_code == 1
    lines = r.output.splitlines()
    c = lines.index("contradicted (1):")
    assert lines[c + 1] == f"  {p}::no-cross-session-reply: violated at depth 8, expected holds"
    u = next(k for k, ln in enumerate(lines) if ln.startswith("undecided ("))
    n = int(re.match(r"undecided \((\d+)\):", lines[u]).group(1))
    section = [ln for ln in lines[u + 1:] if ln.startswith("  ")]
    assert all(ln.startswith(f"  {capped}") and "unknown" in ln and "budget" in ln for ln in section)
    # alike undecided properties of one spec share a line: "SPEC: N properties: unknown, ..."
    counts = [int(m.group(1)) if (m := re.match(rf"  {re.escape(str(capped))}: (\d+) properties: ", ln)) else 1
              for ln in section]
    assert n > 0 and sum(counts) == n
    assert lines[-1] == f"3 specs: 1 expectation contradicted, {n} undecided"
    assert "??" in lines[next(k for k, ln in enumerate(lines) if f" {capped}: " in ln)]


def test_out_says_where_the_trace_is_and_the_replay_command_works(tmp_path):
    spec = unpinned_p(tmp_path)
    out = tmp_path / "o"
    r = cli("check", str(spec), "--out", str(out))
    assert r.exit_code == 1
    m = re.search(r"written to (\S+); replay with `(qmpmodel replay [^`]+)`", r.output)
    assert m, r.output
    assert Path(m.group(1)).exists()
    assert re.search(rf"wrote \d+ files to {re.escape(str(out))}/ \(1 counterexample\)", r.output)
    argv = shlex.split(m.group(2))
    assert cli(*argv[1:]).exit_code == 0


def test_markdown_replay_hint_works_from_where_check_ran(tmp_path):
    # relative paths, run from a directory that is neither the repository nor the output directory
    work = tmp_path / "work"
    (work / "specs").mkdir(parents=True)
    (work / "specs" / "P.toml").write_text((ROOT / P_SPEC).read_text())
    r = run("check", "specs/P.toml", "--out", "out", cwd=work)
    assert r.returncode == 0, r.stderr
    (md,) = (work / "out").glob("*no-cross-session-reply.md")
    m = re.search(r"with `(qmpmodel replay [^`]+)`", md.read_text())
    assert m, md.read_text()
    argv = shlex.split(m.group(1))
    r = subprocess.run([sys.executable, "-m", "qmpmodel.cli", *argv[1:]], cwd=work, capture_output=True,
                       text=True, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("reproduced: no-cross-session-reply violated")


def test_k_selects_specs_and_properties(tmp_path):
    out = tmp_path / "r.json"
    r = cli("check", "specs/bugs/", "-k", "bugs/P- and not fixed and (no-cross or reply-order)", "--json", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    got = {(x["spec"], i["name"]) for x in doc["results"] for i in x["invariants"]}
    specs = {s for s, _ in got}
    assert specs == {P_SPEC, "specs/bugs/P-stale-capabilities-suspend.toml", "specs/bugs/P-stale-capabilities-events.toml"}
    assert {n for _, n in got} == {"no-cross-session-reply", "reply-order", "reply-order-all"}
    assert "properties deselected by -k" in r.output.splitlines()[-1]
    r = cli("check", "specs/bugs/", "-k", f"{P_SPEC}::no-cross-session-reply", "-q")
    assert r.exit_code == 0 and r.output.splitlines()[-1].startswith("1 spec: all expectations met")


def test_k_bad_pattern_and_empty_selection_are_bad_input():
    r = cli("check", "specs/tiny.toml", "-k", "tiny and (reply")
    assert r.exit_code == 2 and "column 16" in r.output and "expected ')'" in r.output
    r = cli("check", "specs/tiny.toml", "-k", "no-such-property")
    assert r.exit_code == 2 and "selecting at least one property" in r.output


@pytest.mark.parametrize(("pattern", "selected"), [
    ("no-cross", True), ("NO-CROSS", True), ("P-reply", True), ("fixed", False), ("not fixed", True),
    ("bugs/ and (fixed or no-cross)", True), ("tiny or reply-order", False), ("toml::no-cross", True),
])
def test_k_semantics(pattern, selected):
    from qmpmodel.cli.select import item_names, parse_selector

    assert parse_selector(pattern)(item_names(P_SPEC, "no-cross-session-reply")) is selected


@pytest.mark.parametrize("pattern", ["", "and", "a b", "(a", "a)", "a & b", "not"])
def test_k_malformed(pattern):
    from qmpmodel.cli.select import parse_selector

    with pytest.raises(InputError, match="-k"):
        parse_selector(pattern)


def test_x_stops_at_the_first_unmet_expectation(tmp_path):
    spec = unpinned_p(tmp_path)
    r = cli("check", str(spec), "specs/tiny.toml", P_SPEC, "-x")
    assert r.exit_code == 1
    assert "specs/tiny.toml" not in r.output
    assert r.output.splitlines()[-1] == ("1 spec: 1 expectation contradicted; stopped at the first unmet "
                                         "expectation (-x): 2 specs not run")


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([sys.executable, "-m", "qmpmodel.cli", *args], cwd=ROOT, stdout=slave,
                             stderr=subprocess.DEVNULL, env=env)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        p.wait(timeout=60)
    finally:
        os.close(master)
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal_and_never_with_NO_COLOR(tmp_path):
    spec = str(unpinned_p(tmp_path))
    env = {k: v for k, v in ENV.items() if k != "NO_COLOR"}
    assert ANSI.search(_on_a_terminal("check", spec, env=env))
    assert not ANSI.search(_on_a_terminal("check", spec, env={**env, "NO_COLOR": "1"}))
    piped = run("check", spec, env=env)
    assert piped.returncode == 1 and not ANSI.search(piped.stdout)
    forced = run("check", spec, "--color", "always", env={**env, "NO_COLOR": "1"})
    assert ANSI.search(forced.stdout)


def test_trace_lines_on_a_toy_lasso_and_cycle():
    from qmpmodel.cli.common import trace_lines
    from qmpmodel.core.results import Trace, TraceStep

    def step(i: int, x: int) -> TraceStep:
        return TraceStep("inc", "main", f"inc(i={i})", 0, {"i": i}, {"x": x, "b": x > 1})

    lasso = Trace({"x": 0, "b": False}, (step(1, 1), step(2, 2), step(3, 1)), loop=1)
    lines = trace_lines(lasso)  # a step line, then the variables it changed
    assert [ln.split()[:3] for ln in lines[0:6:2]] == [["1.", "main", "inc(i=1)"], ["↺", "2.", "main"],
                                                       ["3.", "main", "inc(i=3)"]]
    assert lines[1].strip() == "x: 1" and lines[3].strip() == "x: 2; b: true" and lines[5].strip() == "x: 1; b: false"
    assert lines[6].strip() == "↺ steps 2-3 return to state 1: the run can repeat them forever"
    stuck = Trace({"x": 0, "b": False}, (step(1, 1),), loop=1, cycle=(("a", "b", "a holds"), ("b", "a", "b holds")),
                  legend={"x": {1: "one"}})
    lines = trace_lines(stuck)
    assert lines[1].strip() == "x: one (1)"  # a coded value is shown by its label
    assert lines[2].strip() == "↺ the run can stay in state 1 forever"
    assert lines[3].strip() == "wait-for cycle: a → b → a"
    assert [ln.strip() for ln in lines[4:]] == ["a waits for b: a holds", "b waits for a: b holds"]


# -- replay -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def p_trace(tmp_path_factory):
    out = tmp_path_factory.mktemp("cex")
    r = cli("check", P_SPEC, "--out", str(out))
    assert r.exit_code == 0
    (itf,) = out.glob("*no-cross-session-reply.itf.json")
    return itf


def test_replay_verbose_prints_the_steps(p_trace):
    r = cli("replay", str(p_trace), "--verbose")
    assert r.exit_code == 0
    doc = json.loads(p_trace.read_text())
    labels = [s["#meta"]["label"] for s in doc["states"][1:]]
    printed = [ln for ln in r.output.splitlines() if re.match(r"\s+\d+\.", ln)]
    assert len(printed) == len(labels)
    assert all(lab in ln for lab, ln in zip(labels, printed, strict=True))
    assert r.output.splitlines()[-1].startswith("reproduced:")
    assert len(cli("replay", str(p_trace)).output.splitlines()) == 1


def test_replay_on_the_fixed_design_says_where_it_diverges(p_trace):
    # P's fix discards a stale reply (§7 P, the 2017 QmpSession design): the last step no longer reaches B
    r = cli("replay", str(p_trace), "--spec", P_FIXED, "--verbose")
    assert r.exit_code == 1
    last = r.output.splitlines()[-1]
    n = len(json.loads(p_trace.read_text())["states"]) - 1
    assert last.startswith(f"not reproduced: step {n} (")
    assert "has another effect in this design: client1." in last and "in the trace" in last
    assert "the trace says" not in last
    assert any(ln.lstrip().startswith("✗") for ln in r.output.splitlines())


def test_replay_names_a_step_not_enabled_in_this_design(p_trace, tmp_path):
    doc = json.loads(p_trace.read_text())
    # step 1 becomes A's disconnect: not enabled before A connected
    later = next(s["#meta"] for s in doc["states"] if s["#meta"]["label"] == "disconnect(client=0)")
    doc["states"][1]["#meta"] = {**later, "index": 1}
    bad = tmp_path / "t.itf.json"
    bad.write_text(json.dumps(doc))
    r = cli("replay", str(bad), "--spec", P_SPEC)
    assert r.exit_code == 1
    assert r.output.strip() == "not reproduced: step 1 (disconnect(client=0)): not enabled in this design"


# -- reach --goal ---------------------------------------------------------------------------------


def test_reach_help_is_generated_from_the_goal_syntax():
    from qmpmodel.qemu import query

    text = cli("reach", "--help").output
    doc = query.__doc__ or ""
    for line in ("goal    := or", 'atom    := INTEGER | "true" | "false" | NAME | "(" goal ")"',
                 "mon[0].suspended and mon[0].queue_len == 0"):
        assert line in doc and line in text
    alias_rows = [ln.split()[0] for ln in doc.splitlines() if ln.startswith("``") and "  " in ln]
    assert alias_rows and all(a.strip("`") in text for a in alias_rows)
    assert "``" not in text and ":class:" not in text


def test_readme_goals_parse():
    from qmpmodel.check import prepare
    from qmpmodel.qemu.query import parse_goal
    from qmpmodel.specs import load_spec

    readme = (ROOT / "README.md").read_text()
    found = re.findall(r"qmpmodel reach (\S+) .*?--goal '([^']+)'", readme)
    assert len(found) >= 2
    for spec, goal in found:
        parse_goal(goal, prepare(load_spec(ROOT / spec)).probes)


# -- README ---------------------------------------------------------------------------------------


def test_readme_tour_writes_under_out_and_documents_testing():
    readme = (ROOT / "README.md").read_text()
    tour = readme[readme.index("## Five-minute tour"):]
    tour = tour[:tour.index("```\n", tour.index("```sh") + 5)]
    for m in re.finditer(r"--(?:out|json|junit|sarif) (\S+)", tour):
        assert m.group(1).startswith(("out/", "reports/", "-")), m.group(0)
    assert "qmpmodel record two-monitors --out out/" in tour
    block = re.search(r"```python\n(.*?)```", readme[readme.index("qmpmodel.testing"):], re.S)
    assert block and "state_machine_for" in block.group(1)
    namespace: dict[str, object] = {}
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        exec(compile(block.group(1), "README.md", "exec"), namespace)  # builds the test classes only
    finally:
        os.chdir(cwd)
    assert any(k.startswith("Test") for k in namespace)


def test_setup_installs_the_browser_the_report_test_needs():
    setup = (ROOT / "scripts/setup.sh").read_text()
    assert "need+=(chromium)" in setup

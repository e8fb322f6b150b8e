"""CI outputs: JUnit XML read by a JUnit parser, SARIF 2.1.0 shape and locations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qmpmodel.artefacts.ci import expect_line, junit_xml, sarif, trace_summary
from qmpmodel.check import check_spec
from qmpmodel.core.results import CheckResult, InvariantResult, Trace, TraceStep
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parent.parent

SPEC_TEXT = """title = "broken on purpose"

[bounds]
monitors = 1
clients = 1
requests = 2
mix = ["quick", "oob"]

[expect]
progress = "skip"
reply-order-all = "holds"   # wrong on purpose: exec-oob replies may overtake
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[CheckResult]:
    d = tmp_path_factory.mktemp("specs")
    (d / "broken.toml").write_text(SPEC_TEXT)
    out = [check_spec(load_spec(d / "broken.toml"))]
    if (ROOT / "specs/tiny.toml").exists():
        out.append(check_spec(load_spec(ROOT / "specs/tiny.toml")))
    return out


def test_junit_is_read_by_a_junit_parser(results: list[CheckResult]) -> None:
    text = junit_xml(results)
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [r.spec for r in results]
    for s, r in zip(suites, results, strict=True):
        cases = s.findall("testcase")
        assert [c.get("name") for c in cases] == [i.name for i in r.invariants]
        assert int(s.get("tests")) == len(cases)
        assert int(s.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(s.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
    broken = suites[0]
    fail = broken.find("testcase[@name='reply-order-all']/failure")
    assert fail is not None and "expected holds, found violated" in fail.get("message")
    assert "1. client0: connect" in fail.text  # the trace summary
    assert broken.find("testcase[@name='progress']/skipped") is not None
    assert int(root.get("failures")) == 1


def test_junit_is_read_by_junitparser(results: list[CheckResult]) -> None:
    junitparser = pytest.importorskip("junitparser")  # a dev dependency (pyproject: dev)
    xml = junitparser.JUnitXml.fromstring(junit_xml(results))
    assert sum(1 for _ in xml) == len(results)


def test_sarif_has_the_required_shape_and_locations(results: list[CheckResult]) -> None:
    doc = sarif(results)
    json.dumps(doc)  # serialisable
    assert doc["version"] == "2.1.0" and "$schema" in doc
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "qmpmodel"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert "no-deadlock" in rule_ids and len(set(rule_ids)) == len(rule_ids)
    broken = [(r.spec, i.name) for r in results for i in r.invariants if not i.met]
    assert len(run["results"]) == len(broken) == 1
    res = run["results"][0]
    assert res["ruleId"] == "reply-order-all" and res["level"] == "error"
    assert rule_ids[res["ruleIndex"]] == "reply-order-all"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("broken.toml")
    lines = SPEC_TEXT.splitlines()
    assert lines[loc["region"]["startLine"] - 1].startswith("reply-order-all")
    assert "connect" in res["message"]["text"]


def test_expect_line(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('title = "x"\n[expect]\n"no-deadlock" = "violated"\nprogress = "holds"\n')
    assert expect_line(str(f), "no-deadlock") == 3
    assert expect_line(str(f), "progress") == 4
    assert expect_line(str(f), "queue-bound") == 1
    assert expect_line(str(tmp_path / "missing.toml"), "progress") == 1


def test_trace_summary_marks_loops_and_cycles() -> None:
    st = TraceStep("send", "client0", "send(client=0)", 3, {}, {"x": 1})
    tr = Trace({"x": 0}, (st,), loop=1, cycle=(("a", "b", "r"), ("b", "a", "r")))
    s = trace_summary(tr)
    assert "1. client0: send(client=0)" in s and "loop: back to state 1" in s and "a -> b -> a" in s
    r = CheckResult("x.toml", "explicit", 1, 0, 0, 0.0, True,
                    (InvariantResult("no-deadlock", "holds", "violated", 1, tr),))
    fail = ET.fromstring(junit_xml([r])).find("testsuite/testcase/failure")
    assert fail is not None and "wait-for cycle: a -> b -> a" in fail.text

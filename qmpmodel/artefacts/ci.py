"""Machine-readable results for CI: JUnit XML and SARIF 2.1.0.

* :func:`junit_xml`: one ``<testsuite>`` per spec, one ``<testcase>`` per
  invariant; a ``<failure>`` (with the counterexample's steps) when the pinned
  expectation is not met, ``<skipped>`` when the spec skips the invariant.
* :func:`sarif`: one result per broken expectation, located at the spec file,
  on the line of the ``[expect]`` entry for that invariant (line 1 when the
  expectation is the implicit ``holds``).

Both are pure functions of the results (plus reading the spec files for line
numbers); timings appear only in the JUnit ``time`` attributes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qmpmodel import __version__
from qmpmodel.core.results import CheckResult, InvariantResult, Trace
from qmpmodel.invariants import INVARIANTS
from qmpmodel.qemu.waitfor import normalize_cycle

__all__ = ["expect_line", "junit_xml", "sarif", "trace_summary"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def trace_summary(trace: Trace | None, limit: int = 60) -> str:
    """The counterexample as numbered lines ``k. actor: label`` (at most ``limit`` steps)."""
    if trace is None:
        return ""
    lines = [f"{k}. {st.actor}: {st.label}" for k, st in enumerate(trace.steps, start=1)]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... {len(lines) - limit} more steps"]
    if trace.loop is not None:
        lines.append(f"loop: back to state {trace.loop}")
    if trace.cycle:
        cyc = normalize_cycle(trace.cycle)
        lines.append("wait-for cycle: " + " -> ".join([cyc[0][0], *(h for _w, h in cyc)]))
    return "\n".join(lines)


def _message(inv: InvariantResult) -> str:
    found = inv.verdict + (f" at depth {inv.depth}" if inv.depth is not None else "")
    msg = f"{inv.name}: expected {inv.expected}, found {found}"
    return msg + (f" ({inv.note})" if inv.note else "")


def junit_xml(results: Sequence[CheckResult]) -> str:
    """The JUnit XML document (``<testsuites>``) of ``results``."""
    root = ET.Element("testsuites", name="qmpmodel")
    total = fails = skips = 0
    secs = 0.0
    for r in results:
        tests = len(r.invariants)
        f = sum(1 for i in r.invariants if not i.met)
        s = sum(1 for i in r.invariants if i.expected == "skip")
        suite = ET.SubElement(root, "testsuite", name=r.spec, tests=str(tests), failures=str(f), errors="0",
                              skipped=str(s), time=f"{r.seconds:.3f}")
        props = ET.SubElement(suite, "properties")
        for k, v in (("engine", r.engine), ("title", r.title), ("states", r.states),
                     ("transitions", r.transitions), ("depth", r.depth), ("complete", r.complete)):
            ET.SubElement(props, "property", name=k, value=str(v))
        for inv in r.invariants:
            case = ET.SubElement(suite, "testcase", name=inv.name, classname=_classname(r.spec), time="0")
            if inv.expected == "skip":
                ET.SubElement(case, "skipped", message="skipped by the spec")
            elif not inv.met:
                fail = ET.SubElement(case, "failure", message=_message(inv), type="ExpectationNotMet")
                fail.text = trace_summary(inv.trace) or _message(inv)
            elif inv.trace is not None:
                out = ET.SubElement(case, "system-out")
                out.text = f"violated as expected at depth {inv.depth}\n{trace_summary(inv.trace)}"
        total, fails, skips, secs = total + tests, fails + f, skips + s, secs + r.seconds
    root.set("tests", str(total))
    root.set("failures", str(fails))
    root.set("errors", "0")
    root.set("skipped", str(skips))
    root.set("time", f"{secs:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _classname(spec: str) -> str:
    return "qmpmodel." + re.sub(r"[^A-Za-z0-9_-]+", ".", str(Path(spec).with_suffix(""))).strip(".")


def expect_line(spec_path: str, inv: str) -> int:
    """The 1-based line of ``inv = ...`` in the spec's ``[expect]`` table, else 1."""
    try:
        lines = Path(spec_path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    table = ""
    key = re.compile(r'\s*(?:"([^"]+)"|\'([^\']+)\'|([A-Za-z0-9_-]+))\s*=')
    for n, line in enumerate(lines, start=1):
        head = re.match(r"\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if head:
            table = head.group(1).strip()
            continue
        m = key.match(line)
        if m is None:
            continue
        name = next(g for g in m.groups() if g is not None)
        if (table == "expect" and name == inv) or (table == "" and name == f"expect.{inv}"):
            return n
    return 1


def sarif(results: Sequence[CheckResult]) -> dict[str, Any]:
    """A SARIF 2.1.0 log: rules are the invariants, results the broken expectations."""
    rules = [{"id": i.name, "name": i.name, "shortDescription": {"text": i.statement},
              "fullDescription": {"text": f"{i.statement} Source: {i.source}."},
              "properties": {"kind": i.kind}} for i in INVARIANTS]
    index = {i.name: k for k, i in enumerate(INVARIANTS)}
    out: list[dict[str, Any]] = []
    for r in results:
        for inv in r.invariants:
            if inv.met:
                continue
            res: dict[str, Any] = {
                "ruleId": inv.name,
                "level": "warning" if inv.verdict == "unknown" else "error",
                "message": {"text": f"{r.spec}: {_message(inv)}"
                            + (f"\n{trace_summary(inv.trace)}" if inv.trace else "")},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": Path(r.spec).as_posix()},
                    "region": {"startLine": expect_line(r.spec, inv.name)}}}],
                "properties": {"expected": inv.expected, "verdict": inv.verdict, "depth": inv.depth,
                               "engine": r.engine,
                               "trace": [st.label for st in inv.trace.steps] if inv.trace else []},
            }
            if inv.name in index:
                res["ruleIndex"] = index[inv.name]
            out.append(res)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "qmpmodel", "version": __version__,
                                "informationUri": "https://www.qemu.org/docs/master/interop/qmp-spec.html",
                                "rules": rules}},
            "results": out,
        }],
    }

"""The HTML + Markdown report: content, offline HTML, the committed reports/ being current, screenshots."""

from __future__ import annotations

import filecmp
import html
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qmpmodel.artefacts.render import (
    graphviz_version,
    sequence_mermaid,
    sequence_messages,
    step_diffs,
)
from qmpmodel.artefacts.report import write_report
from qmpmodel.check import check_spec, prepare
from qmpmodel.cli.report import regenerate, report
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parent.parent
C_SPEC = "specs/bugs/C-drain-polls-only-aio-context.toml"
B_SPEC = "specs/bugs/B-drain-call-rcu-in-rcu-reader.toml"
#: The documented command that regenerates reports/ (README and reports/index.md say so).
REGEN = "qmpmodel report specs/ --out reports/"


@pytest.fixture(scope="module")
def small_report(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report")
    paths = [p for p in ("specs/tiny.toml", C_SPEC, B_SPEC) if (ROOT / p).exists()]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        specs = [load_spec(p) for p in paths]
        results = [check_spec(s) for s in specs]
        prepared = {s.path: prepare(s) for s in specs}
        files = write_report(results, prepared, out)
    return out, results, prepared, files


def test_index_and_one_page_per_counterexample(small_report) -> None:
    out, results, _p, _files = small_report
    assert (out / "index.md").exists() and (out / "index.html").exists()
    index = (out / "index.md").read_text()
    for r in results:
        assert f"`{r.spec}`" in index
        for inv in r.invariants:
            if inv.trace is not None:
                page = out / "cex" / f"{Path(r.spec).with_suffix('').as_posix().removeprefix('specs/').replace('/', '-')}.{inv.name}.md"
                assert page.exists(), page
                assert page.with_suffix(".html").exists()
                assert f"]({page.relative_to(out).as_posix()})" in index
    assert "Run statistics" in index and "states" in index
    assert not re.search(r"\d+\.\d+ s\b", index)  # no timings: deterministic


def test_html_is_offline(small_report) -> None:
    _out, _r, _p, files = small_report
    for f in files:
        if f.suffix == ".html":
            text = f.read_text()
            assert "<script" not in text.lower()
            assert not re.search(r"<link\b|@import|url\((?!#)|src=\"https?:", text), f
            assert "<svg" in text or f.name == "index.html"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_deadlock_pages_show_the_cycle(small_report) -> None:
    out, *_ = small_report
    names = {"C": ("main", "bs->in_flight", "dispatcher", "iohandler_ctx"),
             "B": ("vcpu0", "call_rcu", "rcu_grace_period")}
    for letter, spec in (("C", C_SPEC), ("B", B_SPEC)):
        if not (ROOT / spec).exists():
            continue
        stem = Path(spec).stem
        svg = html.unescape((out / "cex" / f"bugs-{stem}.no-deadlock.waitfor.svg").read_text())
        md = (out / "cex" / f"bugs-{stem}.no-deadlock.md").read_text()
        assert f"bugs-{stem}.no-deadlock.waitfor.svg" in md and "```mermaid" in md
        page = html.unescape((out / "cex" / f"bugs-{stem}.no-deadlock.html").read_text())
        for n in names[letter]:
            assert n in svg and n in page
        assert svg.count('stroke="#c0392b"') >= 2 * len(names[letter])


def test_sequence_diagram_and_step_diffs(small_report) -> None:
    _out, results, prepared, _f = small_report
    r = next(r for r in results if r.spec == C_SPEC) if any(r.spec == C_SPEC for r in results) else results[0]
    inv = next(i for i in r.invariants if i.trace is not None)
    qm = prepared[r.spec].qemu
    parts, msgs = sequence_messages(inv.trace, qm)
    assert parts[0] == "client0" and {"I/O thread", "dispatcher", "main loop"} <= set(parts)
    assert any(m.reply and m.dst == "client0" and "reply to client0#0" in m.text for m in msgs)
    mm = sequence_mermaid(inv.trace, qm, "the end")
    assert mm.startswith("sequenceDiagram") and "participant P0 as client0" in mm
    assert "#35;" in mm and "Note over" in mm  # '#' escaped for Mermaid
    states = inv.trace.states()
    for k, diff in enumerate(step_diffs(inv.trace), start=1):
        assert {n for n, _a, _b in diff} == {n for n in states[k] if states[k][n] != states[k - 1][n]}


def test_report_cli_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(report, ["specs/tiny.toml", "--out", str(tmp_path / "r"), "--format", "md"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "index.md").exists() and not (tmp_path / "r" / "index.html").exists()
    r = CliRunner().invoke(report, ["specs/nope.toml", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "nope.toml" in r.output


def _gv_line(text: str) -> str:
    return re.sub(r"Graphviz [^.\n]*(\.\d+)*\.", "Graphviz X.", text)


def test_reports_up_to_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """reports/ is what `qmpmodel report specs/ --out reports/` writes today."""
    monkeypatch.chdir(ROOT)
    committed = ROOT / "reports"
    hint = f"reports/ is out of date: regenerate it with `{REGEN}`"
    assert committed.is_dir(), hint
    fresh = tmp_path / "reports"
    # reports/reproductions.json is an input of the report (runs on a real QEMU, docs/reproduce.md)
    if (committed / "reproductions.json").exists():
        fresh.mkdir()
        shutil.copy(committed / "reproductions.json", fresh / "reproductions.json")
    regenerate(["specs/"], str(fresh), command=REGEN, site="reports")
    want = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
    have = sorted(p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file())
    assert have == want, f"{hint} (files differ: {sorted(set(have) ^ set(want))[:5]})"
    m = re.search(r"Graphviz (\S+)\.\n", (committed / "index.md").read_text())
    same_graphviz = m is not None and m.group(1) == str(graphviz_version() or "(not installed)")
    stale = []
    for rel in want:
        a, b = fresh / rel, committed / rel
        if same_graphviz:
            if not filecmp.cmp(a, b, shallow=False):
                stale.append(rel)
        elif rel.endswith(".md") and _gv_line(a.read_text()) != _gv_line(b.read_text()):
            stale.append(rel)  # another Graphviz lays SVGs out differently: compare the Markdown only
    assert not stale, f"{hint} (stale: {stale[:5]})"


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (apt-get install -y chromium)")
def test_headless_chromium_renders_the_report(small_report, tmp_path: Path) -> None:
    out, *_ = small_report
    r = subprocess.run([sys.executable, str(ROOT / "tools/screenshot_report.py"), str(out), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    shots = [Path(x) for x in r.stdout.split()]
    assert len(shots) == 2
    for s in shots:
        assert _png_size(s) == (1280, 2000)
        assert s.stat().st_size > 30_000, f"{s} looks blank"


def _local_links(text: str) -> list[str]:
    return [u for u in re.findall(r"\]\(([^)\s]+)\)", text) if not u.startswith(("http://", "https://"))]


def test_report_links_specs_property_definitions_and_upstream(small_report) -> None:
    """Every spec and property in the report links to its file (the property to its defining line)."""
    out, results, _p, _files = small_report
    index = (out / "index.md").read_text()
    pages = [out / "index.md", *sorted((out / "cex").glob("*.md"))]
    seen_defs = 0
    for page in pages:
        for url in _local_links(page.read_text()):
            path, _, anchor = url.partition("#")
            target = (page.parent / path).resolve()
            assert target.exists(), f"{page.name}: broken link {url}"
            if anchor:
                line = target.read_text().splitlines()[int(anchor.removeprefix("L")) - 1]
                assert re.search(r'"[a-z-]+"', line), (url, line)
                seen_defs += 1
    assert seen_defs >= 10
    for r in results:
        assert f"[`{r.spec}`](" in index
    # bug C cites Kevin Wolf's thread and the commit that added the hop
    c_page = (out / "cex" / "bugs-C-drain-polls-only-aio-context.no-deadlock.md").read_text()
    assert "https://gitlab.com/qemu-project/qemu/-/commit/9ce44e2ce2" in c_page
    assert "https://lore.kernel.org/qemu-devel/ZQCa%2FDxAAQnau3JR@redhat.com/" in c_page
    html_page = (out / "cex" / "bugs-C-drain-polls-only-aio-context.no-deadlock.html").read_text()
    assert 'href="https://gitlab.com/qemu-project/qemu/-/commit/9ce44e2ce2"' in html_page
    assert 'href="../../../' in html_page or 'href="../' in html_page

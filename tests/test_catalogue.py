"""The bug catalogue's upstream references agree with the domain reference (§7)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qmpmodel.qemu.catalogue import BUGS, bugs_cited, commit_url, message_url, report_url
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "qemu-dispatch-semantics.md"


def _section7() -> dict[str, str]:
    if not REFERENCE.exists():
        pytest.skip("../shared/qemu-dispatch-semantics.md is not beside the checkout")
    text = REFERENCE.read_text()
    body = text[text.index("## 7."):text.index("## 8.")]
    parts = re.split(r"^\*\*([A-W])\. ", body, flags=re.M)
    return {parts[k]: parts[k + 1] for k in range(1, len(parts) - 1, 2)}


def test_every_catalogued_reference_is_in_that_bugs_paragraph() -> None:
    paragraphs = _section7()
    assert set(paragraphs) == set(BUGS)
    for letter, bug in BUGS.items():
        para = re.sub(r"\s+", " ", paragraphs[letter])
        hashes = re.findall(r"\b[0-9a-f]{8,40}\b", para)
        for c in bug.commits:
            assert any(h.startswith(c) or c.startswith(h) for h in hashes), (letter, c)
        for m in bug.messages:
            assert f"<{m}>" in para, (letter, m)
        for r in bug.reports:
            assert r.replace("gitlab#", "issue #") in para, (letter, r)


def test_citations_in_spec_references() -> None:
    assert [b.letter for b in bugs_cited("§3.4 (Jan 2024), §7 A, I, J")] == ["A", "I", "J"]
    assert [b.letter for b in bugs_cited("§7 L, G")] == ["L", "G"]
    assert [b.letter for b in bugs_cited("§7 G (a)")] == ["G"]
    assert [b.letter for b in bugs_cited("§7 P (2017 design), §9")] == ["P"]
    assert bugs_cited("§3.3, §4 (COMMAND_DROPPED history), §9 2018") == ()
    assert bugs_cited("§8.4") == ()
    # every bug spec cites the bug its file name is lettered with
    for path in sorted((ROOT / "specs" / "bugs").glob("*.toml")):
        spec = load_spec(str(path))
        assert path.name[0] in [b.letter for b in bugs_cited(spec.reference)], path.name


def test_urls() -> None:
    assert commit_url("effd60c878") == "https://gitlab.com/qemu-project/qemu/-/commit/effd60c878"
    assert message_url("ZQCa/DxAAQnau3JR@redhat.com") == "https://lore.kernel.org/qemu-devel/ZQCa%2FDxAAQnau3JR@redhat.com/"
    assert report_url("rhbz#2215192") == "https://bugzilla.redhat.com/show_bug.cgi?id=2215192"
    assert report_url("gitlab#1933") == "https://gitlab.com/qemu-project/qemu/-/issues/1933"
    assert report_url("RHEL-34618") == "https://issues.redhat.com/browse/RHEL-34618"

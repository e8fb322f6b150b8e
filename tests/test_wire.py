"""Model-independent wire checks (:mod:`qmpmodel.conformance.wire`).

Every transcript recorded from QEMU 7.2.22 passes them, including those the
model cannot explain yet (docs/fidelity-ii.md), and every mutant made by the
helpers of :mod:`qmpmodel.conformance.mutants` breaks one at or after the
mutated line.  Toy transcripts pin each rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qmpmodel.conformance.mutants import (
    change_id,
    drop_reply,
    duplicate_reply,
    event_during_negotiation,
    swap_replies,
)
from qmpmodel.conformance.transcript import TranscriptLine, load_transcript, parse_transcript
from qmpmodel.conformance.wire import check_wire

DATA = Path(__file__).parent / "data" / "transcripts"
FIXTURES = sorted(p.stem for p in DATA.glob("*.jsonl"))

Mutator = Callable[[tuple[TranscriptLine, ...]], tuple[list[TranscriptLine], int]]


def _idx(f: Callable[..., tuple[list[TranscriptLine], int]], i: int) -> Mutator:
    return lambda lines: f(lines, index=i)


MUTATORS: dict[str, Mutator] = {
    **{f"swap{i}": _idx(swap_replies, i) for i in (0, 1, 3)},
    **{f"drop{i}": _idx(drop_reply, i) for i in (0, 1, 3)},
    **{f"dup{i}": _idx(duplicate_reply, i) for i in (0, 1, 3)},
    **{f"change-id{i}": _idx(change_id, i) for i in (0, 1, 3)},
    "event-negotiating": lambda lines: event_during_negotiation(lines),
}


@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_transcripts_pass(name: str) -> None:
    assert [str(v) for v in check_wire(load_transcript(DATA / f"{name}.jsonl"))] == []


def _site(orig: tuple[TranscriptLine, ...], mutant: list[TranscriptLine]) -> int:
    for a, b in zip(orig, mutant, strict=False):
        if dict(a.data) != dict(b.data):
            return b.lineno
    return min(len(orig), len(mutant)) + 1


def _next_reply_with_id(lines: list[TranscriptLine], after: int) -> int:
    """Replies without id are matched by position: a misplaced one shows at the next reply with an id."""
    conn = next((ln.conn for ln in lines if ln.lineno == after), None)
    for ln in lines:
        msg = ln.data.get("msg")
        if (ln.lineno > after and ln.conn == conn and ln.dir == "<-" and isinstance(msg, dict)
                and ("return" in msg or "error" in msg) and "id" in msg):
            return ln.lineno
    return after


@pytest.mark.parametrize("mut", sorted(MUTATORS))
@pytest.mark.parametrize("name", FIXTURES)
def test_mutants_break_a_rule_at_the_mutation(name: str, mut: str) -> None:
    orig = load_transcript(DATA / f"{name}.jsonl")
    try:
        mutant, wrong = MUTATORS[mut](orig)
    except ValueError as e:
        pytest.skip(str(e))
    found = check_wire(mutant)
    assert found, f"{name}~{mut}: undetected"
    assert _site(orig, mutant) <= found[0].line <= _next_reply_with_id(mutant, wrong), [str(v) for v in found]


# -- toy transcripts ------------------------------------------------------------------------


def _toy(*rows: tuple[str, str, Any]) -> tuple[TranscriptLine, ...]:
    """(dir, conn, payload): payload is msg for "->"/"<-" and the monitor name for connect."""
    out = []
    for t, (d, conn, x) in enumerate(rows):
        if d == "connect":
            out.append({"t": t, "dir": "--", "conn": conn, "event": "connect", "monitor": x})
        else:
            out.append({"t": t, "dir": d, "conn": conn, "msg": x})
    return parse_transcript("".join(json.dumps(r) + "\n" for r in out))


GREET = {"QMP": {"version": {}, "capabilities": ["oob"]}}
EVENT = {"event": "STOP", "timestamp": {"seconds": 0, "microseconds": 0}}


def rules(lines: tuple[TranscriptLine, ...]) -> list[tuple[int, str]]:
    return [(v.line, v.rule) for v in check_wire(lines)]


def test_reply_of_an_earlier_session_is_allowed_others_are_not() -> None:
    lines = _toy(("connect", "c1", "m0"), ("<-", "c1", GREET), ("->", "c1", {"execute": "stop", "id": 1}),
                 ("connect", "c2", "m0"), ("<-", "c2", GREET), ("<-", "c2", {"return": {}, "id": 1}),
                 ("connect", "c3", "m1"), ("<-", "c3", GREET), ("<-", "c3", {"return": {}, "id": 1}))
    assert rules(lines) == [(9, "reply-without-request")]  # bug P reaches only the same monitor


def test_in_band_order_but_oob_may_overtake() -> None:
    lines = _toy(("connect", "c1", "m0"), ("<-", "c1", GREET),
                 ("->", "c1", {"execute": "a", "id": 1}), ("->", "c1", {"exec-oob": "b", "id": 2}),
                 ("->", "c1", {"execute": "c", "id": 3}),
                 ("<-", "c1", {"return": {}, "id": 2}), ("<-", "c1", {"return": {}, "id": 3}),
                 ("<-", "c1", {"return": {}, "id": 1}))
    assert rules(lines) == [(7, "in-band-order")]


def test_events_only_after_negotiation_or_before_the_greeting() -> None:
    lines = _toy(("connect", "c1", "m0"), ("<-", "c1", EVENT), ("<-", "c1", GREET), ("<-", "c1", EVENT),
                 ("->", "c1", {"execute": "qmp_capabilities", "id": "c"}), ("<-", "c1", {"return": {}, "id": "c"}),
                 ("<-", "c1", EVENT))
    assert rules(lines) == [(4, "event-while-negotiating")]

"""``qmpmodel conform``: recorded QEMU 7.2 transcripts against specs/qemu-current.toml.

Every recorded transcript must conform (an entry in NEEDS_MODEL_CHANGE would
xfail one, strictly, with the reason).  Every mutant made by the helpers of
:mod:`qmpmodel.conformance.mutants` must be rejected, naming a line at or after the
mutation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qmpmodel.cli.conform import conform as conform_cmd
from qmpmodel.conformance.conform import ConformSpec, conform, load_conform_spec
from qmpmodel.conformance.mutants import (
    change_id,
    drop_reply,
    duplicate_reply,
    event_during_negotiation,
    move_reply_after,
    swap_replies,
)
from qmpmodel.conformance.transcript import TranscriptLine, dump_transcript, load_transcript

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data" / "transcripts"
SPEC = ROOT / "specs" / "qemu-current.toml"
FIXTURES = sorted(p.stem for p in DATA.glob("*.jsonl"))

#: Transcripts the model cannot explain yet: (line conform names, model change needed,
#: docs/conformance.md).  Since issue 13 (F1-F5: events per command, environment events,
#: a signal, main_loop_should_exit and EOF, the never-opened monitor, HMP on the QMP
#: connection's mux) all eighteen conform.
NEEDS_MODEL_CHANGE: dict[str, tuple[int, str]] = {}


@pytest.fixture(scope="module")
def cspec() -> ConformSpec:
    return load_conform_spec(SPEC)


def lines_of(name: str) -> tuple[TranscriptLine, ...]:
    return load_transcript(DATA / f"{name}.jsonl")


@pytest.mark.parametrize("name", FIXTURES)
def test_recorded_transcript_conforms(name: str, cspec: ConformSpec) -> None:
    r = conform(lines_of(name), cspec, name)
    if name in NEEDS_MODEL_CHANGE:
        # strict: once the model change lands, drop the entry from NEEDS_MODEL_CHANGE;
        # until then the first line the model cannot explain must stay the pinned one
        assert not r.accepted, f"{name} conforms now: remove it from NEEDS_MODEL_CHANGE"
        assert r.verdict == "rejected" and r.line == NEEDS_MODEL_CHANGE[name][0], r.render()
        pytest.xfail(NEEDS_MODEL_CHANGE[name][1])
    assert r.accepted, r.render()


# -- mutants ------------------------------------------------------------------

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
CONFORMING = [n for n in FIXTURES if n not in NEEDS_MODEL_CHANGE]
MOVES = [("oob-overtakes-blocked", "oob-1", "ib-blocks-1"), ("oob-overtakes-blocked", "oob-2", "blocks-2"),
         ("queue-full-then-oob", "oob-a", "blocked-1")]


def _site(orig: tuple[TranscriptLine, ...], mutant: list[TranscriptLine]) -> int:
    """The first line where the mutant differs from the original."""
    for a, b in zip(orig, mutant, strict=False):
        if dict(a.data) != dict(b.data):
            return b.lineno
    return min(len(orig), len(mutant)) + 1


def _next_idless_reply(lines: list[TranscriptLine], after: int) -> int:
    """The first reply carrying an id after the id-less replies that follow line ``after``.

    Replies without id are matched by position: a duplicated or misplaced one
    shifts every later id-less match, so the first line no behaviour explains
    can be the next reply that carries an id.
    """
    by_line = {ln.lineno: ln for ln in lines}
    conn = by_line[after].conn if after in by_line else None
    for ln in lines:
        if ln.lineno > after and ln.conn == conn and ln.data.get("dir") == "<-":
            msg = ln.data.get("msg")
            if isinstance(msg, dict) and ("return" in msg or "error" in msg) and "id" in msg:
                return ln.lineno
    return after


def _check_rejected(orig: tuple[TranscriptLine, ...], mutant: list[TranscriptLine], wrong: int,
                    cspec: ConformSpec, label: str) -> None:
    r = conform(mutant, cspec, label)
    assert r.verdict == "rejected", r.render()
    site = _site(orig, mutant)
    # the named line is the mutated one, or the first line after the mutation
    # that no model behaviour explains (e.g. the event following a dropped reply);
    # replies without id are matched by position, so a misplaced one may be taken
    # for the next id-less reply of its connection, and that one is named instead
    assert r.line is not None and site <= r.line <= _next_idless_reply(mutant, wrong), (site, wrong, r.render())
    assert r.render().startswith(f"{label}:{r.line}: no model behaviour explains ")


@pytest.mark.parametrize("mut", sorted(MUTATORS))
@pytest.mark.parametrize("name", CONFORMING)
def test_mutant_rejected(name: str, mut: str, cspec: ConformSpec) -> None:
    orig = lines_of(name)
    try:
        mutant, wrong = MUTATORS[mut](orig)
    except ValueError as e:
        pytest.skip(str(e))
    _check_rejected(orig, mutant, wrong, cspec, f"{name}~{mut}")


@pytest.mark.parametrize(("name", "moved", "anchor"), MOVES)
def test_oob_reply_moved_after_blocked_reply_rejected(name: str, moved: str, anchor: str,
                                                      cspec: ConformSpec) -> None:
    orig = lines_of(name)
    mutant, wrong = move_reply_after(orig, moved, anchor)
    r = conform(mutant, cspec, "m")
    assert r.verdict == "rejected" and r.line == wrong, r.render()
    assert "release" in r.render()


def test_moved_reply_without_release_is_legal(cspec: ConformSpec) -> None:
    """Without the release comment the moved OOB reply is a legal interleaving (docs/transcripts.md)."""
    orig = [ln for ln in lines_of("oob-overtakes-blocked") if "release" not in ln.data]
    from qmpmodel.conformance.transcript import renumber

    base = renumber([dict(ln.data) for ln in orig])
    mutant, _ = move_reply_after(base, "oob-1", "ib-blocks-1")
    assert conform(mutant, cspec, "m").accepted


def test_second_stop_without_event_conforms_and_missing_event_is_rejected(cspec: ConformSpec) -> None:
    lines = lines_of("stop-cont-events")
    # dropping the STOP event of the first stop: then no event, stop mapped to quick: still legal
    from qmpmodel.conformance.transcript import renumber

    datas = [dict(ln.data) for ln in lines if not (ln.msg and ln.msg.get("event") == "STOP")]
    assert conform(renumber(datas), cspec, "m").accepted
    # an extra RESUME between the query-status request and its reply: the handler may raise
    # events (F1, docs/fidelity-ii.md 1a); with no events per command nothing raises it
    datas = [dict(ln.data) for ln in lines]
    i = next(n for n, d in enumerate(datas) if d.get("msg", {}) and d["msg"].get("id") == "status-stopped")
    assert datas[i]["dir"] == "->"
    resume = {"t": datas[i]["t"], "dir": "<-", "conn": "c1",
              "msg": {"event": "RESUME", "timestamp": {"seconds": 0, "microseconds": 0}}}
    mutant = renumber([*datas[:i + 1], resume, *datas[i + 1:]])
    r = conform(mutant, cspec, "m")
    assert r.accepted and r.config["events_per_command"] >= 1, r.render()
    r = conform(mutant, replace(cspec, events_per_command=0, environment_events=0), "m")
    assert r.verdict == "rejected" and r.line == i + 2, r.render()
    # the same RESUME after that reply, with no command in flight: only the environment (a job,
    # the guest: F2) raises it; events per command alone do not explain it
    mutant = renumber([*datas[:i + 2], resume, *datas[i + 2:]])
    r = conform(mutant, cspec, "m")
    assert r.accepted and r.config["environment_events"] >= 1, r.render()
    r = conform(mutant, replace(cspec, environment_events=0), "m")
    assert r.verdict == "rejected" and r.line == i + 3, r.render()


# -- command line ---------------------------------------------------------------


def test_cli_accepts_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = CliRunner().invoke(conform_cmd, [str(DATA / "oob-overtakes-blocked.jsonl"), "--spec", str(SPEC),
                                           "--json", str(out)])
    assert res.exit_code == 0, res.output
    doc: dict[str, Any] = json.loads(out.read_text())
    assert doc["results"][0]["verdict"] == "accepted"


def test_cli_rejects_naming_the_line(tmp_path: Path) -> None:
    mutant, wrong = swap_replies(lines_of("coroutine-commands"), index=3)
    f = tmp_path / "m.jsonl"
    f.write_text(dump_transcript(mutant))
    res = CliRunner().invoke(conform_cmd, [str(f), "--spec", str(SPEC)])
    assert res.exit_code == 1
    assert f"{f}:{wrong}: no model behaviour explains" in res.output
    assert "the model allowed: the reply to c1's request" in res.output


@pytest.mark.parametrize("text", [
    '{"t": 0, "dir": "<-", "conn": "c1", "msg": {}}\n',           # use before connect
    '{"t": 0, "dir": "--", "conn": "c1", "event": "connect"}\n',  # no monitor
    "not json\n",
])
def test_cli_bad_transcript_exits_2(tmp_path: Path, text: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(text)
    res = CliRunner().invoke(conform_cmd, [str(f), "--spec", str(SPEC)])
    assert res.exit_code == 2, res.output
    assert str(f) in res.output and len(res.output.strip().splitlines()) == 1


def test_cli_bad_spec_mapping_exits_2(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.read_text() + '\n[conform.commands]\n"query-name" = "blockng"\n')
    res = CliRunner().invoke(conform_cmd, [str(DATA / "negotiate.jsonl"), "--spec", str(spec)])
    assert res.exit_code == 2
    assert "conform.commands.query-name" in res.output and "blocking" in res.output


def test_spec_mapping_extends_the_table(tmp_path: Path) -> None:
    """Mapping query-name to a coroutine command changes nothing observable: still conforms."""
    spec = tmp_path / "s.toml"
    text = SPEC.read_text().replace('"../../shared', f'"{SPEC.parent}/../../shared')
    spec.write_text(text + '\n[conform.commands]\n"query-named-block-nodes" = "coroutine"\n')
    cs = load_conform_spec(spec)
    r = conform(lines_of("coroutine-commands"), cs, "m")
    assert r.accepted, r.render()
    assert {"quick", "coroutine"} <= set(r.config["mix"])

"""Transcript loading, QEMU's JSON streamer (reference §3.2), observations, mutations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qmpmodel.conformance.jsonstream import JsonStreamer, split_stream
from qmpmodel.conformance.mutants import (
    change_id,
    drop_reply,
    duplicate_reply,
    event_during_negotiation,
    move_reply_after,
    swap_replies,
)
from qmpmodel.conformance.observations import Observation, observations
from qmpmodel.conformance.transcript import (
    TranscriptLine,
    connection_bytes,
    dump_transcript,
    load_transcript,
    parse_transcript,
)
from qmpmodel.errors import InputError

DATA = Path(__file__).parent / "data" / "transcripts"
FIXTURES = sorted(DATA.glob("*.jsonl"))


def kinds(data: bytes) -> list[Any]:
    """Each message as its value, or ``("error", text)``."""
    return [m.value if m.ok else ("error", m.error) for m in split_stream(data).messages]


# -- streamer ---------------------------------------------------------------


def test_balanced_object_is_one_message() -> None:
    assert kinds(b'{"execute": "query-name", "arguments": {"a": [1, {"b": []}]}}\n') == [
        {"execute": "query-name", "arguments": {"a": [1, {"b": []}]}}
    ]


def test_single_quoted_strings_are_accepted() -> None:
    assert kinds(b"{'execute': 'query-name', 'id': 'it\\'s \"x\"'}") == [
        {"execute": "query-name", "id": "it's \"x\""}
    ]


def test_two_objects_in_one_write() -> None:
    split = split_stream(b'{"id": 1}{"id": 2}\n')
    assert [m.value for m in split.messages] == [{"id": 1}, {"id": 2}]
    assert [(m.start, m.end) for m in split.messages] == [(0, 9), (9, 18)]


def test_split_object_completes_on_second_write() -> None:
    s = JsonStreamer()
    assert s.feed(b'{"execute": "query-name", ') == []
    assert s.pending_start == 0
    [m] = s.feed(b'"id": "x"}')
    assert m.value == {"execute": "query-name", "id": "x"}
    assert s.pending_start is None


def test_object_without_newline_is_complete_at_its_brace() -> None:
    assert kinds(b'{"execute": "q"}') == [{"execute": "q"}]


@pytest.mark.parametrize(("data", "value"), [(b"null\n", None), (b"[1, 2]\n", [1, 2]),
                                             (b"1 ", 1), (b'"s"', "s"), (b"true ", True)])
def test_top_level_non_objects_are_messages(data: bytes, value: Any) -> None:
    [m] = split_stream(data).messages
    assert m.ok and m.value == value


def test_top_level_keyword_needs_one_byte_of_lookahead() -> None:
    split = split_stream(b"null")
    assert split.messages == () and split.pending_start == 0


def test_syntax_error_reported_when_brackets_balance() -> None:
    assert kinds(b"{]\n") == [("error", "JSON parse error, expecting value")]
    assert kinds(b'{"a": 1]}') == [("error", "JSON parse error, expected separator in dict"),
                                   ("error", "JSON parse error, expecting value")]


def test_recovery_swallows_a_following_request() -> None:
    # §7 T: the second request is inside the broken group: no message of its own.
    data = b'{"execute": "query-name", "id": "a" {"execute": "query-name", "id": "b"}}\n'
    assert kinds(data) == [("error", "JSON parse error, expected separator in dict")]


def test_unbalanced_group_swallows_everything_after() -> None:
    split = split_stream(b'{"execute": "a",\n{"execute": "query-name"}\n')
    assert split.messages == () and split.pending_start == 0


def test_control_character_forces_lexical_error_and_reset() -> None:
    data = b'{"execute": "x", "id": \x01{"execute": "query-name", "id": 2}\n'
    assert kinds(data) == [("error", "JSON parse error, stray '\x01'"),
                           {"execute": "query-name", "id": 2}]


def test_lexical_recovery_skips_until_structural_or_control() -> None:
    # After the error the lexer skips "nul" (not structural) until "\n".
    assert kinds(b"{\x01null\n[1]") == [("error", "JSON parse error, stray '\x01'"), [1]]
    # Every control character outside a string is an error of its own.
    assert len(kinds(b"\x01\x01 ")) == 2


@pytest.mark.parametrize(("data", "error"), [
    (b"{\xff", "JSON parse error, stray '\ufffd'"),
    (b"%p", "JSON parse error, stray '%'"),
    (b"ABC", "JSON parse error, stray 'A'"),
    (b"01 ", "JSON parse error, stray '01'"),
    (b"nul ", "JSON parse error, invalid keyword 'nul'"),
    (b'{"a": 1, "a": 2}', "JSON parse error, duplicate key"),
    (b"{1: 2}", "JSON parse error, key is not a string in object"),
    (b'"\\ud800" ', "JSON parse error, \\ud800 is not a valid Unicode character"),
    (b'"\\x"', "JSON parse error, invalid escape sequence in string"),
    (b'"\xed\xa0\x80"', "JSON parse error, invalid UTF-8 sequence in string"),
    (b'"\xef\xbf\xbe"', "JSON parse error, invalid UTF-8 sequence in string"),
    (b"[1,]", "JSON parse error, expecting value"),
])
def test_error_texts_match_qemu(data: bytes, error: str) -> None:
    assert kinds(data)[0] == ("error", error)


def test_modified_utf8_nul_and_surrogate_pairs() -> None:
    assert kinds(b'"\xc0\x80" "\\u0000" "\\uD83D\\uDE00" "\\uDBFF\\uDFFF"') == [
        "\x00", "\x00", "\U0001f600",
        ("error", "JSON parse error, \\uDBFF\\uDFFF is not a valid Unicode character")]


def test_big_integers_become_floats() -> None:
    assert kinds(b"18446744073709551615 18446744073709551616 -9223372036854775809 ") == [
        18446744073709551615, 1.8446744073709552e19, -9.223372036854776e18]


def test_nesting_limit() -> None:
    [m] = split_stream(b"[" * 1025).messages
    assert m.error == "JSON nesting depth limit exceeded"


# -- loader -----------------------------------------------------------------

GOOD: list[dict[str, Any]] = [
    {"t": 0, "dir": "--", "note": "hello"},
    {"t": 0.1, "dir": "--", "conn": "c1", "event": "connect", "monitor": "mon0"},
    {"t": 0.2, "dir": "<-", "conn": "c1", "msg": {"QMP": {"version": {}, "capabilities": ["oob"]}}},
    {"t": 0.3, "dir": "->", "conn": "c1", "msg": {"execute": "qmp_capabilities", "id": 1}},
    {"t": 0.4, "dir": "<-", "conn": "c1", "msg": {"return": {}, "id": 1}},
    {"t": 0.5, "dir": "->", "conn": "c1", "msg": None, "raw": "{'execute': 'query-name'}{]"},
    {"t": 0.6, "dir": "<-", "conn": "c1", "msg": None, "raw": "garbage"},
    {"t": 0.7, "dir": "--", "conn": "c1", "event": "eof"},
    {"t": 0.8, "dir": "--", "conn": "c1", "event": "disconnect"},
]


def text(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(d) + "\n" for d in lines)


def test_good_transcript_loads(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text(text(GOOD))
    lines = load_transcript(p)
    assert len(lines) == 9 and lines[0].is_comment and lines[1].monitor == "mon0"
    assert dump_transcript(lines) == text(GOOD)


@pytest.mark.parametrize(("bad", "expected"), [
    ("{not json", "line 3, column 2: expected a JSON object (got invalid JSON"),
    ("[1]", 'line 3: expected a JSON object'),
    ({"t": 1, "dir": "=>", "conn": "c1", "msg": {}}, 'line 3: expected "dir" to be one of'),
    ({"t": 1, "dir": "->", "msg": {}}, 'line 3: expected a "conn" label'),
    ({"dir": "->", "conn": "c1", "msg": {}}, 'line 3: expected "t" to be a non-negative number'),
    ({"t": 1, "dir": "->", "conn": "c1"}, 'line 3: expected a "msg" member'),
    ({"t": 1, "dir": "->", "conn": "c1", "msg": None}, 'line 3: expected a "raw" string'),
    ({"t": 1, "dir": "->", "conn": "c1", "msg": [1]}, 'line 3: expected "msg" to be a JSON object'),
    ({"t": 1, "dir": "->", "conn": "c1", "mgs": {}}, "did you mean 'msg'?"),
    ({"t": 1, "dir": "--", "conn": "c1", "event": "conect"}, "did you mean 'connect'"),
    ({"t": 1, "dir": "--", "conn": "c1"}, 'a "note" string on a "--" line without "event"'),
    ({"t": 1, "dir": "->", "conn": "c9", "msg": {}}, "a connect line for 'c9' before its first use"),
    ({"t": 1, "dir": "--", "conn": "c2", "event": "connect"}, 'a "monitor" name on a connect line'),
    ({"t": 1, "dir": "--", "conn": "c1", "event": "connect", "monitor": "m"}, "a new label"),
    ("", "line 3: expected one JSON object per line (got an empty line)"),
])
def test_loader_errors_name_file_and_line(tmp_path: Path, bad: Any, expected: str) -> None:
    lines = [text(GOOD[:2])]
    lines.append((bad if isinstance(bad, str) else json.dumps(bad)) + "\n")
    p = tmp_path / "bad.jsonl"
    p.write_text("".join(lines))
    with pytest.raises(InputError) as exc:
        load_transcript(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: line 3") and expected in msg and "\n" not in msg


def test_nothing_after_disconnect_nothing_received_after_eof() -> None:
    base = GOOD[:3]
    closed = [*base, {"t": 1, "dir": "--", "conn": "c1", "event": "disconnect"},
              {"t": 1, "dir": "->", "conn": "c1", "msg": {}}]
    with pytest.raises(InputError, match="line 5: expected nothing on connection 'c1' after its disconnect"):
        parse_transcript(text(closed))
    eof = [*base, {"t": 1, "dir": "--", "conn": "c1", "event": "eof"},
           {"t": 1, "dir": "<-", "conn": "c1", "msg": {"return": {}}}]
    with pytest.raises(InputError, match="line 5: expected nothing received"):
        parse_transcript(text(eof))


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected a readable transcript file"):
        load_transcript(tmp_path / "nope.jsonl")


# -- observations -----------------------------------------------------------


def test_observations_of_a_small_transcript() -> None:
    obs = observations(parse_transcript(text(GOOD)))["c1"]
    assert [o.kind for o in obs] == ["connect", "greeting", "request", "reply", "request", "request",
                                     "unrecognized", "eof", "disconnect"]
    greeting, req, reply = obs[1], obs[2], obs[3]
    assert greeting.capabilities == ("oob",)
    assert (req.request_kind, req.command, req.id, req.line) == ("execute", "qmp_capabilities", "1", 4)
    assert (reply.ok, reply.id) == (True, "1")
    assert obs[4].command == "query-name" and obs[4].in_band
    assert obs[5].request_kind == "parse-error" and obs[5].line == 6


def test_request_split_across_lines_is_placed_where_it_completes() -> None:
    lines: list[dict[str, Any]] = [*GOOD[:3],
             {"t": 1, "dir": "->", "conn": "c1", "msg": None, "raw": '{"exec-oob": "x", '},
             {"t": 1, "dir": "->", "conn": "c1", "msg": None, "raw": '"id": [1]}\n'}]
    parsed = parse_transcript(text(lines))
    [req] = [o for o in observations(parsed)["c1"] if o.kind == "request"]
    assert (req.first_line, req.line, req.request_kind, req.id) == (4, 5, "exec-oob", "[1]")
    data, spans = connection_bytes(parsed, "c1")
    assert data.endswith(b'"id": [1]}\n') and [ln for ln, _ in spans] == [4, 5]


def test_a_new_connection_gets_a_fresh_streamer() -> None:
    lines: list[dict[str, Any]] = [*GOOD[:2], {"t": 1, "dir": "->", "conn": "c1", "msg": None, "raw": '{"execute": '},
             {"t": 1, "dir": "--", "conn": "c1", "event": "disconnect"},
             {"t": 1, "dir": "--", "conn": "c2", "event": "connect", "monitor": "mon0"},
             {"t": 1, "dir": "->", "conn": "c2", "msg": {"execute": "query-name"}}]
    obs = observations(parse_transcript(text(lines)))
    assert [o.kind for o in obs["c1"]] == ["connect", "disconnect"]
    assert [o.command for o in obs["c2"] if o.kind == "request"] == ["query-name"]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_recorded_fixtures_load(path: Path) -> None:
    lines = load_transcript(path)
    obs = observations(lines)
    assert obs and all(o[0].kind == "connect" for o in obs.values())
    assert all(isinstance(o, Observation) for v in obs.values() for o in v)


def test_all_scenarios_have_fixtures() -> None:
    from qmpmodel.conformance.record import SCENARIOS

    assert {p.stem for p in FIXTURES} == set(SCENARIOS)


# -- mutations --------------------------------------------------------------


def fixture(name: str) -> tuple[TranscriptLine, ...]:
    return load_transcript(DATA / f"{name}.jsonl")


def replies(lines: list[TranscriptLine] | tuple[TranscriptLine, ...], conn: str) -> list[Observation]:
    return [o for o in observations(lines)[conn] if o.kind == "reply"]


def test_swap_replies() -> None:
    orig = fixture("pipeline-20")
    mutant, line = swap_replies(orig)
    assert len(mutant) == len(orig)
    before = [o.id for o in replies(orig, "c1")]
    after = [o.id for o in replies(mutant, "c1")]
    k = next(i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y)
    assert (after[k], after[k + 1]) == (before[k + 1], before[k])
    assert replies(mutant, "c1")[k].line == line
    assert [x.lineno for x in mutant] == list(range(1, len(mutant) + 1))


def test_drop_reply() -> None:
    orig = fixture("pipeline-20")
    mutant, line = drop_reply(orig)
    assert len(mutant) == len(orig) - 1
    # The line returned is the reply that followed the dropped one.
    assert mutant[line - 1].msg == orig[line].msg and mutant[line - 1].dir == "<-"


def test_duplicate_reply() -> None:
    orig = fixture("negotiate")
    mutant, line = duplicate_reply(orig)
    assert len(mutant) == len(orig) + 1
    assert mutant[line - 1].msg == mutant[line - 2].msg
    assert "return" in mutant[line - 1].msg or "error" in mutant[line - 1].msg


def test_move_oob_reply_after_blocked_reply() -> None:
    orig = fixture("oob-overtakes-blocked")
    mutant, line = move_reply_after(orig, "oob-1", "ib-blocks-1")
    ids = [o.id for o in replies(mutant, "c1")]
    assert ids.index('"ib-blocks-1"') + 1 == ids.index('"oob-1"')
    assert mutant[line - 1].msg["id"] == "ib-blocks-1"
    with pytest.raises(ValueError):
        move_reply_after(orig, "ib-blocks-1", "oob-1")


def test_change_id() -> None:
    orig = fixture("negotiate-oob")
    mutant, line = change_id(orig)
    new = mutant[line - 1].msg["id"]
    requests = {o.id for o in observations(orig)["c1"] if o.kind == "request"}
    assert json.dumps(new) not in requests and orig[line - 1].msg["id"] != new


def test_event_during_negotiation() -> None:
    orig = fixture("stop-cont-events")
    mutant, line = event_during_negotiation(orig)
    assert "event" in mutant[line - 1].msg and "QMP" in mutant[line - 2].msg
    assert len(mutant) == len(orig) + 1


def test_mutants_round_trip_through_text() -> None:
    mutant, _ = swap_replies(fixture("pipeline-20"))
    assert parse_transcript(dump_transcript(mutant)) == tuple(mutant)


def test_mutation_without_candidates_raises() -> None:
    with pytest.raises(ValueError, match="no two consecutive in-band replies"):
        swap_replies(parse_transcript(text(GOOD)))


# -- mux chardevs: bytes for HMP or the mux escape (docs/transcripts.md) ----------------------


def _lines(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps({"t": i, **r}) + "\n" for i, r in enumerate(rows))


CONNECT = {"dir": "--", "conn": "c1", "event": "connect", "monitor": "mux0"}


def test_bytes_for_hmp_never_reach_the_qmp_streamer() -> None:
    text = _lines(CONNECT,
                  {"dir": "->", "conn": "c1", "msg": None, "raw": '{"execute": ', "to": "hmp"},
                  {"dir": "->", "conn": "c1", "msg": None, "raw": "\u0001c", "to": "mux"},
                  {"dir": "->", "conn": "c1", "msg": {"execute": "query-name", "id": 1}})
    lines = parse_transcript(text)
    obs = observations(lines)["c1"]
    assert [o.kind for o in obs] == ["connect", "mux-input", "mux-input", "request"]
    # had the HMP bytes been fed to QMP's parser, the request would be swallowed into them
    assert obs[-1].command == "query-name" and obs[-1].first_line == 4
    data, spans = connection_bytes(lines, "c1")
    assert data == b'{"execute": "query-name", "id": 1}\n' and [ln for ln, _ in spans] == [4]


@pytest.mark.parametrize(("row", "expected"), [
    ({"dir": "->", "conn": "c1", "msg": None, "raw": "x", "to": "qmp"}, '"to" to be "hmp" or "mux"'),
    ({"dir": "->", "conn": "c1", "msg": {"execute": "x"}, "to": "hmp"}, '"msg": null with "raw"'),
    ({"dir": "<-", "conn": "c1", "msg": None, "raw": "(qemu) ", "to": "hmp"}, 'no "to" on a "<-" line'),
    ({"dir": "--", "conn": "c1", "event": "eof", "to": "hmp"}, 'no "to" on a "--" line'),
])
def test_bad_to_member_is_rejected_with_its_line(row: dict[str, Any], expected: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_transcript(_lines(CONNECT, row), "t.jsonl")
    assert "t.jsonl: line 2" in str(exc.value) and expected in str(exc.value)


def test_event_before_the_greeting_and_eof_are_observations() -> None:
    lines = load_transcript(DATA / "mux-hmp.jsonl")
    obs = [o for o in observations(lines)["c1"] if o.kind not in ("request", "mux-input")]
    assert [o.kind for o in obs[:3]] == ["connect", "event", "greeting"]
    assert obs[-1].kind == "eof"

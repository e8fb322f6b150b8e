"""``conform`` takes command existence, flags and error classes from the QAPI schema.

Facts checked against the installed QEMU 7.2.22 (tests/data/transcripts,
recorded by ``qmpmodel record``): ``x-oob-test`` exists only in QEMU's test
schema, so ``exec-oob x-oob-test`` is CommandNotFound; ``qom-list`` of a missing
path replies DeviceNotFound; ``query-gic-capabilities`` is compiled only for
ARM targets (``'if': 'TARGET_ARM'``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from qmpmodel.cli.conform import conform as conform_cmd
from qmpmodel.conformance import commands
from qmpmodel.conformance.commands import (
    CommandTable,
    ConformSpec,
    candidate_kinds,
    command_table,
    load_conform_spec,
)
from qmpmodel.conformance.conform import conform
from qmpmodel.conformance.observations import Observation
from qmpmodel.conformance.transcript import TranscriptLine, load_transcript, renumber

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data" / "transcripts"
SPEC = ROOT / "specs" / "qemu-current.toml"
REPLY = Path(__file__).parent / "data" / "qmp-schema" / "qemu-7.2.22-x86_64.json"
TREE = commands.DEFAULT_SCHEMA
needs_tree = pytest.mark.skipif(not TREE.is_file(), reason=f"{TREE} (QEMU 7.2's QAPI tree) is absent")


def req(command: str, kind: str = "execute", rid: str | None = '"x"') -> Observation:
    return Observation("request", 1, "c1", "mon0", 0.0, 1, kind, command=command, id=rid)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cspec() -> ConformSpec:
    return load_conform_spec(SPEC)


@pytest.fixture(scope="module")
def reply_spec() -> ConformSpec:
    return load_conform_spec(SPEC, REPLY)


def lines_of(name: str) -> tuple[TranscriptLine, ...]:
    return load_transcript(DATA / f"{name}.jsonl")


def with_reply_class(lines: tuple[TranscriptLine, ...], rid: str, cls: str) -> tuple[list[TranscriptLine], int]:
    """Change the error class of the reply with id *rid*; return the mutant and that line."""
    datas = [dict(ln.data) for ln in lines]
    for i, d in enumerate(datas):
        msg = d.get("msg")
        if d["dir"] == "<-" and isinstance(msg, dict) and msg.get("id") == rid and "error" in msg:
            datas[i] = {**d, "msg": {**msg, "error": {**msg["error"], "class": cls}}}
            return renumber(datas), i + 1
    raise AssertionError(f"no error reply {rid}")


# -- which commands exist ---------------------------------------------------------------


@needs_tree
def test_test_only_command_does_not_exist(cspec: ConformSpec) -> None:
    # x-oob-test is defined in tests/qapi-schema only; QEMU 7.2 answers CommandNotFound
    assert candidate_kinds(req("x-oob-test", "exec-oob"), cspec, False) == ("exec-oob-unknown",)
    assert candidate_kinds(req("x-oob-test"), cspec, False) == ("unknown",)
    # an allow-oob command of the schema is an OOB command; one without is rejected by the reader
    assert candidate_kinds(req("migrate-pause", "exec-oob"), cspec, False) == ("oob",)
    assert candidate_kinds(req("query-name", "exec-oob"), cspec, False) == ("exec-oob-bad",)
    assert candidate_kinds(req("block_resize"), cspec, False) == ("coroutine",)


@needs_tree
def test_conditional_command_may_be_missing_unless_the_reply_says(cspec: ConformSpec,
                                                                   reply_spec: ConformSpec) -> None:
    # 'if': 'TARGET_ARM' is not evaluated in a schema file: both are possible
    assert candidate_kinds(req("query-gic-capabilities"), cspec, False) == ("quick", "unknown")
    # the saved reply of the x86_64 binary is exact: it does not have the command
    assert candidate_kinds(req("query-gic-capabilities"), reply_spec, False) == ("unknown",)
    assert candidate_kinds(req("query-sev"), reply_spec, False) == ("quick",)


@needs_tree
def test_reply_borrows_coroutine_from_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    assert command_table(REPLY).kinds["block_resize"] == ("coroutine",)
    monkeypatch.setattr(commands, "DEFAULT_SCHEMA", Path("/nonexistent/qapi-schema.json"))
    table = command_table(REPLY)
    # a reply does not show 'coroutine': without the tree either kind may be right
    assert table.kinds["block_resize"] == ("quick", "coroutine")
    assert table.kinds["migrate-pause"] == ("oob",)
    # nor QapiErrorClass: QEMU 7.2's classes are used, with a note
    assert table.error_classes == frozenset(commands.QAPI_ERROR_CLASSES) and table.notes


def test_without_schema_an_unmapped_name_may_or_may_not_exist(cspec: ConformSpec) -> None:
    bare = ConformSpec(cspec.spec)
    assert candidate_kinds(req("no-such-command"), bare, False) == ("quick", "unknown")
    assert candidate_kinds(req("no-such-command", "exec-oob"), bare, False) == ("exec-oob-bad", "exec-oob-unknown")
    # the built-in table: behaviour a schema cannot show (docs/conformance.md)
    assert candidate_kinds(req("stop"), bare, False) == ("event", "quick")
    assert candidate_kinds(req("quit"), bare, False) == ("quit",)
    assert candidate_kinds(req("system_powerdown"), bare, False) == ("main-loop-event",)


@needs_tree
def test_exec_oob_unknown_transcript_needs_the_schema(cspec: ConformSpec) -> None:
    lines = lines_of("exec-oob-unknown")
    assert conform(lines, cspec, "exec-oob-unknown").accepted
    # QEMU checks existence before allow-oob (§3.5 checks 6, 9): a GenericError for a
    # command that does not exist, with oob negotiated, is not QEMU's behaviour
    mutant, line = with_reply_class(lines, "oob-3", "GenericError")
    r = conform(mutant, cspec, "m")
    assert r.verdict == "rejected" and r.line == line, r.render()


def test_schema_option_decides_existence(tmp_path: Path) -> None:
    """A schema in which x-oob-test exists (allow-oob) makes QEMU 7.2's CommandNotFound unexplainable."""
    schema = tmp_path / "s.json"
    schema.write_text("{ 'command': 'x-oob-test', 'allow-oob': true }\n"
                      "{ 'command': 'query-name' }\n{ 'command': 'migrate-pause', 'allow-oob': true }\n")
    res = CliRunner().invoke(conform_cmd, [str(DATA / "exec-oob-unknown.jsonl"), "--spec", str(SPEC),
                                           "--schema", str(schema)])
    assert res.exit_code == 1, res.output
    assert 'exec-oob-unknown.jsonl:31: no model behaviour explains the reply with id "oob-3" [CommandNotFound]' \
        in res.output


@pytest.mark.parametrize("bad", ["{ 'command': 1 }\n", "[1, 2]\n"])
def test_bad_schema_exits_2(tmp_path: Path, bad: str) -> None:
    schema = tmp_path / "bad.json"
    schema.write_text(bad)
    res = CliRunner().invoke(conform_cmd, [str(DATA / "negotiate.jsonl"), "--spec", str(SPEC),
                                           "--schema", str(schema)])
    assert res.exit_code == 2, res.output
    assert str(schema) in res.output and len(res.output.strip().splitlines()) == 1


# -- error classes ------------------------------------------------------------------------


@needs_tree
def test_error_classes_come_from_the_schema(cspec: ConformSpec) -> None:
    lines = lines_of("error-classes")
    assert cspec.error_classes == {"GenericError", "CommandNotFound", "DeviceNotActive", "DeviceNotFound",
                                   "KVMMissingCap"}
    assert conform(lines, cspec, "error-classes").accepted
    # a schema whose QapiErrorClass lacks DeviceNotFound cannot explain qom-list's reply
    narrow = ConformSpec(cspec.spec, {}, CommandTable("t", cspec.table.kinds if cspec.table else {},
                                                       error_classes=frozenset({"GenericError"})))
    r = conform(lines, narrow, "m")
    assert r.verdict == "rejected" and "qom-missing" in r.message and "[DeviceNotFound]" in r.message, r.render()
    # a class QEMU does not have is never explained
    mutant, line = with_reply_class(lines, "balloon-query", "NoSuchClass")
    r = conform(mutant, cspec, "m")
    assert r.verdict == "rejected" and r.line == line, r.render()


@needs_tree
def test_command_not_found_is_not_a_handler_failure(cspec: ConformSpec) -> None:
    """CommandNotFound comes from qmp_dispatch before a handler runs, never from a failing handler."""
    lines = lines_of("error-classes")
    assert "CommandNotFound" in cspec.error_classes and "CommandNotFound" not in cspec.handler_error_classes
    for rid in ("qom-missing", "balloon-query"):  # existing commands whose handlers failed
        mutant, line = with_reply_class(lines, rid, "CommandNotFound")
        r = conform(mutant, cspec, "m")
        assert r.verdict == "rejected" and r.line == line, r.render()
    # and an unknown command's CommandNotFound is not explained by a handler failure class
    mutant, line = with_reply_class(lines, "unknown", "DeviceNotFound")
    r = conform(mutant, cspec, "m")
    assert r.verdict == "rejected" and r.line == line, r.render()


# -- the saved schema of the binary ------------------------------------------------------------


@needs_tree
@pytest.mark.parametrize("name", ["negotiate", "errors", "coroutine-commands", "oob-overtakes-blocked",
                                  "two-monitors"])
def test_old_transcripts_conform_with_the_binarys_schema(name: str, reply_spec: ConformSpec) -> None:
    r = conform(lines_of(name), reply_spec, name)
    assert r.accepted, r.render()


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 not installed")
def test_saved_schema_is_the_installed_binarys() -> None:
    from qmpmodel.conformance.session import Session

    with Session.start() as s:
        c = s.connect()
        s.negotiate(c)
        s.send(c, {"execute": "query-qmp-schema", "id": "schema"})
        live = s.wait_id(c, "schema")["return"]
    saved = json.loads(REPLY.read_text())["return"]

    def commands_of(infos: list[dict[str, object]]) -> dict[object, object]:
        return {i["name"]: i.get("allow-oob", False) for i in infos if i["meta-type"] == "command"}

    assert commands_of(live) == commands_of(saved)

"""Tests of :mod:`qmpmodel.schema.qapi` and ``qmpmodel schema``.

Three layers: small hand-written schemas; QEMU 7.2.22's own schema files and its
generator's negative test suite (``../shared/qemu-qapi``); and a live
``qemu-system-x86_64`` (marked ``qemu``), compared with the captured reply in
``tests/data/qapi/``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qmpmodel.cli.schema import schema as schema_command
from qmpmodel.errors import InputError
from qmpmodel.schema.qapi import (
    QapiCommand,
    Schema,
    condition_text,
    load_schema,
    model_kind,
    schema_to_json,
    select_commands,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "qemu-qapi"
SUITE = SHARED / "tests" / "qapi-schema"
DATA = Path(__file__).resolve().parent / "data" / "qapi"
REPLY = DATA / "query-qmp-schema-7.2.22.json"
QUERY_COMMANDS = DATA / "query-commands-7.2.22.json"

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"QEMU's QAPI files are not at {SHARED} (see its SOURCE.md)"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- small schemas


def test_reads_commands_flags_events_conditions_and_features(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        "s.json",
        """\
# plain comment
{ 'pragma': { 'command-name-exceptions': [ 'old_style' ] } }
##
# @quick:
##
{ 'command': 'quick', 'data': { 'a': 'str' } }
{ 'command': 'fast', 'allow-oob': true, 'allow-preconfig': true,
  'features': [ 'unstable', { 'name': 'f2', 'if': 'CONFIG_F2' } ] }
{ 'command': 'slow', 'coroutine': true, 'if': { 'all': [ 'CONFIG_A', { 'not': 'CONFIG_B' } ] } }
{ 'command': 'old_style', 'success-response': false, 'gen': false, 'boxed': true, 'data': 'Thing' }
{ 'event': 'SOMETHING', 'if': 'CONFIG_A' }
{ 'struct': 'Thing', 'data': {} }
""",
    )
    s = load_schema(root)
    assert s.lints == ()
    quick, fast, slow, old = s.commands
    assert quick == QapiCommand("quick", file=str(root), line=6)
    assert (fast.allow_oob, fast.allow_preconfig, fast.features) == (True, True, ("unstable", "f2"))
    assert slow.coroutine and slow.condition == {"all": ["CONFIG_A", {"not": "CONFIG_B"}]}
    assert (old.success_response, old.gen, old.boxed) == (False, False, True)
    assert [model_kind(c) for c in s.commands] == ["quick", "oob", "coroutine", "noreply"]
    assert [(e.name, e.condition, e.line) for e in s.events] == [("SOMETHING", "CONFIG_A", 11)]
    assert condition_text(slow.condition) == "(CONFIG_A and not CONFIG_B)"


def test_include_is_relative_to_the_including_file_and_read_once(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        "top/root.json",
        "{ 'include': '../lib/a.json' }\n{ 'include': '../lib/a.json' }\n",
    )
    write(tmp_path, "lib/a.json", "{ 'include': 'b.json' }\n{ 'command': 'in-a' }\n")
    write(tmp_path, "lib/b.json", "\n{ 'command': 'in-b' }\n")
    s = load_schema(root)
    assert [(c.name, Path(c.file).name, c.line) for c in s.commands] == [
        ("in-b", "b.json", 2),
        ("in-a", "a.json", 2),
    ]
    assert Path(s.commands[0].file).resolve() == tmp_path / "lib" / "b.json"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{ 'command': 'x', 'allow-oob': true, 'coroutine': true }",
            "flags 'allow-oob' and 'coroutine' are incompatible",
        ),
        ("{ 'command': 'x', 'coroutine': false }", "flag 'coroutine' may only use true value"),
        (
            "{ 'command': 'x', 'success-response': true }",
            "flag 'success-response' may only use false value",
        ),
        ("{ 'command': 'x', 'alow-oob': true }", "command has unknown key 'alow-oob'"),
        ("{ 'command': 'Bad_Name' }", "name of command must not use uppercase or '_'"),
    ],
)
def test_lints_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    root = write(tmp_path, "s.json", "# comment\n" + text + "\n")
    (lint,) = load_schema(root).lints
    assert (lint.file, lint.line) == (str(root), 2)
    assert message in lint.message and str(lint).startswith(f"{root}:2: command ")


@pytest.mark.parametrize(
    ("text", "where", "phrase"),
    [
        ("{ 'command': 'x',\n  'data': { 'a': 'str' }", "line 2, column 25", "expected ',' or '}'"),
        ("{ 'command': \"x\" }", "line 1, column 14", "stray '\"x\"'"),
        ("{ 'command': 'x' }\n[ 'y' ]", "line 2", "top-level expression must be an object"),
        ("{ 'command': 'x', 'command': 'y' }", "line 1, column 30", "duplicate key 'command'"),
        ("{ 'include': 'absent.json' }", "line 1", "can't read include file"),
        ("{ 'command': 'x', 'event': 'Y' }", "line 1", "expression must have exactly one key"),
    ],
)
def test_malformed_input_is_one_located_line(
    tmp_path: Path, text: str, where: str, phrase: str
) -> None:
    root = write(tmp_path, "s.json", text + "\n")
    with pytest.raises(InputError) as info:
        load_schema(root)
    assert info.value.where == where
    assert phrase in str(info.value) and "\n" not in str(info.value)


def test_reads_a_query_qmp_schema_reply_bare_or_wrapped(tmp_path: Path) -> None:
    infos = [
        {
            "name": "yank",
            "meta-type": "command",
            "arg-type": "0",
            "ret-type": "1",
            "allow-oob": True,
        },
        {"name": "query-x", "meta-type": "command", "features": ["unstable"]},
        {"name": "STOP", "meta-type": "event", "arg-type": "0"},
        {"name": "0", "meta-type": "object", "members": []},
    ]
    for reply in (infos, {"return": infos}):
        s = load_schema(write(tmp_path, "r.json", json.dumps(reply)))
        assert s.from_reply and s.lints == ()
        assert [(c.name, c.allow_oob, c.features) for c in s.commands] == [
            ("yank", True, ()),
            ("query-x", False, ("unstable",)),
        ]
        assert [e.name for e in s.events] == ["STOP"]
    with pytest.raises(InputError, match=r"element 0: expected a query-qmp-schema reply"):
        load_schema(write(tmp_path, "qc.json", '{"return": [{"name": "quit"}]}'))
    with pytest.raises(InputError, match=r"got an error reply"):
        load_schema(write(tmp_path, "err.json", '{"error": {"class": "GenericError"}}'))
    with pytest.raises(InputError, match=r"line 1, column 2: .*got stray '\"command\"'"):
        load_schema(write(tmp_path, "dq.json", '{"command": "x"}'))


def test_select_commands_keeps_order_and_suggests_close_names() -> None:
    s = Schema((QapiCommand("migrate-pause", allow_oob=True), QapiCommand("query-status")), ())
    assert [c.name for c in select_commands(s, None)] == ["migrate-pause", "query-status"]
    chosen = select_commands(s, ["query-status", "migrate-pause", "query-status"])
    assert [c.name for c in chosen] == ["query-status", "migrate-pause"]
    with pytest.raises(InputError) as info:
        select_commands(s, ["query-stat"], source="spec.toml", where="commands.select")
    assert str(info.value) == (
        "spec.toml: commands.select: expected a command of the schema "
        "(got 'query-stat'); did you mean 'query-status'?"
    )


def test_json_export_shape(tmp_path: Path) -> None:
    root = write(tmp_path, "s.json", "{ 'command': 'c', 'if': 'CONFIG_X' }\n{ 'event': 'E' }\n")
    assert schema_to_json(load_schema(root)) == {
        "commands": [
            {
                "name": "c",
                "allow-oob": False,
                "coroutine": False,
                "allow-preconfig": False,
                "success-response": True,
                "if": "CONFIG_X",
                "features": [],
                "file": str(root),
                "line": 1,
            }
        ],
        "events": [{"name": "E", "if": None, "file": str(root), "line": 2}],
    }


def test_cli_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    good = write(tmp_path, "good.json", "{ 'command': 'yank', 'allow-oob': true }\n")
    result = runner.invoke(schema_command, [str(good)])
    assert result.exit_code == 0 and "allow-oob: 1\n    yank\n" in result.output
    result = runner.invoke(schema_command, [str(good), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["commands"][0]["allow-oob"] is True
    linted = write(
        tmp_path, "lint.json", "{ 'command': 'x', 'allow-oob': true, 'coroutine': true }"
    )
    result = runner.invoke(schema_command, [str(linted), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["commands"][0]["name"] == "x"
    assert result.stderr == (
        f"{linted}:1: command 'x': flags 'allow-oob' and 'coroutine' are incompatible\n"
    )
    bad = write(tmp_path, "bad.json", "{ 'command': 'x' ")
    result = runner.invoke(schema_command, [str(bad)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"{bad}: line 1, column 18: expected ',' or '}}' (got end of file)\n")
    result = runner.invoke(schema_command, [str(tmp_path / "absent.json")])
    assert result.exit_code == 2 and "can't read schema file" in result.stderr


# ------------------------------------------------------------ QEMU 7.2 schemas


@needs_shared
def test_system_emulator_schema() -> None:
    s = load_schema(SHARED / "qapi" / "qapi-schema.json")
    assert s.lints == ()
    assert (len(s.commands), len(s.events)) == (220, 52)
    assert len({c.name for c in s.commands}) == 220
    assert [c.name for c in s.commands if c.allow_oob] == [
        "migrate-recover",
        "migrate-pause",
        "yank",
        "query-yank",
    ]
    assert [c.name for c in s.commands if c.coroutine] == ["block_resize", "screendump"]
    assert sum(c.allow_preconfig for c in s.commands) == 74
    assert [c.name for c in s.commands if not c.gen] == ["device_add"]
    assert sum(c.boxed for c in s.commands) == 17
    assert not any(c.allow_oob and c.coroutine for c in s.commands)
    assert all(c.success_response for c in s.commands)
    assert sum(c.condition is not None for c in s.commands) == 28
    by_name = {c.name: c for c in s.commands}
    assert by_name["qmp_capabilities"].allow_preconfig
    assert (Path(by_name["migrate-pause"].file).name, by_name["migrate-pause"].line) == (
        "migration.json",
        1742,
    )


@needs_shared
def test_guest_agent_schema_has_the_no_reply_commands() -> None:
    s = load_schema(SHARED / "qga" / "qapi-schema.json")
    assert s.lints == () and len(s.commands) == 42
    assert [c.name for c in s.commands if model_kind(c) == "noreply"] == [
        "guest-shutdown",
        "guest-suspend-disk",
        "guest-suspend-ram",
        "guest-suspend-hybrid",
    ]


@needs_shared
def test_storage_daemon_schema_includes_across_folders() -> None:
    s = load_schema(SHARED / "storage-daemon" / "qapi" / "qapi-schema.json")
    assert s.lints == () and (len(s.commands), len(s.events)) == (74, 13)
    resize = next(c for c in s.commands if c.name == "block_resize")
    assert resize.coroutine and resize.allow_preconfig
    assert Path(resize.file).resolve() == (SHARED / "qapi" / "block-core.json").resolve()


# ------------------------------------------- QEMU's generator test suite (7.2)

_TYPES = "type checking of members, 'data', 'returns', 'base', branches and enum values"
_IF = "'if' condition syntax: conditions are kept as data, not validated"
_FEATURES = "feature declarations: names are read, their syntax and policy are not checked"
_BUILTIN = "built-in type names: the type namespace with its predefined types is not modelled"
_DOC = (
    "documentation contents (sections, documented members, indentation): only doc-block "
    "framing and the '@NAME:' line are read"
)
OUT_OF_SCOPE: dict[str, str] = {
    **dict.fromkeys(
        [
            "alternate-any",
            "alternate-clash",
            "alternate-conflict-bool-string",
            "alternate-conflict-dict",
            "alternate-conflict-enum-bool",
            "alternate-conflict-enum-int",
            "alternate-conflict-lists",
            "alternate-conflict-num-string",
            "alternate-conflict-string",
            "alternate-data-invalid",
            "alternate-empty",
            "alternate-invalid-dict",
            "alternate-nested",
            "alternate-unknown",
            "args-alternate",
            "args-any",
            "args-array-empty",
            "args-array-unknown",
            "args-boxed-anon",
            "args-boxed-string",
            "args-int",
            "args-invalid",
            "args-member-array-bad",
            "args-member-case",
            "args-member-unknown",
            "args-union",
            "args-unknown",
            "bad-base",
            "bad-data",
            "base-cycle-direct",
            "base-cycle-indirect",
            "enum-bad-member",
            "enum-bad-name",
            "enum-bad-prefix",
            "enum-clash-member",
            "enum-dict-member-unknown",
            "enum-dict-no-name",
            "enum-member-case",
            "enum-wrong-data",
            "event-boxed-empty",
            "event-member-invalid-dict",
            "event-nest-struct",
            "nested-struct-data",
            "nested-struct-data-invalid-dict",
            "reserved-enum-q",
            "reserved-member-has",
            "reserved-member-q",
            "reserved-member-u",
            "reserved-member-underscore",
            "returns-alternate",
            "returns-array-bad",
            "returns-bad-type",
            "returns-dict",
            "returns-unknown",
            "struct-base-clash",
            "struct-base-clash-deep",
            "struct-data-invalid",
            "struct-member-invalid",
            "struct-member-invalid-dict",
            "struct-member-name-clash",
            "union-array-branch",
            "union-bad-base",
            "union-bad-discriminator",
            "union-base-any",
            "union-base-empty",
            "union-base-union",
            "union-branch-invalid-dict",
            "union-clash-member",
            "union-discriminator-bad-name",
            "union-empty",
            "union-inline-invalid-dict",
            "union-int-branch",
            "union-invalid-base",
            "union-invalid-branch-key",
            "union-invalid-data",
            "union-invalid-discriminator",
            "union-invalid-if-discriminator",
            "union-optional-discriminator",
            "union-string-discriminator",
            "union-unknown",
        ],
        _TYPES,
    ),
    **dict.fromkeys(
        [
            "alternate-branch-if-invalid",
            "bad-if",
            "bad-if-all",
            "bad-if-empty",
            "bad-if-empty-list",
            "bad-if-key",
            "bad-if-keys",
            "bad-if-list",
            "bad-if-not",
            "enum-if-invalid",
            "struct-member-if-invalid",
            "union-branch-if-invalid",
        ],
        _IF,
    ),
    **dict.fromkeys(
        [
            "features-bad-type",
            "features-deprecated-type",
            "features-duplicate-name",
            "features-if-invalid",
            "features-missing-name",
            "features-name-bad-type",
            "features-no-list",
            "features-unknown-key",
        ],
        _FEATURES,
    ),
    **dict.fromkeys(["command-int", "redefined-predefined"], _BUILTIN),
    **dict.fromkeys(
        [
            "doc-bad-alternate-member",
            "doc-bad-boxed-command-arg",
            "doc-bad-command-arg",
            "doc-bad-enum-member",
            "doc-bad-event-arg",
            "doc-bad-feature",
            "doc-bad-indent",
            "doc-bad-union-member",
            "doc-duplicated-arg",
            "doc-duplicated-return",
            "doc-duplicated-since",
            "doc-empty-arg",
            "doc-empty-section",
            "doc-interleaved-section",
            "doc-invalid-return",
            "doc-invalid-section",
            "doc-undoc-feature",
        ],
        _DOC,
    ),
}
_LOCATED = re.compile(r"^(?P<file>\S+?\.json):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<msg>.*)$")


def _cases() -> list[str]:
    return sorted(p.stem for p in SUITE.glob("*.err")) if SUITE.is_dir() else []


def _accepted(case: str) -> bool:
    return (SUITE / f"{case}.err").read_text() == ""


def _verdict(case: str) -> tuple[str, str, str, str]:
    """QEMU's complaint for a rejected case: file, line, column (or ''), message.

    The first located line carries it (later ones are "previous definition" or the
    "Valid keys are" continuation); a case without location (missing-schema) gives
    its whole line.
    """
    lines = (SUITE / f"{case}.err").read_text().splitlines()
    for line in lines:
        if m := _LOCATED.match(line):
            return m["file"], m["line"], m["col"] or "", m["msg"]
    return f"{case}.json", "", "", lines[-1]


def _complaint(case: str) -> tuple[str, str, str, str] | None:
    """Our first complaint on a case (file, line, column, text), or None if it is read clean."""
    try:
        s = load_schema(f"{case}.json")
    except InputError as e:
        m = re.fullmatch(r"line (\d+)(?:, column (\d+))?", e.where or "")
        return e.source, m[1] if m else "", (m[2] or "") if m else "", str(e)
    if s.lints:
        return s.lints[0].file, str(s.lints[0].line), "", s.lints[0].message
    return None


@needs_shared
@pytest.mark.parametrize("case", _cases())
def test_qemu_schema_suite_case(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # QEMU's harness runs in the suite's folder with relative names; so do we,
    # which makes file names in the messages comparable.
    monkeypatch.chdir(SUITE)
    if not (SUITE / f"{case}.json").exists() and case != "missing-schema":
        pytest.skip(f"{case}.json is absent from the shared copy (only its .err is there)")
    got = _complaint(case)
    if _accepted(case):
        assert got is None, f"QEMU accepts {case}.json"
    elif case in OUT_OF_SCOPE:
        pass  # read or rejected, but never a crash: _complaint only catches InputError
    else:
        file, line, col, phrase = _verdict(case)
        assert got is not None, f"QEMU rejects {case}.json: {phrase}"
        got_file, got_line, got_col, text = got
        assert phrase in text, text
        assert (Path(got_file).name, got_line) == (file, line), text
        if col and got_col:
            assert got_col == col, text


@needs_shared
def test_qemu_schema_suite_score(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SUITE)
    cases = _cases()
    accepted = [c for c in cases if _accepted(c)]
    rejected = [c for c in cases if not _accepted(c)]
    assert set(OUT_OF_SCOPE) <= set(rejected), set(OUT_OF_SCOPE) - set(rejected)
    in_scope = [c for c in rejected if c not in OUT_OF_SCOPE]
    absent = [c for c in in_scope if not Path(f"{c}.json").exists() and c != "missing-schema"]
    matched = [
        c
        for c in in_scope
        if c not in absent and (got := _complaint(c)) is not None and _verdict(c)[3] in got[3]
    ]
    score = (len(accepted), len(in_scope) - len(absent), len(matched), len(OUT_OF_SCOPE), absent)
    assert score == (len(accepted), 72, 72, 119, ["escape-outside-string"])
    assert len(accepted) == 8
    assert "oob-coroutine" in matched


# ------------------------------------------------------------- live QEMU 7.2


def _decide(cond: Any, target: str = "TARGET_I386") -> bool | None:
    """Evaluate an ``if`` for qemu-system-x86_64: targets are known, CONFIG_* are not."""
    if cond is None:
        return True
    if isinstance(cond, str):
        return bool(cond == target) if cond.startswith("TARGET_") else None
    ((op, arg),) = cond.items()
    if op == "not":
        inner = _decide(arg, target)
        return None if inner is None else not inner
    values = [_decide(a, target) for a in arg]
    decisive = bool(op == "any")  # any: one True decides; all: one False decides
    if decisive in values:
        return decisive
    return None if None in values else not decisive


def _names_in(path: Path) -> set[str]:
    return {c["name"] for c in json.loads(path.read_text())["return"]}


@needs_shared
def test_schema_file_agrees_with_the_captured_qemu_reply() -> None:
    source = load_schema(SHARED / "qapi" / "qapi-schema.json")
    live = load_schema(REPLY)
    live_cmds = {c.name: c for c in live.commands}
    assert set(live_cmds) == _names_in(QUERY_COMMANDS) and len(live_cmds) == 216
    assert set(live_cmds) <= {c.name for c in source.commands}
    for cmd in source.commands:
        present = _decide(cmd.condition)
        if present is not None:
            assert (cmd.name in live_cmds) == present, (cmd.name, cmd.condition)
        if cmd.name in live_cmds:
            assert live_cmds[cmd.name].allow_oob == cmd.allow_oob, cmd.name
            assert set(live_cmds[cmd.name].features) == set(cmd.features), cmd.name
    missing = sorted(c.name for c in source.commands if c.name not in live_cmds)
    assert missing == [
        "dump-skeys",
        "query-cpu-model-baseline",
        "query-cpu-model-comparison",
        "query-gic-capabilities",
    ]
    assert {e.name for e in live.events} == {e.name for e in source.events}


def _capture(binary: str, folder: Path) -> dict[str, Any]:
    """Start QEMU with a QMP socket, ask query-commands and query-qmp-schema, kill it."""
    sock = folder / "qmp.sock"
    proc = subprocess.Popen(
        [
            binary,
            "-machine",
            "none",
            "-nodefaults",
            "-display",
            "none",
            "-accel",
            "tcg",
            "-qmp",
            f"unix:{sock},server=on,wait=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "QEMU did not start"
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(20)
            conn.connect(str(sock))
            stream = conn.makefile("rwb")

            def execute(command: str | None) -> Any:
                if command:
                    stream.write(json.dumps({"execute": command}).encode() + b"\n")
                    stream.flush()
                while "event" in (reply := json.loads(stream.readline())):
                    pass
                return reply

            greeting = execute(None)
            execute("qmp_capabilities")
            return {
                "version": greeting["QMP"]["version"]["qemu"],
                "query-commands": execute("query-commands"),
                "query-qmp-schema": execute("query-qmp-schema"),
            }
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.qemu
def test_live_qemu_matches_the_fixture(tmp_path: Path) -> None:
    binary = shutil.which("qemu-system-x86_64")
    if binary is None:
        pytest.skip("qemu-system-x86_64 is not installed (scripts/setup.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="qmpmodel-") as folder:  # short: a socket path
        got = _capture(binary, Path(folder))
    if (got["version"]["major"], got["version"]["minor"]) != (7, 2):
        pytest.skip(f"the fixture is QEMU 7.2's; this QEMU is {got['version']}")
    path = write(tmp_path, "reply.json", json.dumps(got["query-qmp-schema"]))
    live, fixture = load_schema(path), load_schema(REPLY)
    assert {c.name for c in live.commands} == {c["name"] for c in got["query-commands"]["return"]}
    assert [(c.name, c.allow_oob, c.features) for c in live.commands] == [
        (c.name, c.allow_oob, c.features) for c in fixture.commands
    ]
    assert [e.name for e in live.events] == [e.name for e in fixture.events]

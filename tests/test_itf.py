"""ITF traces: strict rules on every trace written, round trip, itf-py, and `qmpmodel replay`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from qmpmodel.artefacts.itf import itf_to_trace, read_itf, replay, trace_to_itf, validate_itf
from qmpmodel.artefacts.report import cex_name, write_artefacts
from qmpmodel.check import check_spec, prepare
from qmpmodel.cli.replay import replay_cmd
from qmpmodel.errors import InputError
from qmpmodel.specs import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = ["specs/tiny.toml", "specs/bugs/C-drain-polls-only-aio-context.toml",
         "specs/bugs/B-drain-call-rcu-in-rcu-reader.toml"]


def _specs() -> list[str]:
    return [s for s in SPECS if (ROOT / s).exists()]


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory):
    """Every counterexample of a few specs written by write_artefacts (paths relative to ROOT)."""
    out = tmp_path_factory.mktemp("artefacts")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # spec paths as a user types them: relative to the repository
        specs = [load_spec(s) for s in _specs()]
        prepared = {s.path: prepare(s) for s in specs}
        results = [check_spec(s) for s in specs]
        files = write_artefacts(results, prepared, out)
    return out, results, files


def check_strict_itf(doc: object) -> None:
    """An independent reading of ADR-015's rules, as qmpmodel promises to write them."""
    assert isinstance(doc, dict)
    assert set(doc) <= {"#meta", "params", "vars", "states", "loop"}
    names = doc["vars"]
    assert isinstance(names, list) and len(set(names)) == len(names)
    assert doc["states"]

    def value_ok(v: object) -> bool:
        if isinstance(v, bool):
            return True
        if isinstance(v, dict):
            return set(v) == {"#bigint"} and re.fullmatch(r"-?[0-9]+", v["#bigint"]) is not None
        return False  # plain JSON numbers are not ITF

    for k, st in enumerate(doc["states"]):
        assert set(st) == {*names, "#meta"}, f"state {k} does not define exactly vars"
        assert all(value_ok(st[n]) for n in names), f"state {k}: a non-ITF value"
        m = st["#meta"]
        assert m["index"] == k
        assert {"action", "actor", "label", "action_index"} <= set(m)
    if "loop" in doc:
        assert isinstance(doc["loop"], int) and 0 <= doc["loop"] < len(doc["states"])
    assert doc["#meta"]["format"] == "ITF" and doc["#meta"]["invariant"]


def test_every_written_trace_is_strict_itf_and_reads_back_identical(artefacts) -> None:
    _out, results, files = artefacts
    itfs = sorted(p for p in files if p.name.endswith(".itf.json"))
    traces = {(r.spec, i.name): i.trace for r in results for i in r.invariants if i.trace is not None}
    assert len(itfs) == len(traces) > 0
    by_name = {f"{cex_name(spec, name)}.itf.json": tr for (spec, name), tr in traces.items()}
    assert sorted(by_name) == sorted(p.name for p in itfs)
    for p in itfs:
        doc = json.loads(p.read_text())
        check_strict_itf(doc)
        t = read_itf(p)
        tr = by_name[p.name]
        assert itf_to_trace(t) == tr
        assert trace_to_itf(itf_to_trace(t), doc["#meta"]["source"], doc["#meta"]["invariant"],
                            doc["#meta"].get("description", "")) == doc
        assert (doc.get("loop") is not None) == (tr.loop is not None)


def test_itf_py_reads_every_trace(artefacts) -> None:
    itf_py = pytest.importorskip("itf_py")
    _out, _results, files = artefacts
    for p in files:
        if p.name.endswith(".itf.json"):
            doc = json.loads(p.read_text())
            t = itf_py.trace_from_json(doc)
            assert len(t.states) == len(doc["states"]) and t.loop == doc.get("loop")
            assert t.vars == doc["vars"]
            first = t.states[0].values
            assert all(isinstance(first[n], (int, bool)) for n in doc["vars"])


def test_validator_rejects_non_strict_files() -> None:
    base = {"vars": ["x"], "states": [{"#meta": {"index": 0, "action": "init", "actor": "", "label": "init",
                                                   "action_index": -1}, "x": {"#bigint": "1"}}]}
    validate_itf(base, "ok.itf.json")
    bad = [
        ({**base, "states": [{**base["states"][0], "x": 1}]}, "#bigint"),
        ({**base, "vars": ["x", "y"]}, "every variable"),
        ({**base, "loop": 3}, "loop"),
        ({**base, "extra": 1}, "ITF keys"),
        ({**base, "states": [{"x": {"#bigint": "1"}}]}, "#meta"),
    ]
    for doc, what in bad:
        with pytest.raises(InputError) as e:
            validate_itf(doc, "t.itf.json")
        msg = str(e.value)
        assert "t.itf.json" in msg and what in msg and "\n" not in msg


def _one(artefacts, suffix: str) -> Path:
    _out, _r, files = artefacts
    return next(p for p in files if p.name.endswith(suffix))


def _run(args: list[str]):
    return CliRunner().invoke(replay_cmd, args, catch_exceptions=False)


@pytest.mark.parametrize("suffix", ["C-drain-polls-only-aio-context.no-deadlock.itf.json",
                                    "C-drain-polls-only-aio-context.progress.itf.json",
                                    "tiny.reply-order-all.itf.json"])
def test_replay_reproduces(artefacts, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    if not any(p.name.endswith(suffix) for p in artefacts[2]):
        pytest.skip(f"no {suffix} (spec missing)")
    p = _one(artefacts, suffix)
    spec = json.loads(p.read_text())["#meta"]["source"]
    r = _run([str(p), "--spec", spec])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("reproduced")
    assert _run([str(p)]).exit_code == 0  # spec from #meta.source


def test_replay_names_the_first_diverging_step(artefacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    p = _one(artefacts, ".no-deadlock.itf.json")
    doc = json.loads(p.read_text())
    # tamper with a value in state 3: the re-executed step 3 no longer matches
    name = next(n for n in doc["vars"] if not isinstance(doc["states"][3][n], bool))
    doc["states"][3][name] = {"#bigint": str(int(doc["states"][3][name]["#bigint"]) + 1)}
    bad = tmp_path / "tampered.itf.json"
    bad.write_text(json.dumps(doc))
    r = _run([str(bad)])
    assert r.exit_code == 1
    assert "step 3" in r.output and name in r.output
    # a different action at step 2 (the action is found by its label when the index disagrees)
    doc = json.loads(p.read_text())
    doc["states"][2]["#meta"] = {**doc["states"][1]["#meta"], "index": 2}
    bad.write_text(json.dumps(doc))
    r = _run([str(bad)])
    assert r.exit_code == 1 and "step 2" in r.output
    # a shortened trace no longer ends in the violation
    doc = json.loads(p.read_text())
    doc["states"] = doc["states"][:4]
    bad.write_text(json.dumps(doc))
    r = _run([str(bad)])
    assert r.exit_code == 1 and "holds" in r.output


def test_replay_bad_files_exit_2(tmp_path: Path, artefacts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    cases = {"notjson.itf.json": "{", "ints.itf.json": json.dumps({"vars": ["x"], "states": [{"x": 1}]}),
             "list.itf.json": "[]"}
    for name, text in cases.items():
        f = tmp_path / name
        f.write_text(text)
        r = CliRunner().invoke(replay_cmd, [str(f), "--spec", "specs/tiny.toml"])
        assert r.exit_code == 2, (name, r.output)
        assert name in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(replay_cmd, [str(tmp_path / "missing.itf.json"), "--spec", "specs/tiny.toml"])
    assert r.exit_code == 2
    p = _one(artefacts, ".itf.json")
    r = CliRunner().invoke(replay_cmd, [str(p), "--spec", "specs/no-such.toml"])
    assert r.exit_code == 2 and "no-such.toml" in r.output


def test_replay_against_another_spec_diverges(artefacts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    p = _one(artefacts, "C-drain-polls-only-aio-context.no-deadlock.itf.json")
    t = read_itf(p)
    other = prepare(load_spec("specs/tiny.toml"))
    out = replay(t, other)
    assert not out.reproduced and out.step == 0

"""Counterexamples as strict ITF (Informal Trace Format) and their replay.

ITF (Apalache ADR-015; ``../shared/model-checker-anchors.md`` §13) is the
trace format Apalache, Quint, itf-py and the ITF Trace Viewer share. qmpmodel
writes it strictly:

* ``vars`` lists every model variable, and every state defines every one;
* every integer is ``{"#bigint": "N"}``, booleans are JSON booleans;
* each state's ``#meta`` holds ``index`` and the step that led to it:
  ``action`` (family), ``actor`` (QEMU thread or party), ``label`` (the
  action instance), ``action_index`` (its position in the model's action
  list; -1 for the initial state), ``params`` and, when known, ``qemu`` (the
  QEMU function the action models);
* ``loop`` is set for a liveness lasso (the last state steps back to
  ``states[loop]``);
* the trace's ``#meta`` names the spec (``source``), the violated
  ``invariant`` and, for a deadlock, the wait-for ``cycle``.

:func:`replay` re-executes such a file against a spec's model and confirms
the violation.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qmpmodel import __version__
from qmpmodel.artefacts.files import write_atomic
from qmpmodel.core.expr import Expr
from qmpmodel.core.model import Model
from qmpmodel.core.results import StateView, Trace, TraceStep
from qmpmodel.errors import InputError

__all__ = [
    "ITF_FORMAT_DESCRIPTION",
    "ItfTrace",
    "ReplayOutcome",
    "itf_to_trace",
    "read_itf",
    "replay",
    "replay_command",
    "trace_from_itf",
    "trace_to_itf",
    "validate_itf",
    "write_itf",
]

ITF_FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
_BIGINT = re.compile(r"-?[0-9]+")


def _value(v: int | bool) -> object:
    if isinstance(v, bool):
        return v
    return {"#bigint": str(int(v))}


def trace_to_itf(trace: Trace, spec: str = "", invariant: str = "", description: str = "") -> dict[str, Any]:
    """The strict ITF document of ``trace`` (deterministic: no timestamp)."""
    names = list(trace.initial)
    meta: dict[str, Any] = {
        "format": "ITF",
        "format-description": ITF_FORMAT_DESCRIPTION,
        "source": spec,
        "invariant": invariant,
        "status": "violation",
        "generator": f"qmpmodel {__version__}",
    }
    if description:
        meta["description"] = description
    if trace.cycle:
        meta["cycle"] = [list(e) for e in trace.cycle]
    states: list[dict[str, Any]] = []
    init_meta = {"index": 0, "action": "init", "actor": "", "label": "init", "action_index": -1, "params": {}}
    for k, (view, st) in enumerate(zip(trace.states(), (None, *trace.steps), strict=True)):
        m = init_meta if st is None else {
            "index": k, "action": st.action, "actor": st.actor, "label": st.label,
            "action_index": st.index, "params": {p: _value(x) for p, x in st.params.items()},
            **({"qemu": st.qemu} if st.qemu else {}),
        }
        states.append({"#meta": m, **{n: _value(view[n]) for n in names}})
    doc: dict[str, Any] = {"#meta": meta, "vars": names, "states": states}
    if trace.loop is not None:
        doc["loop"] = trace.loop
    return doc


@dataclass(frozen=True)
class ItfTrace:
    """A validated ITF document, decoded: states as ``name -> int | bool``."""

    vars: tuple[str, ...]
    states: tuple[dict[str, int | bool], ...]
    metas: tuple[dict[str, Any], ...]
    loop: int | None
    meta: dict[str, Any] = field(default_factory=dict)


def _bad(source: str, where: str | None, expected: str, found: str | None = None) -> InputError:
    return InputError(source, where, expected, found)


def _decode(v: object, source: str, where: str) -> int | bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, dict) and set(v) == {"#bigint"} and isinstance(v["#bigint"], str) \
            and _BIGINT.fullmatch(v["#bigint"]):
        return int(v["#bigint"])
    raise _bad(source, where, 'an ITF boolean or {"#bigint": "N"}', json.dumps(v)[:40])


def validate_itf(doc: object, source: str = "<itf>") -> ItfTrace:
    """Check the strict ITF rules qmpmodel writes and decode the document.

    Raises :class:`InputError` (one line naming ``source`` and the position)
    on the first rule broken.
    """
    if not isinstance(doc, dict):
        raise _bad(source, None, "an ITF trace object", type(doc).__name__)
    for k in doc:
        if k not in ("#meta", "params", "vars", "states", "loop"):
            raise _bad(source, k, "only the ITF keys #meta, params, vars, states, loop", repr(k))
    names = doc.get("vars")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _bad(source, "vars", "an array of variable names")
    if len(set(names)) != len(names):
        raise _bad(source, "vars", "distinct variable names", "a duplicate")
    states = doc.get("states")
    if not isinstance(states, list) or not states:
        raise _bad(source, "states", "a non-empty array of states")
    meta = doc.get("#meta", {})
    if not isinstance(meta, dict):
        raise _bad(source, "#meta", "an object")
    out: list[dict[str, int | bool]] = []
    metas: list[dict[str, Any]] = []
    for k, st in enumerate(states):
        where = f"states[{k}]"
        if not isinstance(st, dict):
            raise _bad(source, where, "a state object")
        keys = set(st) - {"#meta"}
        missing = [n for n in names if n not in keys]
        if missing:
            raise _bad(source, where, "a value for every variable in vars", f"no {missing[0]!r}")
        extra = sorted(keys - set(names))
        if extra:
            raise _bad(source, where, "only the variables in vars", repr(extra[0]))
        m = st.get("#meta")
        if not isinstance(m, dict):
            raise _bad(source, f"{where}.#meta", "an object with index, action, actor, label, action_index")
        for key, typ in (("index", int), ("action", str), ("actor", str), ("label", str), ("action_index", int)):
            if key not in m or type(m[key]) is not typ:
                raise _bad(source, f"{where}.#meta.{key}", f"a {typ.__name__}",
                           json.dumps(m.get(key))[:40] if key in m else "nothing")
        if m["index"] != k:
            raise _bad(source, f"{where}.#meta.index", str(k), str(m["index"]))
        out.append({n: _decode(st[n], source, f"{where}.{n}") for n in names})
        params = m.get("params", {})
        if not isinstance(params, dict):
            raise _bad(source, f"{where}.#meta.params", "an object")
        metas.append({**m, "params": {p: _decode(x, source, f"{where}.#meta.params.{p}") for p, x in params.items()}})
    loop = doc.get("loop")
    if loop is not None and (type(loop) is not int or not 0 <= loop < len(states)):
        raise _bad(source, "loop", f"a state index in 0..{len(states) - 1}", json.dumps(loop)[:40])
    return ItfTrace(tuple(names), tuple(out), tuple(metas), loop, dict(meta))


def trace_from_itf(doc: object, source: str = "<itf>") -> tuple[list[dict[str, int | bool]], list[dict[str, Any]], int | None]:
    """``(states, step metas, loop)`` of an ITF document (validated)."""
    t = validate_itf(doc, source)
    return list(t.states), list(t.metas), t.loop


def itf_to_trace(t: ItfTrace) -> Trace:
    """The :class:`~qmpmodel.core.results.Trace` an ITF document encodes (inverse of :func:`trace_to_itf`)."""
    steps = tuple(
        TraceStep(m["action"], m["actor"], m["label"], m["action_index"],
                  {p: int(x) for p, x in m["params"].items()}, s, str(m.get("qemu", "")))
        for m, s in zip(t.metas[1:], t.states[1:], strict=True))
    cycle = tuple(tuple(e) for e in t.meta.get("cycle", ()))
    return Trace(t.states[0], steps, t.loop, cycle)


def write_itf(path: str | Path, trace: Trace, spec: str = "", invariant: str = "", description: str = "") -> Path:
    """Write ``trace`` as ``path`` (conventionally ``*.itf.json``)."""
    return write_atomic(path, json.dumps(trace_to_itf(trace, spec, invariant, description), indent=None,
                                         separators=(",", ":")) + "\n")


def replay_command(itf: str | Path, spec: str) -> str:
    """The shell command that replays a written trace, with the paths as the user gave them."""
    return f"qmpmodel replay {shlex.quote(str(itf))} --spec {shlex.quote(spec)}"


def read_itf(path: str | Path) -> ItfTrace:
    """Read and validate an ITF file; a bad file is an :class:`InputError`."""
    src = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise _bad(src, None, "a readable ITF file", e.strerror) from None
    except UnicodeDecodeError:
        raise _bad(src, None, "UTF-8 JSON", "undecodable bytes") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(src, f"line {e.lineno}, column {e.colno}", "JSON", e.msg) from None
    return validate_itf(doc, src)


# -- replay -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayOutcome:
    """``reproduced``, or the first ``step`` that diverges and why."""

    reproduced: bool
    message: str
    step: int | None = None


def _diffs(names: tuple[str, ...], want: Mapping[str, int | bool], got: StateView) -> list[str]:
    return [n for n in names if int(want[n]) != int(got[n])]


def _differs(names: tuple[str, ...], want: Mapping[str, int | bool], got: StateView) -> str:
    """``bql is 0 in this design, 1 in the trace (and 2 more variables)``, or ``""``."""
    d = _diffs(names, want, got)
    if not d:
        return ""
    more = f" (and {len(d) - 1} more variable{'s' if len(d) > 2 else ''})" if len(d) > 1 else ""
    return f"{d[0]} is {_show(got[d[0]])} in this design, {_show(want[d[0]])} in the trace{more}"


def _show(v: int | bool) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _find_action(model: Model, index: int, label: str) -> int | None:
    """The action the trace took: its recorded index, or (another design's list) the same label."""
    if 0 <= index < len(model.actions) and model.actions[index].label == label:
        return index
    return next((i for i, a in enumerate(model.actions) if a.label == label), None)


def replay(t: ItfTrace, prepared: Any, invariant_name: str | None = None) -> ReplayOutcome:
    """Re-execute ``t`` on ``prepared`` (a :class:`~qmpmodel.check.Prepared`) and confirm the violation.

    When the design differs from the one the trace was found on, the outcome
    says in words where it diverges: a step this design does not have, a step
    not enabled in this design, or the first variable a step sets differently.
    """
    from qmpmodel.core.expr import evaluate
    from qmpmodel.invariants import invariant

    model = prepared.model
    if set(t.vars) != set(model.var_names):
        only_here = sorted(set(model.var_names) - set(t.vars))
        only_trace = sorted(set(t.vars) - set(model.var_names))
        what = (f"this design has {only_here[0]!r}, the trace does not" if only_here
                else f"the trace has {only_trace[0]!r}, this design does not")
        return ReplayOutcome(False, f"state 0: the state variables differ ({what})", 0)
    s = model.init
    d = _differs(model.var_names, t.states[0], model.decode(s))
    if d:
        return ReplayOutcome(False, f"state 0: the initial state differs: {d}", 0)
    visited, taken = [s], []
    for k in range(1, len(t.states)):
        m = t.metas[k]
        ai = _find_action(model, m["action_index"], m["label"])
        if ai is None:
            return ReplayOutcome(False, f"step {k} ({m['label']}): this design has no such step", k)
        act = model.actions[ai]
        if not act.enabled(s):
            return ReplayOutcome(False, f"step {k} ({m['label']}): not enabled in this design", k)
        s = act.apply(s)
        d = _differs(model.var_names, t.states[k], model.decode(s))
        if d:
            return ReplayOutcome(False, f"step {k} ({m['label']}) has another effect in this design: {d}", k)
        visited.append(s)
        taken.append(ai)
    name = invariant_name or t.meta.get("invariant")
    if not isinstance(name, str) or not name:
        return ReplayOutcome(True, f"{len(t.states) - 1} steps re-executed (no invariant named in #meta)")
    inv = invariant(name, "<itf #meta>", "invariant", prepared.spec.properties).on(prepared.probes)
    last = len(t.states) - 1
    if inv.kind == "liveness":
        return _confirm_lasso(prepared.model, inv.expr, t, visited, taken, inv.fairness)
    holds = bool(evaluate(inv.expr, s))
    if not holds:
        return ReplayOutcome(True, f"{name} violated at step {last}")
    if inv.kind == "deadlock" and not any(True for _ in model.enabled(s)) and evaluate(model.pending, s):
        return ReplayOutcome(True, f"{name} violated at step {last}: pending work and no enabled action")
    return ReplayOutcome(False, f"step {last}: all {last} steps re-execute, but {name} holds in the last state",
                         last)


def _confirm_lasso(model: Model, goal: Expr, t: ItfTrace, visited: list[Any], actions: list[int],
                   fairness: tuple[str, ...] | None = None) -> ReplayOutcome:
    """A fair lasso: the loop closes, a request stays pending, weak fairness is respected."""
    from qmpmodel.core.expr import any_of, evaluate

    last = len(visited) - 1
    if t.loop is None:
        return ReplayOutcome(False, f"step {last}: a liveness trace needs a loop", last)
    entry, s = visited[t.loop], visited[-1]
    # the loop's last action leads back to the entry state: the final state equals states[loop]
    if t.loop < last and s != entry:
        return ReplayOutcome(False, f"step {last}: the loop does not close back to state {t.loop}", last)
    loop_states = visited[t.loop:]
    for k, st in enumerate(loop_states, start=t.loop):
        if not evaluate(goal, st):
            return ReplayOutcome(False, f"state {k}: no request is pending inside the loop", k)
    taken = {model.actions[a].fair + ":" + model.actions[a].actor for a in actions[t.loop:]}
    from qmpmodel.engines.explicit import fair_group_actions

    for g, idxs in sorted(fair_group_actions(model, fairness).items()):
        guard = any_of(model.actions[i].guard for i in idxs)
        if all(evaluate(guard, st) for st in loop_states) and g not in taken:
            return ReplayOutcome(False, f"state {t.loop}: the loop is unfair to {g}", t.loop)
    return ReplayOutcome(True, f"progress violated: a fair loop from state {t.loop} leaves a request unanswered")

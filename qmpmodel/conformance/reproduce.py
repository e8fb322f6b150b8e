"""``qmpmodel reproduce``: drive a real QEMU through a model counterexample.

:func:`analyse` decides what can be run (``repro_plan``): the trace must
replay on its spec's model; its steps must be drivable from outside; the
spec's design must be QEMU 7.2.22's; the violated property must be visible
on the wire (``repro_judge``). It then picks the path to run: the trace
itself when every eager run of its client actions violates the property
(deterministic), else the shortest forceable counterexample of the same spec
and property (a substitution, explained in ``Plan.notes``), else the trace
itself, retried, hoping for QEMU's scheduler to take its interleaving.

:func:`reproduce` runs the plan (``repro_run``) up to ``tries`` times, judges
each transcript, and checks the reproducing transcript with ``conform``
against the spec, so the reproduction is verified against the model too.

Exit status (:attr:`Outcome.exit_code`): 0 reproduced; 1 not reproduced
(the runs did not show the violation, the transcript does not conform, or
QEMU 7.2.22 is not the spec's design); 3 the trace needs steps that cannot be
driven or seen from outside and none of the tries reproduced it (no try at
all when a step cannot be driven). Bad input raises ``InputError`` (exit 2).
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qmpmodel.artefacts.itf import ItfTrace, replay
from qmpmodel.artefacts.reproductions import qemu_release
from qmpmodel.conformance import repro_plan as rp
from qmpmodel.conformance import repro_steps as rs
from qmpmodel.conformance.record import DEFAULT_QEMU, RecordError
from qmpmodel.conformance.repro_judge import judge
from qmpmodel.conformance.repro_run import RunResult, run_script
from qmpmodel.conformance.transcript import renumber
from qmpmodel.errors import InputError
from qmpmodel.invariants import invariant

__all__ = ["Analysis", "Outcome", "analyse", "qemu_version", "reproduce"]


@dataclass
class Analysis:
    """What ``reproduce`` will do with a trace, decided before QEMU starts."""

    spec: str
    invariant: str
    steps: int
    plan: rp.Plan | None = None
    fallback: rp.Plan | None = None  # run when a racy plan never hits (a held command added to the mix)
    blockers: list[str] = field(default_factory=list)  # undrivable steps, unobservable property
    mismatch: list[str] = field(default_factory=list)  # QEMU 7.2.22 is not the spec's design
    client_monitor: dict[int, str] = field(default_factory=dict)
    monitors: tuple[str, ...] = ("mon0",)
    oob: bool = True

    @property
    def runnable(self) -> bool:
        return self.plan is not None and not self.blockers and not self.mismatch


@dataclass
class Outcome:
    """The result of ``reproduce``: verdict, evidence, tries and the conformance of the kept run."""

    analysis: Analysis
    verdict: str  # reproduced | not-reproduced | cannot-drive
    reason: str
    tries: int = 0
    hits: int = 0
    seconds: list[float] = field(default_factory=list)
    kept: RunResult | None = None
    evidence: str = ""
    conform: dict[str, Any] = field(default_factory=dict)
    qemu: str = ""
    literal_tries: tuple[int, int] | None = None  # (tries, hits) of the trace itself, before a fallback
    plan: rp.Plan | None = None  # the plan the kept run followed (the analysis' plan or its fallback)

    @property
    def exit_code(self) -> int:
        if self.verdict == "reproduced":
            return 0
        return 3 if self.verdict == "cannot-drive" else 1

    def to_json(self) -> dict[str, Any]:
        a, p = self.analysis, self.plan or self.analysis.plan
        return {
            "spec": a.spec, "invariant": a.invariant, "trace_steps": a.steps, "qemu": self.qemu,
            "verdict": self.verdict, "exit": self.exit_code, "reason": self.reason, "evidence": self.evidence,
            "tries": self.tries, "hits": self.hits,
            "literal_tries": list(self.literal_tries) if self.literal_tries else None,
            "seconds_per_try": round(sum(self.seconds) / len(self.seconds), 3) if self.seconds else None,
            "plan": None if p is None else {
                "literal": p.literal, "steps": len(p.steps), "eager_runs_violating": p.outcome,
                "races": list(p.races), "notes": list(p.notes)},
            "blockers": a.blockers, "design_mismatch": a.mismatch, "conform": self.conform,
        }


def qemu_version(qemu: str) -> str:
    """``qemu --version``'s first line; a missing binary is bad input."""
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError("<command line>", "--qemu", "a runnable QEMU binary", f"{qemu}: {exc}") from None
    first = out.stdout.decode(errors="replace").splitlines()
    return first[0] if first else "unknown"


def analyse(trace: ItfTrace, prepared: Any, source: str, literal: bool = False) -> Analysis:
    """Validate ``trace`` against ``prepared`` (its spec's model) and plan its reproduction.

    ``literal``: never substitute another counterexample for a trace that is not forceable.
    """
    spec = prepared.spec
    model = prepared.model
    inv = trace.meta.get("invariant")
    if not isinstance(inv, str) or not inv:
        raise InputError(source, "#meta.invariant", "the name of the violated property", "none")
    # re-execute the steps (the violation itself is confirmed below for state properties;
    # deadlock and liveness traces are not judgeable on a transcript anyway)
    rep = replay(dataclasses.replace(trace, meta={**trace.meta, "invariant": ""}), prepared)
    if not rep.reproduced:
        raise InputError(source, None, f"a counterexample of {spec.path}'s model", rep.message,
                         "the trace was written for another spec or model version: pass --spec")
    steps = rs.decode_steps(model, trace.metas)
    an = Analysis(spec.path, inv, len(steps))
    b = spec.bounds
    an.monitors = tuple(f"mon{m}" for m in range(b.monitors))
    an.client_monitor = {c: f"mon{b.monitor_of(c)}" for c in range(b.clients)}
    an.oob = bool(spec.design.value("client_oob") and prepared.probes.oob_offered(0))
    kinds = rs.sent_kinds(steps, model, b.negotiate_first)
    an.mismatch = rs.design_mismatch(spec.design, b)
    prop_kind = invariant(inv, source, "#meta.invariant").kind
    an.blockers = [x for x in rs.wire_blockers(spec.design, b, model, inv, prop_kind, steps) if x not in an.mismatch]
    if an.blockers or an.mismatch:
        return an
    states = rp.path_states(model, steps)
    violated = rp.violation_predicate(invariant(inv, extra=spec.properties).on(prepared.probes).expr)
    if not violated(states[-1]):
        raise InputError(source, None, f"a trace whose last state violates {inv}", "a state where it holds")
    controlled = [st.action for st in steps if st.family in rs.CONTROLLED]
    outcome = rp.eager_outcome(model, violated, controlled)
    races = rp.literal_races(model, steps, states)
    if outcome != "all" and not literal:
        sub = _substitute(model, prepared.probes, violated, b, steps, kinds, races)
        if sub is not None:
            an.plan = sub
            return an
    ops = rp.build_ops(model, prepared.probes, steps, states, kinds)
    notes: tuple[str, ...] = ()
    if outcome == "some":
        notes = ("after each client action QEMU's threads may take their steps in several orders, and only "
                 "some of them violate the property: a race inside QEMU",)
    elif outcome == "none":
        notes = ("the trace needs a client to act while QEMU is still busy (see races); no run in which every "
                 "client action waits for QEMU to be idle violates the property",)
    an.plan = rp.Plan(steps, tuple(ops), kinds, outcome, True, tuple(races), notes)
    if outcome != "all" and not literal and "blocking" not in b.mix:
        an.fallback = _widened(prepared, inv, steps, kinds, races)
    return an


def _widened(prepared: Any, inv: str, steps: Sequence[rs.Step], kinds: dict[tuple[int, int], str],
             races: list[str]) -> rp.Plan | None:
    """A forceable counterexample of the same design and property with ``blocking`` added to the mix.

    The spec's mix has no command a tester can hold; the same design with one
    more kind (blockdev-add held on a FIFO) is a superset of its behaviours.
    """
    from qmpmodel.statemachine import build

    spec = prepared.spec
    bounds = dataclasses.replace(spec.bounds, mix=(*spec.bounds.mix, "blocking"))
    qm = build(spec.design, bounds, spec.path)
    model = qm.model
    violated = rp.violation_predicate(invariant(inv, extra=spec.properties).on(qm.design).expr)
    sub = _substitute(model, qm.design, violated, bounds, steps, kinds, races)
    if sub is None:
        return None
    head = (f"the trace's interleaving did not occur in any try, and the spec's mix {list(spec.bounds.mix)} has no "
            "command a tester can hold; fallback: the same design with `blocking` (blockdev-add held on a FIFO) "
            "added to the mix, a superset of the spec's behaviours")
    return dataclasses.replace(sub, notes=(head, *sub.notes))


def _substitute(model: Any, probes: Any, violated: Any, b: Any, steps: Sequence[rs.Step],
                kinds: dict[tuple[int, int], str], races: list[str]) -> rp.Plan | None:
    """The shortest forceable counterexample of the same property, explained against the given trace."""
    path = rp.eager_counterexample(model, violated, b.negotiate_first)
    if path is None:
        return None
    a = model.actions
    sub = tuple(rs.Step(k, i, a[i].family, a[i].actor, a[i].label, dict(a[i].params))
                for k, i in enumerate(path, start=1))
    outcome = rp.eager_outcome(model, violated, [st.action for st in sub if st.family in rs.CONTROLLED])
    if outcome == "none":
        return None
    sub_kinds = rs.sent_kinds(sub, model, b.negotiate_first)
    states = rp.path_states(model, sub)
    ops = rp.build_ops(model, probes, sub, states, sub_kinds)
    held = [rq for rq, k in sorted(kinds.items()) if _straddles(steps, rq, b.requests)]
    notes = [f"the given trace ({len(steps)} steps) is not forceable: " + "; ".join(races)]
    for c, i in held:
        notes.append(f"in it, client{c}'s request {i} ({kinds[(c, i)]}) is in QEMU's hands across those client "
                     "actions; QEMU finishes it in microseconds, so only scheduler luck keeps it in flight")
    changed = sorted(set(sub_kinds.items()) - set(kinds.items()))
    what = ", ".join(f"client{c}'s request {i} is {k}" for (c, i), k in changed) or "no request kind changes"
    notes.append(f"substitution: the shortest counterexample of the same spec and property in which every client "
                 f"action waits until QEMU is idle ({len(sub)} steps; {what}); a command that must stay in "
                 "flight is held on a FIFO and released at its completion step, so the same mechanism, not luck, "
                 "produces the violation; the transcript is checked against the model and the property is "
                 "judged on it")
    if any(kinds[rq] in ("qmp_capabilities", "caps", "caps-nooob") for rq in held):
        notes.append("a stale qmp_capabilities would also switch the new session to command mode (see "
                     "specs/bugs/P-stale-capabilities-suspend.toml); the held command has no such side effect, "
                     "which the property does not depend on")
    return rp.Plan(sub, tuple(ops), sub_kinds, outcome, False, tuple(races), tuple(notes))


def _straddles(steps: Sequence[rs.Step], rq: tuple[int, int], requests: int) -> bool:
    """Is request ``rq`` read before a client action and finished after it in the trace?"""
    ref = rq[0] * (requests + 1) + rq[1] + 1
    touched = [st.index for st in steps if st.params.get("req") == ref and st.family in rs.AUTOMATIC]
    if not touched:
        return False
    lo, hi = touched[0], touched[-1]
    return any(lo < st.index < hi for st in steps if st.family in rs.CONTROLLED and st.family != "send")


def _header(an: Analysis, p: rp.Plan, version: str, k: int, n: int) -> str:
    how = "the trace itself" if p.literal else "a substitution (see notes)"
    return (f"reproduce {an.spec}: {an.invariant}; {how}, {len(p.steps)} model steps; try {k}/{n}; {version}")


@dataclass
class _Tries:
    tries: int = 0
    hits: int = 0
    seconds: list[float] = field(default_factory=list)
    kept: RunResult | None = None
    evidence: str = ""


def _run_tries(an: Analysis, p: rp.Plan, qemu: str, version: str, tries: int, timeout: float | None) -> _Tries:
    """Run ``p`` up to ``tries`` times (a deterministic plan stops at its first hit)."""
    # a racy run whose interleaving did not occur waits for a message that never comes: keep it short
    wait = timeout or (10.0 if p.deterministic else 1.0)
    notes = {st.index: f"model step {st.index}: {st.label}" for st in p.steps if st.family in rs.CONTROLLED}
    out = _Tries()
    for k in range(1, tries + 1):
        try:
            run = run_script(p.ops, qemu, an.monitors, an.client_monitor, an.oob,
                             _header(an, p, version, k, tries), wait, notes)
        except RecordError as e:
            raise InputError("<command line>", "--qemu", "a QEMU that starts with QMP monitors", str(e)) from None
        out.tries = k
        out.seconds.append(run.seconds)
        j = judge(an.invariant, renumber(run.lines), run.intended, run.held, run.noid)
        if j.violated:
            out.hits += 1
            if out.kept is None:
                out.kept, out.evidence = run, j.evidence
            if p.deterministic:
                break
        elif out.kept is None:
            out.kept = run
            out.evidence = j.evidence + (f" (the run ended early: {run.error})" if run.error else "")
    return out


def reproduce(an: Analysis, qemu: str = DEFAULT_QEMU, tries: int = 10, timeout: float | None = None,
              conform_spec: Any = None) -> Outcome:
    """Run ``an.plan`` on QEMU up to ``tries`` times; judge and conform the kept transcript.

    A deterministic plan stops at its first reproducing try; a racy one runs
    every try, so that the frequency of the interleaving is reported. When a
    racy plan never hits and ``an.fallback`` exists (a forceable
    counterexample with a held command added to the mix), that is run next.
    """
    if an.blockers:
        extra = f"; besides, QEMU 7.2.22 is not this design: {'; '.join(an.mismatch)}" if an.mismatch else ""
        return Outcome(an, "cannot-drive", "cannot be driven or seen from outside (0 tries): "
                       + "; ".join(an.blockers) + extra)
    if an.mismatch:
        return Outcome(an, "not-reproduced", "QEMU 7.2.22 is not this design, so it cannot show this trace: "
                       + "; ".join(an.mismatch))
    version = qemu_version(qemu)
    p = an.plan
    assert p is not None
    t = _run_tries(an, p, qemu, version, tries, timeout)
    out = Outcome(an, "not-reproduced", "", t.tries, t.hits, t.seconds, t.kept, t.evidence, qemu=version, plan=p)
    if t.hits == 0 and not p.deterministic and an.fallback is not None:
        out.literal_tries = (t.tries, t.hits)
        p = out.plan = an.fallback
        t = _run_tries(an, p, qemu, version, tries, timeout)
        out.tries, out.hits, out.seconds, out.kept, out.evidence = t.tries, t.hits, t.seconds, t.kept, t.evidence
    if out.hits == 0:
        racy = "" if p.deterministic else " the interleaving depends on QEMU's scheduler and"
        out.verdict = "not-reproduced" if p.deterministic else "cannot-drive"
        out.reason = f"none of {out.tries} tries showed the violation:{racy} {out.evidence}"
        return out
    if conform_spec is not None:
        from qmpmodel.conformance.conform import conform

        assert out.kept is not None
        res = conform(renumber(out.kept.lines), conform_spec, "<run>", timeout=120.0)
        out.conform = {"verdict": res.verdict, "line": res.line, "states": res.states,
                       "message": res.render() if not res.accepted else f"conforms ({res.states:,} states)"}
        if not res.accepted:
            out.reason = f"QEMU showed the violation, but its transcript does not conform to the model: {res.render()}"
            return out
    out.verdict = "reproduced"
    freq = f"{out.hits} of {out.tries} tries" if not p.deterministic else f"try {out.tries}"
    if out.literal_tries is not None:
        freq = (f"the trace's interleaving occurred in {out.literal_tries[1]} of {out.literal_tries[0]} tries; "
                f"the substitution reproduced it at {freq}")
    out.reason = f"reproduced on QEMU {qemu_release(version)} ({freq})"
    return out

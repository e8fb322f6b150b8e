"""Wire-level checks of a transcript that need no model.

:func:`check_wire` finds lines that break what every QMP server of QEMU's
design guarantees on the wire, whatever its dispatcher does inside:

* ``reply-without-request``: a reply's ``id`` echoes a request written earlier
  on the connection, or on an earlier connection to the same monitor (the
  reply of a command still running when its session ended reaches the next
  session, reference §7 P); a reply without ``id`` answers an earlier request
  without one (parse errors, non-objects, requests without ``id``, §3.6).
  Each request is answered at most once.
* ``in-band-order``: when an in-band request's reply arrives, every in-band
  request written before it on the connection has been answered: the single
  dispatcher serves a monitor's queue in order (§3.4, §3.10), and an in-band
  request left unanswered (queue emptied on CHR_EVENT_CLOSED, shutdown, §3.8)
  is never followed by an answered one.
* ``event-while-negotiating``: no event between the greeting and the success
  of ``qmp_capabilities`` (§3.1).  An event *before* the greeting is not
  flagged: QEMU 7.2 sends one to a monitor whose chardev was not opened yet
  (``docs/fidelity-ii.md``, the never-opened monitor).

These rules explain no interleaving; they let transcripts that the model cannot
explain yet (``docs/fidelity-ii.md``) still be checked, and their mutants be
detected, without the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qmpmodel.conformance.observations import Observation, observations
from qmpmodel.conformance.transcript import TranscriptLine

__all__ = ["WireViolation", "check_wire"]


@dataclass(frozen=True)
class WireViolation:
    """Line *line* of the transcript breaks *rule* (see the module docstring)."""

    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule}: {self.message}"


@dataclass
class _Req:
    obs: Observation
    pos: int  # index among the connection's observations
    answered: bool = False

    @property
    def in_band(self) -> bool:
        return self.obs.in_band


@dataclass
class _ConnState:
    label: str
    monitor: str | None
    reqs: list[_Req] = field(default_factory=list)
    greeted: bool = False
    negotiating: bool = False


def _caps_ids(obs: Sequence[Observation]) -> set[str | None]:
    return {o.id for o in obs if o.kind == "request" and o.command == "qmp_capabilities"
            and o.request_kind == "execute"}


def check_wire(lines: Sequence[TranscriptLine]) -> list[WireViolation]:
    """Every violation of the wire rules, in line order."""
    per = observations(lines)
    order = sorted(per, key=lambda c: per[c][0].line)
    out: list[WireViolation] = []
    done: list[_ConnState] = []  # earlier connections, for replies that reach the next session
    for label in order:
        obs = per[label]
        st = _ConnState(label, obs[0].monitor)
        caps = _caps_ids(obs)
        for pos, o in enumerate(obs):
            if o.kind == "request":
                st.reqs.append(_Req(o, pos))
            elif o.kind == "greeting":
                st.greeted, st.negotiating = True, True
            elif o.kind == "event" and st.negotiating:
                out.append(WireViolation(o.line, "event-while-negotiating",
                                         f"event {o.event} on {label} before qmp_capabilities succeeded"))
            elif o.kind == "reply":
                out.extend(_reply(o, st, done))
                if o.ok and o.id in caps and o.id is not None:
                    st.negotiating = False
        done.append(st)
    return sorted(out, key=lambda v: v.line)


def _reply(o: Observation, st: _ConnState, done: list[_ConnState]) -> list[WireViolation]:
    def unanswered(s: _ConnState) -> _Req | None:
        for r in s.reqs:
            if r.answered or r.obs.id != o.id:
                continue
            if o.id is None and not r.in_band:
                continue  # exec-oob replies without id cannot be told apart: not checked
            return r
        return None

    req = unanswered(st)
    if req is None:
        # a late reply of an earlier session of this monitor (§7 P)
        for s in reversed(done):
            if s.monitor == st.monitor and (req := unanswered(s)) is not None:
                req.answered = True
                return []
        what = f"id {o.id}" if o.id is not None else "no id"
        return [WireViolation(o.line, "reply-without-request",
                              f"reply with {what} on {st.label}: no unanswered request written before it")]
    req.answered = True
    if not req.in_band:
        return []
    missed = [r for r in st.reqs if r.in_band and r.pos < req.pos and not r.answered]
    if not missed:
        return []
    first = missed[0].obs
    name = first.id if first.id is not None else f"the {first.request_kind} request"
    return [WireViolation(o.line, "in-band-order",
                          f"reply to {o.id or 'a request without id'} on {st.label} while the earlier in-band "
                          f"request {name} (line {first.line}) is unanswered")]

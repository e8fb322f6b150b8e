"""Transcript analysis for conformance: per connection, its observations, barriers and requests.

A transcript becomes one :class:`Conn` per connection (in connect order): the
items a model run must produce or pass, in wire order (received messages,
connects, disconnects, EOF, ``release`` and ``signal`` barriers), and the
requests the client wrote, each with the model kinds that may explain it
(:func:`qmpmodel.conformance.commands.candidate_kinds`).
:func:`event_bounds` derives from the transcript how many events the model
must be able to raise (docs/conformance.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qmpmodel.conformance.commands import ConformSpec, candidate_kinds
from qmpmodel.conformance.observations import Observation, observations
from qmpmodel.conformance.transcript import TranscriptLine, canonical_json

__all__ = ["HMP_COMMANDS", "MUX_ESCAPE", "Conn", "EventBounds", "Item", "Req", "analyse", "event_bounds",
           "signal_line"]

#: The mux's escape that moves the focus to the next front end (Ctrl-A c, chardev/char-mux.c).
MUX_ESCAPE = "\x01c"
#: HMP commands by name whose model kind is not ``hmp-quick``: ``cont`` asserts it runs in the
#: main thread (GLOBAL_STATE_CODE in blk_next) and aborts QEMU in the monitor I/O thread
#: (mux-hmp-abort, 6 of 6 runs). Other commands are taken to work there (``info status`` does).
HMP_COMMANDS: dict[str, str] = {"cont": "hmp-main-thread"}



@dataclass
class Item:
    """One observation of a connection, or a release or signal barrier."""

    what: str  # connect | greeting | recv | release | signal | disconnect | eof | unrecognized | mux-input
    line: int
    obs: Observation | None = None
    release: str | None = None  # canonical id named by a release comment
    reqs_before: int = 0  # requests of the connection written before this item
    #: an unrecognized line after bytes for the mux or HMP: HMP output (F5)
    hmp_output: bool = False

    @property
    def hmp_kind(self) -> str | None:
        """For bytes written to the mux or HMP: ``escape`` (Ctrl-A c) or the model's HMP kind."""
        if self.what != "mux-input" or self.obs is None:
            return None
        text = self.obs.message or ""
        if text == MUX_ESCAPE:
            return "escape"
        return HMP_COMMANDS.get(text.strip().split(" ")[0], "hmp-quick")


@dataclass
class Req:
    obs: Observation
    items_before: int  # non-request items before it on its connection
    kinds: tuple[str, ...] = ()  # candidate model kinds (seq 0: qmp_capabilities)
    unsupported: str | None = None  # why the model cannot send it
    signalled: bool = False  # written before the signal, answered after it (may be interrupted)

    @property
    def expected_id(self) -> str | None:
        return self.obs.id if self.obs.request_kind in ("execute", "exec-oob", "other") else None

    def describe(self, conn: str) -> str:
        o = self.obs
        if o.request_kind in ("parse-error", "non-object"):
            return f"{conn}'s {o.request_kind} request (line {o.line})"
        name = o.id if o.id is not None else (repr(o.command) if o.command else "request")
        return f"{conn}'s request {name} (line {o.line})"


@dataclass
class Conn:
    label: str
    index: int
    monitor: int
    items: list[Item]
    reqs: list[Req]
    oob: bool = False
    signal_pos: int | None = None  # index of its signal barrier in items
    monitor_name: str = ""


_SIGNAL = object()  # the signal barrier in a connection's merged observations


def signal_line(lines: Sequence[TranscriptLine]) -> int | None:
    """The line of the transcript's first ``signal`` comment (the model has one signal step)."""
    return next((ln.lineno for ln in lines if ln.is_comment and "signal" in ln.data), None)


def _signalled_ids(per: Mapping[str, Sequence[Observation]], at: int | None) -> set[tuple[str, str]]:
    """(conn, id) of requests written before the signal and answered after it."""
    out: set[tuple[str, str]] = set()
    if at is None:
        return out
    for label, obs in per.items():
        written = {o.id for o in obs if o.kind == "request" and o.id is not None and o.line < at}
        out |= {(label, o.id) for o in obs if o.kind == "reply" and o.id in written and o.line > at
                and o.id is not None}
    return out


def analyse(lines: Sequence[TranscriptLine], cspec: ConformSpec, source: str) -> list[Conn]:
    per = observations(lines)
    released_ids: dict[str, int] = {}
    releases: list[tuple[int, str | None, str]] = []
    sig = signal_line(lines)
    signalled = _signalled_ids(per, sig)
    for ln in lines:
        if ln.is_comment and "release" in ln.data:
            rid = canonical_json(ln.data["release"])
            releases.append((ln.lineno, ln.conn, rid))
            released_ids.setdefault(rid, ln.lineno)
    conns: list[Conn] = []
    monitors: dict[str, int] = {}
    order = sorted(per, key=lambda c: per[c][0].line)
    id_conn: dict[str, str] = {}
    for label in order:
        for o in per[label]:
            if o.kind == "request" and o.id is not None:
                id_conn.setdefault(o.id, label)
    for idx, label in enumerate(order):
        obs = per[label]
        mon = obs[0].monitor or "?"
        monitors.setdefault(mon, len(monitors))
        merged: list[tuple[int, int, Any]] = [(o.line, n, o) for n, o in enumerate(obs)]
        for rel_line, conn, rid in releases:
            owner = conn if conn is not None else id_conn.get(rid)
            if owner == label:
                merged.append((rel_line, -1, rid))
        if sig is not None and obs[0].line < sig:
            merged.append((sig, -1, _SIGNAL))
        merged.sort(key=lambda t: (t[0], t[1]))
        items: list[Item] = []
        reqs: list[Req] = []
        signal_pos: int | None = None
        for at_line, _n, o in merged:
            if o is _SIGNAL:
                signal_pos = len(items)
                items.append(Item("signal", at_line, reqs_before=len(reqs)))
            elif isinstance(o, str):
                items.append(Item("release", at_line, release=o, reqs_before=len(reqs)))
            elif o.kind == "request":
                reqs.append(Req(o, len(items), signalled=(label, o.id) in signalled))
            else:
                what = {"reply": "recv", "event": "recv"}.get(o.kind, o.kind)
                hmp = what == "unrecognized" and any(it.what == "mux-input" for it in items)
                items.append(Item(what, at_line, o, reqs_before=len(reqs), hmp_output=hmp))
        conns.append(Conn(label, idx, monitors[mon], items, reqs, signal_pos=signal_pos, monitor_name=mon))
    for cn in conns:
        _classify(cn, cspec, released_ids)
    return conns


def _classify(cn: Conn, cspec: ConformSpec, released_ids: Mapping[str, int]) -> None:
    """Candidate model kinds per request; any request may come first (bounds.negotiate_first off).

    A request the signal may have interrupted (written before it, answered after it) may also
    be a blocked one (docs/fidelity-ii.md 1b: EINTR in the handler's open())."""
    for rq in cn.reqs:
        o = rq.obs
        released = o.id is not None and o.id in released_ids
        rq.kinds = candidate_kinds(o, cspec, released)
        if rq.signalled and not released and o.request_kind == "execute":
            rq.kinds = ("blocking", *(k for k in rq.kinds if k != "blocking"))
        cn.oob = cn.oob or rq.kinds == ("caps",)





@dataclass(frozen=True)
class EventBounds:
    """What the transcript needs of F1-F4: events per command, environment events, a signal,
    monitors on a mux chardev (docs/conformance.md, "Events and the server's close")."""

    events_per_command: int
    environment_events: int
    signals: int
    mux_monitors: frozenset[str]


_MUX_CHARDEV = re.compile(r"-chardev\s+\S*?\bid=([^,\s]+)[^\s]*?\bmux=on")


def event_bounds(lines: Sequence[TranscriptLine], cspec: ConformSpec | None = None) -> EventBounds:
    """Bounds large enough for every explanation of ``lines`` (unless ``cspec`` fixes them).

    * events per command: a handler's events reach its own session between the request and
      its reply; qemu_cleanup's events follow SHUTDOWN after the session's last request, before
      its EOF. The bound is the largest such count (at most 4, the model's maximum);
    * environment events: each reaches at least one session, so at most every event seen
      (at most 16);
    * one signal step if the transcript has a ``signal`` comment;
    * monitors whose chardev the recorded command line (a ``qemu:`` note) declares ``mux=on``.
    """
    per = observations(lines)
    handler = cleanup = total = 0
    for obs in per.values():
        total += sum(o.kind == "event" for o in obs)
        for n, o in enumerate(obs):
            if o.kind != "request":
                continue
            count = 0
            for later in obs[n + 1:]:
                if later.kind == "reply":
                    break
                count += later.kind == "event"
            handler = max(handler, count)
        if obs and obs[-1].kind == "eof":
            last = max((n for n, o in enumerate(obs) if o.kind == "request"), default=-1)
            cleanup = max(cleanup, sum(o.kind == "event" for o in obs[last + 1:]) - 1)
    ev = min(4, max(handler, cleanup))
    env = min(16, total)
    if cspec is not None and cspec.events_per_command is not None:
        ev = cspec.events_per_command
    if cspec is not None and cspec.environment_events is not None:
        env = cspec.environment_events
    mux: set[str] = set()
    for ln in lines:
        if ln.is_comment and ln.note and ln.note.startswith("qemu:"):
            mux |= set(_MUX_CHARDEV.findall(ln.note))
    return EventBounds(ev, env, 1 if signal_line(lines) is not None else 0, frozenset(mux))



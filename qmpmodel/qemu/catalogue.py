"""The bug catalogue's upstream trail: the QEMU commits, mailing-list threads and bug reports of each bug.

The letters are those of the domain reference (``qemu-dispatch-semantics.md`` §7,
"Known bugs and hazards catalogue"); a spec cites bugs in its ``reference``
(``"§7 A, I, J"``). Reports link a spec's counterexample to the commit that
introduced or fixed the behaviour, the thread where it was discussed and the bug
tracker entry, so a reviewer can read the human story next to the model's.

Only references the domain reference gives are listed; a hash shorter than 40
digits is as the reference quotes it (GitLab resolves abbreviated hashes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["BUGS", "FOUND", "Bug", "Link", "bugs_cited", "commit_url", "message_url", "report_url"]


@dataclass(frozen=True)
class Link:
    """One upstream reference, ready to render: what to show and where it points."""

    text: str
    url: str


@dataclass(frozen=True)
class Bug:
    letter: str
    title: str
    #: commits that introduced, fixed or reverted the behaviour (as the reference quotes them)
    commits: tuple[str, ...] = ()
    #: mailing-list Message-Ids, without angle brackets
    messages: tuple[str, ...] = ()
    #: bug tracker entries: ``rhbz#N``, ``RHEL-N``, ``gitlab#N``
    reports: tuple[str, ...] = ()

    def links(self) -> tuple[Link, ...]:
        """Commits by their hash, mailing-list threads as ``thread``, reports by their id."""
        return (*(Link(c, commit_url(c)) for c in self.commits),
                *(Link("thread", message_url(m)) for m in self.messages),
                *(Link(r, report_url(r)) for r in self.reports))


def commit_url(commit: str) -> str:
    return f"https://gitlab.com/qemu-project/qemu/-/commit/{commit}"


def message_url(message_id: str) -> str:
    """The qemu-devel archive's page for a Message-Id (lore.kernel.org)."""
    return f"https://lore.kernel.org/qemu-devel/{quote(message_id, safe='@.-_+=')}/"


def report_url(report: str) -> str:
    if report.startswith("rhbz#"):
        return f"https://bugzilla.redhat.com/show_bug.cgi?id={report.removeprefix('rhbz#')}"
    if report.startswith("gitlab#"):
        return f"https://gitlab.com/qemu-project/qemu/-/issues/{report.removeprefix('gitlab#')}"
    return f"https://issues.redhat.com/browse/{report}"


_EFFD = "effd60c878"  # "monitor: only run coroutine commands in qemu_aio_context" (v9.0.0)
_HOP = "9ce44e2ce2"  # the 2020 coroutine dispatcher: every in-band BH in qemu_aio_context
_RFC_2023 = "20230906190141.1286893-1-stefanha@redhat.com"

BUGS: dict[str, Bug] = {b.letter: b for b in (
    Bug("A", "device_add in a vCPU's nested event loop drops the BQL", (_EFFD,),
        ("20230713194226.GA335220@fedora",), ("rhbz#2215192",)),
    Bug("B", "drain_call_rcu inside an RCU read-side critical section", (_EFFD,), (_RFC_2023,), ("rhbz#2214985",)),
    Bug("C", "a drain polls only qemu_aio_context", (_HOP,), ("ZQCa/DxAAQnau3JR@redhat.com",)),
    Bug("D", "COMMAND_DROPPED flow control", ("bf1e7301745a",)),
    Bug("E", "suspend imbalance on CHR_EVENT_CLOSED", (), ("20191115085914.21287-1-w.bumiller@proxmox.com",)),
    Bug("F", "queue lock held across a coroutine yield", (),
        ("20210322154024.15011-1-s.reiter@proxmox.com",)),
    Bug("G", "monitor_cleanup ordering crashes and hangs", ("357bda9590", "c81219a7dd", "b248e61652"),
        ("20201013125027.41003-1-kwolf@redhat.com", "87bld7ucor.fsf@dusky.pond.sub.org")),
    Bug("H", "aio_co_reschedule_self regression", ("1f25c172f837", "719c6819ed", "e669e800fc"),
        ("20240506190622.56095-2-stefanha@redhat.com",), ("RHEL-34618",)),
    Bug("I", "dispatcher re-entrancy via qemu_aio_context", (_HOP, _EFFD),
        ("1fa3ad95-c335-7e97-42f0-00dca5c5ba48@redhat.com",), ("gitlab#1933", "RHEL-17369")),
    Bug("J", "qmp: make qmp_device_add() a coroutine (RFC, not merged)", ("7bed89958bfb", _EFFD), (_RFC_2023,)),
    Bug("K", "mux chardev suspend counter clobbering", (),
        ("20230525141532.295817-16-pbonzini@redhat.com",)),
    Bug("L", "dispatcher executes queued requests after shutdown was requested", ("b248e61652",)),
    Bug("M", "aio_co_wake(NULL) at shutdown", ("3e6bed61",)),
    Bug("N", "two threads watching one listener fd", ("e714f1a3d4d1",)),
    Bug("O", "coroutine screendump hang", (),
        ("20201027133602.3038018-4-marcandre.lureau@redhat.com",
         "20210120141800.73j3xdew7ahvdewg@sirius.home.kraxel.org"), ("rhbz#1230527",)),
    Bug("P", "reply delivered to the next session", (), ("20191108150123.12213-15-marcandre.lureau@redhat.com",)),
    Bug("Q", "2010 async API error path"),
    Bug("R", "larger reads vs suspension", (), ("87v9r3w0ro.fsf@dusky.pond.sub.org",)),
    Bug("S", "record/replay hang after the coroutine dispatcher", (_HOP,), ("87zh4rzpot.fsf@linaro.org",)),
    Bug("T", "parser recovery swallows requests"),
    Bug("U", "exec-oob error replies bypass the queue"),
    Bug("V", "disputed post-effd60c8 report"),
    Bug("W", "current-monitor nesting", ("ff04108a0e36",)),
)}

#: Bugs this project found in QEMU 7.2 beyond the reference's §7 (issue 13, docs/fidelity-ii.md 1e),
#: cited in a spec's reference as ``bug X``. No upstream commit, thread or report yet.
FOUND: dict[str, Bug] = {b.letter: b for b in (
    Bug("X", "events reach a QMP monitor never opened: an event before the greeting on a mux chardev"),
    Bug("Y", "HMP on a QMP monitor's mux chardev runs in the monitor I/O thread; cont there aborts QEMU"),
)}

_SECTION7 = re.compile(r"§7\s+((?:[A-W](?:\s*\([^)]*\))?(?:\s*,\s*(?=[A-W]\b))?)+)")
_FOUND = re.compile(r"\bbug ([" + "".join(FOUND) + r"])\b")


def bugs_cited(reference: str) -> tuple[Bug, ...]:
    """The catalogued bugs a spec's ``reference`` cites: ``"§7 A, I, J"``, ``"§3, §7 P"``, ``"§7 G (a)"``,
    and the bugs found beyond §7 (:data:`FOUND`) as ``"bug X"``."""
    letters: list[str] = []
    for m in _SECTION7.finditer(reference):
        letters += re.findall(r"\b([A-W])\b", re.sub(r"\([^)]*\)", "", m.group(1)))
    letters += _FOUND.findall(reference)
    return tuple({**BUGS, **FOUND}[x] for x in dict.fromkeys(letters))

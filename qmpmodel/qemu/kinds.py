"""Request kinds: what a client may send, in wire form and command class.

A kind names a request template (``quick``: an in-band command that returns at
once; ``oob``: ``exec-oob`` of an allow-oob command; ``garbage``: malformed
JSON that triggers the parser's recovery, bug T; ...). Specs draw clients'
requests from a ``mix`` of kinds; ``qmpmodel schema`` maps QAPI commands onto
them (§6). "§" cites ``../shared/qemu-dispatch-semantics.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["KINDS", "Kind"]


@dataclass(frozen=True)
class Kind:
    """A request template a client may send: the wire form and the command class."""

    name: str
    form: str  # execute | exec-oob | parse-error | garbage | nonobject | hmp
    command: str  # quick | blocking | coroutine | hang | oob | noreply | event | device_add | async | quit
    #               | request | async2017 | none
    doc: str
    has_id: bool = True

    @property
    def handler_runs(self) -> bool:
        """A command handler runs, so the reply may be an error from it (§3.5 check 11)."""
        return self.command in ("quick", "blocking", "coroutine", "hang", "oob", "noreply", "event",
                                "device_add", "async", "quit", "request", "async2017")


KINDS: Mapping[str, Kind] = {k.name: k for k in (
    Kind("quick", "execute", "quick", "An in-band command that returns at once (query-status)."),
    Kind("quick-noid", "execute", "quick", "The same without `id`: matched by position.", has_id=False),
    Kind("blocking", "execute", "blocking",
         "Blocks its thread (with the BQL) until an external completion: blockdev-add of a "
         "blkdebug node whose config is a FIFO (qmp-test.c)."),
    Kind("coroutine", "execute", "coroutine",
         "A coroutine command (block_resize): raises bs->in_flight, yields for I/O, finishes "
         "when the I/O completes."),
    Kind("hang", "execute", "hang",
         "A coroutine command whose completion never comes (screendump with -device qxl, bug O)."),
    Kind("oob", "exec-oob", "oob", "exec-oob of an allow-oob command (migrate-pause, yank)."),
    Kind("oob-inband", "execute", "oob", "execute of an allow-oob command: runs in-band."),
    Kind("exec-oob-bad", "exec-oob", "quick",
         "exec-oob of a command without allow-oob: error reply in the reader (bug U)."),
    Kind("noreply", "execute", "noreply", "success-response: false (QGA guest-shutdown): no reply."),
    Kind("event", "execute", "event", "Raises an event before returning (stop, cont)."),
    Kind("device-add", "execute", "device_add",
         "device_add: drain_call_rcu (blocking-drain) or drain_call_rcu_co (coroutine-drain)."),
    Kind("async", "execute", "async", "2010 cmd_async handler: replies from a completion callback."),
    Kind("caps", "execute", "caps",
         "qmp_capabilities accepting `oob` when offered (a request at any position; see "
         "bounds.negotiate_first)."),
    Kind("caps-nooob", "execute", "caps", "qmp_capabilities accepting no capability."),
    Kind("caps-bad", "execute", "caps",
         "qmp_capabilities with an unknown capability: GenericError from argument checking, "
         "mode unchanged (QEMU 7.2: \"Parameter 'null' does not accept value …\")."),
    Kind("unknown", "execute", "unknown", "A command that does not exist: CommandNotFound, no handler."),
    Kind("exec-oob-unknown", "exec-oob", "unknown",
         "exec-oob of a command that does not exist: CommandNotFound in the reader when OOB is "
         "negotiated (the existence check precedes the allow-oob check), else GenericError."),
    Kind("bad-request", "execute", "invalid",
         "An object that fails qmp_dispatch's member checks (checks 3-5: 'execute' not a string, "
         "an unexpected member, no 'execute'): GenericError with the id, in either mode, no handler."),
    Kind("parse-error", "parse-error", "none",
         "Malformed JSON whose brackets balance: one error reply without id."),
    Kind("garbage", "garbage", "none",
         "Malformed JSON with an unbalanced bracket: the parser's recovery swallows the next "
         "message (bug T)."),
    Kind("nonobject", "nonobject", "none", "A JSON value that is not an object ([1, 2])."),
    Kind("hmp-quick", "hmp", "quick", "An HMP command that returns at once (info status)."),
    Kind("hmp-coroutine", "hmp", "coroutine", "HMP block_resize: a coroutine HMP command."),
    Kind("hmp-device-add", "hmp", "device_add",
         "HMP device_add (a coroutine HMP command under device_add = coroutine-drain)."),
    Kind("hmp-async", "hmp", "async",
         "2010 async HMP command: monitor suspended at submit, resumed on completion or error."),
    # appended, so the kind ids of HMP actions (their index here) stay stable
    Kind("quit", "execute", "quit",
         "quit: the handler only requests shutdown (qmp_quit); main_loop_should_exit raises SHUTDOWN, "
         "monitor_cleanup lets the dispatcher write the reply, then every connection gets EOF."),
    Kind("main-loop-event", "execute", "request",
         "system_powerdown, system_reset: the handler only sets a request; main_loop_should_exit raises "
         "the event (POWERDOWN, RESET) before the dispatcher writes the reply."),
    Kind("async-2017", "execute", "async2017",
         "2017 async command (QCT_ASYNC, with design.async_commands): the handler registers a pending "
         "QmpReturn and the dispatcher goes on; a completion writes the reply later."),
    Kind("caps-async", "execute", "caps",
         "qmp_capabilities accepting `async` (design.async_commands = protocol-2017), not `oob`."),
    Kind("hmp-main-thread", "hmp", "main_thread",
         "An HMP command that asserts it runs in the main thread (`cont`: GLOBAL_STATE_CODE in blk_next, "
         "block/block-backend.c:582): QEMU aborts when it runs in the monitor I/O thread (bounds.hmp_mux, F5)."),
)}

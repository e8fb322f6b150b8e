"""Progress, time and memory budgets of a ``check`` run: the CLI's :class:`~qmpmodel.core.task.Observer`."""

from __future__ import annotations

import os
import sys
import time

import click

from qmpmodel.core.task import Observer
from qmpmodel.errors import InputError

__all__ = ["_Budget", "parse_size"]


def _rss() -> int:
    """Resident memory of this process in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def parse_size(text: str) -> int:
    """``512M``, ``4G``, ``100000`` (bytes) -> bytes."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = units.get(t[-1:], 1)
    try:
        value = float(t[:-1] if t[-1:] in units else t) * mult
    except ValueError:
        value = -1.0
    if value <= 0:
        raise InputError("<command line>", "--max-memory", "a positive size like 512M or 4G", repr(text))
    return int(value)


class _Budget(Observer):
    """Stops the search at a deadline or above a memory budget, and shows progress.

    A terminal gets a live line (rich: a bar against the state budget, states,
    states/s, depth, memory); a log gets one line every ``interval`` seconds.
    """

    def __init__(self, timeout: float | None, label: str, max_states: int = 0, max_memory: int = 0,
                 interval: float = 10.0, live: bool = True) -> None:
        self.deadline = time.monotonic() + timeout if timeout else None
        self.tty = live and sys.stderr.isatty()
        self.label = label
        self.start = self.last = time.monotonic()
        self.max_states = max_states
        self.max_memory = max_memory
        self.interval = interval
        self._live: object | None = None
        self._task: object | None = None

    def line(self, states: int, depth: int, rss: int) -> str:
        if not states:  # a symbolic engine: no states enumerated, only the depth reached
            return f"{self.label}: depth {depth}, {rss / 2**20:,.0f} MiB"
        rate = states / max(time.monotonic() - self.start, 1e-9)
        return f"{self.label}: {states:,} states, {rate:,.0f} states/s, depth {depth}, {rss / 2**20:,.0f} MiB"

    def progress(self, states: int, depth: int) -> bool:
        now = time.monotonic()
        rss = _rss()
        if self.tty and now - self.start > 1.0:
            self._draw(states, depth, rss)
        elif not self.tty and now - self.last >= self.interval:
            self.last = now
            click.echo(self.line(states, depth, rss), err=True)
        if self.max_memory and rss > self.max_memory:
            return False
        return self.deadline is None or now < self.deadline

    def _draw(self, states: int, depth: int, rss: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        if self._live is None:
            prog = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                            console=Console(stderr=True), transient=True)
            self._task = prog.add_task(self.label, total=self.max_states or None, info="")
            prog.start()
            self._live = prog
        info = self.line(states, depth, rss).split(": ", 1)[1]
        self._live.update(self._task, completed=states, info=info)  # type: ignore[attr-defined]

    def done(self) -> None:
        if self._live is not None:
            self._live.stop()  # type: ignore[attr-defined]
            self._live = None

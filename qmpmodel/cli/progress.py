"""Progress and time budget of a ``check`` run: the CLI's :class:`~qmpmodel.core.task.Observer`."""

from __future__ import annotations

import sys
import time

import click

from qmpmodel.core.task import Observer

__all__ = ["_Budget"]


class _Budget(Observer):
    """Stops the search at a deadline and draws a progress line on a terminal."""

    def __init__(self, timeout: float | None, label: str) -> None:
        self.deadline = time.monotonic() + timeout if timeout else None
        self.tty = sys.stderr.isatty()
        self.label = label
        self.start = time.monotonic()

    def progress(self, states: int, depth: int) -> bool:
        now = time.monotonic()
        if self.tty and now - self.start > 1.0:
            rate = states / max(now - self.start, 1e-9)
            click.echo(f"\r  {self.label}: {states:,} states, depth {depth}, {rate:,.0f}/s ", nl=False, err=True)
        return self.deadline is None or now < self.deadline

    def done(self) -> None:
        if self.tty and time.monotonic() - self.start > 1.0:
            click.echo("\r" + " " * 78 + "\r", nl=False, err=True)


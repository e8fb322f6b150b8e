"""The ``qmpmodel`` command group: one module per subcommand under :mod:`qmpmodel.cli`."""

from __future__ import annotations

import click

from qmpmodel import __version__
from qmpmodel.cli.check import check
from qmpmodel.cli.conform import conform
from qmpmodel.cli.diff import diff_cmd
from qmpmodel.cli.export import export
from qmpmodel.cli.invariants import list_invariants
from qmpmodel.cli.proposal import new_proposal, steps_cmd
from qmpmodel.cli.reach import reach
from qmpmodel.cli.record import record
from qmpmodel.cli.replay import replay_cmd
from qmpmodel.cli.report import report
from qmpmodel.cli.reproduce import reproduce_cmd
from qmpmodel.cli.schema import schema

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qmpmodel")
def main() -> None:
    """Model checker for QEMU's QMP/HMP monitor dispatch.

    Gating commands (check, diff, conform, report, reach, replay) exit 0 when
    every expectation is met, 1 when one is contradicted, 2 on bad input and 3
    when nothing is contradicted but something is undecided.
    """


for _cmd in (check, diff_cmd, list_invariants, steps_cmd, new_proposal, schema, record, conform, reach, report,
             replay_cmd, reproduce_cmd, export):
    main.add_command(_cmd)

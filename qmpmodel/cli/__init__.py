"""The ``qmpmodel`` command line: a thin layer whose exit code is the CI gate.

One module per subcommand (:mod:`~qmpmodel.cli.check`, ``conform``, ``reach``,
``record``, ``replay``, ``report``, ``schema``, ``invariants``), the group in
:mod:`~qmpmodel.cli.main`, and what they share (exit status, bad input,
output files, colour, traces) in :mod:`~qmpmodel.cli.common`.

Exit status of every gating command: 0 every expectation met; 1 a pinned
expectation contradicted; 2 bad input (one line per mistake on stderr naming
the file, the key or line, and what was expected; no traceback, no output
file written); 3 inconclusive (nothing contradicted, something undecided).
"""

from qmpmodel.cli.main import main

__all__ = ["main"]

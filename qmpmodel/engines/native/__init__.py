"""Native explicit-state engine: a C search kernel generated from the model's expression trees.

Modules:

* :mod:`~qmpmodel.engines.native.codegen` (pure): the model's actions,
  properties, ``pending`` and fairness as C, and the packed state layout;
* ``kernel.c`` (fixed C runtime): visited set, breadth-first search, batch API;
* :mod:`~qmpmodel.engines.native.capi`: the C interface, shared verbatim by
  the compiler and ``cffi``;
* :mod:`~qmpmodel.engines.native.build`: the one I/O point (compiler, cache
  directory, loading);
* :mod:`~qmpmodel.engines.native.kernel`: the loaded kernel, the search and
  the batch API for a distributed engine (expand, insert, evaluate,
  canonical, fingerprints);
* :mod:`~qmpmodel.engines.native.engine`: ``run`` (verdicts, traces,
  symmetry, the fallback to the explicit engine when no compiler exists).
"""

from qmpmodel.engines.native.engine import compile_kernel, run

__all__ = ["compile_kernel", "run"]

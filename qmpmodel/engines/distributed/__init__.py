"""Distributed explicit-state engine: the visited set partitioned by fingerprint over Ray workers.

Modules:

* :mod:`~qmpmodel.engines.distributed.batch`: the native batch API over numpy arrays;
* :mod:`~qmpmodel.engines.distributed.partition` (numpy, no Ray): one worker's
  partition: the native kernel's visited set, tree links, the current and next
  levels, and the steps of a round (judge, expand, receive, rank);
* :mod:`~qmpmodel.engines.distributed.explore` (no Ray): the coordinator's
  level-synchronous breadth-first search over a pool of partitions, budgets,
  counterexample paths across partitions, lost partitions;
* :mod:`~qmpmodel.engines.distributed.cluster`: the one Ray-dependent module
  (session: a local Ray or a cluster; actors; the Ray pool and its faults);
* :mod:`~qmpmodel.engines.distributed.engine`: ``run`` (verdicts, traces).

Ray and numpy are optional (``pip install 'qmpmodel[cluster]'``): importing
this package imports neither; :func:`available` says whether they are there.
"""

from __future__ import annotations

import importlib.util

from qmpmodel.core.results import EngineOptions, EngineResult
from qmpmodel.core.task import CheckTask, Observer
from qmpmodel.errors import InputError

__all__ = ["INSTALL", "available", "run"]

#: How to get the optional dependencies.
INSTALL = "pip install 'qmpmodel[cluster]'"


def available() -> bool:
    """Whether Ray and numpy are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("ray", "numpy"))


def run(task: CheckTask, options: EngineOptions, observer: Observer | None = None) -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check` and :func:`~qmpmodel.engines.distributed.engine.run`)."""
    if not available():
        raise InputError("<command line>", "--workers", f"Ray, an optional dependency ({INSTALL})",
                         "ray is not installed")
    from qmpmodel.engines.distributed.engine import run as run_on_ray

    return run_on_ray(task, options, observer)

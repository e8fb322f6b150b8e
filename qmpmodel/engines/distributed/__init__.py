"""Distributed explicit-state engine: the visited set partitioned by fingerprint over Ray workers.

Modules:

* :mod:`~qmpmodel.engines.distributed.partition` (numpy, no Ray): one worker's
  partition: the native kernel's visited set, tree links, the current and next
  levels, and the steps of a round (judge, expand, receive, rank);
* :mod:`~qmpmodel.engines.distributed.explore` (no Ray): the coordinator's
  level-synchronous breadth-first search over a pool of partitions, budgets,
  counterexample paths across partitions, lost partitions;
* :mod:`~qmpmodel.engines.distributed.cluster`: the one Ray-dependent module
  (session: a local Ray or a cluster; actors; the Ray pool and its faults);
* :mod:`~qmpmodel.engines.distributed.engine`: ``run`` (verdicts, traces).

Ray is optional (``pip install 'qmpmodel[cluster]'``): importing this package
does not import it.
"""

from qmpmodel.engines.distributed.engine import run

__all__ = ["run"]

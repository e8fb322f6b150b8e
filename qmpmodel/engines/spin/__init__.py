"""SPIN as a second opinion: the model exported as Promela and verified by ``pan``.

``run`` exports the task (:mod:`~qmpmodel.engines.spin.promela`), verifies it
breadth first without reduction (``-DNOREDUCE -DBFS``) and reports SPIN's
stored states and, per property, ``violated`` at the least depth SPIN reported
(no trace: SPIN's trail is not replayed here; any other engine gives the trace
of the same depth) or ``holds`` (exhaustive). ``liveness`` is ``unknown``.
Without ``spin`` installed every property is ``unknown``, with the reason.
"""

from __future__ import annotations

from qmpmodel.core.results import EngineOptions, EngineResult, InvariantResult
from qmpmodel.core.task import CheckTask, Observer
from qmpmodel.engines.spin.promela import MARK, Export, export
from qmpmodel.engines.spin.runner import PanResult, SpinMissing, run_pan

__all__ = ["LIVENESS_NOTE", "export", "run"]

LIVENESS_NOTE = "liveness: not checked by the spin engine"


def run(task: CheckTask, options: EngineOptions, observer: Observer | None = None, opt: str = "-O1") -> EngineResult:
    """Engine entry point (see :mod:`qmpmodel.check`); ``opt``: the optimisation flag for ``pan.c``."""
    ex: Export = export(task)

    def progress(states: int, depth: int) -> bool:
        if options.max_states and states > options.max_states:
            return False
        return observer is None or observer.progress(states, depth)

    try:
        pan = run_pan(ex.text, memlim_mib=options.max_memory // 2**20, progress=progress, opt=opt)
    except SpinMissing as e:
        pan = PanResult(why=str(e))
    results: list[InvariantResult] = []
    for p, exp in task.obligations:
        if exp == "skip":
            results.append(InvariantResult(p.name, exp, "unknown", note="skipped by the spec"))
        elif p.kind == "liveness":
            results.append(InvariantResult(p.name, exp, "unknown", checked=False, note=LIVENESS_NOTE))
        else:
            k = MARK + ex.marks.index(p.name)
            if k in pan.marks:
                results.append(InvariantResult(p.name, exp, "violated", pan.marks[k],
                                               note="SPIN gives the depth; the trace comes from another engine"))
            elif pan.complete:
                results.append(InvariantResult(p.name, exp, "holds", method="exhaustive"))
            else:
                results.append(InvariantResult(p.name, exp, "unknown", note=pan.why))
    return EngineResult(pan.stored, pan.transitions, pan.depth, pan.complete, results)

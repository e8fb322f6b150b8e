"""qmpmodel: a model checker and property tester for QEMU's monitor dispatch.

The semantics are written once (:mod:`qmpmodel.statemachine`); the explicit,
native, Hypothesis, z3 and SPIN engines all consume that one model. A
proposed dispatcher change is a design class in a file of its own
(:mod:`qmpmodel.api`, ``docs/proposals.md``).
"""

from qmpmodel.core.results import CheckResult, InvariantResult, Trace, TraceStep
from qmpmodel.errors import InputError, QmpModelError

__version__ = "0.2.0"

__all__ = [
    "CheckResult",
    "InputError",
    "InvariantResult",
    "QmpModelError",
    "Trace",
    "TraceStep",
    "__version__",
]

"""qmpmodel: a model checker and property tester for QEMU's monitor dispatch.

The semantics are written once (:mod:`qmpmodel.statemachine`); the explicit,
Hypothesis and z3 engines all consume that one model.
"""

from qmpmodel.core.results import CheckResult, InvariantResult, Trace, TraceStep
from qmpmodel.errors import InputError, QmpModelError
from qmpmodel.qemu.design import AXES, KINDS, Bounds, Design
from qmpmodel.statemachine import build_model

__version__ = "0.1.0"

__all__ = [
    "AXES",
    "KINDS",
    "Bounds",
    "CheckResult",
    "Design",
    "InputError",
    "InvariantResult",
    "QmpModelError",
    "Trace",
    "TraceStep",
    "__version__",
    "build_model",
]

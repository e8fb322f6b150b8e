"""Symbolic engine (z3): bounded model checking, k-induction and PDR over the one model.

Modules: :mod:`.encoding` (expression trees to z3 terms, unrollings),
:mod:`.bmc` (minimal-depth counterexamples, replayed), :mod:`.induction`
(k-induction with Houdini-pruned lemmas), :mod:`.pdr` (Spacer), :mod:`.gate`
(what the engine runs per property) and :mod:`.run` (the entry point).
"""

from qmpmodel.engines.smt.bmc import BmcHit, BmcOutcome, Goal, bad_goal, bmc, reach
from qmpmodel.engines.smt.encoding import Encoding, Unrolling, bit_width, to_z3
from qmpmodel.engines.smt.induction import Cti, ProofOutcome, Stepper, prove
from qmpmodel.engines.smt.pdr import PdrOutcome, describe, pdr
from qmpmodel.engines.smt.run import LIVENESS_NOTE, run

__all__ = [
    "LIVENESS_NOTE",
    "BmcHit",
    "BmcOutcome",
    "Cti",
    "Encoding",
    "Goal",
    "PdrOutcome",
    "ProofOutcome",
    "Stepper",
    "Unrolling",
    "bad_goal",
    "bit_width",
    "bmc",
    "describe",
    "pdr",
    "prove",
    "reach",
    "run",
    "to_z3",
]

"""Strengthening lemmas for k-induction (:func:`qmpmodel.engines.smt.prove`).

A property such as ``queue-bound`` holds on every reachable state but is not
inductive by itself: some unreachable state satisfies it and steps to one that
does not (a counterexample to induction, CTI). Each lemma below rules out a
family of such states. Lemmas are never assumed: :func:`qmpmodel.engines.smt.prove`
proves the conjunction of the target and the lemmas it keeps by k-induction,
pruning (Houdini-style) every candidate that a reachable state or a
counterexample to induction violates, so a false lemma can only be dropped or
make a proof fail, never make one succeed. ``tests/test_smt.py`` additionally
checks every structural lemma (:data:`LEMMAS`) on every reachable state of
``specs/qemu-current.toml`` with the explicit engine.

:func:`candidate_lemmas` adds to :data:`LEMMAS` every declared variable range
and every state invariant of the library: properties strengthen each other.

Lemmas are :class:`~qmpmodel.core.expr.Expr` builders over a
:class:`~qmpmodel.invariants.ModelView`, like the invariants, and apply to
the queue-based dispatcher (every design but ``dispatch = "direct"``); each
returns ``TRUE`` where it does not apply.
"""

from qmpmodel.qemu.lemmas.library import LEMMAS, candidate_lemmas, lemmas_for, named_lemmas
from qmpmodel.qemu.lemmas.view import Lemma, ModelView

__all__ = ["LEMMAS", "Lemma", "ModelView", "candidate_lemmas", "lemmas_for", "named_lemmas"]

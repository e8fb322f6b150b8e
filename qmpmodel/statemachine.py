"""The one model of QEMU's monitor dispatch (QMP and HMP): the entry point.

:func:`build` turns a design (a :class:`~qmpmodel.qemu.design.Design`
selection or a design class) and :class:`~qmpmodel.qemu.bounds.Bounds` into a
:class:`QemuModel`: the :class:`~qmpmodel.core.model.Model` every engine
consumes (a state layout and a deterministic tuple of guarded actions written
as :mod:`qmpmodel.core.expr` trees) and the built design, which publishes the
probes (:mod:`qmpmodel.qemu.probes`) that properties and renderers read.

The model is composed of parts (:mod:`qmpmodel.qemu.parts`): clients, the
monitor reader (``handle_qmp_command``), the dispatcher coroutine
(``monitor_qmp_dispatcher_co``), ``qmp_dispatch`` and its BH, events and
output, the environment (block I/O, call_rcu, vCPUs, drains), HMP and
``monitor_cleanup``. Each part's behaviour is a set of *steps* named after
the QEMU function and branch they model (:mod:`qmpmodel.qemu.steps`); current
QEMU (:class:`~qmpmodel.qemu.designs.current.QemuCurrent`) is the base
design, and every other design, historical or proposed, overrides steps
(``docs/proposals.md``). "§" cites ``../shared/qemu-dispatch-semantics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from qmpmodel.core.model import Model
from qmpmodel.errors import InputError, ModelDefinitionError
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.designs.current import QemuCurrent
from qmpmodel.qemu.properties import Invariant

__all__ = ["QemuCurrent", "QemuModel", "build", "build_model"]


@dataclass(frozen=True)
class QemuModel:
    """A built model: what engines check, and the design instance that publishes probes."""

    model: Model
    design: QemuCurrent
    #: Properties a proposal file adds to the library.
    extra_properties: tuple[Invariant, ...] = ()


def build(design: Design | type[QemuCurrent], bounds: Bounds, source: str = "<spec>") -> QemuModel:
    """Build the model of ``design`` at ``bounds``.

    Raises :class:`~qmpmodel.errors.InputError` naming ``source`` when the
    bounds are inconsistent or a proposal does not load; a design that builds an
    inconsistent model (a variable declared twice, an empty range) is reported
    as bad input too, naming the design class.
    """
    extra: tuple[Invariant, ...] = ()
    if isinstance(design, Design):
        cls, extra = design.resolve(source)
    else:
        cls = design
    try:
        inst = cls(bounds, source)
        model = inst.build()
    except ModelDefinitionError as e:
        if cls.__module__.startswith("qmpmodel."):
            raise
        raise InputError(source, f"design {cls.__name__}", "a consistent model", str(e)) from None
    return QemuModel(model, inst, extra)


def build_model(design: Design | type[QemuCurrent], bounds: Bounds, source: str = "<spec>") -> Model:
    """The :class:`~qmpmodel.core.model.Model` alone (see :func:`build`)."""
    return build(design, bounds, source).model

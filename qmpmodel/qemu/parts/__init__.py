"""The parts of the QEMU model, one QEMU component each, joined by :class:`~qmpmodel.qemu.designs.current.QemuCurrent`."""

"""Designs: current QEMU, the historical designs, and the variants a spec's axes select."""

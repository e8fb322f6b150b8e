"""The native kernel's batch API over numpy arrays (for the distributed engine's partitions).

:class:`NumpyBatch` calls the same C entry points as
:class:`~qmpmodel.engines.native.kernel.Batch` (``qm_expand``, ``qm_insert``,
``qm_eval``, ``qm_hash_batch``) with numpy buffers in and out: a round moves tens
of thousands of states, and a Python object per state would cost more than the
kernel's work. :func:`mix` is the kernel's slot hash of an exact key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from qmpmodel.engines.native.kernel import Batch

__all__ = ["NumpyBatch", "mix"]

U64 = npt.NDArray[np.uint64]


def mix(x: U64) -> U64:
    """The kernel's ``qm_mix`` (murmur3's finaliser): the slot hash of an exact key."""
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


class NumpyBatch(Batch):
    """The batch API over numpy arrays: the same C entry points as
    :class:`~qmpmodel.engines.native.kernel.Batch`, without a Python object per state (a round
    moves tens of thousands of states; lists of them cost more than the kernel's work)."""

    def _buf(self, cdecl: str, x: npt.NDArray[Any]) -> Any:
        return self._ffi.from_buffer(cdecl, x) if len(x) else self._ffi.NULL

    def expand_np(self, words: U64) -> tuple[U64, npt.NDArray[np.uint16], npt.NDArray[np.int64]]:
        """Successors (packed), their actions and the positions of their sources (see ``expand``)."""
        k, w = len(words) // self.words, self.words
        outs, acts, srcs = [], [], []
        done, cap = 0, max(64, 8 * k)
        used = self._ffi.new("uint64_t *")
        while done < k:
            o = np.empty(cap * w, np.uint64)
            a = np.empty(cap, np.uint16)
            s = np.empty(cap, np.uint64)
            m = int(self._lib.qm_expand(self._ctx.c, self._buf("uint64_t[]", words[done * w:]), k - done,
                                        self._buf("uint64_t[]", o), self._buf("uint16_t[]", a),
                                        self._buf("uint64_t[]", s), cap, used))
            if m < 0:
                e = self._ctx.c.err
                raise self.kernel.range_error(int(e.action), int(e.var), int(e.value))
            if int(used[0]) == 0:
                cap *= 4  # one state has more successors than the buffer holds
                continue
            outs.append(o[:m * w])
            acts.append(a[:m])
            srcs.append(s[:m].astype(np.int64) + done)
            done += int(used[0])
        if not outs:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint16), np.zeros(0, np.int64)
        return np.concatenate(outs), np.concatenate(acts), np.concatenate(srcs)

    def insert_np(self, words: U64) -> npt.NDArray[np.bool_]:
        """``insert``: which states were not in the visited set."""
        k = len(words) // self.words
        flags = np.zeros(k, np.uint8)
        if k and int(self._lib.qm_insert(self._ctx.c, self._buf("uint64_t[]", words), k,
                                         self._buf("uint8_t[]", flags))) < 0:
            raise MemoryError("visited set: allocation failure")
        return flags.astype(bool)

    def evaluate_np(self, words: U64) -> U64:
        """``evaluate``: per state the violated-property, stuck and pending bits."""
        k = len(words) // self.words
        out = np.zeros(k, np.uint64)
        if k:
            self._lib.qm_eval(self._ctx.c, self._buf("uint64_t[]", words), k, self._buf("uint64_t[]", out))
        return out

    def fingerprints_np(self, words: U64) -> U64:
        """``fingerprints``: 64-bit hashes of packed states."""
        k = len(words) // self.words
        out = np.zeros(k, np.uint64)
        if k:
            self._lib.qm_hash_batch(self._buf("uint64_t[]", words), k, self._buf("uint64_t[]", out))
        return out

"""One partition of a distributed breadth-first search: a worker's state and its operations.

A :class:`Partition` owns the states whose fingerprint
(:meth:`~qmpmodel.engines.native.kernel.Batch.fingerprints`) is congruent to
``index`` modulo ``count``. It keeps them in the native kernel's visited set
(:class:`~qmpmodel.engines.native.kernel.Batch`), numbers them locally in
discovery order, and keeps per state a tree link: the owner and local id of
its parent, and the action (so a counterexample is rebuilt across partitions).

The coordinator (:mod:`~qmpmodel.engines.distributed.explore`) drives every
partition through the same calls, level by level. Every state of a level has a
*rank*: its position in the single-process engine's breadth-first order of
that level. A successor's *key* is ``parent rank << 16 | action``; the
single-process engine discovers a state first through its least key (it
expands states in rank order and successors in action order), so inserting
each round's incoming successors in key order, rounds in rank order, keeps
that engine's parent links, and ranking the next level's keys globally keeps
its order. The engines therefore agree state for state: same counts, same
first violating state per property, same counterexample.

Plain Python and numpy: the Ray actor wraps this class
(:mod:`~qmpmodel.engines.distributed.cluster`), tests may drive it in-process.
Methods that send to every partition return a list (``count + 1`` items: a
report, then one message per destination partition), which Ray returns as
separate objects so each goes straight to its receiver.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from qmpmodel.core.expr import Expr
from qmpmodel.core.model import Model
from qmpmodel.core.symmetry import SymmetryGroup
from qmpmodel.engines.distributed.batch import NumpyBatch, mix
from qmpmodel.engines.native.build import SystemToolchain, system_toolchain
from qmpmodel.engines.native.codegen import pack_layout
from qmpmodel.engines.native.kernel import PENDING_BIT, STUCK_BIT, Kernel
from qmpmodel.errors import ModelDefinitionError

__all__ = ["ACTION_BITS", "NO_PARENT", "Partition", "RoundReport", "Violation"]

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

#: A key is ``parent rank << ACTION_BITS | action`` (the kernel's action index is 16 bits).
ACTION_BITS = 16
_ACTION_MASK = (1 << ACTION_BITS) - 1
#: The owner recorded for the initial state (it has no parent).
NO_PARENT = 0xFFFF
_STUCK = np.uint64(STUCK_BIT)
_PENDING = np.uint64(PENDING_BIT)


@dataclass(frozen=True)
class Violation:
    """The least-ranked state of a round violating property ``bit`` (``parent_rank`` -1: initial)."""

    bit: int
    rank: int
    local: int
    parent_rank: int


@dataclass
class RoundReport:
    """What a partition found while expanding one round of a level."""

    expanded: int = 0
    successors: int = 0
    #: Bytes of successor messages to other partitions (what crosses the network on a cluster).
    sent: int = 0
    violations: list[Violation] = field(default_factory=list)
    #: The least-ranked state with pending work and no weakly fair action enabled: (rank, local id).
    stuck: tuple[int, int] | None = None
    #: A value left its declared range: (rank, local id, message) of the least-ranked such state.
    error: tuple[int, int, str] | None = None


class Partition:
    """The states of one fingerprint class, their links, and the current and next levels."""

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count
        self.words = 0
        self.exact = False
        self._cut: tuple[U64, I64] = (np.zeros(0, np.uint64), np.zeros(0, np.int64))
        self._batch: NumpyBatch | None = None

    # -- set-up ----------------------------------------------------------------------------

    def setup(self, model: Model, props: Sequence[Expr], source: str, group: SymmetryGroup | None,
              flags: tuple[str, ...] | None = None) -> int:
        """Load the kernel compiled from ``source`` (the model's generated C; the cache makes this a
        load when the coordinator compiled it on this machine; ``flags``: the compiler flags, default
        the native engine's) and start an empty partition. Returns the process id."""
        toolchain = system_toolchain() if flags is None else SystemToolchain(flags=flags)
        kernel = Kernel(model, pack_layout(model), props, (), toolchain.load(source))
        self._batch = NumpyBatch(kernel, group)
        self.words = kernel.words
        self.exact = kernel.layout.exact
        self.links_owner = array("H")
        self.links_parent = array("I")
        self.links_action = array("H")
        self.local = 0  # states stored so far (the next local id)
        self.level_local = [0]  # first local id of each level (and one past the last level)
        self._frontier(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._clear_next()
        return self.pid()

    @property
    def batch(self) -> NumpyBatch:
        if self._batch is None:
            raise RuntimeError("partition used before setup")
        return self._batch

    def _frontier(self, states: U64, ranks: I64, parent_ranks: I64) -> None:
        self.states, self.ranks, self.parent_ranks = states, ranks, parent_ranks
        self.base = self.local - len(ranks)  # local id of the first frontier state

    def _clear_next(self) -> None:
        self.next_states: list[U64] = []
        self.next_keys: list[U64] = []

    def seed(self, init: U64) -> int:
        """Level 0: store the initial state (packed; canonical under the group) if this partition
        owns it; returns 1 if it does."""
        init = np.asarray(init, dtype=np.uint64)
        mine = int(self.batch.fingerprints_np(init)[0] % np.uint64(self.count)) == self.index
        if mine and self.batch.insert_np(init)[0]:
            self._store(np.array([NO_PARENT]), np.array([0]), np.array([_ACTION_MASK]))
            self._frontier(init.copy(), np.zeros(1, np.int64), np.full(1, -1, np.int64))
        self.level_local.append(self.local)
        return self.local

    def _store(self, owner: npt.NDArray[Any], parent: npt.NDArray[Any], action: npt.NDArray[Any]) -> None:
        self.links_owner.frombytes(owner.astype(np.uint16).tobytes())
        self.links_parent.frombytes(parent.astype(np.uint32).tobytes())
        self.links_action.frombytes(action.astype(np.uint16).tobytes())
        self.local += len(owner)

    # -- one round: expand the frontier states whose ranks are in [lo, hi) ------------------

    def _slice(self, lo: int, hi: int) -> tuple[int, int]:
        i0, i1 = np.searchsorted(self.ranks, [lo, hi])
        return int(i0), int(i1)

    def _judge(self, i0: int, i1: int, live: int, want_stuck: bool, rep: RoundReport) -> None:
        """The least-ranked violators among frontier states ``i0:i1`` of the ``live`` property bits
        and, with ``want_stuck``, the least-ranked stuck state with pending work."""
        if i0 == i1:
            return
        bits = self.batch.evaluate_np(self.states[i0 * self.words:i1 * self.words])
        hits = bits & np.uint64(live)
        if hits.any():
            todo = int(np.bitwise_or.reduce(hits))
            for j in np.flatnonzero(hits):
                new = int(hits[j]) & todo
                for b in range(64):
                    if new >> b & 1:
                        k = i0 + int(j)
                        rep.violations.append(Violation(b, int(self.ranks[k]), self.base + k,
                                                        int(self.parent_ranks[k])))
                todo &= ~new
                if not todo:
                    break
        if want_stuck:
            stuck = np.flatnonzero((bits >> _STUCK) & (bits >> _PENDING) & np.uint64(1))
            if len(stuck):
                k = i0 + int(stuck[0])
                rep.stuck = (int(self.ranks[k]), self.base + k)

    def expand(self, lo: int, hi: int, live: int, want_stuck: bool) -> list[Any]:
        """Judge and expand the frontier states ranked in ``[lo, hi)``.

        Returns ``[report, message to partition 0, ..., message to partition count-1]``; a message
        is one ``uint64`` array: the successors it owns (packed), their keys, their parents' local
        ids. A range error stops the round: the report names its least-ranked state, no message.
        """
        i0, i1 = self._slice(lo, hi)
        rep = RoundReport(expanded=i1 - i0)
        empty = [np.zeros(0, np.uint64)] * self.count
        self._judge(i0, i1, live, want_stuck, rep)
        if i0 == i1:
            return [rep, *empty]
        w = self.words
        sub = self.states[i0 * w:i1 * w]
        try:
            out, acts, src = self.batch.expand_np(sub)
        except ModelDefinitionError:
            rep.error = self._first_error(i0, i1)
            return [rep, *empty]
        m = len(acts)
        rep.successors = m
        owner = (self.batch.fingerprints_np(out) % np.uint64(self.count)).astype(np.int64)
        keys = (self.ranks[i0 + src].astype(np.uint64) << np.uint64(ACTION_BITS)) | acts.astype(np.uint64)
        parents = (self.base + i0 + src).astype(np.uint64)
        order = np.argsort(owner, kind="stable")
        cuts = np.cumsum(np.bincount(owner, minlength=self.count))[:-1]
        states2 = out.reshape(m, w)
        msgs: list[Any] = [rep]
        for sel in np.split(order, cuts):
            msgs.append(np.concatenate([states2[sel].ravel(), keys[sel], parents[sel]]))
        rep.sent = sum(x.nbytes for k, x in enumerate(msgs[1:]) if k != self.index)
        return msgs

    def _first_error(self, i0: int, i1: int) -> tuple[int, int, str]:
        w = self.words
        for k in range(i0, i1):
            try:
                self.batch.expand_np(self.states[k * w:(k + 1) * w])
            except ModelDefinitionError as e:
                return int(self.ranks[k]), self.base + k, str(e)
        raise AssertionError("a batch failed but none of its states does")

    def receive(self, *msgs: U64) -> int:
        """Insert the successors sent to this partition in one round (from every partition, in
        partition order), least key first; returns how many were new."""
        w = self.words
        sizes = [len(x) // (w + 2) for x in msgs]
        if not sum(sizes):
            return 0
        states = np.concatenate([np.asarray(x[:n * w]) for x, n in zip(msgs, sizes, strict=True)])
        keys = np.concatenate([np.asarray(x[n * w:n * (w + 1)]) for x, n in zip(msgs, sizes, strict=True)])
        parents = np.concatenate([np.asarray(x[n * (w + 1):]) for x, n in zip(msgs, sizes, strict=True)])
        senders = np.repeat(np.arange(self.count), sizes)
        order = np.argsort(keys, kind="stable")
        ordered = np.ascontiguousarray(states.reshape(-1, w)[order]).ravel()
        new = self._insert_first(ordered)
        fresh = order[new]
        self._store(senders[fresh], parents[fresh], keys[fresh] & np.uint64(_ACTION_MASK))
        self.next_states.append(ordered.reshape(-1, w)[new].ravel())
        self.next_keys.append(keys[fresh])
        return len(fresh)

    def _insert_first(self, ordered: U64) -> npt.NDArray[np.bool_]:
        """Insert states (in key order); true for the first occurrence of each state not seen before.

        The same as inserting them one by one in that order, but each distinct state is inserted
        once, in the order of its visited-set slot (the table is far larger than the caches: slot
        order turns random misses into a sweep). States are told apart by their visited-set key:
        the exact key's slot hash (a bijection) or the fingerprint, as the kernel does.
        """
        rows = ordered.reshape(-1, self.words)
        h = mix(rows[:, 0] + np.uint64(1)) if self.exact else self.batch.fingerprints_np(ordered)
        o = np.argsort(h)
        hs = h[o]
        starts = np.flatnonzero(np.concatenate([[True], hs[1:] != hs[:-1]]))
        first = np.minimum.reduceat(o, starts)  # each distinct state's first occurrence, in slot order
        fresh = self.batch.insert_np(np.ascontiguousarray(rows[first]).ravel())
        new = np.zeros(len(rows), dtype=bool)
        new[first[fresh]] = True
        return new

    # -- end of a level: rank the next level globally ---------------------------------------

    def _keys(self) -> U64:
        return np.concatenate(self.next_keys) if self.next_keys else np.zeros(0, np.uint64)

    def split_keys(self, level_size: int) -> list[Any]:
        """Send each next-level key to the partition ranking its parent-rank block: ``[count, piece
        for partition 0, ...]``. Block ``b`` holds parent ranks ``[b*L/count, (b+1)*L/count)``."""
        keys = self._keys()  # ascending: rounds go up in rank, each round is inserted in key order
        bounds = [(b * level_size + self.count - 1) // self.count for b in range(1, self.count)]
        cuts = np.searchsorted(keys >> np.uint64(ACTION_BITS), np.array(bounds, dtype=np.uint64))
        return [len(keys), *np.split(keys, cuts)]

    def merge_keys(self, *pieces: U64) -> int:
        """Order the keys of this block (one sorted piece from every partition); returns how many."""
        keys = np.concatenate([np.asarray(p) for p in pieces])
        order = np.argsort(keys, kind="stable")
        self._position = np.empty(len(keys), np.int64)
        self._position[order] = np.arange(len(keys))
        self._piece_sizes = [len(p) for p in pieces]
        return len(keys)

    def block_ranks(self, offset: int) -> list[Any]:
        """The global rank of every key of this block (``offset``: keys in earlier blocks), returned
        to each sender in the order it sent them: ``[count, ranks for partition 0, ...]``."""
        cuts = np.cumsum(self._piece_sizes)[:-1]
        return [len(self._position), *np.split(self._position + offset, cuts)]

    def advance(self, quota: int, *ranks: I64) -> tuple[int, int]:
        """Make the next level the frontier, keeping the states ranked below ``quota`` (the state
        budget: the single-process engine stops at the same state). Returns how many are kept and,
        if this partition holds the state ranked ``quota`` (the first over the budget), its key
        (else -1); the level it was discovered from is then kept for :meth:`transitions_to`."""
        r = np.concatenate([np.asarray(x) for x in ranks]) if ranks else np.zeros(0, np.int64)
        keys = self._keys()
        states = np.concatenate(self.next_states) if self.next_states else np.zeros(0, np.uint64)
        keep = int(np.searchsorted(r, quota))  # ranks ascend with keys
        over = int(keys[keep]) if keep < len(r) and r[keep] == quota else -1
        if keep < len(r):
            self._cut = (self.states, self.ranks)
        first = self.level_local[-1]
        self.local = first + keep  # states over the budget are forgotten
        for a in (self.links_owner, self.links_parent, self.links_action):
            del a[self.local:]
        self._frontier(states[:keep * self.words], r[:keep],
                       (keys[:keep] >> np.uint64(ACTION_BITS)).astype(np.int64))
        self.level_local.append(self.local)
        self._clear_next()
        return keep, over

    def transitions_to(self, key: int) -> int:
        """Successors the single-process engine generated in the level cut by the state budget before
        it stopped at the successor ``key``: every successor of the states ranked below its parent,
        and the parent's successors up to its action (the kernel counts a transition, then finds the
        state is one too many)."""
        states, ranks = self._cut
        parent, action = key >> ACTION_BITS, key & _ACTION_MASK
        w, n = self.words, 0
        end = int(np.searchsorted(ranks, parent, side="right"))
        for i in range(0, end, 1 << 15):
            j = min(end, i + (1 << 15))
            _out, acts, src = self.batch.expand_np(states[i * w:j * w])
            last = ranks[i + src] == parent
            n += int(np.count_nonzero(~last)) + int(np.count_nonzero(last & (acts <= action)))
        return n

    def judge(self, lo: int, live: int) -> RoundReport:
        """Judge (without expanding) the frontier states ranked ``lo`` or more: a search stopped by a
        budget has discovered them, and the single-process engine judges states on discovery."""
        i0, i1 = self._slice(lo, 1 << 62)
        rep = RoundReport()
        self._judge(i0, i1, live, False, rep)
        return rep

    # -- counterexamples and figures -------------------------------------------------------

    def ping(self) -> int:
        return self.index

    def pid(self) -> int:
        import os

        return os.getpid()

    def link(self, local: int) -> tuple[int, int, int]:
        """(owner of the parent, its local id there, action); owner :data:`NO_PARENT` at the root."""
        return int(self.links_owner[local]), int(self.links_parent[local]), int(self.links_action[local])

    def memory(self) -> dict[str, int]:
        """Bytes held: the kernel's visited set, the links, the frontier; and the states stored."""
        c = self.batch._ctx.c  # the visited set's own byte count (the kernel keeps it for its budget)
        links = sum(a.itemsize * len(a) for a in (self.links_owner, self.links_parent, self.links_action))
        frontier = self.states.nbytes + self.ranks.nbytes + self.parent_ranks.nbytes
        return {"states": self.local, "visited": int(c.bytes), "links": links, "frontier": frontier}

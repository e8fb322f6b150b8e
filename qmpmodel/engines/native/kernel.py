"""A loaded kernel for one model: the breadth-first search and the batch API.

:class:`Kernel` wraps the compiled library (:mod:`qmpmodel.engines.native.build`)
for one model and one list of properties. :meth:`Kernel.search` runs the whole
search in C and returns a :class:`Search` (counts, first violating state per
property, parent links, and for liveness the transition graph).
:meth:`Kernel.batch` returns a :class:`Batch`, the API a distributed engine
builds on; a packed state is ``Kernel.words`` consecutive unsigned 64-bit
integers (``array('Q')``), the layout of :func:`~qmpmodel.engines.native.codegen.pack_layout`:

``pack(states)`` / ``unpack(words)``
    tuples of ints (``Model`` states) to packed words and back;
``expand(words) -> (successors, actions, sources)``
    every successor of every state, packed (canonical under the batch's
    symmetry group), with the action index and the position of its source
    state in the input; successors of one state come in action order;
``insert(words) -> list[bool]``
    add states to the batch's visited set; ``True`` for the ones not seen
    before (exact keys when a state fits 63 bits, else 64-bit fingerprints);
``evaluate(words) -> list[int]``
    per state a bit mask: bit ``k`` set when property ``k`` (of
    ``Kernel.props``) is false, bit :data:`STUCK_BIT` when no weakly fair action
    is enabled, bit :data:`PENDING_BIT` when ``Model.pending`` holds (so the
    ``deadlock`` stuck test is both bits);
``canonical(words)``, ``fingerprints(words)``
    orbit representatives under the symmetry group, and 64-bit hashes (to shard
    states between workers).

A value leaving its declared range during ``expand`` raises
:class:`~qmpmodel.errors.ModelDefinitionError`, as it does in the search.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qmpmodel.core.expr import Expr
from qmpmodel.core.model import Model, State
from qmpmodel.core.symmetry import SymmetryGroup
from qmpmodel.engines.native.build import Loaded
from qmpmodel.engines.native.codegen import PackLayout
from qmpmodel.errors import ModelDefinitionError

__all__ = ["PENDING_BIT", "STUCK_BIT", "Batch", "Kernel", "Search"]

STUCK_BIT = 62
PENDING_BIT = 63


class _Ctx:
    """A ``qm_ctx`` and the Python objects its pointers refer to (kept alive with it)."""

    def __init__(self, k: Kernel, group: SymmetryGroup | None) -> None:
        self.ffi, self.lib = k.loaded.ffi, k.loaded.lib
        self.c = self.ffi.gc(self.lib.qm_new(), self.lib.qm_free)
        if self.c == self.ffi.NULL:
            raise MemoryError("qm_new")
        self.keep: list[Any] = []
        if group is not None and group.elements:
            n = len(k.model.layout.vars)
            src: list[int] = []
            gmap: list[int] = []
            vals: list[int] = []
            for g in group.elements:
                src += g.src
                for i in range(n):
                    r = g.remap[i]
                    gmap.append(-1 if r is None else len(vals))
                    vals += r or ()
            active = list(group.active())
            arrays = [self.ffi.new("int32_t[]", x or [0]) for x in (src, gmap, vals, active)]
            self.keep += arrays
            self.c.ng = len(group.elements)
            self.c.g_src, self.c.g_map, self.c.g_vals, self.c.g_active = arrays
            self.c.n_active = len(active)


@dataclass
class Search:
    """What :meth:`Kernel.search` found. ``found[k]``: first violating state id of property ``k``."""

    status: int
    states: int
    transitions: int
    depth: int
    found: list[int]
    peak_bytes: int
    bytes: int
    error: tuple[int, int, int, int] | None  # action, variable, value, state id
    _ctx: _Ctx

    def path_to(self, sid: int) -> list[int]:
        """Action indices from the initial state to state ``sid``."""
        c = self._ctx.c
        out = []
        while sid != 0:
            out.append(int(c.act[sid]))
            sid = int(c.parent[sid])
        out.reverse()
        return out

    def level_end(self, d: int) -> int:
        """One past the last state id of depth ``d``."""
        return int(self._ctx.c.level_start[d + 1])

    def depth_of(self, sid: int) -> int:
        c = self._ctx.c
        lo, hi = 0, int(c.n_levels)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if int(c.level_start[mid]) <= sid:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _view(self, ptr: Any, n: int, fmt: Literal["Q", "I", "H", "B"]) -> memoryview[int]:
        return memoryview(self._ctx.ffi.buffer(ptr, n * array(fmt).itemsize)).cast(fmt)

    def graph(self) -> tuple[memoryview[int], memoryview[int], memoryview[int], memoryview[int], memoryview[int]]:
        """Liveness data: edge_start, edge_to, edge_act, goal bits, fairness-group masks."""
        c, n = self._ctx.c, self.states
        return (self._view(c.edge_start, n + 1, "Q"), self._view(c.edge_to, int(c.n_edges), "I"),
                self._view(c.edge_act, int(c.n_edges), "H"), self._view(c.goal, n, "B"),
                self._view(c.fairmask, n, "Q"))

    def kept(self) -> array[int]:
        """Every packed state in id order (a search run with ``keep_states``)."""
        words = self._ctx.lib.qm_nw()
        out = array("Q", bytes(self._ctx.ffi.buffer(self._ctx.c.states, self.states * words * 8)))
        return out


class Kernel:
    """The compiled kernel of one model; ``props`` are its state properties, by bit."""

    def __init__(self, model: Model, layout: PackLayout, props: Sequence[Expr], goals: Sequence[Expr],
                 loaded: Loaded) -> None:
        self.model = model
        self.layout = layout
        self.props = tuple(props)
        self.goals = tuple(goals)
        self.loaded = loaded
        self.words = layout.words

    def search(self, *, max_states: int = 0, max_memory: int = 0, stuck_prop: int = -1,
               want_edges: bool = False, keep_states: bool = False, group: SymmetryGroup | None = None,
               progress: Callable[[int, int, int], bool] | None = None,
               progress_every: int = 1 << 16) -> Search:
        """Breadth-first search from the initial state, in one call into C."""
        ctx = _Ctx(self, group)
        c, ffi = ctx.c, ctx.ffi
        c.max_states = max_states
        c.max_memory = max_memory
        c.prop_mask = (1 << len(self.props)) - 1
        c.want_stuck = 1 if stuck_prop >= 0 else 0
        c.stuck_prop = stuck_prop
        c.want_edges = 1 if want_edges else 0
        c.keep_states = 1 if keep_states else 0
        c.progress_every = progress_every
        failure: list[BaseException] = []
        if progress is not None:
            def on_error(exc_type: Any, exc: BaseException, tb: Any) -> None:
                failure.append(exc)

            cb = ffi.callback("int(uint64_t, uint32_t, uint64_t)",
                              lambda s, d, b: 1 if progress(int(s), int(d), int(b)) else 0,
                              onerror=on_error, error=0)
            ctx.keep.append(cb)
            c.progress = cb
        status = int(ctx.lib.qm_bfs(c))
        if failure:
            raise failure[0]
        err = (int(c.err.action), int(c.err.var), int(c.err.value), int(c.err.state)) if status == 4 else None
        return Search(status, int(c.n_states), int(c.n_trans), int(c.depth),
                      [int(c.found[k]) for k in range(len(self.props))], int(c.peak_bytes), int(c.bytes),
                      err, ctx)

    def batch(self, group: SymmetryGroup | None = None) -> Batch:
        return Batch(self, group)

    def range_error(self, action: int, var: int, value: int) -> ModelDefinitionError:
        a, v = self.model.actions[action], self.model.layout.vars[var]
        return ModelDefinitionError(f"action {a.label} sets {v.name} to {value}, outside its declared "
                                    f"range {v.lo}..{v.hi} (a model bug; never wrapped)")


class Batch:
    """Batch operations on packed states, with a visited set of their own (see the module doc)."""

    def __init__(self, kernel: Kernel, group: SymmetryGroup | None = None) -> None:
        self.kernel = kernel
        self.words = kernel.words
        self._ctx = _Ctx(kernel, group)
        self._ffi, self._lib = self._ctx.ffi, self._ctx.lib

    def _n(self, words: array[int]) -> int:
        if len(words) % self.words:
            raise ValueError(f"packed states are {self.words} words each; got {len(words)} words")
        return len(words) // self.words

    def _in(self, words: array[int]) -> Any:
        return self._ffi.from_buffer("uint64_t[]", words) if len(words) else self._ffi.NULL

    def pack(self, states: Sequence[State]) -> array[int]:
        n = len(self.kernel.model.layout.vars)
        flat = array("i", [x for s in states for x in s])
        if len(flat) != n * len(states):
            raise ValueError(f"states must have {n} variables")
        out = array("Q", bytes(8 * self.words * len(states)))
        if states:
            self._lib.qm_pack_batch(self._ffi.from_buffer("int32_t[]", flat), len(states),
                                    self._ffi.from_buffer("uint64_t[]", out))
        return out

    def unpack(self, words: array[int]) -> list[State]:
        k, n = self._n(words), len(self.kernel.model.layout.vars)
        flat = array("i", bytes(4 * n * k))
        if k:
            self._lib.qm_unpack_batch(self._in(words), k, self._ffi.from_buffer("int32_t[]", flat))
        return [tuple(flat[j * n:(j + 1) * n]) for j in range(k)]

    def expand(self, words: array[int]) -> tuple[array[int], array[int], array[int]]:
        k = self._n(words)
        out, acts, src = array("Q"), array("H"), array("Q")
        done = 0
        cap = max(64, 8 * k)
        while done < k:
            o = array("Q", bytes(8 * self.words * cap))
            a = array("H", bytes(2 * cap))
            s = array("Q", bytes(8 * cap))
            used = self._ffi.new("uint64_t *")
            part = words[done * self.words:]
            m = int(self._lib.qm_expand(self._ctx.c, self._in(part), k - done, self._ffi.from_buffer("uint64_t[]", o),
                                        self._ffi.from_buffer("uint16_t[]", a), self._ffi.from_buffer("uint64_t[]", s),
                                        cap, used))
            if m < 0:
                e = self._ctx.c.err
                raise self.kernel.range_error(int(e.action), int(e.var), int(e.value))
            if int(used[0]) == 0:
                cap *= 4  # one state has more successors than the buffer holds
                continue
            out += o[:m * self.words]
            acts += a[:m]
            src += array("Q", (x + done for x in s[:m]))
            done += int(used[0])
        return out, acts, src

    def insert(self, words: array[int]) -> list[bool]:
        k = self._n(words)
        flags = bytearray(k)
        if k:
            r = int(self._lib.qm_insert(self._ctx.c, self._in(words), k, self._ffi.from_buffer("uint8_t[]", flags)))
            if r < 0:
                raise MemoryError("visited set: memory budget or allocation failure")
        return [bool(x) for x in flags]

    def evaluate(self, words: array[int]) -> list[int]:
        k = self._n(words)
        out = array("Q", bytes(8 * k))
        if k:
            self._lib.qm_eval(self._ctx.c, self._in(words), k, self._ffi.from_buffer("uint64_t[]", out))
        return list(out)

    def canonical(self, words: array[int]) -> array[int]:
        k = self._n(words)
        out = array("Q", bytes(8 * self.words * k))
        if k:
            self._lib.qm_canon_batch(self._ctx.c, self._in(words), k, self._ffi.from_buffer("uint64_t[]", out))
        return out

    def fingerprints(self, words: array[int]) -> array[int]:
        k = self._n(words)
        out = array("Q", bytes(8 * k))
        if k:
            self._lib.qm_hash_batch(self._in(words), k, self._ffi.from_buffer("uint64_t[]", out))
        return out

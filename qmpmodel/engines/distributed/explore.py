"""The coordinator: a level-synchronous breadth-first search over a pool of partitions.

Each level is expanded in *rounds* of consecutive global ranks (``batch`` states
per partition on average): every partition judges and expands its states of
the round and sends each successor to its owner; the owners insert them in key
order. When a level is done its keys are ranked globally (four calls, two of
them exchanging messages; each partition ranks one block of parent ranks), so
the next level has the single-process engine's order (see
:mod:`~qmpmodel.engines.distributed.partition`).

The coordinator only moves handles and small reports; the successor messages
go from partition to partition. It keeps, per property, the first violating
state in (depth, rank) order, which is the state the single-process engine
finds, and rebuilds its path at once by following links across partitions
(so a violation found survives the loss of a partition later on).

Budgets: ``max_states`` counts states globally and stops at the very state
the single-process engine stops at; the observer is asked after every round
(the CLI's ``--timeout``). A partition that dies raises :class:`WorkerLost`
from the pool; the search then ends incomplete, naming the partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from qmpmodel.core.task import Observer
from qmpmodel.engines.distributed.partition import ACTION_BITS, NO_PARENT, Partition, RoundReport

__all__ = ["Found", "LevelStats", "LocalPool", "Outcome", "Pool", "WorkerLost", "explore"]

#: No budget: every rank is below it.
_UNLIMITED = 1 << 62


class WorkerLost(Exception):
    """Partition ``index`` of the pool is gone (its process died or its node left)."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"partition {index}: {reason}")


class Pool(Protocol):
    """Partitions addressed by index; a call returns a future (a list of ``returns`` futures when
    ``returns > 1``) that may be passed as an argument of another call; :meth:`result` waits."""

    size: int

    def submit(self, k: int, method: str, *args: Any, returns: int = 1) -> Any: ...

    def result(self, k: int, future: Any) -> Any: ...


class LocalPool:
    """Partitions in this process, called directly (tests, and the model of the Ray pool)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parts = [Partition(k, size) for k in range(size)]

    def submit(self, k: int, method: str, *args: Any, returns: int = 1) -> Any:
        return getattr(self.parts[k], method)(*args)

    def result(self, k: int, future: Any) -> Any:
        return future


@dataclass(frozen=True)
class Found:
    """A state at ``depth`` with global ``rank`` in its level, stored by partition ``owner``."""

    depth: int
    rank: int
    owner: int
    local: int
    parent_rank: int = -1
    path: tuple[int, ...] = ()


@dataclass(frozen=True)
class LevelStats:
    """One expanded level: states in it, successors generated, new states found, rounds, bytes of
    successor messages between partitions, and the largest round of one partition (states)."""

    depth: int
    states: int
    successors: int
    new: int
    rounds: int
    sent: int
    largest_round: int


@dataclass
class Outcome:
    states: int = 0
    transitions: int = 0
    depth: int = 0
    complete: bool = False
    #: Why the search is incomplete ("" when complete).
    why: str = ""
    #: Property bit -> its first violating state (for the deadlock property: the predicate half).
    found: dict[int, Found] = field(default_factory=dict)
    #: The first state with pending work where QEMU is stuck (the deadlock property's other half).
    stuck: Found | None = None
    lost: WorkerLost | None = None
    levels: list[LevelStats] = field(default_factory=list)


class RangeFailure(Exception):
    """A value left its declared range; ``path`` leads to the state whose expansion failed."""

    def __init__(self, message: str, path: Sequence[int]) -> None:
        self.message = message
        self.path = tuple(path)
        super().__init__(message)


def explore(pool: Pool, init: Any, props: int, want_stuck: bool, max_states: int = 0,
            observer: Observer | None = None, batch: int = 1 << 15) -> Outcome:
    """Search from the packed initial state ``init`` judging ``props`` property bits (and the stuck
    test with ``want_stuck``); raises :class:`RangeFailure` on a model range error."""
    out = Outcome()
    try:
        _Search(pool, out, props, want_stuck, max_states or _UNLIMITED, observer, batch).run(init)
    except WorkerLost as e:
        out.lost = e
        out.complete = False
        out.why = f"partition {e.index} of {pool.size} was lost ({e.reason})"
    return out


class _Search:
    def __init__(self, pool: Pool, out: Outcome, props: int, want_stuck: bool, max_states: int,
                 observer: Observer | None, batch: int) -> None:
        self.pool, self.out, self.n = pool, out, pool.size
        self.live = (1 << props) - 1
        self.want_stuck = want_stuck
        self.max_states = max_states
        self.observer = observer
        self.batch = batch

    def all(self, method: str, *args: Any, returns: int = 1) -> list[Any]:
        return [self.pool.submit(k, method, *args, returns=returns) for k in range(self.n)]

    def wait(self, futures: Sequence[Any]) -> list[Any]:
        return [self.pool.result(k, f) for k, f in enumerate(futures)]

    def run(self, init: Any) -> None:
        out = self.out
        out.states = self.size = sum(self.wait(self.all("seed", init)))
        depth = 0
        while self.size:
            stop, lo, _new = self.level(depth)
            if stop:
                self.finish(depth, lo, stop)
                return
            self.rank_next(_UNLIMITED)
            depth += 1
            if self.size:
                out.depth = depth
        out.complete = True

    def level(self, depth: int) -> tuple[str, int, int]:
        """Expand level ``depth`` round by round; returns (why it stopped early or "", the first
        rank not expanded, new states found)."""
        out, n, size = self.out, self.n, self.size
        self.transitions0 = out.transitions
        lo, new, stats = 0, 0, LevelStats(depth, size, 0, 0, 0, 0, 0)
        step = self.batch * n
        while lo < size:
            hi = min(size, lo + step)
            futs = self.all("expand", lo, hi, self.live, self.want_stuck and out.stuck is None, returns=n + 1)
            reports: list[RoundReport] = self.wait([f[0] for f in futs])
            self.collect(depth, reports)
            got = self.wait([self.pool.submit(k, "receive", *[futs[w][k + 1] for w in range(n)])
                             for k in range(n)])
            new += sum(got)
            succ = sum(r.successors for r in reports)
            out.transitions += succ
            stats = LevelStats(depth, size, stats.successors + succ, new, stats.rounds + 1,
                               stats.sent + sum(r.sent for r in reports),
                               max(stats.largest_round, *(r.expanded for r in reports)))
            lo = hi
            if out.states + new > self.max_states:
                break
            if self.observer is not None and not self.observer.progress(out.states + new, depth):
                out.levels.append(stats)
                return "observer", lo, new
        out.levels.append(stats)
        return ("budget" if out.states + new > self.max_states else ""), lo, new

    def collect(self, depth: int, reports: Sequence[RoundReport]) -> None:
        """Record the least-ranked violations of a round (rounds come in rank order)."""
        errors = [(r.error, k) for k, r in enumerate(reports) if r.error is not None]
        if errors:
            (rank, local, message), k = min(errors, key=lambda e: e[0][0])
            raise RangeFailure(message, self.path(k, local))
        best: dict[int, Found] = {}
        for k, r in enumerate(reports):
            for v in r.violations:
                if v.bit not in best or v.rank < best[v.bit].rank:
                    best[v.bit] = Found(depth, v.rank, k, v.local, v.parent_rank)
        for bit, f in best.items():
            if self.live >> bit & 1:
                self.out.found[bit] = Found(f.depth, f.rank, f.owner, f.local, f.parent_rank,
                                            tuple(self.path(f.owner, f.local)))
                self.live &= ~(1 << bit)
        stuck = [(r.stuck, k) for k, r in enumerate(reports) if r.stuck is not None]
        if stuck and self.out.stuck is None:
            (rank, local), k = min(stuck, key=lambda s: s[0][0])
            self.out.stuck = Found(depth, rank, k, local, -1, tuple(self.path(k, local)))

    def path(self, owner: int, local: int) -> list[int]:
        """The actions from the initial state to state ``local`` of partition ``owner``."""
        acts: list[int] = []
        while True:
            parent, plocal, action = self.pool.result(owner, self.pool.submit(owner, "link", local))
            if parent == NO_PARENT:
                break
            acts.append(action)
            owner, local = parent, plocal
        acts.reverse()
        return acts

    def rank_next(self, quota: int) -> int:
        """Rank the next level globally and make it the frontier (keeping ranks below ``quota``);
        returns the key of the first state over the quota, or -1."""
        n = self.n
        split = self.all("split_keys", self.size, returns=n + 1)
        self.wait([f[0] for f in split])
        counts = self.wait([self.pool.submit(b, "merge_keys", *[split[w][b + 1] for w in range(n)])
                            for b in range(n)])
        offsets = [sum(counts[:b]) for b in range(n)]
        ranks = [self.pool.submit(b, "block_ranks", offsets[b], returns=n + 1) for b in range(n)]
        kept = self.wait([self.pool.submit(k, "advance", quota, *[ranks[b][k + 1] for b in range(n)])
                          for k in range(n)])
        self.size = sum(k for k, _o in kept)
        self.out.states += self.size
        return int(max(o for _k, o in kept))

    def finish(self, depth: int, lo: int, stop: str) -> None:
        """A budget stopped the search in level ``depth`` before rank ``lo``: judge what was
        discovered but not expanded (the rest of this level, then the next level up to the state
        budget) in that order, as the single-process engine judged states on discovery."""
        out = self.out
        self.collect(depth, self.wait(self.all("judge", lo, self.live)))
        over = self.rank_next(self.max_states - out.states if stop == "budget" else _UNLIMITED)
        if self.size:
            out.depth = depth + 1
        if stop == "budget" and over >= 0:
            # where the single-process engine stopped: at the successor ``over`` of the state ranked
            # ``parent``, after its stuck test; its transitions are counted up to that successor
            parent = over >> ACTION_BITS
            if out.stuck is not None and out.stuck.depth == depth and out.stuck.rank > parent:
                out.stuck = None
            out.transitions = self.transitions0 + sum(self.wait(self.all("transitions_to", over)))
        out.why = "state budget exhausted" if stop == "budget" else "stopped by the observer (time budget)"
        self.collect(depth + 1, self.wait(self.all("judge", 0, self.live)))

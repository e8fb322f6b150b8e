"""The distributed engine's one Ray-dependent module: the session, the workers, their faults.

:func:`session` connects to Ray for the duration of a ``with`` block: to the
cluster at ``address`` (``ray://...`` or ``host:port``), else to a local Ray it
starts on this machine with ``num_cpus`` = the number of workers, no
dashboard, logs in a temporary directory removed afterwards, and a modest
object store. It is reentrant (an enclosing session, or a Ray the caller
initialised, is reused and left running) and shuts down only what it started.

A :class:`RayPool` is ``size`` actors (started when the session begins), each holding one
:class:`~qmpmodel.engines.distributed.partition.Partition` (one CPU each,
spread over the cluster's nodes, never restarted: a restarted worker would
have lost its part of the visited set). A session keeps its pool across runs
(worker start-up costs seconds) and replaces it after a fault. A call whose
worker died raises :class:`~qmpmodel.engines.distributed.explore.WorkerLost`
naming the dead partition (found by pinging every worker: a failure can reach
the coordinator through another worker's call that needed the dead one's
messages).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from qmpmodel.engines.distributed import INSTALL, available
from qmpmodel.engines.distributed.explore import WorkerLost
from qmpmodel.errors import InputError

__all__ = ["RayPool", "Session", "session"]
#: Object store of a local Ray: successor messages of one round are a few MiB per worker.
_LOCAL_OBJECT_STORE = 512 << 20
#: Seconds a live worker gets to answer a ping when a fault is being attributed.
_PING_SECONDS = 30.0

_current: Session | None = None


class RayPool:
    """``size`` partition actors; see :class:`~qmpmodel.engines.distributed.explore.Pool`."""

    def __init__(self, size: int, spread: bool) -> None:
        import ray

        from qmpmodel.engines.distributed.partition import Partition

        self.size = size
        self.broken = False
        actor: Any = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(Partition)
        opts: dict[str, Any] = {"scheduling_strategy": "SPREAD"} if spread else {}
        self.actors: list[Any] = [actor.options(**opts).remote(k, size) for k in range(size)]

    def submit(self, k: int, method: str, *args: Any, returns: int = 1) -> Any:
        """``method`` of partition ``k`` (``returns`` > 1: the method returns a list, one object each)."""
        return getattr(self.actors[k], method).options(num_returns=returns).remote(*args)

    def result(self, k: int, future: Any) -> Any:
        import ray
        from ray.exceptions import ObjectLostError, RayActorError, RayTaskError

        try:
            return ray.get(future)
        except (RayActorError, ObjectLostError) as e:
            self.broken = True
            dead = self._dead()
            who = dead[0] if dead else k
            raise WorkerLost(who, _reason(e)) from None
        except RayTaskError as e:
            cause = e.cause if isinstance(e.cause, BaseException) else None
            if isinstance(cause, (RayActorError, ObjectLostError)):
                self.broken = True
                dead = self._dead()
                raise WorkerLost(dead[0] if dead else k, _reason(cause)) from None
            raise cause if cause is not None else e from None

    def ready(self) -> None:
        """Wait until every worker has started (raises :class:`WorkerLost` for one that does not)."""
        for k, a in enumerate(self.actors):
            self.result(k, a.ping.remote())

    def _dead(self) -> list[int]:
        """The partitions whose worker does not answer."""
        import ray

        out = []
        pings = [a.ping.remote() for a in self.actors]
        for k, p in enumerate(pings):
            try:
                ray.get(p, timeout=_PING_SECONDS)
            except Exception:
                out.append(k)
        return out

    def kill(self) -> None:
        import ray

        for a in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(a)


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = next((line for line in text if line.strip()), type(e).__name__)
    return f"{type(e).__name__}: {first.strip()[:200]}"


class Session:
    """A connection to Ray and the pool of workers kept for successive runs."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._pool: RayPool | None = None

    def pool(self, size: int) -> RayPool:
        """``size`` workers: the session's pool when it has that size and no fault, else a new one."""
        if self._pool is not None and (self._pool.size != size or self._pool.broken):
            self._pool.kill()
            self._pool = None
        if self._pool is None:
            self._pool = RayPool(size, spread=bool(self.address))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.kill()
            self._pool = None


@contextlib.contextmanager
def session(workers: int, address: str = "") -> Iterator[Session]:
    """Ray for the ``with`` block (see the module doc); :class:`InputError` if Ray is missing or the
    cluster cannot be reached."""
    global _current
    if _current is not None:
        yield _current
        return
    if not available():
        raise InputError("<command line>", "--workers", f"Ray, an optional dependency ({INSTALL})",
                         "ray is not installed")
    import ray

    started, tmp = False, ""
    if not ray.is_initialized():
        started = True
        try:
            if address:
                import qmpmodel

                ray.init(address=address, namespace="qmpmodel", log_to_driver=False,
                         logging_level=logging.ERROR, runtime_env={"py_modules": [qmpmodel]})
            else:
                tmp = tempfile.mkdtemp(prefix="qmpmodel-ray-")
                ray.init(address="local", num_cpus=workers, include_dashboard=False, _temp_dir=tmp, log_to_driver=False,
                         logging_level=logging.ERROR, object_store_memory=_LOCAL_OBJECT_STORE,
                         namespace="qmpmodel", runtime_env={"env_vars": {"PYTHONPATH": _package_path()}})
        except (ConnectionError, RuntimeError, ValueError) as e:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
            raise InputError("<command line>", "--ray-address" if address else "--workers",
                             "a reachable Ray cluster" if address else "a local Ray that starts",
                             str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
                             ) from None
    s = Session(address)
    _current = s
    try:
        s.pool(workers).ready()  # start the workers now: a spec's --timeout should not pay for it
        yield s
    finally:
        _current = None
        s.close()
        if started:
            ray.shutdown()
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)


def _package_path() -> str:
    """The directory this qmpmodel is imported from, first on the workers' path (so a local Ray
    runs the same code as the coordinator, a checkout as well as an installed package)."""
    import qmpmodel

    root = os.path.dirname(os.path.dirname(os.path.abspath(qmpmodel.__file__)))
    rest = os.environ.get("PYTHONPATH", "")
    return root + (os.pathsep + rest if rest else "")

"""Executors: batches of replications run serially, on a local process pool, or on Dask.

Each batch carries its replication numbers and every task its seeds, so the results are
the same, to the unit, whatever runs them and however many workers there are. A worker
gets one BLAS thread (``sim.core.workers``) and the shared inputs once, not per task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sim.core.workers import (
    _single_threaded,
    children_start_without_interrupts,
    keep_large_arrays_in_the_heap,
    single_threaded_workers,
    stop_pool,
)


@dataclass(frozen=True, slots=True)
class Batch:
    """A unit of work: some replications of every variant."""

    first: int
    count: int

    @property
    def name(self) -> str:
        """Return the batch's file stem."""
        return f"reps-{self.first:05d}-{self.first + self.count - 1:05d}"


def plan_batches(replications: Sequence[int], size: int) -> list[Batch]:
    """Split consecutive replication numbers into batches of ``size``."""
    reps = sorted(replications)
    out = []
    for k in range(0, len(reps), size):
        chunk = reps[k : k + size]
        out.append(Batch(chunk[0], len(chunk)))
    return out


class Executor:
    """Runs batches: ``serial``, a local process ``pool``, or ``dask``."""

    def __init__(self, kind: str = "pool", workers: int | None = None, address: str = "") -> None:
        if kind not in ("serial", "pool", "dask"):
            raise ValueError(f"unknown executor {kind!r}")
        self.kind = kind
        self.workers = workers or os.cpu_count() or 1
        self.address = address

    def map(
        self,
        fn: Callable[..., Any],
        batches: Sequence[Batch],
        args: tuple[Any, ...],
        done: Callable[[Batch, Any], None],
    ) -> None:
        """Run ``fn(*args[:2], batch, args[2])`` for each batch; call ``done`` as each ends."""
        if self.kind == "serial" or (self.kind == "pool" and self.workers == 1):
            for b in batches:
                done(b, fn(args[0], args[1], b, args[2]))
            return
        if self.kind == "pool":
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            ctx = multiprocessing.get_context("spawn")
            with single_threaded_workers():
                pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=ctx,
                    initializer=_pool_worker_start,
                    initargs=(fn, args),
                )
                try:
                    # The variants and rate tables travel once per worker, not per task;
                    # the first submissions spawn the workers.
                    with children_start_without_interrupts():
                        futures = {pool.submit(_pool_task, b): b for b in batches}
                    for f in as_completed(futures):
                        done(futures[f], f.result())
                except BaseException:
                    stop_pool(pool)  # Ctrl-C or a failed batch: no worker left running
                    raise
                pool.shutdown(wait=True)
            return
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed

        cluster = None
        if self.address in ("", "local"):
            import dask

            # One BLAS thread per worker, as in the pool, no statistical profiler (sampling
            # the stack every 10 ms costs a Python-heavy walk about a tenth) and fewer
            # wake-ups of each process's event loop, which take the interpreter lock from
            # the task: health ticks every second, not 20 ms; system and memory monitors
            # every 5 s and 1 s, not 500 ms and 100 ms.
            quiet = {
                "distributed.worker.profile.enabled": False,
                "distributed.admin.tick.interval": "1s",
                "distributed.admin.system-monitor.interval": "5s",
                "distributed.worker.memory.monitor-interval": "1s",
            }
            with single_threaded_workers(), dask.config.set(quiet):
                cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            client = Client(cluster)
        else:
            client = Client(self.address)
        try:
            client.run(keep_large_arrays_in_the_heap)  # as the pool's workers do
            # The variants and rate tables go to every worker once, not with each task.
            variants = client.scatter(args[0], broadcast=True)
            tariffs = None if args[1] is None else client.scatter(args[1], broadcast=True)
            futs = {
                client.submit(fn, variants, tariffs, b, args[2], pure=False): b for b in batches
            }
            for f in dask_completed(list(futs)):
                done(futs[f], f.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


_WORKER_JOB: tuple[Callable[..., Any], tuple[Any, ...]] | None = None


def _pool_worker_start(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Start a pool worker: one BLAS thread, and the sweep's shared inputs kept."""
    global _WORKER_JOB
    _single_threaded()
    _WORKER_JOB = (fn, args)


def _pool_task(batch: Batch) -> Any:
    assert _WORKER_JOB is not None, "pool worker started without its job"
    fn, args = _WORKER_JOB
    return fn(args[0], args[1], batch, args[2])


__all__ = ["Batch", "Executor", "plan_batches"]

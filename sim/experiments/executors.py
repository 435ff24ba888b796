"""Executors: batches of replications run serially, on a local process pool, or on Dask.

Each batch carries its replication numbers and every task its seeds, so the results are
the same, to the unit, whatever runs them and however many workers there are. A worker
gets one BLAS thread (``sim.core.workers``) and the shared inputs once, not per task.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.core.workers import (
    _single_threaded,
    children_start_without_interrupts,
    keep_large_arrays_in_the_heap,
    process_exists,
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
        self._pool: Any = None  # a process pool kept open between maps (``kept_open``)
        self._job: tuple[Callable[..., Any], tuple[Any, ...]] | None = None  # its workers'
        self._job_file: Path | None = None  # the job, pickled once for the workers to load
        self._started = False  # whether the kept pool has started its workers
        self._client: Any = None  # a Dask client (and local cluster) kept open likewise
        self._cluster: Any = None
        self._starting: threading.Thread | None = None  # a local cluster starting (kept_open)
        self._start_error: BaseException | None = None
        self._keep = 0

    @contextmanager
    def kept_open(self) -> Iterator[Executor]:
        """Keep one process pool or Dask client for every ``map`` inside (a selection).

        A later map whose variants are some of the pool's (the same objects, with the same
        rate tables and replay flag) names them by position, so the workers neither start
        again nor receive the variants again; any other map starts a pool of its own. A
        Dask client (and its local cluster) stays up; each map scatters its own inputs.
        The Dask client connects at once (a local cluster's processes take a second or
        two to start), on a thread, while the caller prepares its work; a failure is
        raised where the client is first needed.
        """
        self._keep += 1
        if self.kind == "dask" and self._client is None and self._starting is None:
            self._starting = threading.Thread(
                target=self._start_in_background, name="ccsim-dask-start", daemon=True
            )
            self._starting.start()
        try:
            yield self
        except BaseException:
            self._keep -= 1
            if not self._keep:
                self._close(stop=True)  # Ctrl-C or an error: no worker left running
            raise
        self._keep -= 1
        if not self._keep:
            self._close()

    def beside(self, fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        """Start ``fn(*args)`` on an idle worker of this machine if one is kept; return a wait.

        The caller works on meanwhile and calls the result to wait for ``fn``'s value (an
        error in ``fn`` is raised there). The workers are the kept process pool's or the
        kept local Dask cluster's (a remote cluster's workers may not share our files);
        without either ``fn`` runs here, at once.
        """
        self._wait_for_start()
        if self._pool is not None and self._started:
            # Idle workers only: a pool with none yet (a resumed sweep with nothing left to
            # run) would spend longer starting them than ``fn`` takes here.
            with single_threaded_workers(), children_start_without_interrupts():
                return self._pool.submit(fn, *args).result
        if self._client is not None and self._cluster is not None:
            return self._client.submit(fn, *args, pure=False).result
        value = fn(*args)
        return lambda: value

    def _start_in_background(self) -> None:
        try:
            self._connect()
        except BaseException as exc:  # raised where the client is first needed
            self._start_error = exc

    def _close(self, stop: bool = False) -> None:
        """End the kept pool (``stop``: at once) and the kept Dask client and cluster."""
        self._wait_for_start()
        self._start_error = None
        pool, self._pool, self._job, self._started = self._pool, None, None, False
        if pool is not None:
            if stop:
                stop_pool(pool)
            else:
                pool.shutdown(wait=True)
        job_file, self._job_file = self._job_file, None
        if job_file is not None:
            shutil.rmtree(job_file.parent, ignore_errors=True)
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        _close_dask(client, cluster)

    def _selection(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[int, ...] | None:
        """Return the positions of ``args[0]`` in the open pool's job, or None if not one."""
        if self._pool is None or self._job is None:
            return None
        job_fn, job_args = self._job
        if fn is not job_fn or args[1] is not job_args[1] or args[2] != job_args[2]:
            return None
        position = {id(v): k for k, v in enumerate(job_args[0])}
        picked = tuple(position.get(id(v), -1) for v in args[0])
        return None if -1 in picked else picked

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

            picked = self._selection(fn, args)
            with single_threaded_workers():
                if picked is None:
                    self._close()
                    self._job_file = _write_job(fn, args)
                    self._pool = ProcessPoolExecutor(
                        self.workers,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_pool_worker_start,
                        initargs=(str(self._job_file),),
                    )
                    self._job = (fn, args)
                pool = self._pool
                try:
                    # The variants and rate tables travel once per worker, not per task,
                    # in a file each worker loads as it starts; the first submissions
                    # spawn the workers.
                    with children_start_without_interrupts():
                        futures = {pool.submit(_pool_task, b, picked): b for b in batches}
                    self._started = self._started or bool(futures)
                    for f in as_completed(futures):
                        done(futures[f], f.result())
                except BaseException:
                    self._close(stop=True)  # Ctrl-C or a failed batch: no worker left running
                    raise
                if not self._keep:
                    self._close()
            return
        from dask.distributed import as_completed as dask_completed

        client = self._dask_client()
        try:
            # The variants and rate tables go to every worker once, not with each task.
            variants = client.scatter(args[0], broadcast=True)
            tariffs = None if args[1] is None else client.scatter(args[1], broadcast=True)
            futs = {
                client.submit(fn, variants, tariffs, b, args[2], pure=False): b for b in batches
            }
            for f in dask_completed(list(futs)):
                done(futs[f], f.result())
        except BaseException:
            self._close()
            raise
        if not self._keep:
            self._close()

    def _wait_for_start(self) -> None:
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.join()

    def _dask_client(self) -> Any:
        """Return the kept Dask client, or connect one (starting a local cluster)."""
        self._wait_for_start()
        error, self._start_error = self._start_error, None
        if error is not None:
            self._close()
            raise error
        if self._client is None:
            self._connect()
        return self._client

    def _connect(self) -> None:
        """Connect a Dask client (starting a local cluster) and keep both."""
        from dask.distributed import Client, LocalCluster

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
            try:
                client = Client(self.address, timeout=connect_timeout_s())
            except OSError as exc:  # refused, timed out, unknown host
                raise SchedulerUnreachableError(f"--dask {self.address}: {exc}") from None
        self._client, self._cluster = client, cluster
        try:
            client.run(keep_large_arrays_in_the_heap)  # as the pool's workers do
        except BaseException:
            # Not ``_close``: on the start thread it would wait for that very thread.
            self._client = self._cluster = None
            _close_dask(client, cluster)
            raise


CONNECT_TIMEOUT_S = 10.0
"""Longest wait for a ``--dask`` scheduler (Dask's own default is 30 s)."""


def connect_timeout_s() -> float:
    """Return how long to wait for the scheduler: ``CONNECT_TIMEOUT_S``, or less if set.

    A mistyped address or a stopped scheduler is refused or times out; Dask retries for
    ``distributed.comm.timeouts.connect`` (30 s by default) before it says so, a long
    silence for a typo. A shorter value in Dask's configuration is kept.
    """
    import dask
    import dask.distributed  # loads the distributed defaults into the config
    from dask.utils import parse_timedelta

    configured = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect", None), "s")
    return min(CONNECT_TIMEOUT_S, float(configured or CONNECT_TIMEOUT_S))


class SchedulerUnreachableError(OSError):
    """The Dask scheduler of ``--dask ADDRESS`` could not be reached."""


def _close_dask(client: Any, cluster: Any) -> None:
    """Close a Dask client, then its local cluster (either may be None)."""
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


_WORKER_JOB: tuple[Callable[..., Any], tuple[Any, ...]] | None = None


JOB_PREFIX = "ccsim-pool-"


def remove_stale_jobs(where: Path) -> list[Path]:
    """Remove job folders that a killed process left in ``where``; return them.

    A folder is named after the process that wrote it (``ccsim-pool-<pid>-...``). It is
    stale when it is this user's and no process has that number any more: a pool's
    parent killed with SIGKILL has no chance to remove it, and under ``/dev/shm`` it
    holds memory until the machine restarts.
    """
    removed: list[Path] = []
    try:
        entries = list(where.iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid_text = entry.name.removeprefix(JOB_PREFIX).partition("-")[0]
        if not entry.name.startswith(JOB_PREFIX) or not pid_text.isdigit():
            continue
        try:
            if entry.lstat().st_uid != os.getuid() or not entry.is_dir() or entry.is_symlink():
                continue
        except OSError:
            continue  # gone meanwhile
        if not process_exists(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _write_job(fn: Callable[..., Any], args: tuple[Any, ...]) -> Path:
    """Pickle a pool's job (task function, variants, rate tables) once, for its workers.

    Given as the pool's initializer arguments, the job went down each worker's start-up
    pipe, and the pipe's writer waited until that worker had started its interpreter,
    imported and unpickled: about a second per worker, one worker after another. From a
    file, the parent spawns every worker at once and they load it side by side. The file
    is this process's own, in a folder only its user may read (in memory, under
    ``/dev/shm``, where there is one), and goes when the pool closes.
    """
    shm = Path("/dev/shm")
    where = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    remove_stale_jobs(where)
    folder = Path(tempfile.mkdtemp(prefix=f"{JOB_PREFIX}{os.getpid()}-", dir=where))
    path = folder / "job.pickle"
    try:
        with open(path, "wb") as f:
            pickle.dump((fn, args), f, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path


def _pool_worker_start(job_file: str) -> None:
    """Start a pool worker: one BLAS thread, and the sweep's shared inputs loaded and kept."""
    global _WORKER_JOB
    _single_threaded()
    with open(job_file, "rb") as f:
        # Written by this worker's parent for it alone (``_write_job``): not user data.
        _WORKER_JOB = pickle.load(f)


def _pool_task(batch: Batch, picked: tuple[int, ...] | None = None) -> Any:
    assert _WORKER_JOB is not None, "pool worker started without its job"
    fn, args = _WORKER_JOB
    variants = args[0] if picked is None else [args[0][k] for k in picked]
    return fn(variants, args[1], batch, args[2])


__all__ = ["Batch", "Executor", "plan_batches", "remove_stale_jobs"]

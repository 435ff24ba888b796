"""Worker processes: one BLAS/OpenMP thread each, tasks mapped in a fixed order."""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def single_threaded_workers() -> Iterator[None]:
    """Give worker processes started inside the block one BLAS/OpenMP thread each.

    The libraries read these variables when first imported, so they must be in the
    environment the workers start with; without them every worker spins several
    threads and two cores are oversubscribed.
    """
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update(dict.fromkeys(_THREAD_VARS, "1"))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def quiet_worker_interrupts() -> None:
    """In a spawned worker process, end quietly on Ctrl-C instead of with a traceback.

    A terminal sends SIGINT to every process of the foreground group: the parent
    reports it (one line, exit 130) and stops its pool; a worker has nothing to add.
    Called when ``sim.core`` is imported; does nothing outside a worker process or when
    a SIGINT handler other than Python's default is installed.
    """
    if multiprocessing.current_process().name == "MainProcess":  # set first in workers
        return
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _exit_quietly)
    if hasattr(signal, "pthread_sigmask"):  # started with it held: take a Ctrl-C now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _exit_quietly(signum: int, frame: object) -> None:
    os._exit(128 + signum)


@contextmanager
def children_start_without_interrupts() -> Iterator[None]:
    """Hold Ctrl-C while this thread spawns worker processes; the workers inherit that.

    A terminal's Ctrl-C reaches every process of the job, a worker still starting its
    interpreter too, which then died with "Fatal Python error" and a traceback. A
    process started inside the block begins with SIGINT blocked (the mask survives
    ``exec``) and takes it once it can end quietly (``quiet_worker_interrupts``);
    CPython starts its resource tracker so. Here a Ctrl-C is noted and raised as
    ``KeyboardInterrupt`` when the block ends (spawning takes about a second a worker),
    so no worker is left half-started with its start-up data cut off.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: nothing to hold
        yield
        return
    from multiprocessing import resource_tracker

    # Started first: starting it unblocks SIGINT in this thread (CPython's own guard).
    resource_tracker.ensure_running()
    noted: list[int] = []
    previous = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if noted:
        raise KeyboardInterrupt


def stop_pool(pool: Any) -> None:
    """Stop a ``ProcessPoolExecutor`` at once: cancel what waits, end its workers.

    A worker ended while it sent a result leaves part of the message in the result pipe,
    and the pool's manager thread would wait for the rest for ever (and the interpreter's
    exit with it, which joins that thread). Closing this process's end of the pipe once
    the workers are gone gives it end-of-file instead: the pool winds itself up.
    """
    # No public handles for these; ``shutdown`` drops its references to them.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
    if results is not None:
        results._writer.close()
    if manager is not None:
        manager.join(timeout=5)


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


@functools.cache
def _libc() -> Any:
    """Return glibc through ctypes, or None elsewhere (musl, macOS, Windows).

    Looked up once per process: ``find_library`` runs ``ldconfig`` (about 2 ms).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def keep_large_arrays_in_the_heap() -> None:
    """Let glibc reuse freed call arrays instead of mapping fresh pages each time.

    By default glibc maps every allocation above a threshold (at most 32 MiB) with
    ``mmap`` and unmaps it when freed, so each new array of a large tenant's day (tens of
    MiB) faults in zeroed pages again: at a million users that is a quarter of the run.
    Raising the mapping threshold to 1 GiB and the trim threshold to 2 GiB keeps freed
    arrays in the heap for the next ones (``release_free_memory`` hands them back after
    the run), and one arena for every thread lets the arrays drawn on the drawing thread
    (``TrafficModel.draw_ahead``) be reused by the walking thread. Elsewhere a no-op.
    """
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 31)
        libc.mallopt(_M_ARENA_MAX, 1)


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the system (glibc ``malloc_trim``).

    A simulation frees its call arrays as it goes, but glibc keeps the freed heap for
    reuse, so the process stays as large as its peak. Called once after a run, before
    tables and charts, it keeps those from adding to that peak. Elsewhere a no-op.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _single_threaded() -> None:
    # One thread per worker process: the parallelism is across processes. The worker's
    # allocator keeps freed arrays for reuse (``keep_large_arrays_in_the_heap``).
    os.environ.update(dict.fromkeys(_THREAD_VARS, "1"))
    keep_large_arrays_in_the_heap()


def map_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
) -> list[Any]:
    """Return ``[fn(*task) for task in tasks]``, on ``workers`` local processes if > 1.

    Results come back in the order of ``tasks`` whatever the number of workers, and
    each task carries its own seed and replication number, so they do not depend on it.
    ``fn`` must be a module-level function (tasks travel to spawned processes).
    """
    n = len(tasks)
    if workers <= 1 or n <= 1:
        out = []
        for k, task in enumerate(tasks):
            out.append(fn(*task))
            if progress is not None:
                progress((k + 1) / n)
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: dict[int, Any] = {}
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, n), mp_context=context, initializer=_single_threaded
    )
    try:
        with children_start_without_interrupts():  # the first submissions spawn workers
            futures = {pool.submit(fn, *task): k for k, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(len(results) / n)
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)
    return [results[k] for k in range(n)]


def process_exists(pid: int) -> bool:
    """Return whether a process numbered ``pid`` runs on this machine (any user's)."""
    if pid <= 0:
        return True  # 0 and negatives name process groups: never taken for gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a number no process can have: kept)
    return True


__all__ = [
    "children_start_without_interrupts",
    "keep_large_arrays_in_the_heap",
    "map_tasks",
    "process_exists",
    "quiet_worker_interrupts",
    "release_free_memory",
    "single_threaded_workers",
    "stop_pool",
]

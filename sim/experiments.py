"""Replications of a scenario, serially or on a local process pool.

Each replication is independent: its random streams are keyed by (seed, replication),
so results do not depend on the number of workers or on the order in which
replications finish; they are returned in replication order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace

import pandas as pd

from sim.engine import run_replication
from sim.results import tables_of
from sim.scenario import Scenario
from sim.tariffs import TariffBook

Tables = dict[str, pd.DataFrame]


def with_seed(scenario: Scenario, seed: int | None) -> Scenario:
    """Return the scenario with another base seed (unchanged when ``seed`` is None)."""
    if seed is None:
        return scenario
    return replace(scenario, simulation=replace(scenario.simulation, seed=seed))


def replication_tables(
    scenario: Scenario,
    tariffs: TariffBook | None,
    replication: int,
    progress: Callable[[float], None] | None = None,
) -> Tables:
    """Run one replication and return its result tables."""
    return tables_of(run_replication(scenario, tariffs, replication, progress=progress))


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


def _single_threaded() -> None:
    # One thread per worker process: the parallelism is across processes.
    os.environ.update(dict.fromkeys(_THREAD_VARS, "1"))


def run_replications(
    scenario: Scenario,
    tariffs: TariffBook | None,
    replications: int,
    progress: Callable[[float], None] | None = None,
    workers: int = 1,
) -> list[Tables]:
    """Run replications 0..n-1 and return their tables in replication order.

    ``workers`` > 1 spreads replications over a local process pool; the tables are the
    same, to the unit, whatever the number of workers. ``progress`` gets the share done.
    """
    if workers <= 1 or replications == 1:
        out = []
        for rep in range(replications):

            def step(share: float, rep: int = rep) -> None:
                if progress is not None:
                    progress((rep + share) / replications)

            out.append(replication_tables(scenario, tariffs, rep, step))
        return out
    results: dict[int, Tables] = {}
    context = multiprocessing.get_context("spawn")
    with (
        single_threaded_workers(),
        ProcessPoolExecutor(
            max_workers=min(workers, replications),
            mp_context=context,
            initializer=_single_threaded,
        ) as pool,
    ):
        futures = {
            pool.submit(replication_tables, scenario, tariffs, rep): rep
            for rep in range(replications)
        }
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(len(results) / replications)
    return [results[rep] for rep in range(replications)]

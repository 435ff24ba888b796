"""Replications of a scenario, serially or on a local process pool.

Each replication is independent: its random streams are keyed by (seed, replication),
so results do not depend on the number of workers or on the order in which
replications finish; they are returned in replication order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace

import pandas as pd

from sim.core.workers import (
    _single_threaded,
    children_start_without_interrupts,
    single_threaded_workers,
    stop_pool,
)
from sim.engine import run_replication
from sim.engine.results import tables_of
from sim.scenario.model import Scenario
from sim.telephony.tariffs import TariffBook

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
    draw_ahead: bool = False,
) -> Tables:
    """Run one replication and return its result tables."""
    out = run_replication(scenario, tariffs, replication, progress=progress, draw_ahead=draw_ahead)
    return tables_of(out)


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

            # One replication with cores to spare: draw the next calls while walking.
            ahead = replications == 1 and workers > 1
            out.append(replication_tables(scenario, tariffs, rep, step, ahead))
        return out
    results: dict[int, Tables] = {}
    context = multiprocessing.get_context("spawn")
    with single_threaded_workers():
        pool = ProcessPoolExecutor(
            max_workers=min(workers, replications),
            mp_context=context,
            initializer=_single_threaded,
        )
        try:
            with children_start_without_interrupts():  # the first submissions spawn
                futures = {
                    pool.submit(replication_tables, scenario, tariffs, rep): rep
                    for rep in range(replications)
                }
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(len(results) / replications)
        except BaseException:
            stop_pool(pool)  # Ctrl-C or a failed replication: no worker left running
            raise
        pool.shutdown(wait=True)
    return [results[rep] for rep in range(replications)]

"""One replication: the calendar processes, the wiring of the walks, and the entry point.

``run_replication`` builds a ``World``, funds the account and starts the SimPy
processes, runs to the horizon and checks the invariants. SimPy schedules what is truly
event-driven: payments completing, lots expiring, admins acting, trigger polls (the
account's own callbacks), month boundaries (``month_boundaries``: NCE/MCA invoices) and
the daily observer (``daily_observer``); calls travel in batches walked by one process,
the full walk (``sim.engine.full_walk``) or, for sweeps, a lean one
(``sim.engine.lean_walk``).
"""

from __future__ import annotations

import gc
import time as wallclock
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, time, timedelta

import simpy

from sim.billing.account import PostpaidAccount
from sim.billing.policies import Notification, NotificationKind
from sim.engine.full_walk import call_traffic
from sim.engine.lean_walk import fast_traffic, lean_traffic
from sim.engine.records import ProcessGenerator, RunOutput, WindowStart
from sim.engine.world import RatedTraffic, TrafficSource, World
from sim.scenario.model import Scenario
from sim.telephony.tariffs import TariffBook
from sim.traffic.model import TrafficModel


def daily_observer(env: simpy.Environment, world: World) -> ProcessGenerator:
    """Process: record the balance at the end of every local day."""
    cal = world.calendar
    t = 0.0
    while True:
        t = cal.to_sim(datetime.combine(cal.to_datetime(t).date() + timedelta(days=1), time()))
        if t >= world.horizon_s:
            return  # the engine records the horizon itself
        yield env.timeout(t - env.now)
        world.observe(env.now)


def month_boundaries(
    env: simpy.Environment, world: World, account: PostpaidAccount
) -> ProcessGenerator:
    """Process: issue each postpaid (NCE/MCA) invoice when its calendar month ends.

    After a switch from credits (§10.3) the first invoice is for the switch's month.
    """
    for t in world.calendar.month_starts_s(world.horizon_s):
        if t <= account.start_s:
            continue
        yield env.timeout(t - env.now)
        invoice = account.close_month(env.now)
        world.output.pool_alerts.append(
            Notification(env.now, NotificationKind.INVOICE_ISSUED, f"{invoice.month}")
        )


def window_opener(env: simpy.Environment, world: World) -> ProcessGenerator:
    """Process: note the running totals when the measured window opens (after a warm-up).

    Scheduled first, it runs before any other event at that instant: every charge before
    the window is posted, none inside it.
    """
    out = world.output
    yield env.timeout(out.window_s)
    out.at_window = WindowStart(
        charged_total=out.charged_total,
        uncharged_total=out.uncharged_total,
        charge_area=out.charge_area,
        uncharged_area=out.uncharged_area,
        invoiced_total=out.invoiced_total,
        invoiced_area=out.invoiced_area,
        calls_total=out.calls_total,
        retries_total=out.retries_total,
    )


def _start(world: World) -> list[ProcessGenerator]:
    """Fund the account and start the processes; return their generators."""
    processes: list[ProcessGenerator] = []

    def start(process: ProcessGenerator) -> None:
        world.env.process(process)
        processes.append(process)

    if world.output.window_s > 0:
        start(window_opener(world.env, world))
    f = world.scenario.funding
    if world.account is not None:
        world.account.start(
            0.0, f.initial_funds, world.scenario.initial_purchased_at_s(), lots=f.lots
        )
    if not world.lean:
        start(daily_observer(world.env, world))
    usage = world.postpaid or (world.account.postpaid if world.account else None)
    if usage is not None:
        start(month_boundaries(world.env, world, usage))
    if world.traffic is not None:
        if not world.lean:
            walker = call_traffic(world.env, world)
        elif world.account is not None and world.scenario.funding.at_zero == "overshoot":
            walker = fast_traffic(world.env, world)
        else:
            walker = lean_traffic(world.env, world)
        start(walker)
    return processes


def _release(env: simpy.Environment, processes: list[ProcessGenerator]) -> None:
    """Drop what the run left pending, so its world is freed as soon as it is unused.

    Events due after the horizon stay queued, and they hold the account's callbacks and
    the processes, whose generators hold the world: reference cycles that only the
    garbage collector would free, each with the run's ledger, payments and e-mails
    (about 500 objects). Closing the generators and emptying the queue breaks them, so
    reference counting frees a run's objects at once, and a sweep's collector has little
    to do (``fewer_collections``). SimPy has no public call to drop pending events; its
    queue is the heap ``Environment._queue``.
    """
    for process in processes:
        process.close()  # a finished generator ignores it
    env._queue.clear()


def _run(world: World) -> RunOutput:
    """Run to the horizon, check the invariants and return the raw records."""
    t0 = wallclock.perf_counter()
    processes = _start(world)
    try:
        world.env.run(until=world.horizon_s)
    finally:
        _release(world.env, processes)
    # SimPy stops before the events due at the horizon: close the last day here.
    if world._open_day is not None and not world.lean:
        world.finish_day(world._open_day)
    if world.lean:
        world._lean_day_balances()
        cache = world.rated_traffic
        out = world.output
        if out.window_s > 0 and cache is not None and cache.day_counts is not None:
            # Lean walks take the horizon's calls at once: count those of warm-up days.
            assert cache.day_ends is not None
            before = int(cache.day_counts[cache.day_ends <= out.window_s + 1e-6].sum())
            out.at_window = replace(out.at_window, calls_total=before)
    else:
        world.observe(world.horizon_s)
    world.output.pending_at_horizon = int(world.charges.amount.sum())
    world.check()
    world.output.wall_s = wallclock.perf_counter() - t0
    return world.output


YOUNG_THRESHOLD = 10_000
"""Gen-0 threshold of the garbage collector inside ``fewer_collections`` (CPython: 700)."""


@contextmanager
def fewer_collections(young: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Collect the youngest generation less often inside the block (batches of runs).

    A policy run allocates thousands of short-lived containers (events, callbacks,
    ledger entries), so at CPython's default threshold (700 live new objects) the
    collector ran many times a run and took about a sixth of a sweep's time. Each run
    frees its world by reference counting (``_release``), so collecting rarely costs
    no memory; the threshold is restored when the block ends.
    """
    saved = gc.get_threshold()
    gc.set_threshold(max(young, saved[0]), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def run_replication(
    scenario: Scenario,
    tariffs: TariffBook | None,
    replication: int = 0,
    progress: Callable[[float], None] | None = None,
    traffic: TrafficSource | None = None,
    rated: RatedTraffic | None = None,
    lean: bool = False,
    draw_ahead: bool = False,
) -> RunOutput:
    """Run one replication of a scenario to its horizon and return its raw records.

    ``traffic`` replaces the scenario's synthetic traffic (for example recorded calls);
    ``rated`` caches the drawn and rated calls across runs of the same replication with
    different policy settings (see ``RatedTraffic``). ``draw_ahead`` draws the next chunk
    of synthetic calls on a second thread while this one is walked (the same calls; worth
    it with a core to spare). With ``simulation.warm_up`` the run
    starts that much earlier (``Scenario.with_warm_up``) and its output says where the
    measured window starts (``RunOutput.window_s``, ``RunOutput.at_window``).
    """
    engine_scenario, window_s = scenario.with_warm_up()
    world = World(engine_scenario, tariffs, replication, progress, traffic, rated, lean)
    world.output.window_s = window_s
    model = world.traffic if draw_ahead and isinstance(world.traffic, TrafficModel) else None
    if model is None:
        return _run(world)
    model.draw_ahead()
    try:
        return _run(world)
    finally:
        model.close()


__all__ = [
    "YOUNG_THRESHOLD",
    "daily_observer",
    "fewer_collections",
    "month_boundaries",
    "run_replication",
    "window_opener",
]

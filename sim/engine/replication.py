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

import time as wallclock
from collections.abc import Callable
from datetime import datetime, time, timedelta

import simpy

from sim.billing.policies import Notification, NotificationKind
from sim.engine.full_walk import call_traffic
from sim.engine.lean_walk import fast_traffic, lean_traffic
from sim.engine.records import ProcessGenerator, RunOutput
from sim.engine.world import RatedTraffic, TrafficSource, World
from sim.scenario.model import Scenario
from sim.telephony.tariffs import TariffBook


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


def month_boundaries(env: simpy.Environment, world: World) -> ProcessGenerator:
    """Process: issue each postpaid (NCE/MCA) invoice when its calendar month ends."""
    assert world.postpaid is not None
    for t in world.calendar.month_starts_s(world.horizon_s):
        yield env.timeout(t - env.now)
        invoice = world.postpaid.close_month(env.now)
        world.output.pool_alerts.append(
            Notification(env.now, NotificationKind.INVOICE_ISSUED, f"{invoice.month}")
        )


def _start(world: World) -> None:
    """Fund the account and start the processes."""
    f = world.scenario.funding
    if world.account is not None:
        world.account.start(0.0, f.initial_funds, world.scenario.initial_purchased_at_s())
    if not world.lean:
        world.env.process(daily_observer(world.env, world))
    if world.postpaid is not None:
        world.env.process(month_boundaries(world.env, world))
    if world.traffic is not None:
        if not world.lean:
            walker = call_traffic(world.env, world)
        elif world.account is not None and world.scenario.funding.at_zero == "overshoot":
            walker = fast_traffic(world.env, world)
        else:
            walker = lean_traffic(world.env, world)
        world.env.process(walker)


def _run(world: World) -> RunOutput:
    """Run to the horizon, check the invariants and return the raw records."""
    t0 = wallclock.perf_counter()
    _start(world)
    world.env.run(until=world.horizon_s)
    # SimPy stops before the events due at the horizon: close the last day here.
    if world._open_day is not None and not world.lean:
        world.finish_day(world._open_day)
    if world.lean:
        world._lean_day_balances()
    else:
        world.observe(world.horizon_s)
    world.output.pending_at_horizon = int(world.charges.amount.sum())
    world.check()
    world.output.wall_s = wallclock.perf_counter() - t0
    return world.output


def run_replication(
    scenario: Scenario,
    tariffs: TariffBook | None,
    replication: int = 0,
    progress: Callable[[float], None] | None = None,
    traffic: TrafficSource | None = None,
    rated: RatedTraffic | None = None,
    lean: bool = False,
) -> RunOutput:
    """Run one replication of a scenario to its horizon and return its raw records.

    ``traffic`` replaces the scenario's synthetic traffic (for example recorded calls);
    ``rated`` caches the drawn and rated calls across runs of the same replication with
    different policy settings (see ``RatedTraffic``).
    """
    return _run(World(scenario, tariffs, replication, progress, traffic, rated, lean))


__all__ = [
    "daily_observer",
    "month_boundaries",
    "run_replication",
]

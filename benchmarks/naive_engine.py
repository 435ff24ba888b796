"""A deliberately naive engine: one SimPy process per user and one per call.

The same model as ``sim.engine`` (traffic, scalar rating with ``rate_call``, the same
credit account, per-call set-up checks, retries and charges), written the obvious way.
It serves two purposes: the benchmark times it against the batched engine, and the
integration tests check that both engines produce the same payments, e-mails, refusals
and ledger totals, to the micro-unit.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any

import simpy

from sim.billing.account import CreditAccount
from sim.core.rng import stream
from sim.engine import SimpyScheduler, retry_draw
from sim.scenario.model import Scenario
from sim.telephony.calls import Call, CallBatch
from sim.telephony.rating import Outcome, PoolBook, Rating, RatingContext, rate_call
from sim.telephony.tariffs import TariffBook
from sim.traffic.model import TrafficModel

ProcessGenerator = Generator[simpy.Event, Any, None]


@dataclass
class NaiveOutput:
    account: CreditAccount
    blocked: list[tuple[float, int, int]] = field(default_factory=list)  # (t, call_id, attempt)
    calls_total: int = 0
    charged_total: int = 0


def run_naive(scenario: Scenario, tariffs: TariffBook, replication: int = 0) -> NaiveOutput:
    """Run one replication the naive way (prepaid scenarios only)."""
    env = simpy.Environment()
    seed = scenario.simulation.seed
    f = scenario.funding
    account = CreditAccount(
        calendar=scenario.calendar,
        recharge=scenario.recharge,
        payment=scenario.payment,
        admin=scenario.admin,
        scheduler=SimpyScheduler(env),
        rng_payments=stream(seed, replication, "payments"),
        rng_admin=stream(seed, replication, "admin"),
        expiry_months=f.expiry_months,
        lot_lifetime_s=f.lot_lifetime,
        whole_units=f.portal_rules,
        low_balance=f.low_balance,
        allow_overshoot=f.at_zero == "overshoot",
        postpaid_from_s=scenario.postpaid_from_s(),
    )
    account.start(0.0, f.initial_funds, scenario.initial_purchased_at_s(), lots=f.lots)
    ctx = RatingContext(
        tenant=scenario.tenant,
        tariffs=tariffs,
        calendar=scenario.calendar,
        headcount_growth_per_month=scenario.traffic.headcount_growth_per_month,
    )
    horizon = scenario.horizon_s
    traffic = TrafficModel(
        scenario.traffic, scenario.population, scenario.calendar, seed, replication, horizon
    )
    batches: list[CallBatch] = []
    day = 0
    while traffic.day_bounds(day)[0] < horizon:
        batches.append(traffic.draw_day(day))
        day += 1
    by_user: dict[int, list[Call]] = {}
    for b in batches:
        for c in b:
            if c.start_s < horizon:
                by_user.setdefault(c.subscriber_id, []).append(c)
    out = NaiveOutput(account)
    book = PoolBook(ctx)
    rng_retries = stream(seed, replication, "retries")
    retry = scenario.traffic.retry

    def call(c: Call, attempt: int, first: Rating | None = None) -> ProcessGenerator:
        """Process: one call attempt, from set-up to its charge.

        A repeat attempt keeps the rating of the first (as in ``sim.engine``).
        """
        out.calls_total += 1
        rating = first if first is not None else rate_call(c, ctx, book)
        refuse = f.refuse_at_zero and rating.needs_balance_check
        if refuse and not account.has_credit(env.now):
            out.blocked.append((env.now, c.call_id, attempt))
            again, delay_s = retry_draw(retry, rng_retries, attempt)
            if again and c.start_s + delay_s < horizon:
                yield env.timeout(delay_s)
                env.process(call(replace(c, start_s=env.now), attempt + 1, rating))
            return
        if rating.outcome not in (Outcome.CHARGED, Outcome.POOL_CHARGED):
            return
        if f.charge_at == "end":
            yield env.timeout(rating.served_s)
        if env.now < horizon:
            out.charged_total += rating.amount
            account.charge(env.now, rating.amount, "call")

    def user(calls: list[Call]) -> ProcessGenerator:
        """Process: one user (or service number) places its calls."""
        for c in calls:
            yield env.timeout(c.start_s - env.now)
            env.process(call(c, 0))

    for calls in by_user.values():
        env.process(user(calls))
    env.run(until=horizon)
    account.invariants()
    return out

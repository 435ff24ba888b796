"""Calls rated per second: scalar ``rate_call`` vs vectorised ``rate_batch``.

Run: .venv/bin/python benchmarks/bench_rating.py [--vector-calls 1000000] [--scalar-calls 50000]

A synthetic tenant of 10,000 users (domestic, D&I, PAYG, per-user 120-minute plans,
standard and pay-per-minute conferencing, the US/CA add-on) and two toll-free call queues;
calls spread over one year in America/New_York with the sample rate tables.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import numpy as np

from sim.core.units import Calendar
from sim.telephony.calls import CallBatch
from sim.telephony.plans import ServiceNumber, Tenant, UserGroup
from sim.telephony.rating import PoolBook, RatingContext, rate_batch, rate_call
from sim.telephony.tariffs import TariffFiles

REPO = Path(__file__).resolve().parents[1]

GROUPS = (
    UserGroup("us", 4000, "US", "domestic", conferencing="standard",
              conferencing_assigned=3000, dial_out_us_ca_unlimited=True),
    UserGroup("pr", 500, "PR", "domestic", conferencing="standard"),
    UserGroup("gb", 2000, "GB", "international", conferencing="standard"),
    UserGroup("de", 2000, "DE", "payg", conferencing="pay_per_minute"),
    UserGroup("ca", 1500, "CA", "domestic_120_unpooled", conferencing="standard",
              credits_licence=False),
)  # fmt: skip
SERVICES = (
    ServiceNumber("cq-us", "call_queue", "toll_free", "US"),
    ServiceNumber("aa-gb", "auto_attendant", "toll_free", "GB"),
)
USER_TYPES = np.array(["user_in", "user_out", "user_out", "user_out_transfer", "conf_in",
                       "conf_out"])  # fmt: skip
DESTS = np.array(["US", "PR", "CA", "GB", "DE", "FR", "IN", "NG", "JP"])


def make_context() -> RatingContext:
    folder = REPO / "scenarios" / "tariffs"
    tariffs = TariffFiles(
        "sample-outbound.csv", "sample-tollfree.csv", "sample-dialout.csv", "sample-dialin.csv"
    ).load(folder)
    calendar = Calendar.from_local(date(2026, 1, 1), "America/New_York")
    return RatingContext(Tenant(GROUPS, SERVICES), tariffs, calendar)


def make_calls(n: int, rng: np.random.Generator) -> CallBatch:
    holders = [g.name for g in GROUPS] + [s.name for s in SERVICES]
    countries = [g.usage_country for g in GROUPS] + [s.country for s in SERVICES]
    weights = np.array([g.count for g in GROUPS] + [300, 200], dtype=float)
    h = rng.choice(len(holders), n, p=weights / weights.sum())
    service = h >= len(GROUPS)
    call_type = np.where(
        service, np.where(rng.random(n) < 0.95, "ucap_in", "ucap_out"), rng.choice(USER_TYPES, n)
    )
    number_type = np.where(
        service,
        np.array([s.number_type for s in SERVICES])[np.maximum(h - len(GROUPS), 0)],
        rng.choice(["toll", "toll_free", "premium"], n, p=[0.9, 0.08, 0.02]),
    )
    usage = np.array(countries)[h]
    dest = np.where(rng.random(n) < 0.7, usage, rng.choice(DESTS, n))
    dest = np.where(call_type == "ucap_in", usage, dest)
    return CallBatch.from_columns(
        call_id=np.arange(n),
        subscriber_id=rng.integers(0, 1500, n),
        group=np.array(holders)[h],
        usage_country=usage,
        dest_country=dest,
        number_type=number_type,
        call_type=call_type,
        start_s=np.sort(rng.uniform(0, 365 * 86_400, n)),
        duration_s=np.round(rng.lognormal(5.0, 1.0, n)),
    )


def report(name: str, n: int, seconds: float) -> None:
    print(f"{name + ':':<11} {n:>9,} calls in {seconds:6.2f} s = {n / seconds:>12,.0f} calls/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vector-calls", type=int, default=1_000_000)
    parser.add_argument("--scalar-calls", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ctx = make_context()
    rng = np.random.default_rng(args.seed)

    batch = make_calls(args.vector_calls, rng)
    rate_batch(batch.take(np.arange(min(1000, len(batch)))), ctx)  # warm-up
    t0 = time.perf_counter()
    rated = rate_batch(batch, ctx)
    vec_s = time.perf_counter() - t0
    report("vectorised", len(batch), vec_s)

    small = make_calls(args.scalar_calls, rng)
    calls = list(small)  # building Call objects is not part of rating
    book = PoolBook(ctx)
    t0 = time.perf_counter()
    scalar = [rate_call(c, ctx, book) for c in calls]
    sc_s = time.perf_counter() - t0
    report("scalar", len(calls), sc_s)
    print(f"speed-up:   {(len(batch) / vec_s) / (len(calls) / sc_s):.0f}x")

    check = rate_batch(small, ctx)
    assert [check.rating(i) for i in range(len(small))] == scalar, "paths disagree"
    frame = rated.to_frame()
    print("\noutcomes of the vectorised run:")
    print(frame["outcome"].value_counts().to_string())
    print(f"pool alerts: {len(rated.alerts)}; charged total: {rated.total_amount / 1e6:,.2f}")


if __name__ == "__main__":
    main()

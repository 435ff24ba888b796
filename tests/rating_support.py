"""Builders shared by the rating tests (unit and property)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from sim.core.units import Calendar, Micros
from sim.telephony.calls import Call, CallBatch, CallType, NumberType
from sim.telephony.plans import ServiceNumber, Tenant, UserGroup
from sim.telephony.rating import (
    PoolBook,
    PoolState,
    RatedBatch,
    Rating,
    RatingContext,
    rate_batch,
    rate_call,
)
from sim.telephony.tariffs import Tariff, TariffBook, TariffTable

# Rates chosen for easy arithmetic: 0.06/min = 1,000 micros per second.
OUT_RATE = Micros(60_000)
TOLL_FREE_RATE = Micros(30_000)
DIAL_OUT_RATE = Micros(120_000)
DIAL_IN_RATE = Micros(6_000)
PREMIUM_RATE = Micros(240_000)

UTC = Calendar.from_local(date(2026, 1, 1), "UTC")


def flat_tariffs(increment_s: int = 60, fee: int = 0) -> TariffBook:
    """Return a tariff book with one default row per table (plus a GB premium row)."""

    def table(name: str, rate: int, *extra: Tariff) -> TariffTable:
        default = Tariff(Micros(rate), Micros(fee), increment_s)
        return TariffTable(name, (default, *extra))

    premium = Tariff(PREMIUM_RATE, Micros(fee), increment_s, "GB", NumberType.PREMIUM)
    return TariffBook(
        outbound=table("outbound", OUT_RATE, premium),
        toll_free=table("toll_free", TOLL_FREE_RATE),
        dial_out=table("dial_out", DIAL_OUT_RATE),
        dial_in=table("dial_in", DIAL_IN_RATE),
    )


def group(name: str = "g", country: str = "US", plan: str = "domestic", **kw: Any) -> UserGroup:
    return UserGroup(name=name, count=kw.pop("count", 1), usage_country=country, plan=plan, **kw)


def context(
    groups: Sequence[UserGroup] = (),
    services: Sequence[ServiceNumber] = (),
    *,
    tariffs: TariffBook | None = None,
    calendar: Calendar = UTC,
    **options: Any,
) -> RatingContext:
    tenant = Tenant(user_groups=tuple(groups), service_numbers=tuple(services))
    return RatingContext(tenant, tariffs or flat_tariffs(), calendar, **options)


_ids = iter(range(1, 10**9))


def call(
    group: str = "g",
    call_type: str = "user_out",
    dest: str = "US",
    usage: str = "US",
    number_type: str = "toll",
    start_s: float = 0.0,
    duration_s: float = 60.0,
    subscriber_id: int = 0,
    call_id: int | None = None,
) -> Call:
    return Call(
        call_id=next(_ids) if call_id is None else call_id,
        subscriber_id=subscriber_id,
        group=group,
        usage_country=usage,
        dest_country=dest,
        number_type=NumberType(number_type),
        call_type=CallType(call_type),
        start_s=start_s,
        duration_s=duration_s,
    )


def rate_all(
    calls: Sequence[Call], ctx: RatingContext, state: PoolState | None = None
) -> tuple[list[Rating], RatedBatch, PoolBook]:
    """Rate calls both ways, assert the two paths agree, and return both."""
    book = PoolBook(ctx, state)
    scalar = [rate_call(c, ctx, book) for c in calls]
    batch = rate_batch(CallBatch.from_calls(calls), ctx, state)
    vector = [batch.rating(i) for i in range(len(batch))]
    assert vector == scalar
    assert batch.state == book.state()
    assert list(batch.alerts) == sorted(book.alerts, key=lambda a: a.sort_key())
    return scalar, batch, book


def rate_sequence(calls: Sequence[Call], ctx: RatingContext) -> list[Rating]:
    """Rate calls in order (both paths) and return the ratings."""
    return rate_all(calls, ctx)[0]


def at(calls: Sequence[Call], **changes: Any) -> list[Call]:
    return [replace(c, **changes) for c in calls]

"""Properties of rating on random traffic: both paths agree, money is sane."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from fractions import Fraction

from hypothesis import event, given, settings
from hypothesis import strategies as st

from sim.core.units import Calendar, Micros
from sim.telephony.calls import CallBatch, CallType, NumberType
from sim.telephony.plans import ServiceNumber, UserGroup
from sim.telephony.rating import (
    Outcome,
    PoolBook,
    cover_from_pools,
    rate_batch,
    rate_call,
    shared_pool_demand,
)
from sim.telephony.tariffs import Tariff, TariffBook, TariffTable, charge_for
from tests.rating_support import call, context, flat_tariffs, rate_all

DAY = 86_400.0


def exact_ceil(duration_s: float, inc: int, covered_s: int = 0) -> int:
    """Reference rounding in exact rational arithmetic."""
    return inc * math.ceil((Fraction(duration_s) - covered_s) / inc)


GROUPS = (
    UserGroup("us", 2, "US", "domestic_120", conferencing="standard", conferencing_assigned=1,
              dial_out_us_ca_unlimited=True),
    UserGroup("pr", 1, "PR", "domestic_120", conferencing="pay_per_minute",
              credits_licence=False),
    UserGroup("gb", 1, "GB", "international"),
    UserGroup("ca", 3, "CA", "domestic_120_unpooled", conferencing="standard"),
    UserGroup("de", 2, "DE", "payg", conferencing="standard", conferencing_assigned=0),
    UserGroup("kr", 1, "KR", "none", conferencing="complimentary"),
)  # fmt: skip
SERVICES = (
    ServiceNumber("cq", "call_queue", "toll_free", "US"),
    ServiceNumber("aa", "auto_attendant", "toll", "GB", plan="international"),
)
USER_TYPES = ("user_in", "user_out", "user_out_conf", "user_out_transfer",
              "user_out_forwarding", "conf_in", "conf_out")  # fmt: skip
SERVICE_TYPES = ("ucap_in", "ucap_out")
COUNTRY = {g.name: g.usage_country for g in GROUPS} | {s.name: s.country for s in SERVICES}
NEW_YORK = Calendar.from_local(datetime(2026, 1, 15, 9, 30), "America/New_York")


def origin_tariffs() -> TariffBook:
    """Rate tables keyed by origin and call type as well as destination (per-type fees)."""

    def row(rate, fee=0, dest="default", origin=None, call_type=None, nt=None, inc=60):
        ct = None if call_type is None else CallType(call_type)
        number_type = None if nt is None else NumberType(nt)
        return Tariff(Micros(rate), Micros(fee), inc, dest, number_type, "", origin, ct)

    outbound = (
        row(60_000),
        row(90_000, origin="GB"),
        row(70_000, 5_000, origin="zone_a", inc=6),
        row(30_000, origin="US", dest="CA"),
        row(45_000, origin="US", dest="zone_a"),
        row(60_000, 40_000, call_type="user_out_forwarding"),
        row(60_000, 15_000, origin="GB", call_type="ucap_out"),
        row(240_000, 10_000, dest="GB", nt="premium"),
        row(200_000, 20_000, dest="GB", nt="premium", origin="GB", call_type="user_out"),
    )
    toll_free = (
        row(30_000),
        row(20_000, 2_000, origin="US", call_type="conf_in"),
        row(25_000, origin="US", dest="US", call_type="ucap_in", inc=1),
    )
    dial_out = (row(120_000), row(100_000, 50_000, origin="DE"), row(80_000, origin="zone_a"))
    dial_in = (row(6_000), row(9_000, origin="PR", call_type="conf_in"))
    return TariffBook(
        outbound=TariffTable("outbound", outbound),
        toll_free=TariffTable("toll_free", toll_free),
        dial_out=TariffTable("dial_out", dial_out),
        dial_in=TariffTable("dial_in", dial_in),
    )


# §10.1 spend limits small enough to bind within a few calls; the US group has none.
LIMITED = tuple(
    g if g.name == "us" else replace(g, spend_limit=Micros(limit))
    for g, limit in zip(GROUPS, (0, 150_000, 90_000, 60_000, 200_000, 1), strict=True)
)
# The resource-account rule (§10.2) starts on 1 Nov 2025, inside these calls' span.
OCTOBER = Calendar.from_local(datetime(2025, 10, 10, 8, 0), "Europe/London")

CONTEXTS = [
    context(GROUPS, SERVICES),
    context(GROUPS, SERVICES, tariffs=flat_tariffs(increment_s=6, fee=20_000)),
    context(
        GROUPS, SERVICES, tariffs=flat_tariffs(increment_s=1), pool_increment_s=6, calendar=NEW_YORK
    ),
    context(GROUPS, SERVICES, funding_mode="postpaid", calendar=NEW_YORK),
    context(GROUPS, SERVICES, funding_mode="postpaid", hard_cap=True),
    context(GROUPS, SERVICES, headcount_growth_per_month=0.4, calendar=NEW_YORK),
    context(GROUPS, SERVICES, tariffs=origin_tariffs(), calendar=NEW_YORK),
    context(GROUPS, SERVICES, tariffs=origin_tariffs(), funding_mode="postpaid"),
    context(LIMITED, SERVICES, tariffs=origin_tariffs(), calendar=OCTOBER),
    context(LIMITED, SERVICES, tariffs=flat_tariffs(increment_s=6, fee=20_000), calendar=NEW_YORK),
    context(LIMITED, SERVICES, funding_mode="postpaid", pool_increment_s=6),
]

durations = st.one_of(
    st.floats(0, 20_000, allow_nan=False),
    st.integers(0, 400).map(lambda m: m * 60.0),
    st.sampled_from([0.0, 0.5, 59.99, 60.0, 60.01, 36_000.0]),
)
gaps = st.one_of(st.sampled_from([0.0, 1.0, 3_600.0, 3 * DAY, 11 * DAY]), st.floats(0, 5 * DAY))


@st.composite
def call_lists(draw, max_size=40):
    n = draw(st.integers(0, max_size))
    t = draw(st.floats(0, 40 * DAY))
    out = []
    for i in range(n):
        t += draw(gaps)
        holder = draw(st.sampled_from(sorted(COUNTRY)))
        types = SERVICE_TYPES if holder in ("cq", "aa") else USER_TYPES
        out.append(
            call(
                holder,
                draw(st.sampled_from(types)),
                dest=draw(st.sampled_from(["US", "PR", "CA", "GB", "DE", "NG", "JP", "KR"])),
                usage=COUNTRY[holder],
                number_type=draw(st.sampled_from(["toll", "toll", "toll_free", "premium"])),
                start_s=t,
                duration_s=draw(durations),
                # Each holder's subscribers have ids of their own, as the traffic model
                # numbers them: a subscriber is in one group, under one spend limit.
                subscriber_id=4 * sorted(COUNTRY).index(holder) + draw(st.integers(0, 3)),
                call_id=i,
            )
        )
    return out


@settings(max_examples=150, deadline=None)
@given(calls=call_lists(), ctx=st.sampled_from(CONTEXTS), cut=st.integers(0, 40))
def test_vectorised_equals_scalar_whole_and_in_chunks(calls, ctx, cut):
    scalar, whole, _ = rate_all(calls, ctx)  # asserts ratings, state and alerts agree
    cut = min(cut, len(calls))
    head = rate_batch(CallBatch.from_calls(calls[:cut]), ctx)
    tail = rate_batch(CallBatch.from_calls(calls[cut:]), ctx, head.state)
    chunked = [head.rating(i) for i in range(len(head))]
    chunked += [tail.rating(i) for i in range(len(tail))]
    assert chunked == scalar
    assert tail.state == whole.state
    assert head.alerts + tail.alerts == whole.alerts


@settings(max_examples=150, deadline=None)
@given(calls=call_lists(), ctx=st.sampled_from(CONTEXTS))
def test_pool_and_charged_seconds_make_the_billed_seconds(calls, ctx):
    ratings = rate_all(calls, ctx)[0]
    pool_inc = ctx.pool_increment_s
    drawn = defaultdict(int)
    for c, r in zip(calls, ratings, strict=True):
        assert r.amount >= 0
        assert r.pool_s >= 0
        assert r.charged_s >= 0
        inc = r.tariff.increment_s if r.tariff else 1
        d = c.duration_s
        if r.outcome is Outcome.POOL:
            assert (r.pool_s, r.charged_s) == (exact_ceil(d, pool_inc), 0)
        elif r.outcome is Outcome.CHARGED:
            assert (r.pool_s, r.charged_s) == (0, exact_ceil(d, inc))
        elif r.outcome is Outcome.POOL_CHARGED:
            # Pool seconds plus charged seconds cover the call, rounded up once.
            assert 0 < r.pool_s < d
            assert r.charged_s == exact_ceil(d, inc, r.pool_s)
        elif r.outcome is Outcome.CUT_OFF:
            assert r.charged_s == 0
            assert r.amount == 0
            assert 0 < r.served_s == r.pool_s < d
        else:
            assert r.billed_s == 0
            assert r.amount == 0
        assert r.billed_s == r.pool_s + r.charged_s
        assert (r.amount > 0) <= (r.charged_s > 0)
        if r.pool_s:
            drawn[(r.pool, ctx.calendar.month_index(c.start_s))] += r.pool_s
    growth = ctx.headcount_growth_per_month
    for (key, month), used in drawn.items():
        # A pool never pays more than its size that month (licences grow with head-count).
        assert used <= ctx.tenant.pool_size_s(key, month, growth)


@settings(max_examples=150, deadline=None)
@given(
    calls=call_lists(max_size=15),
    ctx=st.sampled_from(CONTEXTS),
    d1=durations,
    d2=durations,
)
def test_charge_never_decreases_with_duration(calls, ctx, d1, d2):
    if not calls:
        return
    *before, last = calls
    state = rate_batch(CallBatch.from_calls(before), ctx).state
    short, long_ = sorted([d1, d2])
    r1 = rate_call(replace(last, duration_s=short), ctx, PoolBook(ctx, state))
    r2 = rate_call(replace(last, duration_s=long_), ctx, PoolBook(ctx, state))
    assert 0 <= r1.amount <= r2.amount
    assert r1.pool_s <= r2.pool_s
    assert r1.billed_s <= r2.billed_s


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(0, 10**7),
    fee=st.integers(0, 10**6),
    inc=st.sampled_from([1, 6, 30, 60]),
    d1=st.floats(0, 10**5),
    d2=st.floats(0, 10**5),
)
def test_tariff_charge_bounds(rate, fee, inc, d1, d2):
    tariff = Tariff(Micros(rate), Micros(fee), inc)
    short, long_ = sorted([d1, d2])
    b1, b2 = tariff.billable_seconds(short), tariff.billable_seconds(long_)
    assert b1 == exact_ceil(short, inc)
    assert b2 == exact_ceil(long_, inc)
    assert 0 <= tariff.charge(b1) <= tariff.charge(b2)
    if b1:
        exact = b1 * rate / 60
        assert exact <= tariff.charge(b1) - fee < exact + 1
    assert charge_for(b1, rate, fee) == tariff.charge(b1)


def test_single_table_book_for_smoke():
    table = TariffTable("t", (Tariff(Micros(1)),))
    assert TariffBook(table, table, table).dial_in.rows == ()


@st.composite
def pooled_calls(draw, max_size=30):
    """Calls of the pooled domestic groups to their own country, in one local month."""
    n = draw(st.integers(1, max_size))
    t = draw(st.floats(0, 10 * DAY))
    out = []
    for i in range(n):
        t += draw(st.floats(0, 0.5 * DAY))
        holder = draw(st.sampled_from(["us", "pr"]))
        out.append(
            call(
                holder,
                draw(st.sampled_from(["user_out", "user_out_transfer", "user_out_forwarding"])),
                dest=COUNTRY[holder],
                usage=COUNTRY[holder],
                start_s=t,
                duration_s=draw(st.one_of(st.floats(0, 600), st.floats(0, 900), durations)),
                subscriber_id=draw(st.integers(0, 3)),
                call_id=i,
            )
        )
    return out


@settings(max_examples=200, deadline=None)
@given(
    before=call_lists(max_size=15),
    calls=st.one_of(pooled_calls(), call_lists(max_size=10)),
    ctx=st.sampled_from(CONTEXTS),
)
def test_pool_cover_without_times_is_what_rating_in_order_gives(before, calls, ctx):
    # What a lean draw does with domestic calls it has not given times: when shared
    # pools cover their demand with time to spare, rating them in time order must find
    # each covered in full and leave the pools used the same.
    if not calls:
        return
    last = before[-1].start_s if before else 0.0
    first = calls[0].start_s
    calls = [replace(c, start_s=last + (c.start_s - first)) for c in calls]  # after ``before``
    month = ctx.calendar.month_start_s(calls[0].start_s)
    calls = [c for c in calls if ctx.calendar.month_start_s(c.start_s) == month]
    head = rate_batch(CallBatch.from_calls(before), ctx)
    batch = CallBatch.from_calls(calls)
    demand = shared_pool_demand(batch, ctx)
    rated = rate_batch(batch, ctx, head.state)
    if demand is None:
        event("rated: not shared pools only")
        return
    covered = cover_from_pools(head.state, demand, ctx, calls[0].start_s)
    event(f"covered: {covered is not None}")
    if covered is None:  # only when some pool asked would be used up
        growth = ctx.headcount_growth_per_month
        index = ctx.calendar.month_index(month) if growth else 0
        sizes = {k: ctx.tenant.pool_size_s(k, index, growth) for k in demand}
        assert any(rated.state.used_s.get(k, 0) >= size for k, size in sizes.items())
        return
    assert all(rated.outcome == Outcome.POOL)
    assert dict(covered.used_s) == dict(rated.state.used_s)
    assert covered.month_start_s == rated.state.month_start_s
    assert covered.closed == rated.state.closed
    assert dict(covered.spent) == dict(rated.state.spent)

"""Rating rules of teams-credits.md, each checked on the scalar and the vectorised path."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from sim.core.units import Calendar, Micros
from sim.telephony.calls import CallBatch
from sim.telephony.plans import ServiceNumber
from sim.telephony.rating import (
    ChargeTo,
    Outcome,
    PoolAlert,
    PoolBook,
    PoolState,
    Reason,
    Rule,
    UnratableCallError,
    apply_balance_check,
    rate_batch,
    rate_call,
)
from sim.telephony.tariffs import Tariff, TariffBook, TariffTable
from tests.rating_support import (
    DIAL_IN_RATE,
    DIAL_OUT_RATE,
    OUT_RATE,
    PREMIUM_RATE,
    TOLL_FREE_RATE,
    call,
    context,
    flat_tariffs,
    group,
    rate_all,
    rate_sequence,
)

MIN = 60


def one(c, ctx):
    return rate_sequence([c], ctx)[0]


# --- One case per documented rule ------------------------------------------------------
# (group settings, call settings, expected rule, outcome, per-minute rate charged or None)
US_STD = {"country": "US", "plan": "domestic", "conferencing": "standard"}
RULES = [
    pytest.param(
        US_STD, {"call_type": "user_in"}, Rule.INBOUND_FREE, Outcome.FREE, None,
        id="§2.1 inbound to a regular number is free",
    ),
    pytest.param(
        {"country": "US", "plan": "payg"}, {"call_type": "user_in"},
        Rule.INBOUND_FREE, Outcome.FREE, None, id="§2.1 inbound is free on PAYG too",
    ),
    pytest.param(
        US_STD, {"call_type": "user_in", "number_type": "toll_free"},
        Rule.TOLL_FREE_INBOUND, Outcome.CHARGED, TOLL_FREE_RATE,
        id="§1(1) toll-free minutes to a user number are charged",
    ),
    pytest.param(
        US_STD, {"call_type": "conf_in", "number_type": "toll_free"},
        Rule.TOLL_FREE_INBOUND, Outcome.CHARGED, TOLL_FREE_RATE,
        id="§1(1) §3 toll-free conference dial-in is charged",
    ),
    pytest.param(
        US_STD, {"call_type": "conf_in"}, Rule.CONF_TOLL_DIAL_IN_FREE, Outcome.FREE, None,
        id="§3 toll dial-in on standard conferencing is free",
    ),
    pytest.param(
        {**US_STD, "conferencing": "pay_per_minute"}, {"call_type": "conf_in"},
        Rule.CONF_PAY_PER_MINUTE, Outcome.CHARGED, DIAL_IN_RATE,
        id="§1 pay-per-minute conferencing charges toll dial-in",
    ),
    pytest.param(
        {**US_STD, "conferencing": "pay_per_minute"},
        {"call_type": "conf_in", "number_type": "toll_free"},
        Rule.CONF_PAY_PER_MINUTE, Outcome.CHARGED, TOLL_FREE_RATE,
        id="§1 pay-per-minute conferencing charges toll-free dial-in",
    ),
    pytest.param(
        {**US_STD, "conferencing": "pay_per_minute"}, {"call_type": "conf_out", "dest": "GB"},
        Rule.CONF_PAY_PER_MINUTE, Outcome.CHARGED, DIAL_OUT_RATE,
        id="§1 pay-per-minute conferencing charges Zone A dial-out (no 60-min pool)",
    ),
    pytest.param(
        US_STD, {"call_type": "conf_out", "dest": "GB"}, Rule.DIAL_OUT_ZONE_A, Outcome.POOL,
        None, id="§3 dial-out to Zone A draws the conferencing pool",
    ),
    pytest.param(
        US_STD, {"call_type": "conf_out", "dest": "NG"}, Rule.DIAL_OUT_NOT_COVERED,
        Outcome.CHARGED, DIAL_OUT_RATE, id="§3 §1(2) dial-out outside Zone A is charged",
    ),
    pytest.param(
        US_STD, {"call_type": "conf_out", "dest": "GB", "number_type": "premium"},
        Rule.DIAL_OUT_NOT_COVERED, Outcome.CHARGED, DIAL_OUT_RATE,
        id="§3 the pool covers non-premium numbers only",
    ),
    pytest.param(
        {**US_STD, "dial_out_us_ca_unlimited": True}, {"call_type": "conf_out", "dest": "CA"},
        Rule.DIAL_OUT_US_CA_ADDON, Outcome.FREE, None,
        id="§1 US/CA dial-out add-on: neither pool nor credits",
    ),
    pytest.param(
        {**US_STD, "dial_out_us_ca_unlimited": True}, {"call_type": "conf_out", "dest": "GB"},
        Rule.DIAL_OUT_ZONE_A, Outcome.POOL, None,
        id="§1 the add-on covers US/CA only, GB still draws the pool",
    ),
    pytest.param(
        {"country": "GB", "plan": "domestic"},
        {"usage": "GB", "dest": "GB", "number_type": "premium"},
        Rule.PREMIUM_SHARED_COST, Outcome.CHARGED, PREMIUM_RATE,
        id="§2.2 UK shared-cost numbers are paid from credits only",
    ),
    pytest.param(
        {"country": "US", "plan": "payg"}, {"dest": "US"}, Rule.PAYG_OUTBOUND,
        Outcome.CHARGED, OUT_RATE, id="§1(5) §2.1 every outbound PAYG minute is charged",
    ),
    pytest.param(
        US_STD, {"dest": "US"}, Rule.DOMESTIC_PLAN, Outcome.POOL, None,
        id="§2.2 domestic call on a domestic plan draws the pool",
    ),
    pytest.param(
        US_STD, {"dest": "CA"}, Rule.DOMESTIC_PLAN, Outcome.POOL, None,
        id="§2.2 US to Canada counts as domestic",
    ),
    pytest.param(
        {"country": "CA", "plan": "domestic"}, {"usage": "CA", "dest": "US"},
        Rule.DOMESTIC_PLAN, Outcome.POOL, None, id="§2.2 Canada to US counts as domestic",
    ),
    pytest.param(
        US_STD, {"dest": "PR"}, Rule.DOMESTIC_PLAN, Outcome.POOL, None,
        id="§2.2 US domestic covers Puerto Rico",
    ),
    pytest.param(
        US_STD, {"dest": "GB"}, Rule.INTERNATIONAL_ON_DOMESTIC, Outcome.CHARGED, OUT_RATE,
        id="§1 international call on a domestic plan is charged",
    ),
    pytest.param(
        {"country": "US", "plan": "international"}, {"dest": "GB"},
        Rule.INTERNATIONAL_PLAN, Outcome.POOL, None,
        id="§2.2 international call on D&I draws its international pool",
    ),
    pytest.param(
        US_STD, {"call_type": "user_out_transfer"}, Rule.DOMESTIC_PLAN, Outcome.POOL, None,
        id="§2.2 transfer to a PSTN number is an outbound plan call",
    ),
    pytest.param(
        US_STD, {"call_type": "user_out_forwarding"}, Rule.DOMESTIC_PLAN, Outcome.POOL, None,
        id="§2.2 forwarding to a PSTN number is an outbound plan call",
    ),
    pytest.param(
        US_STD, {"call_type": "user_out_conf"}, Rule.DOMESTIC_PLAN, Outcome.POOL, None,
        id="§2.2 ad-hoc conference leg is an outbound plan call",
    ),
    pytest.param(
        {"country": "US", "plan": "none", "conferencing": "standard"}, {},
        Rule.NO_CALLING_PLAN, Outcome.BLOCKED, None, id="no calling plan: outbound refused",
    ),
    pytest.param(
        {"country": "US", "plan": "domestic"}, {"call_type": "conf_out"},
        Rule.NO_CONFERENCING, Outcome.BLOCKED, None,
        id="no Audio Conferencing licence: dial-out refused",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("group_kw", "call_kw", "rule", "outcome", "rate"), RULES)
def test_rule(group_kw, call_kw, rule, outcome, rate):
    ctx = context([group(**group_kw)])
    r = one(call(duration_s=90, **call_kw), ctx)
    assert (r.rule, r.outcome) == (rule, outcome)
    if rate is None:
        assert r.amount == 0
        assert r.charged_to is ChargeTo.NONE
    else:
        # 90 s rounded up to 2 minutes at the table's rate.
        assert r.charged_s == 120
        assert r.amount == 2 * rate
        assert r.charged_to is ChargeTo.CREDITS
        assert r.needs_balance_check  # §1: credit-funded from set-up needs a positive balance
    if outcome is Outcome.POOL:
        assert r.pool_s == 120
        assert r.charged_s == 0
        assert not r.needs_balance_check
    assert r.served_s == (0.0 if outcome is Outcome.BLOCKED else 90.0)


SERVICE_CASES = [
    pytest.param("toll_free", "ucap_in", Rule.TOLL_FREE_INBOUND, Outcome.CHARGED,
                 id="§1(1) toll-free minutes to an auto attendant / call queue are charged"),
    pytest.param("toll", "ucap_in", Rule.INBOUND_FREE, Outcome.FREE,
                 id="§2.1 inbound to a toll service number is free"),
    pytest.param("toll", "ucap_out", Rule.PAYG_OUTBOUND, Outcome.CHARGED,
                 id="§1(5) service-number outbound on its (PAYG) plan is charged"),
]  # fmt: skip


@pytest.mark.parametrize(("number_type", "call_type", "rule", "outcome"), SERVICE_CASES)
def test_service_number_rule(number_type, call_type, rule, outcome):
    ctx = context(services=[ServiceNumber("aa", "auto_attendant", number_type, "US")])
    r = one(call("aa", call_type, number_type=number_type), ctx)
    assert (r.rule, r.outcome) == (rule, outcome)


# --- Pools --------------------------------------------------------------------------------


def test_pool_exhaustion_mid_call_is_split():
    # §2.3 a call straddling the end of the pool: covered minutes from the pool, rest charged.
    ctx = context([group(plan="domestic_120")])  # 120 min = 7200 s
    first, split, after = rate_sequence(
        [
            call(start_s=0, duration_s=6990),  # pool demand 7020 s
            call(start_s=10, duration_s=300),  # 180 s left in the pool
            call(start_s=20, duration_s=30),  # pool already used up at set-up
        ],
        ctx,
    )
    assert first.outcome is Outcome.POOL
    assert first.pool_s == 7020
    assert split.outcome is Outcome.POOL_CHARGED
    assert (split.pool_s, split.charged_s) == (180, 120)
    assert split.amount == 2 * OUT_RATE
    assert not split.needs_balance_check  # admitted by the pool: no set-up check
    assert after.outcome is Outcome.CHARGED
    assert after.pool_s == 0
    assert after.needs_balance_check  # credit-funded from the start
    assert after.pool == split.pool == first.pool


def test_split_remainder_uses_the_tariff_increment():
    ctx = context([group(plan="domestic_120")], tariffs=flat_tariffs(increment_s=6))
    _, split = rate_sequence(
        [call(start_s=0, duration_s=7080), call(start_s=1, duration_s=130.5)], ctx
    )
    # 120 s left; the remaining 10.5 s rounds up to 12 s at a 6 s increment.
    assert (split.pool_s, split.charged_s) == (120, 12)
    assert split.amount == 12 * OUT_RATE // 60


def test_pools_are_drawn_in_start_order():
    # A long call that started first takes the pool even though a later short call ends first.
    ctx = context([group(plan="domestic_120")])
    long_call, short_call = rate_sequence(
        [call(start_s=0, duration_s=7200), call(start_s=5, duration_s=60)], ctx
    )
    assert long_call.outcome is Outcome.POOL
    assert short_call.outcome is Outcome.CHARGED


def test_month_rollover_in_local_time_zone():
    # Pools reset at local midnight on the 1st (§2.3, §3), here America/New_York.
    cal = Calendar.from_local(datetime(2026, 1, 1), "America/New_York")
    ctx = context([group(plan="domestic_120")], calendar=cal)
    t_jan = cal.to_sim(datetime(2026, 1, 31, 23, 30))
    t_jan_late = cal.to_sim(datetime(2026, 1, 31, 23, 50))
    t_feb = cal.to_sim(datetime(2026, 2, 1, 0, 10))
    # 23:30 New York is already 1 February in UTC.
    assert cal.to_datetime(t_jan).astimezone(UTC).month == 2
    calls = [
        call(start_s=t_jan, duration_s=7200),
        call(start_s=t_jan_late, duration_s=60),
        call(start_s=t_feb, duration_s=60),
    ]
    jan, jan_late, feb = rate_sequence(calls, ctx)
    assert jan.outcome is Outcome.POOL  # January's pool
    assert jan_late.outcome is Outcome.CHARGED  # January's pool is used up
    assert feb.outcome is Outcome.POOL  # a fresh February pool
    _, batch, _ = rate_all(calls, ctx)
    assert [a.month for a in batch.alerts] == ["2026-01", "2026-01"]
    assert batch.state.month_start_s == cal.to_sim(datetime(2026, 2, 1))
    assert sum(batch.state.used_s.values()) == 60


def test_pool_grows_with_head_count_month_by_month():
    # 10 users, +10 % a month: 10 in January, round(10 x 1.1^3) = 13 in April.
    ctx = context([group("us", "US", "domestic_120", count=10)], headcount_growth_per_month=0.1)
    april = 90 * 86_400.0  # 2026-04-01 00:00 UTC
    jan, jan_over, apr, apr_over = rate_sequence(
        [
            call("us", duration_s=1200 * MIN, start_s=0),
            call("us", duration_s=MIN, start_s=1),
            call("us", duration_s=1560 * MIN, start_s=april),
            call("us", duration_s=MIN, start_s=april + 1),
        ],
        ctx,
    )
    assert (jan.outcome, jan_over.outcome) == (Outcome.POOL, Outcome.CHARGED)
    assert (apr.outcome, apr_over.outcome) == (Outcome.POOL, Outcome.CHARGED)
    assert apr.pool_s == 1560 * MIN
    still = context([group("us", "US", "domestic_120", count=10)])
    assert rate_sequence([call("us", duration_s=1560 * MIN, start_s=april)], still)[0].pool_s == (
        1200 * MIN
    )


def test_us_and_pr_share_one_pool():
    # §2.2: US and PR users share the same pool.
    us, pr = group("us", "US", "domestic_120"), group("pr", "PR", "domestic_120")
    ctx = context([us, pr])
    r_us, r_pr, r_over = rate_sequence(
        [
            call("us", duration_s=7200, start_s=0),
            call("pr", usage="PR", dest="US", duration_s=7200, start_s=1),
            call("pr", usage="PR", dest="PR", duration_s=60, start_s=2),
        ],
        ctx,
    )
    assert r_us.pool == r_pr.pool
    assert r_us.pool.scope == "US"
    assert ctx.tenant.pool_size_s(r_us.pool) == 2 * 120 * MIN
    assert (r_us.outcome, r_pr.outcome, r_over.outcome) == (
        Outcome.POOL,
        Outcome.POOL,
        Outcome.CHARGED,
    )


def test_canada_has_its_own_pool_but_calls_us_domestically():
    ctx = context([group("us", "US", "domestic_120"), group("ca", "CA", "domestic_120")])
    r_us, r_ca = rate_sequence(
        [call("us", duration_s=7200), call("ca", usage="CA", dest="US", duration_s=60)], ctx
    )
    assert r_ca.outcome is Outcome.POOL
    assert r_ca.pool.scope == "CA" != r_us.pool.scope


def test_only_identical_plans_pool_together():
    # §2.3: only identical Calling Plans pool together.
    ctx = context([group("a", plan="domestic_120"), group("b", plan="domestic_240")])
    ra, rb = rate_sequence([call("a"), call("b")], ctx)
    assert ra.pool != rb.pool


def test_unpooled_120_plan_is_per_user():
    # §2.3: MCOPSTN8 120 min per user, not pooled.
    ctx = context([group(plan="domestic_120_unpooled", count=2)])
    r1, r2, r3 = rate_sequence(
        [
            call(subscriber_id=1, duration_s=7200, start_s=0),
            call(subscriber_id=1, duration_s=60, start_s=1),
            call(subscriber_id=2, duration_s=7200, start_s=2),
        ],
        ctx,
    )
    assert r1.pool.member == 1
    assert r3.pool.member == 2
    assert (r1.outcome, r2.outcome, r3.outcome) == (Outcome.POOL, Outcome.CHARGED, Outcome.POOL)


@pytest.mark.parametrize(
    ("first_dest", "first_min", "then_dest"),
    [
        pytest.param("GB", 600, "US", id="600 international used up ends domestic too"),
        pytest.param("US", 3000, "GB", id="3000 domestic used up ends international too"),
    ],
)
def test_domestic_and_international_whichever_first(first_dest, first_min, then_dest):
    # §2.2 "3000 domestic OR 600 international, whichever is reached first".
    ctx = context([group(plan="international")])
    first, then = rate_sequence(
        [
            call(dest=first_dest, duration_s=first_min * MIN, start_s=0),
            call(dest=then_dest, duration_s=60, start_s=1),
        ],
        ctx,
    )
    assert first.outcome is Outcome.POOL
    assert then.outcome is Outcome.CHARGED
    assert then.needs_balance_check


def test_linked_pools_stay_open_until_one_is_used_up():
    ctx = context([group(plan="international")])
    rs = rate_sequence(
        [call(dest="GB", duration_s=599 * MIN, start_s=0), call(dest="US", start_s=1)], ctx
    )
    assert [r.outcome for r in rs] == [Outcome.POOL, Outcome.POOL]


def test_uk_plan_allowances():
    ctx = context([group("gb", "GB", "international")])
    rs = rate_sequence(
        [
            call("gb", usage="GB", dest="GB", duration_s=1200 * MIN, start_s=0),
            call("gb", usage="GB", dest="FR", start_s=1),
        ],
        ctx,
    )
    assert [r.outcome for r in rs] == [Outcome.POOL, Outcome.CHARGED]


def test_conferencing_pool_counts_assigned_not_purchased_licences():
    # §3: 100 licences bought, 20 assigned: a pool of 60 x 20 = 1,200 minutes.
    g = group(
        conferencing="standard", count=100, conferencing_assigned=20, conferencing_purchased=100
    )
    ctx = context([g])
    r1, r2 = rate_sequence(
        [
            call(call_type="conf_out", dest="DE", duration_s=1200 * MIN, start_s=0),
            call(call_type="conf_out", dest="DE", start_s=1),
        ],
        ctx,
    )
    assert ctx.tenant.pool_size_s(r1.pool) == 1200 * MIN
    assert (r1.outcome, r2.outcome) == (Outcome.POOL, Outcome.CHARGED)


def test_conferencing_pool_is_tenant_wide_whatever_the_organiser_location():
    # §3: pooled across the tenant whatever the organiser's location.
    us = group("us", "US", conferencing="standard", count=1)
    de = group("de", "DE", conferencing="standard", count=1)
    ctx = context([us, de])
    r_us, r_de, r_over = rate_sequence(
        [
            call("us", "conf_out", dest="DE", duration_s=100 * MIN, start_s=0),
            call("de", "conf_out", usage="DE", dest="US", duration_s=20 * MIN, start_s=1),
            call("de", "conf_out", usage="DE", dest="DE", duration_s=60, start_s=2),
        ],
        ctx,
    )
    assert r_us.pool == r_de.pool
    assert r_us.pool.scope == "tenant"
    assert (r_us.outcome, r_de.outcome, r_over.outcome) == (
        Outcome.POOL,
        Outcome.POOL,
        Outcome.CHARGED,
    )


def test_complimentary_900_minute_pool():
    # §3: 900 min per user per month to Zone A in RU/KR/TW; beyond is charged.
    ctx = context([group("kr", "KR", "none", conferencing="complimentary", count=2)])
    r1, r2 = rate_sequence(
        [
            call("kr", "conf_out", usage="KR", dest="US", duration_s=1800 * MIN),
            call("kr", "conf_out", usage="KR", dest="US", start_s=1),
        ],
        ctx,
    )
    assert r1.pool.allowance == "conferencing:complimentary"
    assert (r1.outcome, r2.outcome) == (Outcome.POOL, Outcome.CHARGED)


def test_pool_alerts_at_80_and_100_percent():
    ctx = context([group(plan="domestic_120")])  # 7200 s
    calls = [
        call(start_s=0, duration_s=3000),
        call(start_s=1000, duration_s=3000),  # used 3000 -> 6000: crosses 5760 (80 %)
        call(start_s=5000, duration_s=1500),  # 1200 s left: used up 1200 s into the call
        call(start_s=9000, duration_s=60),  # no more alerts this month
    ]
    _, batch, _ = rate_all(calls, ctx)
    key = batch.rating(0).pool
    assert list(batch.alerts) == [
        PoolAlert(t_s=1000 + (5760 - 3000), pool=key, month="2026-01", threshold_pct=80),
        PoolAlert(t_s=5000 + 1200, pool=key, month="2026-01", threshold_pct=100),
    ]


def test_pool_alerts_fire_again_after_the_monthly_reset():
    ctx = context([group(plan="domestic_120")])
    feb = ctx.calendar.to_sim(datetime(2026, 2, 3))
    _, batch, _ = rate_all(
        [call(start_s=0, duration_s=7200), call(start_s=feb, duration_s=7200)], ctx
    )
    assert [(a.month, a.threshold_pct) for a in batch.alerts] == [
        ("2026-01", 80),
        ("2026-01", 100),
        ("2026-02", 80),
        ("2026-02", 100),
    ]


# --- Money: increments, fees, rounding ------------------------------------------------------


@pytest.mark.parametrize(
    ("increment_s", "billable_s"), [(1, 62), (6, 66), (60, 120)], ids=["1s", "6s", "60s"]
)
def test_billing_increment_rounds_up(increment_s, billable_s):
    ctx = context([group(plan="payg")], tariffs=flat_tariffs(increment_s=increment_s))
    r = one(call(duration_s=61.2), ctx)
    assert r.charged_s == billable_s
    assert r.amount == billable_s * OUT_RATE // 60  # 1,000 micros per second, exact


def test_connection_fee_once_per_charged_call():
    ctx = context([group(plan="payg")], tariffs=flat_tariffs(fee=50_000))
    r = one(call(duration_s=61), ctx)
    assert r.amount == 50_000 + 2 * OUT_RATE


def test_zero_duration_call_costs_nothing_not_even_the_fee():
    ctx = context([group(plan="payg")], tariffs=flat_tariffs(fee=50_000))
    r = one(call(duration_s=0), ctx)
    assert (r.outcome, r.charged_s, r.amount) == (Outcome.CHARGED, 0, 0)
    assert r.needs_balance_check  # the set-up check does not know the duration yet


def test_pro_rata_part_rounds_up_to_the_micro_unit():
    table = TariffTable("outbound", (Tariff(Micros(1_000), increment_s=1),))
    tariffs = TariffBook(table, table, table)
    ctx = context([group(plan="payg")], tariffs=tariffs)
    # 7 s x 1,000 micros / 60 s = 116.67 micros -> 117.
    assert one(call(duration_s=7), ctx).amount == 117


# --- Who may be charged -------------------------------------------------------------------


def test_no_credits_licence_blocks_credit_funded_calls():
    # §1: users without a Communications Credits licence cannot use credits.
    ctx = context([group(plan="payg", credits_licence=False)])
    r = one(call(), ctx)
    assert (r.outcome, r.reason) == (Outcome.BLOCKED, Reason.NO_CREDITS_LICENCE)
    assert r.amount == 0
    assert r.served_s == 0


def test_no_credits_licence_cuts_off_a_call_overrunning_the_pool():
    # §1: without the licence users cannot call once the free minutes are used up;
    # §2.3: "After you use those minutes, calls will be disconnected".
    ctx = context([group(plan="domestic_120", credits_licence=False)])
    r1, r2, r3 = rate_sequence(
        [call(duration_s=7000, start_s=0), call(duration_s=600, start_s=1), call(start_s=2)],
        ctx,
    )
    assert r1.outcome is Outcome.POOL
    assert (r2.outcome, r2.reason, r2.pool_s, r2.served_s) == (
        Outcome.CUT_OFF,
        Reason.NO_CREDITS_LICENCE,
        180,
        180.0,
    )
    assert (r3.outcome, r3.reason) == (Outcome.BLOCKED, Reason.NO_CREDITS_LICENCE)


def test_no_credits_licence_does_not_matter_for_free_calls():
    ctx = context([group(plan="payg", credits_licence=False)])
    assert one(call(call_type="user_in"), ctx).outcome is Outcome.FREE


def test_postpaid_invoices_the_same_amounts_without_balance_check():
    # §6: NCE/MCA: usage billed monthly in arrears instead of credits.
    groups = [group(plan="domestic_120", credits_licence=False)]
    calls = [call(duration_s=7000, start_s=0), call(duration_s=600, start_s=1), call(start_s=2)]
    prepaid = rate_sequence(calls, context([group(plan="domestic_120")]))
    postpaid = rate_sequence(calls, context(groups, funding_mode="postpaid"))
    assert [r.amount for r in postpaid] == [r.amount for r in prepaid]
    assert [r.charged_to for r in postpaid] == [ChargeTo.NONE, ChargeTo.INVOICE, ChargeTo.INVOICE]
    assert not any(r.needs_balance_check for r in postpaid)


def test_postpaid_hard_cap_refuses_calls_beyond_included_minutes():
    # §6: overage off: users can't make calls past the included minutes.
    ctx = context([group(plan="domestic_120")], funding_mode="postpaid", hard_cap=True)
    r1, r2, r3, r4 = rate_sequence(
        [
            call(duration_s=7000, start_s=0),
            call(duration_s=600, start_s=1),
            call(start_s=2),
            call(call_type="user_in", start_s=3),
        ],
        ctx,
    )
    assert r1.outcome is Outcome.POOL
    assert (r2.outcome, r2.reason) == (Outcome.CUT_OFF, Reason.HARD_CAP)
    assert (r3.outcome, r3.reason) == (Outcome.BLOCKED, Reason.HARD_CAP)
    assert r4.outcome is Outcome.FREE


def test_apply_balance_check():
    ctx = context([group(plan="payg")])
    r = one(call(), ctx)
    assert apply_balance_check(r, balance_positive=True) is r
    refused = apply_balance_check(r, balance_positive=False)
    assert (refused.outcome, refused.reason) == (Outcome.BLOCKED, Reason.INSUFFICIENT_BALANCE)
    assert refused.amount == 0
    assert refused.pool_s == 0


def test_refusing_balance_checked_calls_never_changes_pool_draws():
    # A call needing the check draws nothing from its pool, so refusing it is harmless.
    ctx = context([group(plan="domestic_120")])
    calls = [call(duration_s=7200, start_s=0), call(start_s=1), call(start_s=2)]
    rs = rate_sequence(calls, ctx)
    assert all(r.pool_s == 0 for r in rs if r.needs_balance_check)


# --- Unratable and invalid input ----------------------------------------------------------


def _no_default_tariffs():
    gb = TariffTable("outbound", (Tariff(OUT_RATE, destination="GB"),))
    return TariffBook(gb, gb, gb)


def test_unratable_call_raises_by_default():
    ctx = context([group(plan="payg")], tariffs=_no_default_tariffs())
    with pytest.raises(UnratableCallError, match="US toll"):
        rate_call(call(dest="US"), ctx, PoolBook(ctx))
    with pytest.raises(UnratableCallError, match="1 call"):
        rate_batch(CallBatch.from_calls([call(dest="US")]), ctx)


def test_unratable_call_can_be_blocked_and_never_draws_a_pool():
    ctx = context([group(plan="domestic")], tariffs=_no_default_tariffs(), on_unratable="block")
    r = one(call(dest="US"), ctx)
    assert (r.outcome, r.reason, r.pool_s, r.pool) == (
        Outcome.BLOCKED,
        Reason.NO_TARIFF,
        0,
        None,
    )
    assert one(call(dest="GB", call_type="user_in"), ctx).outcome is Outcome.FREE


def test_calls_must_come_in_start_order():
    ctx = context([group()])
    with pytest.raises(ValueError, match="sorted by start_s"):
        rate_batch(CallBatch.from_calls([call(start_s=5), call(start_s=1)]), ctx)
    book = PoolBook(ctx)
    rate_call(call(start_s=5), ctx, book)
    with pytest.raises(ValueError, match="start order"):
        rate_call(call(start_s=1), ctx, book)
    first = rate_batch(CallBatch.from_calls([call(start_s=5)]), ctx)
    with pytest.raises(ValueError, match="start order"):
        rate_batch(CallBatch.from_calls([call(start_s=1)]), ctx, first.state)


@pytest.mark.parametrize(
    ("c", "match"),
    [
        (call("nope"), "unknown user group or service number 'nope'"),
        (call(call_type="ucap_in"), "cannot belong to user group"),
        (call(usage="CA"), "usage_country CA differs"),
    ],
)
def test_calls_must_match_their_holder(c, match):
    ctx = context([group()])
    with pytest.raises(ValueError, match=match):
        rate_call(c, ctx, PoolBook(ctx))
    with pytest.raises(ValueError, match=match):
        rate_batch(CallBatch.from_calls([c]), ctx)


def test_batches_continue_from_the_carried_state():
    ctx = context([group(plan="international")])
    calls = [
        call(dest="GB" if i % 3 else "US", start_s=i * 1000.0, duration_s=20 * MIN)
        for i in range(60)
    ]
    whole = rate_batch(CallBatch.from_calls(calls), ctx)
    first = rate_batch(CallBatch.from_calls(calls[:25]), ctx)
    second = rate_batch(CallBatch.from_calls(calls[25:]), ctx, first.state)
    assert [first.rating(i) for i in range(25)] + [second.rating(i) for i in range(35)] == [
        whole.rating(i) for i in range(60)
    ]
    assert second.state == whole.state
    assert first.alerts + second.alerts == whole.alerts
    assert isinstance(whole.state, PoolState)


def test_empty_batch():
    ctx = context([group()])
    rb = rate_batch(CallBatch.from_calls([]), ctx)
    assert len(rb) == 0
    assert rb.state == PoolState()
    assert rb.total_amount == 0


def test_rated_batch_frame():
    ctx = context([group(plan="domestic_120")])
    _, batch, _ = rate_all([call(duration_s=7000), call(start_s=1, duration_s=600)], ctx)
    frame = batch.to_frame()
    assert list(frame["outcome"]) == ["pool", "pool_charged"]
    assert list(frame["pool"]) == ["US/domestic_120", "US/domestic_120"]
    assert frame["amount"].sum() == batch.total_amount == 7 * OUT_RATE
    assert np.array_equal(batch.needs_balance_check, [False, False])


def test_rating_funding_labels():
    ctx = context([group(plan="domestic_120", credits_licence=False)])
    rs = rate_sequence(
        [call(duration_s=7000), call(start_s=1, duration_s=600), call(start_s=2)], ctx
    )
    assert [r.funding for r in rs] == [
        "pool",
        "pool+cut_off:no_credits_licence",
        "blocked:no_credits_licence",
    ]


def test_context_pickles_for_worker_processes():
    import pickle

    ctx = context([group(plan="international")], [ServiceNumber("s", "call_queue", "toll", "US")])
    copy = pickle.loads(pickle.dumps(ctx))
    assert copy == ctx
    c = call(dest="GB")
    assert one(c, copy) == one(c, ctx)


def test_context_pickles_without_its_lookup_tables():
    import pickle

    ctx = context([group(plan="international")], [ServiceNumber("s", "call_queue", "toll", "US")])
    size = len(pickle.dumps(ctx))
    calls = [call(dest="GB"), call(start_s=1.0), call("s", "ucap_in", start_s=2.0)]
    before = rate_batch(CallBatch.from_calls(calls), ctx)  # builds the context's tables
    assert len(pickle.dumps(ctx)) == size  # derived tables are rebuilt, not shipped
    copy = pickle.loads(pickle.dumps(ctx))
    assert copy == ctx
    after = rate_batch(CallBatch.from_calls(calls), copy)
    assert [after.rating(i) for i in range(3)] == [before.rating(i) for i in range(3)]


def test_lookup_tables_follow_the_context_and_the_code_tables():
    from dataclasses import replace

    ctx = context([group(plan="payg"), group("gb", "GB", plan="payg")])
    assert one(call(), ctx).amount == OUT_RATE
    # A changed context never reuses the tables of the one it was made from.
    dearer = replace(ctx, tariffs=flat_tariffs(fee=5_000))
    assert one(call(), dearer).amount == OUT_RATE + 5_000
    refused = replace(ctx, funding_mode="postpaid", hard_cap=True)
    assert one(call(), refused).outcome is Outcome.BLOCKED
    assert one(call(), ctx).amount == OUT_RATE
    # Batches with other group and country code tables, in and out of order.
    for dests in (["GB"], ["US", "DE"], ["GB"], ["PR", "GB", "US"]):
        calls = [call(dest=d, start_s=float(i)) for i, d in enumerate(dests)]
        calls.append(call("gb", usage="GB", dest="GB", number_type="premium", start_s=9.0))
        rate_all(calls, ctx)

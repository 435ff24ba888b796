"""The 2025-2026 rules of teams-credits.md §10 (and §6, §2.2), one test or more each.

Each test names its section. Rating-level tests check both rating paths (``rate_all``
asserts that the vectorised path equals the scalar one row by row).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from sim.core.schema import ConfigError
from sim.core.units import Calendar, Micros
from sim.scenario.model import Scenario
from sim.telephony.calls import CallBatch
from sim.telephony.plans import ServiceNumber
from sim.telephony.rating import Outcome, Reason, Rule, rate_batch
from tests.rating_support import OUT_RATE, call, context, group, rate_all
from tests.scenario_support import default_data, merge

DAY = 86_400.0


def test_s10_1_spend_limit_refuses_a_users_calls_once_the_month_is_spent():
    """§10.1: ``CallingSpendUserLimit``: once a user has spent the monthly limit on
    outgoing PSTN calls, their calls that would be charged are refused; the next
    calendar month starts afresh; other users are not affected."""
    limit = Micros(2 * OUT_RATE)  # two one-minute PAYG calls
    ctx = context([group("payg", "US", "payg", spend_limit=limit)])
    calls = [
        call("payg", start_s=k * 3_600.0, subscriber_id=k % 2, duration_s=60.0) for k in range(8)
    ]
    calls.append(call("payg", start_s=31 * DAY + 60, subscriber_id=0, duration_s=60.0))
    ratings, rated, _ = rate_all(calls, ctx)
    outcome = [r.outcome for r in ratings]
    # Subscribers 0 and 1 alternate: each pays two calls, then is refused.
    assert outcome[:4] == [Outcome.CHARGED] * 4
    assert outcome[4:8] == [Outcome.BLOCKED] * 4
    assert {r.reason for r in ratings[4:8]} == {Reason.SPEND_LIMIT}
    assert all(r.amount == 0 and r.served_s == 0 for r in ratings[4:8])
    assert ratings[8].outcome is Outcome.CHARGED  # February: a fresh limit
    assert rated.state.spent == {0: OUT_RATE}
    # Without a limit every call is charged.
    free = rate_all(calls, context([group("payg", "US", "payg")]))[0]
    assert [r.outcome for r in free] == [Outcome.CHARGED] * 9


def test_s10_1_the_call_that_crosses_the_limit_runs_and_inbound_is_untouched():
    """§10.1: the limit counts outgoing calls; the crossing call is charged in full,
    inbound (toll-free) minutes are not limited (§10.1: outbound user calls only)."""
    limit = Micros(OUT_RATE + 1)
    ctx = context([group("payg", "US", "payg", spend_limit=limit)])
    calls = [
        call("payg", start_s=0.0, duration_s=600.0),  # 10 minutes: far past the limit
        call("payg", "user_in", number_type="toll_free", start_s=1_000.0),
        call("payg", "user_out_forwarding", start_s=2_000.0),
    ]
    ratings = rate_all(calls, ctx)[0]
    assert ratings[0].amount == 10 * OUT_RATE
    assert ratings[1].outcome is Outcome.CHARGED  # toll-free inbound
    assert (ratings[2].outcome, ratings[2].reason) == (Outcome.BLOCKED, Reason.SPEND_LIMIT)


def test_s10_1_a_pool_admitted_call_is_cut_off_when_the_limit_is_reached():
    """§10.1 with §2.3: overage counts; a call the pool admits after the limit is reached
    is cut off when the pool runs out, as any call whose remainder cannot be charged."""
    ctx = context([group("d", "US", "domestic_120", spend_limit=Micros(1))], pool_increment_s=60)
    calls = [
        call("d", start_s=0.0, duration_s=120 * 60 + 60.0),  # uses the pool, 1 min overage
        call("d", start_s=10_000.0, duration_s=60.0),  # pool empty: charged from set-up
    ]
    ratings = rate_all(calls, ctx)[0]
    assert ratings[0].outcome is Outcome.POOL_CHARGED
    assert (ratings[1].outcome, ratings[1].reason) == (Outcome.BLOCKED, Reason.SPEND_LIMIT)


def test_s10_1_spend_limit_is_a_scenario_setting():
    """§10.1: ``user_groups[].spend_limit`` is a monthly amount per user, > 0."""
    data = default_data()
    data["user_groups"][1]["spend_limit"] = "25.00"
    scenario = Scenario.from_dict(data)
    assert scenario.user_groups[1].spend_limit == 25_000_000
    assert scenario.tenant.holder(scenario.user_groups[1].name).spend_limit == 25_000_000
    data["user_groups"][1]["spend_limit"] = "0"
    with pytest.raises(ConfigError, match=r"user_groups\[1\]\.spend_limit"):
        Scenario.from_dict(data)


@pytest.mark.parametrize("plan", ["domestic", "international", "payg"])
def test_s10_2_resource_accounts_need_payg_from_november_2025(plan):
    """§10.2: from 1 Nov 2025 a resource account's outbound call on a Calling Plan other
    than PAYG fails; on PAYG it is charged per minute, never drawn from a pool."""
    october = Calendar.from_local(datetime(2025, 10, 31, 12, 0), "America/New_York")
    cq = ServiceNumber("cq", "call_queue", "toll", "US", plan=plan)
    ctx = context([], [cq], calendar=october)
    before = call("cq", "ucap_out", start_s=3_600.0, duration_s=120.0)
    after = call("cq", "ucap_out", start_s=13 * 3_600.0, duration_s=120.0)  # 1 Nov, 01:00
    ratings = rate_all([before, after], ctx)[0]
    if plan == "payg":
        assert [r.rule for r in ratings] == [Rule.PAYG_OUTBOUND] * 2
        assert [r.amount for r in ratings] == [2 * OUT_RATE] * 2
        assert all(r.pool_s == 0 for r in ratings)
    else:
        assert ratings[0].outcome is Outcome.POOL  # October: the plan's pool
        assert ratings[1].rule is Rule.RESOURCE_ACCOUNT_NEEDS_PAYG
        assert (ratings[1].outcome, ratings[1].reason) == (Outcome.BLOCKED, Reason.NO_PAYG_PLAN)
        assert ratings[1].pool_s == 0


def test_s6_s10_3_hard_cap_is_the_postpaid_default():
    """§6, §10.3: without the pay-as-you-go toggle, NCE/MCA included minutes are a hard
    cap: the default; ``postpaid.hard_cap = false`` bills overage as before."""
    data = merge(default_data(), {"funding": {"mode": "postpaid", "initial_funds": "0"},
                                  "recharge": {"policy": "none"}})  # fmt: skip
    assert Scenario.from_dict(data).postpaid.hard_cap is True
    data["postpaid"] = {"hard_cap": False}
    assert Scenario.from_dict(data).postpaid.hard_cap is False
    capped = context([group("d", "US", "domestic_120")], funding_mode="postpaid", hard_cap=True)
    late = call("d", start_s=0.0, duration_s=121 * 60.0)
    assert rate_all([late], capped)[0][0].outcome is Outcome.CUT_OFF


def test_s10_4_pay_per_minute_conferencing_is_refused_in_postpaid_mode():
    """§10.4: pay-per-minute Audio Conferencing requires Communications Credits, which
    postpaid (NCE/MCA) tenants cannot buy (§6): one line naming the field."""
    data = merge(default_data(), {"funding": {"mode": "postpaid", "initial_funds": "0"},
                                  "recharge": {"policy": "none"}})  # fmt: skip
    data["user_groups"][1]["conferencing"] = "pay_per_minute"
    with pytest.raises(ConfigError) as info:
        Scenario.from_dict(data)
    message = str(info.value)
    assert "user_groups[1].conferencing" in message
    assert "§10.4" in message
    assert "\n" not in message
    data["funding"], data["recharge"] = default_data()["funding"], default_data()["recharge"]
    assert Scenario.from_dict(data).user_groups[1].conferencing == "pay_per_minute"


@pytest.mark.parametrize(("country", "linked"), [("US", True), ("GB", True), ("CA", False)])
def test_s2_2_domestic_and_international_whichever_first_except_canada(country, linked):
    """§2.2: US, UK and German pages: "domestic OR 600 international, whichever first",
    so using up the 600 international minutes ends the domestic ones too; the Canada
    page lists 3000 domestic and 600 international without it: independent pools."""
    ctx = context([group("g", country, "international")])
    abroad = "JP"
    calls = [
        call("g", dest=abroad, usage=country, start_s=0.0, duration_s=600 * 60.0),
        call("g", dest=country, usage=country, start_s=40_000.0, duration_s=60.0),
    ]
    ratings = rate_all(calls, ctx)[0]
    assert ratings[0].outcome is Outcome.POOL
    if linked:
        assert ratings[1].outcome is Outcome.CHARGED
    else:
        assert ratings[1].outcome is Outcome.POOL
    whole = rate_batch(CallBatch.from_calls(calls), ctx)
    assert bool(whole.state.closed) is linked


# -- §10.3: a dated switch from credits to postpaid ------------------------------------

SWITCH_AT = "2026-01-21T09:30:00"
# A small tenant whose card expires before the switch: outages before it, and an admin
# who would buy (top-ups) and a card that declines (retries) to show they stop.
SWITCHING = {
    "simulation": {"horizon": "70d", "seed": 11},
    "funding": {"portal_rules": False, "initial_funds": "80", "low_balance": "40"},
    "recharge": {"trigger": "25", "amount": "40"},
    "payment": {"decline_probability": 0.3, "max_retries": 1, "card_expires": "2026-01-15"},
    "admin": {
        "response_delay": {"kind": "lognormal", "mean": "2d", "cv": 0.5},
        "top_up": "50",
        "fixes_card": False,
    },
    "traffic": {"retry": {"probability": 0.8, "delay": {"kind": "exponential", "mean": "1h"}}},
}


def _switching(tmp_path, over=None, name="switch"):
    from tests.scenario_support import small_tenant, write_scenario

    data = merge(merge(small_tenant(0.15), SWITCHING), {"funding": {"postpaid_from": SWITCH_AT}})
    return write_scenario(tmp_path, merge(data, over or {}), name)


@pytest.mark.parametrize("at_zero", ["overshoot", "cut_off"])
def test_s10_3_switch_uses_the_credit_left_first_then_invoices_usage(tmp_path, at_zero):
    """§10.3: from ``funding.postpaid_from`` auto-recharge is off and nothing is bought;
    the remaining credit is used first, then usage is billed monthly in arrears, and no
    call is refused for want of credit. Every micro-unit is accounted for."""
    from sim.billing.ledger import EntryKind
    from sim.engine import run_replication
    from sim.engine.results import tables_of

    sc = _switching(tmp_path, {"funding": {"at_zero": at_zero}}, f"switch-{at_zero}")
    out = run_replication(sc.scenario, sc.tariffs, 0)
    switch_s = sc.scenario.postpaid_from_s()
    assert switch_s is not None
    assert 0 < switch_s < sc.scenario.horizon_s
    acc = out.account
    assert acc is not None
    assert acc.postpaid is not None
    # Before: a stressed prepaid account (purchases, outages). After: none of either.
    assert any(p.requested_at_s < switch_s for p in acc.payments)
    assert all(p.requested_at_s < switch_s for p in acc.payments)
    assert all(t < switch_s for t in acc.admin_actions)
    assert out.blocked
    assert all(x.t_s < switch_s for x in out.blocked)
    # Lots bought after the switch come only from payments already under way.
    late = [e for e in acc.ledger.entries if e.kind is EntryKind.PURCHASE and e.t_s >= switch_s]
    in_flight = [p for p in acc.payments if p.completed_at_s and p.completed_at_s >= switch_s]
    assert len(late) == sum(p.state.value == "settled" for p in in_flight)
    # Credit first: once usage is invoiced, the credit is spent (nothing debited later).
    first_billed = min(inv.issued_at_s for inv in acc.postpaid.invoices)
    consumes = [e for e in acc.ledger.entries if e.kind is EntryKind.CONSUME]
    assert consumes[-1].t_s < first_billed
    assert acc.ledger.balance <= 0
    # Money: charged = credits consumed + invoiced (+ cut off before the switch).
    assert out.invoiced_total > 0
    assert out.charged_total == (
        acc.ledger.consumed_total + out.invoiced_total + out.uncharged_total
    )
    assert acc.postpaid.consumed_total == out.invoiced_total
    billed = sum(inv.amount for inv in acc.postpaid.invoices) + acc.postpaid.accrued
    assert billed == out.invoiced_total
    # Monthly in arrears: one invoice per month end after the switch, the first for
    # the switch's own month.
    starts = [t for t in sc.scenario.calendar.month_starts_s(out.scenario.horizon_s)]
    assert [inv.issued_at_s for inv in acc.postpaid.invoices] == [t for t in starts if t > switch_s]
    assert acc.postpaid.invoices[0].month == "2026-01"
    o = tables_of(out)["outcomes"].iloc[0]
    assert o["usage_invoiced_micros"] == out.invoiced_total
    assert o["invoices"] == sum(p.state.value == "settled" for p in acc.payments) + len(
        acc.postpaid.invoices
    )
    assert o["outage_hours"] * 3600 <= switch_s  # zero after the switch is no outage


def test_s10_3_mean_balance_after_a_switch_is_the_time_average_of_the_ledger(tmp_path):
    """§10.3: invoiced parts are never debited, so the mean balance leaves them out."""
    from sim.engine import run_replication
    from sim.engine.results import tables_of

    over = {"simulation": {"debits": "per_call"}}
    out = run_replication(*_loaded(_switching(tmp_path, over)), 0)
    o = tables_of(out)["outcomes"].iloc[0]
    assert out.account is not None
    horizon = out.scenario.horizon_s
    entries = out.account.ledger.entries
    t = np.clip([e.t_s for e in entries], 0, horizon)
    b = np.asarray([e.balance_after for e in entries], dtype=float)
    widths = np.diff(np.concatenate([t, [horizon]]))
    assert o["mean_balance_micros"] == pytest.approx(float((b * widths).sum()) / horizon, abs=1)


def test_s10_3_switch_before_the_start_spends_the_held_lots_then_invoices(tmp_path):
    """§10.3: a tenant that switched already, still holding credit: only the held lots
    are used (nothing is bought), then usage is invoiced; no outage at all."""
    from sim.engine import run_replication

    over = {
        "funding": {
            "postpaid_from": "2025-11-01",
            "initial_funds": "0",
            "lots": [{"amount": "100", "remaining": "60", "purchased": "2025-10-15"}],
        }
    }
    out = run_replication(*_loaded(_switching(tmp_path, over, "already")), 0)
    acc = out.account
    assert acc is not None
    assert acc.postpaid is not None
    assert acc.payments == []
    assert out.blocked == []
    assert acc.ledger.consumed_total == 60_000_000
    assert out.invoiced_total == out.charged_total - 60_000_000 > 0


def test_s10_3_switch_is_a_prepaid_setting_and_ends_pay_per_minute(tmp_path):
    """§10.3 with §10.4: the switch belongs to credits tenants; pay-per-minute
    conferencing needs credits, which the switch ends: one line naming the field."""
    data = merge(default_data(), {"funding": {"postpaid_from": SWITCH_AT}})
    assert Scenario.from_dict(data).postpaid_from_s() is not None
    post = merge(data, {"funding": {"mode": "postpaid", "initial_funds": "0"},
                        "recharge": {"policy": "none"}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"^funding\.postpaid_from: applies to prepaid"):
        Scenario.from_dict(post)
    data["user_groups"][1]["conferencing"] = "pay_per_minute"
    with pytest.raises(ConfigError) as info:
        Scenario.from_dict(data)
    assert "user_groups[1].conferencing" in str(info.value)
    assert "§10.3" in str(info.value)


def test_s10_3_forecast_has_the_usage_invoices_after_the_switch(tmp_path):
    """§10.3: the invoices after the switch are usage invoices, and they add up."""
    from sim.reports.forecast import components_of, replication_bills

    sc = _switching(tmp_path)
    assert "postpaid_usage" in components_of(sc.scenario)
    bills = replication_bills(sc.scenario, sc.tariffs, 0)
    usage = bills.invoices[bills.invoices["component"] == "postpaid_usage"]
    assert len(usage) >= 2
    assert int(usage["amount_micros"].sum()) == int(bills.outcomes["usage_invoiced_micros"].iloc[0])


def _loaded(sc):
    return sc.scenario, sc.tariffs

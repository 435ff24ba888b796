"""Microsoft's rules end to end: one scenario per rule, asserting on the engine's tables.

Each test names its section of teams-credits.md.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from sim.core.units import MICROS_PER_UNIT
from sim.engine import run_replication
from sim.engine.results import tables_of
from tests.scenario_support import default_data, merge, small_tenant, write_scenario

QUIET = {"admin": {"responds_to": []}, "traffic": {"retry": {"probability": 0.0}}}


def run(tmp_path, data, name="rule"):
    sc = write_scenario(tmp_path, data, name)
    return sc, tables_of(run_replication(sc.scenario, sc.tariffs, 0))


def only_group(data, name, **changes):
    data["user_groups"] = [dict(g, **changes) for g in data["user_groups"] if g["name"] == name]
    data["traffic"]["groups"] = {name: data["traffic"]["groups"][name]}
    data["service_numbers"] = []
    data["traffic"]["services"] = {}
    return data


def test_s5_toll_free_stops_at_zero_pool_calls_continue(tmp_path):
    """§5/§1: at zero, toll-free stops; calls covered by included minutes continue."""
    data = merge(
        small_tenant(0.2),
        {
            **QUIET,
            "simulation": {"horizon": "10d"},
            "funding": {"initial_funds": "50", "low_balance": "10"},
            "recharge": {"policy": "none"},
        },
    )
    _, t = run(tmp_path, data)
    out = t["outages"].iloc[0]
    calls = t["calls_summary"]
    zero_day = pd.Timestamp(out["start"].date())
    later = calls[pd.to_datetime(calls["date"]) > zero_day]
    toll_free_ok = later[(later["call_type"] == "ucap_in") & (later["funding"] == "charged")]
    assert toll_free_ok["calls"].sum() == 0
    assert later[later["call_type"] == "ucap_in"]["funding"].eq("blocked_balance").all()
    assert later[later["funding"] == "pool"]["calls"].sum() > 100


def test_s5_funds_bought_31_march_expire_31_march_next_year(tmp_path):
    """§5: funds not used within 12 months of the purchase date are forfeited."""
    data = merge(
        default_data(),
        {
            **QUIET,
            "simulation": {"start": "2026-03-31T10:00:00", "horizon": "370d"},
            "funding": {"initial_funds": "100000"},
            "recharge": {"policy": "none"},
        },
    )
    only_group(data, "us-staff", count=5, conferencing_assigned=5, conferencing_purchased=5)
    sc, t = run(tmp_path, data)
    lot = t["lots"].iloc[0]
    assert lot["expires_at"].isoformat().startswith("2027-03-31T10:00:00")
    expired = t["ledger"][t["ledger"]["kind"] == "expire"]
    assert len(expired) == 1
    when = sc.scenario.calendar.to_datetime(float(expired["t_s"].iloc[0]))
    assert when.replace(tzinfo=None) == datetime(2027, 3, 31, 10, 0)
    ledger = t["ledger"]
    drawn = -ledger[(ledger["lot_id"] == 0) & (ledger["kind"] == "consume")]["amount_micros"].sum()
    forfeited = -int(expired["amount_micros"].iloc[0])
    assert forfeited == 100_000 * MICROS_PER_UNIT - drawn > 0
    assert lot["forfeited_micros"] == forfeited
    # After the expiry nothing is left, and calls that need credit are refused.
    assert t["outcomes"]["final_balance_micros"].iloc[0] == 0
    assert t["outcomes"]["blocked_attempts"].iloc[0] > 0


def test_s3_dial_out_pool_counts_assigned_not_purchased(tmp_path):
    """§3: the Zone A dial-out pool is 60 minutes per assigned licence per month."""
    data = merge(
        default_data(),
        {
            **QUIET,
            "simulation": {"horizon": "31d"},
            "funding": {"initial_funds": "100000"},
            "recharge": {"policy": "none"},
        },
    )
    only_group(data, "us-staff", count=100, conferencing_assigned=5, conferencing_purchased=100)
    meetings = data["traffic"]["groups"]["us-staff"]["meetings"]
    meetings.update(dial_outs=2.0, dial_out_destinations={"domestic": 0.5, "zone_a": 0.5})
    _, t = run(tmp_path, data)
    calls = t["calls_summary"]
    conf = calls[calls["call_type"] == "conf_out"]
    pooled = conf[conf["funding"].isin(["pool", "pool+charged"])]
    charged = conf[conf["funding"] == "charged"]
    # The pool (5 x 60 = 300 minutes) runs out and the rest is charged; a pool of the
    # 100 purchased licences (6,000 minutes) would have covered far more.
    assert charged["calls"].sum() > 0
    notes = t["notifications"]
    assert (notes["kind"] == "pool_100").sum() == 1
    pool_minutes = pooled["minutes"].sum()
    assert pool_minutes < 6000
    assert conf["minutes"].sum() > 6000


def test_s21_payg_charges_every_outbound_minute(tmp_path):
    """§2.1: PAYG includes no outbound minutes; every outbound call is charged."""
    data = merge(
        default_data(),
        {
            **QUIET,
            "simulation": {"horizon": "7d"},
            "funding": {"initial_funds": "100000"},
            "recharge": {"policy": "none"},
        },
    )
    only_group(data, "uk-sales")
    _, t = run(tmp_path, data)
    calls = t["calls_summary"]
    out = calls[calls["call_type"] == "user_out"]
    assert set(out["funding"]) == {"charged"}
    inbound = calls[calls["call_type"] == "user_in"]
    assert set(inbound["funding"]) == {"free"}  # §2.1: inbound minutes are unlimited


def test_s1_international_calls_on_a_domestic_plan_are_charged(tmp_path):
    """§1: any international call on a domestic plan is paid from credits."""
    data = merge(
        default_data(),
        {
            **QUIET,
            "simulation": {"horizon": "7d"},
            "funding": {"initial_funds": "100000"},
            "recharge": {"policy": "none"},
        },
    )
    only_group(data, "us-staff", count=50, conferencing_assigned=50, conferencing_purchased=50)
    calling = data["traffic"]["groups"]["us-staff"]["calling"]
    calling["destinations"] = {"domestic": 0.0, "zone_a": 0.0, "international": 1.0}
    _, t = run(tmp_path, data)
    out = t["calls_summary"]
    out = out[out["call_type"] == "user_out"]
    assert set(out["funding"]) == {"charged"}
    spend = t["spend_daily"]
    assert set(spend["service"]) >= {"international"}


def test_s5_recharge_fires_below_trigger_and_declines_add_nothing(tmp_path):
    """§5: auto-recharge buys the amount once the balance falls below the trigger;
    a failed recharge adds no credit and sends an e-mail."""
    data = merge(
        small_tenant(0.2),
        {
            **QUIET,
            "simulation": {"horizon": "30d"},
            "funding": {"initial_funds": "100", "low_balance": "60"},
            "recharge": {"trigger": "60", "amount": "60"},
            "payment": {
                "decline_probability": 0.5,
                "max_retries": 0,
                "disable_after_declines": 0,
                "delay": {"kind": "constant", "mean": "10m"},
            },
        },
    )
    sc, t = run(tmp_path, data)
    trigger = sc.scenario.recharge.trigger
    bal = t["balance"]
    pays = t["payments"]
    auto = pays[pays["source"] == "auto"]
    assert len(auto) > 2
    for _, p in auto.iterrows():
        before = bal[bal["t_s"] <= p["requested_at_s"]]["balance_micros"].iloc[-1]
        assert before < trigger
    declined = auto[auto["state"] == "declined"]
    settled = auto[auto["state"] == "settled"]
    assert len(declined) > 0
    purchases = t["lots"][t["lots"]["source"] == "auto"]
    assert len(purchases) == len(settled)
    notes = t["notifications"]
    assert (notes["kind"] == "recharge_failed").sum() == declined["declines"].sum()


def test_s6_postpaid_invoices_monthly_in_arrears_and_never_blocks(tmp_path):
    """§6: NCE/MCA: no credits, usage invoiced monthly in arrears, no outage."""
    data = merge(
        small_tenant(0.2),
        {
            **QUIET,
            "simulation": {"horizon": "62d"},
            "funding": {"mode": "postpaid", "initial_funds": "0"},
            "recharge": {"policy": "none"},
        },
    )
    _, t = run(tmp_path, data)
    o = t["outcomes"].iloc[0]
    assert o["blocked_attempts"] == 0
    assert o["invoices"] == 2  # end of January and of February
    notes = t["notifications"]
    assert list(notes[notes["kind"] == "invoice_issued"]["detail"]) == ["2026-01", "2026-02"]


@pytest.mark.parametrize("hard_cap", [True, False])
def test_s6_hard_cap_refuses_calls_beyond_included_minutes(tmp_path, hard_cap):
    """§6: with overage off (hard cap), calls beyond the plan's minutes are refused."""
    data = merge(
        default_data(),
        {
            **QUIET,
            "simulation": {"horizon": "10d"},
            "funding": {"mode": "postpaid", "initial_funds": "0"},
            "recharge": {"policy": "none"},
            "postpaid": {"hard_cap": hard_cap},
        },
    )
    only_group(data, "us-staff", count=5, plan="domestic_120", conferencing="none")
    del data["user_groups"][0]["conferencing_assigned"]
    del data["user_groups"][0]["conferencing_purchased"]
    data["traffic"]["groups"]["us-staff"]["calling"]["calls_per_user_day"] = 12.0
    data["traffic"]["groups"]["us-staff"]["meetings"]["per_organiser_week"] = 0.0
    _, t = run(tmp_path, data)
    calls = t["calls_summary"]
    refused = calls[calls["funding"].isin(["blocked_rule", "cut_off"])]["calls"].sum()
    charged = calls[calls["funding"].isin(["charged", "pool+charged"])]["calls"].sum()
    if hard_cap:
        assert refused > 0
        assert charged == 0
    else:
        assert refused == 0
        assert charged > 0

"""Warm-up: outcomes measured over the window after it, checked against the run's own tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.engine import RatedTraffic, run_replication
from sim.engine.results import outcomes_of, tables_of
from tests.scenario_support import merge, small_tenant, write_scenario

BUSY = {
    "simulation": {"horizon": "60d", "warm_up": "30d", "seed": 7, "debits": "per_call"},
    "funding": {"portal_rules": False, "initial_funds": "80", "expiry_months": 1},
    "recharge": {"trigger": "25", "amount": "60"},
    "payment": {"decline_probability": 0.2, "max_retries": 1},
}


def _loaded(tmp_path, name, over):
    return write_scenario(tmp_path, merge(merge(small_tenant(0.15), BUSY), over), name)


def test_window_outcomes_match_the_tables_restricted_to_the_window(tmp_path):
    sc = _loaded(tmp_path, "busy", {})
    out = run_replication(sc.scenario, sc.tariffs, 0)
    w = out.window_s
    assert w == pytest.approx(30 * 86_400)  # UTC: no daylight-saving hour in between
    t = tables_of(out)
    o = t["outcomes"].iloc[0]
    horizon = out.scenario.horizon_s
    assert o["horizon_days"] == pytest.approx(60.0)
    ledger = t["ledger"]
    inside = ledger[ledger["t_s"] >= w]
    assert o["forfeited_micros"] == -inside.loc[inside["kind"] == "expire", "amount_micros"].sum()
    assert o["consumed_micros"] == -inside.loc[inside["kind"] == "consume", "amount_micros"].sum()
    pays = t["payments"]
    auto = pays[(pays["source"] == "auto") & (pays["requested_at_s"] >= w)]
    assert o["recharges_requested"] == len(auto)
    assert o["forfeited_micros"] > 0  # one-month lots: forfeits inside the window
    # The exact time average of the balance over the window, from the balance table
    # (one entry per call).
    bal = t["balance"]
    before = bal[bal["t_s"] < w]
    opening = int(before["balance_micros"].iloc[-1])
    after = bal[bal["t_s"] >= w]
    times = np.concatenate([[w], after["t_s"].to_numpy()])
    levels = np.concatenate([[opening], after["balance_micros"].to_numpy()])
    widths = np.diff(np.concatenate([times, [horizon]]))
    direct = float((levels * widths).sum()) / (horizon - w)
    assert o["mean_balance_micros"] == pytest.approx(direct, abs=1)
    assert o["min_balance_micros"] == min(opening, int(after["balance_micros"].min()))
    # The whole-run outcomes (no warm-up) see the warm-up's purchases too.
    assert o["purchased_auto_micros"] < t["lots"].query("source == 'auto'")["amount_micros"].sum()


def test_no_warm_up_changes_nothing(tmp_path):
    a = _loaded(tmp_path, "a", {"simulation": {"warm_up": "0d"}})
    out = run_replication(a.scenario, a.tariffs, 0)
    assert out.window_s == 0
    o = outcomes_of(out).iloc[0]
    assert o["horizon_days"] == pytest.approx(60.0)


def test_lean_walk_gives_the_same_window_outcomes(tmp_path):
    sc = _loaded(tmp_path, "lean", {"simulation": {"debits": "per_event"}})
    full = run_replication(sc.scenario, sc.tariffs, 0)
    lean = run_replication(sc.scenario, sc.tariffs, 0, rated=RatedTraffic(), lean=True)
    pd.testing.assert_frame_equal(outcomes_of(full), outcomes_of(lean))
    assert full.window_day_balances().tolist() == lean.window_day_balances().tolist()
    assert len(full.window_day_balances()) == 60  # 59 midnights inside and the horizon


def test_an_amount_above_a_years_use_forfeits_in_steady_state(tmp_path):
    # A year's warm-up with 12-month lots: an amount three times a year's use must show
    # forfeits in the measured year, and they match the lots that expired in it.
    over = {
        "simulation": {"horizon": "365d", "warm_up": "365d", "debits": "per_event"},
        "funding": {"portal_rules": False, "initial_funds": "0", "expiry_months": 12},
        "recharge": {"trigger": "20", "amount": "0"},
        "payment": {"decline_probability": 0.0},
    }
    probe = _loaded(tmp_path, "probe", merge(over, {"recharge": {"amount": "100"}}))
    use = outcomes_of(run_replication(probe.scenario, probe.tariffs, 0)).iloc[0]
    yearly = int(use["spent_micros"])
    big = str(3 * yearly // 1_000_000)
    sc = _loaded(tmp_path, "big", merge(over, {"recharge": {"amount": big}}))
    out = run_replication(sc.scenario, sc.tariffs, 0)
    t = tables_of(out)
    o = t["outcomes"].iloc[0]
    assert o["forfeited_micros"] > yearly  # most of a lot bought for three years expires
    lots = t["lots"]
    expired_in_window = lots[
        pd.to_datetime(lots["expires_at"])
        >= pd.Timestamp(sc.scenario.simulation.start, tz=sc.scenario.simulation.time_zone)
    ]
    assert o["forfeited_micros"] == expired_in_window["forfeited_micros"].sum()
    # Without the warm-up the same setting forfeits nothing in its first year.
    cold = _loaded(
        tmp_path,
        "cold",
        merge(over, {"recharge": {"amount": big}, "simulation": {"warm_up": "0d"}}),
    )
    assert (
        outcomes_of(run_replication(cold.scenario, cold.tariffs, 0)).iloc[0]["forfeited_micros"]
        == 0
    )


def test_warm_up_must_be_whole_days_and_excludes_initial_purchased(tmp_path):
    from sim.core.errors import InputError

    with pytest.raises(InputError, match=r"simulation\.warm_up: must be a whole number of days"):
        _loaded(tmp_path, "half", {"simulation": {"warm_up": "36h"}})
    with pytest.raises(InputError, match=r"funding\.initial_purchased: cannot be used with"):
        _loaded(
            tmp_path,
            "both",
            {"funding": {"initial_purchased": pd.Timestamp("2025-12-01").to_pydatetime()}},
        )

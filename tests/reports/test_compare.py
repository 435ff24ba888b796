"""``ccsim compare``: identical traffic under every plan, and the PAYG break-even."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sim.cli.reports import dispatch
from sim.core.errors import InputError
from sim.reports import breakeven as be_mod
from sim.reports import plan_runs
from sim.reports.licences import LicencePrices
from tests.reports.support import busy_tenant, one_group, parser

# US outbound rate of the sample tariff, per minute (whole minutes: 60 s increments).
US_RATE = 0.022


def test_compare_writes_a_run_folder_on_identical_traffic(tmp_path, capsys):
    loaded = busy_tenant(tmp_path, funding={"initial_funds": "2000"})
    out = tmp_path / "cmp"
    args = parser().parse_args(
        [
            "compare",
            str(loaded.path),
            "--plans",
            "payg,domestic",
            "--replications",
            "2",
            "--breakeven-users",
            "30",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert dispatch(args) == 0
    printed = capsys.readouterr().out
    assert "identical traffic: yes" in printed
    assert "break-even payg vs domestic" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "compare"
    assert manifest["identical_traffic"] is True
    assert manifest["breakeven"]["minutes_per_user_month"] > 0
    for f in manifest["files"]:
        assert (out / f).exists(), f
    for png in ("plans.png", "breakeven.png"):
        assert (out / "plots" / png).stat().st_size > 20_000
    plans = pd.read_csv(out / "plans.csv", dtype={"total_per_user_month": str})
    assert plans["plan"].tolist() == ["payg", "domestic"]
    runs = pd.read_parquet(out / "runs.parquet")
    # The same calls under both plans, replication by replication.
    calls = runs.pivot_table(index="replication", columns="plan", values="first_attempts")
    assert (calls["payg"] == calls["domestic"]).all()
    minutes = runs.pivot_table(index="replication", columns="plan", values="outbound_minutes")
    # Float sums of seconds taken in another order (pool and credits buckets): equal to
    # the last few bits, not bit for bit.
    assert minutes["payg"].tolist() == pytest.approx(minutes["domestic"].tolist(), rel=1e-12)
    charged = runs.pivot_table(index="replication", columns="plan", values="charged_micros")
    assert (charged["payg"] > charged["domestic"]).all()  # every PAYG minute is charged
    monthly = pd.read_parquet(out / "plans_monthly.parquet")
    assert set(monthly["plan"]) == {"payg", "domestic"}


def test_plan_swap_keeps_everything_else(tmp_path):
    loaded = busy_tenant(tmp_path)
    swapped = plan_runs.with_plan(loaded.scenario, "international", ["uk-sales"])
    plans = {g.name: g.plan for g in swapped.user_groups}
    assert plans == {"us-staff": "domestic", "uk-sales": "international"}
    assert swapped.traffic == loaded.scenario.traffic
    assert swapped.funding == loaded.scenario.funding


def test_unknown_plans_and_groups_are_input_errors(tmp_path):
    loaded = busy_tenant(tmp_path)
    for argv, match in (
        (["--plans", "payg,platinum"], "unknown plan 'platinum'"),
        (["--plans", "payg,payg"], "listed twice"),
        (["--groups", "nobody"], "no user group 'nobody'"),
        (["--breakeven-plan", "payg"], "not payg"),
    ):
        args = parser().parse_args(["compare", str(loaded.path), "-q", *argv])
        with pytest.raises(InputError, match=match):
            dispatch(args)


def _prices(**plans: str) -> LicencePrices:
    return LicencePrices.from_mapping("USD", {f"plan:{k}": v for k, v in plans.items()})


def test_breakeven_matches_closed_form_unpooled_allowance(tmp_path):
    """Per-user 120-minute allowance: overage E[(M - A)+] shifts the break-even."""
    loaded = one_group(tmp_path, users=300, plan="payg", calls_per_user_day=1.0)
    prices = _prices(payg="4", domestic_120_unpooled="6.50")
    be = be_mod.breakeven(loaded, prices, plan="domestic_120_unpooled", users=300)
    closed = be_mod.closed_form_breakeven(
        fee_payg=4.0,
        fee_plan=6.5,
        payg_rate=US_RATE,
        overage_rate=US_RATE,
        allowance_min=120,
        minutes_per_call=3,
    )
    assert closed is not None
    # Overage matters here: without it the break-even would be 2.50 / 0.022 = 113.6.
    assert closed == pytest.approx(122.6, abs=0.1)
    assert be.minutes is not None
    # Sampling error: 300 users x 2 replications x one month; a user's minutes have an
    # sd of about 3 x sqrt(41) = 19, so E[min(M, A)] is known to about 0.8 minutes.
    assert be.minutes == pytest.approx(closed, abs=3.0)
    assert abs(be.minutes - 2.5 / US_RATE) > 5
    cost_payg, cost_plan = be_mod.closed_form_costs(
        closed,
        fee_payg=4.0,
        fee_plan=6.5,
        payg_rate=US_RATE,
        overage_rate=US_RATE,
        allowance_min=120,
        minutes_per_call=3,
    )
    assert cost_payg == pytest.approx(cost_plan)
    assert be.cost_micros / 1e6 == pytest.approx(cost_payg, abs=0.1)


def test_breakeven_matches_closed_form_pooled_allowance(tmp_path):
    """Pooled 3000 minutes per user: no overage near the break-even, fee gap / rate."""
    loaded = one_group(tmp_path, users=100, plan="domestic", calls_per_user_day=2.0)
    prices = _prices(payg="4", domestic="8")
    be = be_mod.breakeven(loaded, prices, plan="domestic", users=100, replications=2)
    closed = be_mod.closed_form_breakeven(
        fee_payg=4.0,
        fee_plan=8.0,
        payg_rate=US_RATE,
        overage_rate=US_RATE,
        allowance_min=3000,
        minutes_per_call=3,
    )
    assert closed == pytest.approx(4.0 / US_RATE, rel=1e-6)
    assert be.minutes == pytest.approx(closed, rel=1e-3)  # costs are linear: no noise
    assert be.current_minutes == pytest.approx(2.0 * 31 * 3, rel=0.05)


def test_closed_form_without_a_crossing():
    # 120 minutes can save at most 120 x 0.022 = 2.64 a month: never worth 4 more.
    assert (
        be_mod.closed_form_breakeven(
            fee_payg=4.0,
            fee_plan=8.0,
            payg_rate=US_RATE,
            overage_rate=US_RATE,
            allowance_min=120,
            minutes_per_call=3,
        )
        is None
    )


def test_breakeven_reports_no_crossing(tmp_path):
    loaded = one_group(tmp_path, users=20, plan="payg", calls_per_user_day=1.0)
    prices = _prices(payg="4", domestic_120_unpooled="8")
    be = be_mod.breakeven(loaded, prices, plan="domestic_120_unpooled", users=20, points=5)
    assert be.minutes is None
    assert "stays cheaper" in be.note

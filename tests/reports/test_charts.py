"""Every chart rendered for a normal, an empty and an extreme case."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

from sim.engine import run_replication
from sim.engine.results import tables_of
from sim.reports import forecast as fc_mod
from sim.reports.compare import compare
from sim.reports.cost_plots import forecast_figure, plans_figure
from sim.reports.plots import balance_figure, bands_figure, spend_figure
from tests.reports.support import busy_tenant, postpaid_tenant


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    sc = busy_tenant(
        tmp_path_factory.mktemp("busy"),
        simulation={"horizon": "31d"},
        payment={"decline_probability": 0.6},
    )
    return sc, tables_of(run_replication(sc.scenario, sc.tariffs, 0))


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    sc = postpaid_tenant(tmp_path_factory.mktemp("nce"))
    return sc, tables_of(run_replication(sc.scenario, sc.tariffs, 0))


def _x_years(fig: Figure) -> set[int]:
    ax = fig.axes[0]
    return {mdates.num2date(v).year for v in ax.get_xlim()}


def _scatter(fig: Figure, label: str) -> PathCollection | None:
    for c in fig.axes[0].collections:
        if isinstance(c, PathCollection) and c.get_label().startswith(label):
            return c
    return None


def test_balance_chart_draws_declines_at_the_balance(busy):
    sc, tables = busy
    fig = balance_figure(tables, sc.scenario)
    declines = _scatter(fig, "card attempt declined")
    assert declines is not None  # 60 % of card attempts declined
    att = tables["payment_attempts"]
    bal = tables["balance"]
    for (_, y), t in zip(
        declines.get_offsets(), att.loc[att["declined"], "completed_at_s"], strict=True
    ):
        before = bal[bal["t_s"] <= t]["balance_micros"]
        expected = before.iloc[-1] / 1e6 if len(before) else 0.0
        assert y == pytest.approx(expected)
    assert _x_years(fig) == {2026}
    low, high = fig.axes[0].get_ylim()
    assert low <= 0 < 60 < high  # zero and the trigger in view


def test_balance_chart_without_funds_has_a_line_and_dates(empty):
    sc, tables = empty
    fig = balance_figure(tables, sc.scenario)
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("balance")]
    assert set(line.get_ydata()) == {0.0}
    assert _x_years(fig) == {2026}
    low, high = ax.get_ylim()
    assert low < 0 < high
    assert high - low >= 1
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert any(m in " ".join(labels) for m in ("Jan", "Feb"))  # dates, not day numbers


def test_balance_chart_with_many_purchases_is_a_daily_envelope(busy):
    sc, tables = busy
    many = dict(tables)
    bal = tables["balance"]
    extra = pd.concat([bal[bal["cause"] == "purchase"]] * 20, ignore_index=True)
    many["balance"] = pd.concat([bal, extra], ignore_index=True).sort_values("t_s")
    fig = balance_figure(many, sc.scenario)
    ax = fig.axes[0]
    assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the envelope band
    assert _scatter(fig, "purchase settled") is None  # no block of markers
    assert "purchases" in " ".join(t.get_text() for t in ax.texts)


def test_spend_chart_by_week_for_a_month(busy):
    sc, tables = busy
    fig = spend_figure(tables, sc.scenario)
    ax = fig.axes[0]
    services = tables["spend_daily"]["service"].nunique()
    assert 0 < len(ax.patches) <= 6 * services  # five or six weeks, not 31 days
    assert "week" in ax.get_ylabel()
    assert ax.get_ylim()[0] == 0


def test_spend_chart_with_nothing_charged_shows_dates(empty):
    sc, tables = empty
    quiet = {**tables, "spend_daily": tables["spend_daily"].iloc[0:0]}
    fig = spend_figure(quiet, sc.scenario)
    assert _x_years(fig) == {2026}  # not 1970
    assert "nothing was charged" in [t.get_text() for t in fig.axes[0].texts]
    assert len(fig.axes[0].patches) == 0


def test_spend_chart_over_a_year_is_by_month(busy):
    sc, tables = busy
    long = replace(sc.scenario, simulation=replace(sc.scenario.simulation, horizon=365 * 86_400))
    days = [date(2026, 1, 1) + timedelta(days=k) for k in range(365)]
    spend = pd.DataFrame(
        {
            "replication": 0,
            "currency": "USD",
            "date": days * 2,
            "service": ["payg"] * 365 + ["dial_out"] * 365,
            "charged_micros": np.full(730, 1_000_000, dtype=np.int64),
        }
    )
    fig = spend_figure({**tables, "spend_daily": spend}, long)
    ax = fig.axes[0]
    assert len(ax.patches) <= 13 * 2  # a bar per month and service
    assert max(p.get_height() for p in ax.patches) >= 28  # a month of 1.00 a day
    assert "month" in ax.get_ylabel()


def _bands(variant: int, scale: float, days: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "variant": variant,
            "day": np.arange(days),
            "p10": np.full(days, 0.5 * scale),
            "p50": np.full(days, scale),
            "p90": np.full(days, 1.5 * scale),
            "min": np.zeros(days),
            "p_at_or_below_zero": np.zeros(days),
        }
    )


def test_bands_facet_when_settings_differ_tenfold(busy):
    sc, _ = busy
    labels = {0: "recharge.trigger=50", 1: "recharge.trigger=5000"}
    picks = {0: "cheapest", 1: "recommended"}
    apart = bands_figure(pd.concat([_bands(0, 50), _bands(1, 5000)]), picks, labels, sc.scenario)
    assert len(apart.axes) == 2
    assert apart.axes[0].get_ylim()[1] < 200 < apart.axes[1].get_ylim()[1]
    close = bands_figure(pd.concat([_bands(0, 50), _bands(1, 80)]), picks, labels, sc.scenario)
    assert len(close.axes) == 1
    assert _x_years(close) == {2026}


def test_bands_of_a_setting_that_never_has_funds(busy):
    sc, _ = busy
    fig = bands_figure(_bands(0, 0.0), {0: "current"}, {0: "recharge.trigger=0"}, sc.scenario)
    low, high = fig.axes[0].get_ylim()
    assert low <= 0 < high
    assert len(fig.axes) == 1


@pytest.fixture(scope="module")
def forecasts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fc")
    busy_fc = fc_mod.forecast(busy_tenant(tmp, simulation={"horizon": "31d"}), replications=3)
    return busy_fc, fc_mod.forecast(postpaid_tenant(tmp), replications=2)


def _band(fig: Figure, label: str) -> PolyCollection | None:
    for c in fig.axes[0].collections:
        if isinstance(c, PolyCollection) and c.get_label().startswith(label):
            return c
    return None


def test_fan_chart_has_a_consumption_band(forecasts):
    busy_fc, postpaid_fc = forecasts
    for fc in (busy_fc, postpaid_fc):
        fig = forecast_figure(fc)
        assert _band(fig, "consumption") is not None
        assert _band(fig, "P10 to P90") is not None
        assert fig.axes[0].get_ylim()[0] == 0


def test_fan_chart_when_nothing_is_consumed(forecasts):
    busy_fc, _ = forecasts
    table = busy_fc.table.copy()
    for col in [c for c in table if c.endswith("_micros")]:
        table[col] = 0
    fig = forecast_figure(replace(busy_fc, table=table))
    assert fig.axes[0].get_ylim() == (0.0, 1.3)


def test_compare_axes_start_at_zero(tmp_path):
    sc = busy_tenant(tmp_path, simulation={"horizon": "10d"})
    cmp = compare(sc, ["domestic", "payg"], replications=2)
    fig = plans_figure(cmp)
    assert [ax.get_ylim()[0] for ax in fig.axes] == [0.0, 0.0]
    top = cmp.monthly["per_user_month_micros"].max() / 1e6
    assert fig.axes[1].get_ylim()[1] >= top

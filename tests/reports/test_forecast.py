"""``ccsim forecast``: the run folder, the spread, and invoices that match the ledger."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.billing.ledger import EntryKind
from sim.cli.reports import dispatch
from sim.core.errors import InputError
from sim.core.units import parse_money
from sim.engine import run_replication
from sim.reports import forecast as fc_mod
from sim.reports.licences import months_of
from tests.reports.support import busy_tenant, parser, postpaid_tenant

REPS = 3


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    return busy_tenant(tmp_path_factory.mktemp("busy"))


@pytest.fixture(scope="module")
def busy_forecast(busy):
    return fc_mod.forecast(busy, replications=REPS)


def test_forecast_writes_a_run_folder(tmp_path, busy, capsys):
    out = tmp_path / "fc"
    args = parser().parse_args(
        ["forecast", str(busy.path), "--replications", "2", "--out", str(out), "-q"]
    )
    assert dispatch(args) == 0
    printed = capsys.readouterr().out
    assert "ccsim forecast: busy" in printed
    assert "total" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "forecast"
    assert manifest["replications"] == 2
    assert manifest["licence_prices"]["sha256"]
    for f in manifest["files"]:
        assert (out / f).exists(), f
    for name in ("forecast.csv", "forecast.parquet", "invoices.csv", "prices.csv"):
        assert (out / name).exists()
    assert (out / "plots" / "forecast-fan.png").stat().st_size > 20_000
    # The finance table: month, P10, P50, P90, mean and components, as decimal strings.
    csv = pd.read_csv(out / "forecast.csv", dtype=str)
    assert list(csv.columns[:2]) == ["currency", "month"]
    money = [c for c in csv.columns if c in ("p10", "p50", "p90", "mean")]
    assert money == ["p10", "p50", "p90", "mean"]
    # Every summary table names its method, its data window and its last data.
    assert csv["method"].iloc[0].startswith("ccsim simulation of 2026-01-01")
    assert csv["data_window"].iloc[0] == "scenario busy (its assumptions)"
    assert csv["last_data"].iloc[0] == "2026-01-01"
    for name in ("forecast_totals", "forecast_components", "forecast_component_totals"):
        assert {"method", "data_window", "last_data"} <= set(pd.read_csv(out / f"{name}.csv"))
    assert {"licences_mean", "credits_auto_mean", "forfeited_mean"} <= set(csv.columns)
    assert csv["month"].tolist() == ["2026-01"]  # tidy: the totals are a table of their own
    assert set(csv["currency"]) == {"USD"}
    pq = pd.read_parquet(out / "forecast.parquet")
    assert [parse_money(v) for v in csv["p50"]] == pq["p50_micros"].tolist()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    # Prepaid: the runway and the alert lead times, printed and written, and the page.
    assert "runway:" in printed
    assert "time to zero, no recharge" in printed
    assert "low-balance e-mails" in printed
    assert "current 60.00" in printed
    for name in ("runway.csv", "runway_lots.csv", "alert_leads.csv", "plots/runway.png"):
        assert name in manifest["files"], name
    leads = pd.read_csv(out / "alert_leads.csv")
    assert leads["policy"].iloc[0] == "current 60.00"
    assert (out / "report.html").stat().st_size > 10_000


def test_percentiles_are_ordered(busy_forecast):
    for frame in (busy_forecast.table, busy_forecast.components):
        assert (frame["p10_micros"] <= frame["p50_micros"]).all()
        assert (frame["p50_micros"] <= frame["p90_micros"]).all()
        assert (frame[["p10_micros", "p50_micros", "p90_micros"]] % 10_000 == 0).all().all()


def test_invoices_equal_each_replications_purchases(busy, busy_forecast):
    inv = busy_forecast.invoices
    credits = inv[inv["component"] != "licences"]
    assert len(credits) > REPS  # several recharges or top-ups per replication
    assert set(credits["component"]) >= {"credits_initial", "credits_auto"}
    for rep in range(REPS):
        out = run_replication(busy.scenario, busy.tariffs, rep)
        bought = sum(e.amount for e in out.account.ledger.entries if e.kind is EntryKind.PURCHASE)
        invoiced = int(credits.loc[credits["replication"] == rep, "amount_micros"].sum())
        assert invoiced == bought  # exact, in micro-units
        assert busy_forecast.purchased[rep] == bought
        one_per_lot = credits[credits["replication"] == rep]
        assert len(one_per_lot) == len(out.account.ledger.lots)  # one invoice per purchase


def test_monthly_totals_add_up(busy_forecast):
    fc = busy_forecast
    per_rep = fc.invoices.groupby("replication")["amount_micros"].sum()
    monthly = fc.monthly.groupby("replication")["amount_micros"].sum()
    assert per_rep.tolist() == monthly.tolist()
    assert "total" not in fc.table["month"].tolist()
    total = fc.totals.iloc[0]
    assert (total["first_month"], total["last_month"]) == ("2026-01", "2026-01")
    assert total["mean_micros"] == fc_mod.to_cents(float(per_rep.mean()))
    licences = fc.licences["fee_micros"].sum()
    assert (
        fc.monthly[fc.monthly["component"] == "licences"]
        .groupby("replication")["amount_micros"]
        .sum()
        == licences
    ).all()


def test_postpaid_invoices_arrive_in_arrears(tmp_path):
    loaded = postpaid_tenant(tmp_path)
    fc = fc_mod.forecast(loaded, replications=2)
    usage = fc.monthly[fc.monthly["component"] == "postpaid_usage"]
    by_month = usage.groupby("month")["amount_micros"].sum()
    # January's usage is invoiced in February, February's in March (after the horizon).
    assert by_month.index.tolist() == ["2026-01", "2026-02", "2026-03"]
    assert by_month["2026-01"] == 0
    assert by_month["2026-02"] > 0
    assert by_month["2026-03"] > 0
    charged = fc.outcomes.set_index("replication")["charged_micros"]
    billed = usage.groupby("replication")["amount_micros"].sum()
    assert billed.tolist() == charged.tolist()  # every charge invoiced, exactly
    assert fc.table["month"].tolist() == ["2026-01", "2026-02", "2026-03"]
    assert fc.totals["last_month"].tolist() == ["2026-03"]
    march = fc.table.set_index("month").loc["2026-03"]
    assert march["licences_mean_micros"] == 0  # no licence beyond the horizon


def test_forecast_is_independent_of_workers(busy, busy_forecast):
    again = fc_mod.forecast(busy, replications=REPS, workers=2)
    pd.testing.assert_frame_equal(again.table, busy_forecast.table)
    pd.testing.assert_frame_equal(again.invoices, busy_forecast.invoices)


def test_licence_fees_follow_headcount_growth(tmp_path):
    loaded = busy_tenant(
        tmp_path,
        simulation={"horizon": "90d", "time_zone": "UTC"},
        traffic={"headcount_growth_per_month": 0.1},
    )
    fees = fc_mod.forecast(loaded, replications=1).licences
    plan = fees[(fees["group"] == "us-staff") & (fees["kind"] == "plan")]
    assert plan["licences"].tolist() == [30, 33, 36]  # round(30 x 1.1 ** month)
    months = months_of(loaded.scenario)
    assert plan["month"].tolist() == [m.label for m in months]


def test_bad_prices_and_existing_folder_are_input_errors(tmp_path, busy):
    bad = tmp_path / "prices.csv"
    bad.write_text("kind,name,country,price_per_month,currency\nplan,domestic,,8.00,EUR\n")
    args = parser().parse_args(["forecast", str(busy.path), "--prices", str(bad), "-q"])
    with pytest.raises(InputError, match="currency"):
        dispatch(args)
    taken = tmp_path / "taken"
    taken.mkdir()
    args = parser().parse_args(["forecast", str(busy.path), "--out", str(taken), "-q"])
    with pytest.raises(InputError, match="exists already"):
        dispatch(args)
    args = parser().parse_args(["forecast", str(busy.path), "--horizon", "soon", "-q"])
    with pytest.raises(InputError, match="--horizon"):
        dispatch(args)


def test_interrupted_forecast_leaves_nothing(tmp_path, busy, monkeypatch):
    import sim.reports.publish

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.reports.publish, "forecast_figure", boom)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(KeyboardInterrupt):
        sim.reports.publish.run_forecast(busy, replications=1, out=root / "never")
    assert list(root.iterdir()) == []


def test_other_commands_are_not_dispatched():
    import argparse

    assert dispatch(argparse.Namespace(command="run")) is None


def test_spread_rounds_to_cents():
    s = fc_mod.spread(np.array([1_004_999, 2_000_000, 3_005_000]))
    assert s["p50_micros"] == 2_000_000
    assert s["mean_micros"] == 2_000_000
    assert s["p10_micros"] <= s["p50_micros"] <= s["p90_micros"]

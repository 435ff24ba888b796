"""Every written table matches its documented schema (types included, empty case too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.engine import run_replication
from sim.engine.results import TABLES, tables_of
from sim.reports import forecast as fc_mod
from sim.reports.compare import compare
from sim.reports.table_docs import tables_markdown
from sim.reports.tables import (
    SCHEMAS,
    bands_table,
    conform,
    csv_frame,
    parquet_problems,
    problems,
    settings_table,
    write_typed_table,
)
from tests.reports.support import busy_tenant, postpaid_tenant
from tests.scenario_support import REPO

DOCS = REPO / "docs" / "tables.md"


def test_tables_doc_is_generated_from_the_schemas():
    assert DOCS.read_text() == tables_markdown(), (
        "docs/tables.md is stale: python -m sim.reports.table_docs > docs/tables.md"
    )


def test_every_run_table_has_a_schema():
    assert set(TABLES) == {name for kind, name in SCHEMAS if kind == "run"}


@pytest.fixture(scope="module")
def busy_tables(tmp_path_factory):
    sc = busy_tenant(tmp_path_factory.mktemp("busy"), simulation={"horizon": "10d"})
    return sc, tables_of(run_replication(sc.scenario, sc.tariffs, 0))


@pytest.fixture(scope="module")
def empty_tables(tmp_path_factory):
    """Postpaid: no lots, payments, attempts, notifications or outages."""
    sc = postpaid_tenant(tmp_path_factory.mktemp("nce"))
    return sc, tables_of(run_replication(sc.scenario, sc.tariffs, 0))


def _check_written(frame: pd.DataFrame, folder: Path, name: str, kind: str = "run") -> None:
    parquet, csv = write_typed_table(frame, folder, name, kind)
    assert parquet_problems(parquet, name, kind) == []
    schema = pq.read_schema(parquet)
    assert "null" not in {str(f.type) for f in schema}, schema
    back = pd.read_parquet(parquet)
    assert list(back.columns) == list(frame.columns)
    assert len(back) == len(frame)
    text = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert not [c for c in text.columns if c.endswith("_micros")]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("which", ["busy_tables", "empty_tables"])
def test_run_tables_match_their_schemas(request, tmp_path, which):
    _, tables = request.getfixturevalue(which)
    for name in TABLES:
        assert problems(tables[name], name) == [], name
        _check_written(tables[name], tmp_path, name)


def test_empty_tables_are_empty_but_typed(empty_tables, tmp_path):
    _, tables = empty_tables
    for name in ("lots", "payments", "payment_attempts", "outages"):
        assert len(tables[name]) == 0, name
    parquet, _ = write_typed_table(tables["outages"], tmp_path, "outages")
    types = {f.name: str(f.type) for f in pq.read_schema(parquet)}
    assert types["start"].startswith("timestamp[ns, tz=")
    assert types["hours"] == "double"
    assert types["blocked_calls"] == "int64"
    assert types["ongoing_at_horizon"] == "bool"


def test_times_are_zoned_timestamps_and_iso_text(busy_tables, tmp_path):
    sc, tables = busy_tables
    ledger = tables["ledger"]
    assert str(ledger["time"].dt.tz) == sc.scenario.simulation.time_zone
    first = ledger.iloc[0]
    assert first["time"] == pd.Timestamp(sc.scenario.calendar.to_datetime(first["t_s"])).floor("s")
    _, csv = write_typed_table(ledger, tmp_path, "ledger")
    text = pd.read_csv(csv, dtype=str)
    assert text["time"].iloc[0] == sc.scenario.calendar.to_datetime(first["t_s"]).isoformat(
        timespec="seconds"
    )
    assert set(text["currency"]) == {"USD"}
    back = pd.read_parquet(tmp_path / "ledger.parquet")
    assert isinstance(back["time"].dtype, pd.DatetimeTZDtype)
    assert back["amount_micros"].dtype == np.int64


def test_lots_without_expiry_have_no_time(busy_tables):
    _, tables = busy_tables
    lots = tables["lots"]
    assert isinstance(lots["expires_at"].dtype, pd.DatetimeTZDtype)
    assert lots["expires_at"].notna().all()  # 12-month lots


def test_forecast_tables_match_their_schemas(tmp_path):
    sc = busy_tenant(tmp_path, simulation={"horizon": "10d"})
    fc = fc_mod.forecast(sc, replications=2)
    for name, frame in fc_mod.forecast_tables(fc).items():
        assert problems(frame, name, "forecast") == [], name
        _check_written(frame, tmp_path, name, "forecast")
    assert len(fc.totals) == 1
    assert "total" not in set(fc.components["month"])


def test_compare_tables_match_their_schemas(tmp_path):
    sc = busy_tenant(tmp_path, simulation={"horizon": "10d"})
    cmp = compare(sc, ["domestic", "payg"], replications=2)
    for name, frame in (
        ("plans", cmp.summary),
        ("plans_monthly", cmp.monthly),
        ("runs", cmp.runs),
        ("licence_fees", cmp.licences),
    ):
        assert problems(conform(frame, name, "compare"), name, "compare") == [], name
        _check_written(frame, tmp_path, name, "compare")


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "variant": [0, 1],
            "setting": ["recharge.trigger=50", "recharge.trigger=500"],
            "recharge.trigger": ["50", "500"],
            "replications": [4, 4],
            "p_outage": [0.25, 0.0],
            "p_outage_low": [0.05, 0.0],
            "p_outage_high": [0.7, 0.5],
            "annual_cost_micros": [1_234_567.4, float("nan")],
            "mean_cost_card_micros": [2.5, 3.5],
            "diff_outage": [0.0, -0.25],
            "meets_constraints": [True, False],
            "wilson_under_target": [False, True],
            "on_frontier": [True, True],
            "recommended": [False, True],
            "current": [True, False],
            "on_grid": [True, True],
        }
    )


def test_settings_are_numeric_and_money_whole_micros(tmp_path):
    typed = settings_table(_summary(), "EUR")
    assert typed["recharge.trigger"].dtype == np.float64
    assert typed["annual_cost_micros"].tolist()[0] == 1_234_567
    assert pd.isna(typed["annual_cost_micros"].tolist()[1])
    assert typed["mean_cost_card_micros"].tolist() == [3, 4]  # half away from zero
    assert problems(typed, "settings", "sweep") == []
    _check_written(typed, tmp_path, "settings", "sweep")
    text = pd.read_csv(tmp_path / "settings.csv", dtype=str, keep_default_na=False)
    assert text["annual_cost"].tolist() == ["1.234567", ""]
    assert text["currency"].tolist() == ["EUR", "EUR"]


def test_empty_settings_and_bands_are_typed(busy_tables, tmp_path):
    sc, _ = busy_tables
    typed = settings_table(_summary().iloc[0:0], "USD")
    _check_written(typed, tmp_path, "settings", "sweep")
    raw = pd.DataFrame(
        {
            "variant": pd.Series([], dtype="int64"),
            "day": pd.Series([], dtype="int64"),
            **{k: pd.Series([], dtype="float64") for k in ("p10", "p50", "p90", "min")},
            "p_at_or_below_zero": pd.Series([], dtype="float64"),
        }
    )
    _check_written(bands_table(raw, sc.scenario), tmp_path, "bands", "sweep")


def test_bands_are_dated_and_in_micros(busy_tables, tmp_path):
    sc, _ = busy_tables
    raw = pd.DataFrame(
        {
            "variant": [3, 3],
            "day": [0, 1],
            "p10": [1.5, 0.0],
            "p50": [20.25, 10.0],
            "p90": [30.0, 12.000001],
            "min": [-0.5, 0.0],
            "p_at_or_below_zero": [0.0, 0.5],
        }
    )
    typed = bands_table(raw, sc.scenario)
    assert problems(typed, "bands", "sweep") == []
    assert typed["p90_micros"].tolist() == [30_000_000, 12_000_001]
    assert [d.isoformat() for d in typed["date"]] == ["2026-01-01", "2026-01-02"]
    _check_written(typed, tmp_path, "bands", "sweep")
    text = pd.read_csv(tmp_path / "bands.csv", dtype=str)
    assert text["p50"].tolist() == ["20.25", "10.00"]


def test_a_column_outside_the_schema_is_refused():
    frame = pd.DataFrame({"replication": [0], "surprise": [1]})
    with pytest.raises(KeyError, match="surprise"):
        conform(frame, "notifications")
    assert problems(frame, "notifications")  # and the check names it


def test_csv_frame_writes_iso_times_and_decimals():
    t = pd.DatetimeIndex(["2026-03-08 01:59:59", "2026-03-08 03:00:00"]).tz_localize(
        "America/New_York"
    )
    frame = pd.DataFrame({"time": t, "amount_micros": np.array([1_500_000, -10], np.int64)})
    out = csv_frame(frame)
    assert out["time"].tolist() == ["2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00"]
    assert out["amount"].tolist() == ["1.50", "-0.00001"]

"""Back-test, reconcile, replay and runway folders: every table has a schema and matches it.

Each command runs once on small inputs (a 35-day log of five PAYG users; a 10-day
forecast whose lots expire after a month), and every table of its folder is checked
against ``sim.reports.tables``: Parquet types, the frame read back, the CSV's columns.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tomli_w

from sim.calllogs.synthetic import synthesize_log, write_graph_json
from sim.cli.reports import dispatch as reports_dispatch
from sim.engine.results import TABLES
from sim.reports.tables import SCHEMAS, parquet_problems, problems
from tests.backtest.support import payg_tenant
from tests.backtest.support import run_cli as backtest_cli
from tests.calllogs.support import run_cli as calllog_cli
from tests.reports.support import busy_tenant, parser
from tests.scenario_support import REPO

ZONE = "America/New_York"
NOT_TABLES = {"bad_rows.csv", "prices.csv"}
"""CSV files that are no result table: the import's bad rows, the licence prices copied."""

BACKTEST = {
    "backtest",
    "backtest_summary",
    "backtest_targets",
    "backtest_detail",
    "backtest_recharges",
}
RECONCILE = {"reconcile_summary", "reconcile_by_route", "reconcile_calls", "mapping"}
RUNWAY = {"runway", "runway_lots", "runway_pools", "alert_leads"}


def check_folder(folder: Path, kind: str) -> dict[str, pd.DataFrame]:
    """Check every table of ``folder`` against its schema; return the tables read back."""
    files = set(json.loads((folder / "manifest.json").read_text())["files"])
    tables = {}
    for parquet in sorted(folder.glob("*.parquet")):
        name = parquet.stem
        k = "run" if kind == "replay" and name in TABLES else kind
        assert (k, name) in SCHEMAS, f"{parquet.name}: no schema for a {k} table {name!r}"
        assert parquet_problems(parquet, name, k) == [], name
        frame = pd.read_parquet(parquet)
        assert problems(frame, name, k) == [], name
        if any(c.endswith("_micros") for c in frame.columns):
            assert "currency" in frame.columns, name
        text = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        assert set(text.columns) == {c.removesuffix("_micros") for c in frame.columns}, name
        assert len(text) == len(frame), name
        assert {f"{name}.parquet", f"{name}.csv"} <= files, name
        tables[name] = frame
    for csv in folder.glob("*.csv"):
        assert csv.name in NOT_TABLES or csv.with_suffix(".parquet").exists(), csv.name
    return tables


def test_every_new_table_has_a_schema() -> None:
    kinds: dict[str, set[str]] = {}
    for kind, name in SCHEMAS:
        kinds.setdefault(kind, set()).add(name)
    assert kinds["backtest"] == BACKTEST
    assert kinds["reconcile"] == RECONCILE
    assert kinds["replay"] == {"mapping", "bootstrap_weeks"}
    assert kinds["forecast"] >= RUNWAY


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Five PAYG users in New York, 35 days of calls, and a scenario with a dearer rate."""
    tmp = tmp_path_factory.mktemp("logged")
    loaded = payg_tenant(tmp, users=5, simulation={"time_zone": ZONE})
    assert loaded.tariffs is not None
    log = synthesize_log(loaded.scenario, loaded.tariffs, np.random.default_rng(5), days=35)
    path = write_graph_json(log.rows, tmp / "log.json")
    outbound = REPO / "scenarios" / "tariffs" / "sample-outbound.csv"
    dearer = tmp / "outbound.csv"
    dearer.write_text(outbound.read_text().replace("\nUS,,0.022,", "\nUS,,0.025,"))
    assert dearer.read_text() != outbound.read_text()
    data = tomllib.loads(loaded.path.read_text())
    data["tariffs"]["outbound"] = str(dearer)
    changed = tmp / "dearer.toml"
    changed.write_text(tomli_w.dumps(data))
    return {"tmp": tmp, "log": path, "scenario": loaded.path, "dearer": changed}


def test_backtest_folder(logged: dict[str, Any]) -> None:
    out = logged["tmp"] / "backtest"
    code, _, err = backtest_cli(
        "backtest", logged["log"], logged["scenario"], "--train", "3w", "--test", "2w",
        "--origins", "1", "--replications", "3", "--ets-paths", "20", "--out", out, "-q",
        "--no-plots",
    )  # fmt: skip
    assert code == 0, err
    tables = check_folder(out, "backtest")
    assert set(tables) == BACKTEST
    assert all(len(t) for t in tables.values())
    assert set(tables["backtest"]["currency"]) == {"USD"}
    assert "currency" not in tables["backtest_recharges"]  # counts, no money


def test_reconcile_folder(logged: dict[str, Any]) -> None:
    out = logged["tmp"] / "reconcile"
    code, _, err = calllog_cli("reconcile", logged["log"], logged["dearer"], "--out", out, "-q")
    assert code == 0, err
    tables = check_folder(out, "reconcile")
    assert set(tables) == RECONCILE
    calls = tables["reconcile_calls"]
    assert len(calls)
    assert set(calls["status"]) == {"differing"}
    assert (calls["difference_micros"] > 0).all()  # ccsim now charges more
    # The log's UTC start, as a local time with its offset (January: UTC-5).
    assert str(calls["start"].dt.tz) == ZONE
    text = pd.read_csv(out / "reconcile_calls.csv", dtype=str)
    assert text["start"].str.endswith("-05:00").all()
    assert pd.Timestamp(text["start"].iloc[0]) == calls["start"].iloc[0]


def test_replay_folder(logged: dict[str, Any]) -> None:
    out = logged["tmp"] / "replay"
    code, _, err = calllog_cli(
        "replay", logged["log"], logged["scenario"], "--out", out, "-q", "--no-plots",
        "--replications", "1",
    )  # fmt: skip
    assert code == 0, err
    tables = check_folder(out, "replay")
    assert set(tables) == {*TABLES, "mapping"}
    assert len(tables["mapping"]) == 5


def test_bootstrap_folder(logged: dict[str, Any]) -> None:
    out = logged["tmp"] / "bootstrap"
    code, _, err = calllog_cli(
        "replay", logged["log"], logged["scenario"], "--bootstrap", "--out", out, "-q",
        "--no-plots", "--replications", "2",
    )  # fmt: skip
    assert code == 0, err
    tables = check_folder(out, "replay")
    assert set(tables) == {*TABLES, "mapping", "bootstrap_weeks"}
    weeks = tables["bootstrap_weeks"]
    assert set(weeks["replication"]) == {0, 1}
    assert {d.weekday() for d in weeks["recorded_week_start"]} == {0}  # Mondays, as the start


def test_forecast_folder_with_runway(tmp_path: Path) -> None:
    busy = busy_tenant(tmp_path, simulation={"horizon": "10d"}, funding={"expiry_months": 1})
    out = tmp_path / "fc"
    args = parser().parse_args(
        ["forecast", str(busy.path), "--replications", "2", "--out", str(out), "-q"]
    )
    assert reports_dispatch(args) == 0
    tables = check_folder(out, "forecast")
    assert set(tables) >= RUNWAY
    assert all(len(tables[name]) for name in RUNWAY)
    lots = tables["runway_lots"]
    assert lots["expires"].tolist() == ["2026-02-01"]  # a month after the start
    assert set(lots["currency"]) == {"USD"}

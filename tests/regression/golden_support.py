"""The golden scenario and how its tables are produced (used by the test and regenerator)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.engine import run_replication
from sim.engine.results import tables_of
from sim.reports.tables import csv_frame
from tests.scenario_support import merge, small_tenant, write_scenario

GOLDEN = Path(__file__).parent / "golden"
TABLES = ("outcomes", "calls_summary", "ledger", "payments", "notifications", "outages")

OVERRIDES = {
    "simulation": {"horizon": "21d", "seed": 424242},
    "funding": {"portal_rules": False, "initial_funds": "60", "low_balance": "30"},
    "recharge": {"trigger": "20", "amount": "45"},
    "payment": {"decline_probability": 0.25, "card_expires": "2026-01-12"},
    "admin": {
        "response_delay": {"kind": "lognormal", "mean": "1d", "cv": 0.5},
        "top_up": "50",
        "fixes_card": False,
    },
    "traffic": {"retry": {"probability": 0.7}},
}


def golden_tables(tmp: Path) -> dict[str, pd.DataFrame]:
    sc = write_scenario(tmp, merge(small_tenant(0.06), OVERRIDES), "golden")
    tables = tables_of(run_replication(sc.scenario, sc.tariffs, 0))
    return {name: csv_frame(tables[name]) for name in TABLES}

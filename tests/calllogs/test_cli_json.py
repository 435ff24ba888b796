"""``--json`` on the call-log commands: one JSON object on standard output, nothing else."""

from __future__ import annotations

import json

import pandas as pd

from sim.cli.main import main
from tests.scenario_support import REPO

SAMPLE = REPO / "scenarios" / "logs" / "sample-tenant.toml"


def test_synth_import_and_reconcile_print_json(tmp_path, capsys):
    log = tmp_path / "log.json"
    assert main(["synth-log", str(SAMPLE), "--days", "3", "--out", str(log), "--json"]) == 0
    synth = json.loads(capsys.readouterr().out)
    assert synth["command"] == "synth-log"
    assert isinstance(synth["calls"], int)
    assert synth["calls"] > 0
    assert float(synth["charged"]) > 0  # exact decimal text

    table = tmp_path / "calls.parquet"
    assert main(["import-log", str(log), "--out", str(table), "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)  # stdout holds the object alone
    assert imported["command"] == "import-log"
    assert imported["imported"] == synth["calls"] == len(pd.read_parquet(table))
    assert imported["bad"] == 0

    out = tmp_path / "rec"
    code = main(["reconcile", str(log), str(SAMPLE), "--out", str(out), "--json", "--allow-remap"])
    assert code == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["command"] == "reconcile"
    assert rec["calls"] == synth["calls"]
    assert rec["matched"] == rec["calls"]  # the log's tariff is the scenario's own
    assert rec["currency"] == "USD"
    assert all(isinstance(r["calls"], int) for r in rec["by_call_type"])


def test_verbose_says_how_long_it_took(tmp_path, capsys):
    log = tmp_path / "log.csv"
    args = ["synth-log", str(SAMPLE), "--days", "1", "--format", "graph-csv"]
    assert main([*args, "--out", str(log), "-v", "-q"]) == 0
    err = capsys.readouterr().err
    assert "synth-log: done in" in err

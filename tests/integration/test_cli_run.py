"""``ccsim run``: a complete run folder, atomic writing, no overwrites, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import sim.scenario.folders
from sim.cli.main import main
from sim.core.units import parse_money
from sim.engine.results import TABLES
from tests.scenario_support import merge, small_tenant, write_scenario


@pytest.fixture
def scenario_file(tmp_path):
    data = merge(small_tenant(0.1), {"simulation": {"horizon": "5d", "name": "tiny"}})
    return write_scenario(tmp_path, data, "tiny").path


def test_run_writes_every_file(tmp_path, scenario_file, capsys):
    out = tmp_path / "run1"
    assert main(["run", str(scenario_file), "--out", str(out), "-q", "--replications", "2"]) == 0
    printed = capsys.readouterr().out
    assert "ccsim run: tiny" in printed
    assert str(out) in printed
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("version", "seed", "replications", "git_commit", "packages", "wall_s", "scenario"):
        assert key in manifest
    assert manifest["replications"] == 2
    assert len(manifest["scenario"]["sha256"]) == 64
    for name in TABLES:
        assert (out / f"{name}.parquet").exists()
        assert (out / f"{name}.csv").exists()
    for f in manifest["files"]:
        assert (out / f).exists(), f
    assert (out / "plots" / "balance.png").stat().st_size > 10_000
    assert (out / "plots" / "spend.png").stat().st_size > 10_000
    # Money: exact integers in Parquet, the same amounts as decimal strings in CSV.
    pq = pd.read_parquet(out / "ledger.parquet")
    csv = pd.read_csv(out / "ledger.csv", dtype={"amount": str})
    assert [parse_money(a) for a in csv["amount"]] == pq["amount_micros"].tolist()
    assert set(pd.read_parquet(out / "outcomes.parquet")["replication"]) == {0, 1}
    # The resolved scenario reproduces the run from the folder alone.
    assert main(["validate", "-q", str(out / "scenario.resolved.toml")]) == 0


def test_existing_out_folder_is_never_overwritten(tmp_path, scenario_file, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["run", str(scenario_file), "--out", str(out), "-q"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


def test_seed_override_is_in_the_resolved_scenario(tmp_path, scenario_file):
    import tomllib

    out = tmp_path / "seeded"
    assert main(["run", str(scenario_file), "--out", str(out), "-q", "--seed", "77"]) == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 77
    resolved = tomllib.loads((out / "scenario.resolved.toml").read_text())
    assert resolved["simulation"]["seed"] == 77


def test_interrupted_run_leaves_nothing(tmp_path, scenario_file, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.scenario.folders, "write_resolved_scenario", boom)
    out = tmp_path / "never"
    assert main(["run", str(scenario_file), "--out", str(out), "-q"]) == 130
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [scenario_file]  # no staging folder left behind


def test_run_folders_get_new_names(tmp_path, scenario_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["run", str(scenario_file), "-q", "--no-plots"]) == 0
    folders = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert len(folders) == 2
    assert all(f.startswith("tiny-") for f in folders)


def test_bad_option_and_bad_file(tmp_path, scenario_file):
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(scenario_file), "--seed", "-1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("no such file")

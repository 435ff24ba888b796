"""``ccsim sensitivity`` on the simulator: an inert setting gets no index, a driver dominates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.cli.main import main
from sim.experiments.executors import Executor
from sim.experiments.sensitivity_runs import run_sensitivity
from sim.reports.tables import parquet_problems
from tests.scenario_support import REPO, merge, small_tenant, write_scenario


@pytest.fixture
def uncertain(tmp_path):
    base = small_tenant(0.08)
    base.pop("uncertainties", None)  # this test's own, not the default file's
    data = merge(
        base,
        {
            "simulation": {"horizon": "30d", "name": "sens"},
            "funding": {"initial_funds": "100", "portal_rules": False},
            "recharge": {"trigger": "50", "amount": "100"},
            "sweep": {"warm_up": "0d"},
            "uncertainties": {
                "settings": {
                    # Drives usage, so recharges, invoices and the annual cost.
                    "traffic.groups.us-staff.calling.calls_per_user_day": {
                        "kind": "uniform",
                        "low": 1.0,
                        "high": 12.0,
                    },
                    # Only an e-mail nobody acts on: no effect on any output.
                    "funding.low_balance": {"kind": "uniform", "low": "10", "high": "90"},
                },
            },
        },
    )
    return write_scenario(tmp_path, data, "sens")


def test_an_inert_setting_gets_no_index_and_a_driver_dominates(uncertain, tmp_path):
    screening, folder = run_sensitivity(
        uncertain,
        executor=Executor("serial"),
        folder=tmp_path / "s",
        n_base=16,
        trajectories=4,
        replications=2,
    )
    sobol = screening.sobol.set_index(["output", "input"])
    cost = sobol.loc["annual_cost"]
    assert cost.loc["traffic.groups.us-staff.calling.calls_per_user_day", "ST"] > 0.8
    assert abs(cost.loc["funding.low_balance", "ST"]) < 0.05
    assert abs(cost.loc["funding.low_balance", "S1"]) < 0.05
    morris = screening.morris.set_index(["output", "input"])
    assert morris.loc[("annual_cost", "funding.low_balance"), "mu_star"] == 0
    for name in ("morris", "sobol"):
        assert (folder / f"{name}.csv").exists()
        assert parquet_problems(folder / f"{name}.parquet", name, "sweep") == [], name
    assert (folder / "plots" / "tornado-annual_cost.png").stat().st_size > 5_000


def test_sensitivity_is_the_same_whatever_the_executor(uncertain, tmp_path):
    a, _ = run_sensitivity(
        uncertain, executor=Executor("serial"), folder=tmp_path / "a", n_base=8, trajectories=2
    )
    b, _ = run_sensitivity(
        uncertain, executor=Executor("pool", 2), folder=tmp_path / "b", n_base=8, trajectories=2
    )
    pd.testing.assert_frame_equal(a.sobol, b.sobol)
    pd.testing.assert_frame_equal(a.morris, b.morris)
    c, _ = run_sensitivity(
        uncertain,
        executor=Executor("dask", 2, "local"),
        folder=tmp_path / "c",
        n_base=8,
        trajectories=2,
    )
    pd.testing.assert_frame_equal(a.sobol, c.sobol)
    pd.testing.assert_frame_equal(a.morris, c.morris)


def test_the_command(uncertain, tmp_path, capsys):
    out = tmp_path / "cmd"
    args = ["sensitivity", str(uncertain.path), "--n-base", "8", "--trajectories", "2"]
    assert main([*args, "--serial", "-q", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "annual_cost: traffic.groups.us-staff.calling.calls_per_user_day ST" in text
    assert main([*args, "--serial", "-q", "--out", str(out)]) == 2  # exists: nothing overwritten
    assert main([*args[:2], "--n-base", "12", "--serial", "-q"]) == 2  # not a power of two


def test_a_resumed_study_equals_an_uninterrupted_one(uncertain, tmp_path, monkeypatch):
    import sim.experiments.sensitivity_runs as runs

    kwargs = {"executor": Executor("serial"), "n_base": 8, "trajectories": 2}
    whole, _ = run_sensitivity(uncertain, folder=tmp_path / "whole", **kwargs)
    real = runs.save_batch
    calls = {"n": 0}

    def crash_after_two(*args, **kw):
        if calls["n"] == 2:
            raise KeyboardInterrupt
        calls["n"] += 1
        real(*args, **kw)

    monkeypatch.setattr(runs, "save_batch", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_sensitivity(uncertain, folder=tmp_path / "cut", **kwargs)
    monkeypatch.setattr(runs, "save_batch", real)
    assert not (tmp_path / "cut" / "sobol.parquet").exists()
    resumed, folder = run_sensitivity(uncertain, folder=tmp_path / "cut", resume=True, **kwargs)
    pd.testing.assert_frame_equal(whole.sobol, resumed.sobol)
    pd.testing.assert_frame_equal(whole.morris, resumed.morris)
    with pytest.raises(Exception, match="cannot resume: n_base differs"):
        run_sensitivity(
            uncertain,
            folder=folder,
            resume=True,
            executor=Executor("serial"),
            n_base=16,
            trajectories=2,
        )


def test_levers_can_be_inputs_too(uncertain, tmp_path):
    import tomllib

    data = tomllib.loads(uncertain.path.read_text())
    data["sweep"]["settings"] = {"recharge.amount": "100,300,900"}
    sc = write_scenario(tmp_path, data, "levers")
    screening, _ = run_sensitivity(
        sc,
        executor=Executor("serial"),
        folder=tmp_path / "l",
        n_base=8,
        trajectories=2,
        levers=True,
    )
    assert "recharge.amount" in set(screening.morris["input"])
    # A larger amount means fewer recharges and invoices: it moves the annual cost.
    morris = screening.morris.set_index(["output", "input"])
    assert morris.loc[("annual_cost", "recharge.amount"), "mu_star"] > 0


@pytest.mark.parametrize(
    ("warm_up", "shown"), [("99999d", "99999 days"), ("36h", "36h"), ("5", "5s")]
)
def test_a_warm_up_outside_the_sweeps_rule_is_one_line_and_leaves_no_folder(
    uncertain, tmp_path, capsys, warm_up, shown
):
    out = tmp_path / "cmd"
    args = ["sensitivity", str(uncertain.path), "--n-base", "8", "--trajectories", "2"]
    assert main([*args, "--warm-up", warm_up, "--serial", "-q", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"--warm-up: must be a whole number of days from 0 to 3660, got {shown}"
    assert not out.exists()  # nothing to block a corrected --out


@pytest.mark.parametrize(
    "command",
    [
        ["sensitivity", "--n-base", "2", "--trajectories", "2", "--warm-up", "0d"],
        ["recommend", "--robust", "--futures", "2", "--trigger", "50,60", "--amount", "100"],
    ],
)
def test_studies_that_reload_rate_tables_work_from_a_relative_scenario_path(
    uncertain, tmp_path, monkeypatch, capsys, command
):
    # tariffs.scale uncertain: each future loads the rate tables again, in the worker.
    import shutil
    import tomllib

    import tomli_w

    folder = tmp_path / "here"
    shutil.copytree(REPO / "scenarios" / "tariffs", folder / "tariffs")
    data = tomllib.loads(uncertain.path.read_text())
    data["tariffs"] = {k: f"tariffs/{Path(v).name}" for k, v in data["tariffs"].items()}
    scale = {"kind": "uniform", "low": 0.9, "high": 1.1}
    data["uncertainties"]["settings"]["tariffs.scale"] = scale
    (folder / "sens.toml").write_text(tomli_w.dumps(data))
    monkeypatch.chdir(folder)
    name, *options = command
    code = main([name, "sens.toml", *options, "--serial", "-q", "--out", "o"])
    assert code == 0, capsys.readouterr().err

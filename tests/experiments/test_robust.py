"""Robust studies: levers x futures x replications, executors, resume, the robust summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.cli.main import main
from sim.experiments import robust
from sim.experiments.executors import Executor
from sim.experiments.sweeps import Variant
from sim.reports.tables import parquet_problems
from tests.scenario_support import merge, small_tenant, write_scenario

LEVERS = {"recharge.trigger": "50,150", "recharge.amount": "100,300"}


@pytest.fixture
def uncertain(tmp_path):
    base = small_tenant(0.08)
    base.pop("uncertainties", None)  # this test's own, not the default file's
    data = merge(
        base,
        {
            "simulation": {"horizon": "20d", "name": "uncertain"},
            "funding": {"initial_funds": "100", "low_balance": "60"},
            "recharge": {"trigger": "50", "amount": "100"},
            "payment": {"decline_probability": 0.1},
            "sweep": {"settings": LEVERS, "warm_up": "0d", "max_outage": 0.3},
            "uncertainties": {
                "futures": 6,
                "settings": {
                    "payment.decline_probability": {"kind": "uniform", "low": 0.0, "high": 0.6},
                    "traffic.usage_growth_per_month": {
                        "kind": "triangular",
                        "low": 0.0,
                        "mode": 0.01,
                        "high": 0.05,
                    },
                },
            },
        },
    )
    return write_scenario(tmp_path, data, "uncertain")


def _run(loaded, folder, executor, **over):
    return robust.run_robust(
        loaded,
        levers=LEVERS,
        executor=executor,
        folder=folder,
        target=0.3,
        batch_size=2,
        **over,
    )


def test_robust_runs_are_identical_across_executors(uncertain, tmp_path):
    serial = _run(uncertain, tmp_path / "serial", Executor("serial"))
    pooled = _run(uncertain, tmp_path / "pool", Executor("pool", 2))
    dasked = _run(uncertain, tmp_path / "dask", Executor("dask", 2, "local"))
    assert len(serial.runs) == 6 * 4  # futures x settings (the current one is on the grid)
    for other in (pooled, dasked):
        pd.testing.assert_frame_equal(serial.runs, other.runs)
        pd.testing.assert_frame_equal(serial.summary, other.summary)
        assert other.chosen == serial.chosen


def test_a_resumed_robust_study_equals_an_uninterrupted_one(uncertain, tmp_path, monkeypatch):
    whole = _run(uncertain, tmp_path / "whole", Executor("serial"))
    calls = {"n": 0}
    from sim.experiments import sweeps

    real = sweeps.save_batch

    def crash_after_one(*args, **kwargs):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        real(*args, **kwargs)

    monkeypatch.setattr(sweeps, "save_batch", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        _run(uncertain, tmp_path / "cut", Executor("serial"))
    monkeypatch.setattr(sweeps, "save_batch", real)
    assert len(list((tmp_path / "cut" / "batches" / "futures").glob("*.parquet"))) == 1
    resumed = _run(uncertain, tmp_path / "cut", Executor("serial"))
    pd.testing.assert_frame_equal(whole.runs, resumed.runs)
    pd.testing.assert_frame_equal(whole.summary, resumed.summary)


def test_futures_depend_on_the_seed_alone(uncertain, tmp_path):
    a = _run(uncertain, tmp_path / "a", Executor("serial"))
    b = robust.run_robust(
        uncertain,
        levers={"recharge.amount": "200,400"},
        executor=Executor("serial"),
        folder=tmp_path / "b",
        target=0.3,
    )
    pd.testing.assert_frame_equal(a.futures, b.futures)
    # Within a future every setting sees the same calls (one replication number).
    reps = a.runs.groupby("future")["replication"].nunique()
    assert (reps == 1).all()
    calls = a.runs.groupby("future")["calls"].nunique()
    assert (calls == 1).all()  # policy levers: the same traffic for every setting


def test_robust_summary_against_a_direct_computation():
    # Two settings, three futures, two replications each.
    rows = []
    cost = {0: [10, 30, 20], 1: [15, 12, 25]}
    out = {0: [0, 1, 0], 1: [0, 0, 1]}
    for v in (0, 1):
        for f in range(3):
            for r in range(2):
                rows.append(
                    {
                        "variant": v,
                        "future": f,
                        "replication": 2 * f + r,
                        "horizon_days": 365.25,
                        "forfeited_micros": cost[v][f] * 1_000_000,
                        "outage": bool(out[v][f] and r == 0),
                    }
                )
    runs = pd.DataFrame(rows)

    class Sc:  # only the costs are read
        from sim.scenario.costs import Costs

        costs = Costs(invoice=0, annual_rate=0.0)  # type: ignore[arg-type]

    variants = [Variant(v, (("recharge.trigger", str(v)),), Sc()) for v in (0, 1)]  # type: ignore[arg-type]
    s = robust.robust_summary(runs, variants, target=0.3).set_index("variant")
    # A future's outage share is 0.5 where out=1: above the target, not met.
    assert s.loc[0, "share_meeting_target"] == pytest.approx(2 / 3)
    assert s.loc[1, "share_meeting_target"] == pytest.approx(2 / 3)
    assert s.loc[0, "annual_cost_micros"] == pytest.approx(20e6)
    # Best per future among those meeting it: f0 -> 10 (v0), f1 -> 12 (v1), f2 -> 20 (v0).
    assert s.loc[0, "max_regret_micros"] == pytest.approx(18e6)  # f1: 30 - 12
    assert s.loc[1, "mean_regret_micros"] == pytest.approx((5 + 0 + 5) / 3 * 1e6)
    assert s.loc[0, "worst_decile_annual_cost_micros"] == pytest.approx(30e6)
    chosen, _ = robust.choose(s.reset_index(), "expected", min_share=0.6)
    assert chosen == 1  # 17.33 < 20
    chosen, _ = robust.choose(s.reset_index(), "regret", min_share=0.6)
    assert chosen == 1
    assert robust.choose(s.reset_index(), "expected", min_share=0.9)[0] is None


def test_run_experiments_gives_a_tidy_table(uncertain):
    table = robust.run_experiments(uncertain, futures=4, replications=2)
    assert len(table) == 4 * 2 * 4
    for col in (
        "future",
        "replication",
        "variant",
        "recharge.trigger",
        "future.payment.decline_probability",
        "annual_cost_micros",
        "outage",
    ):
        assert col in table
    assert np.isfinite(table["annual_cost_micros"]).all()


def test_recommend_robust_command(uncertain, tmp_path, capsys):
    out = tmp_path / "rob"
    code = main(["recommend", str(uncertain.path), "--robust", "--serial", "-q", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Criterion: the least expected annual cost" in text
    for name in ("runs", "robust", "futures"):
        assert (out / f"{name}.csv").exists()
        assert parquet_problems(out / f"{name}.parquet", name, "sweep") == [], name
    assert (out / "recommendation.txt").read_text().startswith("Criterion:")
    bare = tmp_path / "bare.toml"
    bare.write_text(uncertain.path.read_text().split("[uncertainties")[0])
    assert main(["recommend", str(bare), "--robust", "--serial", "-q"]) == 2
    capsys.readouterr()
    # --replications would be ignored: each future runs --per-future times.
    args = ["recommend", str(uncertain.path), "--robust", "--replications", "2", "--serial"]
    assert main([*args, "--out", str(tmp_path / "r2")]) == 2
    assert "--replications: not used with --robust" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


def test_the_tidy_table_summarises_like_the_study(uncertain, tmp_path):
    study = _run(uncertain, tmp_path / "s", Executor("serial"))
    table = robust.run_experiments(uncertain, folder=tmp_path / "t")
    mine = robust.summarise_experiments(table, target=0.3)
    cols = ["variant", "share_meeting_target", "annual_cost_micros", "max_regret_micros"]
    pd.testing.assert_frame_equal(mine[cols], study.summary[cols])

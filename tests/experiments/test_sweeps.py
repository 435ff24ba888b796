"""Sweeps: settings grids, executors, resume, common random numbers, recommendation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.cli.main import main
from sim.experiments import recommend, sweeps
from sim.experiments.executors import Executor
from sim.experiments.sweeps import build_variants, pareto_front, replays_traffic
from sim.scenario.model import Sweep, expand_values
from tests.scenario_support import merge, small_tenant, write_scenario

SETTINGS = {"recharge.trigger": "50,150", "recharge.amount": "100,300"}


@pytest.fixture
def tiny(tmp_path):
    data = merge(
        small_tenant(0.08),
        {
            "simulation": {"horizon": "20d", "name": "tiny"},
            "funding": {"initial_funds": "100", "low_balance": "60"},
            "recharge": {"trigger": "50", "amount": "100"},
            "payment": {"decline_probability": 0.2, "card_expires": "2026-01-10"},
            "admin": {
                "response_delay": {"kind": "lognormal", "mean": "1d", "cv": 0.5},
                "top_up": "100",
                "fixes_card": False,
            },
        },
    )
    return write_scenario(tmp_path, data, "tiny")


def run(tiny, folder, executor, reps=4, refine=False, batch_size=2):
    sweep = Sweep(
        settings=SETTINGS,
        replications=reps,
        batch_size=batch_size,
        max_outage=0.5,
        refine_replications=2,
    )
    return recommend.run(
        tiny, settings=SETTINGS, sweep=sweep, executor=executor, folder=folder, refine=refine
    )


def test_expand_values():
    assert expand_values("50:200:50") == ["50", "100", "150", "200"]
    assert expand_values("0:0.2:0.05") == ["0.00", "0.05", "0.10", "0.15", "0.20"]
    assert expand_values("10, 20") == ["10", "20"]
    for bad in ("1:2", "5:1:1", "a:b:c", "", "1:10:0"):
        with pytest.raises(ValueError, match="expected"):
            expand_values(bad)


def test_variants_are_validated_scenarios(tiny):
    raw = sweeps.read_raw(tiny.path)
    variants = build_variants(raw, SETTINGS)
    assert len(variants) == 4
    assert {v.scenario.recharge.trigger for v in variants} == {50_000_000, 150_000_000}
    with pytest.raises(ValueError, match="unknown setting"):
        build_variants(raw, {"recharge.triger": "1,2"})
    with pytest.raises(Exception, match="portal"):
        build_variants(raw, {"recharge.trigger": "10,20", "funding.portal_rules": "1"})


def test_only_policy_settings_replay_traffic():
    assert replays_traffic(
        ["recharge.trigger", "payment.decline_probability", "funding.initial_funds"]
    )
    assert not replays_traffic(["traffic.usage_growth_per_month"])
    assert not replays_traffic(["funding.mode"])


def test_executors_give_identical_tables(tiny, tmp_path):
    serial, *_ = run(tiny, tmp_path / "serial", Executor("serial"))
    pooled, *_ = run(tiny, tmp_path / "pool", Executor("pool", 2))
    dasked, *_ = run(tiny, tmp_path / "dask", Executor("dask", 2, "local"))
    pd.testing.assert_frame_equal(serial.runs, pooled.runs, check_exact=True)
    pd.testing.assert_frame_equal(serial.runs, dasked.runs, check_exact=True)
    for v in serial.balances:
        assert np.array_equal(serial.balances[v], dasked.balances[v])
    assert len(serial.runs) == 4 * 4
    assert serial.runs["outage"].any()  # the settings really differ in risk


def test_resumed_sweep_equals_uninterrupted(tiny, tmp_path, monkeypatch):
    whole, *_ = run(tiny, tmp_path / "whole", Executor("serial"))
    real_save = sweeps.save_batch
    calls = {"n": 0}

    def crash_after_first(*args, **kwargs):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        real_save(*args, **kwargs)

    monkeypatch.setattr(sweeps, "save_batch", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        run(tiny, tmp_path / "cut", Executor("serial"))
    kept = list((tmp_path / "cut" / "batches" / "screen").iterdir())
    assert sorted(p.suffix for p in kept) == [".npy", ".parquet"]  # one whole batch only
    monkeypatch.setattr(sweeps, "save_batch", real_save)
    resumed, *_ = run(tiny, tmp_path / "cut", Executor("serial"))
    pd.testing.assert_frame_equal(whole.runs, resumed.runs, check_exact=True)


def test_common_random_numbers_shrink_the_variance_of_differences(tiny):
    raw = sweeps.read_raw(tiny.path)
    a, b = build_variants(raw, {"recharge.trigger": "50,60"})
    batch = sweeps.Batch(0, 12)
    runs, _ = sweeps.run_batch([a, b], tiny.tariffs, batch, replay=True)
    cost = runs.pivot(index="replication", columns="variant", values="charged_micros")
    paired = (cost[1] - cost[0]).var()
    # Independent runs: pair replication i of one setting with i + 6 of the other.
    independent = (cost[1].to_numpy()[6:] - cost[0].to_numpy()[:6]).var()
    assert paired < 0.05 * independent


def test_summary_matches_a_direct_computation_per_setting():
    # Three settings; setting 2 has extra replications (as after refinement), the
    # baseline (0) misses replication 3, so paired differences use common ones only.
    rng = np.random.default_rng(5)
    keys = [(0, r) for r in (0, 1, 2, 4)] + [(1, r) for r in range(5)] + [(2, r) for r in range(7)]
    runs = pd.DataFrame(
        {
            "variant": [v for v, _ in keys],
            "replication": [r for _, r in keys],
            "horizon_days": 365.0,
            "outage": rng.random(len(keys)) < 0.4,
            "forfeited_micros": rng.integers(0, 10**9, len(keys)),
            "mean_balance_micros": rng.integers(0, 10**10, len(keys)),
            "recharges_settled": rng.integers(0, 30, len(keys)),
        }
    )
    variants = [sweeps.Variant(i, (("recharge.trigger", str(10 * i)),), None) for i in range(3)]  # type: ignore[arg-type]
    result = sweeps.SweepResult(variants, runs, {}, list(range(7)))
    summary = sweeps.summarise(result, baseline=0, annual_rate=0.05).set_index("variant")
    base = runs[runs["variant"] == 0].set_index("replication")
    for v in range(3):
        r = runs[runs["variant"] == v].set_index("replication")
        years = 365 / 365.25
        cost = r["forfeited_micros"] + 0.05 * years * r["mean_balance_micros"]
        row = summary.loc[v]
        assert row["replications"] == len(r)
        assert row["p_outage"] == r["outage"].mean()
        assert row["objective_micros"] == pytest.approx(cost.mean(), rel=1e-12)
        assert row["objective_se_micros"] == pytest.approx(cost.std() / np.sqrt(len(r)), rel=1e-9)
        assert row["mean_recharges_settled"] == pytest.approx(r["recharges_settled"].mean())
        common = r.index.intersection(base.index)
        d = (
            cost.loc[common]
            - (base["forfeited_micros"] + 0.05 * years * base["mean_balance_micros"]).loc[common]
        )
        assert row["diff_objective"] == pytest.approx(d.mean(), rel=1e-9, abs=1e-6)
        if v:
            assert row["diff_objective_se"] == pytest.approx(d.std() / np.sqrt(len(d)), rel=1e-9)
        o = r["outage"].loc[common].astype(float) - base["outage"].loc[common].astype(float)
        assert row["diff_outage"] == pytest.approx(o.mean(), abs=1e-12)
    assert summary.loc[0, "diff_objective"] == 0.0


def test_pareto_front_and_decision():
    summary = pd.DataFrame(
        {
            "variant": [0, 1, 2, 3],
            "p_outage": [0.20, 0.02, 0.0, 0.02],
            "p_outage_low": [0.1, 0.0, 0.0, 0.0],
            "p_outage_high": [0.3, 0.04, 0.03, 0.05],
            "mean_mean_balance_micros": [1e6, 2e6, 5e6, 3e6],
            "objective_micros": [1e5, 2e5, 5e5, 3e5],
            "objective_se_micros": [1e3, 1e3, 1e3, 1e3],
            "mean_forfeited_micros": [0.0, 0.0, 0.0, 0.0],
            "replications": [100] * 4,
            "diff_objective": [0.0, 1e5, 4e5, 2e5],
            "diff_objective_se": [0.0, 1e3, 1e3, 1e3],
        }
    )
    assert pareto_front(summary) == [2, 1, 0]
    grid = recommend.Grid(
        [sweeps.Variant(i, (("recharge.trigger", str(i)),), None) for i in range(4)],  # type: ignore[arg-type]
        baseline=0,
        replay=True,
    )
    rec = recommend.decide(summary, grid, target=0.045, currency="USD")
    assert rec.chosen == 1  # cheapest whose upper bound is under 4.5 %
    assert rec.runner_up == 2
    assert rec.text[0].startswith("Recommended: recharge.trigger=1")
    assert recommend.contenders(summary, 0.045) == [1, 3]


def test_refinement_adds_what_showing_the_target_needs():
    # No outage in n runs: the 95 % Wilson upper bound is z^2 / (n + z^2).
    n = recommend.needed_replications(0.01)
    z2 = 1.959963984540054**2
    assert z2 / (n + z2) <= 0.01 < z2 / (n - 1 + z2)
    assert n == 381
    summary = pd.DataFrame(
        {"variant": [0, 1], "p_outage_high": [0.088, 0.004], "p_outage": [0.0, 0.0]}
    )
    sweep = Sweep(replications=40, max_outage=0.01)
    assert recommend.refinement_size(summary, [0, 1], sweep) == 381 - 40  # 0 is in doubt
    assert recommend.refinement_size(summary, [1], sweep) == 40  # only close in cost
    capped = Sweep(replications=40, max_outage=0.01, max_replications=100)
    assert recommend.refinement_size(summary, [0], capped) == 60
    fixed = Sweep(replications=40, refine_replications=10, max_outage=0.2)
    assert recommend.refinement_size(summary, [0], fixed) == 10


def test_recommend_command(tiny, tmp_path, capsys):
    out = tmp_path / "rec"
    code = main(
        [
            "recommend",
            str(tiny.path),
            "--trigger",
            "50,150",
            "--amount",
            "100,300",
            "--replications",
            "3",
            "--refine-replications",
            "2",
            "--serial",
            "--max-outage",
            "60%",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "ccsim recommend: tiny, 4 settings" in text
    for name in ("runs", "settings", "bands", "variants"):
        assert (out / f"{name}.parquet").exists()
        assert (out / f"{name}.csv").exists()
    for png in ("heatmap-outage", "heatmap-forfeited", "frontier", "balance-bands"):
        assert (out / "plots" / f"{png}.png").stat().st_size > 5_000
    assert (out / "recommendation.txt").read_text().strip()
    assert (
        main(
            ["recommend", str(tiny.path), "--set", "recharge.trigger", "--out", str(tmp_path / "x")]
        )
        == 2
    )


def test_bands_of_the_settings_a_user_picks(tiny, tmp_path):
    out = tmp_path / "picked"
    args = [
        "sweep",
        str(tiny.path),
        "--trigger",
        "50,150",
        "--amount",
        "100,300",
        "--replications",
        "2",
        "--serial",
        "-q",
    ]
    assert main([*args, "--bands", "0,3", "--out", str(out)]) == 0
    bands = pd.read_parquet(out / "bands.parquet")
    assert set(bands["variant"]) == {0, 1, 2, 3}  # every setting's bands are kept
    assert (out / "plots" / "balance-bands.png").exists()
    # An unknown setting number is refused before anything runs.
    bad = tmp_path / "bad"
    assert main([*args, "--bands", "0,99", "--out", str(bad)]) == 2
    assert not (bad / "batches").exists()

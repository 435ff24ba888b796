"""Sweeps: settings grids, executors, resume, common random numbers, recommendation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.cli.main import main
from sim.core.units import Micros, Seconds
from sim.experiments import recommend, sweeps
from sim.experiments.executors import Executor
from sim.experiments.sweeps import build_variants, pareto_front, replays_traffic
from sim.reports.tables import parquet_problems
from sim.scenario.costs import COMPONENTS
from sim.scenario.loading import load_scenario
from sim.scenario.model import Sweep, expand_values
from tests.scenario_support import REPO, merge, small_tenant, write_scenario

SETTINGS = {"recharge.trigger": "50,150", "recharge.amount": "100,300"}


@pytest.fixture
def tiny(tmp_path):
    data = merge(
        small_tenant(0.08),
        {
            "simulation": {"horizon": "20d", "name": "tiny"},
            "sweep": {"warm_up": "0d"},
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
        max_outage=0.3,
        refine_replications=5,
        max_replications=20,
        indifference=Micros(1000 * 10**6),
        warm_up=Seconds(0.0),
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
    with pytest.raises(Exception, match="refused by the admin portal"):
        build_variants(raw, {"recharge.trigger": "10,20"})
    # Text and true/false settings are no levers: a swept rate-table path was recorded in
    # variants.csv and never used (the sweep loads its rate tables once).
    for path, values in [
        ("tariffs.outbound", "a.csv,b.csv"),
        ("simulation.name", "1,2"),
        ("funding.portal_rules", "0,1"),
    ]:
        with pytest.raises(ValueError, match=f"{path}: only numeric settings can be swept"):
            build_variants(raw, {path: values})


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


def test_a_selection_keeps_one_pool_for_all_its_stages(tiny, tmp_path, monkeypatch):
    import concurrent.futures
    import json

    started = []
    real_pool = concurrent.futures.ProcessPoolExecutor

    class CountedPool(real_pool):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            started.append(1)
            super().__init__(*args, **kwargs)

    serial, *_ = run(tiny, tmp_path / "serial", Executor("serial"), refine=True)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", CountedPool)
    pooled, *_ = run(tiny, tmp_path / "pool", Executor("pool", 2), refine=True)
    stages = json.loads((tmp_path / "pool" / "manifest.json").read_text())["selection"]
    assert stages["stages"] > 2  # later stages ran a subset of the settings
    assert len(started) == 1
    pd.testing.assert_frame_equal(serial.runs, pooled.runs, check_exact=True)
    for v in serial.balances:
        assert np.array_equal(serial.balances[v], pooled.balances[v])


@pytest.mark.parametrize("kind", ["pool", "dask"])
def test_workers_draw_the_same_plots_as_this_process(tiny, tmp_path, kind):
    run(tiny, tmp_path / "serial", Executor("serial"))
    run(tiny, tmp_path / "pool", Executor(kind, 2, "local" if kind == "dask" else ""))
    names = sorted(p.name for p in (tmp_path / "serial" / "plots").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "pool" / "plots").iterdir())
    assert "heatmap-cost.png" in names
    assert "balance-bands.png" in names
    for name in names:
        a = (tmp_path / "serial" / "plots" / name).read_bytes()
        assert a == (tmp_path / "pool" / "plots" / name).read_bytes(), name
    assert not (tmp_path / "pool" / ".plots.tmp").exists()


def test_a_full_disk_while_plotting_leaves_no_scratch_folder(tiny, tmp_path, monkeypatch):
    import errno

    import sim.reports.plots as plots

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plots, "plot_frontier", full_disk)
    with pytest.raises(OSError, match="No space left"):
        run(tiny, tmp_path / "sweep", Executor("serial"))
    assert not (tmp_path / "sweep" / ".plots.tmp").exists()
    assert (tmp_path / "sweep" / "manifest.json").exists()  # the batches stay, resumable


def test_work_beside_a_pool_runs_on_its_idle_workers_or_else_here():
    import os

    from sim.experiments.executors import Batch

    ex = Executor("pool", 2)
    assert ex.beside(os.getpid)() == os.getpid()  # no pool open: run here, at once
    with ex.kept_open():
        ex.map(_square_batches, [], ([], None, False), lambda b, r: None)
        assert ex.beside(os.getpid)() == os.getpid()  # a pool with no workers yet: here
        got = []
        ex.map(_square_batches, [Batch(3, 1)], ([], None, False), lambda b, r: got.append(r))
        assert got == [9]
        assert ex.beside(os.getpid)() != os.getpid()  # now on one of its idle workers
        wait = ex.beside(divmod, 1, 0)
        with pytest.raises(ZeroDivisionError):  # raised where it is awaited
            wait()


def test_a_pools_job_file_is_private_and_goes_with_the_pool():
    import os
    import stat

    from sim.experiments.executors import Batch

    ex = Executor("pool", 2)
    got = []
    with ex.kept_open():
        ex.map(
            _square_batches,
            [Batch(2, 1), Batch(5, 1)],
            ([], None, False),
            lambda b, r: got.append(r),
        )
        job = ex._job_file
        assert job is not None
        assert job.is_file()
        assert stat.S_IMODE(job.parent.stat().st_mode) == 0o700  # this user's alone
        assert job.parent.name.startswith(f"ccsim-pool-{os.getpid()}-")  # found if stale
    assert sorted(got) == [4, 25]  # both workers loaded the job from it
    assert not job.parent.exists()  # removed with the pool
    assert ex._job_file is None


def test_job_folders_of_killed_processes_are_removed_and_live_ones_kept(tmp_path):
    import os
    import subprocess
    import sys

    from sim.experiments.executors import JOB_PREFIX, remove_stale_jobs

    # A process writes its job folder as a pool's parent does, then is killed with SIGKILL.
    script = (
        "import os, signal, sys, tempfile\n"
        f"d = tempfile.mkdtemp(prefix='{JOB_PREFIX}' + str(os.getpid()) + '-', dir=sys.argv[1])\n"
        "open(os.path.join(d, 'job.pickle'), 'wb').write(b'x' * 1000)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)])
    assert done.returncode == -9
    (stale,) = tmp_path.iterdir()
    assert (stale / "job.pickle").is_file()  # nothing removed it
    live = tmp_path / f"{JOB_PREFIX}{os.getpid()}-abc"
    live.mkdir()
    other = tmp_path / "ccsim-pool-notapid"
    other.mkdir()
    assert remove_stale_jobs(tmp_path) == [stale]
    assert not stale.exists()
    assert live.is_dir()
    assert other.is_dir()
    assert remove_stale_jobs(tmp_path / "missing") == []


def _square_batches(variants, tariffs, batch, replay):
    return batch.first**2


def test_a_selection_on_dask_keeps_one_local_cluster(tiny, tmp_path, monkeypatch):
    import dask.distributed

    started = []
    real_cluster = dask.distributed.LocalCluster

    def counted(*args, **kwargs):
        started.append(1)
        return real_cluster(*args, **kwargs)

    serial, *_ = run(tiny, tmp_path / "serial", Executor("serial"), refine=True)
    monkeypatch.setattr(dask.distributed, "LocalCluster", counted)
    ex = Executor("dask", 2, "local")
    dasked, *_ = run(tiny, tmp_path / "dask", ex, refine=True)
    assert len(started) == 1
    assert ex._client is None  # closed with the run
    assert ex._cluster is None
    pd.testing.assert_frame_equal(serial.runs, dasked.runs, check_exact=True)


class _Closable:
    def __init__(self, closed):
        self.closed = closed

    def close(self):
        self.closed.append(self)


def test_a_local_cluster_starts_while_the_work_is_prepared(monkeypatch):
    import threading
    import time

    from sim.experiments.executors import Executor as Ex

    started = threading.Event()
    closed = []

    def slow_connect(self):
        started.set()
        time.sleep(0.2)
        self._client, self._cluster = _Closable(closed), _Closable(closed)

    monkeypatch.setattr(Ex, "_connect", slow_connect)
    ex = Ex("dask", 2, "local")
    with ex.kept_open():
        assert started.wait(5)  # began at once, on its own thread
        assert ex._dask_client() is ex._client  # waited for, then kept
    assert len(closed) == 2  # client and cluster closed with the block
    # Ctrl-C while the cluster is still starting: its start is awaited, then closed.
    started.clear()
    closed.clear()

    def interrupted():
        with ex.kept_open():
            assert started.wait(5)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert len(closed) == 2
    assert ex._client is None
    assert ex._cluster is None


def test_a_local_cluster_that_fails_to_start_fails_where_it_is_used(monkeypatch):
    from sim.experiments.executors import Executor as Ex

    def broken(self):
        raise OSError("no room for a scheduler")

    monkeypatch.setattr(Ex, "_connect", broken)
    ex = Ex("dask", 2, "local")
    with ex.kept_open():
        with pytest.raises(OSError, match="no room"):
            ex._dask_client()
        assert ex._start_error is None  # raised once, not kept


def test_a_kept_pool_is_reused_only_for_the_same_job():
    ex = Executor("pool", 2)
    variants, tariffs = [object(), object(), object()], object()
    assert ex._selection(len, (variants, tariffs, True)) is None  # no pool open yet
    ex._pool, ex._job = object(), (len, (variants, tariffs, True))
    assert ex._selection(len, ([variants[2], variants[0]], tariffs, True)) == (2, 0)
    assert ex._selection(len, (variants, tariffs, True)) == (0, 1, 2)
    assert ex._selection(len, ([object()], tariffs, True)) is None  # not one of them
    assert ex._selection(len, (variants, object(), True)) is None  # other rate tables
    assert ex._selection(len, (variants, tariffs, False)) is None  # traffic not replayed
    assert ex._selection(min, (variants, tariffs, True)) is None  # another task


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
    paired = (cost[1] - cost[0]).abs().to_numpy()
    # Independent runs: pair replication i of one setting with i + 6 of the other.
    independent = np.abs(cost[1].to_numpy()[6:] - cost[0].to_numpy()[:6])
    # On the same calls the two triggers charge exactly the same unless an outage refuses
    # calls under one of them (rare); independent runs never charge the same.
    assert (paired == 0).sum() >= 9
    assert (independent > 0).all()
    assert np.median(paired) < 0.05 * np.median(independent)


def test_summary_matches_a_direct_computation_per_setting():
    # Three settings; setting 2 has extra replications (as after refinement), the
    # baseline (0) misses replication 3, so paired differences use common ones only.
    from dataclasses import replace

    from sim.scenario.costs import Costs, RefusedCallCosts

    rng = np.random.default_rng(5)
    keys = [(0, r) for r in (0, 1, 2, 4)] + [(1, r) for r in range(5)] + [(2, r) for r in range(7)]
    n = len(keys)
    runs = pd.DataFrame(
        {
            "variant": [v for v, _ in keys],
            "replication": [r for _, r in keys],
            "horizon_days": 182.625,  # half a year: totals double to a year
            "outage": rng.random(n) < 0.4,
            "forfeited_micros": rng.integers(0, 10**9, n),
            "mean_balance_micros": rng.integers(0, 10**10, n),
            "recharges_settled": rng.integers(0, 30, n),
            "recharges_requested": rng.integers(0, 30, n),
            "card_charges": rng.integers(0, 40, n),
            "invoices": rng.integers(0, 30, n),
            "purchased_auto_micros": rng.integers(0, 10**10, n),
            "purchased_manual_micros": rng.integers(0, 10**9, n),
            "outage_hours": rng.random(n) * 10,
            "blocked_toll_free": rng.integers(0, 50, n),
            "blocked_international": rng.integers(0, 5, n),
        }
    )
    costs = Costs(
        card_charge=Micros(1_000_000),
        card_charge_share=0.01,
        invoice=Micros(5_000_000),
        annual_rate=0.05,
        outage_hour=Micros(100_000_000),
        refused_call=RefusedCallCosts(toll_free=Micros(2_000_000)),
    )
    scenario = replace(load_scenario(REPO / "scenarios" / "default.toml").scenario, costs=costs)
    variants = [sweeps.Variant(i, (("recharge.trigger", str(10 * i)),), scenario) for i in range(3)]
    result = sweeps.SweepResult(variants, runs, {}, list(range(7)))
    summary = sweeps.summarise(result, baseline=0).set_index("variant")

    def cost_of(r: pd.DataFrame) -> pd.Series:
        per_year = 2.0
        return (
            per_year * (r["card_charges"] * 1e6)
            + per_year * 0.01 * (r["purchased_auto_micros"] + r["purchased_manual_micros"])
            + per_year * r["invoices"] * 5e6
            + 0.05 * r["mean_balance_micros"]
            + per_year * r["forfeited_micros"]
            + per_year * r["outage_hours"] * 100e6
            + per_year * r["blocked_toll_free"] * 2e6
        )

    base = runs[runs["variant"] == 0].set_index("replication")
    for v in range(3):
        r = runs[runs["variant"] == v].set_index("replication")
        cost = cost_of(r)
        row = summary.loc[v]
        assert row["replications"] == len(r)
        assert row["p_outage"] == r["outage"].mean()
        assert row["annual_cost_micros"] == pytest.approx(cost.mean(), rel=1e-12)
        assert row["annual_cost_se_micros"] == pytest.approx(cost.std() / np.sqrt(len(r)), rel=1e-9)
        assert row["mean_cost_invoices_micros"] == pytest.approx(2 * 5e6 * r["invoices"].mean())
        assert row["mean_recharges_settled"] == pytest.approx(r["recharges_settled"].mean())
        common = r.index.intersection(base.index)
        d = cost.loc[common] - cost_of(base).loc[common]
        assert row["diff_annual_cost_micros"] == pytest.approx(d.mean(), rel=1e-9, abs=1e-6)
        if v:
            assert row["diff_annual_cost_se_micros"] == pytest.approx(
                d.std() / np.sqrt(len(d)), rel=1e-9
            )
        o = r["outage"].loc[common].astype(float) - base["outage"].loc[common].astype(float)
        assert row["diff_outage"] == pytest.approx(o.mean(), abs=1e-12)
        assert row["meets_constraints"]
    assert summary.loc[0, "diff_annual_cost_micros"] == 0.0


def _summary(**over):
    base = {
        "variant": [0, 1, 2, 3],
        "setting": [f"recharge.trigger={i}" for i in range(4)],
        "p_outage": [0.20, 0.02, 0.0, 0.02],
        "p_outage_low": [0.1, 0.0, 0.0, 0.0],
        "p_outage_high": [0.3, 0.04, 0.03, 0.05],
        "annual_cost_micros": [1e8, 2e8, 5e8, 3e8],
        "annual_cost_se_micros": [1e6] * 4,
        "meets_constraints": [True] * 4,
        "replications": [100] * 4,
        "mean_horizon_days": [365.0] * 4,
        "mean_card_charges": [40.0, 20.0, 5.0, 10.0],
        "diff_annual_cost_micros": [0.0, 1e8, 4e8, 2e8],
        "diff_annual_cost_se_micros": [0.0, 1e6, 1e6, 1e6],
    }
    for part in COMPONENTS:
        base[f"mean_cost_{part}_micros"] = [0.0] * 4
    base["mean_cost_invoices_micros"] = [1e8, 1e8, 0.5e8, 0.8e8]
    base["mean_cost_tied_up_micros"] = [0.0, 1e8, 4.5e8, 2.2e8]
    base.update(over)
    return pd.DataFrame(base)


def _grid(n=4):
    return recommend.Grid(
        [sweeps.Variant(i, (("recharge.trigger", str(i)),), None) for i in range(n)],  # type: ignore[arg-type]
        baseline=0,
        replay=True,
    )


def test_pareto_front_and_a_plain_sweeps_ranking():
    summary = _summary()
    assert pareto_front(summary) == [2, 1, 0]
    rec = recommend.describe_sweep(summary, _grid(), target=0.045, currency="USD")
    assert rec.chosen == 1  # the cheapest whose Wilson upper bound is under 4.5 %
    assert rec.text[0].startswith("Cheapest by sample means")
    assert "recharge.trigger=1, annual cost 200.00 USD" in rec.text[0]
    assert "no guarantee of selection is claimed" in rec.text[1]
    assert "--max-replications" not in " ".join(rec.text)  # sweep has no such option
    none = recommend.describe_sweep(summary, _grid(), target=0.001, currency="USD")
    assert none.chosen is None


def test_the_decision_states_its_guarantee_and_the_trade_off():
    from sim.experiments.selection import SelectionSettings, run_selection

    rng = np.random.default_rng(0)
    means = {0: 100.0, 1: 200.0, 2: 500.0, 3: 300.0}
    p_out = {0: 0.5, 1: 0.0, 2: 0.0, 3: 0.0}

    def sample(systems, reps):
        n = len(reps)
        common = rng.normal(0, 5, n)
        costs = {s: means[s] + common + rng.normal(0, 1, n) for s in systems}
        outs = {s: (rng.random(n) < p_out[s]).astype(float) for s in systems}
        return costs, outs

    settings = SelectionSettings(indifference=20.0, target=0.2, tolerance=0.1, first_stage=10)
    result = run_selection([0, 1, 2, 3], settings, sample, stage=10)
    assert result.chosen == 1
    assert result.guaranteed
    sweep = Sweep(max_outage=0.2, tolerance=0.1, indifference=Micros(20 * 10**6))
    rec = recommend.decide(_summary(), _grid(), result, sweep, "USD")
    text = "\n".join(rec.text)
    assert rec.chosen == 1
    assert rec.text[0] == "Recommended: recharge.trigger=1."
    assert "Guarantee: with probability at least 95% this is the cheapest" in text
    assert "at least 20.00 USD a year cheaper" in text
    assert "Andradottir & Kim (2010)" in text
    # The trade-off against the current setting (0), from the cost parts.
    assert "20 card charges a year with the recommendation instead of 40" in text
    assert "100.00 USD more in money tied up" in text


def test_the_decision_says_when_the_cap_stopped_it():
    from sim.experiments.selection import SelectionSettings, run_selection

    def sample(systems, reps):
        n = len(reps)
        return {s: np.full(n, 100.0) + s for s in systems}, {s: np.zeros(n) for s in systems}

    settings = SelectionSettings(
        indifference=0.01, target=0.01, tolerance=0.005, first_stage=5, max_replications=10
    )
    result = run_selection([0, 1, 2, 3], settings, sample, stage=5)
    assert not result.guaranteed
    sweep = Sweep(max_outage=0.01, max_replications=10)
    rec = recommend.decide(_summary(), _grid(), result, sweep, "USD")
    assert any(line.strip().startswith("No guarantee: the cap of 10") for line in rec.text)


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
            "10",
            "--refine-replications",
            "10",
            "--max-replications",
            "60",
            "--indifference",
            "1000",
            "--serial",
            "--max-outage",
            "30%",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "ccsim recommend: tiny, 4 settings" in text
    for name in ("runs", "settings", "bands", "variants"):
        assert (out / f"{name}.csv").exists()
        assert parquet_problems(out / f"{name}.parquet", name, "sweep") == [], name
    for png in ("heatmap-outage", "heatmap-cost", "heatmap-forfeited", "frontier", "balance-bands"):
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


def test_constraints_keep_settings_out_of_the_selection(tiny, tmp_path):
    import tomllib

    data = tomllib.loads(tiny.path.read_text())
    data["costs"] = {"min_amount": "200"}
    sc = write_scenario(tmp_path, data, "constrained")
    _, rec, grid = run(sc, tmp_path / "c", Executor("serial"), reps=10, refine=True)
    assert rec.selection is not None
    small = [v.variant for v in grid.variants if v.scenario.recharge.amount < 200 * 10**6]
    assert small
    assert all(v not in rec.selection.status for v in small)
    settings = pd.read_parquet(tmp_path / "c" / "settings.parquet")
    assert set(settings.loc[settings["variant"].isin(small), "feasibility"]) == {"not considered"}
    assert rec.chosen not in small


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", "manifest is not valid JSON (line 1, column 2"),
        ("[1, 2]", "manifest is not a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"scenario": {"name": "tiny"}, "seed": 1}', "not a sweep folder (a run folder)"),
    ],
)
def test_a_folder_that_is_no_sweep_is_refused_in_one_line(
    tiny, tmp_path, capsys, manifest, message
):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "manifest.json").write_text(manifest)
    args = ["sweep", str(tiny.path), "--trigger", "100", "--amount", "300", "--serial", "-q"]
    assert main([*args, "--resume", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    if "sweep folder" not in message:  # the report page reads the manifest the same way
        assert main(["report", str(folder)]) == 2
        assert message in capsys.readouterr().err


def test_empty_option_values_are_refused(tiny, tmp_path, capsys):
    for args, option in [
        (["run", str(tiny.path), "--out", ""], "--out"),
        (["sweep", str(tiny.path), "--trigger", "", "--serial"], "--trigger"),
        (["recommend", str(tiny.path), "--amount= ", "--serial"], "--amount"),
        (["run", ""], "scenario"),
    ]:
        assert main(args) == 2
        assert (
            capsys.readouterr().err.strip()
            == f"{option}: empty; give a value or leave the option out"
        )
    assert not (REPO / "results").joinpath("tiny").exists()

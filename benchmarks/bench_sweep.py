"""Benchmark sweep throughput: a 20 x 20 grid of a 500-user tenant-year.

Prints replication-policies per second for each executor (serial, local process pool,
Dask LocalCluster) and the time the whole grid would take; asserts nothing.

    .venv/bin/python benchmarks/bench_sweep.py                     # 2 replications each
    .venv/bin/python benchmarks/bench_sweep.py --replications 100  # the full goal
    .venv/bin/python benchmarks/bench_sweep.py --replications 100 --warm-up 0  # one year
    .venv/bin/python benchmarks/bench_sweep.py --replications 100 --pairs 3    # pool vs Dask

``--pairs N`` runs the pool and the Dask ``LocalCluster`` in turn, N times each, and prints
each pair's ratio and the median: on a shared machine the speed drifts by a tenth within
minutes, so one run of each says little about the executors.

By default every run simulates the sweep's default warm-up year before the measured
year (two years per run, ``[sweep].warm_up``); ``--warm-up 0`` measures the year alone.

Each replication's traffic is drawn and rated once and replayed against all 400
settings, so throughput is measured per replication-policy (one policy-year).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import tomli_w

from sim.core.units import Seconds
from sim.core.workers import keep_large_arrays_in_the_heap
from sim.engine import RatedTraffic, fewer_collections, run_replication
from sim.engine.results import outcome_row
from sim.experiments.executors import Executor
from sim.experiments.recommend import run as run_sweep
from sim.experiments.sweeps import build_variants, read_raw, steady
from sim.scenario.loading import LoadedScenario, load_scenario
from sim.scenario.model import Sweep

HERE = Path(__file__).resolve().parent
SETTINGS = {"recharge.trigger": "250:5000:250", "recharge.amount": "500:10000:500"}


def tenant_500(folder: Path) -> Path:
    data = tomllib.loads((HERE / "tenant-10k.toml").read_text())
    for g in data["user_groups"]:
        g["count"] = max(1, round(g["count"] * 0.05))
        for key in ("conferencing_assigned", "conferencing_purchased"):
            if key in g:
                g[key] = max(1, round(g[key] * 0.05))
    for s in data["traffic"]["services"].values():
        s["calls_per_day"] *= 0.05
    for key, rel in data["tariffs"].items():
        if isinstance(rel, str):  # a rate table, not allow_outside
            data["tariffs"][key] = str((HERE / rel).resolve())
    data["simulation"]["name"] = "tenant-500"
    data["funding"].update(initial_funds="2000", low_balance="1000")
    data["admin"]["top_up"] = "1000"
    path = folder / "tenant-500.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def per_replication(loaded: LoadedScenario, warm_up_s: float) -> None:
    """Print the two costs of a sweep: drawing one replication, and one policy run."""
    variants = [
        replace(v, scenario=steady(v.scenario, warm_up_s))
        for v in build_variants(read_raw(loaded.path), SETTINGS)
    ]
    draw_s, walk_ms = [], []
    keep_large_arrays_in_the_heap()  # as the CLI and every pool worker do (``_single_threaded``)
    with fewer_collections():  # as the sweep's batches run them (``run_batch``)
        for rep in range(3):
            cache = RatedTraffic()
            t = time.perf_counter()
            run_replication(variants[0].scenario, loaded.tariffs, rep, rated=cache, lean=True)
            draw_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            for v in variants[1::4]:
                outcome_row(
                    run_replication(v.scenario, loaded.tariffs, rep, rated=cache, lean=True)
                )
            walk_ms.append((time.perf_counter() - t) / len(variants[1::4]) * 1000)
    print(
        f"  one replication: draw, rate and first walk {min(draw_s):.2f} s; "
        f"then {min(walk_ms):.2f} ms per policy run, warm-up included (best of 3)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=2)
    parser.add_argument("--executors", default="serial,pool,dask")
    parser.add_argument(
        "--warm-up", type=float, default=365.0, help="warm-up days per run (default 365)"
    )
    parser.add_argument(
        "--pairs", type=int, default=0, help="alternate pool and Dask this many times each"
    )
    args = parser.parse_args()
    if args.pairs:
        args.executors = ",".join(["pool", "dask"] * args.pairs)
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_scenario(tenant_500(Path(tmp)))
        n_settings = 20 * 20
        print(
            f"500-user tenant-year, {n_settings} settings x {args.replications} "
            f"replications, {args.warm_up:g} warm-up days per run; {workers} cores"
        )
        per_replication(loaded, args.warm_up * 86_400.0)
        walls: dict[str, list[float]] = {}
        for k, kind in enumerate(args.executors.split(",")):
            executor = Executor(
                kind, 1 if kind == "serial" else workers, "local" if kind == "dask" else ""
            )
            sweep = Sweep(
                settings=SETTINGS,
                replications=max(2, args.replications),
                batch_size=1,
                max_outage=0.05,
                warm_up=Seconds(args.warm_up * 86_400.0),
            )
            t = time.perf_counter()
            result, _, grid = run_sweep(
                loaded,
                settings=SETTINGS,
                sweep=sweep,
                executor=executor,
                folder=Path(tmp) / f"{kind}-{k}",
                refine=False,
            )
            wall = time.perf_counter() - t
            walls.setdefault(kind, []).append(wall)
            runs = len(result.runs)
            rate = runs / wall
            full = len(grid.variants) * 100 / rate
            print(
                f"  {kind:6s}: {runs:6d} replication-policies in {wall:7.1f} s = "
                f"{rate:7.1f}/s; the 20 x 20 x 100 grid would take ~{full:.0f} s (goal <= 60 s)"
            )
        pool, dask = walls.get("pool", []), walls.get("dask", [])
        if args.pairs and len(pool) == len(dask):
            ratios = [d / p for p, d in zip(pool, dask, strict=True)]
            shown = ", ".join(f"{r:.3f}" for r in ratios)
            print(
                f"  Dask / pool by pair: {shown}; median {statistics.median(ratios):.3f} "
                f"(goal <= 1.10); median pool {statistics.median(pool):.1f} s, "
                f"Dask {statistics.median(dask):.1f} s"
            )


if __name__ == "__main__":
    main()

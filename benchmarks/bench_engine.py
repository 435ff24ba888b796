"""Benchmark the engine: a 10,000-user tenant-year, scaling, and the naive engine.

Prints figures; asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/bench_engine.py            # everything (a few minutes)
    .venv/bin/python benchmarks/bench_engine.py --quick    # fewer repeats, no 30k tenant

1. Whole process: ``ccsim run benchmarks/tenant-10k.toml`` in a fresh interpreter
   (imports, simulation, tables, Parquet/CSV, plots), wall time and peak memory
   (max RSS), median of several runs.
2. Scaling: the engine alone (one replication, in a fresh interpreter) for 1k, 10k and
   30k users over a year: wall time, calls per second, peak memory.
3. Naive engine (one SimPy process per user and per call, ``naive_engine.py``) against
   the batched engine on the same smaller tenant, and the naive time extrapolated to
   the 10k tenant-year by calls.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASE = HERE / "tenant-10k.toml"

ENGINE_ONLY = r"""
import json, resource, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
from sim.core.workers import keep_large_arrays_in_the_heap
keep_large_arrays_in_the_heap()  # as ``ccsim run`` does: freed arrays are reused
from sim.scenario.loading import load_scenario
loaded = load_scenario(sys.argv[1])
if sys.argv[2] == "naive":
    from naive_engine import run_naive
    t = time.perf_counter()
    out = run_naive(loaded.scenario, loaded.tariffs, 0)
    calls = out.calls_total
else:
    from sim.engine import run_replication
    t = time.perf_counter()
    out = run_replication(loaded.scenario, loaded.tariffs, 0)
    calls = out.calls_total
run_s = time.perf_counter() - t
print(json.dumps({{"run_s": run_s, "process_s": time.perf_counter() - t0, "calls": calls,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def scaled(scale: float, horizon: str, folder: Path) -> Path:
    """Write the benchmark tenant scaled by ``scale`` (users and service traffic)."""
    data = tomllib.loads(BASE.read_text())
    data["simulation"]["horizon"] = horizon
    for g in data["user_groups"]:
        g["count"] = max(1, round(g["count"] * scale))
        for key in ("conferencing_assigned", "conferencing_purchased"):
            if key in g:
                g[key] = max(1, round(g[key] * scale))
    for s in data["traffic"]["services"].values():
        s["calls_per_day"] = s["calls_per_day"] * scale
    for key, rel in data["tariffs"].items():
        if isinstance(rel, str):  # a rate table, not allow_outside
            data["tariffs"][key] = str((HERE / rel).resolve())
    path = folder / f"tenant-{scale:g}-{horizon}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def engine_only(path: Path, engine: str = "batched") -> dict[str, float]:
    code = ENGINE_ONLY.format(bench=str(HERE))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), engine],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def whole_process(path: Path, out_root: Path, k: int) -> tuple[float, float]:
    """Wall time and max RSS (MiB) of one complete ``ccsim run`` in a new process."""
    ccsim = Path(sys.executable).parent / "ccsim"
    t = time.perf_counter()
    proc = subprocess.Popen(
        [str(ccsim), "run", str(path), "-q", "--out", str(out_root / f"run{k}")],
        stdout=subprocess.DEVNULL,
        cwd=REPO,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"ccsim run failed with status {status}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 30k tenant")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tenant = scaled(1.0, "365d", folder)
        print("\n1. whole process: ccsim run on the 10,000-user tenant-year")
        walls, rss = [], []
        for k in range(repeats):
            w, r = whole_process(tenant, folder, k)
            walls.append(w)
            rss.append(r)
            print(f"   run {k + 1}: {w:6.2f} s, peak {r:6.0f} MiB")
        print(f"   median {statistics.median(walls):.2f} s, peak memory max {max(rss):.0f} MiB")

        print("\n2. scaling (engine only, one replication, fresh interpreter; median of 3)")
        print("   users      calls    run s   calls/s   peak MiB")
        scales = [0.1, 1.0] if args.quick else [0.1, 1.0, 3.0]
        for scale in scales:
            path = scaled(scale, "365d", folder)
            runs = [engine_only(path) for _ in range(3 if scale <= 1 else 1)]
            run_s = statistics.median(r["run_s"] for r in runs)
            calls = runs[0]["calls"]
            mib = max(r["rss_mib"] for r in runs)
            print(
                f"   {round(10_000 * scale):6d} {calls:10,.0f} {run_s:8.2f} "
                f"{calls / run_s:9,.0f} {mib:9.0f}"
            )

        print("\n3. naive engine (one SimPy process per user and per call) vs batched")
        small = scaled(0.02, "60d", folder)  # 200 users, 60 days
        naive = engine_only(small, "naive")
        fast = engine_only(small, "batched")
        print(
            f"   200 users x 60 days: {naive['calls']:,.0f} calls; "
            f"naive {naive['run_s']:.2f} s ({naive['calls'] / naive['run_s']:,.0f} calls/s), "
            f"batched {fast['run_s']:.3f} s ({fast['calls'] / fast['run_s']:,.0f} calls/s)"
        )
        year = engine_only(tenant)
        est = year["calls"] / (naive["calls"] / naive["run_s"])
        print(
            f"   10k tenant-year ({year['calls']:,.0f} calls): batched {year['run_s']:.2f} s; "
            f"naive extrapolated by calls {est:,.0f} s ({est / year['run_s']:,.0f}x slower)"
        )


if __name__ == "__main__":
    main()

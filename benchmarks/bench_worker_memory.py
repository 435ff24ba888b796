"""Measure what one sweep task needs on a worker: its time and the process's peak memory.

Prints figures; asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/bench_worker_memory.py

A task is one batch: here one replication of every setting of the 20 x 20 grid of
``bench_sweep.py`` (401 settings, the 500-user tenant, two simulated years each with the
default warm-up), run in a fresh process as a Dask or pool worker would, then the same for
one replication of ``scenarios/default.toml``'s own sweep (26 settings).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def task(scenario: Path, settings: dict[str, str] | None) -> tuple[int, float, int]:
    """Run one batch of one replication; return settings, seconds and payload bytes."""
    from sim.experiments.executors import Batch
    from sim.experiments.sweeps import build_variants, read_raw, run_batch, steady
    from sim.scenario.loading import load_scenario

    loaded = load_scenario(scenario)
    sweep = loaded.scenario.sweep
    chosen = settings or (dict(sweep.settings) if sweep else {})
    warm = float(sweep.warm_up) if sweep else 365 * 86_400.0
    variants = [
        replace(v, scenario=steady(v.scenario, warm))
        for v in build_variants(read_raw(loaded.path), chosen)
    ]
    t0 = time.perf_counter()
    runs, balances = run_batch(variants, loaded.tariffs, Batch(0, 1), True)
    wall = time.perf_counter() - t0
    return len(variants), wall, int(runs.memory_usage(deep=True).sum() + balances.nbytes)


def main() -> None:
    if len(sys.argv) > 1:  # the child: one task, then its peak memory
        which = sys.argv[1]
        with tempfile.TemporaryDirectory() as tmp:
            if which == "bench":
                from bench_sweep import SETTINGS, tenant_500

                n, wall, size = task(tenant_500(Path(tmp)), SETTINGS)
            else:
                n, wall, size = task(HERE.parent / "scenarios" / "default.toml", None)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{which}: {n} settings x 1 replication in {wall:.2f} s; returns "
            f"{size / 2**20:.1f} MiB; worker peak {peak:.0f} MiB"
        )
        return
    import subprocess

    for which in ("bench", "default"):
        done = subprocess.run(
            [sys.executable, __file__, which], capture_output=True, text=True, check=True
        )
        print(done.stdout.strip())


if __name__ == "__main__":
    main()

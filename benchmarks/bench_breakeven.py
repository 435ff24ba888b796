"""Benchmark the break-even search of ``ccsim compare`` on the multinational scenario.

Prints the wall time and the answer; asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/bench_breakeven.py [--replications 4] [--workers 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.reports.breakeven import breakeven
from sim.reports.licences import find_prices
from sim.scenario.loading import load_scenario

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "multinational.toml"


def main() -> int:
    """Time one break-even search and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    loaded = load_scenario(SCENARIO)
    prices = find_prices(loaded)
    t0 = time.perf_counter()

    def progress(done: int, planned: int) -> None:
        print(f"  {done}/{planned} traffic levels, {time.perf_counter() - t0:.1f} s", flush=True)

    be = breakeven(
        loaded, prices, replications=args.replications, workers=args.workers, progress=progress
    )
    wall_s = time.perf_counter() - t0
    print(f"break-even, {SCENARIO.name}, {args.replications} replications, {args.workers} workers")
    print(f"  {len(be.grid) // 2} traffic levels simulated in {wall_s:.1f} s")
    print(f"  {be.text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

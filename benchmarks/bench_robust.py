"""Benchmark decisions under uncertainty: a robust recommendation and a sensitivity study.

Prints figures; asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/bench_robust.py                 # both, default scenario
    .venv/bin/python benchmarks/bench_robust.py --only robust

1. ``ccsim recommend --robust`` on the scenario's [sweep] grid (25 settings on the
   default scenario, plus the current one when it is off the grid) x its [uncertainties]
   futures (200), one replication per future, after the sweep's warm-up (a year).
   Goal: at most 3 minutes on 2 cores.
2. ``ccsim sensitivity`` with the scenario's uncertainties (4 on the default scenario):
   Morris screening, then Sobol' indices, 4 replications per design point.

Each runs in a fresh process (imports included); the figures come from its run folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _run(command: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stdout, done.stderr)
        raise SystemExit(f"{' '.join(command[1:3])} failed with status {done.returncode}")
    print(done.stdout)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(REPO / "scenarios" / "default.toml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=("robust", "sensitivity"))
    parser.add_argument("--n-base", type=int, default=64)
    args = parser.parse_args()
    ccsim = str(Path(sys.executable).parent / "ccsim")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "robust"):
            out = Path(tmp) / "robust"
            wall = _run(
                [
                    ccsim,
                    "recommend",
                    args.scenario,
                    "--robust",
                    "--workers",
                    str(args.workers),
                    "--out",
                    str(out),
                    "-q",
                ]
            )
            m = json.loads((out / "manifest.json").read_text())
            print(
                f"robust: {m['settings']} settings x {m['futures']} futures x "
                f"{m['replications_per_future']} replication(s), warm-up {m['warm_up_days']:g} d: "
                f"{wall:.1f} s on {args.workers} worker(s) (goal: 180 s)\n"
            )
        if args.only in (None, "sensitivity"):
            out = Path(tmp) / "sensitivity"
            wall = _run(
                [
                    ccsim,
                    "sensitivity",
                    args.scenario,
                    "--workers",
                    str(args.workers),
                    "--n-base",
                    str(args.n_base),
                    "--out",
                    str(out),
                    "-q",
                ]
            )
            m = json.loads((out / "manifest.json").read_text())
            print(
                f"sensitivity: {len(m['inputs'])} inputs, {m['points_simulated']} design points "
                f"x {m['replications_per_point']} replications, warm-up {m['warm_up_days']:g} d: "
                f"{wall:.1f} s on {args.workers} worker(s)"
            )


if __name__ == "__main__":
    main()

"""Benchmark the recommendation: ``ccsim recommend`` on a scenario, time and replications.

Prints figures; asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/bench_recommend.py                       # default.toml, 1 %
    .venv/bin/python benchmarks/bench_recommend.py --max-outage 5% --workers 2

Runs the command in a fresh process (imports included), then reads the run folder's
manifest: the wall time and the CPU time of the command and its workers, the stages, the
replications spent per setting and in all, and whether the answer carries its guarantee.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(REPO / "scenarios" / "default.toml"))
    parser.add_argument("--max-outage", default="1%")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="more ccsim recommend options, after --")
    args = parser.parse_args()
    ccsim = Path(sys.executable).parent / "ccsim"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rec"
        command = [
            str(ccsim),
            "recommend",
            args.scenario,
            "--max-outage",
            args.max_outage,
            "--workers",
            str(args.workers),
            "--out",
            str(out),
            "-q",
            *args.extra,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The command and its worker processes (reaped by it): a figure that drifts less
        # than the wall time when the machine is shared.
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"command: {' '.join(command[1:])}")
        if done.returncode != 0:
            print(done.stdout, done.stderr)
            raise SystemExit(f"ccsim recommend failed with status {done.returncode}")
        manifest = json.loads((out / "manifest.json").read_text())
        sel = manifest.get("selection", {})
        reps = {int(k): v for k, v in sel.get("replications", {}).items()}
        print(f"wall time: {wall:.1f} s on {args.workers} worker(s); CPU time: {cpu:.1f} s")
        print(f"peak memory of one process: {after.ru_maxrss / 1024:.0f} MiB")
        print(f"settings: {manifest['variants']}, stages: {sel.get('stages')}")
        if reps:
            print(
                f"replications: {sum(reps.values()):,} in all, "
                f"{min(reps.values())} to {max(reps.values())} per setting"
            )
        print(f"guarantee holds: {sel.get('guaranteed')}; recommended: {sel.get('chosen')}")
        print(done.stdout)


if __name__ == "__main__":
    main()

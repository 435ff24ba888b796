"""Benchmark how a tenant-year scales with users: 10k, 100k and 1M users.

Prints figures; asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/bench_scale.py                       # 10k, 100k, 1M
    .venv/bin/python benchmarks/bench_scale.py --users 10000,100000  # a quicker check

Each size is ``benchmarks/tenant-10k.toml`` with every group (and the support line's
calls) scaled, run as a whole process, ``ccsim run`` with tables, charts and the report
page: the wall time, the CPU time and the peak memory (max RSS) of the process are
printed, then the exponents of time and memory against users x days fitted by least
squares on log-log axes (1.0 is linear). The goal for a million users: at most 5 minutes
and 4 GiB.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench_engine import scaled  # noqa: E402  (the benchmarks folder, as a script)


def scaled_tenant(folder: Path, users: int) -> Path:
    """Write the 10k tenant scaled to ``users`` users; return its path."""
    base = tomllib.loads((HERE / "tenant-10k.toml").read_text())
    factor = users / sum(g["count"] for g in base["user_groups"])
    data = tomllib.loads(scaled(factor, "365d", folder).read_text())
    data["simulation"]["name"] = f"tenant-{users}"
    # Funds and the trigger grow with the tenant, so the account behaves alike.
    money = {"funding": ("initial_funds", "low_balance"), "recharge": ("trigger", "amount")}
    for section, keys in money.items():
        for key in keys:
            if key in data[section]:
                value = float(data[section][key]) * max(1.0, factor)
                data[section][key] = str(round(value))
    path = folder / f"tenant-{users}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def run_one(scenario: Path, out: Path) -> tuple[float, float, float, int]:
    """Return wall s, CPU s (user + system), peak RSS MiB and the calls simulated."""
    ccsim = Path(sys.executable).parent / "ccsim"
    command = ["/usr/bin/time", "-f", "cpu_s=%U+%S maxrss_kib=%M", str(ccsim), "run"]
    command += [str(scenario), "--out", str(out), "-q", "--json"]
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit(f"ccsim run failed with status {done.returncode}")
    line = [x for x in done.stderr.splitlines() if x.startswith("cpu_s=")][-1]
    cpu_text, rss_text = line.split()
    user, system = cpu_text.split("=")[1].split("+")
    calls = int(json.loads(done.stdout)["mean"]["calls"])
    return wall, float(user) + float(system), int(rss_text.split("=")[1]) / 1024, calls


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) on log(x)."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    num = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True))
    den = sum((a - mx) ** 2 for a in lx)
    return num / den


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="10000,100000,1000000")
    args = parser.parse_args()
    sizes = [int(x) for x in args.users.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for users in sizes:
            scenario = scaled_tenant(Path(tmp), users)
            wall, cpu, rss, calls = run_one(scenario, Path(tmp) / f"run-{users}")
            rows.append((users, calls, wall, cpu, rss))
            print(
                f"{users:>9,} users, 365 days: {calls / 1e6:8.1f} M calls, {wall:7.1f} s wall, "
                f"{cpu:7.1f} s CPU, peak {rss:7.0f} MiB",
                flush=True,
            )
    if len(rows) >= 2:
        xs = [float(r[0]) for r in rows]
        for k, what in ((2, "wall time"), (3, "CPU time"), (4, "peak memory")):
            fitted = slope(xs, [float(r[k]) for r in rows])
            print(f"exponent of {what} against users x days: {fitted:.2f}")
    big = [r for r in rows if r[0] >= 1_000_000]
    for users, _, wall, _, rss in big:
        print(
            f"goal for {users:,} users: <= 300 s and <= 4096 MiB; measured {wall:.0f} s and "
            f"{rss:.0f} MiB"
        )


if __name__ == "__main__":
    main()

"""Import speed and memory: a 1,000,000-row PSTN call log, imported in a child process.

Generates a synthetic log (``sim.calllogs.synthetic``: the default scenario's traffic, rated, with
fake users) in a temporary folder, repeated with shifted dates and fresh ids up to
``--rows`` rows, then imports it in a fresh Python process -- once streaming into a
Parquet call table (``ccsim import-log``) and once into one in-memory table (what
``fit``, ``replay`` and ``reconcile`` hold) -- and prints rows per second and the child's
peak resident memory.

    .venv/bin/python benchmarks/bench_import.py [--rows N] [--format graph-csv|admin-csv|graph-json]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sim.calllogs.synthetic import ADMIN_COLUMNS, GRAPH_FIELDS, synthesize_log  # noqa: E402
from sim.scenario.loading import load_scenario  # noqa: E402

LIMIT_BYTES = 1 << 30

CHILD = r"""
import json, resource, sys, time
from sim.calllogs.reader import read_call_log, write_call_table
from sim.calllogs.report import ImportOptions
path, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
options = ImportOptions(salt="bench-key-0123456")
t0 = time.perf_counter()
if mode == "parquet":
    report = write_call_table(path, out, options)
    rows = report.imported
else:
    calls, report = read_call_log(path, options)
    rows = len(calls)
wall = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "bad": report.bad, "wall_s": wall, "peak_kib": peak_kib}))
"""


def base_rows(days: int) -> pd.DataFrame:
    loaded = load_scenario(REPO / "scenarios" / "default.toml")
    assert loaded.tariffs is not None
    log = synthesize_log(loaded.scenario, loaded.tariffs, np.random.default_rng(1), days=days)
    return log.rows


def write_log(rows: pd.DataFrame, n: int, fmt: str, path: Path, days: int) -> int:
    """Write ``n`` rows: copies of ``rows`` shifted by ``days`` each, with fresh ids."""
    start = pd.to_datetime(rows["startDateTime"], utc=True)
    end = pd.to_datetime(rows["endDateTime"], utc=True)
    base = rows.astype(object).where(rows.notna(), None)
    written = 0
    copy = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        if fmt == "graph-json":
            f.write("[\n")
        w = csv.writer(f)
        if fmt == "graph-csv":
            w.writerow(GRAPH_FIELDS)
        elif fmt == "admin-csv":
            w.writerow(ADMIN_COLUMNS)
        while written < n:
            take = min(len(base), n - written)
            part = base.iloc[:take].copy()
            shift = pd.Timedelta(days=days * copy)
            part["startDateTime"] = (start[:take] + shift).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            part["endDateTime"] = (end[:take] + shift).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            part["id"] = part["id"] + f"-{copy}"
            part["callId"] = part["callId"] + f"-{copy}"
            if fmt == "graph-csv":
                w.writerows(part[list(GRAPH_FIELDS)].fillna("").itertuples(index=False))
            elif fmt == "admin-csv":
                admin = pd.DataFrame(
                    {
                        "Time stamp (UTC)": part["startDateTime"].str.slice(0, 19),
                        "Display name": part["userDisplayName"],
                        "Username": part["userPrincipalName"],
                        "Phone number": part["calleeNumber"],
                        "Call type": part["callType"],
                        "Called to": part["calleeNumber"],
                        "To country or region": part["destinationName"],
                        "Called from": part["callerNumber"],
                        "From country or region": "",
                        "Charge": part["charge"],
                        "Currency": part["currency"],
                        "Duration": part["duration"],
                        "Domestic/International": part["destinationContext"],
                        "Call ID": part["callId"],
                        "Number type": part["inventoryType"],
                        "Country or region": part["usageCountryCode"],
                        "Conference ID": part["conferenceId"],
                        "Capability": part["licenseCapability"],
                    }
                )
                w.writerows(admin.fillna("").itertuples(index=False))
            else:
                page = [
                    {k: (None if v is None else v) for k, v in r.items()}
                    for r in part.to_dict("records")
                ]
                sep = ",\n" if written else ""
                f.write(sep + json.dumps({"value": page}))
            written += take
            copy += 1
        if fmt == "graph-json":
            f.write("\n]\n")
    return written


def run_child(path: Path, out: Path, mode: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(out), mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--format", choices=("graph-csv", "admin-csv", "graph-json"), default="graph-csv"
    )
    parser.add_argument("--days", type=int, default=14, help="days simulated per copy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccsim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        rows = base_rows(args.days)
        suffix = ".json" if args.format == "graph-json" else ".csv"
        path = tmp / f"calls{suffix}"
        n = write_log(rows, args.rows, args.format, path, args.days)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {n:,} rows ({args.format}, {size_mb:,.0f} MB; {len(rows):,} simulated "
            f"calls repeated) in {time.perf_counter() - t0:.1f} s"
        )
        for mode, label in (("parquet", "stream to Parquet"), ("frame", "in-memory table")):
            out = tmp / f"calls-{mode}.parquet"
            r = run_child(path, out, mode)
            peak = r["peak_kib"] * 1024
            verdict = "OK" if peak < LIMIT_BYTES else "OVER 1 GiB"
            print(
                f"{label:18s} {int(r['rows']):,} rows in {r['wall_s']:.1f} s = "
                f"{r['rows'] / r['wall_s']:,.0f} rows/s; peak RSS {peak / 2**20:,.0f} MiB "
                f"({verdict}); bad rows {int(r['bad'])}"
            )


if __name__ == "__main__":
    main()

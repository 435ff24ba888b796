"""Importing a call log with planted defects: rows, bad rows by reason, time and peak memory.

Generates a synthetic Graph CSV log (``sim.calllogs.synthetic``, repeated with shifted dates
and fresh ids as in ``bench_import.py``) of ``--rows`` rows, replaces every ``--every``-th
row with a planted defect (a duplicate id, another currency, an end before the start or
not matching start + duration, a 3-day or 1e30-second duration, no user id, a year-0
start, a 20-digit charge, an emergency call), then imports it in a fresh Python process
(``write_call_table``: streamed into Parquet, with the bad-rows file and the manifest) and
prints the rows, the bad and skipped rows by reason, the wall time and the child's peak
resident memory (``resource.getrusage``).

    .venv/bin/python benchmarks/bench_calllog_import.py [--rows N] [--every K]
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

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_import import base_rows  # noqa: E402

from sim.calllogs.synthetic import GRAPH_FIELDS  # noqa: E402

DEFECTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("duplicate id", {}),  # the id of the row before
    ("other currency", {"currency": "JPY"}),
    ("end before start", {"endDateTime": "2000-01-01T00:00:00Z"}),
    ("end != start + duration", {"duration": "7"}),
    ("3-day duration", {"duration": "259200", "endDateTime": ""}),
    ("1e30 duration", {"duration": "1e30", "endDateTime": ""}),
    ("no user id", {"userId": ""}),
    ("year 0", {"startDateTime": "0000-01-01T00:00:00Z", "endDateTime": ""}),
    ("20-digit charge", {"charge": "12345678901234567890"}),
    ("emergency call", {"callType": "emergency_out"}),
)

CHILD = r"""
import json, resource, sys, time
from sim.calllogs.reader import write_call_table
from sim.calllogs.report import ImportOptions
path, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
report = write_call_table(path, out, ImportOptions(key=b"bench-key-0123456"))
wall = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"summary": report.summary(), "wall_s": wall, "peak_kib": peak_kib}))
"""


def write_log(rows: pd.DataFrame, n: int, every: int, path: Path, days: int) -> int:
    """Write ``n`` rows (copies of ``rows`` shifted by ``days``); every ``every``-th a defect."""
    start = pd.to_datetime(rows["startDateTime"], utc=True)
    end = pd.to_datetime(rows["endDateTime"], utc=True)
    base = rows.astype(object).where(rows.notna(), None)
    written = planted = 0
    copy = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(GRAPH_FIELDS)
        while written < n:
            take = min(len(base), n - written)
            part = base.iloc[:take].copy()
            shift = pd.Timedelta(days=days * copy)
            part["startDateTime"] = (start[:take] + shift).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            part["endDateTime"] = (end[:take] + shift).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            part["id"] = part["id"] + f"-{copy}"
            part["callId"] = part["callId"] + f"-{copy}"
            # Plant defects on user_out rows (they have a user, a charge and an end).
            first = (every - written % every) % every
            for pos in range(first, take, every):
                if part["callType"].iat[pos] != "user_out" or pos == 0:
                    continue
                kind, change = DEFECTS[planted % len(DEFECTS)]
                if kind == "duplicate id":
                    part.iloc[pos] = part.iloc[pos - 1]
                for k, v in change.items():
                    part[k] = part[k].astype(object)
                    part.iat[pos, part.columns.get_loc(k)] = v
                planted += 1
            w.writerows(part[list(GRAPH_FIELDS)].fillna("").itertuples(index=False))
            written += take
            copy += 1
    return planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=997, help="plant a defect every K rows")
    parser.add_argument("--days", type=int, default=14, help="days simulated per copy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccsim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        rows = base_rows(args.days)
        path = tmp / "calls.csv"
        planted = write_log(rows, args.rows, args.every, path, args.days)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows (graph-csv, {size_mb:,.0f} MB) with {planted:,} "
            f"planted defects in {time.perf_counter() - t0:.1f} s"
        )
        out = tmp / "calls.parquet"
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"child failed:\n{proc.stderr}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        s = r["summary"]
        print(
            f"imported {s['imported']:,} of {s['rows']:,} rows: {s['bad']:,} bad, "
            f"{s['skipped']:,} skipped (planted {planted:,})"
        )
        for reason, n in s["bad_by_reason"].items():
            print(f"  bad {n:>7,}: {reason}")
        for reason, n in s["skipped_by_reason"].items():
            print(f"  skipped {n:>3,}: {reason}")
        kept, rejected = s["imported_by_currency"], s["rejected_by_currency"]
        print(f"  by currency: imported {kept}, rejected {rejected}")
        peak = r["peak_kib"] / 1024
        print(
            f"stream to Parquet: {s['rows']:,} rows in {r['wall_s']:.1f} s = "
            f"{s['rows'] / r['wall_s']:,.0f} rows/s; peak RSS {peak:,.0f} MiB"
        )


if __name__ == "__main__":
    main()

"""Benchmark a 10k-user tenant-year against the compiled reference model, in pairs.

Prints figures; asserts nothing. Run from the repository root:

    .venv/bin/python benchmarks/bench_reference.py --pairs 5
    .venv/bin/python benchmarks/bench_reference.py --reference-python /tmp/refvenv/bin/python

``ccsim run benchmarks/tenant-10k.toml`` (plots, tables and the report page included) and
the reference model (``../shared/bench/vectorized.py --mode numba --users 10000``, numpy
and numba in their own interpreter) run as whole processes, alternately (A B A B ...), one
after the other. Each pair gives a ratio ccsim / reference; the median ratio and the
peak memory (max RSS) of each are printed. Absolute times drift on shared machines, which
is why the pairs alternate.

The reference interpreter needs numpy and numba:
``python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install numpy numba``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REFERENCE = REPO.parent / "shared" / "bench" / "vectorized.py"


def with_rss(command: list[str]) -> list[str]:
    """Prefix ``/usr/bin/time -f %M`` when available, to read each process's own peak."""
    if Path("/usr/bin/time").exists():
        return ["/usr/bin/time", "-f", "maxrss_kib=%M", *command]
    return command


def run(command: list[str], cwd: Path) -> tuple[float, float]:
    """Return wall seconds and the process's own peak RSS in MiB."""
    t0 = time.perf_counter()
    done = subprocess.run(with_rss(command), cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit(f"{command[0]} failed with status {done.returncode}")
    rss = [line for line in done.stderr.splitlines() if line.startswith("maxrss_kib=")]
    peak = int(rss[-1].split("=")[1]) / 1024 if rss else float("nan")
    return wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--reference-python", default="/tmp/refvenv/bin/python")
    args = parser.parse_args()
    ccsim = Path(sys.executable).parent / "ccsim"
    scenario = REPO / "benchmarks" / "tenant-10k.toml"
    reference = [
        args.reference_python,
        str(REFERENCE),
        "--mode",
        "numba",
        "--users",
        str(args.users),
    ]
    ours, theirs, ratios = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.pairs):
            out = Path(tmp) / f"run-{k}"
            a = run([str(ccsim), "run", str(scenario), "--out", str(out), "-q"], REPO)
            b = run(reference, REFERENCE.parent)
            ours.append(a)
            theirs.append(b)
            ratios.append(a[0] / b[0])
            print(
                f"pair {k + 1}: ccsim {a[0]:.2f} s ({a[1]:.0f} MiB), "
                f"reference {b[0]:.2f} s ({b[1]:.0f} MiB), ratio {a[0] / b[0]:.2f}",
                flush=True,
            )
    med = statistics.median
    print(
        f"ccsim run benchmarks/tenant-10k.toml: median {med(w for w, _ in ours):.2f} s, "
        f"peak {max(m for _, m in ours):.0f} MiB"
    )
    print(
        f"reference vectorized.py --mode numba --users {args.users}: median "
        f"{med(w for w, _ in theirs):.2f} s, peak {max(m for _, m in theirs):.0f} MiB"
    )
    print(f"median ratio ccsim / reference: {med(ratios):.2f} (goal <= 1.00, peak <= 256 MiB)")


if __name__ == "__main__":
    main()

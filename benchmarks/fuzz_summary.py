"""Run the scenario fuzz strategy N times; print the cases and the distinct error messages.

    .venv/bin/python benchmarks/fuzz_summary.py [N] [--show]

Uses ``tests/fuzz/test_scenario_fuzz.py``'s strategy and its one-line check, so every
case either validates or is refused with one line naming a field (exit 2).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings

from tests.fuzz.test_scenario_fuzz import check, mutations


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1000
    messages: list[str] = []

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutations())
    def run(case: tuple[bytes, str]) -> None:
        check(*case, messages)

    t0 = time.perf_counter()
    run()
    refused = Counter(m for m in messages if m)
    print(
        f"{len(messages)} cases in {time.perf_counter() - t0:.1f} s: "
        f"{len(messages) - sum(refused.values())} valid, {sum(refused.values())} refused, "
        f"{len(refused)} distinct messages"
    )
    if "--show" in sys.argv:
        for message, count in refused.most_common():
            print(f"{count:5d}  {message}")


if __name__ == "__main__":
    main()

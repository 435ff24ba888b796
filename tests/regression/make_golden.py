"""Regenerate the golden files. Run deliberately, and explain the change in CHANGELOG.md.

.venv/bin/python -m tests.regression.make_golden
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.regression.golden_support import GOLDEN, golden_tables

if __name__ == "__main__":
    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, frame in golden_tables(Path(tmp)).items():
            frame.to_csv(GOLDEN / f"{name}.csv", index=False)
            print(f"wrote {GOLDEN / name}.csv ({len(frame)} rows)")  # noqa: T201

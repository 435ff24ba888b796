"""Write ``docs/tables.md`` from the table schemas (``sim.reports.tables``).

``python -m sim.reports.table_docs > docs/tables.md``; a test checks the file is current.
"""

from __future__ import annotations

import sys

from sim.reports.tables import KIND_TEXT, SCHEMAS

FOLDER_TITLES = {
    "run": "Run folders (`ccsim run`, call-log replay)",
    "forecast": "Forecast folders (`ccsim forecast`; runway and alert tables when prepaid)",
    "compare": "Comparison folders (`ccsim compare`)",
    "sweep": (
        "Sweep, recommendation and study folders (`ccsim sweep`, `ccsim recommend`, "
        "`recommend --robust`, `ccsim sensitivity`)"
    ),
    "replay": "Replay folders (`ccsim replay`): besides the run tables",
    "reconcile": "Reconciliation folders (`ccsim reconcile`)",
    "backtest": "Back-test folders (`ccsim backtest`)",
}


def tables_markdown() -> str:
    """Return the Markdown text of ``docs/tables.md``."""
    lines = [
        "# Result tables",
        "",
        "Generated from `sim/reports/tables.py` by `python -m sim.reports.table_docs`; do not",
        "edit by hand. Every table is written twice: `NAME.parquet` with exact types and",
        "`NAME.csv` for people. Both have the columns below, also when the table is empty.",
        "",
        "| type | pandas / Parquet | CSV |",
        "|---|---|---|",
    ]
    for kind, (pandas, parquet, csv) in KIND_TEXT.items():
        lines.append(f"| {kind} | {pandas} / {parquet} | {csv} |")
    lines += [
        "",
        "Money columns end in `_micros` (integer micro-units, 1 unit = 1,000,000); in CSV the",
        "suffix is dropped and the amount is decimal text (`12.5` for 12,500,000). A table",
        "with money has a `currency` column. Times are local wall-clock times of the",
        "scenario's `time_zone` with their UTC offset; `zone` above is that zone. Optional",
        "columns appear only for one funding mode or with a warm-up; a name in *italics* is",
        "a pattern (a regular expression).",
    ]
    for folder, title in FOLDER_TITLES.items():
        lines += ["", f"## {title}"]
        for (kind, name), t in SCHEMAS.items():
            if kind != folder:
                continue
            lines += [
                "",
                f"### `{name}`",
                "",
                f"{t.doc[0].upper()}{t.doc[1:]}.",
                "",
                "| column | type | meaning |",
                "|---|---|---|",
            ]
            for c in t.columns:
                name_md = c.name.replace("|", "\\|")
                shown = f"*{name_md}*" if c.pattern else f"`{c.name}`"
                extra = " (optional)" if c.optional else ""
                lines.append(f"| {shown} | {c.kind} | {c.doc}{extra} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Print the document."""
    sys.stdout.write(tables_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How to import a call log and what the import found.

``LogFormat`` and ``FORMATS`` name the formats read; ``ImportOptions`` says how to read
them (format, strictness, salt, origin, chunk size); ``ImportReport`` counts the imported,
bad and skipped rows by reason and lists the bad rows (``BadRow``). ``_bad`` records a bad
row (fatal with ``strict``) and ``_counts`` tallies a column for the report.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd

from sim.core.errors import InputError

LogFormat = Literal["graph-json", "graph-csv", "admin-csv"]
FORMATS: tuple[LogFormat, ...] = ("graph-json", "graph-csv", "admin-csv")


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read a call log.

    ``format``: ``auto`` or one of ``FORMATS``; ``strict``: the first bad row is an
    ``InputError``; ``salt``: key of the pseudonyms (random when None);
    ``keep_personal_data``: keep names, UPNs and numbers in clear; ``origin``: instant of
    ``start_s = 0`` (default: 00:00 UTC on the day of the first valid row);
    ``chunk_rows``: rows converted at once; ``keep_bad_rows``: bad rows listed in the
    report (all are counted).
    """

    format: LogFormat | Literal["auto"] = "auto"
    strict: bool = False
    salt: str | bytes | None = None
    keep_personal_data: bool = False
    origin: datetime | None = None
    chunk_rows: int = 50_000
    keep_bad_rows: int = 1_000
    read_chars: int = 1 << 20


@dataclass(frozen=True, slots=True)
class BadRow:
    """One row that could not be imported: where (``line 7``, ``record 3``), field, why."""

    where: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}"


@dataclass
class ImportReport:
    """What an import read: counts of imported, bad and skipped rows, with reasons."""

    path: str
    format: str = ""
    rows: int = 0
    imported: int = 0
    bad: int = 0
    skipped: int = 0
    bad_by_reason: Counter[str] = field(default_factory=Counter)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    bad_rows: list[BadRow] = field(default_factory=list)
    origin: datetime | None = None
    first_start: datetime | None = None
    last_start: datetime | None = None
    call_types: Counter[str] = field(default_factory=Counter)
    currencies: Counter[str] = field(default_factory=Counter)
    keep_bad_rows: int = 1_000

    def add_bad(self, row: BadRow, count_reason: str) -> None:
        """Count a bad row and keep it for the listing if there is room."""
        self.bad += 1
        self.bad_by_reason[count_reason] += 1
        if len(self.bad_rows) < self.keep_bad_rows:
            self.bad_rows.append(row)

    def lines(self, show: int = 10) -> list[str]:
        """Return a short human-readable summary."""
        out = [
            f"{self.path}: {self.format}, {self.rows:,} rows: {self.imported:,} imported, "
            f"{self.bad:,} bad, {self.skipped:,} skipped"
        ]
        if self.first_start is not None and self.last_start is not None:
            out.append(
                f"  calls from {self.first_start.isoformat(timespec='seconds')} to "
                f"{self.last_start.isoformat(timespec='seconds')} (UTC)"
            )
        if self.call_types:
            kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.call_types.items()))
            out.append(f"  call types: {kinds}")
        for reason, n in self.skipped_by_reason.most_common():
            out.append(f"  skipped {n:,}: {reason}")
        for reason, n in self.bad_by_reason.most_common():
            out.append(f"  bad {n:,}: {reason}")
        for row in self.bad_rows[:show]:
            out.append(f"    {self.path}: {row}")
        if self.bad > show:
            out.append(f"    ... {self.bad - show:,} more bad rows")
        return out

    def bad_rows_frame(self) -> pd.DataFrame:
        """Return the listed bad rows as a table (where, field, reason)."""
        return pd.DataFrame(
            {
                "where": [r.where for r in self.bad_rows],
                "field": [r.field for r in self.bad_rows],
                "reason": [r.reason for r in self.bad_rows],
            },
            columns=["where", "field", "reason"],
        )


def _bad(
    report: ImportReport, options: ImportOptions, path: Path, where: str, fld: str, reason: str
) -> None:
    row = BadRow(where, fld, reason)
    if options.strict:
        raise InputError(f"{path}: {row} (strict import: fix or remove the row)")
    report.add_bad(row, f"{fld}: {_reason_kind(reason)}")


def _reason_kind(reason: str) -> str:
    """Return the reason without the offending value, for counting."""
    kind = reason.split(", got ")[0]
    kind = re.sub(r"\s*\(.*\)$", "", re.sub(r"\s*'[^']*'", "", kind))
    return kind.strip() or reason


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().items()}


__all__ = [
    "FORMATS",
    "BadRow",
    "ImportOptions",
    "ImportReport",
    "LogFormat",
]

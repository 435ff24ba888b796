"""How to import a call log and what the import found.

``LogFormat`` and ``FORMATS`` name the formats read; ``ImportOptions`` says how to read
them (format, strictness, pseudonym key, currency kept, duration bound, origin, chunk
size); ``ImportReport`` counts the imported, bad and skipped rows by reason and by
currency, keeps the first bad rows (``BadRow``) for the console and spools every bad and
skipped row for the bad-rows file (``write_bad_rows``). ``_bad`` and ``_skip`` record a
row (``_bad`` is fatal with ``strict``) and ``_counts`` tallies a column for the report.

Rows are numbered as in the file: ``line N`` for CSV (the header is line 1) and
``record N`` for JSON, where records are numbered from 1 across every page of the file
in the order they appear.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import pandas as pd

from sim.calllogs.privacy import key_bytes
from sim.core.errors import InputError

LogFormat = Literal["graph-json", "graph-csv", "admin-csv"]
FORMATS: tuple[LogFormat, ...] = ("graph-json", "graph-csv", "admin-csv")

MAX_DURATION_S = 86_400.0
"""Default bound on a call's duration (24 hours); longer rows are reported as bad."""
END_TOLERANCE_S = 2.0
"""Largest gap between ``end`` and ``start + duration`` still accepted (rounded seconds)."""
MAX_CHARGE_MICROS = 1_000_000 * 1_000_000
"""Largest charge of one call (1,000,000 currency units); larger values are out of range."""
YEARS = (2000, 2100)
"""Start and end instants must lie in these years (first included, last excluded)."""
RAW_CHARS = 240
"""The bad-rows file's ``raw`` column is cut to this many characters."""
BAD_ROW_COLUMNS = ("status", "where", "field", "reason", "raw")
"""Columns of the bad-rows file: ``bad`` or ``skipped``, line/record, field, why, raw text."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read a call log.

    ``format``: ``auto`` or one of ``FORMATS``; ``strict``: the first bad row is an
    ``InputError``; ``key``: key of the pseudonyms (HMAC-SHA256; random per run when
    None; ``salt`` is its former name, used when ``key`` is None); ``keep_personal_data``:
    keep names, UPNs, numbers and call ids in clear; ``currency``: the currency to keep
    (rows in another are bad; default: the currency of the first valid row);
    ``max_duration_s``: longest call accepted; ``end_tolerance_s``: largest accepted gap
    between ``end`` and ``start + duration``; ``origin``: instant of ``start_s = 0``
    (default: 00:00 UTC on the day of the first valid row); ``chunk_rows``: rows converted
    at once; ``keep_bad_rows``: bad rows kept in memory for the console (all are counted
    and spooled for the bad-rows file); ``key_source``: where the key came from, for the
    manifest (never the key).
    """

    format: LogFormat | Literal["auto"] = "auto"
    strict: bool = False
    salt: str | bytes | None = field(default=None, repr=False)
    keep_personal_data: bool = False
    origin: datetime | None = None
    chunk_rows: int = 40_000
    keep_bad_rows: int = 1_000
    read_chars: int = 1 << 20
    key: str | bytes | None = field(default=None, repr=False)
    currency: str | None = None
    max_duration_s: float = MAX_DURATION_S
    end_tolerance_s: float = END_TOLERANCE_S
    key_source: str = ""

    def __post_init__(self) -> None:
        if self.pseudonym_key is not None:
            key_bytes(self.pseudonym_key)  # ValueError when shorter than MIN_KEY_BYTES

    @property
    def pseudonym_key(self) -> str | bytes | None:
        """Return the key of the pseudonyms (``key``, else the former ``salt``)."""
        return self.key if self.key is not None else self.salt


@dataclass(frozen=True, slots=True)
class BadRow:
    """One row that could not be imported: where (``line 7``, ``record 3``), field, why.

    ``raw`` is the row's text with identifiers pseudonymised, cut to ``RAW_CHARS``;
    ``status`` is ``bad`` or ``skipped`` (valid, but outside the model).
    """

    where: str
    field: str
    reason: str
    raw: str = ""
    status: str = "bad"

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
    rejected_currencies: Counter[str] = field(default_factory=Counter)
    currency: str = ""
    keep_bad_rows: int = 1_000
    key_source: str = ""
    _spool: Any = field(default=None, repr=False, compare=False)
    _writer: Any = field(default=None, repr=False, compare=False)

    def _sink(self) -> Any:
        if self._writer is None:
            self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by close()
                max_size=4 << 20, mode="w+", newline="", encoding="utf-8"
            )
            self._writer = csv.writer(self._spool)
        return self._writer

    def add_bad(self, row: BadRow, count_reason: str) -> None:
        """Count a bad row, spool it for the bad-rows file and keep it if there is room."""
        self.bad += 1
        self.bad_by_reason[count_reason] += 1
        self._sink().writerow([row.status, row.where, row.field, row.reason, row.raw])
        if len(self.bad_rows) < self.keep_bad_rows:
            self.bad_rows.append(row)

    def add_skipped(self, row: BadRow) -> None:
        """Count a skipped row (by its reason) and spool it for the bad-rows file."""
        self.skipped += 1
        self.skipped_by_reason[row.reason] += 1
        self._sink().writerow([row.status, row.where, row.field, row.reason, row.raw])

    def write_bad_rows(self, path: str | Path) -> Path:
        """Write every bad and skipped row as CSV (``BAD_ROW_COLUMNS``), atomically."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
                csv.writer(out).writerow(BAD_ROW_COLUMNS)
                if self._spool is not None:
                    self._spool.flush()
                    self._spool.seek(0)
                    while block := self._spool.read(1 << 20):
                        out.write(block)
                    self._spool.seek(0, os.SEEK_END)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target

    def close(self) -> None:
        """Drop the spooled bad rows (the counts stay)."""
        if self._spool is not None:
            self._spool.close()
        self._spool = self._writer = None

    def summary(self) -> dict[str, Any]:
        """Return the counts for a manifest: rows, bad and skipped by reason, currencies."""
        return {
            "format": self.format,
            "rows": self.rows,
            "imported": self.imported,
            "bad": self.bad,
            "skipped": self.skipped,
            "bad_by_reason": dict(self.bad_by_reason.most_common()),
            "skipped_by_reason": dict(self.skipped_by_reason.most_common()),
            "currency": self.currency,
            "imported_by_currency": dict(self.currencies.most_common()),
            "rejected_by_currency": dict(self.rejected_currencies.most_common()),
            "row_numbers": "CSV: line of the file (header = line 1); JSON: record, from 1",
            "pseudonym_key": self.key_source,
            "first_start": self.first_start.isoformat() if self.first_start else None,
            "last_start": self.last_start.isoformat() if self.last_start else None,
        }

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
        if self.currencies or self.rejected_currencies:
            kept = ", ".join(f"{k or '(none)'} {v:,}" for k, v in self.currencies.most_common())
            line = f"  currencies: imported {kept or 'none'}"
            if self.rejected_currencies:
                other = ", ".join(f"{k} {v:,}" for k, v in self.rejected_currencies.most_common())
                line += f"; rejected {other} (not {self.currency}; --currency chooses)"
            out.append(line)
        for reason, n in self.skipped_by_reason.most_common():
            out.append(f"  skipped {n:,}: {reason}")
        for reason, n in self.bad_by_reason.most_common():
            out.append(f"  bad {n:,}: {reason}")
        for row in self.bad_rows[:show]:
            out.append(f"    {self.path}: {row}")
        if self.bad > show:
            out.append(f"    ... {self.bad - show:,} more bad rows (all in the bad-rows file)")
        return out

    def bad_rows_frame(self) -> pd.DataFrame:
        """Return the bad rows kept in memory as a table (where, field, reason, raw)."""
        return pd.DataFrame(
            {
                "where": [r.where for r in self.bad_rows],
                "field": [r.field for r in self.bad_rows],
                "reason": [r.reason for r in self.bad_rows],
                "raw": [r.raw for r in self.bad_rows],
            },
            columns=["where", "field", "reason", "raw"],
        )


def _bad(
    report: ImportReport,
    options: ImportOptions,
    path: Path,
    where: str,
    fld: str,
    reason: str,
    raw: str = "",
) -> None:
    row = BadRow(where, fld, reason, raw[:RAW_CHARS])
    if options.strict:
        raise InputError(f"{path}: {row} (strict import: fix or remove the row)")
    report.add_bad(row, f"{fld}: {_reason_kind(reason)}")


def _skip(report: ImportReport, where: str, fld: str, reason: str, raw: str = "") -> None:
    report.add_skipped(BadRow(where, fld, reason, raw[:RAW_CHARS], status="skipped"))


def _shown(text: str, limit: int = 32) -> str:
    """Return ``repr(text)``, cut to ``limit`` characters (for reasons)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _truncated(value: str, keep: int = 3) -> str:
    """Return the first ``keep`` characters of a value that may be an identifier."""
    return value if len(value) <= keep else value[:keep] + "..."


def _reason_kind(reason: str) -> str:
    """Return the reason without the offending value, for counting."""
    kind = reason.split(", got ")[0]
    kind = re.sub(r"\s*\(.*\)$", "", re.sub(r"\s*'[^']*'(\.\.\.)?", "", kind))
    kind = re.sub(r"\s*\d[\d,.:]*\b", "", kind) if kind.startswith("duplicate") else kind
    return kind.strip() or reason


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().items()}


def _close_quietly(stream: IO[Any] | None) -> None:
    if stream is not None:
        with contextlib.suppress(Exception):  # closing a broken archive must not mask the error
            stream.close()


__all__ = [
    "BAD_ROW_COLUMNS",
    "END_TOLERANCE_S",
    "FORMATS",
    "MAX_CHARGE_MICROS",
    "MAX_DURATION_S",
    "YEARS",
    "BadRow",
    "ImportOptions",
    "ImportReport",
    "LogFormat",
]

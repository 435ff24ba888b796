"""Recorded PSTN call logs: import, normalise and pseudonymise them, in bounded memory.

Three formats are read (``sim.calllogs.formats``), detected from the file's first bytes
and header line (or forced): Microsoft Graph ``getPstnCalls`` JSON (``graph-json``), CSV
with the ``pstnCallLogRow`` field names as headers (``graph-csv``) and the Teams admin
center PSTN usage export (``admin-csv``). Files may be gzip-compressed, and an
admin-center ``.zip`` export is read from its ``PSTN.calls*.csv`` member. Rows are gathered
into chunks of a few ten thousand raw strings and converted with numpy/pandas a chunk at
a time (``iter_call_chunks``; ``sim.calllogs.convert``), so a year of a large tenant
streams through (``write_call_table`` writes Parquet chunk by chunk).

The normalised call table has one row per call (see ``COLUMNS``): UTC ``start`` and
``start_s`` (seconds after ``origin``), ``duration_s``, ccsim's ``call_type`` and
``number_type`` (``sim.telephony.calls``), ISO alpha-2 ``usage_country`` and
``dest_country``, the ``licence`` capability, exact ``charge_micros`` and
``connection_charge_micros`` (integer micro-units parsed from the decimal text; never
floats), ``currency``, ``user`` (pseudonymous by default: HMAC-SHA256 with a salt,
truncated; ``sim.calllogs.privacy``) and ``conference_id``.

Bad rows (missing fields, unparsable or out-of-range times, amounts and durations, ends
not matching start + duration, another currency, a user call without its user, duplicate
ids, unknown call types or countries; ``sim.calllogs.convert``) are counted by reason and
reported with their line (CSV, the header being line 1) or record number (JSON, from 1
across all pages), never imported and never dropped silently; ``strict`` makes the first
one fatal (``sim.calllogs.report``). Rows that are valid but outside the model (emergency
calls, Direct Routing) are counted as *skipped*. Every bad and skipped row goes to the
bad-rows file (``ImportReport.write_bad_rows``). A file that cannot be read (not UTF-8,
binary, a truncated gzip or zip, malformed JSON) is one ``InputError`` naming the file
and where, never a traceback.

This module holds the public entry points: ``iter_call_chunks``, ``read_call_log``,
``read_call_table``, ``write_call_table`` and ``empty_call_table``.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calllogs.convert import _Converter
from sim.calllogs.countries import COUNTRY_NAMES
from sim.calllogs.formats.csv_logs import _csv_chunks
from sim.calllogs.formats.detection import _encoding_error, _open_binary, _text, detect_format
from sim.calllogs.formats.fields import READ_ERRORS, _describe_read_error
from sim.calllogs.formats.graph_json import _json_chunks
from sim.calllogs.report import FORMATS, ImportOptions, ImportReport, LogFormat, _counts
from sim.core.codes import currencies
from sim.core.errors import InputError
from sim.core.files import refuse_under_file
from sim.core.units import shown
from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES

COLUMNS: tuple[str, ...] = (
    "call_id",
    "line",
    "start",
    "start_s",
    "duration_s",
    "call_type",
    "number_type",
    "usage_country",
    "dest_country",
    "licence",
    "charge_micros",
    "connection_charge_micros",
    "currency",
    "context",
    "user",
    "conference_id",
)
"""Columns of the normalised call table (``line``: CSV line or JSON record number)."""
PERSONAL_COLUMNS: tuple[str, ...] = ("display_name", "upn", "caller_number", "callee_number")
"""Extra columns kept only with ``keep_personal_data``."""


def iter_call_chunks(
    path: str | Path, options: ImportOptions | None = None, report: ImportReport | None = None
) -> Iterator[pd.DataFrame]:
    """Read a call log and yield its normalised calls chunk by chunk.

    ``report`` (created if None) collects the counts; it is complete once the iterator is
    exhausted. Raise ``InputError`` for an unreadable file (not UTF-8, binary, truncated
    or corrupt compression), a malformed JSON structure, a CSV header without the required
    columns or with a column twice, or (``strict``) the first bad row.
    """
    options = options or ImportOptions()
    p = Path(path)
    report = report if report is not None else ImportReport(str(p))
    report.keep_bad_rows = options.keep_bad_rows
    fmt: LogFormat = detect_format(p) if options.format == "auto" else options.format
    if fmt not in FORMATS:
        raise InputError(f"{p}: unknown format {fmt!r} (allowed: auto, {', '.join(FORMATS)})")
    report.format = fmt
    converter = _Converter(p, options, report)
    try:
        with _open_binary(p) as binary, _text(binary) as text:
            yield from _converted(text, p, fmt, options, report, converter)
    except UnicodeDecodeError:
        raise _encoding_error(p) from None
    except csv.Error as exc:
        raise InputError(f"{p}: CSV syntax error: {exc}") from None
    except READ_ERRORS as exc:
        raise InputError(f"{p}: {_describe_read_error(exc)}") from None


def _converted(
    text: Any,
    p: Path,
    fmt: LogFormat,
    options: ImportOptions,
    report: ImportReport,
    converter: _Converter,
) -> Iterator[pd.DataFrame]:
    if fmt == "graph-json":
        chunks = _json_chunks(text, p, options, report)
    else:
        chunks = _csv_chunks(text, p, fmt, options, report)
    while True:
        # The rows are acyclic lists and strings: pausing the cyclic garbage
        # collector while a chunk is read and converted saves a fifth of the time.
        collecting = gc.isenabled()
        gc.disable()
        try:
            chunk = next(chunks, None)
            frame = converter.convert(*chunk) if chunk is not None else None
        finally:
            if collecting:
                gc.enable()
        if frame is None:
            break
        if len(frame):
            yield frame


def empty_call_table(keep_personal_data: bool = False) -> pd.DataFrame:
    """Return a call table with no rows and the columns and types of an import."""
    cols: dict[str, Any] = {
        "call_id": pd.Series([], dtype=str),
        "line": pd.Series([], dtype=np.int64),
        "start": pd.Series([], dtype="datetime64[ns, UTC]"),
        "start_s": pd.Series([], dtype=np.float64),
        "duration_s": pd.Series([], dtype=np.float64),
        "call_type": pd.Series([], dtype=str),
        "number_type": pd.Series([], dtype=str),
        "usage_country": pd.Series([], dtype=str),
        "dest_country": pd.Series([], dtype=str),
        "licence": pd.Series([], dtype=str),
        "charge_micros": pd.Series([], dtype=np.int64),
        "connection_charge_micros": pd.Series([], dtype=np.int64),
        "currency": pd.Series([], dtype=str),
        "context": pd.Series([], dtype=str),
        "user": pd.Series([], dtype=str),
        "conference_id": pd.Series([], dtype=str),
    }
    if keep_personal_data:
        for c in PERSONAL_COLUMNS:
            cols[c] = pd.Series([], dtype=str)
    return pd.DataFrame(cols)


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def read_call_log(
    path: str | Path, options: ImportOptions | None = None
) -> tuple[pd.DataFrame, ImportReport]:
    """Import a whole call log into one normalised table, sorted by start (stable).

    A Parquet file written by ``write_call_table`` (``ccsim import-log``) is read as is.
    """
    options = options or ImportOptions()
    p = Path(path)
    if _is_parquet(p):
        return read_call_table(p)
    report = ImportReport(str(p))
    frames = list(iter_call_chunks(p, options, report))
    calls = (
        pd.concat(frames, ignore_index=True)
        if frames
        else empty_call_table(options.keep_personal_data)
    )
    calls = calls.sort_values("start", kind="stable", ignore_index=True)
    return calls, report


def read_call_table(path: str | Path) -> tuple[pd.DataFrame, ImportReport]:
    """Read a normalised call table written by ``write_call_table``."""
    p = Path(path)
    try:
        calls = pd.read_parquet(p)
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read the Parquet call table: {exc}") from None
    missing = [c for c in COLUMNS if c not in calls.columns]
    if missing:
        raise InputError(
            f"{p}: not a ccsim call table (column {missing[0]!r} missing); import the "
            "raw log instead"
        )
    _check_call_table(p, calls)
    calls = calls.sort_values("start", kind="stable", ignore_index=True)
    report = ImportReport(str(p), format="parquet", rows=len(calls), imported=len(calls))
    if len(calls):
        report.first_start = calls["start"].iloc[0].to_pydatetime(warn=False)
        report.last_start = calls["start"].max().to_pydatetime(warn=False)
        report.call_types.update(_counts(calls["call_type"]))
        report.currencies.update(_counts(calls["currency"]))
    return calls, report


_CODED_COLUMNS: dict[str, tuple[frozenset[str], str]] = {
    "call_type": (frozenset(CALL_TYPES), "a ccsim call type"),
    "number_type": (frozenset(NUMBER_TYPES), "a number type"),
    "usage_country": (frozenset(COUNTRY_NAMES), "an ISO 3166-1 alpha-2 country code"),
    "dest_country": (frozenset(COUNTRY_NAMES), "an ISO 3166-1 alpha-2 country code"),
    "currency": (currencies() | {""}, "an ISO 4217 currency code (or none)"),
}
"""Columns an import fills from a code list only, with the list and its name."""


def _check_call_table(path: Path, calls: pd.DataFrame) -> None:
    """Refuse a call table whose columns lost the types or values an import gives them.

    A table edited by hand (a column retyped, a duration made negative, a call type or
    country mistyped) would otherwise fail deep inside rating or be priced as something
    else; this names the column, the first bad row (1-based) and what is allowed.
    """

    def refuse(column: str, found: str, allowed: str) -> InputError:
        return InputError(
            f"{path}: column {column!r}: {found}; expected {allowed} (import the raw log "
            "again rather than editing the table)"
        )

    def first_bad(column: str, bad: np.ndarray, allowed: str) -> None:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise refuse(column, f"row {row + 1} is {shown(str(calls[column].iloc[row]))}", allowed)

    expected = empty_call_table()
    for column in COLUMNS:
        values = calls[column]
        want = expected[column].dtype
        if pd.api.types.is_datetime64_any_dtype(want):
            if not isinstance(values.dtype, pd.DatetimeTZDtype):
                raise refuse(column, f"found {values.dtype}", "time zone-aware timestamps")
            first_bad(column, values.isna().to_numpy(), "a timestamp")
        elif pd.api.types.is_integer_dtype(want):
            if not pd.api.types.is_integer_dtype(values.dtype):
                raise refuse(column, f"found {values.dtype}", "whole numbers")
            first_bad(column, values.isna().to_numpy(), "a whole number")
            if column.endswith("_micros"):  # an import refuses negative charges
                first_bad(column, (values < 0).to_numpy(dtype=bool), "micro-units, at least 0")
        elif pd.api.types.is_float_dtype(want):
            if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(
                values.dtype
            ):
                raise refuse(column, f"found {values.dtype}", "numbers")
            number = values.to_numpy(dtype=np.float64, na_value=np.nan)
            if column == "duration_s":
                first_bad(column, ~(np.isfinite(number) & (number >= 0)), "seconds, at least 0")
            else:
                first_bad(column, ~np.isfinite(number), "a finite number")
        else:
            if not pd.api.types.is_string_dtype(values.dtype):
                raise refuse(column, f"found {values.dtype}", "text")
            first_bad(column, values.isna().to_numpy(), "text")
            coded = _CODED_COLUMNS.get(column)
            if coded is not None:
                allowed, name = coded
                unknown = set(values.unique()) - allowed
                if unknown:
                    first_bad(column, values.isin(unknown).to_numpy(), name)
    named = calls["currency"][calls["currency"] != ""]  # free calls may carry none
    if named.nunique() > 1:
        first = named.iloc[0]
        first_bad(
            "currency",
            ((calls["currency"] != first) & (calls["currency"] != "")).to_numpy(),
            f"the table's one currency, {first}",
        )


def sidecar_paths(out: str | Path) -> tuple[Path, Path]:
    """Return the bad-rows file and the manifest written beside a call table ``out``."""
    target = Path(out)
    name = target.name
    return target.with_name(f"{name}.bad_rows.csv"), target.with_name(f"{name}.manifest.json")


def write_call_table(
    path: str | Path,
    out: str | Path,
    options: ImportOptions | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> ImportReport:
    """Import a call log into a Parquet call table (``.parquet``) or CSV (``.csv``).

    Streams chunk by chunk (bounded memory) into a temporary file next to ``out``, renamed
    into place when complete; ``out`` must not exist. Beside it go the bad-rows file
    (``<out>.bad_rows.csv``: every bad and skipped row) and a manifest
    (``<out>.manifest.json``: ``manifest``, then the import's counts by reason and by
    currency), e.g. ``calls.parquet.bad_rows.csv``; none of them may exist.
    """
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    options = options or ImportOptions()
    target = Path(out)
    if target.suffix.lower() not in (".parquet", ".csv"):
        raise InputError(
            f"{target}: --out must end in .parquet or .csv (the format written), "
            f"got {target.suffix or 'no suffix'!r}"
        )
    bad_path, manifest_path = sidecar_paths(target)
    for t in (target, bad_path, manifest_path):
        if t.exists():
            raise InputError(f"{t}: exists already; choose a new file (nothing overwritten)")
    refuse_under_file(target)
    made = [p for p in reversed(target.parents) if not p.exists()]  # removed on failure
    target.parent.mkdir(parents=True, exist_ok=True)
    report = ImportReport(str(path))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    as_csv = target.suffix.lower() == ".csv"
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    try:
        wrote_header = False
        for frame in iter_call_chunks(path, options, report):
            if as_csv:
                from sim.core.tables import to_csv_frame

                out_frame = to_csv_frame(frame)
                out_frame["start"] = frame["start"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                out_frame.to_csv(tmp, mode="a", header=not wrote_header, index=False)
                wrote_header = True
                continue
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(schema))
        if as_csv and not wrote_header:
            empty_call_table(options.keep_personal_data).to_csv(tmp, index=False)
        if not as_csv:
            if writer is None:
                empty = empty_call_table(options.keep_personal_data)
                pq.write_table(pa.Table.from_pandas(empty, preserve_index=False), tmp)
            else:
                writer.close()
                writer = None
        if report.imported == 0:
            raise InputError(_nothing_imported(path, report))
        if target.exists():
            raise InputError(f"{target}: exists already; nothing overwritten")
        report.write_bad_rows(bad_path)
        _write_json(
            manifest_path,
            {
                **(manifest or {}),
                "log": str(path),
                "output": target.name,
                "bad_rows_file": bad_path.name,
                "import": report.summary(),
            },
        )
        os.replace(tmp, target)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        for folder in reversed(made):  # the folders this import made, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        report.close()
    return report


def _nothing_imported(path: str | Path, report: ImportReport) -> str:
    """Say why a log gave no call: the rows by reason, and the first bad row."""
    if report.rows == 0:
        return f"{path}: no call imported (no rows); nothing written"
    reasons = [
        *(f"bad {n:,}: {why}" for why, n in report.bad_by_reason.most_common()),
        *(f"skipped {n:,}: {why}" for why, n in report.skipped_by_reason.most_common()),
    ]
    more = f"; {len(reasons) - 4} more reasons" if len(reasons) > 4 else ""
    first = f"; the first: {report.bad_rows[0]}" if report.bad_rows else ""
    return (
        f"{path}: no call imported ({report.rows:,} rows: {'; '.join(reasons[:4])}{more}"
        f"{first}); nothing written"
    )


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically (a temporary name beside ``path``, then a rename)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


__all__ = [
    "COLUMNS",
    "PERSONAL_COLUMNS",
    "empty_call_table",
    "iter_call_chunks",
    "read_call_log",
    "read_call_table",
    "sidecar_paths",
    "write_call_table",
]

"""CSV logs: the Graph CSV and admin-center CSV headers, and their rows in raw chunks.

The header line gives the delimiter (comma, semicolon or tab) and, normalised, the
columns (``_GRAPH_HEADERS``, ``_ADMIN_HEADERS``); ``_csv_chunks`` checks the required
columns (and that no column is named twice) and gathers the rows, reporting rows of the
wrong width as bad; a damaged file (truncated gzip, NUL bytes) is an ``InputError`` naming
the line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from sim.calllogs.formats.fields import (
    _GRAPH_FIELDS,
    READ_ERRORS,
    _describe_read_error,
    _norm_header,
    _RawChunk,
)
from sim.calllogs.report import ImportOptions, ImportReport, LogFormat, _bad, _shown, _truncated
from sim.core.errors import InputError

_GRAPH_HEADERS = {_norm_header(k): v for k, v in _GRAPH_FIELDS.items()}
# Admin-center column names (the online table's and the zipped export's), normalised.
_ADMIN_HEADERS: dict[str, str] = {
    "timestamputc": "start",
    "timestamp": "start",
    "starttime": "start",
    "starttimeutc": "start",
    "endtime": "end",
    "endtimeutc": "end",
    "displayname": "display_name",
    "userdisplayname": "display_name",
    "username": "upn",
    "upn": "upn",
    "aadobjectid": "user_id",
    "phonenumber": "phone",
    "calltype": "call_type",
    "calledto": "callee",
    "destinationnumber": "callee",
    "tocountryorregion": "dest_name",
    "destinationdialed": "dest_name",
    "calledfrom": "caller",
    "callerid": "caller",
    "fromcountryorregion": "from_country",
    "charge": "charge",
    "connectionfee": "connection_charge",
    "currency": "currency",
    "duration": "duration",
    "durationseconds": "duration",
    "domesticinternational": "context",
    "callid": "call_id",
    "usageid": "row_id",
    "numbertype": "inventory",
    "countryorregion": "usage_country",
    "userlocation": "usage_country",
    "conferenceid": "conference_id",
    "capability": "licence",
}


def header_shown(header: Sequence[str], limit: int = 8) -> str:
    """Name a header's cells for an error line: only the cells that are column names.

    A "header" that is really a data row holds users, numbers and call ids before any
    pseudonym is made: those cells are counted, never quoted.
    """
    columns = _GRAPH_HEADERS.keys() | _ADMIN_HEADERS.keys()
    known = [h for h in header if _norm_header(h) in columns]
    parts = [_shown(h) for h in known[:limit]]
    if len(known) > limit:
        parts.append(f"{len(known) - limit} more column name(s)")
    others = len(header) - len(known)
    if others:
        parts.append(f"{others} cell(s) that are no column name, not shown: they may be data")
    return ", ".join(parts) or "nothing"


_REQUIRED_COLUMNS = ("start", "call_type", "duration", "charge")
_COLUMN_LABELS = {
    "graph-csv": {
        "start": "startDateTime",
        "call_type": "callType",
        "duration": "duration",
        "charge": "charge",
    },
    "admin-csv": {
        "start": "Time stamp (UTC)",
        "call_type": "Call type",
        "duration": "Duration",
        "charge": "Charge",
    },
}


def _csv_header(first_line: str) -> tuple[list[str], str]:
    delimiter = ","
    if first_line.count(";") > first_line.count(","):
        delimiter = ";"
    elif first_line.count("\t") > first_line.count(","):
        delimiter = "\t"
    header = next(csv.reader([first_line], delimiter=delimiter), [])
    return header, delimiter


def _csv_chunks(
    text: IO[str], path: Path, fmt: LogFormat, options: ImportOptions, report: ImportReport
) -> Iterator[_RawChunk]:
    first = text.readline()
    if not first.strip():
        raise InputError(f"{path}: line 1: empty header, expected CSV column names")
    header, delimiter = _csv_header(first)
    names = [_norm_header(h) for h in header]
    table = _GRAPH_HEADERS if fmt == "graph-csv" else _ADMIN_HEADERS
    index: dict[str, int] = {}
    for i, n in enumerate(names):
        canon = table.get(n)
        if canon is None:
            continue
        if canon in index:
            j = index[canon]
            raise InputError(
                f"{path}: line 1: column {i + 1} {_shown(header[i])}: {canon} is given twice "
                f"(column {j + 1} is {_shown(header[j])}); a log has one column per field: "
                "remove or rename one"
            )
        index[canon] = i
    missing = [c for c in _REQUIRED_COLUMNS if c not in index]
    if missing:
        labels = _COLUMN_LABELS[fmt]
        raise InputError(
            f"{path}: line 1: {fmt}: missing column {labels[missing[0]]!r} "
            f"(found: {header_shown(header)})"
        )
    width = len(header)
    reader = csv.reader(text, delimiter=delimiter)
    fields = list(index)
    positions = [index[f] for f in fields]
    rows: list[list[str]] = []
    where: list[int] = []
    chunk_rows = options.chunk_rows
    seen = 0
    rows_iter = iter(reader)
    while True:
        try:
            row = next(rows_iter, None)
        except UnicodeDecodeError:
            raise
        except csv.Error as exc:
            raise InputError(
                f"{path}: line {reader.line_num + 1}: CSV syntax error: {exc}"
            ) from None
        except READ_ERRORS as exc:
            raise InputError(
                f"{path}: after line {reader.line_num + 1}: {_describe_read_error(exc)}"
            ) from None
        if row is None:
            break
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line is no row
            if options.strict and rows:
                # The rows before it go first, so a strict import stops at the first bad one.
                report.rows += seen
                seen = 0
                yield _transpose(rows, fields, positions), where
                rows, where = [], []
            seen += 1
            line = reader.line_num + 1  # the header line was read before the reader
            why = f"expected {width} fields as in the header, got {len(row)}"
            raw = ",".join(_truncated(v) for v in row[:12])
            _bad(report, options, path, f"line {line}", "row", why, raw)
            continue
        seen += 1
        rows.append(row)
        where.append(reader.line_num + 1)
        if len(rows) >= chunk_rows:
            report.rows += seen
            seen = 0
            yield _transpose(rows, fields, positions), where
            rows, where = [], []
    report.rows += seen
    if rows:
        yield _transpose(rows, fields, positions), where


def _transpose(rows: list[list[str]], fields: list[str], positions: list[int]) -> dict[str, Any]:
    columns = list(zip(*rows, strict=True))
    return {f: columns[p] for f, p in zip(fields, positions, strict=True)}


__all__ = []

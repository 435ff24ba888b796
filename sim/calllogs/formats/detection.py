"""Opening a call-log file (gzip, a zip export, a byte-order mark) and detecting its format."""

from __future__ import annotations

import codecs
import gzip
import io
import os
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, cast

from sim.calllogs.formats.csv_logs import _ADMIN_HEADERS, _csv_header, header_shown
from sim.calllogs.formats.fields import READ_ERRORS, _describe_read_error, _norm_header
from sim.calllogs.report import LogFormat, _close_quietly
from sim.core.errors import InputError


def _open_binary(path: Path) -> IO[bytes]:
    """Open a log as bytes, through gzip or the PSTN member of a zip export."""
    try:  # opening a FIFO would wait for a writer forever
        mode = os.stat(path).st_mode
        regular = stat.S_ISREG(mode) or stat.S_ISDIR(mode)  # a folder: open says so
    except OSError:
        regular = True  # open says why
    if not regular:
        raise InputError(
            f"{path}: not a regular file (a device, FIFO or socket), expected a call log"
        )
    try:
        raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a call log file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if magic == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            _close_quietly(raw)
            raise InputError(
                f"{path}: {_describe_read_error(exc)}; expected a zip export"
            ) from None
        members = [n for n in archive.namelist() if n.lower().endswith((".csv", ".json"))]
        pstn = [n for n in members if Path(n).name.lower().startswith("pstn")]
        chosen = pstn if pstn else members
        if len(chosen) != 1:
            _close_quietly(raw)
            names = archive.namelist()  # quoted (a name may hold a newline), the first 5
            listed = ", ".join(repr(n[:80]) for n in names[:5]) or "nothing"
            if len(names) > 5:
                listed += f" and {len(names) - 5:,} more"
            raise InputError(
                f"{path}: zip archive: expected one PSTN.calls*.csv (or a single .csv/.json) "
                f"member, found {listed}"
            )
        try:
            return archive.open(chosen[0])
        # zipfile raises NotImplementedError for a compression method it cannot read.
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            _close_quietly(raw)
            raise InputError(
                f"{path}: zip member {chosen[0]!r}: {_describe_read_error(exc)}"
            ) from None
    return raw


def _text(binary: IO[bytes]) -> io.TextIOWrapper:
    """Wrap bytes as text, honouring a UTF-8 or UTF-16 byte-order mark."""
    buffered = cast(
        io.BufferedReader,
        binary if hasattr(binary, "peek") else io.BufferedReader(cast(Any, binary)),
    )
    head = buffered.peek(4)[:4]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return io.TextIOWrapper(buffered, encoding="utf-16", newline="")
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")


def detect_format(path: str | Path) -> LogFormat:
    """Tell the format of a call log from its first character or its header line."""
    p = Path(path)
    try:
        with _open_binary(p) as binary, _text(binary) as text:
            head = text.read(65536)
    except UnicodeDecodeError:
        raise _encoding_error(p) from None
    except READ_ERRORS as exc:
        raise InputError(f"{p}: line 1: {_describe_read_error(exc)}") from None
    if "\x00" in head:
        raise InputError(
            f"{p}: line {head.count(chr(10), 0, head.index(chr(0))) + 1}: binary data (a NUL "
            "character); expected a PSTN call log as text (JSON or CSV), gzip or a zip export"
        )
    stripped = head.lstrip()
    if not stripped:
        raise InputError(f"{p}: empty file, expected a PSTN call log")
    if stripped[0] in "{[":
        return "graph-json"
    first = stripped.splitlines()[0]
    header, _ = _csv_header(first)
    return _csv_format(p, {_norm_header(h) for h in header}, header)


def _encoding_error(path: Path) -> InputError:
    """Return the error for a file that is not UTF-8: the line and byte of the first fault."""
    line_no, column, byte = 0, 0, 0
    try:
        with _open_binary(path) as binary:
            first = True
            for line_no, line in enumerate(binary, start=1):
                if first and line.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    line_no = 0
                    break  # UTF-16 text: its lines are not byte lines
                if first and line.startswith(codecs.BOM_UTF8):
                    line = line[3:]
                first = False
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    column, byte = exc.start + 1, line[exc.start]
                    break
            else:
                line_no = 0
    except (InputError, *READ_ERRORS):  # type: ignore[misc]
        line_no = 0
    where = f"line {line_no} (byte {column} of the line, 0x{byte:02X})" if line_no else "text"
    return InputError(
        f"{path}: {where}: not UTF-8 text (nor UTF-16 with a byte-order mark); save the log "
        "as UTF-8 (e.g. a latin-1 export re-encoded) and import it again"
    )


def _csv_format(path: Path, names: set[str], header: Sequence[str]) -> LogFormat:
    if "startdatetime" in names or ("calltype" in names and "usagecountrycode" in names):
        return "graph-csv"
    if names & {k for k, v in _ADMIN_HEADERS.items() if v == "start"}:
        return "admin-csv"
    if {"call_id", "start_s", "duration_s", "call_type", "usage_country"} <= set(header):
        raise InputError(
            f"{path}: a call table from ccsim import-log written as CSV (for reading); the "
            "commands read it as Parquet: ccsim import-log LOG --out calls.parquet"
        )
    raise InputError(
        f"{path}: line 1: cannot tell the call-log format from the header "
        f"({header_shown(header)}); expected "
        "Graph getPstnCalls JSON, a CSV with pstnCallLogRow fields (startDateTime, callType, "
        "...) or the Teams admin center PSTN usage export (Time stamp (UTC), Call type, ...); "
        "or give --format"
    )


__all__ = [
    "detect_format",
]

"""Opening a call-log file (gzip, a zip export, a byte-order mark) and detecting its format."""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, cast

from sim.calllogs.formats.csv_logs import _ADMIN_HEADERS, _csv_header
from sim.calllogs.formats.fields import _norm_header
from sim.calllogs.report import LogFormat
from sim.core.errors import InputError


def _open_binary(path: Path) -> IO[bytes]:
    """Open a log as bytes, through gzip or the PSTN member of a zip export."""
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
        archive = zipfile.ZipFile(raw)
        members = [n for n in archive.namelist() if n.lower().endswith((".csv", ".json"))]
        pstn = [n for n in members if Path(n).name.lower().startswith("pstn")]
        chosen = pstn if pstn else members
        if len(chosen) != 1:
            listed = ", ".join(archive.namelist()) or "nothing"
            raise InputError(
                f"{path}: zip archive: expected one PSTN.calls*.csv (or a single .csv/.json) "
                f"member, found {listed}"
            )
        return archive.open(chosen[0])
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
    with _open_binary(p) as binary, _text(binary) as text:
        head = text.read(65536)
    stripped = head.lstrip()
    if not stripped:
        raise InputError(f"{p}: empty file, expected a PSTN call log")
    if stripped[0] in "{[":
        return "graph-json"
    first = stripped.splitlines()[0]
    header, _ = _csv_header(first)
    return _csv_format(p, {_norm_header(h) for h in header}, header)


def _csv_format(path: Path, names: set[str], header: Sequence[str]) -> LogFormat:
    if "startdatetime" in names or ("calltype" in names and "usagecountrycode" in names):
        return "graph-csv"
    if names & {k for k, v in _ADMIN_HEADERS.items() if v == "start"}:
        return "admin-csv"
    shown = ", ".join(repr(h) for h in header[:8]) or "nothing"
    raise InputError(
        f"{path}: line 1: cannot tell the call-log format from the header ({shown}); expected "
        "Graph getPstnCalls JSON, a CSV with pstnCallLogRow fields (startDateTime, callType, "
        "...) or the Teams admin center PSTN usage export (Time stamp (UTC), Call type, ...); "
        "or give --format"
    )


__all__ = [
    "detect_format",
]

"""The raw fields the format readers gather, shared by the readers and the converter.

``_GRAPH_FIELDS`` maps the Graph ``pstnCallLogRow`` field names to the canonical field
names the readers fill (the converter's input); ``_norm_header`` normalises a header (or
other label) for matching; ``_RawChunk`` is what a reader yields: columns of raw values by
canonical field name, with the line (CSV) or record number (JSON) of each row.
"""

from __future__ import annotations

import gzip
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

READ_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    zlib.error,
    zipfile.BadZipFile,
    gzip.BadGzipFile,
)
"""What reading a damaged file (truncated gzip, corrupt zip member, closed stream) raises."""


def _describe_read_error(exc: BaseException) -> str:
    """Return what a read error means, in words (no traceback, no path)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02X})"
    if isinstance(exc, EOFError):
        return "the compressed file is truncated (it ends before its end-of-stream marker)"
    if isinstance(exc, zipfile.BadZipFile):
        return f"corrupt zip archive ({exc})"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"corrupt compressed data ({exc})"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return f"cannot read ({type(exc).__name__}: {exc})"


def _norm_header(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


_GRAPH_FIELDS: dict[str, str] = {
    "callType": "call_type",
    "startDateTime": "start",
    "endDateTime": "end",
    "duration": "duration",
    "charge": "charge",
    "connectionCharge": "connection_charge",
    "currency": "currency",
    "destinationContext": "context",
    "destinationName": "dest_name",
    "usageCountryCode": "usage_country",
    "tenantCountryCode": "tenant_country",
    "licenseCapability": "licence",
    "inventoryType": "inventory",
    "userPrincipalName": "upn",
    "userId": "user_id",
    "userDisplayName": "display_name",
    "conferenceId": "conference_id",
    "callerNumber": "caller",
    "calleeNumber": "callee",
    "callId": "call_id",
    "id": "row_id",
}


_RawChunk = tuple[Mapping[str, Sequence[Any]], list[int]]


__all__ = [
    "READ_ERRORS",
]

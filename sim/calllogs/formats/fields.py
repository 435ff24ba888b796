"""The raw fields the format readers gather, shared by the readers and the converter.

``_GRAPH_FIELDS`` maps the Graph ``pstnCallLogRow`` field names to the canonical field
names the readers fill (the converter's input); ``_norm_header`` normalises a header (or
other label) for matching; ``_RawChunk`` is what a reader yields: columns of raw values by
canonical field name, with the line (CSV) or record number (JSON) of each row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any


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


__all__ = []

"""Realistic synthetic PSTN call logs, for tests and benchmarks: no real tenant's data.

``synthesize_log`` simulates a scenario's traffic with ``sim.traffic.TrafficModel``, rates
every call with ``sim.telephony.rating.rate_batch`` (pools included, balance ignored) and dresses
the calls as Microsoft Graph ``pstnCallLogRow`` records: fake users (``user00042@
contoso.example``, random GUIDs), fictitious phone numbers in the right country ranges
(UK shared-cost ``+44 845`` numbers for premium calls, ``+1 800`` for US toll-free ...),
conference ids for meeting legs, exact charges. ``write_graph_json``, ``write_graph_csv``
and ``write_admin_csv`` write them in the three formats ``sim.calllogs`` reads;
``write_log`` writes one of them atomically, gzip-compressed when the name ends in ``.gz``
(``ccsim synth-log``).

Durations are whole seconds (as in the report) and the calls are rated with those, so a
log re-rated with the same scenario and rate tables reproduces its charges exactly.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.calllogs.codes import CAPABILITY_OF_CONFERENCING, CAPABILITY_OF_PLAN
from sim.calllogs.countries import calling_prefix, country_name
from sim.calllogs.numbers import PREMIUM_PREFIXES, TOLL_FREE_PREFIXES, number_country
from sim.core.units import format_money
from sim.scenario.model import Scenario
from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES, CallBatch, CallType, NumberType
from sim.telephony.plans import is_domestic
from sim.telephony.rating import Outcome, PoolState, RatingContext, rate_batch
from sim.telephony.tariffs import TariffBook
from sim.traffic.model import TrafficModel

GRAPH_FIELDS: tuple[str, ...] = (
    "id",
    "callId",
    "userId",
    "userPrincipalName",
    "userDisplayName",
    "startDateTime",
    "endDateTime",
    "duration",
    "charge",
    "callType",
    "currency",
    "calleeNumber",
    "usageCountryCode",
    "tenantCountryCode",
    "connectionCharge",
    "callerNumber",
    "destinationContext",
    "destinationName",
    "conferenceId",
    "licenseCapability",
    "inventoryType",
    "operator",
    "callDurationSource",
)
"""pstnCallLogRow fields, in the order of Microsoft's example response."""
ADMIN_COLUMNS: tuple[str, ...] = (
    "Time stamp (UTC)",
    "Display name",
    "Username",
    "Phone number",
    "Call type",
    "Called to",
    "To country or region",
    "Called from",
    "From country or region",
    "Charge",
    "Currency",
    "Duration",
    "Domestic/International",
    "Call ID",
    "Number type",
    "Country or region",
    "Conference ID",
    "Capability",
)
"""Teams admin center PSTN usage report columns."""
_NANP_AREA = {"US": "212", "CA": "416", "PR": "787"}


class _ConferenceTracingModel(TrafficModel):
    """``TrafficModel`` that remembers which meeting each conference leg belongs to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conferences: dict[tuple[int, float], int] = {}
        self.conference_of = self.conferences


@dataclass
class SyntheticLog:
    """A synthetic call log: Graph rows plus what ccsim knew about each call.

    ``rows`` has one column per ``GRAPH_FIELDS`` entry (strings, None for null; money as
    exact decimal text). ``truth`` has, per row: ``group``, ``subscriber``, ``call_type``,
    ``number_type``, ``usage_country``, ``dest_country``, ``start_s`` (scenario clock),
    ``duration_s``, ``amount_micros`` and ``conference``.
    """

    rows: pd.DataFrame
    truth: pd.DataFrame
    calendar_start: datetime
    days: int
    dropped_blocked: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


def _uuid(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    out = []
    for row in raw:
        h = row.tobytes().hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def _prefix_for(country: str, prefixes: Sequence[str]) -> str | None:
    for p in prefixes:
        if number_country(p + "2000000") == country:
            return p
    return None


def _number(country: str, local: int, kind: str = "toll") -> str:
    """Return a fictitious E.164 number of ``country`` (``toll``, ``toll_free``, ``premium``)."""
    tail = f"{local % 10_000_000:07d}"
    if kind == "premium":
        prefix = _prefix_for(country, PREMIUM_PREFIXES)
        if prefix is None:
            raise ValueError(f"no premium-rate number range known for {country}")
        return f"+{prefix}{tail}"
    if kind == "toll_free":
        prefix = _prefix_for(country, TOLL_FREE_PREFIXES)
        if prefix is not None:
            return f"+{prefix}{tail}"
    cc = calling_prefix(country)
    if cc == "1" or (cc.startswith("1") and len(cc) == 1):
        return f"+1{_NANP_AREA.get(country, '212')}555{tail[-4:]}"
    if cc.startswith("1"):  # other NANP countries: the prefix includes the area code
        return f"+{cc}2{tail[-6:]}"
    # National numbers starting with 2 avoid the toll-free and premium ranges.
    return f"+{cc}2{tail}"


def _iso(t: datetime) -> str:
    """Return a UTC instant as Graph writes it: seven fractional digits and Z."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def synthesize_log(
    scenario: Scenario,
    tariffs: TariffBook,
    rng: np.random.Generator,
    *,
    days: int | None = None,
    replication: int = 0,
) -> SyntheticLog:
    """Simulate a scenario's calls for ``days`` local days and dress them as a call log.

    ``rng`` draws only the fake identities (GUIDs, numbers); the traffic comes from the
    scenario's own streams. Calls refused by a rule (no calling plan, ...) never connect
    and are left out; calls cut off when a pool ran out appear with their served length.
    """
    cal = scenario.calendar
    horizon_days = math.ceil(scenario.horizon_s / 86400)
    n_days = horizon_days if days is None else days
    model = _ConferenceTracingModel(
        scenario.traffic,
        scenario.population,
        cal,
        scenario.simulation.seed,
        replication,
        scenario.horizon_s,
    )
    ctx = RatingContext(
        tenant=scenario.tenant,
        tariffs=tariffs,
        calendar=cal,
        funding_mode=scenario.funding.mode,
        hard_cap=scenario.postpaid.hard_cap and scenario.funding.mode == "postpaid",
        on_unratable="block",
        headcount_growth_per_month=scenario.traffic.headcount_growth_per_month,
    )
    state = PoolState()
    batches: list[CallBatch] = []
    amounts: list[NDArray[np.int64]] = []
    fees: list[NDArray[np.int64]] = []
    served: list[NDArray[np.float64]] = []
    blocked = 0
    for day in range(n_days):
        batch = model.draw_day(day)
        conf_keys = [
            (int(s), float(t)) for s, t in zip(batch.subscriber_id, batch.start_s, strict=True)
        ]
        # Whole seconds, as the report has them; the rating uses the same durations.
        rounded = replace(
            batch,
            start_s=np.round(batch.start_s, 6),
            duration_s=np.maximum(1.0, np.round(batch.duration_s)),
        )
        rated = rate_batch(rounded, ctx, state)
        state = rated.state
        keep = rated.outcome != Outcome.BLOCKED
        blocked += int((~keep).sum())
        idx = np.flatnonzero(keep)
        kept = rounded.take(idx)
        conf = np.array([model.conferences.get(conf_keys[i], -1) for i in idx.tolist()])
        batches.append(replace(kept, call_id=conf.astype(np.int64)))  # call_id: conference
        amounts.append(rated.amount[idx])
        charged = (rated.charged_s[idx] > 0) & (rated.amount[idx] > 0)
        fees.append(np.where(charged, rated.connection_fee[idx], 0))
        served.append(np.round(rated.served_s[idx]))
    all_calls = CallBatch.concat(batches) if batches else model.draw_day(0).take(np.zeros(0, int))
    amount = np.concatenate(amounts) if amounts else np.zeros(0, np.int64)
    fee = np.concatenate(fees) if fees else np.zeros(0, np.int64)
    duration = np.concatenate(served) if served else np.zeros(0)
    rows, truth = _dress(scenario, all_calls, amount, fee, duration, rng)
    return SyntheticLog(
        rows=rows,
        truth=truth,
        calendar_start=cal.start,
        days=n_days,
        dropped_blocked=blocked,
    )


def _dress(
    scenario: Scenario,
    calls: CallBatch,
    amount: NDArray[np.int64],
    fee: NDArray[np.int64],
    duration: NDArray[np.float64],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(calls)
    cal = scenario.calendar
    start_utc = cal.start.astimezone(UTC)
    groups = {g.name: g for g in scenario.user_groups}
    services = {s.name: s for s in scenario.service_numbers}
    tenant_country = (
        scenario.user_groups[0].usage_country
        if scenario.user_groups
        else (scenario.service_numbers[0].country if scenario.service_numbers else "US")
    )
    currency = scenario.simulation.currency
    subscribers = np.unique(calls.subscriber_id)
    guid = dict(zip(subscribers.tolist(), _uuid(rng, len(subscribers)), strict=True))
    locals_ = rng.integers(0, 10_000_000, size=n)
    row_ids = _uuid(rng, n)
    call_ids = _uuid(rng, n)
    out: dict[str, list[Any]] = {f: [] for f in GRAPH_FIELDS}
    truth: dict[str, list[Any]] = {
        k: []
        for k in (
            "group",
            "subscriber",
            "call_type",
            "number_type",
            "usage_country",
            "dest_country",
            "start_s",
            "duration_s",
            "amount_micros",
            "conference",
        )
    }
    for i in range(n):
        group = calls.groups[calls.group[i]]
        ct = CALL_TYPES[calls.call_type[i]]
        nt = NUMBER_TYPES[calls.number_type[i]]
        usage = calls.countries[calls.usage_country[i]]
        dest = calls.countries[calls.dest_country[i]]
        sub = int(calls.subscriber_id[i])
        conference = int(calls.call_id[i])
        start = start_utc + timedelta(seconds=float(calls.start_s[i]))
        start = start.replace(microsecond=start.microsecond)  # already whole microseconds
        dur = int(duration[i])
        is_service = group in services
        if is_service:
            svc = services[group]
            own = _number(svc.country, 1000 + sub, svc.number_type)
            capability = CAPABILITY_OF_PLAN.get(svc.plan, "MCOPSTNPP")
            user_id = upn = name = None
        else:
            ug = groups[group]
            own = _number(usage, 100_000 + sub)
            if ct in (CallType.CONF_IN, CallType.CONF_OUT):
                capability = CAPABILITY_OF_CONFERENCING.get(ug.conferencing, "")
            else:
                capability = CAPABILITY_OF_PLAN.get(ug.plan, "")
            user_id = guid[sub]
            upn = f"user{sub:05d}@contoso.example"
            name = f"User {sub:05d}"
        external = _number(dest, int(locals_[i]), nt.value)
        inbound = ct in (CallType.USER_IN, CallType.CONF_IN, CallType.UCAP_IN)
        if ct is CallType.CONF_IN:
            bridge = _number(dest, 555_0100, nt.value)
            caller, callee = _number(usage, int(locals_[i])), bridge
            inventory = "TollFree" if nt is NumberType.TOLL_FREE else "Toll"
        elif ct is CallType.UCAP_IN:
            caller, callee = _number(usage, int(locals_[i])), own
            inventory = "ServiceTollFree" if nt is NumberType.TOLL_FREE else "Service"
        elif ct is CallType.USER_IN:
            caller, callee = _number(usage, int(locals_[i])), own
            inventory = "Subscriber"
        elif ct is CallType.CONF_OUT:
            caller, callee = _number(usage, 555_0100), external
            inventory = "Service"
        else:
            caller, callee = own, external
            inventory = "Service" if is_service else "Subscriber"
        context = None
        if not inbound:
            context = "Domestic" if is_domestic(usage, dest) else "International"
        values = {
            "id": row_ids[i],
            "callId": call_ids[i],
            "userId": user_id,
            "userPrincipalName": upn,
            "userDisplayName": name,
            "startDateTime": _iso(start),
            "endDateTime": _iso(start + timedelta(seconds=dur)),
            "duration": dur,
            "charge": format_money(int(amount[i])),
            "callType": ct.value,
            "currency": currency,
            "calleeNumber": callee,
            "usageCountryCode": usage,
            "tenantCountryCode": tenant_country,
            "connectionCharge": format_money(int(fee[i])),
            "callerNumber": caller,
            "destinationContext": context,
            "destinationName": country_name(dest),
            "conferenceId": str(10_000_000 + conference) if conference >= 0 else None,
            "licenseCapability": capability,
            "inventoryType": inventory,
            "operator": "Microsoft",
            "callDurationSource": "microsoft",
        }
        for k, v in values.items():
            out[k].append(v)
        truth["group"].append(group)
        truth["subscriber"].append(sub)
        truth["call_type"].append(ct.value)
        truth["number_type"].append(nt.value)
        truth["usage_country"].append(usage)
        truth["dest_country"].append(dest)
        truth["start_s"].append(float(calls.start_s[i]))
        truth["duration_s"].append(float(dur))
        truth["amount_micros"].append(int(amount[i]))
        truth["conference"].append(conference)
    return pd.DataFrame(out, columns=list(GRAPH_FIELDS)), pd.DataFrame(truth)


# -- writers -----------------------------------------------------------------------------


_MONEY_TEXT = re.compile(r'"(charge|connectionCharge)": "([0-9.]+)"')


def _json_row(row: dict[str, Any]) -> str:
    """Return a row as JSON with the money fields as exact number literals."""
    return _MONEY_TEXT.sub(r'"\1": \2', json.dumps(row))


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            str(k): (None if _is_missing(v) else (int(v) if isinstance(v, np.integer) else v))
            for k, v in r.items()
        }
        for r in rows.to_dict("records")
    ]


def write_graph_json(
    rows: pd.DataFrame,
    path: str | Path,
    *,
    page_size: int = 1000,
    layout: Literal["pages", "array", "single"] = "pages",
    pretty: bool = False,
) -> Path:
    """Write rows as Graph ``getPstnCalls`` responses.

    ``pages``: one response object per ``page_size`` rows, one after the other (as a
    script that follows ``@odata.nextLink`` would save them); ``array``: a JSON array of
    those pages; ``single``: one object holding every row. ``pretty`` puts each row on its
    own line.
    """
    p = Path(path)
    records = _records(rows)
    size = len(records) if layout == "single" else page_size
    pages = [records[i : i + size] for i in range(0, max(len(records), 1), max(size, 1))]
    sep = ",\n    " if pretty else ", "
    texts = []
    context = (
        "https://graph.microsoft.com/v1.0/$metadata#Collection"
        "(microsoft.graph.callRecords.pstnCallLogRow)"
    )
    for k, page in enumerate(pages):
        body = sep.join(_json_row(r) for r in page)
        head = f'{{"@odata.context": {json.dumps(context)}, "@odata.count": {len(page)}, '
        tail = ""
        if k + 1 < len(pages):
            link = (
                "https://graph.microsoft.com/v1.0/communications/callRecords/getPstnCalls"
                f"(fromDateTime=2026-01-01,toDateTime=2026-03-31)?$skip={(k + 1) * size}"
            )
            tail = f', "@odata.nextLink": {json.dumps(link)}'
        texts.append(f'{head}"value": [{body}]{tail}}}')
    joined = ",\n".join(texts) if layout == "array" else "\n".join(texts)
    text = f"[\n{joined}\n]\n" if layout == "array" else joined + "\n"
    p.write_text(text, encoding="utf-8")
    return p


def write_graph_csv(rows: pd.DataFrame, path: str | Path) -> Path:
    """Write rows as CSV with the pstnCallLogRow field names as headers."""
    p = Path(path)
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(GRAPH_FIELDS)
        for r in _records(rows):
            w.writerow(["" if r[k] is None else r[k] for k in GRAPH_FIELDS])
    return p


def _hms(seconds: int) -> str:
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def write_admin_csv(
    rows: pd.DataFrame,
    path: str | Path,
    *,
    columns: Sequence[str] = ADMIN_COLUMNS,
    bom: bool = True,
) -> Path:
    """Write rows as a Teams admin center PSTN usage report export.

    Times are whole seconds ``YYYY-MM-DD HH:MM:SS`` (UTC), durations ``hh:mm:ss``;
    ``columns`` chooses and orders the columns; ``bom`` starts the file with a UTF-8
    byte-order mark, as Excel-friendly exports do.
    """
    p = Path(path)
    with open(p, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.writer(f)
        w.writerow(list(columns))
        for r in _records(rows):
            inbound = r["callType"] in ("user_in", "conf_in", "ucap_in")
            start = datetime.strptime(r["startDateTime"][:19], "%Y-%m-%dT%H:%M:%S")
            values = {
                "Time stamp (UTC)": start.strftime("%Y-%m-%d %H:%M:%S"),
                "Display name": r["userDisplayName"],
                "Username": r["userPrincipalName"],
                "Phone number": r["calleeNumber"],
                "Call type": r["callType"],
                "Called to": r["calleeNumber"],
                "To country or region": r["destinationName"],
                "Called from": r["callerNumber"],
                "From country or region": country_name(r["usageCountryCode"])
                if not inbound
                else "",
                "Charge": r["charge"],
                "Currency": r["currency"],
                "Duration": _hms(r["duration"]),
                "Domestic/International": r["destinationContext"],
                "Call ID": r["callId"],
                "Number type": r["inventoryType"],
                "Country or region": r["usageCountryCode"],
                "Conference ID": r["conferenceId"],
                "Capability": r["licenseCapability"],
            }
            w.writerow(["" if values[c] is None else values[c] for c in columns])
    return p


LOG_FORMATS = ("graph-json", "graph-csv", "admin-csv")
"""Formats ``write_log`` writes."""


def write_log(
    rows: pd.DataFrame, path: str | Path, fmt: str = "graph-json", *, force: bool = False
) -> Path:
    """Write rows as a call log in ``fmt`` (``LOG_FORMATS``), atomically.

    A name ending in ``.gz`` is gzip-compressed (with no file name or time stamp in the
    header, so the same rows give the same bytes). An existing file is kept unless
    ``force``.
    """
    out = Path(path)
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (known: {', '.join(LOG_FORMATS)})")
    if out.exists() and not force:
        raise FileExistsError(f"{out}: exists already")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    plain = tmp.with_name(tmp.name + ".plain")
    try:
        target = plain if out.suffix == ".gz" else tmp
        if fmt == "graph-json":
            write_graph_json(rows, target)
        elif fmt == "graph-csv":
            write_graph_csv(rows, target)
        else:
            write_admin_csv(rows, target)
        if target is plain:
            with (
                open(plain, "rb") as src,
                open(tmp, "wb") as raw,
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        plain.unlink(missing_ok=True)
    return out


__all__ = [
    "ADMIN_COLUMNS",
    "GRAPH_FIELDS",
    "LOG_FORMATS",
    "SyntheticLog",
    "synthesize_log",
    "write_admin_csv",
    "write_graph_csv",
    "write_graph_json",
    "write_log",
]

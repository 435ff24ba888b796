"""Converting raw chunks into normalised call tables.

``parse_amount`` reads a decimal amount into exact micro-units, ``parse_duration_s`` a
duration in seconds or ``[h:]mm:ss``. ``_Converter`` turns each raw chunk into rows of the
call table: call types, start instants, durations, charges, countries, number types and
pseudonymous users, counting and reporting the bad and skipped rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calllogs.codes import (
    _CT_CODE,
    _MISSING,
    _SKIP_DIRECT_ROUTING,
    _SKIP_EMERGENCY,
    INBOUND_TYPES,
    _call_type_code,
)
from sim.calllogs.countries import country_code
from sim.calllogs.formats.fields import _GRAPH_FIELDS, _norm_header
from sim.calllogs.numbers import e164_digits, number_country, number_kind
from sim.calllogs.privacy import Pseudonymiser
from sim.calllogs.report import ImportOptions, ImportReport, _bad, _counts
from sim.core.units import MICROS_PER_UNIT
from sim.telephony.calls import CallType, NumberType

_NUMBER_RE = re.compile(r"^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$")


def parse_amount(text: str) -> int:
    """Read a decimal amount (``"0.066"``, ``"1E-2"``) into exact micro-units.

    Raise ValueError with the reason for text that is not a number, is finer than a
    micro-unit, or is negative.
    """
    m = _NUMBER_RE.match(text)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac = m.group(1), m.group(2) or "0", m.group(3) or ""
        if len(frac) > 6:
            if frac[6:].strip("0"):
                raise ValueError(f"finer than a micro-unit, got {text!r}")
            frac = frac[:6]
        value = int(whole) * MICROS_PER_UNIT + int(frac.ljust(6, "0"))
        if sign == "-" and value:
            raise ValueError(f"negative amount, got {text!r}")
        return value
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount, got {text!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a decimal amount, got {text!r}")
    scaled = d * MICROS_PER_UNIT
    if scaled != scaled.to_integral_value():
        raise ValueError(f"finer than a micro-unit, got {text!r}")
    if scaled < 0:
        raise ValueError(f"negative amount, got {text!r}")
    return int(scaled)


def parse_duration_s(text: str) -> float:
    """Read a call duration: seconds (``"219"``, ``"12.5"``) or ``[h:]mm:ss``.

    Raise ValueError for text that is neither, or for a negative duration.
    """
    s = text.strip()
    if ":" in s:
        parts = s.split(":")
        if len(parts) > 3 or not all(p.strip().replace(".", "", 1).isdigit() for p in parts):
            raise ValueError(f"not a duration in seconds or h:mm:ss, got {text!r}")
        total = 0.0
        for p in parts:
            total = total * 60 + float(p)
        return total
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"not a duration in seconds or h:mm:ss, got {text!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"not a finite duration, got {text!r}")
    if value < 0:
        raise ValueError(f"negative duration, got {text!r}")
    return value


def _strings(values: Sequence[Any]) -> list[str]:
    """Return the values as stripped strings (None -> "", JSON numbers as their text)."""
    try:
        return list(map(str.strip, values))  # CSV fields, and JSON rows of strings
    except TypeError:
        pass
    out = []
    for v in values:
        if isinstance(v, str):
            out.append(v.strip())
        elif v is None:
            out.append("")
        elif isinstance(v, bool):
            out.append(str(v).lower())
        else:
            out.append(str(v).strip())
    return out


class _Converter:
    """Turn raw chunks into normalised call tables, keeping state across chunks."""

    def __init__(self, path: Path, options: ImportOptions, report: ImportReport) -> None:
        self.path = path
        self.options = options
        self.report = report
        self.kind = "record" if report.format == "graph-json" else "line"
        self.pseudonym: Callable[[str], str] = (
            (lambda s: s) if options.keep_personal_data else Pseudonymiser(options.salt)
        )
        self.origin = options.origin
        if self.origin is not None and self.origin.tzinfo is None:
            self.origin = self.origin.replace(tzinfo=UTC)
        report.origin = self.origin
        self._amounts: dict[str, int | str] = {}
        self._countries: dict[str, str | None] = {}
        self._types: dict[str, int] = {}

    def _amount(self, text: str) -> int | str:
        """Return micro-units, or the reason the text is not an amount."""
        out = self._amounts.get(text)
        if out is None:
            try:
                out = parse_amount(text)
            except ValueError as exc:
                out = str(exc)
            if len(self._amounts) < 100_000:
                self._amounts[text] = out
        return out

    def _country(self, text: str) -> str | None:
        try:
            return self._countries[text]
        except KeyError:
            code = self._countries[text] = country_code(text)
            return code

    def _type(self, text: str) -> int:
        try:
            return self._types[text]
        except KeyError:
            code = self._types[text] = _call_type_code(text) if text else _MISSING
            return code

    def convert(self, cols: Mapping[str, Sequence[Any]], where_list: list[int]) -> pd.DataFrame:
        """Convert one chunk of raw rows; count and report the bad and skipped ones."""
        n = len(where_list)
        get = {name: _strings(cols[name]) if name in cols else [""] * n for name in _ALL_FIELDS}
        reasons: dict[int, tuple[str, str]] = {}
        skips: dict[int, str] = {}
        ct = np.fromiter((self._type(t) for t in get["call_type"]), np.int64, n)
        for i in np.flatnonzero(ct < 0).tolist():
            t = get["call_type"][i]
            if ct[i] == _MISSING:
                reasons[i] = ("call_type", "missing")
            elif ct[i] == _SKIP_EMERGENCY:
                skips[i] = "emergency call (free; not modelled)"
            elif ct[i] == _SKIP_DIRECT_ROUTING:
                skips[i] = "Direct Routing call (not billed through Calling Plans or credits)"
            else:
                known = ", ".join(_CT_NAMES)
                reasons[i] = ("call_type", f"unknown call type {t!r} (known: {known})")
        start = pd.to_datetime(
            pd.Series(get["start"], dtype=object), format="ISO8601", utc=True, errors="coerce"
        )
        for i in np.flatnonzero(start.isna().to_numpy()).tolist():
            s = get["start"][i]
            why = "missing" if not s else f"not an ISO 8601 date-time, got {s!r}"
            reasons.setdefault(i, ("start", why))
        duration = pd.to_numeric(
            pd.Series(get["duration"], dtype=object), errors="coerce"
        ).to_numpy(dtype=np.float64, copy=True)
        for i in np.flatnonzero(~(duration >= 0) | ~np.isfinite(duration)).tolist():
            s = get["duration"][i]
            if not s:
                reasons.setdefault(i, ("duration", "missing"))
                continue
            try:
                value = parse_duration_s(s)
            except ValueError as exc:
                reasons.setdefault(i, ("duration", str(exc)))
                value = 0.0
            duration[i] = value
        charge = np.zeros(n, np.int64)
        conn = np.zeros(n, np.int64)
        for name, target, required in (
            ("charge", charge, True),
            ("connection_charge", conn, False),
        ):
            for i, s in enumerate(get[name]):
                if not s:
                    if required:
                        reasons.setdefault(i, (name, "missing"))
                    continue
                v = self._amount(s)
                if isinstance(v, str):
                    reasons.setdefault(i, (name, v))
                else:
                    target[i] = v
        usage: list[str] = [""] * n
        dest: list[str] = [""] * n
        number_type: list[str] = [""] * n
        user: list[str] = [""] * n
        callee_text = [c or p for c, p in zip(get["callee"], get["phone"], strict=True)]
        country = self._country
        pseudonym = self.pseudonym
        usage_text, dest_text, tenant_text = (
            get["usage_country"],
            get["dest_name"],
            get["tenant_country"],
        )
        inventory, caller = get["inventory"], get["caller"]
        ids, upns, names = get["user_id"], get["upn"], get["display_name"]
        tollfree_inventory: dict[str, bool] = {}
        for i, code in enumerate(ct.tolist()):
            digits = e164_digits(callee_text[i])
            u = country(usage_text[i])
            if u is None and code in _SERVICE_CODES:
                # Bots carry no user: the tenant's country, else the service number's.
                u = country(tenant_text[i]) or number_country(digits)
            if u is None:
                text = usage_text[i]
                why = "missing" if not text else f"unknown country or region {text!r}"
                reasons.setdefault(i, ("usage_country", why))
                u = ""
            usage[i] = u
            inbound = code in _INBOUND_CODES
            d = country(dest_text[i]) or number_country(digits)
            if d is None:
                if inbound and u:
                    d = u  # the tenant's own number: in the usage country by default
                else:
                    text = dest_text[i]
                    why = (
                        f"unknown country or region {text!r}"
                        if text
                        else "missing (no destination name and no +E.164 called number)"
                    )
                    reasons.setdefault(i, ("dest_country", why))
                    d = ""
            dest[i] = d
            kind = number_kind(digits)
            if inbound:
                inv = inventory[i]
                if inv:
                    tf = tollfree_inventory.get(inv)
                    if tf is None:
                        tf = tollfree_inventory[inv] = "tollfree" in _norm_header(inv)
                else:
                    tf = kind is NumberType.TOLL_FREE
                number_type[i] = "toll_free" if tf else "toll"
            else:
                number_type[i] = kind.value if kind is not None else "toll"
            ident = ids[i] or upns[i] or names[i]
            if not ident and code == _UCAP_IN:
                ident = callee_text[i]
            elif not ident and code == _UCAP_OUT:
                ident = caller[i]
            user[i] = pseudonym(ident.lower() if "@" in ident else ident)
        for i in sorted(set(reasons) | set(skips)):
            if i in skips:
                self.report.skipped += 1
                self.report.skipped_by_reason[skips[i]] += 1
            else:
                fld, why = reasons[i]
                _bad(self.report, self.options, self.path, f"{self.kind} {where_list[i]}", fld, why)
        ok = np.ones(n, dtype=bool)
        ok[list(set(reasons) | set(skips))] = False
        idx = np.flatnonzero(ok)
        start_ok = start.iloc[idx].reset_index(drop=True)
        if self.origin is None and len(idx):
            first = start_ok.iloc[0].to_pydatetime(warn=False)
            self.origin = datetime(first.year, first.month, first.day, tzinfo=UTC)
            self.report.origin = self.origin
        start_s = (
            (start_ok - pd.Timestamp(self.origin)).dt.total_seconds().to_numpy(np.float64)
            if len(idx) and self.origin is not None
            else np.zeros(len(idx))
        )
        il = idx.tolist()
        frame = pd.DataFrame(
            {
                "call_id": [get["call_id"][i] or get["row_id"][i] for i in il],
                "line": np.asarray(where_list, np.int64)[idx],
                "start": start_ok,
                "start_s": start_s,
                "duration_s": duration[idx],
                "call_type": [_CT_NAMES[ct[i]] for i in il],
                "number_type": [number_type[i] for i in il],
                "usage_country": [usage[i] for i in il],
                "dest_country": [dest[i] for i in il],
                "licence": [get["licence"][i].upper() for i in il],
                "charge_micros": charge[idx],
                "connection_charge_micros": conn[idx],
                "currency": [get["currency"][i].upper() for i in il],
                "context": [get["context"][i].lower() for i in il],
                "user": [user[i] for i in il],
                "conference_id": [get["conference_id"][i] for i in il],
            }
        )
        if self.options.keep_personal_data:
            frame["display_name"] = [get["display_name"][i] for i in il]
            frame["upn"] = [get["upn"][i] for i in il]
            frame["caller_number"] = [get["caller"][i] for i in il]
            frame["callee_number"] = [callee_text[i] for i in il]
        r = self.report
        r.imported += len(frame)
        if len(frame):
            r.call_types.update(_counts(frame["call_type"]))
            r.currencies.update(_counts(frame["currency"]))
            lo = start_ok.min().to_pydatetime(warn=False)
            hi = start_ok.max().to_pydatetime(warn=False)
            r.first_start = lo if r.first_start is None else min(r.first_start, lo)
            r.last_start = hi if r.last_start is None else max(r.last_start, hi)
        return frame


_CT_NAMES: tuple[str, ...] = tuple(ct.value for ct in CallType)
_UCAP_IN = _CT_CODE["ucap_in"]
_UCAP_OUT = _CT_CODE["ucap_out"]
_SERVICE_CODES = frozenset({_UCAP_IN, _UCAP_OUT})
_INBOUND_CODES = frozenset(_CT_CODE[t.value] for t in INBOUND_TYPES)
_ALL_FIELDS: tuple[str, ...] = (
    *dict.fromkeys(_GRAPH_FIELDS.values()),
    "phone",
    "from_country",
)


__all__ = [
    "parse_amount",
    "parse_duration_s",
]

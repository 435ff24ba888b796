"""Converting raw chunks into normalised call tables.

``parse_amount`` reads a decimal amount into exact micro-units, ``parse_duration_s`` a
duration in seconds or ``[h:]mm:ss``. ``_Converter`` turns each raw chunk into rows of the
call table: call types, start and end instants, durations, charges, currencies, countries,
number types and pseudonymous users, call ids and conference ids, counting and reporting
the bad and skipped rows. A row is bad (reported with its field and reason, never
imported) when a field is missing, unparsable or out of range (``sim.calllogs.report``:
``YEARS``, ``MAX_CHARGE_MICROS``, ``ImportOptions.max_duration_s``), its end is before its
start or does not match start + duration, its currency is not the log's, a user call names
no user, a field holds control characters, or it repeats the id of an earlier row (the
first is kept).
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
from numpy.typing import NDArray

from sim.calllogs.codes import (
    _CT_CODE,
    _MISSING,
    _SKIP_DIRECT_ROUTING,
    _SKIP_EMERGENCY,
    CONFERENCING_OF_CAPABILITY,
    INBOUND_TYPES,
    PLAN_OF_CAPABILITY,
    _call_type_code,
)
from sim.calllogs.countries import country_code
from sim.calllogs.formats.fields import _GRAPH_FIELDS, _norm_header
from sim.calllogs.numbers import e164_digits, number_country, number_kind
from sim.calllogs.privacy import Pseudonymiser
from sim.calllogs.report import (
    MAX_CHARGE_MICROS,
    YEARS,
    ImportOptions,
    ImportReport,
    _bad,
    _counts,
    _shown,
    _skip,
)
from sim.core.codes import currency_error
from sim.core.errors import InputError
from sim.core.units import MICROS_PER_UNIT
from sim.telephony.calls import CallType, NumberType

_NUMBER_RE = re.compile(r"^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$", re.ASCII)
_SECONDS_RE = re.compile(r"^\d+(?:\.\d*)?$", re.ASCII)
_YEAR_RE = re.compile(r"^\s*([+-]?\d+)-")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LICENCE_RE = re.compile(r"^MCO[A-Z0-9_]{0,37}$", re.ASCII)
"""A Teams licence capability as logs write it (``MCOPSTN1``, ``MCOMEETADD``, ``MCOEV``).

Any other text is taken for free text: a bare number or a name in the field stays private.
"""
_CONTEXTS = frozenset({"", "domestic", "international"})
"""The destination contexts logs write (lower case)."""
_MAX_AMOUNT_CHARS = 40


def parse_amount(text: str) -> int:
    """Read a decimal amount (``"0.066"``, ``"1E-2"``) into exact micro-units.

    Raise ValueError with the reason for text that is not a number, is finer than a
    micro-unit, is negative, or is out of range (more than 40 characters, or larger than
    ``MAX_CHARGE_MICROS``).
    """
    if len(text) > _MAX_AMOUNT_CHARS:
        why = f"out of range (more than {_MAX_AMOUNT_CHARS} characters)"
        raise ValueError(f"{why}, got {_shown(text)}")
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
        return _in_range(value, text)
    try:
        d = Decimal(text.strip())
        if not d.is_finite():
            raise ValueError(f"not a decimal amount, got {_shown(text)}")
        if d.adjusted() > 18:
            limit = f"{MAX_CHARGE_MICROS // MICROS_PER_UNIT:,}"
            raise ValueError(f"out of range (at most {limit} per call), got {_shown(text)}")
        scaled = d * MICROS_PER_UNIT
        if scaled != scaled.to_integral_value():
            raise ValueError(f"finer than a micro-unit, got {_shown(text)}")
    except (InvalidOperation, ArithmeticError):
        raise ValueError(f"not a decimal amount, got {_shown(text)}") from None
    if scaled < 0:
        raise ValueError(f"negative amount, got {_shown(text)}")
    return _in_range(int(scaled), text)


def _in_range(micros: int, text: str) -> int:
    if micros > MAX_CHARGE_MICROS:
        limit = f"{MAX_CHARGE_MICROS // MICROS_PER_UNIT:,}"
        raise ValueError(f"out of range (at most {limit} per call), got {_shown(text)}")
    return micros


def parse_duration_s(text: str) -> float:
    """Read a call duration: seconds (``"219"``, ``"12.5"``) or ``[h:]mm:ss``.

    Raise ValueError for text that is neither, or for a negative duration.
    """
    s = text.strip()
    if ":" in s:
        parts = s.split(":")
        if len(parts) > 3 or not all(_SECONDS_RE.match(p.strip()) for p in parts):
            raise ValueError(f"not a duration in seconds or h:mm:ss, got {_shown(text)}")
        total = 0.0
        for p in parts:
            total = total * 60 + float(p)
        return total
    try:
        if not s.isascii():
            raise ValueError(s)
        value = float(s)
    except ValueError:
        raise ValueError(f"not a duration in seconds or h:mm:ss, got {_shown(text)}") from None
    if not np.isfinite(value):
        raise ValueError(f"not a finite duration, got {_shown(text)}")
    if value < 0:
        raise ValueError(f"negative duration, got {_shown(text)}")
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
        self.hasher = Pseudonymiser(options.pseudonym_key)
        report.key_source = options.key_source or (
            "given" if options.pseudonym_key is not None else "random per run"
        )
        self.clear = options.keep_personal_data
        self.pseudonym: Callable[[str], str] = (lambda s: s) if self.clear else self.hasher
        self.origin = options.origin
        if self.origin is not None and self.origin.tzinfo is None:
            self.origin = self.origin.replace(tzinfo=UTC)
        report.origin = self.origin
        self.currency = (options.currency or "").strip().upper()
        if self.currency and not _CURRENCY_RE.match(self.currency):
            raise InputError(
                f"--currency {_shown(self.currency)}: expected an ISO 4217 code such as USD"
            )
        report.currency = self.currency
        self._amounts: dict[str, int | str] = {}
        self._countries: dict[str, str | None] = {}
        self._types: dict[str, int] = {}
        # Keys (64-bit hashes) of the rows imported so far, sorted, with their positions.
        self._seen = np.zeros(0, np.uint64)
        self._seen_where = np.zeros(0, np.uint32)

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

    def _coded(self, value: str, name: str) -> str:
        """Return a code field's value, or its pseudonym when it is no code (free text).

        A licence or context field holds a code in a real log; anything else there (an
        e-mail address or a note pasted in) may name a person, so it is kept only with
        ``keep_personal_data``. The same text gets the same pseudonym, so grouping by
        licence still works.
        """
        if self.clear:
            return value
        if name == "licence":
            known = (
                bool(_LICENCE_RE.match(value))
                or value in PLAN_OF_CAPABILITY
                or value in CONFERENCING_OF_CAPABILITY
            )
        else:
            known = value in _CONTEXTS
        return value if known else self.hasher.digest(value, _CODE_FIELDS[name])

    def _coded_column(self, values: Sequence[str], rows: list[int], name: str) -> list[str]:
        """Return ``_coded`` of a field's rows, each distinct text looked at once."""
        case = str.upper if name == "licence" else str.lower
        chosen = [values[i] for i in rows]
        coded = {v: self._coded(case(v), name) for v in set(chosen)}
        return [coded[v] for v in chosen]

    def _raw(self, get: Mapping[str, list[str]], present: Sequence[str], i: int) -> str:
        """Return row ``i`` as ``field=value`` text, identifiers pseudonymised."""
        parts = []
        for name in sorted(present, key=lambda f: f not in ("row_id", "call_id")):
            v = get[name][i]
            if not v:
                continue
            if name in _IDENTIFIERS:
                v = self.hasher.digest(v, _IDENTIFIERS[name])
            elif name in _CODE_FIELDS:
                v = self._coded(v.upper() if name == "licence" else v.lower(), name)
            elif len(v) > 40:
                v = v[:40] + "..."
            parts.append(f"{name}={_CONTROL_RE.sub('?', v)}")
        return "; ".join(parts)

    def _instants(
        self, texts: list[str], name: str, required: bool, reasons: dict[int, tuple[str, str]]
    ) -> pd.Series:
        """Parse ISO 8601 instants (UTC); rows missing, unparsable or out of range -> NaT."""
        lo, hi = YEARS
        clean: list[str | None] = [s or None for s in texts]
        if required:
            for i in [i for i, s in enumerate(texts) if not s]:
                reasons.setdefault(i, (name, "missing"))
        for i, s in enumerate(texts):
            if s and _YEAR_RE.match(s) is None:  # "now", "today": pandas reads the clock
                clean[i] = None
                reasons.setdefault(i, (name, f"not an ISO 8601 date-time, got {_shown(s)}"))
        try:
            parsed = pd.to_datetime(
                pd.Series(clean, dtype=object), format="ISO8601", utc=True, errors="coerce"
            )
        except (ValueError, TypeError, OverflowError):
            # Some value pandas cannot hold (year 0, ...): one at a time, years checked first.
            for i, s in enumerate(texts):
                m = _YEAR_RE.match(s) if s else None
                year = int(m.group(1)) if m is not None and len(m.group(1)) < 8 else None
                if m is not None and (year is None or not lo <= year < hi):
                    clean[i] = None
                    shown = "beyond 9999999" if year is None else str(year)
                    why = f"out of range: year {shown} (allowed {lo} to {hi - 1}), got {_shown(s)}"
                    reasons.setdefault(i, (name, why))
            parsed = pd.to_datetime(pd.Series([_instant(s) for s in clean], dtype=object), utc=True)
        bad = parsed.isna().to_numpy()
        for i in np.flatnonzero(bad).tolist():
            s = texts[i]
            if s and clean[i] is not None:
                m = _YEAR_RE.match(s)
                year = int(m.group(1)) if m is not None and len(m.group(1)) < 8 else None
                if m is not None and (year is None or not lo <= year < hi):
                    shown = "beyond 9999999" if year is None else str(year)
                    why = f"out of range: year {shown} (allowed {lo} to {hi - 1}), got {_shown(s)}"
                else:
                    why = f"not an ISO 8601 date-time, got {_shown(s)}"
                reasons.setdefault(i, (name, why))
        if (~bad).any():
            years = parsed.dt.year.to_numpy()
            outside = np.flatnonzero(~bad & ((years < lo) | (years >= hi)))
            for i in outside.tolist():
                why = f"out of range: year {int(years[i])} (allowed {lo} to {hi - 1})"
                reasons.setdefault(i, (name, f"{why}, got {_shown(texts[i])}"))
            if len(outside):
                parsed = parsed.mask(pd.Series(np.isin(np.arange(len(parsed)), outside)))
        return parsed.astype("datetime64[ns, UTC]")

    def convert(self, cols: Mapping[str, Sequence[Any]], where_list: list[int]) -> pd.DataFrame:
        """Convert one chunk of raw rows; count and report the bad and skipped ones."""
        n = len(where_list)
        get = {name: _strings(cols[name]) if name in cols else [""] * n for name in _ALL_FIELDS}
        present = [name for name in _ALL_FIELDS if name in cols]
        reasons: dict[int, tuple[str, str]] = {}
        skips: dict[int, str] = {}
        for name in present:
            column = get[name]
            if _CONTROL_RE.search("".join(column)):
                for i in np.flatnonzero([bool(_CONTROL_RE.search(v)) for v in column]).tolist():
                    why = "contains control characters or invalid text"
                    reasons.setdefault(i, (name, why))
        ct = np.fromiter((self._type(t) for t in get["call_type"]), np.int64, n)
        for i in np.flatnonzero(ct < 0).tolist():
            t = get["call_type"][i]
            if ct[i] == _MISSING:
                reasons.setdefault(i, ("call_type", "missing"))
            elif ct[i] == _SKIP_EMERGENCY:
                skips[i] = "emergency call (free; not modelled)"
            elif ct[i] == _SKIP_DIRECT_ROUTING:
                skips[i] = "Direct Routing call (not billed through Calling Plans or credits)"
            else:
                known = ", ".join(_CT_NAMES)
                reasons.setdefault(
                    i, ("call_type", f"unknown call type {_shown(t)} (known: {known})")
                )
        start = self._instants(get["start"], "start", True, reasons)
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
        bound = self.options.max_duration_s
        for i in np.flatnonzero(duration > bound).tolist():
            shown = _shown(get["duration"][i])
            why = f"above the bound of {bound:g} s (--max-duration), got {shown}"
            reasons.setdefault(i, ("duration", why))
        if "end" in cols:
            self._check_end(get["end"], start, duration, reasons)
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
        currency = [c.upper() for c in get["currency"]]
        invalid = {c for c in set(currency) if c and not _CURRENCY_RE.match(c)}
        for i in [i for i, c in enumerate(currency) if c in invalid] if invalid else ():
            why = f"not an ISO 4217 code, got {_shown(currency[i])}"
            reasons.setdefault(i, ("currency", why))
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
        id_field = next((f for f in _USER_FIELDS if f in cols), "")
        idents = get[id_field] if id_field else [""] * n
        tollfree_inventory: dict[str, bool] = {}
        for i, code in enumerate(ct.tolist()):
            digits = e164_digits(callee_text[i])
            u = country(usage_text[i])
            if u is None and code in _SERVICE_CODES:
                # Bots carry no user: the tenant's country, else the service number's.
                u = country(tenant_text[i]) or number_country(digits)
            if u is None:
                text = usage_text[i]
                why = "missing" if not text else f"unknown country or region {_shown(text)}"
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
                        f"unknown country or region {_shown(text)}"
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
            ident = idents[i]
            if not ident and code >= 0:
                if code == _UCAP_IN:
                    ident = callee_text[i]
                elif code == _UCAP_OUT:
                    ident = caller[i]
                elif id_field:
                    label = _FIELD_LABELS.get(id_field, id_field)
                    why = (
                        f"missing ({label}: every {_CT_NAMES[code]} row names its user; only "
                        "ucap_in/ucap_out rows have none)"
                    )
                    reasons.setdefault(i, (id_field, why))
            user[i] = pseudonym(ident.lower() if "@" in ident else ident)
        self._check_currency(currency, reasons, skips, n)
        self._check_duplicates(get, present, reasons, skips, where_list)
        kind_ = self.kind
        for i in sorted(set(reasons) | set(skips)):
            where = f"{kind_} {where_list[i]}"
            raw = self._raw(get, present, i)
            if i in skips:
                _skip(self.report, where, "call_type", skips[i], raw)
            else:
                fld, why = reasons[i]
                if fld == "currency" and why.startswith("not the currency of the log"):
                    self.report.rejected_currencies[currency[i]] += 1
                _bad(self.report, self.options, self.path, where, fld, why, raw)
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
        call_ids = [get["call_id"][i] or get["row_id"][i] for i in il]
        conferences = [get["conference_id"][i] for i in il]
        if not self.clear:
            digest = self.hasher.digest
            call_ids = [digest(c, "c-") for c in call_ids]
            conferences = [digest(c, "m-") for c in conferences]
        frame = pd.DataFrame(
            {
                "call_id": call_ids,
                "line": np.asarray(where_list, np.int64)[idx],
                "start": start_ok,
                "start_s": start_s,
                "duration_s": duration[idx],
                "call_type": [_CT_NAMES[ct[i]] for i in il],
                "number_type": [number_type[i] for i in il],
                "usage_country": [usage[i] for i in il],
                "dest_country": [dest[i] for i in il],
                "licence": self._coded_column(get["licence"], il, "licence"),
                "charge_micros": charge[idx],
                "connection_charge_micros": conn[idx],
                "currency": [currency[i] for i in il],
                "context": self._coded_column(get["context"], il, "context"),
                "user": [user[i] for i in il],
                "conference_id": conferences,
            }
        )
        if self.clear:
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

    def _check_end(
        self,
        texts: list[str],
        start: pd.Series,
        duration: NDArray[np.float64],
        reasons: dict[int, tuple[str, str]],
    ) -> None:
        """Report ends that do not parse, come before the start or differ from start + duration."""
        end = self._instants(texts, "end", False, reasons)
        both = (~end.isna() & ~start.isna()).to_numpy()
        if not both.any():
            return
        span = np.full(len(texts), np.nan)
        span[both] = (end[both] - start[both]).dt.total_seconds().to_numpy(np.float64)
        tol = self.options.end_tolerance_s
        for i in np.flatnonzero(both & (span < 0)).tolist():
            why = f"before the start ({span[i]:g} s), got {_shown(texts[i])}"
            reasons.setdefault(i, ("end", why))
        off = both & (span >= 0) & (np.abs(span - duration) > tol)
        for i in np.flatnonzero(off).tolist():
            why = (
                f"does not match start + duration (end - start = {span[i]:g} s, duration "
                f"{duration[i]:g} s; tolerance {tol:g} s)"
            )
            reasons.setdefault(i, ("end", why))

    def _check_currency(
        self,
        currency: list[str],
        reasons: dict[int, tuple[str, str]],
        skips: dict[int, str],
        n: int,
    ) -> None:
        """Report rows in another currency than the log's (``--currency``, else the first).

        A code that is not ISO 4217 is a bad row and never becomes the log's currency.
        """
        for i, c in enumerate(currency):
            if c and i not in reasons and (error := currency_error(c)) is not None:
                reasons[i] = ("currency", error)
        if not self.currency:
            for i in range(n):
                if currency[i] and i not in reasons and i not in skips:
                    self.currency = self.report.currency = currency[i]
                    break
        expected = self.currency
        if not expected:
            return
        for i, c in enumerate(currency):
            if c and c != expected and i not in reasons:
                why = f"not the currency of the log {expected!r} (--currency), got {c!r}"
                reasons[i] = ("currency", why)

    def _check_duplicates(
        self,
        get: Mapping[str, list[str]],
        present: Sequence[str],
        reasons: dict[int, tuple[str, str]],
        skips: dict[int, str],
        where_list: list[int],
    ) -> None:
        """Report rows repeating the id (or, without ids, the text) of an earlier row."""
        cand = [i for i in range(len(where_list)) if i not in reasons and i not in skips]
        if not cand:
            return
        ids = get["row_id"]
        texts = [
            ids[i] if ids[i] else "\x00" + "\x1f".join(get[f][i] for f in present) for i in cand
        ]
        keys = pd.util.hash_array(np.asarray(texts, dtype=object)).astype(np.uint64)
        where = np.asarray(where_list, np.int64)[cand].astype(np.uint32)
        codes, uniques = pd.factorize(keys)
        first_pos = np.unique(codes, return_index=True)[1]
        first_where = where[first_pos]
        seen = self._seen
        pos = np.searchsorted(seen, uniques)
        pos_c = np.minimum(pos, max(len(seen) - 1, 0))
        earlier = (seen[pos_c] == uniques) if len(seen) else np.zeros(len(uniques), bool)
        earlier_where = np.where(earlier, self._seen_where[pos_c] if len(seen) else 0, -1)
        for k, i in enumerate(cand):
            u = codes[k]
            if earlier[u]:
                ref = int(earlier_where[u])
            elif first_pos[u] != k:
                ref = int(first_where[u])
            else:
                continue
            how = "same id" if ids[i] else "same text"
            why = f"duplicate of {self.kind} {ref} ({how}; the first is kept)"
            reasons[i] = ("id" if ids[i] else "row", why)
        new = ~earlier
        if new.any():
            merged = np.concatenate([seen, uniques[new]])
            merged_where = np.concatenate([self._seen_where, first_where[new]])
            order = np.argsort(merged, kind="stable")
            self._seen, self._seen_where = merged[order], merged_where[order]


def _instant(text: str | None) -> pd.Timestamp | None:
    """Parse one instant, or None (the slow path for chunks pandas refuses as a whole)."""
    if not text:
        return None
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        return None
    try:
        return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    except (ValueError, TypeError, OverflowError):
        return None


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
_IDENTIFIERS: dict[str, str] = {
    "user_id": "u-",
    "upn": "u-",
    "display_name": "u-",
    "caller": "u-",
    "callee": "u-",
    "phone": "u-",
    "call_id": "c-",
    "row_id": "c-",
    "conference_id": "m-",
}
"""Fields that identify a person, a number, a call or a meeting, with their pseudonym prefix."""
_CODE_FIELDS = {"licence": "l-", "context": "x-"}
"""Fields that hold a code, with the pseudonym prefix of any other text in them."""
_USER_FIELDS = ("user_id", "upn", "display_name")
"""The fields naming a call's user, the first one a log has being required."""
_FIELD_LABELS = {"user_id": "userId / AAD ObjectId", "upn": "userPrincipalName / Username"}


__all__ = [
    "parse_amount",
    "parse_duration_s",
]

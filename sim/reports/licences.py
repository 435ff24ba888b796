"""Licence fees: monthly prices of calling plans and Audio Conferencing, month by month.

Prices are inputs: no Microsoft price list is public (``teams-credits.md`` §2.3 quotes two
third-party figures only), so they come from a CSV file such as the illustrative
``scenarios/prices/sample-licences.csv``. Columns: ``kind`` (``plan`` or
``conferencing``), ``name`` (as in ``[[user_groups]]``), ``country`` (usage country;
blank for every country), ``price_per_month`` (decimal string, per licence per calendar
month), ``currency`` (must be the scenario's) and ``note``. Lines starting with ``#`` are
comments.

Fees are exact integer micro-units. A calendar month only partly inside the horizon is
charged pro rata by time (rounded half up to the micro-unit). Calling plans count users,
conferencing counts *purchased* licences; both follow the scenario's
``traffic.headcount_growth_per_month`` month by month, exactly as the traffic model grows
the head-count (``TrafficModel.active_users``). Service numbers pay no licence fee (their
resource-account licence is free; their usage is paid from credits).

Imports the pure core only (units, plans, scenario); no SimPy.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.core.codes import country_error, currency_error
from sim.core.errors import InputError
from sim.core.files import FileRuleError, decode_text, read_bytes
from sim.core.units import Micros, UnitError, parse_money
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.telephony.plans import CALLING_PLANS, CONFERENCING, headcount

KINDS = ("plan", "conferencing")
_COLUMNS = ("kind", "name", "country", "price_per_month", "currency")
SAMPLE_PRICES = Path(__file__).resolve().parents[2] / "scenarios" / "prices" / "sample-licences.csv"
"""The illustrative price table shipped with the repository (absent in a bare install)."""


MAX_PRICE_FILE_BYTES = 4 << 20  # a price per licence: a few hundred lines at most


class PriceFileError(ValueError):
    """A bad licence-price file or a licence it does not price (one line, names the file)."""


@dataclass(frozen=True, slots=True)
class LicencePrices:
    """Monthly price per licence, keyed by (kind, name, country); country "" is any."""

    currency: str
    prices: Mapping[tuple[str, str, str], Micros]
    source: str = ""
    sha256: str = ""
    notes: Mapping[tuple[str, str, str], str] = field(default_factory=dict)

    def price(self, kind: str, name: str, country: str) -> Micros:
        """Return the price of one licence for one month; raise ``PriceFileError``."""
        for key in ((kind, name, country), (kind, name, "")):
            if key in self.prices:
                return self.prices[key]
        raise PriceFileError(
            f"{self.source or 'licence prices'}: no price for {kind} {name!r} "
            f"(usage country {country}); add a row kind={kind}, name={name}"
        )

    @classmethod
    def from_mapping(
        cls, currency: str, prices: Mapping[str, str], source: str = "given"
    ) -> LicencePrices:
        """Build prices from ``{"plan:domestic": "8.00", "conferencing:standard": "4"}``."""
        out: dict[tuple[str, str, str], Micros] = {}
        for key, text in prices.items():
            kind, _, name = key.partition(":")
            _check_item(kind, name, source)
            out[(kind, name, "")] = parse_money(text)
        return cls(currency=currency, prices=out, source=source)


def _check_item(kind: str, name: str, where: str) -> None:
    if kind not in KINDS:
        raise PriceFileError(f"{where}: kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    known = CALLING_PLANS if kind == "plan" else CONFERENCING
    if name not in known:
        raise PriceFileError(
            f"{where}: name: unknown {kind} {name!r} (allowed: {', '.join(sorted(known))})"
        )


def load_prices(path: str | Path) -> LicencePrices:
    """Read a licence-price CSV file; raise ``PriceFileError`` naming file and line."""
    p = Path(path)
    try:  # a regular UTF-8 file of at most the cap, else one line
        raw = read_bytes(p, MAX_PRICE_FILE_BYTES, "licence-price file")
        text = decode_text(raw, p, "licence-price file")
    except FileRuleError as exc:
        raise PriceFileError(str(exc)) from None
    numbered = [
        (k, line)
        for k, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        raise PriceFileError(f"{p}: empty licence-price file (expected {', '.join(_COLUMNS)})")
    reader = csv.DictReader([line for _, line in numbered])
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PriceFileError(
            f"{p}:{numbered[0][0]}: missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(_COLUMNS)})"
        )
    prices: dict[tuple[str, str, str], Micros] = {}
    notes: dict[tuple[str, str, str], str] = {}
    currencies: set[str] = set()
    for (line_no, _), row in zip(numbered[1:], reader, strict=True):
        where = f"{p}:{line_no}"
        kind = (row["kind"] or "").strip()
        name = (row["name"] or "").strip()
        country = (row["country"] or "").strip().upper()
        _check_item(kind, name, where)
        if country and (error := country_error(country)) is not None:
            raise PriceFileError(f"{where}: country: {error} (or blank for every country)")
        currency = (row["currency"] or "").strip().upper()
        if (error := currency_error(currency)) is not None:
            raise PriceFileError(f"{where}: currency: {error}")
        try:
            price = parse_money((row["price_per_month"] or "").strip())
        except UnitError as exc:
            raise PriceFileError(f"{where}: price_per_month: {exc}") from None
        if price < 0:
            raise PriceFileError(f"{where}: price_per_month: must be >= 0")
        key = (kind, name, country)
        if key in prices:
            raise PriceFileError(f"{where}: a second row for {kind} {name!r} {country or 'any'}")
        prices[key] = price
        notes[key] = (row.get("note") or "").strip()
        currencies.add(currency)
    if len(currencies) != 1:
        raise PriceFileError(
            f"{p}: currency: every row needs the same currency, got {sorted(currencies)}"
        )
    return LicencePrices(
        currency=currencies.pop(),
        prices=prices,
        source=str(p),
        sha256=hashlib.sha256(raw).hexdigest(),
        notes=notes,
    )


@dataclass(frozen=True, slots=True)
class Month:
    """A local calendar month as far as it lies inside the horizon."""

    label: str
    """``YYYY-MM``."""
    index: int
    """Calendar months since the start's month (0 = the first)."""
    start_s: float
    end_s: float
    covered_s: int
    """Seconds of the month inside the horizon."""
    length_s: int
    """Seconds of the whole month (local time: DST months are an hour shorter or longer)."""

    @property
    def fraction(self) -> float:
        """Share of the month inside the horizon (for statistics, never for money)."""
        return self.covered_s / self.length_s


def months_of(scenario: Scenario) -> list[Month]:
    """Return the local calendar months that overlap the horizon, in order."""
    cal = scenario.calendar
    horizon = scenario.horizon_s
    out: list[Month] = []
    t = 0.0
    k = 0
    while t < horizon:
        first = cal.month_start_s(t)
        nxt = cal.next_month_start_s(t)
        end = min(nxt, horizon)
        out.append(
            Month(
                label=cal.month_label(t),
                index=k,
                start_s=t,
                end_s=end,
                covered_s=round(end - t),
                length_s=round(nxt - first),
            )
        )
        t = nxt
        k += 1
    return out


def month_label_after(scenario: Scenario, t_s: float) -> str:
    """Return the ``YYYY-MM`` of the first month start strictly after ``t_s``."""
    cal = scenario.calendar
    return cal.month_label(cal.next_month_start_s(t_s))


def prorate(amount: int, covered_s: int, length_s: int) -> Micros:
    """Return ``amount x covered / length`` in micro-units, rounded half up (exact)."""
    if covered_s >= length_s:
        return Micros(amount)
    return Micros((2 * amount * covered_s + length_s) // (2 * length_s))


FEE_COLUMNS = [
    "month",
    "group",
    "kind",
    "name",
    "country",
    "licences",
    "price_micros",
    "fee_micros",
]


def licence_fees(scenario: Scenario, prices: LicencePrices) -> pd.DataFrame:
    """Return the licence fees of every user group, month by month (exact micro-units).

    One row per month x group x licence kind: licences held (head-count growth applied),
    the monthly price of one, and the fee for the part of the month inside the horizon.
    Raise ``PriceFileError`` when the currency differs or a licence has no price.
    """
    currency = scenario.simulation.currency
    if prices.currency != currency:
        raise PriceFileError(
            f"{prices.source or 'licence prices'}: currency: prices are in {prices.currency}, "
            f"the scenario bills in {currency}"
        )
    growth = scenario.traffic.headcount_growth_per_month
    rows = []
    for month in months_of(scenario):
        for g in scenario.user_groups:
            users = headcount(g.count, growth, month.index)
            conf = (
                headcount(g.purchased_conferencing, growth, month.index)
                if CONFERENCING[g.conferencing].licensed
                else 0
            )
            for kind, name, n in (("plan", g.plan, users), ("conferencing", g.conferencing, conf)):
                if kind == "conferencing" and not CONFERENCING[name].licensed:
                    continue
                price = prices.price(kind, name, g.usage_country)
                rows.append(
                    {
                        "month": month.label,
                        "group": g.name,
                        "kind": kind,
                        "name": name,
                        "country": g.usage_country,
                        "licences": n,
                        "price_micros": int(price),
                        "fee_micros": int(prorate(n * price, month.covered_s, month.length_s)),
                    }
                )
    return pd.DataFrame(rows, columns=FEE_COLUMNS)


def user_months(scenario: Scenario) -> float:
    """Return the user-months inside the horizon (head-count growth and partial months)."""
    growth = scenario.traffic.headcount_growth_per_month
    return sum(
        headcount(g.count, growth, m.index) * m.fraction
        for m in months_of(scenario)
        for g in scenario.user_groups
    )


def find_prices(loaded: LoadedScenario, path: str | Path | None = None) -> LicencePrices:
    """Return the licence prices; raise ``InputError`` for a bad or missing table.

    ``path`` when given, else ``prices/sample-licences.csv`` beside the scenario file,
    else the repository's illustrative ``scenarios/prices/sample-licences.csv``.
    """
    candidates: list[Path]
    if path is not None:
        candidates = [Path(path)]
    else:
        candidates = [loaded.path.parent / "prices" / "sample-licences.csv", SAMPLE_PRICES]
    for candidate in candidates:
        if path is not None or candidate.exists():
            try:
                return load_prices(candidate)
            except PriceFileError as exc:
                raise InputError(str(exc)) from None
    raise InputError(
        f"{loaded.path}: no licence-price table found; give --prices FILE "
        "(see scenarios/prices/sample-licences.csv)"
    )


__all__ = [
    "SAMPLE_PRICES",
    "LicencePrices",
    "Month",
    "PriceFileError",
    "headcount",
    "licence_fees",
    "load_prices",
    "month_label_after",
    "months_of",
    "prorate",
    "user_months",
]

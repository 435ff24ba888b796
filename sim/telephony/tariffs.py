"""Rate tables: per-minute prices by destination, read from CSV files, and exact charges.

Microsoft publishes its rates only as downloadable sheets (teams-credits.md §7), so rates
are inputs. A scenario names four tables:

``outbound``
    user and auto-attendant/call-queue outbound calls, by called country;
``toll_free``
    inbound minutes on the tenant's toll-free numbers (conference bridge and service
    numbers), by the country of the toll-free number;
``dial_out``
    meeting dial-out, by called country (§3: the rate depends on the destination only);
``dial_in``
    toll dial-in on pay-per-minute Audio Conferencing (§1), by bridge-number country.
    Optional: only that licence charges toll dial-in.

CSV columns: ``destination`` (ISO alpha-2 country, a zone name such as ``zone_a``, or
``default``), ``number_type`` (optional; blank = any), ``rate_per_min`` (decimal
string), ``connection_fee`` (decimal string, optional, default 0), ``increment_s``
(billing increment, optional, default 60), ``origin`` (optional: the caller's usage
country or a zone; blank or ``default`` = any origin) and ``call_type`` (optional: a
``CallType`` value such as ``ucap_out``; blank = any). Microsoft's rate sheets are one
sheet per origin country (teams-credits.md §7), so ``origin`` keys a row by where the
call is placed from (the licence usage location, or the service number's country), and
``call_type`` lets a connection fee (or a rate) differ by call type, e.g. forwarded
calls or auto-attendant outbound calls. Lines starting with ``#`` are comments. Bad
rows raise ``TariffFileError`` naming file, line and column. A table without the two
optional key columns prices every call exactly as before they existed.

Money rule (exact, integers only): billable seconds are the duration rounded **up** to the
increment; ``charge = connection_fee + ceil(billable_s * rate_per_min / 60)`` micro-units,
i.e. the pro-rata part is rounded **up** to the micro-unit, like the increment itself never
in the customer's favour. A call with no billable seconds costs nothing (no fee).

``[tariffs] scale`` (a number > 0, default 1.0) multiplies every per-minute rate and
connection fee of the loaded tables, each rounded half up to the micro-unit (the factor
is taken as the decimal it is written as: ``1.1`` is exactly 1.1), so price changes can
be studied without editing the sheets; increments stay as they are.

Files are read strictly (``sim.core.files``): a regular file of at most 16 MiB, UTF-8
text; a relative path must stay inside the scenario's folder unless ``[tariffs]
allow_outside = true``. Destinations are checked against ISO 3166-1 (``sim.core.codes``).
Errors quote column names, never the file's contents.

Imports ``sim.core`` and ``sim.telephony.calls`` only.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sim.core.codes import country_error
from sim.core.files import FileRuleError, read_text, resolve_inside
from sim.core.limits import MAX_TABLE_BYTES
from sim.core.schema import ConfigError, FieldError, require
from sim.core.units import SECONDS_PER_MINUTE, Micros, UnitError, format_money, parse_money
from sim.telephony.calls import NUMBER_TYPES, CallType, NumberType, check_country

DEFAULT_DESTINATION = "default"
MAX_RATE = Micros(1_000 * 1_000_000)
"""Largest accepted rate or fee (1000 currency units); keeps int64 products exact."""
MAX_INCREMENT_S = 3_600
MAX_SCALE = 1_000.0
"""Largest ``[tariffs] scale``."""
_COLUMN_NAME_RE = re.compile(r"^[A-Za-z0-9_ ]{1,40}$")

TableName = Literal["outbound", "toll_free", "dial_out", "dial_in"]
TABLE_NAMES: tuple[TableName, ...] = ("outbound", "toll_free", "dial_out", "dial_in")
"""Code table of the rate tables in the vectorised rating path."""

_COLUMNS = (
    "destination",
    "number_type",
    "rate_per_min",
    "connection_fee",
    "increment_s",
    "origin",
    "call_type",
)
_REQUIRED = ("destination", "rate_per_min")


def _load_zone_a() -> frozenset[str]:
    text = (resources.files("sim") / "data" / "zone_a.csv").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    rows = list(csv.DictReader(lines))
    return frozenset(check_country(r["country"].strip()) for r in rows)


ZONE_A: frozenset[str] = _load_zone_a()
"""The 44 Audio Conferencing Zone A countries (teams-credits.md §3), ``sim/data/zone_a.csv``."""

ZONES: Mapping[str, frozenset[str]] = {"zone_a": ZONE_A}
"""Zone names usable as a tariff destination."""


class TariffFileError(ConfigError):
    """A bad rate-table row: ``file:line: column: message``."""

    def __init__(self, file: str, line: int, column: str | None, message: str) -> None:
        super().__init__(f"{file}:{line}: {column}" if column else f"{file}:{line}", message)
        self.file = file
        self.line = line
        self.column = column


def billable_seconds(duration_s: float, increment_s: int, covered_s: int = 0) -> int:
    """Round ``duration_s - covered_s`` up to whole increments; zero stays zero.

    ``covered_s`` is the part of the call already paid for (by a pool). The result is the
    smallest multiple of the increment with ``covered_s + result >= duration_s``, exactly:
    the float quotient is corrected when rounding made it fall short.
    """
    k = math.ceil((duration_s - covered_s) / increment_s)
    if covered_s + k * increment_s < duration_s:
        k += 1
    return increment_s * k


def scale_money(amount: int, scale: float) -> Micros:
    """Return ``amount * scale`` in micro-units, rounded half up, exactly.

    ``scale`` is taken as the decimal it is written as (its shortest ``repr``: ``1.1`` is
    exactly 1.1, not the nearest binary float), so the product is exact integer money.
    """
    product = Decimal(int(amount)) * Decimal(repr(float(scale)))
    return Micros(int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def charge_for(billable_s: int, rate_per_min: int, connection_fee: int) -> Micros:
    """Price ``billable_s`` seconds exactly: fee + pro-rata rounded up to the micro-unit."""
    if billable_s <= 0:
        return Micros(0)
    return Micros(connection_fee + -(-billable_s * rate_per_min // SECONDS_PER_MINUTE))


TariffKey = tuple[str | None, str, NumberType | None, CallType | None]
"""(origin, destination, number type, call type) of a rate-table row; None: any."""


@dataclass(frozen=True, slots=True)
class Tariff:
    """Price of calls to one destination: a row of a rate table."""

    rate_per_min: Micros
    connection_fee: Micros = Micros(0)
    increment_s: int = 60
    destination: str = DEFAULT_DESTINATION
    number_type: NumberType | None = None
    source: str = ""
    """Where the row came from, e.g. ``sample-outbound.csv:7``."""
    origin: str | None = None
    """Usage country (or zone) of the caller the row applies to; None for any origin."""
    call_type: CallType | None = None
    """Call type the row applies to; None for any."""

    @property
    def key(self) -> TariffKey:
        """Return the row's key: (origin, destination, number type, call type)."""
        return (self.origin, self.destination, self.number_type, self.call_type)

    def __post_init__(self) -> None:
        require(0 <= self.rate_per_min <= MAX_RATE, "rate_per_min", "must be >= 0 and <= 1000")
        require(0 <= self.connection_fee <= MAX_RATE, "connection_fee", "must be >= 0 and <= 1000")
        require(
            0 < self.increment_s <= MAX_INCREMENT_S,
            "increment_s",
            f"must be a whole number of seconds in 1..{MAX_INCREMENT_S}",
        )

    def billable_seconds(self, duration_s: float, covered_s: int = 0) -> int:
        """Round ``duration_s - covered_s`` up to this tariff's increment."""
        return billable_seconds(duration_s, self.increment_s, covered_s)

    def charge(self, billable_s: int) -> Micros:
        """Price ``billable_s`` already-rounded seconds (see the module's money rule)."""
        return charge_for(billable_s, self.rate_per_min, self.connection_fee)


def _places(country: str) -> list[str]:
    """Return the country, then the zones holding it (sorted by name)."""
    return [country, *sorted(z for z, members in ZONES.items() if country in members)]


@dataclass(frozen=True, slots=True)
class TariffTable:
    """A rate table: origin × destination × number type × call type → tariff.

    Lookup for a call from ``origin`` to ``country``: the rows of the origin country come
    first, then those of each zone holding it, then the any-origin rows (Microsoft's sheets
    are per origin, so an origin's ``default`` row beats an any-origin country row).
    Within one origin: the country's rows, then each zone's, then ``default``; within one
    destination, the row for the number type before the any-type row, and within those the
    row for the call type before the any-type row. No match: the call cannot be rated. A
    table with no origin or call-type rows is looked up exactly as a destination table.
    """

    name: str
    rows: tuple[Tariff, ...] = ()
    _index: dict[TariffKey, int] = field(init=False, repr=False, compare=False)
    _origins: frozenset[str | None] = field(init=False, repr=False, compare=False)
    _typed: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[TariffKey, int] = {}
        for i, row in enumerate(self.rows):
            if row.key in index:
                raise ValueError(f"table {self.name!r}: duplicate row for {row.key}")
            index[row.key] = i
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_origins", frozenset(r.origin for r in self.rows))
        object.__setattr__(self, "_typed", any(r.call_type is not None for r in self.rows))

    @property
    def by_origin(self) -> bool:
        """Return True when some row is keyed by an origin."""
        return self._origins != frozenset({None}) and bool(self.rows)

    @property
    def by_call_type(self) -> bool:
        """Return True when some row is keyed by a call type."""
        return self._typed

    def find_index(
        self,
        country: str,
        number_type: NumberType,
        origin: str | None = None,
        call_type: CallType | None = None,
    ) -> int:
        """Return the position of the row pricing a call, or -1 when none does."""
        origins: list[str | None] = [None]
        if origin is not None and self.by_origin:
            origins = [o for o in _places(origin) if o in self._origins] + [None]
        types = (call_type, None) if call_type is not None and self._typed else (None,)
        destinations = [*_places(country), DEFAULT_DESTINATION]
        for org in origins:
            for dest in destinations:
                for nt in (number_type, None):
                    for ct in types:
                        i = self._index.get((org, dest, nt, ct))
                        if i is not None:
                            return i
        return -1

    def find(
        self,
        country: str,
        number_type: NumberType,
        origin: str | None = None,
        call_type: CallType | None = None,
    ) -> Tariff | None:
        """Return the tariff pricing a call to ``country``, or None when none does."""
        i = self.find_index(country, number_type, origin, call_type)
        return self.rows[i] if i >= 0 else None

    def lookup_grid(self, countries: Sequence[str]) -> NDArray[np.int32]:
        """Return row positions for every (country code, number-type code); -1 for none.

        Any origin and call type: only rows keyed by neither take part.
        """
        grid = np.full((len(countries), len(NUMBER_TYPES)), -1, dtype=np.int32)
        for ci, country in enumerate(countries):
            for ti, nt in enumerate(NUMBER_TYPES):
                grid[ci, ti] = self.find_index(country, nt)
        return grid

    def columns(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """Return (rate_per_min, connection_fee, increment_s) as arrays over the rows."""
        return (
            np.array([r.rate_per_min for r in self.rows], dtype=np.int64),
            np.array([r.connection_fee for r in self.rows], dtype=np.int64),
            np.array([r.increment_s for r in self.rows], dtype=np.int64),
        )

    def scaled(self, scale: float) -> TariffTable:
        """Return the table with every rate and connection fee times ``scale``.

        Each amount is rounded half up to the micro-unit (``scale_money``); increments,
        destinations and sources stay. A factor of 1 returns this table itself.

        Raises
        ------
        ConfigError
            If a scaled amount exceeds the largest accepted rate (1000), naming the row.
        """
        if scale == 1:
            return self
        rows = []
        for row in self.rows:
            rate = scale_money(row.rate_per_min, scale)
            fee = scale_money(row.connection_fee, scale)
            for column, value in (("rate_per_min", rate), ("connection_fee", fee)):
                if value > MAX_RATE:
                    raise ConfigError(
                        f"{row.source or self.name}: {column}",
                        f"{format_money(value)} after tariffs.scale = {scale!r} is above the "
                        f"largest accepted amount, {format_money(MAX_RATE)}",
                    )
            rows.append(replace(row, rate_per_min=rate, connection_fee=fee))
        return TariffTable(name=self.name, rows=tuple(rows))

    @classmethod
    def from_csv(cls, path: str | Path, name: str | None = None) -> TariffTable:
        """Read a rate table from a CSV file; errors name the file, line and column."""
        p = Path(path)
        try:
            text = read_text(p, MAX_TABLE_BYTES, "rate table")
        except FileRuleError as exc:
            raise ConfigError(exc.path, exc.message) from None
        return cls.from_text(text, file=str(p), name=name or p.stem)

    @classmethod
    def from_text(cls, text: str, file: str = "<tariffs>", name: str = "") -> TariffTable:
        """Parse CSV text (see the module docstring for the columns)."""
        header: list[str] | None = None
        rows: list[Tariff] = []
        seen: dict[TariffKey, int] = {}
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                fields = [f.strip() for f in next(csv.reader([line]))]
            except csv.Error:
                raise TariffFileError(file, line_no, None, "not a CSV line") from None
            if header is None:
                header = _check_header(fields, file, line_no)
                continue
            if len(fields) != len(header):
                raise TariffFileError(
                    file,
                    line_no,
                    None,
                    f"expected {len(header)} fields ({', '.join(header)}), got {len(fields)}",
                )
            row = _parse_row(dict(zip(header, fields, strict=True)), file, line_no)
            if row.key in seen:
                raise TariffFileError(
                    file,
                    line_no,
                    "destination",
                    f"duplicate row for {_describe_key(row)} (first given on line {seen[row.key]})",
                )
            seen[row.key] = line_no
            rows.append(row)
        if header is None:
            raise TariffFileError(file, 1, None, "empty rate table: expected a header line")
        return cls(name=name, rows=tuple(rows))


def _describe_key(row: Tariff) -> str:
    text = repr(row.destination)
    if row.number_type is not None:
        text += f" {row.number_type.value}"
    if row.origin is not None:
        text += f" from {row.origin}"
    if row.call_type is not None:
        text += f" ({row.call_type.value})"
    return text


def _parse_place(value: str, column: str, file: str, line_no: int) -> None:
    """Raise ``TariffFileError`` unless ``value`` is a country, a zone or ``default``."""
    if value != DEFAULT_DESTINATION and value not in ZONES:
        error = country_error(value)
        if error is not None:
            zones = ", ".join(sorted(ZONES))
            message = f"{error}; or a zone ({zones}) or 'default'"
            raise TariffFileError(file, line_no, column, message)


def _check_header(fields: list[str], file: str, line_no: int) -> list[str]:
    for i, col in enumerate(fields):
        if col not in _COLUMNS:
            # Quote a header cell only when it looks like a column name, never other text.
            shown = col if _COLUMN_NAME_RE.match(col) else f"column {i + 1}"
            raise TariffFileError(
                file,
                line_no,
                shown,
                f"unknown column (allowed: {', '.join(_COLUMNS)}); is this a rate table?",
            )
        if col in fields[:i]:
            raise TariffFileError(file, line_no, col, "column given twice")
    for col in _REQUIRED:
        if col not in fields:
            raise TariffFileError(file, line_no, col, "missing required column")
    return fields


def _parse_row(raw: dict[str, str], file: str, line_no: int) -> Tariff:
    dest = raw["destination"]
    _parse_place(dest, "destination", file, line_no)
    origin: str | None = raw.get("origin") or None
    if origin is not None:
        _parse_place(origin, "origin", file, line_no)
        if origin == DEFAULT_DESTINATION:
            origin = None
    call_type: CallType | None = None
    if raw.get("call_type"):
        try:
            call_type = CallType(raw["call_type"])
        except ValueError:
            allowed = ", ".join(t.value for t in CallType)
            raise TariffFileError(
                file,
                line_no,
                "call_type",
                f"expected one of {allowed} or blank, got {raw['call_type']!r}",
            ) from None
    number_type: NumberType | None = None
    if raw.get("number_type"):
        try:
            number_type = NumberType(raw["number_type"])
        except ValueError:
            allowed = ", ".join(t.value for t in NumberType)
            raise TariffFileError(
                file,
                line_no,
                "number_type",
                f"expected one of {allowed} or blank, got {raw['number_type']!r}",
            ) from None
    money: dict[str, Micros] = {}
    for col in ("rate_per_min", "connection_fee"):
        value = raw.get(col) or "0"
        if col == "rate_per_min" and not raw[col]:
            raise TariffFileError(file, line_no, col, "missing value")
        try:
            money[col] = parse_money(value)
        except UnitError as exc:
            raise TariffFileError(file, line_no, col, str(exc)) from None
    increment_text = raw.get("increment_s") or "60"
    try:
        if not increment_text.strip().isascii():  # int() would read "٦٠" as 60
            raise ValueError(increment_text)
        increment_s = int(increment_text)
    except ValueError:
        raise TariffFileError(
            file,
            line_no,
            "increment_s",
            f"expected a whole number of seconds such as 60, got {increment_text!r}",
        ) from None
    try:
        return Tariff(
            rate_per_min=money["rate_per_min"],
            connection_fee=money["connection_fee"],
            increment_s=increment_s,
            destination=dest,
            number_type=number_type,
            source=f"{Path(file).name}:{line_no}",
            origin=origin,
            call_type=call_type,
        )
    except FieldError as exc:
        raise TariffFileError(file, line_no, exc.field, exc.message) from None


@dataclass(frozen=True, slots=True)
class TariffBook:
    """The four rate tables of a scenario."""

    outbound: TariffTable
    toll_free: TariffTable
    dial_out: TariffTable
    dial_in: TariffTable = field(default_factory=lambda: TariffTable("dial_in"))

    def table(self, name: TableName) -> TariffTable:
        """Return a table by name."""
        table: TariffTable = getattr(self, name)
        return table

    def tables(self) -> tuple[TariffTable, ...]:
        """Return the tables in ``TABLE_NAMES`` order."""
        return tuple(self.table(n) for n in TABLE_NAMES)

    def scaled(self, scale: float) -> TariffBook:
        """Return the book with every rate and fee times ``scale`` (``TariffTable.scaled``).

        A factor of 1 returns this book itself, so an unscaled scenario is priced by
        exactly the tables as read.
        """
        if scale == 1:
            return self
        return TariffBook(*(t.scaled(scale) for t in self.tables()))


@dataclass(frozen=True, slots=True)
class TariffFiles:
    """Scenario section naming the rate-table CSV files (relative to the scenario file).

    ``scale`` (a number > 0, default 1.0) multiplies every per-minute rate and connection
    fee of the loaded tables, rounded half up to the micro-unit (``TariffBook.scaled``):
    ``1.2`` prices every call as if the sheets were 20 % dearer. A relative path must stay
    inside the scenario's folder (symlinks followed) unless ``allow_outside = true``; an
    absolute path is taken as given.
    """

    outbound: str
    toll_free: str
    dial_out: str
    dial_in: str | None = None
    scale: float = 1.0
    allow_outside: bool | None = None
    """``true``: relative paths may leave the scenario's folder (``../shared/x.csv``)."""

    def __post_init__(self) -> None:
        for name in ("outbound", "toll_free", "dial_out", "dial_in"):
            value = getattr(self, name)
            if value is not None:
                require(bool(value.strip()), name, "expected a CSV file path")
                require(value.endswith(".csv"), name, f"expected a .csv file, got {value!r}")
        require(
            math.isfinite(self.scale) and self.scale > 0,
            "scale",
            f"must be a number > 0 (1.0: the rates as written), got {self.scale!r}",
        )

    def load(self, base_dir: str | Path = ".") -> TariffBook:
        """Read the tables, scaled by ``scale``; relative paths are taken from ``base_dir``."""
        base = Path(base_dir)

        def read(rel: str, name: str) -> TariffTable:
            try:
                path = resolve_inside(base, rel, bool(self.allow_outside), f"tariffs.{name}")
            except FileRuleError as exc:
                raise ConfigError(exc.path, exc.message) from None
            return TariffTable.from_csv(path, name)

        book = TariffBook(
            outbound=read(self.outbound, "outbound"),
            toll_free=read(self.toll_free, "toll_free"),
            dial_out=read(self.dial_out, "dial_out"),
            dial_in=read(self.dial_in, "dial_in") if self.dial_in else TariffTable("dial_in"),
        )
        return book.scaled(self.scale)


__all__ = [
    "DEFAULT_DESTINATION",
    "MAX_SCALE",
    "TABLE_NAMES",
    "ZONES",
    "ZONE_A",
    "TableName",
    "Tariff",
    "TariffBook",
    "TariffFileError",
    "TariffFiles",
    "TariffKey",
    "TariffTable",
    "billable_seconds",
    "charge_for",
    "scale_money",
]

"""Units of the model: exact money, durations and the scenario calendar.

Money is held as integer micro-units (``Micros``; 1 currency unit = 1,000,000) so that
every balance is exact. Decimal strings appear only at the edges (scenario files, result
tables). The simulation clock counts seconds since the scenario start; ``Calendar`` maps
it to local dates in the scenario's time zone.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NewType, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_D = TypeVar("_D", date, datetime)

Micros = NewType("Micros", int)
"""Money in integer micro-units of the billing currency."""

Seconds = NewType("Seconds", float)
"""A duration or an instant on the simulation clock, in seconds."""

MICROS_PER_UNIT = 1_000_000
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3_600
SECONDS_PER_DAY = 86_400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY

_MONEY_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")  # ASCII digits only
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)", re.ASCII)
_DURATION_UNIT_S = {
    "ms": 0.001,
    "s": 1.0,
    "m": float(SECONDS_PER_MINUTE),
    "min": float(SECONDS_PER_MINUTE),
    "h": float(SECONDS_PER_HOUR),
    "d": float(SECONDS_PER_DAY),
    "w": float(SECONDS_PER_WEEK),
}


class UnitError(ValueError):
    """A value that cannot be read as money, a duration or a calendar setting."""


def cut(text: str, limit: int = 40) -> str:
    """Return ``text`` for a message, at most ``limit`` characters (``...`` where cut)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def shown(value: object, limit: int = 40) -> str:
    """Return ``repr(value)`` for a message, at most ``limit`` characters."""
    return cut(repr(value), limit)


def parse_money(text: str | int) -> Micros:
    """Read a decimal amount such as ``"12.50"`` into micro-units, exactly.

    Integers are accepted as whole currency units. Floats are refused because a binary
    float cannot carry a decimal amount exactly; more than six decimal places is refused
    because it is finer than a micro-unit.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise UnitError(
            f'expected money as a decimal string such as "12.50", got '
            f"{type(text).__name__} {shown(text)}"
        )
    if isinstance(text, int):
        return Micros(text * MICROS_PER_UNIT)
    s = text.strip().replace("_", "")
    if not _MONEY_RE.match(s):
        raise UnitError(f'expected money as a decimal string such as "12.50", got {shown(text)}')
    try:
        value = Decimal(s)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise UnitError(f"not a decimal amount: {shown(text)}") from exc
    scaled = value * MICROS_PER_UNIT
    if scaled != scaled.to_integral_value():
        raise UnitError(f"{shown(text)} has more than 6 decimal places (finer than a micro-unit)")
    return Micros(int(scaled))


def round_half_away(value: float) -> int:
    """Round to a whole number (a micro-unit of money) half away from zero: -2.5 is -3."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def format_money(amount: int, places: int = 2) -> str:
    """Write micro-units as a decimal string with at least ``places`` decimals.

    Nothing is rounded: amounts finer than ``places`` keep their extra digits.
    """
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), MICROS_PER_UNIT)
    digits = f"{frac:06d}".rstrip("0")
    digits = digits.ljust(places, "0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def is_whole_units(amount: int) -> bool:
    """Return True when ``amount`` is a whole number of currency units."""
    return amount % MICROS_PER_UNIT == 0


def parse_duration(text: str | int | float) -> Seconds:
    """Read a duration such as ``"90s"``, ``"2h"``, ``"3d"`` or ``"1h30m"`` into seconds.

    A bare number is read as seconds. Units: ``ms``, ``s``, ``m``/``min``, ``h``, ``d``,
    ``w``. Negative durations are refused.
    """
    if isinstance(text, bool):
        raise UnitError(f'expected a duration such as "90s", "2h" or "3d", got {shown(text)}')
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise UnitError(
                f"a duration must be a finite number of seconds >= 0, got {shown(text)}"
            )
        return Seconds(float(text))
    if not isinstance(text, str):
        raise UnitError(
            f'expected a duration such as "90s", "2h" or "3d", got {type(text).__name__}'
        )
    s = text.strip().lower()
    if not s.isascii():  # float() and \d would read other scripts' digits
        raise UnitError(f'expected a duration such as "90s", "2h" or "3d", got {shown(text)}')
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        return parse_duration(value)
    total = 0.0
    pos = 0
    for match in _DURATION_PART_RE.finditer(s):
        if s[pos : match.start()].strip():
            break
        total += float(match.group(1)) * _DURATION_UNIT_S[match.group(2)]
        pos = match.end()
    else:
        if pos and not s[pos:].strip():
            return Seconds(total)
    raise UnitError(
        f'expected a duration such as "90s", "15m", "2h", "3d" or "1h30m", got {shown(text)}'
    )


_CALENDAR_SPAN_RE = re.compile(r"^(?:\s*\d+\s*(?:y|mo)\s*)+$", re.ASCII)
_CALENDAR_PART_RE = re.compile(r"(\d+)\s*(y|mo)", re.ASCII)
_CALENDAR_UNIT_RE = re.compile(r"\d\s*(?:y|mo)(?![a-z])", re.ASCII)
MAX_CALENDAR_MONTHS = 12 * 200
"""Calendar spans longer than this are refused before any date arithmetic."""


def parse_months(text: object) -> int | None:
    """Read a calendar span such as ``"1y"``, ``"18mo"`` or ``"1y6mo"`` into months.

    Returns None when ``text`` names no calendar unit (a fixed duration such as
    ``"365d"``, or a number); ``y`` is 12 months, ``mo`` one. Calendar units take whole
    numbers and are not mixed with fixed ones (``"1mo2d"`` is refused): a month has no
    fixed length, so the span is only known once a start date and time zone are
    (``Calendar.add_months_s``).
    """
    if not isinstance(text, str):
        return None
    s = text.strip().lower()
    if _CALENDAR_SPAN_RE.match(s):
        months = 0
        for match in _CALENDAR_PART_RE.finditer(s):
            if len(match.group(1)) > 6:
                months = MAX_CALENDAR_MONTHS + 1
                break
            months += int(match.group(1)) * (12 if match.group(2) == "y" else 1)
        if months > MAX_CALENDAR_MONTHS:
            raise UnitError(
                f"a calendar span must be at most {MAX_CALENDAR_MONTHS // 12} years, "
                f"got {shown(text)}"
            )
        return months
    if _CALENDAR_UNIT_RE.search(s):
        raise UnitError(
            "calendar units (y, mo) take whole numbers and are not mixed with fixed ones, "
            f'e.g. "1y", "18mo" or "1y6mo", got {shown(text)}'
        )
    return None


def days_before(start: date | datetime, months: int) -> int:
    """Return the whole days from ``months`` calendar months before ``start`` to ``start``.

    The day of the month is clamped (31 March - 1 month is 28 or 29 February).
    """
    day = start.date() if isinstance(start, datetime) else start
    earlier = add_months(datetime(day.year, day.month, day.day), -months)
    return (day - earlier.date()).days


def format_duration(seconds: float) -> str:
    """Write seconds in the largest whole unit that represents them exactly."""
    for unit, size in (("w", SECONDS_PER_WEEK), ("d", SECONDS_PER_DAY), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def add_months(when: _D, months: int) -> _D:
    """Add calendar months to a date or wall-clock time, clamping the day to the month's end.

    31 March + 12 months is 31 March; 29 February + 12 months is 28 February.
    """
    month_index = when.month - 1 + months
    year = when.year + month_index // 12
    month = month_index % 12 + 1
    day = min(when.day, days_in_month(year, month))
    return when.replace(year=year, month=month, day=day)


def days_in_month(year: int, month: int) -> int:
    """Return the number of days in a month of the Gregorian calendar."""
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def load_time_zone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name`` or raise ``UnitError``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnitError(
            f'unknown time zone {name!r} (use an IANA name such as "UTC" or "Europe/London")'
        ) from exc


@dataclass(frozen=True, slots=True)
class Calendar:
    """Map the simulation clock (seconds since the start) to local wall-clock time.

    ``start`` is an aware datetime in ``time_zone``. All calendar rules of the model
    (calendar-month pool resets, 12-month expiry, hour-of-week profiles) are taken in
    this local time.
    """

    start: datetime
    time_zone: ZoneInfo
    _start_utc: datetime = field(init=False, repr=False, compare=False)
    _start_tod_s: float = field(init=False, repr=False, compare=False)
    _days: dict[int, tuple[timedelta, timedelta]] = field(init=False, repr=False, compare=False)
    """Local days met so far (days after the start's date): their midnights since the start."""
    _shifts: dict[tuple[int, int], timedelta | None] = field(init=False, repr=False, compare=False)
    """(day, months) -> from that day's midnight to the midnight months later, or None."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_start_utc", self.start.astimezone(UTC))
        local = self.start
        object.__setattr__(self, "_start_tod_s", local.hour * 3_600.0 + local.minute * 60.0)
        object.__setattr__(self, "_days", {})
        object.__setattr__(self, "_shifts", {})

    @classmethod
    def from_local(cls, start: date | datetime, time_zone: str) -> Calendar:
        """Build a calendar from a naive local start date or datetime and a zone name."""
        tz = load_time_zone(time_zone)
        if not isinstance(start, datetime):
            start = datetime(start.year, start.month, start.day)
        start = start.astimezone(tz) if start.tzinfo is not None else start.replace(tzinfo=tz)
        return cls(start=start, time_zone=tz)

    def to_datetime(self, t_s: float) -> datetime:
        """Return the local wall-clock time at simulation time ``t_s``."""
        return (self._start_utc + timedelta(seconds=t_s)).astimezone(self.time_zone)

    def to_sim(self, when: datetime) -> float:
        """Return the simulation time of an aware (or naive local) datetime."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.time_zone)
        # Subtract in UTC: aware datetimes sharing a tzinfo subtract as wall clocks.
        return (when.astimezone(UTC) - self._start_utc).total_seconds()

    def add_months_s(self, t_s: float, months: int) -> float:
        """Return the simulation time ``months`` calendar months after ``t_s`` (local).

        The same instant as converting to local time, moving the date and converting
        back, without the time-zone arithmetic when neither day has a clock change:
        then the answer is ``t_s`` plus the time between the two days' midnights.
        """
        since = timedelta(seconds=t_s)  # to the microsecond, as ``to_datetime`` rounds
        day = int((t_s + self._start_tod_s) // SECONDS_PER_DAY)  # a guess, +-1
        span = self._days.get(day) or self._day_span(day)
        while not span[0] <= since < span[1]:
            day += 1 if since >= span[1] else -1
            span = self._days.get(day) or self._day_span(day)
        key = (day, months)
        shift = self._shifts[key] if key in self._shifts else self._shift(day, months)
        if shift is None:  # a clock change on either day
            local = self.to_datetime(t_s).replace(tzinfo=None)
            return self.to_sim(add_months(local, months))
        return (since + shift).total_seconds()

    def _day_span(self, day: int) -> tuple[timedelta, timedelta]:
        """Local day ``day`` (days after the start's date) as times since the start."""
        span = (self._midnight(day), self._midnight(day + 1))
        self._days[day] = span
        return span

    def _shift(self, day: int, months: int) -> timedelta | None:
        """Midnight of local day ``day`` to that ``months`` later; None on a clock change."""
        first = self.start.date()
        target = (add_months(first + timedelta(days=day), months) - first).days
        here, there = self._day_span(day), self._day_span(target)
        one_day = timedelta(days=1)
        regular = here[1] - here[0] == one_day and there[1] - there[0] == one_day
        shift = there[0] - here[0] if regular else None
        self._shifts[day, months] = shift
        return shift

    def _midnight(self, day: int) -> timedelta:
        """Time from the start to local midnight ``day`` days after the start's date."""
        local = datetime.combine(self.start.date() + timedelta(days=day), datetime.min.time())
        return local.replace(tzinfo=self.time_zone).astimezone(UTC) - self._start_utc

    def month_start_s(self, t_s: float) -> float:
        """Return the simulation time of local midnight on the 1st of ``t_s``'s month."""
        local = self.to_datetime(t_s)
        return self.to_sim(datetime(local.year, local.month, 1))

    def next_month_start_s(self, t_s: float) -> float:
        """Return the first local month start strictly after ``t_s``."""
        local = self.to_datetime(t_s)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return self.to_sim(datetime(year, month, 1))

    def month_starts_s(self, until_s: float) -> list[float]:
        """Return every local month start in ``(0, until_s]``."""
        out: list[float] = []
        t = self.next_month_start_s(0.0)
        while t <= until_s:
            out.append(t)
            t = self.next_month_start_s(t)
        return out

    def month_index(self, t_s: float) -> int:
        """Return the local months from the start's month to that of ``t_s`` (0: same)."""
        local = self.to_datetime(t_s)
        return (local.year - self.start.year) * 12 + local.month - self.start.month

    def month_label(self, t_s: float) -> str:
        """Return the local ``YYYY-MM`` of simulation time ``t_s``."""
        return self.to_datetime(t_s).strftime("%Y-%m")

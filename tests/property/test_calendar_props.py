"""Property: ``Calendar.add_months_s`` is exactly the wall-clock definition.

The fast path skips the time-zone arithmetic on days without a clock change; the answer
must be the same float as converting to local time, moving the date (clamped to the
month's end) and converting back, in zones with DST, half-hour offsets and clock
changes at midnight.
"""

from __future__ import annotations

from datetime import date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.units import Calendar, add_months

ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Kolkata",  # +05:30, no DST
    "America/Santiago",  # clocks change at midnight
    "America/Havana",  # clocks change at midnight too
]


def wall_clock(cal: Calendar, t_s: float, months: int) -> float:
    local = cal.to_datetime(t_s).replace(tzinfo=None)
    return cal.to_sim(add_months(local, months))


@settings(max_examples=400, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
    t_s=st.one_of(
        st.floats(min_value=-3e7, max_value=1.3e8, allow_nan=False),
        st.integers(min_value=-400, max_value=1500).map(lambda d: d * 86_400.0),
        st.integers(min_value=-400, max_value=1500).map(lambda d: d * 86_400.0 - 3e-7),
    ),
    months=st.sampled_from([1, 12, 13, 24]),
)
def test_add_months_matches_the_wall_clock(
    zone: str, start: datetime, t_s: float, months: int
) -> None:
    cal = Calendar.from_local(start, zone)
    assert cal.add_months_s(t_s, months) == wall_clock(cal, t_s, months)


def test_clock_change_days_take_the_wall_clock() -> None:
    cal = Calendar.from_local(date(2026, 3, 1), "Europe/London")
    # 29 March 2026 01:30 UTC (02:30 BST), one hour after the change; and a year on.
    t = cal.to_sim(datetime(2026, 3, 29, 2, 30))
    assert cal.add_months_s(t, 12) == wall_clock(cal, t, 12)
    assert cal.to_datetime(cal.add_months_s(t, 1)).hour == 2  # 29 April, 02:30 BST

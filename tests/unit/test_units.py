from __future__ import annotations

from datetime import date, datetime

import pytest

from sim.core.units import (
    Calendar,
    UnitError,
    add_months,
    format_duration,
    format_money,
    parse_duration,
    parse_money,
)


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("12.50", 12_500_000),
        ("0", 0),
        ("0.000001", 1),
        ("-3.2", -3_200_000),
        ("1_000.25", 1_000_250_000),
        (".5", 500_000),
        (50, 50_000_000),
    ],
)
def test_parse_money_exact(text, micros):
    assert parse_money(text) == micros


@pytest.mark.parametrize("bad", ["12.5000001", "abc", "1e3", "", "12,50", 12.5, True, None])
def test_parse_money_rejects(bad):
    with pytest.raises(UnitError):
        parse_money(bad)


def test_format_money_never_rounds():
    assert format_money(12_500_000) == "12.50"
    assert format_money(1) == "0.000001"
    assert format_money(-1_230_000) == "-1.23"
    assert format_money(7_000_000, places=0) == "7"
    assert parse_money(format_money(123_456_789)) == 123_456_789


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("2h", 7200),
        ("3d", 259200),
        ("15m", 900),
        ("15min", 900),
        ("1h30m", 5400),
        ("1w", 604800),
        ("0", 0),
        (45, 45),
        ("1.5h", 5400),
        ("250ms", 0.25),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["2 hours", "h", "-5s", "5x", "", "1h junk", -1, True, [1]])
def test_parse_duration_rejects(bad):
    with pytest.raises(UnitError):
        parse_duration(bad)


def test_format_duration_round_trips():
    for s in (90, 3600, 86400, 604800, 5400, 0.5):
        assert parse_duration(format_duration(s)) == s


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 3, 31, 10), 12, datetime(2027, 3, 31, 10)),
        (datetime(2024, 2, 29), 12, datetime(2025, 2, 28)),
        (datetime(2026, 1, 31), 1, datetime(2026, 2, 28)),
        (datetime(2026, 12, 15), 1, datetime(2027, 1, 15)),
        (datetime(2026, 5, 31), 1, datetime(2026, 6, 30)),
    ],
)
def test_add_months_clamps_day(start, months, expected):
    assert add_months(start, months) == expected


def test_calendar_local_months_in_new_york():
    cal = Calendar.from_local(date(2026, 1, 1), "America/New_York")
    starts = cal.month_starts_s(366 * 86400)
    assert len(starts) == 12
    # 1 February local midnight is 31 days after the start.
    assert starts[0] == 31 * 86400
    # DST starts 8 March 2026: April's first local midnight is one hour less than 90 days.
    assert starts[2] == 90 * 86400 - 3600
    assert cal.to_datetime(starts[2]).hour == 0
    assert cal.month_label(starts[0] - 1) == "2026-01"
    assert cal.month_label(starts[0]) == "2026-02"


def test_calendar_twelve_months_is_wall_clock():
    cal = Calendar.from_local(date(2026, 3, 31), "Europe/London")
    t = cal.to_sim(datetime(2026, 3, 31, 9, 30))
    later = cal.to_datetime(cal.add_months_s(t, 12))
    assert (later.year, later.month, later.day, later.hour, later.minute) == (2027, 3, 31, 9, 30)


def test_unknown_time_zone():
    with pytest.raises(UnitError, match="unknown time zone"):
        Calendar.from_local(date(2026, 1, 1), "Nowhere/City")


@pytest.mark.parametrize(
    "text",
    ["\u0663\u0660\u0660", "\uff11\uff10\uff10", "1\u0660", "\u0663\u0660d", "\uff15h"],
)
def test_only_ascii_digits_are_numbers(text):
    # Decimal(), float() and \d read Arabic-Indic and full-width digits as numbers; a
    # scenario, a grid or an option with them is refused rather than read as 300.
    import argparse

    from sim.cli.args import share, whole_number
    from sim.scenario.model import expand_values

    with pytest.raises(UnitError):
        parse_money(text)
    with pytest.raises(UnitError):
        parse_duration(text)
    with pytest.raises(ValueError, match="expected ASCII digits"):
        expand_values(text)
    with pytest.raises(argparse.ArgumentTypeError):
        share(text + "%")
    with pytest.raises(argparse.ArgumentTypeError):
        whole_number(1)(text)

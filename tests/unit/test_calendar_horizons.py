"""Calendar horizons and warm-ups (``"1y"``, ``"18mo"``): the rule, against the calendar.

A calendar horizon ends at the same local wall-clock time that many months after the
start, the day clamped to the month's end; expected ends and lengths below are worked
out by hand from the Gregorian calendar and the zones' daylight-saving dates.
"""

from __future__ import annotations

import argparse
from datetime import datetime

import pytest
import tomli_w

from sim.cli.main import main
from sim.core.schema import ConfigError, to_plain
from sim.core.units import UnitError, days_before, parse_months
from sim.scenario.model import Scenario
from tests.scenario_support import merge, small_tenant, write_scenario

HOUR_S = 3_600
DAY_S = 86_400


def scenario(**simulation: object) -> Scenario:
    return Scenario.from_dict(merge(small_tenant(0.1), {"simulation": simulation}))


def end_of(sc: Scenario) -> datetime:
    return sc.calendar.to_datetime(sc.horizon_s).replace(tzinfo=None)


def test_calendar_spans_are_read_as_months():
    assert parse_months("1y") == 12
    assert parse_months("18mo") == 18
    assert parse_months(" 1y6mo ") == 18
    assert parse_months("2Y") == 24
    for fixed in ("365d", "90d", "3m", "1h30m", 86_400, 1.5):
        assert parse_months(fixed) is None  # fixed durations: not calendar ("m" is minutes)
    for bad in ("1mo2d", "1.5y", "2d1y"):
        with pytest.raises(UnitError, match="calendar units"):
            parse_months(bad)
    with pytest.raises(UnitError, match="at most 200 years"):
        parse_months("9999y")


def test_month_end_clamps():
    sc = scenario(start="2026-01-31T09:30", time_zone="UTC", horizon="1mo")
    assert end_of(sc) == datetime(2026, 2, 28, 9, 30)
    assert sc.horizon_s == 28 * DAY_S
    leap = scenario(start="2028-01-31", time_zone="UTC", horizon="1mo")
    assert end_of(leap) == datetime(2028, 2, 29)


def test_a_year_from_the_29th_of_february():
    sc = scenario(start="2028-02-29", time_zone="UTC", horizon="1y")
    assert end_of(sc) == datetime(2029, 2, 28)
    assert sc.horizon_s == 365 * DAY_S  # 2028-02-29 .. 2029-02-28


def test_eighteen_months_and_two_years():
    assert end_of(scenario(start="2026-01-15", horizon="18mo")) == datetime(2027, 7, 15)
    two = scenario(start="2026-01-01", time_zone="UTC", horizon="2y")
    assert two.horizon_s == (365 + 365) * DAY_S


def test_daylight_saving_keeps_local_midnight():
    # New York: summer time from 2026-03-08, so six months from 1 January are 181 days
    # (31 + 28 + 31 + 30 + 31 + 30) less the hour skipped.
    sc = scenario(start="2026-01-01T00:00", time_zone="America/New_York", horizon="6mo")
    assert end_of(sc) == datetime(2026, 7, 1, 0, 0)
    assert sc.horizon_s == 181 * DAY_S - HOUR_S
    # Back across the autumn change (2026-11-01): the hour comes back.
    back = scenario(start="2026-07-01T00:00", time_zone="America/New_York", horizon="6mo")
    assert end_of(back) == datetime(2027, 1, 1, 0, 0)
    assert back.horizon_s == 184 * DAY_S + HOUR_S


def test_fixed_horizons_are_unchanged():
    sc = scenario(start="2026-01-01T00:00", time_zone="America/New_York", horizon="365d")
    assert sc.horizon_s == 365 * DAY_S  # exact seconds, not the calendar year


def test_calendar_warm_up_is_whole_days_back_from_the_start():
    assert days_before(datetime(2026, 1, 1), 12) == 365
    assert days_before(datetime(2024, 3, 1), 12) == 366  # spans 2024-02-29
    assert days_before(datetime(2026, 3, 31), 1) == 31  # back to 28 February
    sc = scenario(start="2024-03-01", horizon="30d", warm_up="1y")
    assert sc.simulation.warm_up == 366 * DAY_S
    early, _window_s = sc.with_warm_up()
    assert early.simulation.start == datetime(2023, 3, 1)


def test_bad_calendar_spans_name_the_field():
    with pytest.raises(ConfigError, match=r"^simulation\.horizon: calendar units"):
        scenario(horizon="1mo2d")
    with pytest.raises(ConfigError, match=r"^simulation\.warm_up: calendar units"):
        scenario(horizon="30d", warm_up="1.5y")
    with pytest.raises(ConfigError, match=r"^simulation\.time_zone: unknown time zone"):
        scenario(horizon="1y", time_zone="Mars/Olympus")
    with pytest.raises(ConfigError, match=r"^simulation\.horizon"):
        scenario(horizon="0mo")


def test_the_resolved_scenario_keeps_the_same_horizon():
    sc = scenario(start="2026-01-01T00:00", time_zone="America/New_York", horizon="6mo")
    again = Scenario.from_dict(to_plain(sc))
    assert again.horizon_s == sc.horizon_s


def test_validate_shows_the_end_date(tmp_path, capsys):
    data = merge(small_tenant(0.1), {"simulation": {"start": "2026-01-31", "horizon": "1mo"}})
    path = write_scenario(tmp_path, data, "month").path
    assert main(["validate", str(path)]) == 0
    assert "ends 2026-02-28 00:00" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(tomli_w.dumps(merge(data, {"simulation": {"horizon": "1mo2d"}})))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "simulation.horizon" in err[0]


def test_horizon_option_takes_calendar_months(tmp_path):
    from sim.cli.reports import _loaded

    data = merge(small_tenant(0.1), {"simulation": {"start": "2026-01-31", "horizon": "5d"}})
    path = write_scenario(tmp_path, data, "opt").path
    args = argparse.Namespace(scenario=str(path), horizon="1mo", seed=None, prices=None)
    loaded, _ = _loaded(args)
    assert end_of(loaded.scenario).date() == datetime(2026, 2, 28).date()

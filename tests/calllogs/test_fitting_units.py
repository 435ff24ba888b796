"""Pieces of the fit: exposure by hour of week, profiles, lognormal, heterogeneity."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from sim.calllogs.estimators import (
    _exact_shares,
    exposure,
    fit_lognormal,
    fit_profile,
    fit_rate,
    gamma_cv,
    hour_of_week,
    zero_truncated_poisson,
)

NY = "America/New_York"


def test_exposure_counts_local_hours_across_dst_and_holidays():
    # The week of 8 March 2026 (US DST starts): 167 local hours, Sunday 02:00 missing.
    window = (datetime(2026, 3, 2, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC))
    exp = exposure(window, NY)
    assert exp.hours.sum() == 167
    assert exp.hours[6 * 24 + 2] == 0  # Sunday 02:00 does not exist
    assert exp.hours[0] == 1
    with_holiday = exposure(window, NY, [date(2026, 3, 4)])
    assert with_holiday.hours.sum() == 167 - 24
    assert with_holiday.hours[2 * 24 + 10] == 0  # Wednesday 10:00 was the holiday
    assert with_holiday.days == pytest.approx((167 - 24) / 24)


def test_hour_of_week_in_local_time_and_window():
    exp = exposure(
        (datetime(2026, 1, 5, 5, tzinfo=UTC), datetime(2026, 1, 12, 5, tzinfo=UTC)),
        NY,
        [date(2026, 1, 6)],
    )
    start = pd.Series(
        pd.to_datetime(
            [
                "2026-01-05T14:30:00Z",
                "2026-01-06T14:30:00Z",
                "2026-01-12T06:00:00Z",
                "2026-01-11T04:59:59Z",
            ],
            utc=True,
        )
    )
    how, inside = hour_of_week(start, exp)
    assert how.tolist() == [9, 24 + 9, 1, 5 * 24 + 23]  # Monday 09:xx New York ...
    assert inside.tolist() == [True, False, False, True]  # holiday; after the window


def test_fit_profile_pools_weekdays_and_fills_unobserved_hours():
    exp = exposure((datetime(2026, 3, 2, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC)), NY)
    how = np.array([9] * 10 + [24 + 9] * 20 + [6 * 24 + 1] * 4 + [6 * 24 + 3] * 2)
    p = fit_profile(how, exp)
    assert p.weekday[9] == pytest.approx(30 / 5)
    assert p.sunday[2] == pytest.approx((4 + 2) / 2)  # 02:00 never observed: neighbours
    assert p.week_total == pytest.approx(5 * 6 + 4 + 3 + 2)
    assert max(max(v) for v in p.weights().values()) == 1.0
    rate = fit_rate(how, p, exp, units=3)
    # Expected calls over the window at the fitted shape equal the calls seen.
    assert rate.value * 3 * 7 * p.expected(exp) / p.week_total == pytest.approx(len(how))


def test_lognormal_fit_on_whole_seconds_is_unbiased():
    rng = np.random.default_rng(1)
    mu, sigma = math.log(20.0), 1.3  # many short calls: rounding matters
    d = np.maximum(0.0, np.round(rng.lognormal(mu, sigma, size=20_000)))
    fit = fit_lognormal(d, np.random.default_rng(2))
    assert fit is not None
    assert fit.censored
    assert fit.zeros == int((d == 0).sum()) > 0
    assert abs(fit.mu - mu) < 3.29 * sigma / math.sqrt(fit.n) + 0.01
    assert abs(fit.sigma - sigma) < 3.29 * sigma / math.sqrt(2 * fit.n) + 0.01
    cont = fit_lognormal(rng.lognormal(mu, sigma, size=5_000), rng)
    assert cont is not None
    assert not cont.censored
    assert fit_lognormal(np.array([5.0]), rng) is None
    assert fit.delay()["kind"] == "lognormal"


def test_gamma_cv_and_truncated_poisson():
    rng = np.random.default_rng(3)
    assert gamma_cv(rng.poisson(50, size=500).astype(float))[0] < 0.05
    n = rng.poisson(50 * rng.gamma(4, 0.25, size=2000)).astype(float)
    assert gamma_cv(n)[0] == pytest.approx(0.5, abs=0.05)
    assert zero_truncated_poisson(1.0) == 0.0
    theta = zero_truncated_poisson(2.0)
    assert theta / -math.expm1(-theta) == pytest.approx(2.0)


def test_exact_shares_add_to_one():
    shares = _exact_shares(np.array([3, 3, 3, 1]))
    assert sum(round(s * 1_000_000) for s in shares) == 1_000_000  # exact in decimals
    assert abs(sum(shares) - 1.0) < 1e-12  # as Destinations checks
    assert shares[3] == 0.1

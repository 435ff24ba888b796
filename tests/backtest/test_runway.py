"""Runway against theory.md §4: with no recharge, the time to zero of Poisson spend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats

from sim.billing.ledger import EntryKind
from sim.core.units import SECONDS_PER_DAY
from sim.reports.runway import CASES, plot_runway, runway, runway_lines, time_to_zero_s
from sim.validation.theory import wilson_interval
from tests.backtest.support import poisson_spend

USERS = 10
PER_USER_DAY = 1.0
FUNDS = "1.1"  # 50 calls of 0.022 (portal rules off)


def test_time_to_zero_is_erlang(tmp_path: Path) -> None:
    loaded = poisson_spend(tmp_path, users=USERS, calls_per_user_day=PER_USER_DAY, funds=FUNDS)
    n_reps = 200
    rw = runway(loaded, replications=n_reps, horizon_days=30)
    runs = rw.runs[CASES[1]]
    # The charge of one call, read from the ledger (every call is the same minute).
    first = runs[0].account
    assert first is not None
    charges = {-e.amount for e in first.ledger.entries if e.kind is EntryKind.CONSUME}
    assert len(charges) <= 2  # the last call may be split between the lot and overshoot
    c = max(charges)
    calls_to_zero = math.ceil(1_100_000 / c)
    rate_per_day = USERS * PER_USER_DAY
    law = stats.gamma(calls_to_zero, scale=1.0 / rate_per_day)  # Erlang, in days
    assert law.ppf(0.999) < 30  # the horizon censors nothing
    times_d = np.array([time_to_zero_s(o) for o in runs]) / SECONDS_PER_DAY
    for p in (0.1, 0.5, 0.9):
        k = int((times_d <= law.ppf(p)).sum())
        lo, hi = wilson_interval(k, n_reps, 0.999)
        assert lo <= p <= hi, (p, k / n_reps, lo, hi)
    # The reported quantiles sit where the closed form puts them, within Monte Carlo error.
    for case in CASES:  # no recharge is configured: both cases are the same law
        row = rw.zero[rw.zero["case"] == case].iloc[0]
        assert row["reach_zero_share"] == 1.0
        for p in (10, 50, 90):
            k = round(law.cdf(row[f"p{p}_days"]) * n_reps)
            lo, hi = wilson_interval(k, n_reps, 0.999)
            assert lo <= p / 100 <= hi, (case, p, row[f"p{p}_days"], law.ppf(p / 100))
    mean_d = times_d.mean()
    se = law.std() / math.sqrt(n_reps)
    assert abs(mean_d - law.mean()) < 4 * se  # theory.md §4: E[T] = n / lambda
    assert {"method", "data_window", "last_data"} <= set(rw.zero.columns)
    lines = runway_lines(rw)
    assert lines[0].startswith("runway: method ccsim simulation")
    assert plot_runway(rw, tmp_path / "runway.png").stat().st_size > 0


def test_lot_forfeit_and_expiry_dates(tmp_path: Path) -> None:
    """A held lot bought 11 months ago expires inside the horizon with its remainder."""
    loaded = poisson_spend(tmp_path, users=1, calls_per_user_day=0.5, funds="0")
    from dataclasses import replace
    from datetime import datetime

    from sim.billing.policies import OpeningLot
    from sim.core.units import Micros
    from sim.scenario.loading import LoadedScenario

    sc = loaded.scenario
    lot = OpeningLot(Micros(100_000_000), Micros(80_000_000), datetime(2025, 2, 1))
    sc = replace(sc, funding=replace(sc.funding, initial_funds=Micros(0), lots=(lot,)))
    rw = runway(LoadedScenario(loaded.path, sc, loaded.sha256, loaded.tariffs), replications=5)
    row = rw.lots.iloc[0]
    assert row["expires"] == "2026-02-01"  # 12 months after the purchase date
    assert row["remaining_at_start_micros"] == 80_000_000
    # Half a call a day of 0.022 each cannot spend 80 in 27 days: always forfeited.
    assert row["forfeit_share"] == 1.0
    assert row["forfeited_mean_micros"] > 79_000_000

"""The fit's estimators, one quantity at a time.

``exposure`` counts the ordinary hours of each local hour of the week in the observation
window (and the holiday hours of each local hour) and ``hour_of_week`` places calls in
them; ``fit_profile`` (hour-of-week profiles: one shape per weekday when a likelihood-ratio
test says Monday to Friday differ, else one pooled shape; a holiday shape),
``fit_rate`` (Poisson rates per unit and day), ``gamma_cv`` (per-user heterogeneity),
``fit_lognormal`` (durations, with a Kolmogorov-Smirnov test), ``fit_destinations`` (the
destination mix, by ``destination_class``) and ``zero_truncated_poisson`` (legs per
meeting) estimate what ``[traffic]`` needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, special, stats

from sim.telephony.tariffs import ZONE_A

HOURS_PER_WEEK = 168


_DEST_CLASSES = ("domestic", "zone_a", "international", "premium")


@dataclass(frozen=True, slots=True)
class Exposure:
    """Ordinary (non-holiday) hours of each local hour of the week in the window."""

    hours: NDArray[np.float64]
    window: tuple[datetime, datetime]
    time_zone: str
    holidays: frozenset[date]
    holiday_hours: NDArray[np.float64] = field(default_factory=lambda: np.zeros(24))

    @property
    def days(self) -> float:
        """Ordinary days observed."""
        return float(self.hours.sum()) / 24.0


def exposure(
    window: tuple[datetime, datetime], time_zone: str, holidays: Sequence[date] = ()
) -> Exposure:
    """Count the hours of each local hour of the week in ``[start, end)`` (UTC)."""
    lo, hi = window
    hours = pd.date_range(lo, hi, freq="h", inclusive="left", tz=UTC)
    local = hours.tz_convert(time_zone)
    how = local.day_of_week.to_numpy() * 24 + local.hour.to_numpy()
    hol = frozenset(holidays)
    ordinary = (
        ~np.isin(local.date, np.array(sorted(hol), dtype=object))
        if hol
        else np.ones(len(how), bool)
    )
    e = np.bincount(how[ordinary], minlength=HOURS_PER_WEEK).astype(np.float64)
    h = np.bincount(local.hour.to_numpy()[~ordinary], minlength=24).astype(np.float64)
    return Exposure(e, window, time_zone, hol, h)


def hour_of_week(start: pd.Series, exp: Exposure) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Return each call's local hour of the week, and whether it counts.

    A call counts when it starts inside the window on an ordinary (non-holiday) day.
    """
    local = start.dt.tz_convert(exp.time_zone)
    how = (local.dt.day_of_week * 24 + local.dt.hour).to_numpy(np.int64)
    lo, hi = exp.window
    inside = np.array((start >= pd.Timestamp(lo)) & (start < pd.Timestamp(hi)), dtype=bool)
    if exp.holidays:
        inside &= ~np.isin(local.dt.date.to_numpy(), np.array(sorted(exp.holidays), dtype=object))
    return how, inside


def holiday_hour(start: pd.Series, exp: Exposure) -> NDArray[np.int64]:
    """Return the local hour of each call that starts inside the window on a holiday."""
    if not exp.holidays or not len(start):
        return np.zeros(0, np.int64)
    local = start.dt.tz_convert(exp.time_zone)
    lo, hi = exp.window
    inside = np.array((start >= pd.Timestamp(lo)) & (start < pd.Timestamp(hi)), dtype=bool)
    inside &= np.isin(local.dt.date.to_numpy(), np.array(sorted(exp.holidays), dtype=object))
    hours: NDArray[np.int64] = local.dt.hour.to_numpy(np.int64)[inside]
    return hours


DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BY_DAY_ALPHA = 0.01
"""Monday to Friday get their own shapes when the test of one shape has p below this."""


@dataclass(frozen=True, slots=True)
class ProfileFit:
    """A fitted hour-of-week profile: intensities (calls per hour) by hour of the week.

    ``observed`` has one value per hour of the week (168); ``days`` the maximum-likelihood
    shape of each day, Monday first (7 x 24): Monday to Friday their own shapes when
    ``by_day`` (the likelihood-ratio test of one Monday-Friday shape gave ``pooled_pvalue``
    below ``BY_DAY_ALPHA``), else the pooled ``weekday`` shape each. ``holiday``: the
    intensity on holidays (None when none was observed). ``week_total`` is the expected
    number of calls in an ordinary week.
    """

    counts: NDArray[np.float64]
    observed: NDArray[np.float64]
    weekday: NDArray[np.float64]
    saturday: NDArray[np.float64]
    sunday: NDArray[np.float64]
    days: NDArray[np.float64] | None = None
    by_day: bool = False
    pooled_pvalue: float = float("nan")
    holiday: NDArray[np.float64] | None = None
    holiday_calls: int = 0

    @property
    def fitted(self) -> NDArray[np.float64]:
        """Return the fitted intensity for each of the 168 hours of the week."""
        if self.by_day and self.days is not None:
            return np.concatenate(list(self.days))
        return np.concatenate([np.tile(self.weekday, 5), self.saturday, self.sunday])

    @property
    def week_total(self) -> float:
        """Return the expected calls in an ordinary week."""
        return float(self.fitted.sum())

    def expected(self, exp: Exposure) -> float:
        """Return the expected calls over the window's ordinary hours."""
        return float((self.fitted * exp.hours).sum())

    def weights(self) -> dict[str, list[float]]:
        """Return the profile as scenario weights (largest = 1, 4 significant digits).

        ``weekday`` is the pooled Monday-Friday shape; with per-day shapes, ``monday`` ...
        ``friday`` follow it. ``holiday`` is on the same scale as the ordinary days.
        """
        top = float(self.fitted.max())

        def norm(v: NDArray[np.float64]) -> list[float]:
            return [float(f"{x / top:.4g}") if top > 0 else 0.0 for x in v]

        out = {
            "weekday": norm(self.weekday),
            "saturday": norm(self.saturday),
            "sunday": norm(self.sunday),
        }
        if self.by_day and self.days is not None:
            for k in range(5):
                out[DAY_NAMES[k]] = norm(self.days[k])
        if self.holiday is not None:
            out["holiday"] = norm(self.holiday)
        return out


def _fill_gaps(rate: NDArray[np.float64], exposed: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Give hours never observed the mean of their observed neighbours (cyclic)."""
    if exposed.all() or not exposed.any():
        return rate
    out = rate.copy()
    n = len(rate)
    for i in np.flatnonzero(~exposed).tolist():
        vals = []
        for step in (-1, 1):
            j = (i + step) % n
            while not exposed[j]:
                j = (j + step) % n
            vals.append(rate[j])
        out[i] = float(np.mean(vals))
    return out


def _rate(cc: NDArray[np.float64], ee: NDArray[np.float64]) -> NDArray[np.float64]:
    rate: NDArray[np.float64] = np.where(ee > 0, cc / np.where(ee > 0, ee, 1), 0.0)
    return _fill_gaps(rate, ee > 0)


def pooled_weekday_test(c: NDArray[np.float64], e: NDArray[np.float64]) -> float:
    """Return the p-value of "Monday to Friday share one hourly shape" (G-test).

    ``c`` and ``e`` are calls and exposed hours by hour of the week. Under the hypothesis
    each local hour has one Poisson intensity on every weekday; the likelihood ratio
    against one intensity per weekday and hour is chi-square with (cells - hours) degrees
    of freedom (cells with exposure only).
    """
    cd, ed = c[:120].reshape(5, 24), e[:120].reshape(5, 24)
    pooled = cd.sum(0) / np.where(ed.sum(0) > 0, ed.sum(0), 1)
    expected = ed * pooled
    live = ed > 0
    df = int(live.sum() - (ed.sum(0) > 0).sum())
    if df <= 0:
        return 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where((cd > 0) & live, cd * np.log(cd / np.where(expected > 0, expected, 1)), 0)
    g = 2.0 * float(terms.sum() - (cd[live].sum() - expected[live].sum()))
    return float(stats.chi2.sf(max(g, 0.0), df))


def fit_profile(
    how: NDArray[np.int64],
    exp: Exposure,
    holiday_hours: NDArray[np.int64] | None = None,
    *,
    by_day: bool | None = None,
) -> ProfileFit:
    """Fit the Poisson intensity by hour of the week (and of holidays).

    Monday to Friday get their own shapes when ``by_day`` (default: when
    ``pooled_weekday_test`` rejects one shape at ``BY_DAY_ALPHA``); Saturday and Sunday
    always have their own. ``holiday_hours``: local hours of the calls on holidays,
    fitted against ``exp.holiday_hours``.
    """
    c = np.bincount(how, minlength=HOURS_PER_WEEK).astype(np.float64)
    e = exp.hours
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = np.where(e > 0, c / np.where(e > 0, e, 1), 0.0)
    cw, ew = c[: 5 * 24].reshape(5, 24).sum(0), e[: 5 * 24].reshape(5, 24).sum(0)
    weekday, saturday, sunday = (
        _rate(cw, ew),
        _rate(c[120:144], e[120:144]),
        _rate(c[144:], e[144:]),
    )
    p = pooled_weekday_test(c, e)
    split = p < BY_DAY_ALPHA if by_day is None else by_day
    own = [_rate(c[24 * k : 24 * k + 24], e[24 * k : 24 * k + 24]) for k in range(5)]
    # A day never observed keeps the pooled shape.
    own = [o if e[24 * k : 24 * k + 24].sum() > 0 else weekday for k, o in enumerate(own)]
    days = np.vstack([*(own if split else [weekday] * 5), saturday, sunday])
    holiday = None
    n_hol = 0
    if holiday_hours is not None and exp.holiday_hours.sum() > 0:
        ch = np.bincount(holiday_hours, minlength=24).astype(np.float64)
        n_hol = int(ch.sum())
        holiday = _rate(ch, exp.holiday_hours)
    return ProfileFit(c, observed, weekday, saturday, sunday, days, split, p, holiday, n_hol)


@dataclass(frozen=True, slots=True)
class RateFit:
    """A Poisson rate per unit (user or service) and day, with its standard error."""

    value: float
    se: float
    calls: int
    units: int
    expected_units: float

    def row(self, holder: str, quantity: str) -> dict[str, Any]:
        """Return a report row."""
        return {
            "holder": holder,
            "quantity": quantity,
            "value": self.value,
            "se": self.se,
            "calls": self.calls,
            "units": self.units,
        }


def fit_rate(
    how: NDArray[np.int64], profile: ProfileFit, exp: Exposure, units: int, cv: float = 0.0
) -> RateFit:
    """Estimate calls per unit per ordinary day given the profile's shape (MLE).

    Expected calls = rate x units x 7 x sum(exposure x shape) / week_total; the standard
    error adds the spread of the units' gamma multipliers (cv) to the Poisson noise.
    """
    n = len(how)
    shape_total = profile.week_total
    if n == 0 or shape_total <= 0 or units <= 0:
        return RateFit(0.0, 0.0, n, units, 0.0)
    per_rate = units * 7.0 * profile.expected(exp) / shape_total  # expected calls at rate 1
    value = n / per_rate
    days = per_rate / (units * 7.0) * 7.0
    se = math.sqrt(value / (units * days) + value**2 * cv**2 / units)
    return RateFit(value, se, n, units, per_rate)


@dataclass(frozen=True, slots=True)
class LognormalFit:
    """A lognormal duration fit: ``mu``, ``sigma`` of log seconds, and its KS test."""

    n: int
    zeros: int
    mu: float
    sigma: float
    ks_statistic: float
    ks_pvalue: float
    censored: bool

    @property
    def mean_s(self) -> float:
        """Mean duration in seconds."""
        return math.exp(self.mu + self.sigma**2 / 2)

    @property
    def cv(self) -> float:
        """Coefficient of variation."""
        return math.sqrt(math.expm1(self.sigma**2))

    def delay(self) -> dict[str, Any]:
        """Return the scenario form ``{kind = "lognormal", mean, cv}``."""
        return {
            "kind": "lognormal",
            "mean": f"{float(f'{self.mean_s:.5g}'):g}s",
            "cv": float(f"{self.cv:.4g}"),
        }

    def row(self, holder: str, what: str) -> dict[str, Any]:
        """Return a report row."""
        return {
            "holder": holder,
            "calls": what,
            "n": self.n,
            "zero_durations": self.zeros,
            "mu": self.mu,
            "sigma": self.sigma,
            "mean_s": self.mean_s,
            "cv": self.cv,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "censored": self.censored,
        }


def fit_lognormal(duration_s: NDArray[np.float64], rng: np.random.Generator) -> LognormalFit | None:
    """Fit a lognormal to positive durations by maximum likelihood; None if too few.

    Whole-second durations are treated as rounded: each is the interval [d - 0.5, d + 0.5)
    (the lower end at 0 for d < 1) and the censored likelihood is maximised, starting from
    the closed-form fit. The KS test uses jittered values in that case.
    """
    d = np.asarray(duration_s, dtype=np.float64)
    zeros = int((d <= 0).sum())
    d = d[d > 0]
    if len(d) < 2:
        return None
    sigma0, _, scale0 = stats.lognorm.fit(d, floc=0)
    mu, sigma = math.log(scale0), float(sigma0)
    censored = bool(np.all(d == np.round(d)))
    if censored and sigma > 0:
        values, counts = np.unique(d, return_counts=True)
        lo = np.log(np.maximum(values - 0.5, 1e-300))
        lo[values - 0.5 <= 0] = -np.inf
        hi = np.log(values + 0.5)

        def nll(theta: NDArray[np.float64]) -> float:
            m, log_s = float(theta[0]), float(theta[1])
            s = math.exp(log_s)
            a, b = (lo - m) / s, (hi - m) / s
            p = np.where(
                a > 0, special.ndtr(-a) - special.ndtr(-b), special.ndtr(b) - special.ndtr(a)
            )
            return float(-(counts * np.log(np.maximum(p, 1e-300))).sum())

        res = optimize.minimize(
            nll,
            np.array([mu, math.log(sigma)]),
            method="Nelder-Mead",
            options={"xatol": 1e-7, "fatol": 1e-7, "maxiter": 2000},
        )
        if res.success:
            mu, sigma = float(res.x[0]), math.exp(float(res.x[1]))
    sample = d
    if censored:
        sample = np.maximum(d + rng.uniform(-0.5, 0.5, size=len(d)), 1e-9)
    if sigma > 0:
        ks = stats.kstest(sample, "lognorm", args=(sigma, 0, math.exp(mu)))
        ks_stat, ks_p = float(ks.statistic), float(ks.pvalue)
    else:
        ks_stat, ks_p = float("nan"), float("nan")
    return LognormalFit(len(d), zeros, mu, max(sigma, 1e-6), ks_stat, ks_p, censored)


def gamma_cv(counts: NDArray[np.float64]) -> tuple[float, float, float]:
    """Return (cv, mean, variance) of per-user counts by the method of moments."""
    if len(counts) < 2:
        return 0.0, float(np.mean(counts)) if len(counts) else 0.0, 0.0
    m = float(np.mean(counts))
    v = float(np.var(counts, ddof=1))
    cv2 = (v - m) / m**2 if m > 0 else 0.0
    return math.sqrt(max(cv2, 0.0)), m, v


def destination_class(dest: pd.Series, number_type: pd.Series, home: str) -> NDArray[np.int64]:
    """Return 0 domestic, 1 Zone A, 2 other international, 3 premium for each call."""
    d = dest.astype(str).to_numpy()
    premium = (number_type.astype(str) == "premium").to_numpy()
    zone_a = np.isin(d, sorted(ZONE_A))
    cls = np.where(d == home, 0, np.where(zone_a, 1, 2))
    return np.where(premium, 3, cls).astype(np.int64)


def fit_destinations(calls: pd.DataFrame, home: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the ``Destinations`` settings of a set of outbound calls and report rows."""
    cls = destination_class(calls["dest_country"], calls["number_type"], home)
    counts = np.bincount(cls, minlength=4)
    total = int(counts.sum())
    shares = _exact_shares(counts) if total else [1.0, 0.0, 0.0, 0.0]
    out: dict[str, Any] = dict(zip(_DEST_CLASSES, shares, strict=True))
    dest = calls["dest_country"].astype(str).to_numpy()
    rows = [
        {"class": name, "country": "", "calls": int(counts[k]), "share": shares[k]}
        for k, name in enumerate(_DEST_CLASSES)
    ]
    for k, cls_name in ((1, "zone_a"), (2, "international")):
        seen = pd.Series(dest[cls == k]).value_counts()
        seen = seen[[str(c) != home for c in seen.index]]
        # Most calls first, then by code: the same log gives the same list.
        order = sorted(seen.index, key=lambda c: (-int(seen[c]), str(c)))
        countries = [str(c) for c in order]
        if countries:
            n = np.asarray([int(seen[c]) for c in order], dtype=np.int64)
            weights = _exact_shares(n)
            out[f"{cls_name}_countries"] = countries
            out[f"{cls_name}_weights"] = weights
            for c, m, w in zip(countries, n.tolist(), weights, strict=True):
                rows.append({"class": cls_name, "country": c, "calls": m, "share": w})
    return out, rows


def _exact_shares(counts: NDArray[np.int64]) -> list[float]:
    """Shares rounded to 6 decimals whose decimal sum is exactly 1."""
    total = int(counts.sum())
    micro = [round(int(c) * 1_000_000 / total) for c in counts]
    big = int(np.argmax(counts))
    micro[big] += 1_000_000 - sum(micro)
    return [m / 1_000_000 for m in micro]


def zero_truncated_poisson(mean_legs: float) -> float:
    """Return theta with theta / (1 - exp(-theta)) = mean_legs (MLE; 0 when mean is 1)."""
    if mean_legs <= 1.0 + 1e-12:
        return 0.0
    return float(
        optimize.brentq(lambda t: t / -math.expm1(-t) - mean_legs, 1e-9, max(2 * mean_legs, 10))
    )


__all__ = [
    "BY_DAY_ALPHA",
    "DAY_NAMES",
    "HOURS_PER_WEEK",
    "Exposure",
    "LognormalFit",
    "ProfileFit",
    "RateFit",
    "destination_class",
    "exposure",
    "fit_destinations",
    "fit_lognormal",
    "fit_profile",
    "fit_rate",
    "gamma_cv",
    "holiday_hour",
    "hour_of_week",
    "pooled_weekday_test",
    "zero_truncated_poisson",
]

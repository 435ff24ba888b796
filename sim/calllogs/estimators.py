"""The fit's estimators, one quantity at a time.

``exposure`` counts the ordinary hours of each local hour of the week in the observation
window and ``hour_of_week`` places calls in them; ``fit_profile`` (hour-of-week profiles),
``fit_rate`` (Poisson rates per unit and day), ``gamma_cv`` (per-user heterogeneity),
``fit_lognormal`` (durations, with a Kolmogorov-Smirnov test), ``fit_destinations`` (the
destination mix, by ``destination_class``) and ``zero_truncated_poisson`` (legs per
meeting) estimate what ``[traffic]`` needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
    return Exposure(e, window, time_zone, hol)


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


@dataclass(frozen=True, slots=True)
class ProfileFit:
    """A fitted hour-of-week profile: intensities (calls per hour) by hour of the week.

    ``observed`` has one value per hour of the week (168); ``weekday``, ``saturday`` and
    ``sunday`` the pooled maximum-likelihood shape (24 each). ``week_total`` is the expected
    number of calls in an ordinary week.
    """

    counts: NDArray[np.float64]
    observed: NDArray[np.float64]
    weekday: NDArray[np.float64]
    saturday: NDArray[np.float64]
    sunday: NDArray[np.float64]

    @property
    def fitted(self) -> NDArray[np.float64]:
        """Return the fitted intensity for each of the 168 hours of the week."""
        return np.concatenate([np.tile(self.weekday, 5), self.saturday, self.sunday])

    @property
    def week_total(self) -> float:
        """Return the expected calls in an ordinary week."""
        return float(self.fitted.sum())

    def expected(self, exp: Exposure) -> float:
        """Return the expected calls over the window's ordinary hours."""
        return float((self.fitted * exp.hours).sum())

    def weights(self) -> dict[str, list[float]]:
        """Return the profile as scenario weights (largest = 1, 4 significant digits)."""
        top = float(max(self.weekday.max(), self.saturday.max(), self.sunday.max()))

        def norm(v: NDArray[np.float64]) -> list[float]:
            return [float(f"{x / top:.4g}") if top > 0 else 0.0 for x in v]

        return {
            "weekday": norm(self.weekday),
            "saturday": norm(self.saturday),
            "sunday": norm(self.sunday),
        }


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


def fit_profile(how: NDArray[np.int64], exp: Exposure) -> ProfileFit:
    """Fit the Poisson intensity by hour of the week, pooling Monday to Friday."""
    c = np.bincount(how, minlength=HOURS_PER_WEEK).astype(np.float64)
    e = exp.hours
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = np.where(e > 0, c / np.where(e > 0, e, 1), 0.0)
    cw, ew = c[: 5 * 24].reshape(5, 24).sum(0), e[: 5 * 24].reshape(5, 24).sum(0)
    days = []
    for cc, ee in ((cw, ew), (c[120:144], e[120:144]), (c[144:168], e[144:168])):
        rate = np.where(ee > 0, cc / np.where(ee > 0, ee, 1), 0.0)
        days.append(_fill_gaps(rate, ee > 0))
    return ProfileFit(c, observed, days[0], days[1], days[2])


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
    for k, key in ((1, "zone_a_countries"), (2, "international_countries")):
        seen = pd.Series(dest[cls == k]).value_counts()
        countries = [str(c) for c in seen.index if c != home]
        if countries:
            out[key] = countries
    rows = [
        {"class": name, "calls": int(counts[k]), "share": shares[k]}
        for k, name in enumerate(_DEST_CLASSES)
    ]
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
    "hour_of_week",
    "zero_truncated_poisson",
]

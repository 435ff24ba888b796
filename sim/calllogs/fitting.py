"""Fit the traffic model to recorded calls and write a scenario file and a fit report.

From a normalised call table (``sim.calllogs``) the fit finds the tenant's user groups
(users by usage country and calling-plan capability: ``MCOPSTN1`` -> ``domestic``,
Communications Credits only -> ``payg``) and service numbers (auto attendants and call
queues, by their number), then estimates what ``[traffic]`` needs (``sim.traffic``):

- **Rates with hour-of-week profiles.** Calls are counted per local hour of the week and
  divided by the hours of that kind in the observation window (holidays left out). The
  maximum-likelihood profile of a Poisson process with one shape for Monday to Friday, one
  for Saturday and one for Sunday pools those counts (``Profile``); the rate per user-day
  is the expected count of an ordinary week over 7 x users.
- **Per-user heterogeneity.** Each user's calls are Poisson given a gamma multiplier of
  mean 1, so Var(n) = m + m^2 cv^2: the method of moments gives cv^2 = (s^2 - m) / m^2
  (0 when the counts are not over-dispersed).
- **Durations.** Lognormal by maximum likelihood (``scipy.stats.lognorm.fit``; when the
  log has whole seconds, the interval-censored likelihood of [d - 0.5, d + 0.5)), with the
  Kolmogorov-Smirnov statistic and p-value of the fit (whole seconds jittered) -- the
  p-value is optimistic, the parameters being estimated from the same data.
- **Destination mix.** Shares of domestic (the usage country), Zone A (``sim.tariffs.
  ZONE_A``), other international and premium numbers, with the countries seen.
- **Meetings.** Legs grouped by conference id; a meeting appears only with at least one
  PSTN leg, so dial-ins + dial-outs per meeting follow a zero-truncated Poisson law,
  fitted by maximum likelihood, and the meeting count is scaled up by 1 / P(at least one
  leg). Meeting length: mean leg / 0.75 + the join delay (legs stay a uniform 50-100 %).
- **Service numbers.** Inbound calls per day (with their own profile) and durations.

``fit_calls`` returns a ``TrafficFit``; ``scenario_text`` writes an ordinary, commented
scenario file (money, recharge and rate tables from a base scenario); ``write_fit_report``
writes tables (Parquet and CSV) and PNG plots into a folder, atomically.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
from numpy.typing import NDArray
from scipy import optimize, special, stats

from sim.calllogs.reader import ImportReport, user_licences
from sim.core.errors import InputError
from sim.core.tables import write_table
from sim.core.units import format_duration, load_time_zone
from sim.scenario.loading import load_scenario
from sim.telephony.tariffs import ZONE_A

HOURS_PER_WEEK = 168
_OWN_OUT = ("user_out", "user_out_conf", "user_out_transfer", "user_out_forwarding")
_OWN = (*_OWN_OUT, "user_in")
_DEST_CLASSES = ("domestic", "zone_a", "international", "premium")
DEFAULT_JOIN_DELAY_S = 120.0
"""``Meetings.join_delay`` default, used to turn leg lengths into meeting lengths."""


# -- pieces ---------------------------------------------------------------------------------


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


# -- the whole fit ------------------------------------------------------------------------


@dataclass
class HolderFit:
    """The fit of one user group or service number, with its report rows."""

    name: str
    kind: str  # "group" or "service"
    country: str
    users: int
    plan: str = ""
    conferencing: str = "none"
    number_type: str = "toll"
    licence: str = ""
    traffic: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class TrafficFit:
    """Everything the fit found: holders, profiles and report tables."""

    holders: list[HolderFit]
    profiles: dict[str, ProfileFit]
    exposure: Exposure
    tables: dict[str, pd.DataFrame]
    durations: dict[str, tuple[NDArray[np.float64], LognormalFit]]
    holidays: tuple[date, ...]
    notes: list[str] = field(default_factory=list)


def _group_name(country: str, plan: str, taken: set[str]) -> str:
    base = f"{country.lower()}-{plan.replace('_', '-')}"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


def fit_calls(
    calls: pd.DataFrame,
    *,
    time_zone: str = "UTC",
    holidays: Sequence[date] = (),
    window: tuple[datetime, datetime] | None = None,
    rng: np.random.Generator | None = None,
    min_calls: int = 30,
) -> TrafficFit:
    """Fit user groups, service numbers and their traffic to a normalised call table.

    ``window`` is the UTC observation window [start, end) (default: the whole UTC days of
    the log); ``holidays`` (local dates) are left out of rates and profiles and written to
    the scenario. ``rng`` only jitters whole-second durations for the KS test.
    """
    if not len(calls):
        raise InputError("the call log holds no calls to fit")
    load_time_zone(time_zone)
    rng = rng or np.random.default_rng(0)
    if window is None:
        from sim.calllogs.reader import utc_window

        window = utc_window(calls)
    exp = exposure(window, time_zone, holidays)
    if exp.hours.sum() == 0:
        raise InputError("the observation window holds no ordinary (non-holiday) hours")
    ct = calls["call_type"].astype(str)
    users = user_licences(calls)
    # -- user groups by usage country and plan ------------------------------------------
    people = users[~users["service"]].copy()
    people["plan_key"] = people["plan"]
    known = people[people["plan_key"] != ""]
    largest = (
        known.groupby(["usage_country", "plan_key"]).size().reset_index(name="n")
        .sort_values(["usage_country", "n"], ascending=[True, False])
        .drop_duplicates("usage_country").set_index("usage_country")["plan_key"]
    )  # fmt: skip
    unknown = people["plan_key"] == ""
    people.loc[unknown, "plan_key"] = (
        people.loc[unknown, "usage_country"].map(largest).fillna("domestic")
    )
    taken: set[str] = set()
    group_of: dict[str, str] = {}
    holders: list[HolderFit] = []
    tables: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in ("rates", "heterogeneity", "durations", "destinations", "meetings", "services")
    }
    durations: dict[str, tuple[NDArray[np.float64], LognormalFit]] = {}
    profiles: dict[str, ProfileFit] = {}
    keys = people.groupby(["usage_country", "plan_key"], sort=True)
    for (country_, plan_), members in keys:
        country, plan = str(country_), str(plan_)
        name = _group_name(country, plan, taken)
        for u in members["user"]:
            group_of[str(u)] = name
        conf_users = members[members["conferencing"] != ""]
        conferencing = (
            str(conf_users["conferencing"].value_counts().index[0]) if len(conf_users) else "none"
        )
        licence = str(members["licence"].value_counts().index[0])
        holders.append(
            HolderFit(name, "group", country, len(members), plan, conferencing, licence=licence)
        )
    user_group = calls["user"].astype(str).map(group_of)
    for h in holders:
        _fit_group(h, calls[user_group == h.name], ct[user_group == h.name], exp, rng,
                   min_calls, tables, durations, profiles)  # fmt: skip
    # -- service numbers ------------------------------------------------------------------
    bots = users[users["service"]]
    svc_calls = calls[ct == "ucap_in"]
    k = 0
    for u in bots["user"].astype(str):
        mine = svc_calls[svc_calls["user"].astype(str) == u]
        if not len(mine):
            continue
        k += 1
        country = str(mine["dest_country"].value_counts().index[0])
        toll_free = bool((mine["number_type"] == "toll_free").mean() > 0.5)
        name = f"svc-{country.lower()}-{'tollfree' if toll_free else 'toll'}-{k}"
        h = HolderFit(name, "service", country, 1, number_type="toll_free" if toll_free else "toll")
        _fit_service(h, mine, exp, rng, min_calls, tables, durations, profiles)
        holders.append(h)
    notes = []
    ucap_out = int((ct == "ucap_out").sum())
    if ucap_out:
        notes.append(
            f"{ucap_out} outbound auto attendant / call queue calls (ucap_out) not modelled"
        )
    nouser = int((calls["user"].astype(str) == "").sum())
    if nouser:
        notes.append(f"{nouser} calls without a user or service number were left out")
    return TrafficFit(
        holders=holders,
        profiles=profiles,
        exposure=exp,
        tables={k: pd.DataFrame(v) for k, v in tables.items()},
        durations=durations,
        holidays=tuple(sorted(exp.holidays)),
        notes=notes,
    )


def _fit_group(
    h: HolderFit,
    calls: pd.DataFrame,
    ct: pd.Series,
    exp: Exposure,
    rng: np.random.Generator,
    min_calls: int,
    tables: dict[str, list[dict[str, Any]]],
    durations: dict[str, tuple[NDArray[np.float64], LognormalFit]],
    profiles: dict[str, ProfileFit],
) -> None:
    own = calls[ct.isin(_OWN).to_numpy()]
    out = own[own["call_type"].isin(_OWN_OUT).to_numpy()]
    inbound = own[(own["call_type"] == "user_in").to_numpy()]
    how, inside = hour_of_week(own["start"], exp)
    calling: dict[str, Any] = {}
    if inside.sum() >= 1:
        profile = fit_profile(how[inside], exp)
        pname = f"{h.name}-calling"
        profiles[pname] = profile
        # Heterogeneity from each user's own calls (outbound and inbound share it).
        per_user = (
            own.groupby("user").size().reindex(sorted(set(calls["user"].astype(str))), fill_value=0)
        )
        cv, m, v = gamma_cv(np.asarray(per_user, dtype=np.float64))
        tables["heterogeneity"].append(
            {"holder": h.name, "users": h.users, "mean_calls": m, "variance": v, "rate_cv": cv}
        )
        is_out = own["call_type"].isin(_OWN_OUT).to_numpy()
        r_out = fit_rate(how[inside & is_out], profile, exp, h.users, cv)
        r_in = fit_rate(how[inside & ~is_out], profile, exp, h.users, cv)
        tables["rates"].append(r_out.row(h.name, "calls_per_user_day"))
        tables["rates"].append(r_in.row(h.name, "inbound_per_user_day"))
        calling = {
            "calls_per_user_day": _sig(r_out.value),
            "inbound_per_user_day": _sig(r_in.value),
            "rate_cv": _sig(cv, 4),
            "profile": pname,
        }
        fit = fit_lognormal(own["duration_s"].to_numpy(np.float64), rng)
        if fit is not None and fit.n >= min_calls:
            calling["duration"] = fit.delay()
            durations[f"{h.name}-calling"] = (own["duration_s"].to_numpy(np.float64), fit)
            tables["durations"].append(fit.row(h.name, "calling"))
        else:
            h.notes.append("too few calls for a duration fit: default duration kept")
        if len(out):
            dest, rows = fit_destinations(out, h.country)
            calling["destinations"] = dest
            for r in rows:
                tables["destinations"].append({"holder": h.name, "calls_of": "calling", **r})
            n_out = len(out)
            transfer = int((out["call_type"] == "user_out_transfer").sum())
            forward = int((out["call_type"] == "user_out_forwarding").sum())
            calling["transfer_share"] = _sig(transfer / n_out)
            calling["forward_share"] = _sig(forward / n_out)
            conf_adds = int((out["call_type"] == "user_out_conf").sum())
            if conf_adds:
                h.notes.append(f"{conf_adds} user_out_conf legs modelled as user_out")
        if len(inbound) == 0:
            h.notes.append("no inbound user calls")
    if calling:
        h.traffic["calling"] = calling
    meetings = _fit_meetings(h, calls[ct.str.startswith("conf_").to_numpy()], exp, rng, tables,
                             durations, profiles)  # fmt: skip
    if meetings:
        h.traffic["meetings"] = meetings
        if h.conferencing == "none":
            h.conferencing = "standard"
            h.notes.append("meeting calls without a conferencing capability: standard assumed")


def _fit_meetings(
    h: HolderFit,
    legs: pd.DataFrame,
    exp: Exposure,
    rng: np.random.Generator,
    tables: dict[str, list[dict[str, Any]]],
    durations: dict[str, tuple[NDArray[np.float64], LognormalFit]],
    profiles: dict[str, ProfileFit],
) -> dict[str, Any]:
    if not len(legs):
        return {}
    conf_id = legs["conference_id"].astype(str).to_numpy()
    no_id = conf_id == ""
    conf_id = np.where(no_id, np.char.add("leg-", np.arange(len(legs)).astype(str)), conf_id)
    frame = pd.DataFrame(
        {
            "conf": conf_id,
            "start": legs["start"].to_numpy(),
            "dial_in": (legs["call_type"] == "conf_in").to_numpy(),
        }
    )
    per = frame.groupby("conf").agg(start=("start", "min"), legs=("dial_in", "size"),
                                    ins=("dial_in", "sum"))  # fmt: skip
    per["start"] = pd.to_datetime(per["start"], utc=True)
    how, inside = hour_of_week(per["start"], exp)
    if inside.sum() == 0:
        return {}
    per = per[inside]
    how = how[inside]
    total_legs = float(per["legs"].sum())
    ins = float(per["ins"].sum())
    theta = zero_truncated_poisson(total_legs / len(per))
    seen = -math.expm1(-theta) if theta > 0 else 1.0
    profile = fit_profile(how, exp)
    pname = f"{h.name}-meetings"
    profiles[pname] = profile
    conferences = fit_rate(how, profile, exp, h.users)
    per_week = conferences.value * 7.0 / seen
    dial_ins = theta * ins / total_legs if theta > 0 else ins / len(per)
    dial_outs = (
        theta * (total_legs - ins) / total_legs if theta > 0 else (total_legs - ins) / len(per)
    )
    in_legs = legs[legs["call_type"] == "conf_in"]
    out_legs = legs[legs["call_type"] == "conf_out"]
    toll_free = float((in_legs["number_type"] == "toll_free").mean()) if len(in_legs) else 0.0
    mean_leg = float(legs["duration_s"].mean())
    length_s = max(60.0, mean_leg / 0.75 + DEFAULT_JOIN_DELAY_S)
    minutes = max(1, round(length_s / 60))
    out: dict[str, Any] = {
        "per_organiser_week": _sig(per_week),
        "profile": pname,
        "scheduled": [format_duration(minutes * 60)],
        "scheduled_weights": [1.0],
        "dial_ins": _sig(dial_ins),
        "toll_free_share": _sig(toll_free),
        "dial_outs": _sig(dial_outs),
    }
    if len(out_legs):
        dest, rows = fit_destinations(out_legs, h.country)
        out["dial_out_destinations"] = dest
        for r in rows:
            tables["destinations"].append({"holder": h.name, "calls_of": "dial_out", **r})
    tables["meetings"].append(
        {
            "holder": h.name,
            "conferences_seen": len(per),
            "legs": int(total_legs),
            "dial_in_legs": int(ins),
            "dial_out_legs": int(total_legs - ins),
            "legs_per_conference": total_legs / len(per),
            "theta": theta,
            "share_seen": seen,
            "per_organiser_week": per_week,
            "dial_ins": dial_ins,
            "dial_outs": dial_outs,
            "toll_free_share": toll_free,
            "mean_leg_s": mean_leg,
            "meeting_length_s": minutes * 60,
        }
    )
    tables["rates"].append(
        {
            "holder": h.name,
            "quantity": "per_organiser_week",
            "value": per_week,
            "se": conferences.se * 7.0 / seen,
            "calls": int(total_legs),
            "units": h.users,
        }
    )
    fit = fit_lognormal(legs["duration_s"].to_numpy(np.float64), rng)
    if fit is not None:
        durations[f"{h.name}-meeting-legs"] = (legs["duration_s"].to_numpy(np.float64), fit)
        tables["durations"].append(fit.row(h.name, "meeting legs (not a model input)"))
    if no_id.any():
        h.notes.append(f"{int(no_id.sum())} meeting legs without a conference id: one meeting each")
    return out


def _fit_service(
    h: HolderFit,
    calls: pd.DataFrame,
    exp: Exposure,
    rng: np.random.Generator,
    min_calls: int,
    tables: dict[str, list[dict[str, Any]]],
    durations: dict[str, tuple[NDArray[np.float64], LognormalFit]],
    profiles: dict[str, ProfileFit],
) -> None:
    how, inside = hour_of_week(calls["start"], exp)
    if inside.sum() == 0:
        return
    profile = fit_profile(how[inside], exp)
    pname = f"{h.name}"
    profiles[pname] = profile
    rate = fit_rate(how[inside], profile, exp, 1)
    tables["rates"].append(rate.row(h.name, "calls_per_day"))
    traffic: dict[str, Any] = {"calls_per_day": _sig(rate.value), "profile": pname}
    fit = fit_lognormal(calls["duration_s"].to_numpy(np.float64), rng)
    if fit is not None and fit.n >= min_calls:
        traffic["duration"] = fit.delay()
        durations[h.name] = (calls["duration_s"].to_numpy(np.float64), fit)
        tables["durations"].append(fit.row(h.name, "service"))
    tables["services"].append(
        {
            "holder": h.name,
            "country": h.country,
            "number_type": h.number_type,
            "calls": len(calls),
            "calls_per_day": rate.value,
            "se": rate.se,
        }
    )
    h.traffic = traffic


def _sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


# -- writing the scenario ---------------------------------------------------------------------

_BASE_SECTIONS = ("simulation", "funding", "recharge", "payment", "admin", "postpaid")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() and k.isascii() else json.dumps(k)


def _table(header: str, values: dict[str, Any]) -> str:
    lines = [f"[{header}]"] if header else []
    lines += [f"{_key(k)} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def scenario_text(
    fit: TrafficFit,
    base_path: Path,
    out_path: Path,
    *,
    log_lines: Sequence[str] = (),
    name: str | None = None,
) -> str:
    """Return the fitted scenario as commented TOML.

    Money, recharge, payment, admin and postpaid settings and the rate tables come from
    the base scenario (rate-table paths rewritten relative to ``out_path``); the tenant and
    ``[traffic]`` come from the fit.
    """
    base = tomllib.loads(base_path.read_text(encoding="utf-8"))
    parts = [
        "# Scenario fitted by `ccsim fit` from recorded PSTN calls.",
        *[f"# {line.strip()}" for line in log_lines],
        f"# Observation window (UTC): {fit.exposure.window[0].isoformat()} to "
        f"{fit.exposure.window[1].isoformat()}, {fit.exposure.days:.1f} ordinary days in "
        f"{fit.exposure.time_zone}.",
        f"# Money, recharge, payment and admin settings and the rate tables: {base_path}.",
        "# Rates are per user per day over an ordinary week; profiles spread them over the",
        "# local hours of the week. See the fit report for standard errors and tests.",
        "",
    ]
    sim = dict(base.get("simulation", {}))
    sim["name"] = name or out_path.stem
    sim["time_zone"] = fit.exposure.time_zone
    for section in _BASE_SECTIONS:
        data = sim if section == "simulation" else base.get(section)
        if data is None:
            continue
        parts.append(tomli_w.dumps({section: data}))
    groups = [h for h in fit.holders if h.kind == "group"]
    services = [h for h in fit.holders if h.kind == "service"]
    parts.append(
        "# -- The tenant, as found in the log: users by usage country and calling-plan\n"
        "# capability; service numbers (auto attendants, call queues) by their number.\n"
        "# Counts are the users seen in the log; conferencing_assigned is not in the log\n"
        "# (every user assumed assigned)."
    )
    for h in groups:
        parts.append(
            f"# {h.name}: {h.users} users seen, licence {h.licence or '-'}"
            + "".join(f"; {n}" for n in h.notes)
        )
        parts.append(
            "[[user_groups]]\n"
            + _table(
                "",
                {
                    "name": h.name,
                    "count": h.users,
                    "usage_country": h.country,
                    "plan": h.plan,
                    "conferencing": h.conferencing,
                },
            )
        )
    for h in services:
        parts.append(
            "[[service_numbers]]\n"
            + _table(
                "",
                {
                    "name": h.name,
                    "kind": "call_queue",
                    "number_type": h.number_type,
                    "country": h.country,
                },
            )
        )
    tariffs = base.get("tariffs")
    if tariffs:
        rebased = {}
        for key, rel in tariffs.items():
            src = Path(rel) if Path(rel).is_absolute() else (base_path.parent / rel)
            rel_path = os.path.relpath(src.resolve(), out_path.parent.resolve())
            # Relative when the scenario sits near its tables, absolute otherwise.
            far = Path(rel_path).parts[:3] == ("..", "..", "..")
            rebased[key] = str(src.resolve()) if far else rel_path
        parts.append("# Rate tables of the base scenario.\n" + tomli_w.dumps({"tariffs": rebased}))
    traffic_top: dict[str, Any] = {}
    if fit.holidays:
        traffic_top["holidays"] = list(fit.holidays)
    base_traffic = base.get("traffic", {})
    parts.append("# -- Traffic fitted from the log.\n" + _table("traffic", traffic_top))
    if "retry" in base_traffic:
        parts.append(tomli_w.dumps({"traffic": {"retry": base_traffic["retry"]}}))
    for pname, profile in fit.profiles.items():
        parts.append(
            f"# Hour-of-week profile {pname}: {int(profile.counts.sum())} calls, expected "
            f"{profile.week_total:.1f} per ordinary week.\n"
            + _table(f"traffic.profiles.{_key(pname)}", profile.weights())
        )
    for h in groups:
        for part in ("calling", "meetings"):
            if part in h.traffic:
                parts.append(_table(f"traffic.groups.{_key(h.name)}.{part}", h.traffic[part]))
    for h in services:
        if h.traffic:
            parts.append(_table(f"traffic.services.{_key(h.name)}", h.traffic))
    for note in fit.notes:
        parts.append(f"# Note: {note}.")
    return "\n".join(parts).rstrip() + "\n"


def write_scenario_file(text: str, out_path: Path, *, force: bool = False) -> Path:
    """Validate the text as a scenario and write it atomically.

    An existing file is never overwritten unless ``force``.
    """
    if out_path.exists() and not force:
        raise InputError(f"{out_path}: exists already; choose a new file or give --force")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{out_path.stem}.", suffix=".toml", dir=out_path.parent
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            load_scenario(tmp)
        except InputError as exc:
            raise InputError(f"{out_path}: the fitted scenario does not validate: {exc}") from None
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path


# -- the report ------------------------------------------------------------------------------


def profile_table(fit: TrafficFit) -> pd.DataFrame:
    """Return observed and fitted intensities per profile and hour of the week."""
    rows = []
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    for name, p in fit.profiles.items():
        fitted = p.fitted
        for k in range(HOURS_PER_WEEK):
            rows.append(
                {
                    "profile": name,
                    "hour_of_week": k,
                    "day": days[k // 24],
                    "hour": k % 24,
                    "calls": int(p.counts[k]),
                    "hours_observed": float(fit.exposure.hours[k]),
                    "observed_per_hour": float(p.observed[k]),
                    "fitted_per_hour": float(fitted[k]),
                }
            )
    return pd.DataFrame(rows)


def write_fit_report(
    fit: TrafficFit,
    staging: Path,
    *,
    report: ImportReport | None = None,
    plots: bool = True,
) -> list[str]:
    """Write the fit's tables (and plots) into ``staging``; return the files written."""
    files: list[str] = []
    for name, table in fit.tables.items():
        if len(table):
            files += [p.name for p in write_table(table, staging, name)]
    files += [p.name for p in write_table(profile_table(fit), staging, "profiles")]
    holders = pd.DataFrame(
        [
            {
                "name": h.name,
                "kind": h.kind,
                "country": h.country,
                "users": h.users,
                "plan": h.plan,
                "conferencing": h.conferencing,
                "number_type": h.number_type,
                "licence": h.licence,
                "notes": "; ".join(h.notes),
            }
            for h in fit.holders
        ]
    )
    files += [p.name for p in write_table(holders, staging, "holders")]
    if report is not None:
        (staging / "import.txt").write_text("\n".join(report.lines(show=50)) + "\n")
        files.append("import.txt")
        if report.bad_rows:
            report.bad_rows_frame().to_csv(staging / "bad_rows.csv", index=False)
            files.append("bad_rows.csv")
    if plots:
        files += _plots(fit, staging)
    return files


def _plots(fit: TrafficFit, staging: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = staging / "plots"
    folder.mkdir(exist_ok=True)
    files = []
    for name, p in fit.profiles.items():
        fig, ax = plt.subplots(figsize=(11, 4), dpi=100)
        x = np.arange(HOURS_PER_WEEK)
        ax.bar(x, p.observed, width=1.0, color="#9ecae1", label="observed (calls per hour)")
        ax.step(x, p.fitted, where="mid", color="#08519c", lw=1.5, label="fitted profile")
        ax.set_xticks(np.arange(0, HOURS_PER_WEEK + 1, 24))
        ax.set_xticklabels(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", ""])
        ax.set_xlim(-0.5, HOURS_PER_WEEK - 0.5)
        ax.set_ylabel("calls per hour")
        ax.set_title(f"{name}: hour-of-week rate ({fit.exposure.time_zone})")
        ax.legend(loc="upper right")
        fig.tight_layout()
        path = folder / f"profile-{name}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(f"plots/{path.name}")
    for name, (d, lf) in fit.durations.items():
        d = d[d > 0]
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        top = float(d.max()) * 1.01
        if lf.censored:  # whole seconds: each bin holds whole numbers of seconds
            edges = np.unique(np.floor(np.geomspace(1.0, top + 1, 60))) - 0.5
            bins = edges[edges > 0].tolist() if (edges > 0).sum() > 1 else [0.5, top + 0.5]
        else:
            bins = np.geomspace(max(float(d.min()), 0.5), top, 60).tolist()
        ax.hist(d, bins=bins, density=True, color="#c6dbef", label=f"observed (n={lf.n:,})")
        grid = np.geomspace(bins[0], bins[-1], 400)
        ax.plot(grid, stats.lognorm.pdf(grid, lf.sigma, 0, math.exp(lf.mu)), color="#08519c",
                label=f"lognormal mean {lf.mean_s:.0f}s cv {lf.cv:.2f}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("duration (s)")
        ax.set_ylabel("density")
        ax.set_title(f"{name}: KS D = {lf.ks_statistic:.4f}, p = {lf.ks_pvalue:.3g}")
        ax.legend()
        fig.tight_layout()
        path = folder / f"duration-{name}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(f"plots/{path.name}")
    return files


def default_base() -> Path | None:
    """Return ``scenarios/default.toml`` of the source tree, if there is one."""
    here = Path(__file__).resolve().parents[2] / "scenarios" / "default.toml"
    return here if here.is_file() else None


__all__ = [
    "Exposure",
    "HolderFit",
    "LognormalFit",
    "ProfileFit",
    "RateFit",
    "TrafficFit",
    "default_base",
    "destination_class",
    "exposure",
    "fit_calls",
    "fit_destinations",
    "fit_lognormal",
    "fit_profile",
    "fit_rate",
    "gamma_cv",
    "hour_of_week",
    "profile_table",
    "scenario_text",
    "write_fit_report",
    "write_scenario_file",
    "zero_truncated_poisson",
]

"""Fit the traffic model to recorded calls: user groups, service numbers, their traffic.

From a normalised call table (``sim.calllogs``) the fit finds the tenant's user groups
(users by usage country and calling-plan capability: ``MCOPSTN1`` -> ``domestic``,
Communications Credits only -> ``payg``) and service numbers (auto attendants and call
queues, by their number), then estimates what ``[traffic]`` needs (``sim.traffic``):

- **Observation window on local days.** By default the window is the whole local days
  (of the scenario's time zone) between the first and the last call, cut to the whole UTC
  days the export covers (``local_window``), so neither the log's UTC edges nor the local
  day's hours outside the log count as hours without calls.
- **A time zone per group.** Each group's profile is read in the zone of its usage
  country (``COUNTRY_TIME_ZONES``, overridable), written as the group's ``time_zone``
  when it differs from the scenario's.
- **Rates with hour-of-week profiles.** Calls are counted per local hour of the week and
  divided by the hours of that kind in the observation window (holidays left out). Each
  day of the week gets its own maximum-likelihood shape when a likelihood-ratio test
  rejects one Monday-Friday shape at 1 %, else Monday to Friday are pooled; Saturday and
  Sunday have their own; holidays get a shape from the calls on holidays. The rate per
  user-day is the expected count of an ordinary week over 7 x users.
- **Per-user heterogeneity.** Each user's calls are Poisson given a gamma multiplier of
  mean 1, so Var(n) = m + m^2 cv^2: the method of moments gives cv^2 = (s^2 - m) / m^2
  (0 when the counts are not over-dispersed).
- **Durations, per call type.** Outbound user calls, inbound, transfers, forwards, ad-hoc
  conference legs (``user_out_conf``), dial-in and dial-out meeting legs, service
  inbound and outbound calls each get their own lognormal law when the log has at least
  ``min_calls`` of them (else they share the outbound law). Lognormal by maximum
  likelihood (``scipy.stats.lognorm.fit``; when the log has whole seconds, the
  interval-censored likelihood of [d - 0.5, d + 0.5)), with the Kolmogorov-Smirnov
  statistic and p-value of the fit (whole seconds jittered) -- the p-value is optimistic,
  the parameters being estimated from the same data.
- **Destination mix.** Shares of domestic (the usage country), Zone A (``sim.telephony.tariffs.
  ZONE_A``), other international and premium numbers, with the countries seen and each
  country's share of its class (``zone_a_weights``, ``international_weights``).
- **Service numbers** are named from a hash of their pseudonym (``svc-us-tollfree-3fa9c1d2``),
  so the same log imported with the same pseudonym key gives the same names.
- **Meetings.** Legs grouped by conference id; a meeting appears only with at least one
  PSTN leg, so dial-ins + dial-outs per meeting follow a zero-truncated Poisson law,
  fitted by maximum likelihood, and the meeting count is scaled up by 1 / P(at least one
  leg). Meeting length: mean leg / 0.75 + the join delay (legs stay a uniform 50-100 %).
- **Service numbers.** Inbound calls per day (with their own profile), outbound calls
  (``ucap_out``) per day by the same profile, their durations and destinations.

The estimators live in ``sim.calllogs.estimators``. ``fit_calls`` returns a
``TrafficFit``; ``scenario_text`` (``sim.calllogs.fitted_scenario``) writes an ordinary,
commented scenario file (money, recharge and rate tables from a base scenario);
``write_fit_report`` (``sim.calllogs.fit_report``) writes tables (Parquet and CSV) and PNG
plots into a folder, atomically.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.calllogs.estimators import (
    BY_DAY_ALPHA,
    Exposure,
    LognormalFit,
    ProfileFit,
    exposure,
    fit_destinations,
    fit_lognormal,
    fit_profile,
    fit_rate,
    gamma_cv,
    holiday_hour,
    hour_of_week,
    zero_truncated_poisson,
)
from sim.calllogs.users import user_licences, utc_window
from sim.core.errors import InputError
from sim.core.units import format_duration, load_time_zone

_OWN_OUT = ("user_out", "user_out_conf", "user_out_transfer", "user_out_forwarding")
_OWN = (*_OWN_OUT, "user_in")
_OWN_TYPES = ("user_in", "user_out_transfer", "user_out_forwarding", "user_out_conf")
"""Call types that get their own duration law beside ``user_out``'s."""


DEFAULT_JOIN_DELAY_S = 120.0
"""``Meetings.join_delay`` default, used to turn leg lengths into meeting lengths."""

COUNTRY_TIME_ZONES: dict[str, str] = {
    "AE": "Asia/Dubai",
    "AR": "America/Argentina/Buenos_Aires",
    "AT": "Europe/Vienna",
    "AU": "Australia/Sydney",
    "BE": "Europe/Brussels",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CH": "Europe/Zurich",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "CO": "America/Bogota",
    "CZ": "Europe/Prague",
    "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen",
    "EG": "Africa/Cairo",
    "ES": "Europe/Madrid",
    "FI": "Europe/Helsinki",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "GR": "Europe/Athens",
    "HK": "Asia/Hong_Kong",
    "HU": "Europe/Budapest",
    "IE": "Europe/Dublin",
    "IL": "Asia/Jerusalem",
    "IN": "Asia/Kolkata",
    "IT": "Europe/Rome",
    "JP": "Asia/Tokyo",
    "KE": "Africa/Nairobi",
    "KR": "Asia/Seoul",
    "LU": "Europe/Luxembourg",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "NG": "Africa/Lagos",
    "NL": "Europe/Amsterdam",
    "NO": "Europe/Oslo",
    "NZ": "Pacific/Auckland",
    "PH": "Asia/Manila",
    "PL": "Europe/Warsaw",
    "PR": "America/Puerto_Rico",
    "PT": "Europe/Lisbon",
    "RO": "Europe/Bucharest",
    "SA": "Asia/Riyadh",
    "SE": "Europe/Stockholm",
    "SG": "Asia/Singapore",
    "TR": "Europe/Istanbul",
    "TW": "Asia/Taipei",
    "US": "America/New_York",
    "VN": "Asia/Ho_Chi_Minh",
    "ZA": "Africa/Johannesburg",
}
"""A usage country's time zone for its group's profile: the zone of most of its people
(a country spanning several zones, as US, CA, AU, BR or MX, gets its most populous one;
give ``zones`` / ``ccsim fit --zone US=America/Chicago`` or edit the group's ``time_zone``
in the fitted scenario when the users sit elsewhere). Countries not listed get the
scenario's zone."""


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
    time_zone: str = ""
    traffic: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class TrafficFit:
    """Everything the fit found: holders, profiles, report tables and modelling choices.

    ``exposure`` is the window in the scenario's zone; ``exposures`` holds the exposure
    each profile was fitted against (a group's own zone). ``choices`` states each
    modelling choice in a sentence, for the fit report.
    """

    holders: list[HolderFit]
    profiles: dict[str, ProfileFit]
    exposure: Exposure
    tables: dict[str, pd.DataFrame]
    durations: dict[str, tuple[NDArray[np.float64], LognormalFit]]
    holidays: tuple[date, ...]
    notes: list[str] = field(default_factory=list)
    exposures: dict[str, Exposure] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)


def _group_name(country: str, plan: str, taken: set[str]) -> str:
    base = f"{country.lower()}-{plan.replace('_', '-')}"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


def service_name(user: str, country: str, toll_free: bool, taken: set[str]) -> str:
    """Return a service number's name from its pseudonym, the same in every fit.

    ``svc-<country>-<toll|tollfree>-<8 hex digits of sha256(pseudonym)>``: the pseudonym
    is the keyed hash of the number, so names stay with the number (not the order the
    log lists them) as long as the pseudonym key is the same; hashing again keeps a
    number imported in clear out of the name. A collision takes more digits.
    """
    digest = hashlib.sha256(user.encode("utf-8")).hexdigest()
    kind = "tollfree" if toll_free else "toll"
    for width in range(8, 65, 4):
        name = f"svc-{country.lower()}-{kind}-{digest[:width]}"
        if name not in taken:
            taken.add(name)
            return name
    raise AssertionError("a sha256 digest collided in full")  # pragma: no cover


def country_time_zone(country: str, zones: Mapping[str, str] | None = None) -> str | None:
    """Return the time zone of a usage country (``zones`` first), or None if unknown."""
    if zones and country in zones:
        return zones[country]
    return COUNTRY_TIME_ZONES.get(country)


def tenant_time_zone(calls: pd.DataFrame, zones: Mapping[str, str] | None = None) -> str | None:
    """Return the zone of the usage country with the most users in a call table."""
    users = user_licences(calls)
    people = users[~users["service"]]
    if not len(people):
        return None
    counts = people.groupby("usage_country").size().reset_index(name="n")
    counts = counts.sort_values(["n", "usage_country"], ascending=[False, True])
    return country_time_zone(str(counts["usage_country"].iloc[0]), zones)


def local_window(calls: pd.DataFrame, time_zone: str) -> tuple[datetime, datetime]:
    """Return the default observation window: whole local days, within whole UTC days.

    From 00:00 local of the first call's local day to 00:00 local after the last call's,
    intersected with the whole UTC days of the log (``utc_window``, how getPstnCalls and
    the admin-center export select calls): a log exported by UTC days is not padded with
    the local hours it cannot hold, and a log of local days is not padded with UTC ones.
    """
    tz = load_time_zone(time_zone)
    first = calls["start"].min().to_pydatetime(warn=False).astimezone(tz)
    last = calls["start"].max().to_pydatetime(warn=False).astimezone(tz)
    lo = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    nxt = last.date() + timedelta(days=1)
    hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
    ulo, uhi = utc_window(calls)
    return max(lo, ulo), min(hi, uhi)


@dataclass
class _Context:
    """What every holder's fit shares: the window, the exposures, rng and the tables."""

    window: tuple[datetime, datetime]
    holidays: tuple[date, ...]
    rng: np.random.Generator
    min_calls: int
    tables: dict[str, list[dict[str, Any]]]
    durations: dict[str, tuple[NDArray[np.float64], LognormalFit]]
    profiles: dict[str, ProfileFit]
    exposures: dict[str, Exposure]
    by_zone: dict[str, Exposure] = field(default_factory=dict)

    def exposure(self, zone: str) -> Exposure:
        exp = self.by_zone.get(zone)
        if exp is None:
            exp = self.by_zone[zone] = exposure(self.window, zone, self.holidays)
        return exp

    def add_profile(self, name: str, profile: ProfileFit, exp: Exposure) -> None:
        self.profiles[name] = profile
        self.exposures[name] = exp


def fit_calls(
    calls: pd.DataFrame,
    *,
    time_zone: str = "UTC",
    holidays: Sequence[date] = (),
    window: tuple[datetime, datetime] | None = None,
    rng: np.random.Generator | None = None,
    min_calls: int = 30,
    zones: Mapping[str, str] | None = None,
    group_time_zones: bool = True,
) -> TrafficFit:
    """Fit user groups, service numbers and their traffic to a normalised call table.

    ``time_zone`` is the scenario's; ``window`` the UTC observation window [start, end)
    (default: ``local_window``); ``holidays`` (local dates) are left out of rates and
    ordinary profiles, fitted as each profile's holiday shape and written to the scenario.
    Each group's profile is read in its usage country's zone (``country_time_zone`` with
    ``zones`` first) unless ``group_time_zones`` is false. ``rng`` only jitters
    whole-second durations for the KS test. Duration laws need ``min_calls`` calls.
    """
    if not len(calls):
        raise InputError("the call log holds no calls to fit")
    load_time_zone(time_zone)
    for country, zone in (zones or {}).items():
        try:
            load_time_zone(zone)
        except ValueError as exc:
            raise InputError(f"--zone {country}={zone}: {exc}") from None
    rng = rng or np.random.default_rng(0)
    default_window = window is None
    if window is None:
        window = local_window(calls, time_zone)
    ctx = _Context(window, tuple(holidays), rng, min_calls,
                   {k: [] for k in ("rates", "heterogeneity", "durations", "destinations",
                                    "meetings", "services")},
                   {}, {}, {})  # fmt: skip
    exp = ctx.exposure(time_zone)
    if exp.hours.sum() == 0:
        raise InputError("the observation window holds no ordinary (non-holiday) hours")
    choices = [
        f"Observation window {window[0].isoformat()} to {window[1].isoformat()} (UTC), "
        f"{exp.days:.2f} ordinary days: "
        + (
            f"the whole local days of {time_zone} between the first and the last call, "
            "within the whole UTC days of the log"
            if default_window
            else "as given (--from/--to)"
        )
        + ".",
        f"Scenario time zone {time_zone}; "
        + (
            "each group's profile hours in its usage country's zone (COUNTRY_TIME_ZONES or "
            "--zone), days, months and pools in the scenario's."
            if group_time_zones
            else "every profile in the scenario's zone."
        ),
        "Profiles: Poisson intensity by local hour of the week (maximum likelihood); "
        f"Monday to Friday each their own shape when a likelihood-ratio test of one shape "
        f"gives p < {BY_DAY_ALPHA:g}, else pooled; Saturday and Sunday their own"
        + (
            f"; holidays ({len(ctx.holidays)}) left out of the ordinary days and fitted as "
            "the holiday shape."
            if ctx.holidays
            else "; no holidays given (--holidays), so none is left out."
        ),
        "Rates: calls per user per ordinary day, by the profile's shape; per-user spread a "
        "gamma multiplier (method of moments on each user's calls), shared by outbound "
        "and inbound calls.",
        f"Durations: lognormal by maximum likelihood (interval-censored for whole seconds) "
        f"per call type with at least {min_calls} calls; user_out's law is `duration`, "
        "inbound, transfers, forwards and user_out_conf legs their own `durations` entry, "
        "meeting dial-in and dial-out legs their own `leg_durations`; types with fewer "
        "calls share user_out's law.",
        "Destinations: shares of domestic, Zone A, other international and premium calls; "
        "within Zone A and international, each country's share of its class "
        "(`zone_a_weights`, `international_weights`).",
        "Meetings: legs grouped by conference id, PSTN legs per meeting a zero-truncated "
        "Poisson law, meetings scaled up by 1 / P(at least one leg).",
        "Service numbers: named svc-<country>-<toll|tollfree>-<hash of the number's "
        "pseudonym>, stable across fits with the same pseudonym key; inbound and outbound "
        "(ucap_out) calls per day by one profile.",
    ]
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
        zone = (country_time_zone(country, zones) or time_zone) if group_time_zones else time_zone
        holders.append(
            HolderFit(name, "group", country, len(members), plan, conferencing, licence=licence,
                      time_zone=zone)
        )  # fmt: skip
    user_group = calls["user"].astype(str).map(group_of)
    for h in holders:
        mine = (user_group == h.name).to_numpy()
        _fit_group(h, calls[mine], ct[mine], ctx)
    # -- service numbers ------------------------------------------------------------------
    bots = users[users["service"]]
    is_svc = ct.isin(["ucap_in", "ucap_out"]).to_numpy()
    svc_calls = calls[is_svc]
    svc_user = svc_calls["user"].astype(str)
    services = []
    for u in sorted(bots["user"].astype(str)):
        theirs = svc_calls[(svc_user == u).to_numpy()]
        if not len(theirs):
            continue
        inbound = theirs[(theirs["call_type"] == "ucap_in").to_numpy()]
        if len(inbound):
            country = str(inbound["dest_country"].value_counts().index[0])
            toll_free = bool((inbound["number_type"] == "toll_free").mean() > 0.5)
        else:
            country = str(theirs["usage_country"].value_counts().index[0])
            toll_free = False
        name = service_name(u, country, toll_free, taken)
        h = HolderFit(name, "service", country, 1, number_type="toll_free" if toll_free else "toll",
                      time_zone=time_zone)  # fmt: skip
        _fit_service(h, theirs, ctx, exp)
        services.append(h)
    holders += sorted(services, key=lambda h: h.name)
    notes = []
    nouser = int((calls["user"].astype(str) == "").sum())
    if nouser:
        notes.append(f"{nouser} calls without a user or service number were left out")
    return TrafficFit(
        holders=holders,
        profiles=ctx.profiles,
        exposure=exp,
        tables={k: pd.DataFrame(v) for k, v in ctx.tables.items()},
        durations=ctx.durations,
        holidays=tuple(sorted(exp.holidays)),
        notes=notes,
        exposures=ctx.exposures,
        choices=choices,
    )


def _duration_law(
    h: HolderFit, d: NDArray[np.float64], ctx: _Context, what: str
) -> dict[str, Any] | None:
    """Fit a lognormal to ``d``; return its scenario form when there are enough calls."""
    fit = fit_lognormal(d, ctx.rng)
    if fit is None or fit.n < ctx.min_calls:
        return None
    ctx.durations[f"{h.name}-{what}"] = (d, fit)
    ctx.tables["durations"].append(fit.row(h.name, what))
    return fit.delay()


def _fit_group(h: HolderFit, calls: pd.DataFrame, ct: pd.Series, ctx: _Context) -> None:
    exp = ctx.exposure(h.time_zone)
    own = calls[ct.isin(_OWN).to_numpy()]
    own_ct = own["call_type"].astype(str)
    out = own[own_ct.isin(_OWN_OUT).to_numpy()]
    how, inside = hour_of_week(own["start"], exp)
    calling: dict[str, Any] = {}
    if inside.sum() >= 1:
        profile = fit_profile(how[inside], exp, holiday_hour(own["start"], exp))
        pname = f"{h.name}-calling"
        ctx.add_profile(pname, profile, exp)
        # Heterogeneity from each user's own calls (outbound and inbound share it).
        per_user = (
            own.groupby("user").size().reindex(sorted(set(calls["user"].astype(str))), fill_value=0)
        )
        cv, m, v = gamma_cv(np.asarray(per_user, dtype=np.float64))
        ctx.tables["heterogeneity"].append(
            {"holder": h.name, "users": h.users, "mean_calls": m, "variance": v, "rate_cv": cv}
        )
        is_out = own_ct.isin(_OWN_OUT).to_numpy()
        r_out = fit_rate(how[inside & is_out], profile, exp, h.users, cv)
        r_in = fit_rate(how[inside & ~is_out], profile, exp, h.users, cv)
        ctx.tables["rates"].append(r_out.row(h.name, "calls_per_user_day"))
        ctx.tables["rates"].append(r_in.row(h.name, "inbound_per_user_day"))
        calling = {
            "calls_per_user_day": _sig(r_out.value),
            "inbound_per_user_day": _sig(r_in.value),
            "rate_cv": _sig(cv, 4),
            "profile": pname,
        }
        if profile.by_day:
            h.notes.append(f"weekdays differ (p = {profile.pooled_pvalue:.2g}): a shape per day")
        d_all = own["duration_s"].to_numpy(np.float64)
        d_of = {t: d_all[(own_ct == t).to_numpy()] for t in ("user_out", *_OWN_TYPES)}
        law = _duration_law(h, d_of["user_out"], ctx, "user_out")
        if law is None:  # too few plain outbound calls: all outbound legs together
            law = _duration_law(h, out["duration_s"].to_numpy(np.float64), ctx, "outbound")
        if law is not None:
            calling["duration"] = law
        else:
            h.notes.append("too few outbound calls for a duration fit: default duration kept")
        laws = {}
        for t in _OWN_TYPES:
            if not len(d_of[t]):
                continue
            own_law = _duration_law(h, d_of[t], ctx, t)
            if own_law is not None:
                laws[t] = own_law
            else:
                h.notes.append(f"{len(d_of[t])} {t} calls: too few for their own duration law")
        if laws:
            calling["durations"] = laws
        if len(out):
            dest, rows = fit_destinations(out, h.country)
            calling["destinations"] = dest
            for r in rows:
                ctx.tables["destinations"].append({"holder": h.name, "calls_of": "calling", **r})
            n_out = len(out)
            for t, key in (
                ("user_out_transfer", "transfer_share"),
                ("user_out_forwarding", "forward_share"),
                ("user_out_conf", "conference_share"),
            ):
                share = int((out["call_type"] == t).sum()) / n_out
                if share or key != "conference_share":
                    calling[key] = _sig(share)
        if not (own_ct == "user_in").any():
            h.notes.append("no inbound user calls")
    if calling:
        h.traffic["calling"] = calling
    legs = calls[ct.str.startswith("conf_").to_numpy()]
    meetings = _fit_meetings(h, legs, exp, ctx)
    if meetings:
        h.traffic["meetings"] = meetings
        if h.conferencing == "none":
            h.conferencing = "standard"
            h.notes.append("meeting calls without a conferencing capability: standard assumed")


def _fit_meetings(h: HolderFit, legs: pd.DataFrame, exp: Exposure, ctx: _Context) -> dict[str, Any]:
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
    hol = holiday_hour(per["start"], exp)
    per = per[inside]
    how = how[inside]
    total_legs = float(per["legs"].sum())
    ins = float(per["ins"].sum())
    theta = zero_truncated_poisson(total_legs / len(per))
    seen = -math.expm1(-theta) if theta > 0 else 1.0
    profile = fit_profile(how, exp, hol)
    pname = f"{h.name}-meetings"
    ctx.add_profile(pname, profile, exp)
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
            ctx.tables["destinations"].append({"holder": h.name, "calls_of": "dial_out", **r})
    leg_laws = {}
    for t, these in (("conf_in", in_legs), ("conf_out", out_legs)):
        if len(these):
            law = _duration_law(h, these["duration_s"].to_numpy(np.float64), ctx, t)
            if law is not None:
                leg_laws[t] = law
    if leg_laws:
        out["leg_durations"] = leg_laws
    ctx.tables["meetings"].append(
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
    ctx.tables["rates"].append(
        {
            "holder": h.name,
            "quantity": "per_organiser_week",
            "value": per_week,
            "se": conferences.se * 7.0 / seen,
            "calls": int(total_legs),
            "units": h.users,
        }
    )
    if no_id.any():
        h.notes.append(f"{int(no_id.sum())} meeting legs without a conference id: one meeting each")
    return out


def _fit_service(h: HolderFit, calls: pd.DataFrame, ctx: _Context, exp: Exposure) -> None:
    ct = calls["call_type"].astype(str)
    inbound, outbound = calls[(ct == "ucap_in").to_numpy()], calls[(ct == "ucap_out").to_numpy()]
    shaping = inbound if len(inbound) else outbound
    how, inside = hour_of_week(shaping["start"], exp)
    if inside.sum() == 0:
        return
    profile = fit_profile(how[inside], exp, holiday_hour(shaping["start"], exp))
    pname = f"{h.name}"
    ctx.add_profile(pname, profile, exp)
    rate = fit_rate(how[inside], profile, exp, 1) if len(inbound) else None
    traffic: dict[str, Any] = {"calls_per_day": _sig(rate.value) if rate else 0.0,
                               "profile": pname}  # fmt: skip
    if rate is not None:
        ctx.tables["rates"].append(rate.row(h.name, "calls_per_day"))
        law = _duration_law(h, inbound["duration_s"].to_numpy(np.float64), ctx, "ucap_in")
        if law is not None:
            traffic["duration"] = law
    out_rate = None
    if len(outbound):
        how_o, inside_o = hour_of_week(outbound["start"], exp)
        out_rate = fit_rate(how_o[inside_o], profile, exp, 1)
        ctx.tables["rates"].append(out_rate.row(h.name, "outbound_per_day"))
        traffic["outbound_per_day"] = _sig(out_rate.value)
        law = _duration_law(h, outbound["duration_s"].to_numpy(np.float64), ctx, "ucap_out")
        if law is not None:
            traffic["outbound_duration"] = law
        dest, rows = fit_destinations(outbound, h.country)
        traffic["outbound_destinations"] = dest
        for r in rows:
            ctx.tables["destinations"].append({"holder": h.name, "calls_of": "ucap_out", **r})
    ctx.tables["services"].append(
        {
            "holder": h.name,
            "country": h.country,
            "number_type": h.number_type,
            "calls": len(inbound),
            "calls_per_day": rate.value if rate else 0.0,
            "se": rate.se if rate else 0.0,
            "outbound_calls": len(outbound),
            "outbound_per_day": out_rate.value if out_rate else 0.0,
        }
    )
    h.traffic = traffic


def _sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


__all__ = [
    "COUNTRY_TIME_ZONES",
    "DEFAULT_JOIN_DELAY_S",
    "HolderFit",
    "TrafficFit",
    "country_time_zone",
    "fit_calls",
    "local_window",
    "service_name",
    "tenant_time_zone",
]

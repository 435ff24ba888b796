"""Fit the traffic model to recorded calls: user groups, service numbers, their traffic.

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
- **Destination mix.** Shares of domestic (the usage country), Zone A (``sim.telephony.tariffs.
  ZONE_A``), other international and premium numbers, with the countries seen.
- **Meetings.** Legs grouped by conference id; a meeting appears only with at least one
  PSTN leg, so dial-ins + dial-outs per meeting follow a zero-truncated Poisson law,
  fitted by maximum likelihood, and the meeting count is scaled up by 1 / P(at least one
  leg). Meeting length: mean leg / 0.75 + the join delay (legs stay a uniform 50-100 %).
- **Service numbers.** Inbound calls per day (with their own profile) and durations.

The estimators live in ``sim.calllogs.estimators``. ``fit_calls`` returns a
``TrafficFit``; ``scenario_text`` (``sim.calllogs.fitted_scenario``) writes an ordinary,
commented scenario file (money, recharge and rate tables from a base scenario);
``write_fit_report`` (``sim.calllogs.fit_report``) writes tables (Parquet and CSV) and PNG
plots into a folder, atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.calllogs.estimators import (
    Exposure,
    LognormalFit,
    ProfileFit,
    exposure,
    fit_destinations,
    fit_lognormal,
    fit_profile,
    fit_rate,
    gamma_cv,
    hour_of_week,
    zero_truncated_poisson,
)
from sim.calllogs.users import user_licences, utc_window
from sim.core.errors import InputError
from sim.core.units import format_duration, load_time_zone

_OWN_OUT = ("user_out", "user_out_conf", "user_out_transfer", "user_out_forwarding")
_OWN = (*_OWN_OUT, "user_in")


DEFAULT_JOIN_DELAY_S = 120.0
"""``Meetings.join_delay`` default, used to turn leg lengths into meeting lengths."""


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


__all__ = [
    "DEFAULT_JOIN_DELAY_S",
    "HolderFit",
    "TrafficFit",
    "fit_calls",
]

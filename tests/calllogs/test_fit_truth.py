"""The fit against known truth: a log drawn from a scenario with per-direction durations,
country weights, weekday profiles, a holiday, a New York tenant with a London group and
a call queue that calls out (``scenarios/logs/sample-tenant.toml``) is fitted within
sampling error.

Each check is a z-score, |z| < 4, with the standard error computed from the log itself
(the spread of the per-user counts, of the durations, the binomial error of a share), so
a correct fit fails about once in 15,000 checks; the seeds are fixed.
"""

from __future__ import annotations

import gzip
import math
import tomllib
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calllogs.fitting import fit_calls, local_window
from sim.calllogs.reader import read_call_log
from sim.calllogs.report import ImportOptions
from sim.calllogs.synthetic import synthesize_log, write_graph_json
from sim.core.units import parse_duration
from sim.scenario.loading import load_scenario
from sim.traffic.settings import WEEKDAYS
from tests.calllogs.support import run_cli

Z = 4.0
SAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "logs" / "sample-tenant.toml"
DAYS = 28
GROUPS = {"us-domestic": ("us-staff", "US"), "gb-payg": ("uk-sales", "GB")}


@pytest.fixture(scope="module")
def truth_fit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fit_truth")
    loaded = load_scenario(SAMPLE)
    assert loaded.tariffs is not None
    log = synthesize_log(loaded.scenario, loaded.tariffs, np.random.default_rng(5), days=DAYS)
    path = write_graph_json(log.rows, tmp / "log.json")
    calls, _ = read_call_log(path, ImportOptions(salt="truth-key-0123456"))
    tz = loaded.scenario.simulation.time_zone
    fit = fit_calls(calls, time_zone=tz, holidays=loaded.scenario.traffic.holidays)
    return {
        "tmp": tmp,
        "path": path,
        "loaded": loaded,
        "calls": calls,
        "fit": fit,
        "holders": {h.name: h for h in fit.holders},
    }


def _seconds(text: str) -> float:
    return float(parse_duration(text))


def _group_calls(calls: pd.DataFrame, country: str) -> pd.DataFrame:
    ct = calls["call_type"].astype(str)
    return calls[(calls["usage_country"] == country).to_numpy() & ~ct.str.startswith("ucap_")]


def _z_mean(fitted: float, true: float, sample: np.ndarray) -> float:
    se = float(np.std(sample, ddof=1)) / math.sqrt(len(sample))
    return (fitted - true) / se


def test_groups_and_time_zones(truth_fit):
    holders = truth_fit["holders"]
    assert holders["us-domestic"].time_zone == "America/New_York"
    assert holders["gb-payg"].time_zone == "Europe/London"
    assert [h.kind for h in truth_fit["fit"].holders].count("service") == 1


def test_default_window_is_the_local_days_of_the_log(truth_fit):
    # The log holds the scenario's 28 local days (New York): the window must be those,
    # not the UTC days around them (which would add 24 hours without calls).
    start = truth_fit["loaded"].scenario.calendar.start.astimezone(UTC)
    assert truth_fit["fit"].exposure.window == (start, start + timedelta(days=DAYS))
    assert truth_fit["fit"].exposure.days == DAYS - 1  # the holiday is not ordinary


def test_local_window_stays_inside_the_utc_days_of_an_export():
    # A UTC-day export: calls from 00:30 UTC on the first day to 23:00 UTC on the last.
    start = pd.Timestamp("2026-01-05T00:30:00Z")
    calls = pd.DataFrame({"start": [start, pd.Timestamp("2026-01-11T23:00:00Z")]})
    lo, hi = local_window(calls, "America/New_York")
    assert (lo.isoformat(), hi.isoformat()) == (
        "2026-01-05T00:00:00+00:00",
        "2026-01-12T00:00:00+00:00",
    )


@pytest.mark.parametrize("group", sorted(GROUPS))
@pytest.mark.parametrize(
    ("call_type", "law_of"),
    [
        ("user_out", lambda c: c.duration),
        ("user_in", lambda c: c.duration_of("user_in")),
        ("user_out_transfer", lambda c: c.duration_of("user_out_transfer")),
        ("user_out_forwarding", lambda c: c.duration_of("user_out_forwarding")),
        ("user_out_conf", lambda c: c.duration_of("user_out_conf")),
    ],
)
def test_mean_duration_per_direction(truth_fit, group, call_type, law_of):
    name, country = GROUPS[group]
    calling = truth_fit["loaded"].scenario.traffic.groups[name].calling
    d = _group_calls(truth_fit["calls"], country)
    d = d[(d["call_type"] == call_type).to_numpy()]["duration_s"].to_numpy(np.float64)
    fitted = truth_fit["holders"][group].traffic["calling"]
    law = (
        fitted["duration"]
        if call_type == "user_out"
        else fitted.get("durations", {}).get(call_type)
    )
    if len(d) < 30:  # the type is not in this group's traffic: no law of its own
        assert law is None or call_type == "user_out"
        return
    assert law is not None, (group, call_type)
    z = _z_mean(_seconds(law["mean"]), float(law_of(calling).mean), d)
    assert abs(z) < Z, (group, call_type, law["mean"], z)


@pytest.mark.parametrize("leg", ["conf_in", "conf_out"])
def test_mean_duration_of_meeting_legs(truth_fit, leg):
    meetings = truth_fit["loaded"].scenario.traffic.groups["us-staff"].meetings
    d = _group_calls(truth_fit["calls"], "US")
    d = d[(d["call_type"] == leg).to_numpy()]["duration_s"].to_numpy(np.float64)
    law = truth_fit["holders"]["us-domestic"].traffic["meetings"]["leg_durations"][leg]
    z = _z_mean(_seconds(law["mean"]), float(meetings.leg_durations[leg].mean), d)
    assert abs(z) < Z, (leg, law, z)


@pytest.mark.parametrize(
    ("call_type", "key"), [("ucap_in", "duration"), ("ucap_out", "outbound_duration")]
)
def test_mean_duration_of_service_calls(truth_fit, call_type, key):
    st = truth_fit["loaded"].scenario.traffic.services["support"]
    svc = next(h for h in truth_fit["fit"].holders if h.kind == "service")
    calls = truth_fit["calls"]
    d = calls[(calls["call_type"] == call_type).to_numpy()]["duration_s"].to_numpy(np.float64)
    true = getattr(st, key)
    z = _z_mean(_seconds(svc.traffic[key]["mean"]), float(true.mean), d)
    assert abs(z) < Z, (call_type, z)


@pytest.mark.parametrize("group", sorted(GROUPS))
@pytest.mark.parametrize("cls", ["zone_a", "international"])
def test_country_shares_within_each_class(truth_fit, group, cls):
    name, country = GROUPS[group]
    dest = truth_fit["loaded"].scenario.traffic.groups[name].calling.destinations
    countries = getattr(dest, f"{cls}_countries")
    weights = np.asarray(getattr(dest, f"{cls}_weights"), dtype=np.float64)
    true = dict(zip(countries, weights / weights.sum(), strict=True))
    fitted = truth_fit["holders"][group].traffic["calling"]["destinations"]
    shares = dict(zip(fitted[f"{cls}_countries"], fitted[f"{cls}_weights"], strict=True))
    assert set(shares) <= set(true)
    out = _group_calls(truth_fit["calls"], country)
    out = out[out["call_type"].astype(str).str.startswith("user_out").to_numpy()]
    n = int(out["dest_country"].isin(countries).sum())  # calls of the class
    for c, p in true.items():
        p_hat = shares.get(c, 0.0)
        se = math.sqrt(max(p_hat * (1 - p_hat), 1.0 / n) / n)
        assert abs(p_hat - p) / se < Z, (group, cls, c, p_hat, p)


def _per_user_counts(calls: pd.DataFrame, users: int) -> np.ndarray:
    counts = calls.groupby("user").size().to_numpy(np.float64)
    return np.concatenate([counts, np.zeros(users - len(counts))])


def _z_rate(fitted: float, true: float, counts: np.ndarray, days: float) -> float:
    """z of a per-user-day rate; the SE from the spread of the users' counts."""
    n = len(counts)
    se = math.sqrt(n * float(np.var(counts, ddof=1))) / (n * days)
    return (fitted - true) / se


@pytest.mark.parametrize("group", sorted(GROUPS))
@pytest.mark.parametrize(
    ("quantity", "types"),
    [
        (
            "calls_per_user_day",
            ("user_out", "user_out_transfer", "user_out_forwarding", "user_out_conf"),
        ),
        ("inbound_per_user_day", ("user_in",)),
    ],
)
def test_calls_per_user_day(truth_fit, group, quantity, types):
    name, country = GROUPS[group]
    fit = truth_fit["fit"]
    calling = truth_fit["loaded"].scenario.traffic.groups[name].calling
    h = truth_fit["holders"][group]
    exp = fit.exposures[f"{group}-calling"]
    mine = _group_calls(truth_fit["calls"], country)
    mine = mine[mine["call_type"].isin(types).to_numpy()]
    local = mine["start"].dt.tz_convert(h.time_zone).dt.date
    ordinary = ~local.isin(fit.holidays).to_numpy()
    counts = _per_user_counts(mine[ordinary], h.users)
    z = _z_rate(h.traffic["calling"][quantity], getattr(calling, quantity), counts, exp.days)
    assert abs(z) < Z, (group, quantity, z)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_weekday_totals(truth_fit, group):
    """Expected own calls per user on each weekday: the fitted scenario against the truth."""
    name, country = GROUPS[group]
    fit, loaded = truth_fit["fit"], truth_fit["loaded"]
    traffic = loaded.scenario.traffic
    calling = traffic.groups[name].calling
    profile = traffic.profile(calling.profile)
    h = truth_fit["holders"][group]
    fitted = h.traffic["calling"]
    assert fit.profiles[fitted["profile"]].by_day  # the Friday dip is found
    fitted_profile = fit.profiles[fitted["profile"]].weights()
    per_day_true = calling.calls_per_user_day + calling.inbound_per_user_day
    per_day_fit = fitted["calls_per_user_day"] + fitted["inbound_per_user_day"]
    fit_days = [fitted_profile.get(d, fitted_profile["weekday"]) for d in WEEKDAYS]
    fit_total = sum(sum(v) for v in fit_days)
    exp = fit.exposures[fitted["profile"]]
    mine = _group_calls(truth_fit["calls"], country)
    mine = mine[mine["call_type"].astype(str).str.startswith("user_").to_numpy()]
    local = mine["start"].dt.tz_convert(h.time_zone)
    ordinary = ~local.dt.date.isin(fit.holidays).to_numpy()
    for wd, day in enumerate(WEEKDAYS):
        true = per_day_true * 7 * sum(profile.weekday_weights(wd)) / profile.week_total
        est = per_day_fit * 7 * sum(fit_days[wd]) / fit_total
        days = float(exp.hours[24 * wd : 24 * wd + 24].sum()) / 24
        on_day = ordinary & (local.dt.day_of_week == wd).to_numpy()
        counts = _per_user_counts(mine[on_day], h.users)
        z = _z_rate(est, true, counts, days)
        assert abs(z) < Z, (group, day, est, true, z)


@pytest.mark.parametrize(
    ("quantity", "call_type"), [("calls_per_day", "ucap_in"), ("outbound_per_day", "ucap_out")]
)
def test_service_calls_per_day(truth_fit, quantity, call_type):
    st = truth_fit["loaded"].scenario.traffic.services["support"]
    svc = next(h for h in truth_fit["fit"].holders if h.kind == "service")
    n = int((truth_fit["calls"]["call_type"] == call_type).sum())
    days = truth_fit["fit"].exposure.days
    z = (svc.traffic[quantity] - getattr(st, quantity)) / (math.sqrt(n) / days)
    assert abs(z) < Z, (quantity, z)


def test_service_names_are_the_same_in_two_fits(truth_fit):
    path = truth_fit["path"]
    names = []
    for seed in (1, 2):
        calls, _ = read_call_log(path, ImportOptions(salt="truth-key-0123456"))
        shuffled = calls.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        fit = fit_calls(shuffled, time_zone="America/New_York")
        names.append(sorted(h.name for h in fit.holders if h.kind == "service"))
    first = sorted(h.name for h in truth_fit["fit"].holders if h.kind == "service")
    assert names[0] == names[1] == first
    assert first[0].startswith("svc-us-tollfree-")
    assert len(first[0]) == len("svc-us-tollfree-") + 8


def test_fit_warns_when_it_copies_tariffs_and_money_settings(truth_fit):
    tmp = truth_fit["tmp"]
    code, _out, err = run_cli(
        "fit", truth_fit["path"], "--out", tmp / "fitted.toml", "--base", SAMPLE,
        "--report", tmp / "report", "--no-plots", "--salt", "fit-truth-test-key-1",
    )  # fmt: skip
    assert code == 0, err
    assert "WARNING: tariffs copied from" in err
    assert "ILLUSTRATIVE rates" in err
    assert "WARNING: money settings [funding], [recharge]" in err
    choices = (tmp / "report" / "choices.txt").read_text()
    assert "WARNING: tariffs copied from" in choices
    assert "Observation window" in choices
    assert "a shape per weekday" in choices
    text = (tmp / "fitted.toml").read_text()
    assert "# WARNING: tariffs copied from" in text
    fitted = tomllib.loads(text)
    assert fitted["traffic"]["groups"]["gb-payg"]["time_zone"] == "Europe/London"
    assert load_scenario(tmp / "fitted.toml").scenario.simulation.time_zone == "America/New_York"


@pytest.mark.parametrize("fmt", ["graph-json", "graph-csv", "admin-csv"])
def test_synth_log_imports_back_with_the_same_calls(tmp_path, fmt):
    out = tmp_path / f"log-{fmt}.gz"
    code, said, err = run_cli("synth-log", SAMPLE, "--days", "2", "--format", fmt,
                              "--out", out, "--seed", "3")  # fmt: skip
    assert code == 0, err
    n = int(said.split(" calls over ")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert n > 100
    with gzip.open(out, "rb") as f:
        assert f.read(1)
    code, said, err = run_cli("import-log", out, "--out", tmp_path / f"{fmt}.parquet",
                              "--salt", "fit-truth-test-key-2")  # fmt: skip
    assert code == 0, err
    assert f"{n:,} imported, 0 bad, 0 skipped" in said
    code, _, err = run_cli("synth-log", SAMPLE, "--days", "2", "--format", fmt, "--out", out)
    assert code == 2
    assert "exists already" in err

"""Round trip: simulate a scenario, export a Graph JSON log, fit it, recover the truth.

Every check is a 99.9 % bound on the sampling error of the estimate (|z| < 3.29, a
chi-square quantile, or a parametric-bootstrap interval), so a correct fit fails about
once in a thousand seeds; the seeds are fixed.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, timedelta

import numpy as np
import pytest
from scipy import stats

from sim.calllogs.estimators import destination_class
from sim.calllogs.fitting import fit_calls
from sim.calllogs.reader import read_call_log
from sim.calllogs.report import ImportOptions
from sim.calllogs.synthetic import write_graph_json
from sim.cli.calllogs import dispatch
from sim.scenario.loading import load_scenario
from sim.traffic.settings import BUILTIN_PROFILES
from tests.calllogs.support import ROUND_TRIP, make_log, make_scenario, parser

Z = stats.norm.ppf(1 - 0.001 / 2)  # 3.29
DAYS = 28
TRUTH = ROUND_TRIP["traffic"]
GROUPS = {"us-domestic": "us-staff", "gb-payg": "uk-sales"}
COUNTS = {"us-staff": 200, "uk-sales": 60}
KEY = "roundtrip-key-012"
SVC = "svc-us-tollfree-82329a33"  # named from the number's pseudonym under KEY


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roundtrip")
    loaded = make_scenario(tmp)
    log = make_log(loaded, days=DAYS)
    path = write_graph_json(log.rows, tmp / "log.json", page_size=1000)
    calls, report = read_call_log(path, ImportOptions(salt=KEY))
    start = loaded.scenario.calendar.start.astimezone(UTC)
    fit = fit_calls(
        calls,
        time_zone="America/New_York",
        window=(start, start + timedelta(days=DAYS)),
        rng=np.random.default_rng(3),
        group_time_zones=False,  # the scenario draws every group in New York time
    )
    holders = {h.name: h for h in fit.holders}
    return {
        "tmp": tmp,
        "loaded": loaded,
        "log": log,
        "calls": calls,
        "report": report,
        "fit": fit,
        "holders": holders,
        "path": path,
    }


def _rate_row(fit, holder, quantity):
    t = fit.tables["rates"]
    row = t[(t["holder"] == holder) & (t["quantity"] == quantity)]
    assert len(row) == 1, (holder, quantity)
    return row.iloc[0]


def test_import_is_complete(roundtrip):
    report, log = roundtrip["report"], roundtrip["log"]
    assert report.bad == 0
    assert report.skipped == 0
    assert report.imported == len(log.rows)
    assert roundtrip["calls"]["charge_micros"].sum() == log.truth["amount_micros"].sum()


def test_groups_and_services_are_found(roundtrip):
    holders = roundtrip["holders"]
    assert set(holders) == {"us-domestic", "gb-payg", SVC}
    us, gb, svc = holders["us-domestic"], holders["gb-payg"], holders[SVC]
    assert (us.plan, us.conferencing, us.country, us.users) == ("domestic", "standard", "US", 200)
    assert (gb.plan, gb.country, gb.users) == ("payg", "GB", 60)
    assert (svc.number_type, svc.country) == ("toll_free", "US")


@pytest.mark.parametrize("group", ["us-domestic", "gb-payg"])
@pytest.mark.parametrize("quantity", ["calls_per_user_day", "inbound_per_user_day"])
def test_call_rates_within_sampling_error(roundtrip, group, quantity):
    truth = TRUTH["groups"][GROUPS[group]]["calling"]
    rate, cv = truth[quantity], truth["rate_cv"]
    users = COUNTS[GROUPS[group]]
    # Poisson noise plus the spread of the users' gamma multipliers (drawn once).
    se = math.sqrt(rate / (users * DAYS) + rate**2 * cv**2 / users)
    fitted = roundtrip["holders"][group].traffic["calling"][quantity]
    assert abs(fitted - rate) / se < Z, (fitted, rate, se)


def test_service_rate_within_sampling_error(roundtrip):
    fitted = roundtrip["holders"][SVC].traffic["calls_per_day"]
    rate = TRUTH["services"]["support"]["calls_per_day"]
    assert abs(fitted - rate) / math.sqrt(rate / DAYS) < Z


@pytest.mark.parametrize("group", ["us-domestic", "gb-payg"])
def test_rate_cv_within_bootstrap_interval(roundtrip, group):
    truth = TRUTH["groups"][GROUPS[group]]["calling"]
    cv, users = truth["rate_cv"], COUNTS[GROUPS[group]]
    mean = (truth["calls_per_user_day"] + truth["inbound_per_user_day"]) * DAYS
    rng = np.random.default_rng(11)
    shape = 1 / cv**2
    m = rng.gamma(shape, 1 / shape, size=(4000, users))
    n = rng.poisson(mean * m)
    mu, var = n.mean(axis=1), n.var(axis=1, ddof=1)
    est = np.sqrt(np.maximum((var - mu) / mu**2, 0))
    lo, hi = np.quantile(est, [0.0005, 0.9995])
    fitted = roundtrip["holders"][group].traffic["calling"]["rate_cv"]
    assert lo <= fitted <= hi, (fitted, lo, hi)


@pytest.mark.parametrize(
    ("key", "group", "truth_of"),
    [
        ("us-domestic-user_out", "us-domestic", lambda t: t["groups"]["us-staff"]["calling"]),
        ("us-domestic-user_in", "us-domestic", lambda t: t["groups"]["us-staff"]["calling"]),
        ("gb-payg-user_out", "gb-payg", lambda t: t["groups"]["uk-sales"]["calling"]),
        (f"{SVC}-ucap_in", SVC, lambda t: t["services"]["support"]),
    ],
)
def test_lognormal_durations_within_sampling_error(roundtrip, key, group, truth_of):
    truth = truth_of(TRUTH)["duration"]
    mean_s = {"3m": 180.0, "4m": 240.0, "5m": 300.0}[truth["mean"]]
    sigma = math.sqrt(math.log1p(truth["cv"] ** 2))
    mu = math.log(mean_s) - sigma**2 / 2
    _, lf = roundtrip["fit"].durations[key]
    assert abs(lf.mu - mu) / (sigma / math.sqrt(lf.n)) < Z
    assert abs(lf.sigma - sigma) / (sigma / math.sqrt(2 * lf.n)) < Z
    # The data are lognormal: the KS test (parameters estimated, so conservative) passes.
    assert lf.ks_pvalue > 0.001
    assert lf.censored  # the log has whole seconds


@pytest.mark.parametrize(
    ("group", "kind"),
    [("us-domestic", "calling"), ("gb-payg", "calling"), ("us-domestic", "dial_out")],
)
def test_destination_mix_chi_square(roundtrip, group, kind):
    base = GROUPS[group]
    if kind == "calling":
        t = TRUTH["groups"][base]["calling"]["destinations"]
        types = ["user_out", "user_out_transfer", "user_out_forwarding"]
    else:
        t = TRUTH["groups"][base]["meetings"]["dial_out_destinations"]
        types = ["conf_out"]
    shares = np.array([t.get(k, 0.0) for k in ("domestic", "zone_a", "international", "premium")])
    calls = roundtrip["calls"]
    home = "US" if group == "us-domestic" else "GB"
    mine = calls[calls["call_type"].isin(types) & (calls["usage_country"] == home)]
    observed = np.bincount(
        destination_class(mine["dest_country"], mine["number_type"], home), minlength=4
    )
    keep = shares > 0
    assert observed[~keep].sum() == 0
    expected = shares[keep] * observed.sum()
    chi2 = float(((observed[keep] - expected) ** 2 / expected).sum())
    assert chi2 < stats.chi2.ppf(0.999, keep.sum() - 1), (observed, expected)
    # The fitted shares are the observed ones.
    fitted = roundtrip["holders"][group].traffic
    dest = (
        fitted["calling"]["destinations"]
        if kind == "calling"
        else fitted["meetings"]["dial_out_destinations"]
    )
    got = np.array([dest[k] for k in ("domestic", "zone_a", "international", "premium")])
    assert np.allclose(got, observed / observed.sum(), atol=1e-6)
    assert abs(got.sum() - 1) < 1e-9


@pytest.mark.parametrize(
    ("share", "ctype"),
    [("transfer_share", "user_out_transfer"), ("forward_share", "user_out_forwarding")],
)
def test_transfer_and_forward_shares(roundtrip, share, ctype):
    calls = roundtrip["calls"]
    us = calls[calls["usage_country"] == "US"]
    n = int(us["call_type"].isin(["user_out", "user_out_transfer", "user_out_forwarding"]).sum())
    p = TRUTH["groups"]["us-staff"]["calling"][share]
    fitted = roundtrip["holders"]["us-domestic"].traffic["calling"][share]
    assert abs(fitted - p) / math.sqrt(p * (1 - p) / n) < Z


def _profile_chi2(profile_fit, true_profile, exposure):
    """Chi-square of the fitted (pooled) hourly counts against the true profile's shape."""
    w = np.concatenate(
        [np.tile(true_profile.weekday, 5), true_profile.saturday, true_profile.sunday]
    )
    e = exposure.hours
    c = profile_fit.counts
    pool = lambda v: np.concatenate([v[:120].reshape(5, 24).sum(0), v[120:144], v[144:]])  # noqa: E731
    observed, expected = pool(c), pool(e * w)
    expected = expected / expected.sum() * observed.sum()
    keep = expected >= 5
    exp_k = expected[keep] / expected[keep].sum() * observed[keep].sum()
    chi2 = float(((observed[keep] - exp_k) ** 2 / exp_k).sum())
    return chi2, int(keep.sum()) - 1


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("us-domestic-calling", "business"),
        ("gb-payg-calling", "business"),
        (SVC, "contact_centre"),
        ("us-domestic-meetings", "business"),
    ],
)
def test_hour_of_week_profiles_chi_square(roundtrip, name, profile):
    fit = roundtrip["fit"]
    chi2, df = _profile_chi2(fit.profiles[name], BUILTIN_PROFILES[profile], fit.exposure)
    assert chi2 < stats.chi2.ppf(0.999, df), (chi2, df)


def _ztp_var(theta, n):
    """Variance of the zero-truncated Poisson MLE of theta from n observations."""
    q = math.exp(-theta)
    info = n * (1 / (theta * (1 - q)) - q / (1 - q) ** 2)
    return 1 / info


def test_meetings_within_sampling_error(roundtrip):
    m = TRUTH["groups"]["us-staff"]["meetings"]
    fitted = roundtrip["holders"]["us-domestic"].traffic["meetings"]
    row = roundtrip["fit"].tables["meetings"].iloc[0]
    theta = m["dial_ins"] + m["dial_outs"]
    seen = 1 - math.exp(-theta)
    n_conf = int(row["conferences_seen"])
    var_theta = _ztp_var(theta, n_conf)
    legs = int(row["legs"])
    p_in = m["dial_ins"] / theta
    for key, p in (("dial_ins", p_in), ("dial_outs", 1 - p_in)):
        se = math.sqrt(p**2 * var_theta + theta**2 * p * (1 - p) / legs)
        assert abs(fitted[key] - theta * p) / se < Z, key
    # Meetings per organiser-week: seen meetings (Poisson, gamma-weighted organisers)
    # scaled by 1 / P(at least one leg).
    users, cv = 200, TRUTH["groups"]["us-staff"]["calling"]["rate_cv"]
    per_day_seen = m["per_organiser_week"] / 7 * seen
    rel_rate = math.sqrt(1 / (per_day_seen * users * DAYS) + cv**2 / users)
    rel_seen = math.exp(-theta) / seen * math.sqrt(var_theta)
    se = m["per_organiser_week"] * math.hypot(rel_rate, rel_seen)
    assert abs(fitted["per_organiser_week"] - m["per_organiser_week"]) / se < Z
    n_in = int(row["dial_in_legs"])
    p = m["toll_free_share"]
    assert abs(fitted["toll_free_share"] - p) / math.sqrt(p * (1 - p) / n_in) < Z


def test_fit_command_writes_a_valid_commented_scenario_and_report(roundtrip, tmp_path):
    loaded = roundtrip["loaded"]
    out = tmp_path / "scenarios" / "fitted.toml"
    report = tmp_path / "fit-report"
    args = parser().parse_args(
        [
            "fit",
            str(roundtrip["path"]),
            "--out",
            str(out),
            "--base",
            str(loaded.path),
            "--report",
            str(report),
            "--salt",
            "roundtrip-test-key-01",
            "-q",
            "--from",
            "2026-01-05T05:00Z",
            "--to",
            "2026-02-02T05:00Z",
            "--holidays",
            "2026-01-19",
        ]
    )
    assert dispatch(args) == 0
    text = out.read_text()
    assert text.startswith("# Scenario fitted by `ccsim fit`")
    assert "[[user_groups]]" in text
    assert "[traffic.groups.us-domestic.calling]" in text
    fitted = load_scenario(out)  # what `ccsim validate` does
    assert {g.name for g in fitted.scenario.user_groups} == {"us-domestic", "gb-payg"}
    assert fitted.scenario.simulation.time_zone == "America/New_York"
    assert fitted.scenario.recharge == loaded.scenario.recharge
    assert fitted.tariffs is not None
    assert fitted.scenario.traffic.holidays == (date(2026, 1, 19),)
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["holidays"] == ["2026-01-19"]
    assert manifest["window"] == ["2026-01-05T05:00:00+00:00", "2026-02-02T05:00:00+00:00"]
    for name in ("rates", "durations", "destinations", "meetings", "heterogeneity", "profiles"):
        assert (report / f"{name}.csv").exists(), name
        assert (report / f"{name}.parquet").exists(), name
    plots = {p.name for p in (report / "plots").iterdir()}
    assert "profile-us-domestic-calling.png" in plots
    assert "duration-us-domestic-user_out.png" in plots
    assert (report / "manifest.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    # The fitted scenario simulates: its traffic model draws calls.
    from sim.traffic.model import TrafficModel

    sc = fitted.scenario
    model = TrafficModel(sc.traffic, sc.population, sc.calendar, 1, 0, sc.horizon_s)
    assert len(model.draw_day(3)) > 0
    # Refuses to overwrite without --force.
    code_args = parser().parse_args(
        ["fit", str(roundtrip["path"]), "--out", str(out), "--base", str(loaded.path), "-q"]
    )
    from sim.core.errors import InputError

    with pytest.raises(InputError, match="exists already"):
        dispatch(code_args)


def test_fit_checks_its_options_before_fitting(roundtrip, tmp_path, monkeypatch):
    import sim.calllogs.fitting as fitting
    from sim.core.errors import InputError

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before the options were checked")

    monkeypatch.setattr(fitting, "fit_calls", no_fit)
    (tmp_path / "taken").mkdir()
    log = str(roundtrip["path"])
    for extra, message in [
        (["--out", str(tmp_path), "--force"], "is a directory; --out names the scenario file"),
        (["--out", str(tmp_path / "f.toml"), "--name", "../evil"], "--name: must be a plain name"),
        (
            ["--out", str(tmp_path / "f.toml"), "--report", str(tmp_path / "taken")],
            "exists already; choose a new folder",
        ),
    ]:
        with pytest.raises(InputError, match=message):
            dispatch(parser().parse_args(["fit", log, *extra, "-q"]))
    assert not (tmp_path / "f.toml").exists()

"""Fit against truth: draw a log from a scenario, fit it, print a table of both.

    .venv/bin/python benchmarks/fit_truth.py [SCENARIO] [--days N] [--seed S]

Default scenario: ``scenarios/logs/sample-tenant.toml`` (per-direction durations,
country weights, weekday profiles, a London group in a New York tenant, a holiday, a call
queue that calls out). Each row gives the truth, the fit, the standard error computed
from the log and z = (fit - truth) / se; it also prints the fit's wall time.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calllogs.fitting import fit_calls
from sim.calllogs.reader import read_call_log
from sim.calllogs.report import ImportOptions
from sim.calllogs.synthetic import synthesize_log, write_graph_json
from sim.core.units import parse_duration
from sim.scenario.loading import load_scenario
from sim.traffic.settings import WEEKDAYS

SAMPLE = Path(__file__).resolve().parents[1] / "scenarios" / "logs" / "sample-tenant.toml"
GROUPS = {"us-domestic": ("us-staff", "US"), "gb-payg": ("uk-sales", "GB")}
OUT_TYPES = ("user_out", "user_out_transfer", "user_out_forwarding", "user_out_conf")


def _se_mean(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else float("nan")


def _se_rate(counts: np.ndarray, days: float) -> float:
    n = len(counts)
    return math.sqrt(n * float(np.var(counts, ddof=1))) / (n * days)


def _per_user(calls: pd.DataFrame, users: int) -> np.ndarray:
    c = calls.groupby("user").size().to_numpy(np.float64)
    return np.concatenate([c, np.zeros(users - len(c))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default=str(SAMPLE))
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    loaded = load_scenario(args.scenario)
    assert loaded.tariffs is not None
    sc = loaded.scenario
    log = synthesize_log(sc, loaded.tariffs, np.random.default_rng(args.seed), days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_graph_json(log.rows, Path(tmp) / "log.json")
        calls, _ = read_call_log(path, ImportOptions(salt="bench-key-0123456"))
    t0 = time.perf_counter()
    fit = fit_calls(calls, time_zone=sc.simulation.time_zone, holidays=sc.traffic.holidays)
    wall = time.perf_counter() - t0
    holders = {h.name: h for h in fit.holders}
    rows: list[tuple[str, str, float, float, float]] = []
    ct = calls["call_type"].astype(str)
    for group, (name, country) in GROUPS.items():
        h, truth = holders[group], sc.traffic.groups[name]
        c, t = h.traffic["calling"], truth.calling
        mine = calls[(calls["usage_country"] == country).to_numpy() & ~ct.str.startswith("ucap_")]
        mct = mine["call_type"].astype(str)
        local = mine["start"].dt.tz_convert(h.time_zone)
        ordinary = ~local.dt.date.isin(fit.holidays).to_numpy()
        exp = fit.exposures[c["profile"]]
        for q, types in (("calls_per_user_day", OUT_TYPES), ("inbound_per_user_day", ("user_in",))):
            counts = _per_user(mine[ordinary & mct.isin(types).to_numpy()], h.users)
            rows.append((group, q, getattr(t, q), c[q], _se_rate(counts, exp.days)))
        for typ in (*OUT_TYPES[1:], "user_in", "user_out"):
            d = mine[(mct == typ).to_numpy()]["duration_s"].to_numpy(np.float64)
            law = c["duration"] if typ == "user_out" else c.get("durations", {}).get(typ)
            if law is None or len(d) < 2:
                continue
            true = float(t.duration_of(typ).mean)
            rows.append((group, f"mean duration {typ} (s)", true,
                         float(parse_duration(law["mean"])), _se_mean(d)))  # fmt: skip
        dest = c["destinations"]
        outs = mine[mct.isin(OUT_TYPES).to_numpy()]
        for cls in ("zone_a", "international"):
            countries = getattr(t.destinations, f"{cls}_countries")
            w = np.asarray(getattr(t.destinations, f"{cls}_weights"), dtype=np.float64)
            n = int(outs["dest_country"].isin(countries).sum())
            shares = dict(zip(dest.get(f"{cls}_countries", []), dest.get(f"{cls}_weights", []),
                              strict=True))  # fmt: skip
            for country_, p in zip(countries, w / w.sum(), strict=True):
                ph = shares.get(country_, 0.0)
                rows.append((group, f"{cls} share {country_}", float(p), ph,
                             math.sqrt(max(ph * (1 - ph), 1 / n) / n)))  # fmt: skip
        profile = sc.traffic.profile(t.profile)
        fw = fit.profiles[c["profile"]].weights()
        f_days = [fw.get(d, fw["weekday"]) for d in WEEKDAYS]
        f_total = sum(sum(v) for v in f_days)
        per_t = t.calls_per_user_day + t.inbound_per_user_day
        per_f = c["calls_per_user_day"] + c["inbound_per_user_day"]
        for wd, day in enumerate(WEEKDAYS):
            true = per_t * 7 * sum(profile.weekday_weights(wd)) / profile.week_total
            est = per_f * 7 * sum(f_days[wd]) / f_total
            days = float(exp.hours[24 * wd : 24 * wd + 24].sum()) / 24
            on = ordinary & (local.dt.day_of_week == wd).to_numpy()
            rows.append((group, f"calls per user, {day[:3]}", true, est,
                         _se_rate(_per_user(mine[on], h.users), days)))  # fmt: skip
        if "meetings" in h.traffic:
            for leg, law in h.traffic["meetings"].get("leg_durations", {}).items():
                d = mine[(mct == leg).to_numpy()]["duration_s"].to_numpy(np.float64)
                rows.append((group, f"mean duration {leg} (s)",
                             float(truth.meetings.leg_durations[leg].mean),
                             float(parse_duration(law["mean"])), _se_mean(d)))  # fmt: skip
    svc = next(h for h in fit.holders if h.kind == "service")
    st = next(iter(sc.traffic.services.values()))
    for q, typ, dkey in (("calls_per_day", "ucap_in", "duration"),
                         ("outbound_per_day", "ucap_out", "outbound_duration")):  # fmt: skip
        n = int((ct == typ).sum())
        if q in svc.traffic:
            rows.append(
                (svc.name, q, getattr(st, q), svc.traffic[q], math.sqrt(n) / fit.exposure.days)
            )
        d = calls[(ct == typ).to_numpy()]["duration_s"].to_numpy(np.float64)
        law = getattr(st, dkey) or st.duration
        if dkey in svc.traffic:
            est = float(parse_duration(svc.traffic[dkey]["mean"]))
            rows.append((svc.name, f"mean duration {typ} (s)", float(law.mean), est, _se_mean(d)))
    print(f"fit vs truth: {args.scenario}, {args.days} days, seed {args.seed}, "
          f"{len(calls):,} calls; window {fit.exposure.days:.2f} ordinary days; "
          f"fit {wall:.2f} s")  # fmt: skip
    print(f"{'holder':<26} {'quantity':<38} {'truth':>10} {'fit':>10} {'se':>9} {'z':>6}")
    worst = 0.0
    for holder, q, true, est, se in rows:
        z = (est - true) / se if se > 0 else float("nan")
        worst = max(worst, abs(z)) if math.isfinite(z) else worst
        print(f"{holder:<26} {q:<38} {true:>10.4g} {est:>10.4g} {se:>9.3g} {z:>6.2f}")
    print(f"{len(rows)} quantities; largest |z| = {worst:.2f}")


if __name__ == "__main__":
    main()

"""Back-tests of the spend forecast on a recorded call log, against simple baselines.

For each of several rolling origins (local midnights, ``step_days`` apart, the last one
``test_days`` before the end of the log) the log's calls of the ``train_days`` before the
origin are fitted (``sim.calllogs.fitting.fit_calls``, the scenario written as ``ccsim
fit`` writes it, money settings from the base scenario), and the ``test_days`` after it
are forecast three ways:

- ``ccsim``: the fitted scenario simulated ``replications`` times from the origin (from
  the 1st of the origin's month when the tenant has minute pools, so the pools are drawn
  down as they would be at the origin); weekly spend by service, recharges and closing
  balance from each run;
- ``seasonal-naive``: every test week repeats the last training week; the interval is
  Normal with the h-step standard deviation sigma * sqrt(h) of the seasonal naive method,
  sigma from the week-on-week changes of the training window (Hyndman & Athanasopoulos,
  *Forecasting: Principles and Practice*, 3rd ed., section 5.5);
- ``ets``: statsmodels' ``ETSModel`` on the daily charges (additive error, no trend,
  additive weekly season; no season below two weeks of data), ``ets_paths`` simulated
  paths summed into weeks.

Each (method, origin, test week) is scored against the log's charges of that week:
whether it falls in the P10-P90 and P5-P95 bands, the CRPS (``scoringrules``: the
ensemble estimator for ``ccsim`` and ``ets``, the closed form of a Normal for the naive
method) and the error of the forecast mean (bias). Ensemble quantiles use the Weibull
plotting position p (n + 1), for which a new value exchangeable with the n members falls
below the p quantile with probability p, so a band's coverage is not biased downwards by
a small ensemble. For ``ccsim`` the weekly spend by service, the auto-recharges and the
closing balance are also scored against a replay of the recorded test-window calls under
the fitted scenario (``sim.calllogs.traffic_sources.RecordedTraffic``): what the log's
calls would have cost by service, and bought, from the same opening balance.

Money stays in integer micro-units (``*_micros``); every table names the method, the data
window and the date of the last data.
"""

from __future__ import annotations

import math
import tempfile
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scoringrules as sr  # type: ignore[import-untyped]
import tomli_w
from numpy.typing import NDArray
from scipy import stats

from sim.billing.account import PaymentState
from sim.billing.ledger import LotSource
from sim.calllogs.fitted_scenario import scenario_text, write_scenario_file
from sim.calllogs.fitting import fit_calls
from sim.calllogs.mapping import map_calls
from sim.calllogs.traffic_sources import RecordedTraffic
from sim.core.errors import InputError
from sim.core.units import SECONDS_PER_DAY, Micros, Seconds, round_half_away
from sim.engine import SERVICES, RunOutput, run_replication
from sim.scenario.loading import LoadedScenario, load_scenario
from sim.scenario.model import Scenario
from sim.telephony.rating import UnratableCallError

METHODS: dict[str, str] = {
    "ccsim": "ccsim: the tenant fitted on the training window, simulated (replications)",
    "seasonal-naive": "seasonal naive: last training week repeated, Normal sigma*sqrt(h)",
    "ets": "ETS(A,N,A) on daily charges, weekly season (statsmodels), simulated paths",
}
"""The forecasting methods compared, by name, with the description tables carry."""
BANDS: tuple[tuple[str, float, float], ...] = (
    ("p10_p90", 0.10, 0.90),
    ("p5_p95", 0.05, 0.95),
)
QUANTILES: tuple[float, ...] = (0.05, 0.10, 0.50, 0.90, 0.95)
POOLED_PLANS = frozenset({"domestic", "international", "domestic_120", "domestic_240"})


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    """How the back-test splits the log and forecasts each split."""

    train_days: int = 56
    test_days: int = 28
    origins: int = 4
    step_days: int = 7
    replications: int = 40
    seed: int | None = None
    """Seed of the ccsim runs and the ETS paths (default: the base scenario's)."""
    ets_paths: int = 1000
    lead_in: bool | None = None
    """Start the ccsim runs at the 1st of the origin's month (None: when there are pools)."""

    def __post_init__(self) -> None:
        for name in ("train_days", "test_days", "origins", "step_days", "replications"):
            if getattr(self, name) < 1:
                raise InputError(f"backtest: {name} must be >= 1, got {getattr(self, name)}")
        if self.test_days % 7:
            raise InputError(
                f"--test: the test window is scored by week: give whole weeks, got "
                f"{self.test_days} days"
            )
        if self.train_days < 14:
            raise InputError(
                f"--train: at least 2 weeks (14 days) to fit and to compare, got "
                f"{self.train_days} days"
            )


@dataclass(frozen=True, slots=True)
class Split:
    """One rolling origin: fit on [train_start, origin), forecast [origin, test_end)."""

    index: int
    train_start: date
    origin: date
    test_end: date


@dataclass
class BacktestResult:
    """The back-test's tables and what they were computed from."""

    targets: pd.DataFrame
    """Method x origin x week: actual, forecast quantiles and mean, CRPS, in-band flags."""
    table: pd.DataFrame
    """Method x origin: targets, coverage of each band, mean CRPS, bias."""
    summary: pd.DataFrame
    """Method: the same over every origin, with Wilson intervals of the coverage."""
    detail: pd.DataFrame
    """ccsim only: weekly spend by service and closing balance vs the replay."""
    recharges: pd.DataFrame
    """ccsim only: auto-recharges in each test window vs the replay (counts)."""
    splits: list[Split]
    meta: dict[str, Any] = field(default_factory=dict)
    """Methods, data window, date of the last data, settings (for manifests and titles)."""

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables of a back-test folder by file name."""
        return {
            "backtest": self.table,
            "backtest_summary": self.summary,
            "backtest_targets": self.targets,
            "backtest_detail": self.detail,
            "backtest_recharges": self.recharges,
        }

    def caption(self) -> str:
        """Return the line naming methods, data window and last data (for titles)."""
        m = self.meta
        return (
            f"methods {', '.join(m['methods'])}; data {m['data_from']} to {m['data_to']} "
            f"(last data {m['last_data']}); {len(self.splits)} origin(s), train "
            f"{m['train_days']} d, test {m['test_days']} d"
        )


# -- the log as daily charges ---------------------------------------------------------


def local_dates(calls: pd.DataFrame, time_zone: str) -> NDArray[np.datetime64]:
    """Return each call's local start date (``datetime64[D]``)."""
    local = calls["start"].dt.tz_convert(time_zone).dt.tz_localize(None)
    return local.dt.normalize().to_numpy(dtype="datetime64[D]")


def daily_charges(calls: pd.DataFrame, time_zone: str) -> pd.Series:
    """Return the log's charges (``charge_micros``, int) per local date, every date filled."""
    if not len(calls):
        raise InputError("backtest: the call log holds no calls")
    days = local_dates(calls, time_zone)
    frame = pd.DataFrame({"day": days, "charge": calls["charge_micros"].to_numpy(np.int64)})
    by_day = frame.groupby("day")["charge"].sum()
    full = pd.date_range(by_day.index.min(), by_day.index.max(), freq="D")
    return by_day.reindex(full, fill_value=0).astype(np.int64)


def make_splits(first: date, last: date, s: BacktestSettings) -> list[Split]:
    """Return the rolling origins inside the log's local dates [first, last]."""
    end = last + timedelta(days=1)
    last_origin = end - timedelta(days=s.test_days)
    out = []
    for k in range(s.origins):
        origin = last_origin - timedelta(days=s.step_days * (s.origins - 1 - k))
        out.append(
            Split(
                k,
                origin - timedelta(days=s.train_days),
                origin,
                origin + timedelta(days=s.test_days),
            )
        )
    if out[0].train_start < first:
        span = (end - first).days
        need = s.train_days + s.test_days + s.step_days * (s.origins - 1)
        raise InputError(
            f"backtest: the log covers {span} days ({first} to {last}); --train "
            f"{s.train_days}d + --test {s.test_days}d with {s.origins} origin(s) "
            f"{s.step_days}d apart need {need} days: give fewer or shorter windows"
        )
    return out


# -- scoring ----------------------------------------------------------------------------


def ensemble_quantiles(samples: NDArray[np.float64]) -> dict[str, float]:
    """Return the ``QUANTILES`` of an ensemble (Weibull position p (n + 1), clamped)."""
    q = np.quantile(samples, QUANTILES, method="weibull")
    return {f"p{round(p * 100)}": float(v) for p, v in zip(QUANTILES, q, strict=True)}


def score_ensemble(
    samples: NDArray[np.float64], actual: float, money: bool = True
) -> dict[str, Any]:
    """Score an ensemble forecast of one value: quantiles, mean, CRPS, in-band flags.

    ``money``: the scores are micro-units, rounded half away from zero; otherwise (counts)
    they stay real numbers, since a mean of 2.4 recharges or a CRPS of 0.3 is information.
    """
    s = np.asarray(samples, dtype=np.float64)
    q = ensemble_quantiles(s)
    crps = float(sr.crps_ensemble(np.array([actual]), s[None, :])[0])
    return _row(q, float(s.mean()), crps, actual, money)


def score_normal(mean: float, sd: float, actual: float) -> dict[str, Any]:
    """Score a Normal forecast: exact quantiles and the closed-form CRPS."""
    sd = max(sd, 1e-9)
    q = {f"p{round(p * 100)}": float(stats.norm.ppf(p, loc=mean, scale=sd)) for p in QUANTILES}
    crps = float(sr.crps_normal(np.array([actual]), np.array([mean]), np.array([sd]))[0])
    return _row(q, mean, crps, actual)


def _row(
    q: dict[str, float], mean: float, crps: float, actual: float, money: bool = True
) -> dict[str, Any]:
    keep: Callable[[float], float | int] = round_half_away if money else float
    row: dict[str, Any] = {"actual_micros": keep(actual), "mean_micros": keep(mean)}
    for name, value in q.items():
        row[f"{name}_micros"] = keep(value)
    row["crps_micros"] = keep(crps)
    row["error_micros"] = keep(mean - actual)
    for band, lo, hi in BANDS:
        row[f"in_{band}"] = bool(q[f"p{round(lo * 100)}"] <= actual <= q[f"p{round(hi * 100)}"])
    return row


# -- the three methods ------------------------------------------------------------------


def seasonal_naive(train_daily: NDArray[np.int64], weeks: int) -> list[tuple[float, float]]:
    """Return (mean, sd) of each test week: last week repeated, sd sigma * sqrt(h)."""
    n_weeks = len(train_daily) // 7
    weekly = train_daily[len(train_daily) - 7 * n_weeks :].reshape(n_weeks, 7).sum(axis=1)
    diffs = np.diff(weekly.astype(np.float64))
    sigma = float(np.sqrt(np.mean(diffs**2))) if len(diffs) else 0.0
    last = float(weekly[-1])
    return [(last, sigma * math.sqrt(h)) for h in range(1, weeks + 1)]


def ets_paths(
    train_daily: NDArray[np.int64], days: int, paths: int, seed: int
) -> NDArray[np.float64]:
    """Return ``paths`` x ``days`` simulated daily charges of an ETS fit (micro-units)."""
    from statsmodels.tsa.exponential_smoothing.ets import (  # type: ignore[import-untyped]
        ETSModel,
    )

    y = pd.Series(train_daily.astype(np.float64) / 1e6)  # currency units: better scaled
    seasonal = "add" if len(y) >= 14 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ETSModel(
            y,
            error="add",
            trend=None,
            seasonal=seasonal,
            seasonal_periods=7 if seasonal else None,
        )
        fit = model.fit(disp=False)
        sim = fit.simulate(
            nsimulations=days, repetitions=paths, anchor="end", rng=np.random.default_rng(seed)
        )
    return np.asarray(sim, dtype=np.float64).T.reshape(paths, days) * 1e6


# -- ccsim: the fitted scenario, simulated --------------------------------------------


def fitted_scenario(
    calls: pd.DataFrame, base: LoadedScenario, split: Split, seed: int, folder: Path
) -> LoadedScenario:
    """Fit the training window of ``split`` and return the scenario ``ccsim fit`` writes."""
    tz = base.scenario.simulation.time_zone
    cal = base.scenario.calendar
    lo = datetime.combine(split.train_start, datetime.min.time()).replace(tzinfo=cal.time_zone)
    hi = datetime.combine(split.origin, datetime.min.time()).replace(tzinfo=cal.time_zone)
    days = local_dates(calls, tz)
    inside = (days >= np.datetime64(split.train_start)) & (days < np.datetime64(split.origin))
    train = calls[inside]
    if not len(train):
        raise InputError(f"backtest: no call from {split.train_start} to {split.origin} to fit")
    fit = fit_calls(
        train,
        time_zone=tz,
        window=(lo.astimezone(UTC), hi.astimezone(UTC)),
        rng=np.random.default_rng(seed),
    )
    out = folder / f"fit-{split.index}.toml"
    text = scenario_text(fit, base.path, out, name=f"backtest-{split.index}")
    # The fitted file lives in a temporary folder: name the base's rate tables absolutely.
    data = tomllib.loads(text)
    base_tariffs = tomllib.loads(base.path.read_text(encoding="utf-8")).get("tariffs", {})
    for key, rel in base_tariffs.items():
        if isinstance(rel, str):
            p = Path(rel)
            data["tariffs"][key] = str(p if p.is_absolute() else (base.path.parent / p).resolve())
    write_scenario_file(tomli_w.dumps(data), out, force=True)
    return load_scenario(out)


def has_pools(scenario: Scenario) -> bool:
    """Return True when a user group draws on minute pools (calling plan or dial-out)."""
    return any(
        g.plan in POOLED_PLANS or g.conferencing not in ("none", "") for g in scenario.user_groups
    )


def run_scenario(
    loaded: LoadedScenario, start: date, days: int, seed: int, replications: int
) -> Scenario:
    """Return the fitted scenario starting at local midnight ``start`` for ``days`` days.

    The opening balance stays that of the base scenario, as one lot bought at the start
    (the back-test knows no purchase history); the warm-up is off.
    """
    sc = loaded.scenario
    f = sc.funding
    sim = replace(
        sc.simulation,
        start=datetime.combine(start, datetime.min.time()),
        horizon=Seconds(days * SECONDS_PER_DAY),
        seed=seed,
        replications=replications,
        warm_up=Seconds(0.0),
    )
    funding = f
    if f.mode == "prepaid":
        funding = replace(
            f, lots=(), initial_funds=Micros(f.opening_balance), initial_purchased=None
        )
    try:
        return replace(sc, simulation=sim, funding=funding)
    except ValueError as exc:
        raise InputError(f"{loaded.path}: backtest run from {start}: {exc}") from None


@dataclass
class _Runs:
    """What the back-test keeps of a run: spend per day by service, recharges, balance."""

    spend: NDArray[np.int64]  # days x services
    recharges: int
    closing_micros: int | None


def _keep(out: RunOutput, skip_days: int, days: int, origin_s: float) -> _Runs:
    spend = np.zeros((days, len(SERVICES)), np.int64)
    for day, amounts in out.spend:
        d = day - skip_days
        if 0 <= d < days:
            spend[d] += amounts
    recharges = 0
    closing: int | None = None
    if out.account is not None:
        recharges = sum(
            1
            for p in out.account.payments
            if p.source is LotSource.AUTO
            and p.state is PaymentState.SETTLED
            and p.completed_at_s is not None
            and p.completed_at_s >= origin_s
        )
        closing = int(out.account.ledger.balance)
    return _Runs(spend, recharges, closing)


def simulate_split(
    fitted: LoadedScenario,
    calls: pd.DataFrame,
    split: Split,
    s: BacktestSettings,
    seed: int,
) -> tuple[list[_Runs], _Runs, int]:
    """Run the fitted scenario over the test window; also replay the recorded calls.

    Returns the runs, the replay and the recorded calls the replay left out (no holder).
    """
    lead = s.lead_in if s.lead_in is not None else has_pools(fitted.scenario)
    start = split.origin.replace(day=1) if lead else split.origin
    skip = (split.origin - start).days
    days = skip + s.test_days
    scenario = run_scenario(fitted, start, days, seed, s.replications)
    origin_s = scenario.calendar.to_sim(datetime.combine(split.origin, datetime.min.time()))
    runs = []
    try:
        for r in range(s.replications):
            out = run_replication(scenario, fitted.tariffs, split.index * s.replications + r)
            runs.append(_keep(out, skip, s.test_days, origin_s))
        tz = scenario.simulation.time_zone
        d = local_dates(calls, tz)
        window = (d >= np.datetime64(start)) & (d < np.datetime64(split.test_end))
        mapped = map_calls(calls[window], scenario)
        traffic = RecordedTraffic(mapped, scenario, first_day=start)
        replay = _keep(run_replication(scenario, fitted.tariffs, 0, traffic=traffic),
                       skip, s.test_days, origin_s)  # fmt: skip
    except UnratableCallError as exc:
        raise InputError(f"{fitted.path}: rate tables: {exc}") from None
    return runs, replay, len(mapped.unmapped)


# -- the back-test ----------------------------------------------------------------------


def backtest(
    calls: pd.DataFrame,
    base: LoadedScenario,
    settings: BacktestSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Back-test ccsim and the baselines on a normalised call table (see module notes).

    ``base``: the scenario whose money, recharge, payment and admin settings and rate
    tables the fitted scenarios take (``ccsim fit --base``). Raises ``InputError`` when
    the log is too short for the windows asked for.
    """
    s = settings or BacktestSettings()
    if base.scenario.simulation.warm_up > 0:
        raise InputError(f"{base.path}: simulation.warm_up: a back-test starts at each origin")
    tz = base.scenario.simulation.time_zone
    seed = base.scenario.simulation.seed if s.seed is None else s.seed
    daily = daily_charges(calls, tz)
    first = daily.index[0].date()
    last = daily.index[-1].date()
    splits = make_splits(first, last, s)
    weeks = s.test_days // 7
    rows: list[dict[str, Any]] = []
    detail: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    unmapped = 0
    with tempfile.TemporaryDirectory(prefix="ccsim-backtest-") as tmp:
        for k, split in enumerate(splits):
            if progress is not None:
                progress(k, len(splits))
            lo = (split.train_start - first).days
            hi = (split.origin - first).days
            train = daily.to_numpy()[lo:hi]
            actual_daily = daily.to_numpy()[hi : hi + s.test_days]
            actual = actual_daily.reshape(weeks, 7).sum(axis=1)
            fitted = fitted_scenario(calls, base, split, seed + split.index, Path(tmp))
            runs, replay, left_out = simulate_split(fitted, calls, split, s, seed)
            unmapped += left_out
            weekly_runs = np.stack(
                [r.spend.sum(axis=1).reshape(weeks, 7).sum(axis=1) for r in runs]
            ).astype(np.float64)
            paths = ets_paths(train, s.test_days, s.ets_paths, seed + 7919 * (split.index + 1))
            weekly_ets = paths.reshape(s.ets_paths, weeks, 7).sum(axis=2)
            naive = seasonal_naive(train, weeks)
            for w in range(weeks):
                key = _key(split, w)
                y = float(actual[w])
                rows.append({"method": "ccsim", **key, **score_ensemble(weekly_runs[:, w], y)})
                mu, sd = naive[w]
                rows.append({"method": "seasonal-naive", **key, **score_normal(mu, sd, y)})
                rows.append({"method": "ets", **key, **score_ensemble(weekly_ets[:, w], y)})
                detail += _detail_rows(split, w, runs, replay)
            for row in _window_rows(split, runs, replay):
                (counts if row["series"] == "auto_recharges" else detail).append(row)
    if progress is not None:
        progress(len(splits), len(splits))
    meta = {
        "methods": list(METHODS),
        "method_descriptions": METHODS,
        "data_from": str(first),
        "data_to": str(last),
        "last_data": str(calls["start"].max().tz_convert(tz).date()),
        "time_zone": tz,
        "currency": base.scenario.simulation.currency,
        "train_days": s.train_days,
        "test_days": s.test_days,
        "step_days": s.step_days,
        "origins": [str(sp.origin) for sp in splits],
        "replications": s.replications,
        "ets_paths": s.ets_paths,
        "seed": seed,
        "quantiles": "ensembles: Weibull plotting position p (n + 1); naive: Normal",
        "crps": "scoringrules: crps_ensemble (ccsim, ets), crps_normal (seasonal-naive)",
        "unmapped_replay_calls": unmapped,
    }
    targets = _stamp(pd.DataFrame(rows), meta)
    table = _stamp(_per_origin(targets), meta)
    summary = _stamp(summarise(targets), meta)
    detail_frame = _stamp(pd.DataFrame(detail), meta)
    counts_frame = _stamp(pd.DataFrame(counts), meta)
    return BacktestResult(targets, table, summary, detail_frame, counts_frame, splits, meta)


def _key(split: Split, w: int) -> dict[str, Any]:
    ws = split.origin + timedelta(days=7 * w)
    return {
        "origin": split.index,
        "train_start": str(split.train_start),
        "origin_date": str(split.origin),
        "week": w + 1,
        "week_start": str(ws),
        "series": "total",
    }


def _detail_rows(split: Split, w: int, runs: list[_Runs], replay: _Runs) -> list[dict[str, Any]]:
    out = []
    for i, service in enumerate(SERVICES):
        samples = np.array([r.spend[7 * w : 7 * w + 7, i].sum() for r in runs], np.float64)
        y = float(replay.spend[7 * w : 7 * w + 7, i].sum())
        if not samples.any() and y == 0:
            continue
        key = {**_key(split, w), "series": f"spend:{service}"}
        out.append({"method": "ccsim", **key, **score_ensemble(samples, y)})
    return out


def _window_rows(split: Split, runs: list[_Runs], replay: _Runs) -> list[dict[str, Any]]:
    """Score the auto-recharges (a count) and the closing balance of the test window."""
    key = {**_key(split, 0), "week": 0, "week_start": str(split.origin)}
    recharges = np.array([r.recharges for r in runs], np.float64)
    row = score_ensemble(recharges, float(replay.recharges), money=False)
    row["actual_micros"] = int(replay.recharges)  # a whole count
    # A count, not money: its columns end in _count, never _micros.
    out = [
        {
            "method": "ccsim",
            **key,
            "series": "auto_recharges",
            **{k.replace("_micros", "_count"): v for k, v in row.items()},
        }
    ]
    if replay.closing_micros is not None:
        closing = np.array([r.closing_micros or 0 for r in runs], np.float64)
        row = score_ensemble(closing, float(replay.closing_micros))
        out.append({"method": "ccsim", **key, "series": "closing_balance", **row})
    return out


def _stamp(frame: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """Add the data window and the date of the last data to a table (method is a column)."""
    frame = frame.copy()
    frame["data_from"] = meta["data_from"]
    frame["data_to"] = meta["data_to"]
    frame["last_data"] = meta["last_data"]
    if "method" in frame.columns:
        frame["method_description"] = frame["method"].map(METHODS)
    return frame


def _per_origin(targets: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (method, origin), part in targets.groupby(["method", "origin"], sort=False):
        rows.append(
            {
                "method": method,
                "origin": int(str(origin)),
                "train_start": part["train_start"].iloc[0],
                "origin_date": part["origin_date"].iloc[0],
                **_metrics(part),
            }
        )
    return pd.DataFrame(rows)


def _metrics(part: pd.DataFrame) -> dict[str, Any]:
    actual = part["actual_micros"].to_numpy(np.float64)
    error = part["error_micros"].to_numpy(np.float64)
    total = float(actual.sum())
    out: dict[str, Any] = {"targets": len(part)}
    for band, _, _ in BANDS:
        out[f"coverage_{band}"] = float(part[f"in_{band}"].mean())
    out["crps_micros"] = round_half_away(float(part["crps_micros"].mean()))
    out["crps_share"] = float(part["crps_micros"].sum()) / total if total else math.nan
    out["bias_micros"] = round_half_away(float(error.mean()))
    out["bias_share"] = float(error.sum()) / total if total else math.nan
    return out


def summarise(targets: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Return one row per method: coverage (with Wilson intervals), CRPS, bias, skill.

    ``crps_skill``: 1 - CRPS / CRPS of the seasonal naive method (> 0: better than it).
    """
    from sim.validation.theory import wilson_interval

    rows = []
    for method in [m for m in METHODS if m in set(targets["method"])]:
        part = targets[targets["method"] == method]
        row: dict[str, Any] = {"method": method, **_metrics(part)}
        for band, lo, hi in BANDS:
            k = int(part[f"in_{band}"].sum())
            low, high = wilson_interval(k, len(part), confidence)
            row[f"coverage_{band}_low"] = low
            row[f"coverage_{band}_high"] = high
            row[f"nominal_{band}"] = hi - lo
        rows.append(row)
    frame = pd.DataFrame(rows)
    naive = frame.loc[frame["method"] == "seasonal-naive", "crps_micros"]
    if len(naive) and float(naive.iloc[0]) > 0:
        frame["crps_skill"] = 1.0 - frame["crps_micros"] / float(naive.iloc[0])
    return frame


def summary_lines(result: BacktestResult, folder: Path | None = None) -> list[str]:
    """Return the summary as text: one line per method."""
    lines = [
        f"ccsim backtest: weekly spend, {result.caption()}",
        f"  {'method':15} {'weeks':>5} {'P10-P90':>8} {'P5-P95':>8} {'CRPS':>12} "
        f"{'CRPS/spend':>10} {'bias':>12} {'bias/spend':>10}",
    ]
    for r in result.summary.to_dict("records"):
        lines.append(
            f"  {r['method']:15} {r['targets']:>5} {r['coverage_p10_p90']:>8.0%} "
            f"{r['coverage_p5_p95']:>8.0%} {r['crps_micros'] / 1e6:>12.2f} "
            f"{r['crps_share']:>10.1%} {r['bias_micros'] / 1e6:>12.2f} {r['bias_share']:>10.1%}"
        )
    lines.append(
        "  (nominal coverage 80 % and 90 %; CRPS and bias per week, in "
        f"{result.meta.get('currency', 'the log currency')}; lower CRPS is better)"
    )
    if folder is not None:
        lines.append(f"  results: {folder}/")
    return lines


__all__ = [
    "BANDS",
    "METHODS",
    "QUANTILES",
    "BacktestResult",
    "BacktestSettings",
    "Split",
    "backtest",
    "daily_charges",
    "ensemble_quantiles",
    "ets_paths",
    "make_splits",
    "score_ensemble",
    "score_normal",
    "seasonal_naive",
    "summarise",
    "summary_lines",
]

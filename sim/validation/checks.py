"""Scenarios that configure the simulator into the special cases of ``theory.md``.

Every setting used here is an ordinary scenario setting a user could write: one service
number (a toll-free call queue) taking Poisson calls at a constant rate, a flat price per
call (a connection fee) or per second, charges at call start, a constant payment delay, no
declines, no expiry, and the trigger rule and zero-balance rule of each case. The
functions build such scenarios, run replications and return the measured quantities next
to the closed forms, with 99.9 % intervals; the tests and ``ccsim validate-theory`` use
them.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from sim.core.units import MICROS_PER_UNIT, SECONDS_PER_HOUR
from sim.engine import run_replication
from sim.engine.results import tables_of
from sim.scenario.loading import LoadedScenario, load_scenario
from sim.validation.theory import (
    RQBackorders,
    RQLostSales,
    calls_to_zero_mean,
    geometric_billed_minutes_mean,
    time_to_zero_mean,
    z_interval,
)

HOUR = SECONDS_PER_HOUR


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison of a simulated quantity with its closed form."""

    quantity: str
    formula: str
    parameters: str
    theory: float
    simulated: float
    low: float
    high: float
    method: str

    @property
    def ok(self) -> bool:
        """Return True when the theory lies inside the simulated interval."""
        return self.low <= self.theory <= self.high


def flat_tariff(folder: Path, fee: str = "1", rate_per_min: str = "0", increment_s: int = 1) -> str:
    """Write a one-row rate table that prices every call the same way; return its path."""
    path = folder / f"flat-{fee}-{rate_per_min}-{increment_s}.csv"
    path.write_text(
        "destination,number_type,rate_per_min,connection_fee,increment_s\n"
        f"default,,{rate_per_min},{fee},{increment_s}\n"
    )
    return str(path)


def queue_scenario(
    folder: Path,
    *,
    calls_per_hour: float,
    horizon_h: float,
    seed: int,
    funding: dict[str, Any],
    recharge: dict[str, Any],
    lead_h: float = 0.0,
    fee: str = "1",
    rate_per_min: str = "0",
    duration: dict[str, Any] | None = None,
    name: str = "theory",
    increment_s: int = 1,
) -> LoadedScenario:
    """Write and load a scenario with one toll-free call queue and a flat price."""
    table = flat_tariff(folder, fee, rate_per_min, increment_s)
    data: dict[str, Any] = {
        "simulation": {
            "name": name,
            "start": "2026-01-05T00:00:00",
            "horizon": f"{horizon_h}h",
            "time_zone": "UTC",
            "seed": seed,
            "debits": "per_call",
        },
        "funding": {"portal_rules": False, "expiry_months": 0, "charge_at": "start", **funding},
        "recharge": recharge,
        "payment": {
            "delay": {"kind": "constant", "mean": f"{lead_h * HOUR}s"},
            "decline_probability": 0.0,
            "disable_after_declines": 0,
        },
        "admin": {"responds_to": []},
        "service_numbers": [
            {"name": "line", "kind": "call_queue", "number_type": "toll_free", "country": "US"}
        ],
        "tariffs": {"outbound": table, "toll_free": table, "dial_out": table},
        "traffic": {
            "services": {
                "line": {
                    "calls_per_day": calls_per_hour * 24,
                    "profile": "flat",
                    "duration": duration or {"kind": "constant", "mean": "60s"},
                }
            },
            "retry": {"probability": 0.0},
        },
    }
    path = folder / f"{name}-{seed}.toml"
    path.write_text(tomli_w.dumps(data))
    return load_scenario(path)


def _mean_check(
    quantity: str, formula: str, parameters: str, theory: float, values: np.ndarray
) -> Check:
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(len(values)))
    low, high = z_interval(mean, se)
    return Check(
        quantity, formula, parameters, theory, mean, low, high, f"z, {len(values)} replications"
    )


def ratio_interval(
    num: np.ndarray, den: np.ndarray, confidence: float = 0.999
) -> tuple[float, float, float]:
    """Ratio estimate sum(num) / sum(den) over replications, with its z interval.

    The standard error is that of the ratio estimator (delta method):
    ``sqrt(sum((num_i - R den_i)^2) / (n (n - 1))) / mean(den)``.
    """
    n = len(num)
    ratio = float(num.sum() / den.sum())
    resid = num - ratio * den
    se = float(math.sqrt((resid**2).sum() / (n * (n - 1))) / den.mean())
    low, high = z_interval(ratio, se, confidence)
    return ratio, low, high


def _time_average_backorders(tables: dict[str, Any], horizon_s: float) -> float:
    bal = tables["balance"]
    t = np.clip(bal["t_s"].to_numpy(), 0.0, horizon_s)
    b = bal["balance_micros"].to_numpy() / MICROS_PER_UNIT
    widths = np.diff(np.concatenate([t, [horizon_s]]))
    return float((np.maximum(-b, 0.0) * widths).sum() / horizon_s)


def _calls(tables: dict[str, Any], funding: str) -> int:
    c = tables["calls_summary"]
    return int(c[c["funding"] == funding]["calls"].sum())


def rq_backorder_checks(
    r: int,
    q: int,
    *,
    rate: float = 2.0,
    lead_h: float = 1.5,
    horizon_h: float = 1500.0,
    replications: int = 24,
    seed: int = 101,
    folder: Path | None = None,
) -> list[Check]:
    """(r, Q) with backorders (theory.md §1): fill rate, backorders and order rate."""
    model = RQBackorders(rate=rate, lead=lead_h, r=r, q=q)
    with tempfile.TemporaryDirectory() as tmp:
        sc = queue_scenario(
            folder or Path(tmp),
            calls_per_hour=rate,
            horizon_h=horizon_h,
            seed=seed,
            lead_h=lead_h,
            funding={"initial_funds": str(r + q), "refuse_at_zero": False},
            recharge={
                "policy": "fixed",
                "trigger": str(r),
                "amount": str(q),
                "compare": "<=",
                "basis": "position",
                "max_in_flight": 1000,
            },
            name=f"rq-{r}-{q}",
        )
        horizon_s = sc.scenario.horizon_s
        fills, backs, orders = [], [], []
        for rep in range(replications):
            t = tables_of(run_replication(sc.scenario, sc.tariffs, rep))
            met, late = _calls(t, "charged"), _calls(t, "charged_below_zero")
            fills.append(met / (met + late))
            backs.append(_time_average_backorders(t, horizon_s))
            orders.append(int(t["outcomes"]["recharges_requested"].iloc[0]) / horizon_h)
    params = f"lambda={rate}/h, L={lead_h} h, r={r}, Q={q}"
    return [
        _mean_check(
            "fill rate", "1 - [B1(r) - B1(r+Q)] / Q", params, model.fill_rate, np.asarray(fills)
        ),
        _mean_check(
            "time-average backorders",
            "[B2(r) - B2(r+Q)] / Q",
            params,
            model.mean_backorders,
            np.asarray(backs),
        ),
        _mean_check("orders per hour", "lambda / Q", params, model.order_rate, np.asarray(orders)),
    ]


def lost_sales_checks(
    r: int,
    q: int,
    *,
    rate: float = 2.0,
    lead_h: float = 1.5,
    horizon_h: float = 1500.0,
    replications: int = 24,
    seed: int = 202,
) -> list[Check]:
    """Lost sales, one order outstanding (theory.md §2): share lost and order rate."""
    model = RQLostSales(rate=rate, lead=lead_h, r=r, q=q)
    with tempfile.TemporaryDirectory() as tmp:
        sc = queue_scenario(
            Path(tmp),
            calls_per_hour=rate,
            horizon_h=horizon_h,
            seed=seed,
            lead_h=lead_h,
            funding={"initial_funds": str(q), "refuse_at_zero": True},
            recharge={
                "policy": "fixed",
                "trigger": str(r),
                "amount": str(q),
                "compare": "<=",
                "basis": "balance",
                "max_in_flight": 1,
            },
            name=f"lost-{r}-{q}",
        )
        lost, demand, orders = [], [], []
        for rep in range(replications):
            t = tables_of(run_replication(sc.scenario, sc.tariffs, rep))
            o = t["outcomes"].iloc[0]
            lost.append(int(o["blocked_attempts"]))
            demand.append(int(o["calls"]))
            orders.append(int(o["recharges_requested"]) / horizon_h)
    params = f"lambda={rate}/h, L={lead_h} h, r={r}, Q={q}"
    # Refused calls come in bursts within a lead time, so they are not independent
    # trials: the interval comes from the replications (a ratio estimator), not calls.
    share, low, high = ratio_interval(np.asarray(lost), np.asarray(demand))
    return [
        Check(
            "share of calls lost",
            "B1(r) / (Q + B1(r))",
            params,
            model.lost_share,
            share,
            low,
            high,
            f"ratio over {replications} replications",
        ),
        _mean_check(
            "orders per hour", "lambda / (Q + B1(r))", params, model.order_rate, np.asarray(orders)
        ),
    ]


def time_to_zero_checks(
    *,
    balance: int = 360,
    rate: float = 1.0,
    mean_duration_h: float = 1.0,
    rate_per_min: str = "0.6",
    horizon_h: float = 120.0,
    replications: int = 300,
    seed: int = 303,
) -> list[Check]:
    """No recharge (theory.md §4): calls to empty the balance and time to zero.

    Charges are per second with exponential durations, so each call costs Exp(mean mu)
    with mu = rate_per_min / 60 x mean duration (increments of 1 s are 1/3600 of a mean
    call: below the Monte Carlo error by two orders of magnitude).
    """
    mu = float(rate_per_min) / 60.0 * mean_duration_h * HOUR
    with tempfile.TemporaryDirectory() as tmp:
        sc = queue_scenario(
            Path(tmp),
            calls_per_hour=rate,
            horizon_h=horizon_h,
            seed=seed,
            fee="0",
            rate_per_min=rate_per_min,
            duration={"kind": "exponential", "mean": f"{mean_duration_h * HOUR}s"},
            funding={"initial_funds": str(balance)},
            recharge={"policy": "none"},
            name="dry",
        )
        times, calls = [], []
        for rep in range(replications):
            t = tables_of(run_replication(sc.scenario, sc.tariffs, rep))
            notes = t["notifications"]
            zero = notes[notes["kind"] == "balance_zero"]
            if zero.empty:
                raise RuntimeError("the balance did not run dry within the horizon")
            t_zero = float(zero["t_s"].iloc[0])
            times.append(t_zero / HOUR)
            bal = t["balance"]
            debits = bal[(bal["cause"] != "purchase") & (bal["t_s"] <= t_zero)]
            calls.append(debits["t_s"].nunique())
    params = f"u={balance}, lambda={rate}/h, mu={mu:g}"
    return [
        _mean_check(
            "calls that empty the balance",
            "1 + u / mu",
            params,
            calls_to_zero_mean(balance, mu),
            np.asarray(calls, dtype=float),
        ),
        _mean_check(
            "hours to zero",
            "(1 + u / mu) / lambda",
            params,
            time_to_zero_mean(balance, rate, mu),
            np.asarray(times),
        ),
    ]


def billed_minutes_checks(
    *,
    mean_duration_s: float = 90.0,
    rate: float = 30.0,
    horizon_h: float = 200.0,
    seed: int = 404,
) -> list[Check]:
    """Billing rounded up to whole minutes (theory.md §5): geometric billed minutes.

    A price of 1 per minute in 60-second increments makes each call's charge equal to its
    billed minutes.
    """
    with tempfile.TemporaryDirectory() as tmp:
        sc = queue_scenario(
            Path(tmp),
            calls_per_hour=rate,
            horizon_h=horizon_h,
            seed=seed,
            fee="0",
            rate_per_min="1",
            increment_s=60,
            duration={"kind": "exponential", "mean": f"{mean_duration_s}s"},
            funding={"initial_funds": "100000000"},
            recharge={"policy": "none"},
            name="minutes",
        )
        t = tables_of(run_replication(sc.scenario, sc.tariffs, 0))
    bal = t["balance"]
    debits = bal[bal["cause"] != "purchase"]
    per_call = (-debits.groupby("t_s")["change_micros"].sum() / MICROS_PER_UNIT).to_numpy()
    return [
        _mean_check(
            "billed minutes per call",
            "1 / (1 - exp(-60 / m))",
            f"Exp durations, m={mean_duration_s:g} s",
            geometric_billed_minutes_mean(mean_duration_s),
            per_call,
        )
    ]


def in_progress_checks(
    *, rate: float = 60.0, mean_duration_s: float = 600.0, days: int = 150, seed: int = 505
) -> list[Check]:
    """Check calls in progress at a fixed time (theory.md §5): Poisson, mean rate x E[D].

    Lognormal durations (cv 1.5), counted at 03:00, 09:00, 15:00 and 21:00 every day
    (six hours apart, so the counts are as good as independent).
    """
    from sim.traffic.model import TrafficModel

    with tempfile.TemporaryDirectory() as tmp:
        sc = queue_scenario(
            Path(tmp),
            calls_per_hour=rate,
            horizon_h=24.0 * days,
            seed=seed,
            duration={"kind": "lognormal", "mean": f"{mean_duration_s}s", "cv": 1.5},
            funding={"initial_funds": "100"},
            recharge={"policy": "none"},
            name="busy",
        )
        s = sc.scenario
        model = TrafficModel(s.traffic, s.population, s.calendar, s.simulation.seed, 0, s.horizon_s)
        counts = []
        previous = model.draw_day(0)
        for day in range(1, days):  # day 0 only supplies calls running past midnight
            batch = model.draw_day(day)
            start = np.concatenate([previous.start_s, batch.start_s])
            end = start + np.concatenate([previous.duration_s, batch.duration_s])
            for hour in (3, 9, 15, 21):
                at = day * 86400.0 + hour * HOUR
                counts.append(int(((start <= at) & (end > at)).sum()))
            previous = batch
    values = np.asarray(counts, dtype=float)
    mean = rate / HOUR * mean_duration_s
    params = f"lambda={rate}/h, lognormal durations mean {mean_duration_s:g} s, cv 1.5"
    dispersion = float(values.var(ddof=1) / values.mean())
    n = len(values)
    # Index of dispersion of Poisson counts: (n - 1) D ~ chi2(n - 1).
    from scipy import stats

    lo = float(stats.chi2.ppf(0.0005, n - 1) / (n - 1))
    hi = float(stats.chi2.ppf(0.9995, n - 1) / (n - 1))
    return [
        _mean_check(
            "calls in progress at a fixed time", "lambda x E[duration]", params, mean, values
        ),
        Check(
            "variance / mean of calls in progress",
            "1 (Poisson)",
            params,
            1.0,
            dispersion,
            1.0 / hi * dispersion,
            1.0 / lo * dispersion,
            f"chi-square, {n} counts",
        ),
    ]


def trigger_curves(
    q: int = 4,
    triggers: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7),
    replications: int = 8,
    horizon_h: float = 800.0,
) -> dict[str, list[Check]]:
    """Fill rate (backorders) and share lost (lost sales) over a range of triggers."""
    curves: dict[str, list[Check]] = {"fill": [], "lost": []}
    for r in triggers:
        curves["fill"].append(
            rq_backorder_checks(r, q, replications=replications, horizon_h=horizon_h)[0]
        )
        if r < q:
            curves["lost"].append(
                lost_sales_checks(r, q, replications=replications, horizon_h=horizon_h)[0]
            )
    return curves


def all_checks(quick: bool = False) -> list[Check]:
    """Run every check of ``theory.md`` §1-§5 (``quick``: fewer replications)."""
    reps = 8 if quick else 16
    checks: list[Check] = []
    for r, q in ((2, 4), (0, 6), (5, 3)):
        checks += rq_backorder_checks(r, q, replications=reps, horizon_h=1000.0)
    for r, q in ((1, 4), (3, 5)):
        checks += lost_sales_checks(r, q, replications=reps, horizon_h=1000.0)
    checks += time_to_zero_checks(replications=150 if quick else 300)
    checks += billed_minutes_checks()
    checks += in_progress_checks()
    return checks


def write_report(folder: Path, quick: bool = False) -> tuple[Path, list[Check]]:
    """Run every check, write ``validation.md`` and ``validation-triggers.png`` to ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    checks = all_checks(quick)
    curves = trigger_curves(replications=4 if quick else 8)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, key, title, ylabel in (
        (axes[0], "fill", "(r, Q=4) with backorders: fill rate", "share of calls met at once"),
        (axes[1], "lost", "Lost sales, one order outstanding (Q=4)", "share of calls lost"),
    ):
        pts = curves[key]
        rs = [int(c.parameters.split("r=")[1].split(",")[0]) for c in pts]
        ax.plot(rs, [c.theory for c in pts], "-", color="#1f4e79", label="theory")
        ax.errorbar(
            rs,
            [c.simulated for c in pts],
            yerr=[[c.simulated - c.low for c in pts], [c.high - c.simulated for c in pts]],
            fmt="o",
            color="#d62728",
            capsize=3,
            label="simulated (99.9 % interval)",
        )
        ax.set_title(title)
        ax.set_xlabel("trigger r (currency units; one unit per call)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("ccsim against closed forms: lambda = 2 calls/h, payment delay L = 1.5 h")
    fig.tight_layout()
    figure = folder / "validation-triggers.png"
    fig.savefig(figure)
    plt.close(fig)
    lines = [
        "# Validation against theory",
        "",
        "Generated by `ccsim validate-theory` "
        f"({'quick' if quick else 'full'} run); do not edit by hand. Each row configures the",
        "simulator, through ordinary scenario settings (`sim/validation/checks.py`), into",
        "a case of `theory.md` with an exact answer, and compares at 99.9 % confidence",
        "(z interval on a mean over replications, or a Wilson interval for a proportion).",
        "The same checks",
        "run in the test suite (`tests/validation/`) with fixed seeds.",
        "",
        "| quantity | formula | parameters | theory | simulated | 99.9 % interval | method | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c.quantity} | `{c.formula}` | {c.parameters} | {c.theory:.5g} | "
            f"{c.simulated:.5g} | [{c.low:.5g}, {c.high:.5g}] | {c.method} | "
            f"{'yes' if c.ok else '**NO**'} |"
        )
    inside = sum(c.ok for c in checks)
    lines += [
        "",
        f"{inside} of {len(checks)} checks have the theory inside the simulated interval.",
        "",
        "Conservation (theory.md §3) is exact and checked in every run: the engine replays",
        "the ledger at the end (`Ledger.invariants`) and fails if initial + credited -",
        "consumed - expired differs from the final balance by a single micro-unit.",
        "",
        "## Over a range of triggers",
        "",
        "![simulated and theoretical curves](validation-triggers.png)",
        "",
    ]
    report = folder / "validation.md"
    report.write_text("\n".join(lines))
    return report, checks

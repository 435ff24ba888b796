"""Runway: when the credits run out, when lots are forfeited, when minute pools spill.

From the scenario's state at its start (``funding.lots`` with their remainders and
purchase dates, or ``initial_funds``) the scenario is simulated ``replications`` times
twice: as configured (auto-recharge and admins on) and with no purchase at all
(``recharge.policy = "none"``, admins buy nothing). Across replications:

- **time to zero**: the first instant the balance is zero or below (theory.md §4: with
  Poisson calls and no recharge the calls that empty a balance u of charges c number
  ceil(u / c), so the time is Erlang); P10/P50/P90 in days and as local dates, and the
  share of runs that reach zero inside the horizon (a quantile beyond it is shown as
  such, never guessed);
- **forfeits**: each lot held at the start expires by the lifetime rule from its purchase
  date (``teams-credits.md`` §5: 12 months); its remainder then is forfeited unless spent
  first (soonest-expiring first): the date, the share of runs that forfeit, and the mean
  and P90 of what is forfeited (runs as configured);
- **pool spill**: each month, the date a minute pool runs out and calls spill into
  credits (its 100 % alert), with the share of runs in which it does.

The horizon is the scenario's, extended to cover the last held lot's expiry (at most
``MAX_HORIZON_DAYS``). Every table names the method, the data (the scenario's state at its
start) and the date of that state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.billing.ledger import EntryKind, LotSource
from sim.billing.policies import NotificationKind
from sim.core.display import money_text
from sim.core.errors import InputError
from sim.core.units import SECONDS_PER_DAY, Micros, Seconds
from sim.core.workers import map_tasks
from sim.engine import RunOutput, run_replication
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.telephony.tariffs import TariffBook

MAX_HORIZON_DAYS = 800
CASES = ("as configured", "no recharge")
QUANTILE_METHOD: Final = "inverted_cdf"
"""Quantiles of times: the smallest time with at least that share of runs at or before it
(a run that never reaches zero counts as after the horizon)."""


def no_recharge(scenario: Scenario) -> Scenario:
    """Return the scenario with no auto-recharge and admins who buy nothing."""
    return replace(
        scenario,
        recharge=replace(scenario.recharge, policy="none"),
        admin=replace(scenario.admin, top_up=Micros(0), responds_to=()),
    )


def runway_scenario(scenario: Scenario, horizon_days: int | None = None) -> Scenario:
    """Return the scenario with its horizon covering the held lots' expiry (capped)."""
    if horizon_days is None:
        cal = scenario.calendar
        f = scenario.funding
        need_s = scenario.horizon_s
        if f.expiry_months > 0 and f.lot_lifetime is None:
            for lot in f.lots:
                need_s = max(need_s, cal.add_months_s(cal.to_sim(lot.purchased), f.expiry_months))
            if f.initial_funds > 0:
                need_s = max(need_s, cal.add_months_s(0.0, f.expiry_months))
        horizon_days = min(MAX_HORIZON_DAYS, math.ceil(need_s / SECONDS_PER_DAY) + 1)
    sim = replace(scenario.simulation, horizon=Seconds(horizon_days * SECONDS_PER_DAY))
    return replace(scenario, simulation=sim)


def time_to_zero_s(out: RunOutput) -> float:
    """Return the first instant the balance is zero or below (inf: not in the horizon)."""
    if out.account is None:
        raise InputError("runway: postpaid (NCE/MCA) funding has no balance to run out")
    for e in out.account.ledger.entries:
        if e.kind is not EntryKind.REPAY and e.t_s >= 0 and e.balance_after <= 0:
            return float(e.t_s)
    return math.inf


def _run(scenario: Scenario, tariffs: TariffBook | None, replication: int) -> RunOutput:
    return run_replication(scenario, tariffs, replication)


@dataclass
class Runway:
    """The runway tables and the runs they come from."""

    scenario: Scenario
    name: str
    replications: int
    zero: pd.DataFrame
    """Per case: P10/P50/P90 days and dates to zero, share of runs reaching zero."""
    lots: pd.DataFrame
    """Per lot held at the start: expiry date, forfeit share, mean and P90 forfeited."""
    pools: pd.DataFrame
    """Per pool and month: share of runs spilling, P10/P50/P90 spill date."""
    runs: dict[str, list[RunOutput]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables by file name."""
        return {"runway": self.zero, "runway_lots": self.lots, "runway_pools": self.pools}

    def caption(self) -> str:
        """Return the line naming method, data and date of the data."""
        m = self.meta
        return f"method {m['method']}; data {m['data_window']} (last data {m['last_data']})"


def runway(
    loaded: LoadedScenario,
    *,
    replications: int | None = None,
    horizon_days: int | None = None,
    workers: int = 1,
    data_window: str | None = None,
    last_data: date | None = None,
    progress: Callable[[float], None] | None = None,
) -> Runway:
    """Simulate the scenario as configured and without recharge; return the runway.

    ``data_window`` and ``last_data`` name the data the scenario's state comes from
    (default: the scenario itself, as of its start).
    """
    sc = loaded.scenario
    if sc.funding.mode != "prepaid":
        raise InputError(f"{loaded.path}: funding.mode: a runway needs prepaid credits")
    if sc.simulation.warm_up > 0:
        raise InputError(f"{loaded.path}: simulation.warm_up: a runway starts from today's lots")
    n = replications or sc.simulation.replications
    base = runway_scenario(sc, horizon_days)
    scenarios = {CASES[0]: base, CASES[1]: no_recharge(base)}
    runs: dict[str, list[RunOutput]] = {}
    for case, s in scenarios.items():
        runs[case] = map_tasks(_run, [(s, loaded.tariffs, r) for r in range(n)], workers, progress)
    start = sc.calendar.start.date()
    meta = {
        "method": f"ccsim simulation, {n} replication(s) per case",
        "data_window": data_window or f"scenario {loaded.name}, state at {start}",
        "last_data": str(last_data or start),
        "horizon_days": base.horizon_s / SECONDS_PER_DAY,
    }
    zero = _stamp(pd.DataFrame([_zero_row(case, runs[case]) for case in CASES]), meta)
    lots = _stamp(_lot_rows(runs[CASES[0]]), meta)
    pools = _stamp(_pool_rows(runs[CASES[0]]), meta)
    return Runway(base, loaded.name, n, zero, lots, pools, runs, meta)


def _stamp(frame: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    for key in ("method", "data_window", "last_data"):
        frame[key] = meta[key]
    return frame


def _date(scenario: Scenario, t_s: float) -> str:
    if not math.isfinite(t_s):
        return "beyond horizon"
    return str(scenario.calendar.to_datetime(t_s).date())


def quantiles_s(values: Sequence[float] | NDArray[np.float64]) -> dict[int, float]:
    """Return P10/P50/P90 of times (inf for runs past the horizon)."""
    v = np.asarray(values, dtype=np.float64)
    return {p: float(np.quantile(v, p / 100, method=QUANTILE_METHOD)) for p in (10, 50, 90)}


def _zero_row(case: str, runs: list[RunOutput]) -> dict[str, Any]:
    times = np.array([time_to_zero_s(out) for out in runs])
    q = quantiles_s(times)
    sc = runs[0].scenario
    row: dict[str, Any] = {"case": case, "replications": len(runs)}
    row["reach_zero_share"] = float(np.isfinite(times).mean())
    for p, v in q.items():
        row[f"p{p}_days"] = v / SECONDS_PER_DAY if math.isfinite(v) else math.nan
        row[f"p{p}_date"] = _date(sc, v)
    row["opening_micros"] = int(sc.funding.opening_balance)
    return row


def _lot_rows(runs: list[RunOutput]) -> pd.DataFrame:
    rows = []
    sc = runs[0].scenario
    first = runs[0].account
    assert first is not None
    held = [lot for lot in first.ledger.lots if lot.source is LotSource.INITIAL]
    for lot in held:
        forfeited = []
        for out in runs:
            assert out.account is not None
            forfeited.append(
                -sum(
                    e.amount
                    for e in out.account.ledger.entries
                    if e.kind is EntryKind.EXPIRE and e.lot_id == lot.lot_id
                )
            )
        f = np.asarray(forfeited, dtype=np.int64)
        inside = math.isfinite(lot.expires_at_s) and lot.expires_at_s <= sc.horizon_s
        rows.append(
            {
                "lot_id": lot.lot_id,
                "purchased": _date(sc, lot.purchased_at_s),
                "remaining_at_start_micros": int(lot.amount),
                "expires": _date(sc, lot.expires_at_s) if inside else "beyond horizon",
                "forfeit_share": float((f > 0).mean()) if inside else math.nan,
                "forfeited_mean_micros": round(float(f.mean())),
                "forfeited_p90_micros": int(np.quantile(f, 0.9, method=QUANTILE_METHOD)),
            }
        )
    columns = ["lot_id", "purchased", "remaining_at_start_micros", "expires", "forfeit_share",
               "forfeited_mean_micros", "forfeited_p90_micros"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _pool_rows(runs: list[RunOutput]) -> pd.DataFrame:
    spills: dict[tuple[str, str], list[float]] = {}
    for out in runs:
        seen: dict[tuple[str, str], float] = {}
        for note in out.pool_alerts:
            if note.kind is not NotificationKind.POOL_100:
                continue
            label, _, month = note.detail.rpartition(" ")
            seen.setdefault((label, month), note.t_s)
        for key, t in seen.items():
            spills.setdefault(key, []).append(t)
    sc = runs[0].scenario
    rows = []
    for (label, month), times in sorted(spills.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        padded = np.array(times + [math.inf] * (len(runs) - len(times)))
        q = quantiles_s(padded)
        rows.append(
            {
                "pool": label,
                "month": month,
                "spill_share": len(times) / len(runs),
                **{f"p{p}_date": _date(sc, v) for p, v in q.items()},
            }
        )
    columns = ["pool", "month", "spill_share", "p10_date", "p50_date", "p90_date"]
    return pd.DataFrame(rows, columns=columns)


def runway_lines(rw: Runway) -> list[str]:
    """Return the runway as text for ``ccsim forecast``."""
    cur = rw.scenario.simulation.currency
    lines = [f"runway: {rw.caption()}"]
    for r in rw.zero.to_dict("records"):
        lines.append(
            f"  time to zero, {r['case']}: P10 {r['p10_date']}, P50 {r['p50_date']}, "
            f"P90 {r['p90_date']} ({r['reach_zero_share']:.0%} of runs reach zero in "
            f"{rw.meta['horizon_days']:.0f} days)"
        )
    for r in rw.lots.to_dict("records"):
        share = r["forfeit_share"]
        lines.append(
            f"  lot {r['lot_id']} bought {r['purchased']}, "
            f"{money_text(r['remaining_at_start_micros'], cur)} left: expires {r['expires']}"
            + (
                f", forfeits in {share:.0%} of runs (mean "
                f"{money_text(r['forfeited_mean_micros'], cur)})"
                if math.isfinite(share)
                else ""
            )
        )
    for r in rw.pools.to_dict("records"):
        lines.append(
            f"  pool {r['pool']} {r['month']}: spills into credits in {r['spill_share']:.0%} "
            f"of runs, P50 {r['p50_date']}"
        )
    return lines


def plot_runway(rw: Runway, path: Path) -> Path:
    """Draw the share of runs at zero by date, per case, with lot expiries marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    horizon_d = rw.meta["horizon_days"]
    for case in CASES:
        times = np.sort([time_to_zero_s(o) / SECONDS_PER_DAY for o in rw.runs[case]])
        share = np.arange(1, len(times) + 1) / len(times)
        finite = np.isfinite(times)
        ax.step(np.append(times[finite], horizon_d), np.append(share[finite], share[finite][-1]
                if finite.any() else 0.0), where="post", label=case)  # fmt: skip
    for r in rw.lots.to_dict("records"):
        if r["expires"] != "beyond horizon":
            day = (date.fromisoformat(r["expires"]) - rw.scenario.calendar.start.date()).days
            ax.axvline(day, color="grey", linestyle=":", linewidth=1)
            ax.text(day, 0.02, f" lot {r['lot_id']} expires", rotation=90, fontsize=7)
    for p in (0.1, 0.5, 0.9):
        ax.axhline(p, color="lightgrey", linewidth=0.8)
    ax.set_xlim(0, horizon_d)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"days after {rw.scenario.calendar.start.date()}")
    ax.set_ylabel("share of runs with the balance at zero")
    ax.set_title(f"Runway of {rw.name}\n{rw.caption()}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = [
    "CASES",
    "MAX_HORIZON_DAYS",
    "Runway",
    "no_recharge",
    "plot_runway",
    "quantiles_s",
    "runway",
    "runway_lines",
    "runway_scenario",
    "time_to_zero_s",
]

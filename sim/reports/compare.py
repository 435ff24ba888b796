"""``ccsim compare``: the same traffic rated under each calling plan, and the break-even.

What analysts ask: *what would this organisation pay on PAYG, Domestic or Domestic &
International plans?* Each plan is given to the compared user groups (their ``plan``
swapped, everything else kept), and every plan runs on the same replications. Random
streams are keyed by (seed, replication, stream, group, chunk of days), never by a plan, so
every plan sees exactly the same calls (common random numbers); only their rating, the
balance and hence the outages differ. Per plan: licence fees (``sim.reports.licences``),
calls charged (credits consumed, or the postpaid usage invoice) and outage exposure, in
total, per month and per user-month, with paired differences against the first plan.

The break-even search is ``sim.reports.breakeven``; writing the report folder is
``sim.reports.publish``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.display import money_text, percent_text
from sim.core.errors import InputError
from sim.core.workers import map_tasks
from sim.reports.breakeven import BreakEven
from sim.reports.licences import (
    LicencePrices,
    PriceFileError,
    find_prices,
    licence_fees,
    months_of,
    user_months,
)
from sim.reports.plan_runs import (
    DEFAULT_PLANS,
    PlanRun,
    check_groups,
    check_no_warm_up,
    check_plans,
    plan_replication,
    with_plan,
)
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.telephony.plans import headcount


@dataclass
class Comparison:
    """Every plan's costs and outage exposure on the same traffic."""

    scenario: Scenario
    name: str
    plans: list[str]
    groups: list[str]
    replications: int
    prices: LicencePrices
    runs: pd.DataFrame
    """One row per plan and replication: the run's outcomes, first attempts, minutes."""
    summary: pd.DataFrame
    monthly: pd.DataFrame
    licences: pd.DataFrame
    identical_traffic: bool
    """True when every plan saw the same calls (first attempts) in every replication."""
    breakeven: BreakEven | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str:
        """Return the billing currency."""
        return self.scenario.simulation.currency


def compare(
    loaded: LoadedScenario,
    plans: Sequence[str] = DEFAULT_PLANS,
    *,
    groups: Sequence[str] | None = None,
    replications: int | None = None,
    workers: int = 1,
    prices: LicencePrices | None = None,
    progress: Callable[[float], None] | None = None,
) -> Comparison:
    """Run every plan on the same replications and tabulate costs and outages."""
    check_no_warm_up(loaded, "a plan comparison")
    sc = loaded.scenario
    plans = check_plans(plans)
    chosen = check_groups(sc, groups, "--groups")
    n = replications or sc.simulation.replications
    prices = prices or find_prices(loaded)
    variants = {p: with_plan(sc, p, chosen) for p in plans}
    fee_frames = []
    for p, s in variants.items():
        try:
            fees = licence_fees(s, prices)
        except PriceFileError as exc:
            raise InputError(str(exc)) from None
        fees.insert(0, "plan", p)
        fee_frames.append(fees)
    licences = pd.concat(fee_frames, ignore_index=True)
    tasks = [(variants[p], loaded.tariffs, r, p) for p in plans for r in range(n)]
    results: list[PlanRun] = map_tasks(plan_replication, tasks, workers, progress)
    runs = pd.concat([r.outcomes for r in results], ignore_index=True)
    first = runs.pivot_table(index="replication", columns="plan", values="first_attempts")
    identical = bool((first.nunique(axis=1) == 1).all())
    um = user_months(sc)
    base = runs[runs["plan"] == plans[0]].set_index("replication")
    rows = []
    for p in plans:
        r = runs[runs["plan"] == p].set_index("replication")
        lic = int(licences.loc[licences["plan"] == p, "fee_micros"].sum())
        charged = r["charged_micros"].astype(np.float64)
        total = lic + charged
        base_lic = int(licences.loc[licences["plan"] == plans[0], "fee_micros"].sum())
        base_total = base_lic + base["charged_micros"].astype(np.float64)
        diff = (total - base_total.reindex(total.index)).to_numpy(dtype=np.float64)
        row: dict[str, Any] = {
            "plan": p,
            "groups": ",".join(chosen),
            "users": sum(g.count for g in sc.user_groups),
            "user_months": um,
            "licences_micros": lic,
            "credits_mean_micros": round(float(charged.mean())),
            "credits_p10_micros": round(float(np.percentile(charged, 10))),
            "credits_p90_micros": round(float(np.percentile(charged, 90))),
            "total_mean_micros": round(float(total.mean())),
            "licences_per_user_month_micros": round(lic / um),
            "credits_per_user_month_micros": round(float(charged.mean()) / um),
            "total_per_user_month_micros": round(float(total.mean()) / um),
            "diff_total_vs_first_micros": round(float(diff.mean())),
            "diff_total_vs_first_se_micros": round(float(diff.std(ddof=1) / math.sqrt(len(diff))))
            if len(diff) > 1
            else 0,
            "p_outage": float(r["outage"].mean()),
            "outage_hours_mean": float(r["outage_hours"].mean()),
            "blocked_attempts_mean": float(r["blocked_attempts"].mean()),
            "blocked_calls_lost_mean": float(r["blocked_calls_lost"].mean()),
            "first_attempts_mean": float(r["first_attempts"].mean()),
            "outbound_minutes_per_user_month": float(r["outbound_minutes"].mean()) / um,
        }
        if sc.funding.mode == "prepaid":
            bought = r["purchased_auto_micros"] + r["purchased_manual_micros"]
            row["purchased_mean_micros"] = round(float(bought.mean()))
            row["forfeited_mean_micros"] = round(float(r["forfeited_micros"].mean()))
        rows.append(row)
    summary = pd.DataFrame(rows)
    monthly = _monthly(sc, plans, results, licences, n)
    cur = sc.simulation.currency
    for frame in (summary, monthly, licences):
        frame.insert(0, "currency", pd.Series([cur] * len(frame), dtype="str", index=frame.index))
    return Comparison(
        scenario=sc,
        name=loaded.name,
        plans=plans,
        groups=chosen,
        replications=n,
        prices=prices,
        runs=runs,
        summary=summary,
        monthly=monthly,
        licences=licences,
        identical_traffic=identical,
    )


def _monthly(
    sc: Scenario,
    plans: list[str],
    results: list[PlanRun],
    licences: pd.DataFrame,
    n: int,
) -> pd.DataFrame:
    growth = sc.traffic.headcount_growth_per_month
    rows = []
    for m in months_of(sc):
        users = sum(headcount(g.count, growth, m.index) for g in sc.user_groups)
        for p in plans:
            here = (licences["plan"] == p) & (licences["month"] == m.label)
            lic = int(licences.loc[here, "fee_micros"].sum())
            charged = sum(r.charged_by_month.get(m.label, 0) for r in results if r.plan == p) / n
            total = lic + charged
            rows.append(
                {
                    "plan": p,
                    "month": m.label,
                    "users": users,
                    "month_share": m.fraction,
                    "licences_micros": lic,
                    "credits_mean_micros": round(charged),
                    "total_mean_micros": round(total),
                    "per_user_micros": round(total / users) if users else 0,
                    # A month only partly inside the horizon, scaled to a whole month.
                    "per_user_month_micros": round(total / (users * m.fraction)) if users else 0,
                }
            )
    return pd.DataFrame(rows)


def summary_lines(cmp: Comparison, folder: Path | None = None) -> list[str]:
    """Return the comparison as text: one line per plan, then the break-even (to the cent)."""
    cur = cmp.currency

    def money(v: Any) -> str:
        return f"{money_text(float(v)):>10}"

    lines = [
        f"ccsim compare: {cmp.name}, plans {', '.join(cmp.plans)} for groups "
        f"{', '.join(cmp.groups)}, {cmp.replications} replication(s), identical traffic: "
        f"{'yes' if cmp.identical_traffic else 'NO'}; per user-month in {cur}",
        f"  {'plan':22} {'licences':>10} {'calls':>10} {'total':>10} {'P(outage)':>10} "
        f"{'outage h':>9}",
    ]
    for r in cmp.summary.to_dict("records"):
        lines.append(
            f"  {r['plan']:22} {money(r['licences_per_user_month_micros'])} "
            f"{money(r['credits_per_user_month_micros'])} "
            f"{money(r['total_per_user_month_micros'])} "
            f"{percent_text(float(r['p_outage'])):>10} "
            f"{r['outage_hours_mean']:>9.1f}"
        )
    be = cmp.breakeven
    if be is not None:
        a, b = be.plans
        if be.minutes is None or be.cost_micros is None:
            lines.append(f"  {be.text()}")
        else:
            lines.append(
                f"  break-even {a} vs {b} (group {be.group}, {be.country}): "
                f"{be.minutes:,.1f} outbound minutes per user-month "
                f"({be.calls_per_user_day:.3g} calls per user-day), "
                f"{money_text(be.cost_micros, be.currency)} per user-month; "
                f"{a} is cheaper below, {b} above"
            )
    if folder is not None:
        lines.append(f"  results: {folder}/")
    return lines


__all__ = [
    "Comparison",
    "compare",
    "summary_lines",
]

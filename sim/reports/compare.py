"""``ccsim compare``: the same traffic rated under each calling plan, and the break-even.

What analysts ask: *what would this organisation pay on PAYG, Domestic or Domestic &
International plans?* Each plan is given to the compared user groups (their ``plan``
swapped, everything else kept), and every plan runs on the same replications. Random
streams are keyed by (seed, replication, stream, group, day) and never by a plan, so
every plan sees exactly the same calls (common random numbers); only their rating, the
balance and hence the outages differ. Per plan: licence fees (``sim.licences``), calls
charged (credits consumed, or the postpaid usage invoice) and outage exposure, in total,
per month and per user-month, with paired differences against the first plan.

The break-even between PAYG and a plan with included minutes is found numerically: one
user group (``users`` of them), its outbound calls only, postpaid billing (so no call is
refused for want of credit), at a range of ``calls_per_user_day``; the root of
``cost(plan) - cost(payg)`` per user-month is bracketed on a grid and refined by the
Illinois method, on common random numbers throughout. Under both plans, calls that are
not domestic are charged alike (the outbound table), so the break-even turns on domestic
minutes and the allowance.

``closed_form_breakeven`` is the check for the simple case: calls of a fixed whole number
of minutes, a Poisson number of them per user-month, an allowance per user (an unpooled
plan, or one user): ``fee_plan + overage_rate x E[(M - A)+] = fee_payg + payg_rate x E[M]``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sim.billing.policies import Admin, Postpaid, Recharge
from sim.core.errors import InputError
from sim.core.tables import write_table
from sim.core.units import MICROS_PER_UNIT, Micros, format_money
from sim.core.workers import map_tasks
from sim.engine import FUNDING, RunOutput, run_replication
from sim.engine.results import tables_of
from sim.reports.licences import (
    LicencePrices,
    PriceFileError,
    find_prices,
    licence_fees,
    user_months,
)
from sim.reports.publish import ReportFolder
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Funding, Scenario
from sim.telephony.calls import CALL_TYPES, CallType
from sim.telephony.plans import CALLING_PLANS
from sim.telephony.tariffs import TariffBook
from sim.traffic.settings import GroupTraffic

DEFAULT_PLANS = ("payg", "domestic", "international")
OUTBOUND_CALL_TYPES = frozenset(
    CALL_TYPES.index(ct)
    for ct in (
        CallType.USER_OUT,
        CallType.USER_OUT_CONF,
        CallType.USER_OUT_TRANSFER,
        CallType.USER_OUT_FORWARDING,
    )
)


def check_plans(plans: Sequence[str], where: str = "--plans") -> list[str]:
    """Return the plan names, refusing unknown ones and repeats with ``InputError``."""
    out = [p.strip() for p in plans if p.strip()]
    if not out:
        raise InputError(f"{where}: give at least one plan ({', '.join(CALLING_PLANS)})")
    for p in out:
        if p not in CALLING_PLANS:
            raise InputError(
                f"{where}: unknown plan {p!r} (allowed: {', '.join(sorted(CALLING_PLANS))})"
            )
    if len(set(out)) != len(out):
        raise InputError(f"{where}: a plan is listed twice: {', '.join(out)}")
    return out


def check_groups(scenario: Scenario, groups: Sequence[str] | None, where: str) -> list[str]:
    """Return the user groups to compare (default: all), refusing unknown names."""
    names = [g.name for g in scenario.user_groups]
    if not names:
        raise InputError(f"{where}: the scenario has no user groups to give plans to")
    if not groups:
        return names
    for g in groups:
        if g not in names:
            raise InputError(f"{where}: no user group {g!r} (user groups: {', '.join(names)})")
    return list(groups)


def with_plan(scenario: Scenario, plan: str, groups: Sequence[str] | None = None) -> Scenario:
    """Return the scenario with ``plan`` given to ``groups`` (default: every user group)."""
    chosen = set(groups) if groups else {g.name for g in scenario.user_groups}
    return replace(
        scenario,
        user_groups=tuple(
            replace(g, plan=plan) if g.name in chosen else g for g in scenario.user_groups
        ),
    )


def outbound_minutes(out: RunOutput) -> float:
    """Return the minutes of users' outbound calls served in a replication."""
    n_f = len(FUNDING)
    total_s = 0.0
    for _, _, seconds, _ in out.calls_summary:
        for ct in OUTBOUND_CALL_TYPES:
            total_s += float(seconds[ct * n_f : (ct + 1) * n_f].sum())
    return total_s / 60.0


def charged_by_month(out: RunOutput) -> dict[str, int]:
    """Return the calls charged in a replication, by local month of the charge."""
    start = out.scenario.calendar.start.date()
    months: dict[str, int] = {}
    for day, amounts in out.spend:
        month = (start + timedelta(days=day)).strftime("%Y-%m")
        months[month] = months.get(month, 0) + int(amounts.sum())
    return months


@dataclass
class PlanRun:
    """One replication of the scenario under one plan."""

    plan: str
    replication: int
    outcomes: pd.DataFrame
    charged_by_month: dict[str, int]


def plan_replication(
    scenario: Scenario, tariffs: TariffBook | None, replication: int, plan: str
) -> PlanRun:
    """Run one replication of a plan variant (a task for ``map_tasks``)."""
    out = run_replication(scenario, tariffs, replication)
    outcomes = tables_of(out)["outcomes"]
    outcomes.insert(0, "plan", plan)
    outcomes["first_attempts"] = out.calls_total - out.retries_total
    outcomes["outbound_minutes"] = outbound_minutes(out)
    return PlanRun(plan, replication, outcomes, charged_by_month(out))


# -- break-even ---------------------------------------------------------------------------


def breakeven_scenario(
    scenario: Scenario, group: str, plan: str, calls_per_user_day: float, users: int
) -> Scenario:
    """Return one group's outbound calling alone, on ``plan``, billed postpaid.

    ``users`` users of the group, its calling settings with ``calls_per_user_day``, no
    inbound calls, meetings, service numbers, conferencing or growth; postpaid billing
    without a hard cap, so that no call is refused for want of credit; calls charged at
    their start.
    """
    g = next(u for u in scenario.user_groups if u.name == group)
    gt = scenario.traffic.groups.get(group, GroupTraffic())
    calling = replace(gt.calling, calls_per_user_day=calls_per_user_day, inbound_per_user_day=0.0)
    one = replace(
        g,
        count=users,
        plan=plan,
        conferencing="none",
        conferencing_assigned=None,
        conferencing_purchased=None,
        dial_out_us_ca_unlimited=False,
    )
    traffic = replace(
        scenario.traffic,
        groups={group: GroupTraffic(calling=calling)},
        services={},
        headcount_growth_per_month=0.0,
        usage_growth_per_month=0.0,
    )
    # Charged at the start of each call: the same amounts, and every call started inside
    # the horizon is charged (with charges at the end, calls still running at the horizon
    # would be left out while their minutes count).
    return replace(
        scenario,
        funding=Funding(mode="postpaid", charge_at="start"),
        recharge=Recharge(policy="none"),
        admin=Admin(responds_to=()),
        postpaid=Postpaid(hard_cap=False),
        user_groups=(one,),
        service_numbers=(),
        traffic=traffic,
        sweep=None,
    )


def breakeven_point(
    scenario: Scenario, tariffs: TariffBook | None, replication: int
) -> tuple[float, int]:
    """Run one break-even replication: (outbound minutes, calls charged in micro-units)."""
    out = run_replication(scenario, tariffs, replication)
    return outbound_minutes(out), out.charged_total


@dataclass
class _Point:
    x: float
    minutes: float
    cost: dict[str, float]
    credits: dict[str, float]

    def diff(self, plans: tuple[str, str]) -> float:
        return self.cost[plans[1]] - self.cost[plans[0]]


@dataclass
class BreakEven:
    """The break-even between PAYG and a plan, and the costs behind it (per user-month)."""

    name: str
    group: str
    country: str
    plans: tuple[str, str]
    fees: dict[str, int]
    """Licence fee per user-month of each plan, micro-units."""
    currency: str
    users: int
    replications: int
    grid: pd.DataFrame
    """Per plan and ``calls_per_user_day``: outbound minutes, calls charged and cost per
    user-month (means over replications)."""
    minutes: float | None
    """Break-even outbound minutes per user-month (None: no crossing in the range)."""
    calls_per_user_day: float | None
    cost_micros: float | None
    """Cost per user-month at the break-even."""
    current_minutes: float | None
    """Outbound minutes per user-month at the scenario's own ``calls_per_user_day``."""
    note: str = ""

    def text(self) -> str:
        """Return a one-line answer."""
        a, b = self.plans
        cur = self.currency
        if self.minutes is None or self.cost_micros is None:
            return f"break-even {a} vs {b} (group {self.group}): {self.note}"
        return (
            f"break-even {a} vs {b} (group {self.group}, {self.country}): "
            f"{self.minutes:,.1f} outbound minutes per user-month "
            f"({self.calls_per_user_day:.3g} calls per user-day), "
            f"{self.cost_micros / MICROS_PER_UNIT:,.2f} {cur} per user-month; "
            f"{a} is cheaper below, {b} above"
        )


def breakeven(
    loaded: LoadedScenario,
    prices: LicencePrices,
    *,
    plan: str = "domestic",
    base: str = "payg",
    group: str | None = None,
    users: int = 200,
    replications: int = 2,
    points: int = 9,
    refine: int = 4,
    workers: int = 1,
) -> BreakEven:
    """Find the outbound minutes per user-month at which ``base`` and ``plan`` cost the same.

    Simulates ``breakeven_scenario`` for ``group`` (default: the first user group) with
    ``min(users, group size)`` users at a range of ``calls_per_user_day``; see the module
    notes. Raises ``InputError`` for an unknown group or plan.
    """
    sc = loaded.scenario
    check_plans([base, plan], "--breakeven-plan")
    if base == plan:
        raise InputError(f"--breakeven-plan: {plan!r} is the plan it is compared with")
    name = check_groups(sc, [group] if group else None, "--breakeven-group")[0]
    g = next(u for u in sc.user_groups if u.name == name)
    n_users = max(1, min(users, g.count) if g.count else users)
    gt = sc.traffic.groups.get(name, GroupTraffic())
    x0 = gt.calling.calls_per_user_day or 1.0
    plans = (base, plan)
    reps = list(range(replications))
    fees: dict[str, int] = {}
    um = 0.0
    for p in plans:
        s = breakeven_scenario(sc, name, p, 0.0, n_users)
        um = user_months(s)
        try:
            fees[p] = round(int(licence_fees(s, prices)["fee_micros"].sum()) / um)
        except PriceFileError as exc:
            raise InputError(str(exc)) from None
    points_done: dict[float, _Point] = {}

    def evaluate(xs: Sequence[float]) -> list[_Point]:
        todo = [x for x in xs if x not in points_done]
        tasks = [
            (breakeven_scenario(sc, name, p, x, n_users), loaded.tariffs, r)
            for x in todo
            for p in plans
            for r in reps
        ]
        results = map_tasks(breakeven_point, tasks, workers)
        k = 0
        for x in todo:
            cost: dict[str, float] = {}
            credits: dict[str, float] = {}
            minutes = 0.0
            for p in plans:
                chunk = results[k : k + len(reps)]
                k += len(reps)
                credits[p] = float(np.mean([c for _, c in chunk])) / um
                cost[p] = fees[p] + credits[p]
                if p == base:
                    minutes = float(np.mean([m for m, _ in chunk])) / um
            points_done[x] = _Point(x, minutes, cost, credits)
        return [points_done[x] for x in xs]

    zero, pilot = evaluate([0.0, x0])
    d0 = zero.diff(plans)
    note = ""
    bracket: tuple[_Point, _Point] | None = None
    if d0 <= 0:
        note = f"{plan} costs no more than {base} even with no calls: no break-even"
    else:
        slope = (pilot.diff(plans) - d0) / pilot.minutes if pilot.minutes > 0 else 0.0
        x_hi = 2 * x0 * (-d0 / slope) / pilot.minutes if slope < 0 else 4 * x0
        lo = 0.0
        for _ in range(4):
            evaluate(list(np.linspace(lo, x_hi, points)[1:]))
            bracket = _bracket(sorted(points_done.values(), key=lambda q: q.x), plans)
            if bracket is not None:
                break
            lo, x_hi = x_hi, 2 * x_hi
        if bracket is None:
            top = max(points_done.values(), key=lambda q: q.x)
            note = (
                f"{base} stays cheaper up to {top.minutes:,.0f} outbound minutes per "
                "user-month (the range simulated)"
            )
    minutes = x_star = cost_star = None
    if bracket is not None:
        a, b = bracket
        fa, fb = a.diff(plans), b.diff(plans)
        kept = 0  # +1: b kept by the last step, -1: a kept
        for _ in range(refine):
            x_new = a.x - fa * (b.x - a.x) / (fb - fa)
            if not a.x < x_new < b.x:
                break
            (q,) = evaluate([float(x_new)])
            fq = q.diff(plans)
            # Illinois: an end kept twice in a row has its weight halved.
            if fq > 0:
                a, fa = q, fq
                fb = fb / 2 if kept == 1 else fb
                kept = 1
            else:
                b, fb = q, fq
                fa = fa / 2 if kept == -1 else fa
                kept = -1
        da, db = a.diff(plans), b.diff(plans)
        w = da / (da - db)
        x_star = a.x + w * (b.x - a.x)
        minutes = a.minutes + w * (b.minutes - a.minutes)
        cost_star = a.cost[base] + w * (b.cost[base] - a.cost[base])
    grid = pd.DataFrame(
        [
            {
                "plan": p,
                "calls_per_user_day": q.x,
                "minutes_per_user_month": q.minutes,
                "licence_per_user_month_micros": fees[p],
                "credits_per_user_month_micros": round(q.credits[p]),
                "cost_per_user_month_micros": round(q.cost[p]),
            }
            for q in sorted(points_done.values(), key=lambda q: q.x)
            for p in plans
        ]
    )
    return BreakEven(
        name=loaded.name,
        group=name,
        country=g.usage_country,
        plans=plans,
        fees=fees,
        currency=sc.simulation.currency,
        users=n_users,
        replications=replications,
        grid=grid,
        minutes=minutes,
        calls_per_user_day=x_star,
        cost_micros=cost_star,
        current_minutes=pilot.minutes if gt.calling.calls_per_user_day else None,
        note=note,
    )


def _bracket(pts: list[_Point], plans: tuple[str, str]) -> tuple[_Point, _Point] | None:
    for a, b in itertools.pairwise(pts):
        if a.diff(plans) > 0 >= b.diff(plans):
            return a, b
    return None


def closed_form_costs(
    minutes: float,
    *,
    fee_payg: float,
    fee_plan: float,
    payg_rate: float,
    overage_rate: float,
    allowance_min: float,
    minutes_per_call: float,
) -> tuple[float, float]:
    """Return (PAYG cost, plan cost) per user-month in the simple case.

    ``M = minutes_per_call x N`` with ``N`` Poisson of mean ``minutes /
    minutes_per_call``: PAYG costs ``fee_payg + payg_rate x E[M]``, the plan
    ``fee_plan + overage_rate x E[(M - A)+]`` with ``A = allowance_min`` per user.
    Prices in any unit (per minute and per month alike).
    """
    mean_calls = minutes / minutes_per_call
    payg = fee_payg + payg_rate * minutes
    if mean_calls <= 0:
        return payg, fee_plan
    # E[(cN - A)+] = sum over n > A/c of (c n - A) P(N = n); the tail beyond is negligible.
    first = math.floor(allowance_min / minutes_per_call) + 1
    last = int(stats.poisson.ppf(1 - 1e-15, mean_calls)) + 10
    n = np.arange(first, max(first, last) + 1)
    excess = float(
        np.sum((minutes_per_call * n - allowance_min) * stats.poisson.pmf(n, mean_calls))
    )
    return payg, fee_plan + overage_rate * excess


def closed_form_breakeven(
    *,
    fee_payg: float,
    fee_plan: float,
    payg_rate: float,
    overage_rate: float,
    allowance_min: float,
    minutes_per_call: float,
    max_minutes: float = 100_000.0,
) -> float | None:
    """Return the minutes per user-month at which both cost the same (simple case).

    See ``closed_form_costs``; None when the plan is never cheaper below ``max_minutes``
    (or never dearer).
    """

    def diff(m: float) -> float:
        payg, plan = closed_form_costs(
            m,
            fee_payg=fee_payg,
            fee_plan=fee_plan,
            payg_rate=payg_rate,
            overage_rate=overage_rate,
            allowance_min=allowance_min,
            minutes_per_call=minutes_per_call,
        )
        return plan - payg

    if diff(0.0) <= 0 or diff(max_minutes) > 0:
        return None
    return float(optimize.brentq(diff, 0.0, max_minutes, xtol=1e-9))


# -- comparing plans on the scenario ------------------------------------------------------


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
    from sim.reports.licences import headcount, months_of

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


def write_comparison(
    cmp: Comparison,
    loaded: LoadedScenario,
    *,
    out: Path | None = None,
    workers: int = 1,
    command: Sequence[str] = (),
) -> Path:
    """Write a new run folder (atomically): tables, charts and the manifest."""
    from sim.reports.cost_plots import breakeven_figure, plans_figure

    with ReportFolder(out, f"{cmp.name}-compare") as folder:
        frames = [
            (cmp.summary, "plans"),
            (cmp.monthly, "plans_monthly"),
            (cmp.runs, "runs"),
            (cmp.licences, "licence_fees"),
        ]
        if cmp.breakeven is not None:
            frames.append((cmp.breakeven.grid, "breakeven"))
        for frame, name in frames:
            folder.add(*(p.name for p in write_table(frame, folder.staging, name)))
        (folder.staging / "plots").mkdir()
        plans_figure(cmp).savefig(folder.staging / "plots" / "plans.png")
        folder.add("plots/plans.png")
        be_info: dict[str, Any] | None = None
        if cmp.breakeven is not None:
            be = cmp.breakeven
            breakeven_figure(be).savefig(folder.staging / "plots" / "breakeven.png")
            folder.add("plots/breakeven.png")
            be_info = {
                "plans": list(be.plans),
                "group": be.group,
                "users": be.users,
                "replications": be.replications,
                "minutes_per_user_month": be.minutes,
                "calls_per_user_day": be.calls_per_user_day,
                "cost_per_user_month": None
                if be.cost_micros is None
                else format_money(Micros(round(be.cost_micros))),
                "licence_per_user_month": {p: format_money(Micros(f)) for p, f in be.fees.items()},
                "answer": be.text(),
            }
        return folder.finish(
            loaded,
            cmp.prices,
            {
                "kind": "compare",
                "plans": cmp.plans,
                "groups": cmp.groups,
                "replications": cmp.replications,
                "workers": workers,
                "identical_traffic": cmp.identical_traffic,
                "breakeven": be_info,
            },
            command,
        )


def summary_lines(cmp: Comparison, folder: Path | None = None) -> list[str]:
    """Return the comparison as text: one line per plan, then the break-even."""
    cur = cmp.currency

    def money(v: Any) -> str:
        return f"{format_money(Micros(int(v)), 2):>10}"

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
            f"{money(r['total_per_user_month_micros'])} {r['p_outage']:>10.0%} "
            f"{r['outage_hours_mean']:>9.1f}"
        )
    if cmp.breakeven is not None:
        lines.append(f"  {cmp.breakeven.text()}")
    if folder is not None:
        lines.append(f"  results: {folder}/")
    return lines


def run(
    loaded: LoadedScenario,
    plans: Sequence[str] = DEFAULT_PLANS,
    *,
    groups: Sequence[str] | None = None,
    replications: int | None = None,
    workers: int = 1,
    prices: LicencePrices | None = None,
    breakeven_plan: str | None = "domestic",
    breakeven_group: str | None = None,
    breakeven_users: int = 200,
    out: Path | None = None,
    progress: Callable[[float], None] | None = None,
    command: Sequence[str] = (),
) -> tuple[Path, Comparison]:
    """Compare plans (and find the PAYG break-even), then write a new run folder."""
    prices = prices or find_prices(loaded)
    cmp = compare(
        loaded,
        plans,
        groups=groups,
        replications=replications,
        workers=workers,
        prices=prices,
        progress=progress,
    )
    if breakeven_plan is not None:
        cmp.breakeven = breakeven(
            loaded,
            prices,
            plan=breakeven_plan,
            group=breakeven_group,
            users=breakeven_users,
            replications=max(2, min(cmp.replications, 4)),
            workers=workers,
        )
    return write_comparison(cmp, loaded, out=out, workers=workers, command=command), cmp


__all__ = [
    "DEFAULT_PLANS",
    "BreakEven",
    "Comparison",
    "PlanRun",
    "breakeven",
    "breakeven_scenario",
    "check_plans",
    "closed_form_breakeven",
    "closed_form_costs",
    "compare",
    "outbound_minutes",
    "plan_replication",
    "run",
    "summary_lines",
    "with_plan",
    "write_comparison",
]

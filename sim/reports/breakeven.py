"""The break-even between PAYG and a plan with included minutes, and its closed form.

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
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sim.billing.policies import Admin, Postpaid, Recharge
from sim.core.display import money_text
from sim.core.errors import InputError
from sim.core.workers import map_tasks
from sim.engine import run_replication
from sim.reports.licences import (
    LicencePrices,
    PriceFileError,
    licence_fees,
    user_months,
)
from sim.reports.plan_runs import check_groups, check_plans, outbound_minutes
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Funding, Scenario
from sim.telephony.tariffs import TariffBook
from sim.traffic.settings import GroupTraffic


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
            f"{money_text(self.cost_micros, cur)} per user-month; "
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
    progress: Callable[[int, int], None] | None = None,
) -> BreakEven:
    """Find the outbound minutes per user-month at which ``base`` and ``plan`` cost the same.

    Simulates ``breakeven_scenario`` for ``group`` (default: the first user group) with
    ``min(users, group size)`` users at a range of ``calls_per_user_day``; see the module
    notes. The root is first bracketed around the straight-line estimate from no calls
    and the group's own traffic (two levels); only when that fails is the grid of
    ``points`` levels run. ``progress(levels done, levels planned)`` is called as the
    search goes (the plan grows if the grid is needed). Raises ``InputError`` for an
    unknown group or plan.
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
    planned = [2 + 2 + refine]

    def evaluate(xs: Sequence[float]) -> list[_Point]:
        todo = [x for x in xs if x not in points_done]
        planned[0] = max(planned[0], len(points_done) + len(todo))
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
        if progress is not None:
            progress(len(points_done), planned[0])
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
        if slope < 0:  # around the straight-line estimate (x_hi / 2) first
            evaluate([0.6 * x_hi / 2, 1.5 * x_hi / 2])
            bracket = _bracket(sorted(points_done.values(), key=lambda q: q.x), plans)
        lo = 0.0
        for _ in range(0 if bracket is not None else 4):
            planned[0] += points - 1
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
                "currency": sc.simulation.currency,
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


__all__ = [
    "BreakEven",
    "breakeven",
    "breakeven_point",
    "breakeven_scenario",
    "closed_form_breakeven",
    "closed_form_costs",
]

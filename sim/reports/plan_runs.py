"""One replication of a scenario under one calling plan: what compare and break-even share.

Checking plan and group names, giving groups another plan, and running a replication
to its outcomes, outbound minutes and charges by month.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import pandas as pd

from sim.core.errors import InputError
from sim.engine import FUNDING, RunOutput, run_replication
from sim.engine.results import tables_of
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.telephony.calls import CALL_TYPES, CallType
from sim.telephony.plans import CALLING_PLANS
from sim.telephony.tariffs import TariffBook

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


def check_no_warm_up(loaded: LoadedScenario, report: str) -> None:
    """Refuse a scenario with ``simulation.warm_up``: reports date what they show.

    A forecast's invoices and a comparison's months are dated from the scenario's start;
    a warm-up would put months before it into them.
    """
    if loaded.scenario.simulation.warm_up > 0:
        raise InputError(
            f"{loaded.path}: simulation.warm_up: {report} dates its months from the start "
            "and cannot discard a warm-up; remove it (start from today's lots with "
            "funding.lots instead)"
        )


__all__ = [
    "DEFAULT_PLANS",
    "OUTBOUND_CALL_TYPES",
    "PlanRun",
    "charged_by_month",
    "check_groups",
    "check_no_warm_up",
    "check_plans",
    "outbound_minutes",
    "plan_replication",
    "with_plan",
]

"""Scenarios and a command-line parser for the report tests."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from sim.cli.reports import add_commands
from sim.scenario.loading import LoadedScenario
from tests.scenario_support import REPO, merge, small_tenant, write_scenario

TARIFFS = REPO / "scenarios" / "tariffs"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_commands(sub)
    return p


def busy_tenant(tmp: Path, **over: Any) -> LoadedScenario:
    """A small default tenant for 31 days that recharges often, with declines and top-ups."""
    data = merge(
        small_tenant(0.1),
        {
            "simulation": {"horizon": "31d", "name": "busy"},
            "funding": {"initial_funds": "100", "low_balance": "60"},
            "recharge": {"trigger": "60", "amount": "100"},
            "payment": {"decline_probability": 0.3},
            "admin": {"top_up": "50", "responds_to": ["recharge_failed", "balance_zero"]},
        },
    )
    return write_scenario(tmp, merge(data, over), "busy")


def postpaid_tenant(tmp: Path) -> LoadedScenario:
    """The small tenant on NCE/MCA postpaid billing for January and February."""
    data = merge(
        small_tenant(0.1),
        {
            "simulation": {"horizon": "59d", "name": "nce"},
            "funding": {"mode": "postpaid", "initial_funds": "0"},
            "postpaid": {"hard_cap": False},  # overage invoiced (the MCA default caps)
            "recharge": {"policy": "none"},
            "admin": {"top_up": "0", "responds_to": []},
        },
    )
    for key in ("low_balance",):
        data["funding"].pop(key, None)
    return write_scenario(tmp, data, "nce")


def one_group(
    tmp: Path,
    *,
    users: int,
    plan: str,
    calls_per_user_day: float,
    minutes_per_call: int = 3,
) -> LoadedScenario:
    """The simple case of the closed form: one US group, Poisson calls of whole minutes.

    Flat hourly profile and no holidays (so each user's monthly calls are Poisson with mean
    31 x calls_per_user_day in January), all domestic, every call exactly
    ``minutes_per_call`` minutes (no rounding), UTC.
    """
    data: dict[str, Any] = {
        "simulation": {
            "name": "one-group",
            "start": datetime(2026, 1, 1),
            "horizon": "31d",
            "time_zone": "UTC",
            "seed": 7,
        },
        "funding": {"mode": "postpaid", "initial_funds": "0"},
        "postpaid": {"hard_cap": False},  # overage invoiced (the MCA default caps)
        "recharge": {"policy": "none"},
        "admin": {"responds_to": []},
        "user_groups": [
            {"name": "staff", "count": users, "usage_country": "US", "plan": plan},
        ],
        "tariffs": {
            "outbound": str(TARIFFS / "sample-outbound.csv"),
            "toll_free": str(TARIFFS / "sample-tollfree.csv"),
            "dial_out": str(TARIFFS / "sample-dialout.csv"),
        },
        "traffic": {
            "groups": {
                "staff": {
                    "calling": {
                        "calls_per_user_day": calls_per_user_day,
                        "profile": "flat",
                        "rate_cv": 0.0,
                        "duration": {"kind": "constant", "mean": f"{minutes_per_call}m"},
                        "destinations": {"domestic": 1.0},
                    }
                }
            }
        },
    }
    return write_scenario(tmp, data, "one-group")

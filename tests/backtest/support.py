"""Scenarios for the back-test, runway and alert tests."""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from sim.cli.backtest import add_commands, dispatch
from sim.core.errors import InputError
from sim.scenario.loading import LoadedScenario
from tests.scenario_support import REPO, default_data, merge, write_scenario

TARIFFS = REPO / "scenarios" / "tariffs"


def payg_tenant(tmp: Path, users: int = 20, **over: Any) -> LoadedScenario:
    """A small PAYG tenant (no pools) with Poisson calls: rate_cv 0, so every week of a log
    is an independent draw of the same law the fit estimates."""
    data = default_data()
    data.pop("user_groups")
    data.pop("service_numbers")
    data["traffic"] = {"retry": data["traffic"]["retry"]}
    truth = {
        "simulation": {
            "name": "truth",
            "start": "2025-01-06T00:00:00",
            "horizon": "28d",
            "time_zone": "UTC",
            "seed": 11,
        },
        "user_groups": [
            {
                "name": "us-payg",
                "count": users,
                "usage_country": "US",
                "plan": "payg",
                "conferencing": "none",
            }
        ],
        "traffic": {
            "holidays": [],
            "groups": {
                "us-payg": {
                    "calling": {
                        "calls_per_user_day": 2.0,
                        "inbound_per_user_day": 0.0,
                        "rate_cv": 0.0,
                        "duration": {"kind": "lognormal", "mean": "3m", "cv": 1.0},
                        "destinations": {"domestic": 0.8, "international": 0.2},
                    }
                }
            },
        },
    }
    return write_scenario(tmp, merge(merge(data, truth), over), "truth")


def poisson_spend(
    tmp: Path, *, users: int, calls_per_user_day: float, funds: str
) -> LoadedScenario:
    """Constant-rate Poisson calls of one minute, each the same charge, no recharge.

    theory.md §4 with a constant charge c: the balance u is gone at the ceil(u / c)-th
    call, so the time to zero is Erlang(ceil(u / c), lambda). Charged at the call's start,
    one debit per call, UTC, flat profile, no holidays.
    """
    data: dict[str, Any] = {
        "simulation": {
            "name": "poisson",
            "start": "2026-01-05T00:00:00",
            "horizon": "30d",
            "time_zone": "UTC",
            "seed": 3,
            "debits": "per_call",
        },
        "funding": {
            "mode": "prepaid",
            "initial_funds": funds,
            "charge_at": "start",
            "portal_rules": False,
        },
        "recharge": {"policy": "none"},
        "admin": {"responds_to": []},
        "user_groups": [{"name": "staff", "count": users, "usage_country": "US", "plan": "payg"}],
        "tariffs": {
            "outbound": str(TARIFFS / "sample-outbound.csv"),
            "toll_free": str(TARIFFS / "sample-tollfree.csv"),
            "dial_out": str(TARIFFS / "sample-dialout.csv"),
        },
        "traffic": {
            "holidays": [],
            "groups": {
                "staff": {
                    "calling": {
                        "calls_per_user_day": calls_per_user_day,
                        "inbound_per_user_day": 0.0,
                        "profile": "flat",
                        "rate_cv": 0.0,
                        "duration": {"kind": "constant", "mean": "1m"},
                        "destinations": {"domestic": 1.0},
                    }
                }
            },
        },
    }
    return write_scenario(tmp, data, "poisson")


def run_cli(*argv: object) -> tuple[int, str, str]:
    """Run ``ccsim backtest`` as ``ccsim`` would: InputError -> one line on stderr, 2."""
    p = argparse.ArgumentParser(prog="ccsim")
    sub = p.add_subparsers(dest="command")
    add_commands(sub)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            args = p.parse_args([str(a) for a in argv])
        except SystemExit as exc:  # argparse: usage line and exit 2
            return int(exc.code or 0), out.getvalue(), err.getvalue()
        try:
            code = dispatch(args)
        except InputError as exc:
            print(exc, file=err)
            code = 2
    assert code is not None
    return code, out.getvalue(), err.getvalue()

"""Helpers for the call-log tests: scenarios, synthetic logs and a CLI runner."""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from sim.calllogs.synthetic import SyntheticLog, synthesize_log
from sim.cli.calllogs import add_commands, dispatch
from sim.core.errors import InputError
from sim.scenario.loading import LoadedScenario
from tests.scenario_support import default_data, merge, write_scenario

ROUND_TRIP: dict[str, Any] = {
    "simulation": {
        "name": "roundtrip",
        "start": "2026-01-05T00:00:00",  # a Monday; no DST change before March
        "horizon": "28d",
        "time_zone": "America/New_York",
        "seed": 4242,
    },
    "user_groups": [
        {
            "name": "us-staff",
            "count": 200,
            "usage_country": "US",
            "plan": "domestic",
            "conferencing": "standard",
        },
        {
            "name": "uk-sales",
            "count": 60,
            "usage_country": "GB",
            "plan": "payg",
            "conferencing": "standard",
        },
    ],
    "service_numbers": [
        {"name": "support", "kind": "call_queue", "number_type": "toll_free", "country": "US"}
    ],
    "traffic": {
        "holidays": [],
        "groups": {
            "us-staff": {
                "calling": {
                    "calls_per_user_day": 3.0,
                    "inbound_per_user_day": 2.0,
                    "rate_cv": 0.8,
                    "duration": {"kind": "lognormal", "mean": "3m", "cv": 1.2},
                    "destinations": {
                        "domestic": 0.90,
                        "zone_a": 0.05,
                        "international": 0.03,
                        "premium": 0.02,
                    },
                    "transfer_share": 0.02,
                    "forward_share": 0.03,
                },
                "meetings": {
                    "per_organiser_week": 1.5,
                    "dial_ins": 0.8,
                    "toll_free_share": 0.3,
                    "dial_outs": 0.4,
                    "dial_out_destinations": {
                        "domestic": 0.8,
                        "zone_a": 0.15,
                        "international": 0.05,
                    },
                },
            },
            "uk-sales": {
                "calling": {
                    "calls_per_user_day": 6.0,
                    "inbound_per_user_day": 3.0,
                    "rate_cv": 0.5,
                    "duration": {"kind": "lognormal", "mean": "4m", "cv": 1.0},
                    "destinations": {
                        "domestic": 0.85,
                        "zone_a": 0.10,
                        "international": 0.03,
                        "premium": 0.02,
                    },
                }
            },
        },
        "services": {
            "support": {
                "calls_per_day": 40,
                "profile": "contact_centre",
                "duration": {"kind": "lognormal", "mean": "5m", "cv": 1.0},
            }
        },
    },
}


def scenario_data(**over: Any) -> dict[str, Any]:
    """The default scenario's money settings with the round-trip tenant and traffic."""
    data = default_data()
    data.pop("user_groups")
    data.pop("service_numbers")
    data["traffic"] = {"retry": data["traffic"]["retry"]}
    return merge(merge(data, ROUND_TRIP), over)


def make_scenario(tmp: Path, name: str = "s", **over: Any) -> LoadedScenario:
    return write_scenario(tmp, scenario_data(**over), name)


def make_log(loaded: LoadedScenario, days: int | None = None, seed: int = 7) -> SyntheticLog:
    assert loaded.tariffs is not None
    return synthesize_log(loaded.scenario, loaded.tariffs, np.random.default_rng(seed), days=days)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ccsim")
    sub = p.add_subparsers(dest="command")
    add_commands(sub)
    return p


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run a call-log command as ``ccsim`` would: InputError -> one line on stderr, 2."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        args = parser().parse_args([str(a) for a in argv])
        try:
            code = dispatch(args)
        except InputError as exc:
            print(exc, file=err)
            code = 2
    assert code is not None
    return code, out.getvalue(), err.getvalue()

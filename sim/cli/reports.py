"""Command line of the reports: ``ccsim forecast`` and ``ccsim compare``.

``add_commands(subparsers)`` adds both to the ``ccsim`` parser; ``dispatch(args)`` runs
the one named in ``args.command`` and returns its exit code, or None for a command it does
not own. User errors are raised as ``sim.core.errors.InputError`` (one line naming the file or
option and what is allowed); ``sim.cli`` prints them and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.cli.args import add_output_options
from sim.cli.args import positive_int as _positive_int
from sim.cli.args import seed as _seed
from sim.core.errors import InputError
from sim.reports.licences import LicencePrices
from sim.scenario.loading import LoadedScenario, load_scenario

COMMANDS = ("forecast", "compare")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", metavar="SCENARIO", help="scenario .toml file")
    p.add_argument(
        "--replications",
        type=_positive_int,
        metavar="N",
        help="replications (default: simulation.replications)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="local worker processes (results do not depend on N)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="run folder to create (default: results/<scenario>-<kind>-<timestamp>); "
        "must not exist",
    )
    p.add_argument(
        "--prices",
        metavar="FILE",
        help="licence prices CSV (default: the illustrative scenarios/prices/sample-licences.csv)",
    )
    p.add_argument(
        "--horizon", metavar="DURATION", help='override simulation.horizon, e.g. "90d" or "6mo"'
    )
    p.add_argument("--seed", type=_seed, metavar="S", help="override simulation.seed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_output_options(p)


def add_commands(subparsers: Any) -> None:
    """Add ``forecast`` and ``compare`` to the ``ccsim`` sub-command parsers."""
    p_fc = subparsers.add_parser(
        "forecast",
        help="monthly invoices over the horizon (P10/P50/P90), licences included",
        description="Forecast the monthly invoices: one per settled recharge or manual "
        "purchase (prepaid credits) or monthly in arrears (NCE/MCA postpaid), plus licence "
        "fees; P10/P50/P90 across replications and expected forfeited funds by month.",
    )
    _common(p_fc)
    p_cmp = subparsers.add_parser(
        "compare",
        help="the same traffic under several calling plans, and the PAYG break-even",
        description="Give each plan to the user groups in turn (everything else kept) and "
        "run all on the same replications (identical calls): licence fees, calls charged "
        "and outages per plan, monthly and per user; and the break-even outbound minutes "
        "per user between PAYG and a plan with included minutes.",
    )
    _common(p_cmp)
    p_cmp.add_argument(
        "--plans",
        default="payg,domestic,international",
        metavar="LIST",
        help="comma-separated plans (default: payg,domestic,international)",
    )
    p_cmp.add_argument(
        "--groups",
        metavar="LIST",
        help="comma-separated user groups whose plan is swapped (default: all)",
    )
    p_cmp.add_argument(
        "--breakeven-plan",
        default="domestic",
        metavar="PLAN",
        help="plan whose break-even with payg is found (default: domestic)",
    )
    p_cmp.add_argument(
        "--breakeven-group",
        metavar="NAME",
        help="user group whose calling sets the break-even (default: the first)",
    )
    p_cmp.add_argument(
        "--breakeven-users",
        type=_positive_int,
        default=200,
        metavar="N",
        help="users simulated for the break-even (default: 200, at most the group's)",
    )
    p_cmp.add_argument("--no-breakeven", action="store_true", help="skip the break-even")


def _loaded(args: argparse.Namespace) -> tuple[LoadedScenario, LicencePrices]:
    from sim.core.units import UnitError, parse_months
    from sim.reports.licences import find_prices
    from sim.scenario.overrides import with_overrides

    loaded = load_scenario(args.scenario)
    horizon = args.horizon
    try:
        months = parse_months(horizon)
    except UnitError as exc:
        raise InputError(f"--horizon: {exc}") from None
    if months is not None:  # calendar months from this scenario's start, as in the file
        horizon = repr(loaded.scenario.calendar.add_months_s(0.0, months))
    loaded = with_overrides(loaded, horizon=horizon, seed=args.seed)
    return loaded, find_prices(loaded, args.prices)


def _forecast(args: argparse.Namespace) -> int:
    from sim.core.progress import share_bar
    from sim.reports import forecast
    from sim.reports.publish import run_forecast

    loaded, prices = _loaded(args)
    n = args.replications or loaded.scenario.simulation.replications
    bar, progress = share_bar(f"{loaded.name}: forecast, {n} replication(s)", not args.quiet)
    with bar:
        folder, fc = run_forecast(
            loaded,
            replications=n,
            workers=args.workers,
            prices=prices,
            out=Path(args.out) if args.out else None,
            progress=progress,
            command=["ccsim", *sys.argv[1:]],
        )
    if args.json:
        from sim.cli.summaries import emit, forecast_summary

        emit(forecast_summary(fc, folder))
        return 0
    for line in forecast.summary_lines(fc, folder):
        print(line)
    return 0


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _breakeven_progress(done: int, planned: int) -> None:
    """Say how far the break-even search has gone (on standard error)."""
    end = "\n" if done >= planned else ""
    print(f"\rbreak-even search: {done} of {planned} traffic levels", end=end, file=sys.stderr)


def _compare(args: argparse.Namespace) -> int:
    from sim.core.progress import share_bar
    from sim.reports import compare
    from sim.reports.plan_runs import check_groups, check_plans
    from sim.reports.publish import run_comparison

    loaded, prices = _loaded(args)
    plans = check_plans(_split(args.plans))
    groups = _split(args.groups) or None
    if not loaded.scenario.user_groups:  # nothing to compare, whatever --groups says
        raise InputError(f"{loaded.path}: the scenario has no user groups to give plans to")
    check_groups(loaded.scenario, groups, "--groups")
    if not args.no_breakeven:
        check_plans([args.breakeven_plan], "--breakeven-plan")
        if args.breakeven_plan == "payg":
            raise InputError("--breakeven-plan: give a plan with included minutes, not payg")
        if args.breakeven_group:
            check_groups(loaded.scenario, [args.breakeven_group], "--breakeven-group")
    n = args.replications or loaded.scenario.simulation.replications
    label = f"{loaded.name}: compare {len(plans)} plan(s) x {n} replication(s)"
    bar, progress = share_bar(label, not args.quiet)
    with bar:
        folder, cmp = run_comparison(
            loaded,
            plans,
            groups=groups,
            replications=n,
            workers=args.workers,
            prices=prices,
            breakeven_plan=None if args.no_breakeven else args.breakeven_plan,
            breakeven_group=args.breakeven_group,
            breakeven_users=args.breakeven_users,
            out=Path(args.out) if args.out else None,
            progress=progress,
            breakeven_progress=None if args.quiet else _breakeven_progress,
            command=["ccsim", *sys.argv[1:]],
        )
    if args.json:
        from sim.cli.summaries import compare_summary, emit

        emit(compare_summary(cmp, folder))
        return 0
    for line in compare.summary_lines(cmp, folder):
        print(line)
    return 0


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``forecast`` or ``compare``; return the exit code, or None for other commands."""
    command = getattr(args, "command", None)
    if command == "forecast":
        return _forecast(args)
    if command == "compare":
        return _compare(args)
    return None

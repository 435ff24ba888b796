"""Command ``ccsim backtest``: how often the forecast's bands hold on a recorded log.

``add_commands(subparsers)`` adds ``backtest``; ``dispatch(args)`` runs it and returns its
exit code, or None for another command. Bad input is raised as
``sim.core.errors.InputError`` (one line: file or option, what is allowed), which ``ccsim``
prints with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.calllogs.privacy import KEY_ENV
from sim.cli.args import EXIT_OK, add_output_options
from sim.cli.args import positive_int as _positive_int
from sim.cli.args import seed as _seed
from sim.cli.calllogs import recorded_command
from sim.core.errors import InputError
from sim.scenario.folders import check_new_folder

COMMANDS = ("backtest",)


def _days(text: str) -> int:
    """Parse a window such as ``8w`` or ``56d`` into whole days."""
    from sim.core.units import SECONDS_PER_DAY, UnitError, parse_duration

    try:
        seconds = float(parse_duration(text))
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    days = seconds / SECONDS_PER_DAY
    if days < 1 or days != int(days):
        raise argparse.ArgumentTypeError(f'expected whole days such as "8w" or "56d", got {text!r}')
    return int(days)


def add_commands(subparsers: Any) -> None:
    """Add ``backtest`` to the ``ccsim`` sub-command parsers."""
    from sim.calllogs.report import FORMATS

    p = subparsers.add_parser(
        "backtest",
        help="back-test the spend forecast on a call log: coverage, CRPS and bias of "
        "ccsim against seasonal naive and ETS",
        description="For each rolling origin, fit the tenant on the training window (as "
        "ccsim fit does, money settings from SCENARIO), forecast the test weeks by "
        "simulation and by two baselines (seasonal naive, ETS), and score each week "
        "against the log's charges: P10-P90 and P5-P95 coverage, CRPS, bias.",
    )
    p.add_argument("log", metavar="LOG", help="call log, or a call table from import-log")
    p.add_argument("scenario", metavar="SCENARIO", help="base scenario .toml (money, rates)")
    p.add_argument("--train", type=_days, default=56, metavar="DURATION",
                   help="training window before each origin (default 8w)")  # fmt: skip
    p.add_argument("--test", type=_days, default=28, metavar="DURATION",
                   help="test window after each origin, whole weeks (default 4w)")  # fmt: skip
    p.add_argument("--origins", type=_positive_int, default=4, metavar="N",
                   help="rolling origins, the last one a test window before the log's end "
                   "(default 4)")  # fmt: skip
    p.add_argument("--step", type=_days, default=7, metavar="DURATION",
                   help="between origins (default 1w)")  # fmt: skip
    p.add_argument("--replications", type=_positive_int, default=39, metavar="R",
                   help="ccsim runs per origin (default 39; P5-P95 needs >= 19)")  # fmt: skip
    p.add_argument("--ets-paths", type=_positive_int, default=1000, metavar="N",
                   help="simulated ETS paths per origin (default 1000)")  # fmt: skip
    p.add_argument("--seed", type=_seed, metavar="S", help="override simulation.seed")
    p.add_argument("--out", metavar="DIR", help="run folder to create (must not exist)")
    p.add_argument("--no-plots", action="store_true", help="skip the chart")
    p.add_argument("--format", choices=("auto", *FORMATS), default="auto",
                   help="log format (default: detected from the file)")  # fmt: skip
    p.add_argument("--key-file", metavar="FILE",
                   help="file holding the key of the pseudonyms "
                   f"(default: ${KEY_ENV} if set, else a random key per run)")  # fmt: skip
    p.add_argument("--salt", metavar="TEXT",
                   help="the key given on the command line (visible to other users of the "
                   "machine; prefer --key-file); recorded as <redacted>")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="print only the table")
    add_output_options(p)


def _backtest(args: argparse.Namespace) -> int:
    from sim.calllogs.backtest import BacktestSettings, backtest, summary_lines
    from sim.calllogs.backtest_report import write_backtest
    from sim.calllogs.privacy import load_key
    from sim.calllogs.reader import read_call_log
    from sim.calllogs.report import ImportOptions
    from sim.scenario.loading import load_scenario

    base = load_scenario(args.scenario)
    if base.tariffs is None:
        raise InputError(f"{args.scenario}: a back-test needs rate tables ([tariffs])")
    if base.scenario.funding.mode != "prepaid" and not args.quiet:
        print("note: postpaid scenario: recharges and balance are not scored", file=sys.stderr)
    settings = BacktestSettings(
        train_days=args.train,
        test_days=args.test,
        origins=args.origins,
        step_days=args.step,
        replications=args.replications,
        seed=args.seed,
        ets_paths=args.ets_paths,
    )
    if args.out:
        check_new_folder(Path(args.out))
    key, source = load_key(args.key_file, args.salt)
    # The actuals are scored against runs billed in the scenario's currency: rows in
    # another currency are bad rows, as for replay and reconcile.
    currency = base.scenario.simulation.currency
    options = ImportOptions(format=args.format, key=key, key_source=source, currency=currency)
    calls, report = read_call_log(args.log, options)
    if not len(calls):
        raise InputError(f"{args.log}: no call could be imported ({report.bad:,} bad rows)")

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"  origin {done + 1} of {total}" if done < total else "  scoring",
                  file=sys.stderr)  # fmt: skip

    result = backtest(calls, base, settings, progress)
    folder = write_backtest(
        result,
        base,
        args.log,
        report,
        out=Path(args.out) if args.out else None,
        plots=not args.no_plots,
        command=recorded_command(),  # with --salt's value <redacted>
    )
    if args.json:
        from sim.cli.summaries import emit, records

        emit(
            {
                "command": "backtest",
                "log": str(args.log),
                "folder": str(folder),
                "currency": result.meta.get("currency"),
                "caption": result.caption(),
                "summary": records(result.summary),
                "origins": records(result.table),
            }
        )
        return EXIT_OK
    for line in summary_lines(result, folder):
        print(line)
    return EXIT_OK


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``backtest``; None for other commands."""
    if getattr(args, "command", None) == "backtest":
        return _backtest(args)
    return None


__all__ = ["COMMANDS", "add_commands", "dispatch"]

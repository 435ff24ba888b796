"""Commands ``ccsim sweep`` and ``ccsim recommend``: grids of settings, and advice."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.cli.args import (
    EXIT_OK,
    add_output_options,
    check_rate_coverage,
    dask_address,
    executor_of,
    resumable_on_no_scheduler,
)
from sim.cli.args import positive_int as _positive_int
from sim.cli.args import share as _share
from sim.cli.args import workers as _workers
from sim.core.display import count_text, money_text, percent_text
from sim.core.errors import InputError
from sim.core.units import Micros, UnitError, parse_money
from sim.scenario.folders import RESULTS_ROOT, check_new_folder
from sim.scenario.loading import load_scenario


def _money(text: str) -> Micros:
    try:
        value = parse_money(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def add_commands(subparsers: Any) -> None:
    """Add ``sweep`` and ``recommend`` to the ``ccsim`` sub-parsers."""
    for name, text in (
        ("sweep", "run a grid of settings x replications and compare them"),
        ("recommend", "sweep, refine the close contenders and recommend a trigger and amount"),
    ):
        p = subparsers.add_parser(name, help=text)
        p.add_argument("scenario", metavar="SCENARIO", help="scenario .toml file")
        p.add_argument("--trigger", metavar="VALUES", help='e.g. "50:500:50" or "100,200"')
        p.add_argument("--amount", metavar="VALUES", help='e.g. "100:2000:100"')
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="PATH=VALUES",
            help="sweep a numeric setting by path, e.g. payment.decline_probability=0:0.2:0.1",
        )
        p.add_argument("--replications", type=_positive_int, metavar="N")
        p.add_argument(
            "--batch-size",
            type=_positive_int,
            metavar="N",
            help="replications per task (default: automatic)",
        )
        p.add_argument(
            "--workers",
            type=_workers,
            metavar="N",
            help="worker processes (default: one per core)",
        )
        p.add_argument("--serial", action="store_true", help="run in this process")
        p.add_argument(
            "--dask",
            type=dask_address,
            metavar="ADDRESS",
            help="run on Dask: a scheduler address (tcp://host:8786) or 'local'",
        )
        p.add_argument("--out", metavar="DIR", help="run folder to create (must not exist)")
        p.add_argument("--resume", metavar="RUN_DIR", help="finish an interrupted run")
        p.add_argument(
            "--bands",
            metavar="N,N,...",
            help="setting numbers (see variants.csv) whose balance bands to overlay "
            "(default: the recommended, the current, and both ends of the frontier: the "
            "cheapest with the fewest outages and the cheapest of all)",
        )
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        add_output_options(p)
        if name == "recommend":
            p.add_argument(
                "--max-outage",
                type=_share,
                metavar="P",
                help="target outage probability over the horizon, e.g. 1%%",
            )
            p.add_argument(
                "--annual-rate",
                type=_share,
                metavar="R",
                help="yearly cost of money tied up, e.g. 5%% (overrides costs.annual_rate)",
            )
            p.add_argument(
                "--indifference",
                type=_money,
                metavar="AMOUNT",
                help="the smallest difference in annual cost worth telling apart "
                "(default: sweep.indifference, 10)",
            )
            p.add_argument(
                "--refine-replications",
                type=_positive_int,
                metavar="N",
                help="replications added at each stage to the settings still undecided "
                "(default: half the first stage, at least 10)",
            )
            p.add_argument(
                "--robust",
                action="store_true",
                help="decide across futures sampled from [uncertainties] (robust advice)",
            )
            p.add_argument(
                "--futures",
                type=_positive_int,
                metavar="N",
                help="futures (robust; default: [uncertainties].futures)",
            )
            p.add_argument(
                "--criterion",
                choices=("expected", "worst-decile", "regret"),
                default="expected",
                help="robust criterion among settings meeting the target often enough "
                "(default: expected, the least expected annual cost)",
            )
            p.add_argument(
                "--min-share",
                type=_share,
                default=0.9,
                metavar="P",
                help="robust: least share of futures in which a setting must meet the target "
                "(default 90%%)",
            )
            p.add_argument(
                "--per-future",
                type=_positive_int,
                default=1,
                metavar="N",
                help="robust: replications per future (default 1)",
            )
            p.add_argument(
                "--max-replications",
                type=_positive_int,
                metavar="N",
                help="at most N replications per setting in all (default 3000); reaching it "
                "ends the selection without its guarantee, and the answer says so",
            )


def _sweep(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from tqdm import tqdm

    from sim.experiments import recommend

    if getattr(args, "robust", False) and args.replications is not None:
        raise InputError(
            "--replications: not used with --robust, which runs each future "
            "--per-future times (default 1)"
        )
    loaded = load_scenario(args.scenario)
    check_rate_coverage(loaded)  # before any folder: a batch would stop on such a call
    refine = args.command == "recommend"
    settings = recommend.settings_from_cli(loaded, args.trigger, args.amount, args.set)
    sweep = recommend.sweep_settings(
        loaded,
        args.replications,
        batch_size=args.batch_size,
        max_outage=getattr(args, "max_outage", None),
        indifference=getattr(args, "indifference", None),
        refine_replications=getattr(args, "refine_replications", None),
        max_replications=getattr(args, "max_replications", None),
    )
    if refine and sweep.max_replications < sweep.replications:
        raise InputError(
            f"--max-replications: the cap per setting ({sweep.max_replications:,}) must be at "
            f"least the first stage (--replications or [sweep].replications, "
            f"{sweep.replications:,})"
        )
    executor = executor_of(args)
    if args.resume:
        folder = Path(args.resume)
        if not (folder / "manifest.json").exists():
            raise InputError(f"{folder}: not a sweep run folder (no manifest.json)")
    elif args.out:
        folder = Path(args.out)
        check_new_folder(folder)
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder = RESULTS_ROOT / f"{loaded.name}-{args.command}-{stamp}"
    try:
        bands_for = [int(x) for x in args.bands.split(",")] if args.bands else []
    except ValueError:
        raise InputError(
            f"--bands: expected setting numbers such as 0,4,7, got {args.bands!r}"
        ) from None
    bar = tqdm(
        total=0,
        desc=f"{loaded.name}: {args.command}",
        unit="batch",
        disable=args.quiet or None,
        file=sys.stderr,
    )

    shown = {"stage": ""}

    def progress(done: int, total: int, stage: str = "") -> None:
        if bar.total != total or shown["stage"] != stage:
            shown["stage"] = stage
            bar.reset(total=total)
            bar.set_description(f"{loaded.name}: {stage or args.command}", refresh=False)
        bar.update(done - bar.n)

    if getattr(args, "robust", False):
        with resumable_on_no_scheduler(folder):
            return _robust(args, loaded, settings, sweep, executor, folder, bar, progress)
    with bar, resumable_on_no_scheduler(folder):
        result, rec, grid = recommend.run(
            loaded,
            settings=settings,
            sweep=sweep,
            executor=executor,
            folder=folder,
            refine=refine,
            progress=progress,
            command=["ccsim", *sys.argv[1:]],
            bands_for=bands_for,
            costs=None
            if getattr(args, "annual_rate", None) is None
            else {"annual_rate": args.annual_rate},
            options=recommend.options_of_settings(args.trigger, args.amount, args.set),
        )
    if args.json:
        from sim.cli.summaries import emit, sweep_summary

        emit(sweep_summary(args.command, loaded, result, rec, grid, executor, folder))
        return EXIT_OK
    n_runs = len(result.runs)
    print(
        f"ccsim {args.command}: {loaded.name}, {count_text(len(grid.variants))} settings, "
        f"{count_text(n_runs)} runs ({executor.kind}, {executor.workers} worker(s))"
    )
    for line in rec.text:
        print(line)
    if args.verbose:
        labels = {v.variant: v.label for v in grid.variants}
        for line in setting_lines(rec.summary, labels, loaded.scenario.simulation.currency):
            print(line)
    print(f"results: {folder}/")
    return EXIT_OK


def setting_lines(summary: Any, labels: dict[int, str], currency: str) -> list[str]:
    """One line per setting (``-v``): replications, annual cost and P(outage)."""
    lines = ["  settings (annual cost: mean +/- standard error; P(outage) over the horizon):"]
    for r in summary.sort_values("annual_cost_micros").to_dict("records"):
        se = r.get("annual_cost_se_micros", float("nan"))
        lines.append(
            f"    {int(r['variant']):>3} {labels.get(int(r['variant']), ''):30} "
            f"{count_text(r['replications']):>6} replications, "
            f"{money_text(r['annual_cost_micros'], currency)} +/- {money_text(se, currency)}, "
            f"P(outage) {percent_text(r['p_outage'], 2)}"
        )
    return lines


def _robust(
    args: argparse.Namespace,
    loaded: Any,
    settings: dict[str, str],
    sweep: Any,
    executor: Any,
    folder: Path,
    bar: Any,
    progress: Any,
) -> int:
    from sim.experiments import recommend
    from sim.experiments.robust import run_robust

    with bar:
        result = run_robust(
            loaded,
            levers=settings,
            executor=executor,
            folder=folder,
            target=sweep.max_outage,
            futures=args.futures,
            replications=args.per_future,
            warm_up_s=float(sweep.warm_up),
            criterion=args.criterion,
            min_share=args.min_share,
            batch_size=args.batch_size or 0,
            progress=lambda done, total: progress(done, total, "futures"),
            command=["ccsim", *sys.argv[1:]],
            options=recommend.options_of_settings(args.trigger, args.amount, args.set),
        )
    if args.json:
        from sim.cli.summaries import emit, robust_summary

        emit(robust_summary(loaded, result, executor, folder))
        return EXIT_OK
    print(
        f"ccsim recommend --robust: {loaded.name}, {count_text(len(result.variants))} settings "
        f"x {count_text(len(result.futures))} futures, {count_text(len(result.runs))} runs "
        f"({executor.kind}, {executor.workers} worker(s))"
    )
    for line in result.text:
        print(line)
    print(f"results: {folder}/")
    return EXIT_OK


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``sweep`` or ``recommend``; None for other commands."""
    if args.command in ("sweep", "recommend"):
        return _sweep(args)
    return None

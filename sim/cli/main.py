"""Command line: ``ccsim validate`` and ``ccsim run``.

Bad input is reported as one line naming the file, the key and what is allowed, with
exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sim import __version__
from sim.cli.args import positive_int as _positive_int
from sim.cli.args import seed as _seed
from sim.cli.args import share as _share
from sim.core.errors import InputError
from sim.scenario.folders import RESULTS_ROOT
from sim.scenario.loading import load_scenario

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccsim",
        description="Discrete-event cost simulator for prepaid communications credits.",
    )
    parser.add_argument("--version", action="version", version=f"ccsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_validate = sub.add_parser("validate", help="check scenario files and summarise them")
    p_validate.add_argument("files", nargs="+", metavar="FILE", help="scenario .toml files")
    p_validate.add_argument("-q", "--quiet", action="store_true", help="print nothing if valid")

    p_theory = sub.add_parser(
        "validate-theory",
        help="compare the simulator with closed forms; write validation.md and a figure",
    )
    p_theory.add_argument(
        "--out", default="docs", metavar="DIR", help="folder for the report (default: docs)"
    )
    p_theory.add_argument("--quick", action="store_true", help="fewer replications")

    for name, text in (
        ("sweep", "run a grid of settings x replications and compare them"),
        ("recommend", "sweep, refine the close contenders and recommend a trigger and amount"),
    ):
        p = sub.add_parser(name, help=text)
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
            type=_positive_int,
            metavar="N",
            help="worker processes (default: one per core)",
        )
        p.add_argument("--serial", action="store_true", help="run in this process")
        p.add_argument(
            "--dask",
            metavar="ADDRESS",
            help="run on Dask: a scheduler address (tcp://host:8786) or 'local'",
        )
        p.add_argument("--out", metavar="DIR", help="run folder to create (must not exist)")
        p.add_argument("--resume", metavar="RUN_DIR", help="finish an interrupted run")
        p.add_argument(
            "--bands",
            metavar="N,N,...",
            help="setting numbers (see variants.csv) whose balance bands to overlay "
            "(default: recommended, current, safest and cheapest on the frontier)",
        )
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
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
                help="yearly cost of money tied up, e.g. 5%%",
            )
            p.add_argument(
                "--refine-replications",
                type=_positive_int,
                metavar="N",
                help="replications added to the close contenders (default: as many as screening)",
            )
            p.add_argument(
                "--max-replications",
                type=_positive_int,
                metavar="N",
                help="at most N replications per setting in all, refinement included "
                "(default 1000); a contender whose feasibility is in doubt gets what showing "
                "the target needs, up to N",
            )

    from sim.cli import calllogs as cli_calllogs
    from sim.cli import reports as cli_reports

    cli_reports.add_commands(sub)
    cli_calllogs.add_commands(sub)

    p_run = sub.add_parser("run", help="simulate a scenario and write a new run folder")
    p_run.add_argument("scenario", metavar="SCENARIO", help="scenario .toml file")
    p_run.add_argument(
        "--replications", type=_positive_int, metavar="N", help="override simulation.replications"
    )
    p_run.add_argument("--seed", type=_seed, metavar="S", help="override simulation.seed")
    p_run.add_argument(
        "--out",
        metavar="DIR",
        help="run folder to create (default: results/<scenario>-<timestamp>); must not exist",
    )
    p_run.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="run replications on N local processes (results do not depend on N)",
    )
    p_run.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p_run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _validate(files: Sequence[str], quiet: bool) -> int:
    status = EXIT_OK
    for name in files:
        try:
            loaded = load_scenario(name)
        except InputError as exc:
            print(exc, file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        if not quiet:
            print(f"{name}: OK ({loaded.name})")
            for line in loaded.scenario.describe():
                print(f"  {line}")
    return status


def _run(args: argparse.Namespace) -> int:
    from sim.experiments.runs import run_and_write

    loaded = load_scenario(args.scenario)
    folder, result = run_and_write(
        loaded,
        replications=args.replications,
        seed=args.seed,
        out=Path(args.out) if args.out else None,
        plots=not args.no_plots,
        show_progress=not args.quiet,
        workers=args.workers,
        command=["ccsim", *sys.argv[1:]],
    )
    from sim.experiments.runs import summary_lines

    for line in summary_lines(loaded, result, folder):
        print(line)
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from tqdm import tqdm

    from sim.experiments import recommend
    from sim.experiments.executors import Executor

    loaded = load_scenario(args.scenario)
    refine = args.command == "recommend"
    settings = recommend.settings_from_cli(loaded, args.trigger, args.amount, args.set)
    sweep = recommend.sweep_settings(
        loaded,
        args.replications,
        batch_size=args.batch_size,
        max_outage=getattr(args, "max_outage", None),
        annual_rate=getattr(args, "annual_rate", None),
        refine_replications=getattr(args, "refine_replications", None),
        max_replications=getattr(args, "max_replications", None),
    )
    if args.dask:
        executor = Executor("dask", args.workers, args.dask)
    elif args.serial:
        executor = Executor("serial", 1)
    else:
        executor = Executor("pool", args.workers)
    if args.resume:
        folder = Path(args.resume)
        if not (folder / "manifest.json").exists():
            raise InputError(f"{folder}: not a sweep run folder (no manifest.json)")
    elif args.out:
        folder = Path(args.out)
        if folder.exists():
            raise InputError(f"{folder}: exists already; choose a new folder (nothing overwritten)")
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

    with bar:
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
        )
    n_runs = len(result.runs)
    print(
        f"ccsim {args.command}: {loaded.name}, {len(grid.variants)} settings, "
        f"{n_runs} runs ({executor.kind}, {executor.workers} worker(s))"
    )
    for line in rec.text:
        print(line)
    print(f"results: {folder}/")
    return EXIT_OK


def _validate_theory(args: argparse.Namespace) -> int:
    from sim.validation.checks import write_report

    report, checks = write_report(Path(args.out), quick=args.quick)
    for c in checks:
        mark = "ok " if c.ok else "OUT"
        print(
            f"{mark} {c.quantity:38s} theory {c.theory:10.5g}  simulated {c.simulated:10.5g}  "
            f"[{c.low:.5g}, {c.high:.5g}]  {c.parameters}"
        )
    inside = sum(c.ok for c in checks)
    print(f"{inside} of {len(checks)} within their 99.9 % intervals; report: {report}")
    return EXIT_OK if inside == len(checks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ccsim`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args.files, args.quiet)
        if args.command == "run":
            return _run(args)
        if args.command == "validate-theory":
            return _validate_theory(args)
        if args.command in ("sweep", "recommend"):
            return _sweep(args)
        from sim.cli import calllogs as cli_calllogs
        from sim.cli import reports as cli_reports

        for commands in (cli_reports, cli_calllogs):
            code = commands.dispatch(args)
            if code is not None:
                return code
    except InputError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover

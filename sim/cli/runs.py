"""Commands ``ccsim validate``, ``ccsim validate-theory``, ``ccsim run`` and ``ccsim clean``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.cli.args import EXIT_BAD_INPUT, EXIT_OK
from sim.cli.args import replications as _replications
from sim.cli.args import seed as _seed
from sim.cli.args import workers as _workers
from sim.core.errors import InputError
from sim.scenario.loading import load_scenario


def add_commands(subparsers: Any) -> None:
    """Add ``validate``, ``validate-theory`` and ``run`` to the ``ccsim`` sub-parsers."""
    p_validate = subparsers.add_parser("validate", help="check scenario files and summarise them")
    p_validate.add_argument("files", nargs="+", metavar="FILE", help="scenario .toml files")
    p_validate.add_argument("-q", "--quiet", action="store_true", help="print nothing if valid")

    p_theory = subparsers.add_parser(
        "validate-theory",
        help="compare the simulator with closed forms; write validation.md and a figure",
    )
    p_theory.add_argument(
        "--out", default="docs", metavar="DIR", help="folder for the report (default: docs)"
    )
    p_theory.add_argument("--quick", action="store_true", help="fewer replications")

    p_run = subparsers.add_parser("run", help="simulate a scenario and write a new run folder")
    p_run.add_argument("scenario", metavar="SCENARIO", help="scenario .toml file")
    p_run.add_argument(
        "--replications", type=_replications, metavar="N", help="override simulation.replications"
    )
    p_run.add_argument("--seed", type=_seed, metavar="S", help="override simulation.seed")
    p_run.add_argument(
        "--out",
        metavar="DIR",
        help="run folder to create (default: results/<scenario>-<timestamp>); must not exist",
    )
    p_run.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="run replications on N local processes (results do not depend on N)",
    )
    p_run.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p_run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p_clean = subparsers.add_parser(
        "clean", help="remove staging folders left by killed runs (default: in results/)"
    )
    p_clean.add_argument(
        "folders", nargs="*", metavar="DIR", help="folders holding run folders (default: results)"
    )
    p_clean.add_argument(
        "-n", "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )


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


def _clean(args: argparse.Namespace) -> int:
    from sim.scenario.folders import RESULTS_ROOT, clean_staging, stale_staging

    roots = [Path(f) for f in args.folders] or [RESULTS_ROOT]
    for root in roots:
        if not root.is_dir():
            raise InputError(f"{root}: no such folder")
        gone = stale_staging(root) if args.dry_run else clean_staging(root)
        verb = "would remove" if args.dry_run else "removed"
        for folder in gone:
            print(f"{verb} {folder}")
        print(f"{root}: {len(gone)} stale staging folder(s) {verb}")
    return EXIT_OK


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``validate``, ``validate-theory``, ``run`` or ``clean``; None for other commands."""
    if args.command == "validate":
        return _validate(args.files, args.quiet)
    if args.command == "validate-theory":
        return _validate_theory(args)
    if args.command == "run":
        return _run(args)
    if args.command == "clean":
        return _clean(args)
    return None

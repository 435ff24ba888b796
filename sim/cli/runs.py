"""Commands ``ccsim validate``, ``ccsim validate-theory``, ``ccsim run`` and ``ccsim clean``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.cli.args import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_output_options,
    check_rate_coverage,
    default_workers,
)
from sim.cli.args import replications as _replications
from sim.cli.args import seed as _seed
from sim.cli.args import workers as _workers
from sim.core.errors import InputError
from sim.scenario.loading import LoadedScenario, load_scenario


def add_commands(subparsers: Any) -> None:
    """Add ``validate``, ``validate-theory`` and ``run`` to the ``ccsim`` sub-parsers."""
    p_validate = subparsers.add_parser("validate", help="check scenario files and summarise them")
    p_validate.add_argument("files", nargs="+", metavar="FILE", help="scenario .toml files")
    p_validate.add_argument("-q", "--quiet", action="store_true", help="print nothing if valid")
    add_output_options(p_validate)

    p_theory = subparsers.add_parser(
        "validate-theory",
        help="compare the simulator with closed forms; write validation.md and a figure",
    )
    p_theory.add_argument(
        "--out", default="docs", metavar="DIR", help="folder for the report (default: docs)"
    )
    p_theory.add_argument("--quick", action="store_true", help="fewer replications")
    add_output_options(p_theory)

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
        default=None,
        metavar="N",
        help="run replications on N local processes (default: one per core; results do "
        "not depend on N)",
    )
    p_run.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p_run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_output_options(p_run)

    p_clean = subparsers.add_parser(
        "clean", help="remove staging folders left by killed runs (default: in results/)"
    )
    p_clean.add_argument(
        "folders", nargs="*", metavar="DIR", help="folders holding run folders (default: results)"
    )
    p_clean.add_argument(
        "-n", "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    add_output_options(p_clean)


def _end_line(loaded: LoadedScenario) -> str:
    """Where the horizon ends, in local time (calendar horizons are resolved by then)."""
    sc = loaded.scenario
    end = sc.calendar.to_datetime(sc.horizon_s)
    return f"ends {end:%Y-%m-%d %H:%M} {sc.simulation.time_zone} (start + horizon, local time)"


def _check_sweep_grid(loaded: Any) -> None:
    """Build every setting of ``[sweep].settings`` as ``ccsim sweep`` would (InputError)."""
    sweep = loaded.scenario.sweep
    if sweep is None or not sweep.settings:
        return
    from sim.experiments.recommend import make_grid

    make_grid(loaded, dict(sweep.settings), sweep.warm_up, None)


def _validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    checked: list[dict[str, Any]] = []
    for name in args.files:
        try:
            loaded = load_scenario(name)
            _check_sweep_grid(loaded)
            check_rate_coverage(loaded)
        except InputError as exc:
            print(exc, file=sys.stderr)
            status = EXIT_BAD_INPUT
            checked.append({"file": name, "ok": False, "error": str(exc)})
            continue
        sc = loaded.scenario
        if args.json:
            cal = sc.calendar
            checked.append(
                {
                    "file": name,
                    "ok": True,
                    "name": loaded.name,
                    "currency": sc.simulation.currency,
                    "start": cal.to_datetime(0.0).isoformat(),
                    "end": cal.to_datetime(sc.horizon_s).isoformat(),
                    "time_zone": sc.simulation.time_zone,
                    "horizon_s": sc.horizon_s,
                    "warm_up_s": float(sc.simulation.warm_up),
                    "replications": sc.simulation.replications,
                    "summary": sc.describe(),
                }
            )
        elif not args.quiet:
            print(f"{name}: OK ({loaded.name})")
            lines = sc.describe()
            for line in [*lines[:1], _end_line(loaded), *lines[1:]]:
                print(f"  {line}")
    if args.json:
        from sim.cli.summaries import emit

        emit({"command": "validate", "ok": status == EXIT_OK, "files": checked})
    return status


def _run(args: argparse.Namespace) -> int:
    from sim.experiments.runs import run_and_write, summary_lines

    loaded = load_scenario(args.scenario)
    workers = args.workers or default_workers()
    folder, result = run_and_write(
        loaded,
        replications=args.replications,
        seed=args.seed,
        out=Path(args.out) if args.out else None,
        plots=not args.no_plots,
        show_progress=not args.quiet,
        workers=workers,
        command=["ccsim", *sys.argv[1:]],
    )
    if args.json:
        from sim.cli.summaries import emit, run_summary

        emit(run_summary(loaded, result, folder) | {"workers": workers})
        return EXIT_OK
    lines = summary_lines(loaded, result, folder, verbose=args.verbose > 0)
    if args.verbose:
        lines.insert(-1, f"  ran on {workers} worker process(es)")
    for line in lines:
        print(line)
    return EXIT_OK


def _validate_theory(args: argparse.Namespace) -> int:
    from sim.validation.checks import write_report

    report, checks = write_report(Path(args.out), quick=args.quick)
    inside = sum(c.ok for c in checks)
    if args.json:
        from sim.cli.summaries import emit

        emit(
            {
                "command": "validate-theory",
                "report": str(report),
                "inside": inside,
                "checks": [
                    {
                        "ok": bool(c.ok),
                        "quantity": c.quantity,
                        "theory": c.theory,
                        "simulated": c.simulated,
                        "low": c.low,
                        "high": c.high,
                        "parameters": str(c.parameters),
                    }
                    for c in checks
                ],
            }
        )
        return EXIT_OK if inside == len(checks) else 1
    for c in checks:
        mark = "ok " if c.ok else "OUT"
        print(
            f"{mark} {c.quantity:38s} theory {c.theory:10.5g}  simulated {c.simulated:10.5g}  "
            f"[{c.low:.5g}, {c.high:.5g}]  {c.parameters}"
        )
    print(f"{inside} of {len(checks)} within their 99.9 % intervals; report: {report}")
    return EXIT_OK if inside == len(checks) else 1


def _clean(args: argparse.Namespace) -> int:
    from sim.scenario.folders import RESULTS_ROOT, clean_staging, stale_staging

    roots = [Path(f) for f in args.folders] or [RESULTS_ROOT]
    done: list[dict[str, Any]] = []
    for root in roots:
        if not root.is_dir():
            what = "not a folder" if root.exists() else "no such folder"
            raise InputError(f"{root}: {what}")
        gone = stale_staging(root) if args.dry_run else clean_staging(root)
        verb = "would remove" if args.dry_run else "removed"
        done.append({"folder": str(root), "dry_run": bool(args.dry_run), "staging": gone})
        if args.json:
            continue
        for folder in gone:
            print(f"{verb} {folder}")
        if args.dry_run:
            print(f"{root}: {len(gone)} stale staging folder(s) to remove (dry run)")
        else:
            print(f"{root}: {len(gone)} stale staging folder(s) removed")
    if args.json:
        from sim.cli.summaries import emit

        emit({"command": "clean", "roots": done})
    return EXIT_OK


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``validate``, ``validate-theory``, ``run`` or ``clean``; None for other commands."""
    if args.command == "validate":
        return _validate(args)
    if args.command == "validate-theory":
        return _validate_theory(args)
    if args.command == "run":
        return _run(args)
    if args.command == "clean":
        return _clean(args)
    return None

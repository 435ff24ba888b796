"""Command ``ccsim sensitivity``: Morris screening, then Sobol' indices of the uncertainties."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.cli.args import (
    EXIT_OK,
    MAX_SWEEP_REPLICATIONS,
    add_output_options,
    dask_address,
    executor_of,
    resumable_on_no_scheduler,
    whole_number,
)
from sim.cli.args import positive_int as _positive_int
from sim.cli.args import workers as _workers
from sim.scenario.folders import RESULTS_ROOT
from sim.scenario.loading import load_scenario


def add_commands(subparsers: Any) -> None:
    """Add ``sensitivity`` to the ``ccsim`` sub-parsers."""
    p = subparsers.add_parser(
        "sensitivity",
        help="what drives outages, annual cost and forfeits: Morris, then Sobol' indices",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario .toml with [uncertainties]")
    p.add_argument(
        "--n-base",
        type=_positive_int,
        default=64,
        metavar="N",
        help="Sobol' base sample, a power of two (default 64: N x (k + 2) points)",
    )
    p.add_argument(
        "--trajectories",
        type=whole_number(2, MAX_SWEEP_REPLICATIONS),  # Morris needs two
        default=10,
        metavar="N",
        help="Morris trajectories (default 10: N x (d + 1) points)",
    )
    p.add_argument(
        "--replications",
        type=_positive_int,
        default=4,
        metavar="N",
        help="replications per design point, the same at every point (default 4)",
    )
    p.add_argument(
        "--warm-up",
        default=None,
        metavar="DURATION",
        help="warm-up before the measured window (default: the [sweep] warm-up, a year)",
    )
    p.add_argument("--workers", type=_workers, metavar="N", help="worker processes")
    p.add_argument("--serial", action="store_true", help="run in this process")
    p.add_argument(
        "--dask",
        type=dask_address,
        metavar="ADDRESS",
        help="run on Dask: a scheduler address (tcp://host:8786) or 'local'",
    )
    p.add_argument("--out", metavar="DIR", help="run folder to create (must not exist)")
    p.add_argument("--resume", metavar="RUN_DIR", help="finish an interrupted study")
    p.add_argument(
        "--levers",
        action="store_true",
        help="also vary the [sweep] settings (each a choice among its swept values)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_output_options(p)


def _sensitivity(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from sim.core.errors import InputError
    from sim.core.schema import FieldError
    from sim.core.units import (
        SECONDS_PER_DAY,
        Seconds,
        UnitError,
        days_before,
        parse_duration,
        parse_months,
    )
    from sim.experiments.sensitivity_runs import run_sensitivity
    from sim.scenario.model import Sweep

    loaded = load_scenario(args.scenario)
    sweep = loaded.scenario.sweep or Sweep()
    try:
        months = parse_months(args.warm_up)
        if months is not None:
            warm_up = float(days_before(loaded.scenario.simulation.start, months) * SECONDS_PER_DAY)
        elif args.warm_up:
            warm_up = float(parse_duration(args.warm_up))
        else:
            warm_up = float(sweep.warm_up)
        replace(sweep, warm_up=Seconds(warm_up))  # the sweep's rule: whole days, 0-3660
    except UnitError as exc:
        raise InputError(f"--warm-up: {exc}") from None
    except FieldError as exc:  # the sweep's own rule for warm_up
        raise InputError(f"--warm-up: {exc.message}") from None
    executor = executor_of(args)
    if args.resume:
        folder = Path(args.resume)
    elif args.out:
        folder = Path(args.out)
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder = RESULTS_ROOT / f"{loaded.name}-sensitivity-{stamp}"
    bar = tqdm(
        total=0,
        desc=f"{loaded.name}: sensitivity",
        unit="batch",
        disable=args.quiet or None,
        file=sys.stderr,
    )

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)

    with bar, resumable_on_no_scheduler(folder):
        screening, folder = run_sensitivity(
            loaded,
            executor=executor,
            folder=folder,
            n_base=args.n_base,
            trajectories=args.trajectories,
            replications=args.replications,
            warm_up_s=warm_up,
            progress=progress,
            command=["ccsim", *sys.argv[1:]],
            resume=bool(args.resume),
            levers=args.levers,
        )
    if args.json:
        from sim.cli.summaries import emit, records

        emit(
            {
                "command": "sensitivity",
                "scenario": loaded.name,
                "folder": str(folder),
                "currency": loaded.scenario.simulation.currency,
                "inputs": [str(x) for x in screening.morris["input"].unique()],
                "kept": list(screening.kept),
                "morris": records(screening.morris),
                "sobol": records(screening.sobol),
            }
        )
        return EXIT_OK
    print(
        f"ccsim sensitivity: {loaded.name}, inputs {', '.join(screening.morris['input'].unique())}"
    )
    print(f"  Morris kept for Sobol': {', '.join(screening.kept) or 'none'}")
    table = screening.sobol
    for output in table["output"].unique():
        rows = table[table["output"] == output].sort_values("ST", ascending=False)
        shown = "; ".join(
            f"{r['input']} ST {r['ST']:.2f} +/- {r['ST_conf']:.2f} (S1 {r['S1']:.2f})"
            for r in rows.to_dict("records")
        )
        print(f"  {output}: {shown}")
    print(f"results: {folder}/")
    return EXIT_OK


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``sensitivity``; None for other commands."""
    if args.command == "sensitivity":
        return _sensitivity(args)
    return None

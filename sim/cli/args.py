"""Argument types (one clear message each) and exit codes shared by the command families.

Exit codes (``docs/errors.md``): 0 done; 1 a check found results outside their
intervals (``validate-theory``); 2 bad input (a file, a setting, an option); 3 an I/O
fault (permission, read-only or full disk, a folder that vanished); 130 interrupted
(Ctrl-C); 141 the output pipe was closed (``ccsim ... | head``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sim.core.errors import InputError
from sim.core.limits import (
    MAX_REPLICATIONS,
    MAX_SEED,
    MAX_SWEEP_REPLICATIONS,
    MAX_WORKERS,
)
from sim.experiments.executors import Executor, SchedulerUnreachableError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_IO = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """Return an argparse type accepting whole numbers from ``minimum`` to ``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text) if len(text) <= 30 and text.isascii() else minimum - 1
        except ValueError:
            value = minimum - 1
        if value < minimum or (maximum is not None and value > maximum):
            allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum:,}"
            raise argparse.ArgumentTypeError(
                f"expected a whole number {allowed}, got {text[:40]!r}"
            )
        return value

    return parse


positive_int = whole_number(1, MAX_SWEEP_REPLICATIONS)
replications = whole_number(1, MAX_REPLICATIONS)
workers = whole_number(1, MAX_WORKERS)
seed = whole_number(0, MAX_SEED)


def share(text: str) -> float:
    """Parse a share such as ``"1%"`` or ``0.01`` (from 0 up to, not including, 1)."""
    try:
        if not text.isascii():  # float() reads other scripts' digits
            raise ValueError(text)
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected a share such as "1%" or 0.01, got {text[:40]!r}'
        ) from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text[:40]!r}")
    return value


_DASK_ADDRESS = re.compile(
    r"^(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}\Z", re.ASCII
)


def dask_address(text: str) -> str:
    """Parse ``--dask``: ``local`` or a scheduler address with its port (``tcp://host:8786``)."""
    if text == "local":
        return text
    if _DASK_ADDRESS.match(text):
        port = int(text.rsplit(":", 1)[1])
        if 1 <= port <= 65535:
            return text
        raise argparse.ArgumentTypeError(f"port {port} is not a TCP port (1 to 65535)")
    raise argparse.ArgumentTypeError(
        f"expected 'local' or a scheduler address such as tcp://host:8786, got {text[:60]!r}"
    )


def default_workers() -> int:
    """One worker per core this process may run on (``sched_getaffinity``, else ``cpu_count``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def add_output_options(p: argparse.ArgumentParser, json: bool = True) -> None:
    """Add ``-v/--verbose`` and (for commands that print a summary) ``--json``."""
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more detail: per-replication or per-setting lines where there are any, "
        "and the elapsed time (on standard error)",
    )
    if json:
        p.add_argument(
            "--json",
            action="store_true",
            help="print the summary as one JSON object on standard output (money as "
            "decimal strings with a currency field, counts as integers) and nothing else",
        )


def executor_of(args: argparse.Namespace) -> Executor:
    """Return the executor a command's ``--dask``, ``--serial`` and ``--workers`` ask for.

    Options that contradict each other are refused (``InputError``) rather than one of
    them silently winning; so are ``--out`` and ``--resume`` together.
    """
    if getattr(args, "out", None) and getattr(args, "resume", None):
        raise InputError("--out and --resume: give one (--resume continues its own folder)")
    if getattr(args, "serial", False) and getattr(args, "dask", None):
        raise InputError("--serial and --dask: give one")
    if getattr(args, "serial", False) and (args.workers or 1) > 1:
        raise InputError("--serial and --workers: --serial runs in this process alone")
    if getattr(args, "dask", None):
        return Executor("dask", args.workers, args.dask)
    if args.serial:
        return Executor("serial", 1)
    return Executor("pool", args.workers)


@contextlib.contextmanager
def resumable_on_no_scheduler(folder: Path) -> Iterator[None]:
    """Say that an unreachable ``--dask`` scheduler left the folder resumable."""
    try:
        yield
    except SchedulerUnreachableError as exc:
        if not folder.exists():
            raise
        raise SchedulerUnreachableError(
            f"{exc}; {folder} keeps what is done: continue it with --resume {folder}"
        ) from None


def check_rate_coverage(loaded: Any) -> None:
    """Refuse rate tables without a row for some kind of call the traffic can make.

    ``validate``, and sweeps and recommendations before they make their folder.
    """
    from sim.engine.coverage import unpriced_call_kinds

    missing = unpriced_call_kinds(loaded.scenario, loaded.tariffs)
    if missing:
        shown = "; ".join(missing[:3])
        raise InputError(
            f"{loaded.path}: tariffs: {len(missing)} kind(s) of call the traffic can make "
            f"are priced by no rate-table row, e.g. {shown}; add the country, a zone or a "
            "'default' row"
        )

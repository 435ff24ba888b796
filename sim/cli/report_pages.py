"""Command line of the report page: ``ccsim report RUN_DIR``.

``add_commands(subparsers)`` adds the command; ``dispatch(args)`` runs it and returns its
exit code, or None for a command it does not own. It rebuilds ``report.html`` in a
finished run, sweep, recommendation, forecast or comparison folder from what the folder
holds (``sim.reports.html``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.cli.args import add_output_options
from sim.core.errors import InputError

COMMANDS = ("report",)


def add_commands(subparsers: Any) -> None:
    """Add ``report`` to the ``ccsim`` sub-command parsers."""
    p = subparsers.add_parser(
        "report",
        help="(re)build report.html in a finished results folder",
        description="Write report.html into a finished run, sweep, recommend, forecast or "
        "compare folder: the answer, the charts and the key tables on one self-contained page.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished results folder")
    add_output_options(p)


def dispatch(args: argparse.Namespace) -> int | None:
    """Run the ``report`` command; None for a command this family does not own."""
    if args.command not in COMMANDS:
        return None
    from sim.reports.html import write_report

    folder = Path(args.run_dir)
    if not folder.is_dir():
        what = "not a folder: give a run folder" if folder.exists() else "no such folder"
        raise InputError(f"{folder}: {what}")
    try:
        path = write_report(folder)
    except (ValueError, KeyError) as exc:  # a damaged or foreign table or text (not I/O)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(
            f"{folder}: cannot build a report: a table or text file of the folder is damaged "
            f"or not ccsim's ({type(exc).__name__}: {reason})"
        ) from None
    if args.json:
        from sim.cli.summaries import emit

        emit({"command": "report", "folder": str(folder), "report": str(path)})
        return 0
    print(f"ccsim report: {path}")
    return 0

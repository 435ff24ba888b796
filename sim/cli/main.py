"""The ``ccsim`` command: one parser, one module per command family, one error policy.

Bad input is reported as one line naming the file, the key and what is allowed, with
exit code 2 and no traceback; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sim.cli import analysis, calllogs, reports, runs, sweeps
from sim.cli.args import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from sim.core.errors import InputError
from sim.core.version import __version__

FAMILIES = (runs, sweeps, analysis, reports, calllogs)
"""The command families, in the order ``ccsim --help`` lists them."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccsim",
        description="Discrete-event cost simulator for prepaid communications credits.",
    )
    parser.add_argument("--version", action="version", version=f"ccsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in FAMILIES:
        family.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ccsim`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        for family in FAMILIES:
            code = family.dispatch(args)
            if code is not None:
                return code
    except InputError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover

"""Command line: ``ccsim validate`` and ``ccsim run``.

Bad input is reported as one line naming the file, the key and what is allowed, with
exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sim import __version__
from sim.io import InputError, load_scenario

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

    p_run = sub.add_parser(
        "run",
        help="run a scenario (for now: validate it and print its summary)",
    )
    p_run.add_argument("scenario", metavar="SCENARIO", help="scenario .toml file")
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


def _run(scenario: str) -> int:
    loaded = load_scenario(scenario)
    print(f"scenario {loaded.name} ({loaded.path}, sha256 {loaded.sha256[:12]})")
    for line in loaded.scenario.describe():
        print(f"  {line}")
    print("The simulation engine is not built yet: this run validated the scenario only.")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ccsim`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args.files, args.quiet)
        if args.command == "run":
            return _run(args.scenario)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover

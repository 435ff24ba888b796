"""The ``ccsim`` command: one parser, one module per command family, one error policy.

Every failure ends as one line on standard error and an exit code (``sim.cli.args``,
``docs/errors.md``): bad input 2 (file, key and what is allowed), an I/O fault 3 (the
path and what went wrong), Ctrl-C 130, a closed output pipe 141 (silently). No
traceback reaches the user for any of them.

``ccsim`` alone prints the help (the command list) on standard output and exits 0.
Every command takes ``-v/--verbose`` (its elapsed time on standard error, and more
lines where the command has them); the commands that print a summary take ``--json``
(``sim.cli.summaries``): one JSON object on standard output and nothing else there.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_early(signum: int, frame: object) -> None:
    """Ctrl-C while the command's modules load: one line, exit 130, nothing to undo."""
    os.write(2, b"interrupted\n")
    os._exit(130)


# The command's own process only (not a test importing this module, not a worker).
_EARLY = os.path.basename(sys.argv[0] if sys.argv else "") in ("ccsim", "__main__.py")
if _EARLY and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    import multiprocessing

    if multiprocessing.current_process().name == "MainProcess":  # set early in workers
        signal.signal(signal.SIGINT, _interrupted_early)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from concurrent.futures.process import BrokenProcessPool  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

from sim.cli import (  # noqa: E402
    analysis,
    backtest,
    calllogs,
    report_pages,
    reports,
    runs,
    sweeps,
)
from sim.cli.args import (  # noqa: E402
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_OK,
)
from sim.core.errors import InputError  # noqa: E402
from sim.core.units import cut  # noqa: E402
from sim.core.version import __version__  # noqa: E402
from sim.telephony.rating.rules import UnratableCallError  # noqa: E402

FAMILIES = (runs, sweeps, analysis, reports, report_pages, calllogs, backtest)
"""The command families, in the order ``ccsim --help`` lists them."""


class _Parser(argparse.ArgumentParser):
    """argparse with the error policy: one line, exit 2 (argparse prints its usage first).

    Subcommand parsers are made of the same class (``add_subparsers`` uses the parent's).
    Options are never abbreviated: ``--sal KEY`` would be the pseudonym key under a name
    that ``recorded_command`` does not redact, and a later option could change what an
    abbreviation means.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


_NEGATIVE = re.compile(r"-[0-9.]")


def _attach_negative_values(given: Sequence[str]) -> list[str]:
    """Join ``--option -1%`` into ``--option=-1%``, so the option's own check judges it.

    argparse takes a word that starts with a dash for an option unless it reads as a
    plain negative number, so ``--max-outage -1%`` failed with "expected one argument".
    """
    words = list(given)
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if w == "--":  # the rest are arguments, not options
            out.extend(words[i:])
            break
        if w.startswith("--") and "=" not in w and nxt is not None and _NEGATIVE.match(nxt):
            out.append(f"{w}={nxt}")
            i += 2
            continue
        out.append(w)
        i += 1
    return out


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ccsim",
        description="Discrete-event cost simulator for prepaid communications credits.",
    )
    parser.add_argument("--version", action="version", version=f"ccsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in FAMILIES:
        family.add_commands(sub)
    return parser


def describe_os_error(exc: OSError) -> str:
    """Return an I/O fault as one line: the path(s) and the system's reason."""
    if exc.strerror:
        reason = exc.strerror.lower()
    else:  # str(exc) would be "[Errno None] None: 'file'" once a filename is set
        reason = str(exc.args[0]) if exc.args else type(exc).__name__
    if exc.filename is not None and exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return f"I/O error: {reason}"


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr)


def _quiet_stdout() -> None:
    """Point standard output at /dev/null so the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _dispatch(args: argparse.Namespace) -> int:
    from sim.core.workers import keep_large_arrays_in_the_heap

    started = time.perf_counter()
    keep_large_arrays_in_the_heap()
    for family in FAMILIES:
        code = family.dispatch(args)
        if code is not None:
            sys.stdout.flush()  # a closed pipe shows here, inside the error policy
            if getattr(args, "verbose", 0):
                elapsed_s = time.perf_counter() - started
                _say(f"ccsim {args.command}: done in {elapsed_s:.1f} s (exit {code})")
            return code
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def _refuse_empty_values(args: argparse.Namespace, given: Sequence[str]) -> None:
    """Refuse an option or argument given as an empty text (``--out ""``).

    Left alone, an empty value reads as "not given" (output to the default folder, the
    scenario's own grid) or fails deep inside with a traceback.
    """
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            option = name.replace("_", "-")
            if any(w == f"--{option}" or w.startswith(f"--{option}=") for w in given):
                option = f"--{option}"
            raise InputError(f"{option}: empty; give a value or leave the option out")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ccsim`` command; returns the exit code."""
    if signal.getsignal(signal.SIGINT) is _interrupted_early:
        # From here Ctrl-C raises KeyboardInterrupt, so run folders clean up.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        parser = _parser()
        given = sys.argv[1:] if argv is None else list(argv)
        if not given:
            parser.print_help()
            sys.stdout.flush()
            return EXIT_OK
        args, unknown = parser.parse_known_args(_attach_negative_values(given))
        if unknown:  # named by the command, whose --help lists its options
            prog = f"ccsim {args.command}"
            words = " ".join(cut(w, 60) for w in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            parser.exit(
                EXIT_BAD_INPUT,
                f"{prog}: unrecognized arguments: {words}{more} (see {prog} --help)\n",
            )
        try:
            _refuse_empty_values(args, given)
            return _dispatch(args)
        except InputError as exc:
            _say(str(exc))
            return EXIT_BAD_INPUT
        except UnratableCallError as exc:  # a rate table without a row the traffic needs
            where = getattr(args, "scenario", None)
            _say(f"{where}: tariffs: {exc}" if where else f"tariffs: {exc}")
            return EXIT_BAD_INPUT
        except BrokenPipeError:
            raise
        except OSError as exc:
            _say(describe_os_error(exc))
            return EXIT_IO
        except BrokenProcessPool:
            _say("a worker process ended abruptly (killed, or out of memory)")
            return EXIT_IO
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE

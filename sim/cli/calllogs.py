"""Command line for call logs: ``import-log``, ``fit``, ``replay``, ``reconcile``, ``synth-log``.

``add_commands(subparsers)`` adds the five commands to ``ccsim``'s argparse subparsers;
``dispatch(args)`` runs one of them and returns its exit code, or None for a command it
does not own. User errors are raised as ``sim.core.errors.InputError`` (one line: file,
line/record, field, what is allowed), which ``ccsim`` prints with exit code 2.

The pseudonym key comes from ``--key-file``, ``--salt`` or the environment variable
``CCSIM_PSEUDONYM_KEY`` (random per run otherwise); the command line recorded in
manifests has the ``--salt`` value replaced with ``<redacted>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sim.calllogs.privacy import KEY_ENV, load_key
from sim.calllogs.reader import read_call_log, sidecar_paths, write_call_table
from sim.calllogs.report import FORMATS, MAX_DURATION_S, ImportOptions, ImportReport
from sim.cli.args import add_output_options, whole_number
from sim.cli.args import positive_int as _positive_int
from sim.cli.args import seed as _seed
from sim.core.codes import currency_error
from sim.core.errors import InputError
from sim.core.files import name_error
from sim.core.units import parse_money
from sim.scenario.folders import check_new_folder, tool_identity
from sim.scenario.loading import load_scenario

COMMANDS = ("import-log", "fit", "replay", "reconcile", "synth-log")

MAX_LOG_DAYS = 3660
"""Longest synthetic log (``synth-log --days``): ten years, as the longest warm-up."""


_TO_STDERR = {"on": False}  # --json: standard output carries only the JSON object


def _say(line: str = "") -> None:
    print(line, file=sys.stderr if _TO_STDERR["on"] else sys.stdout)


def _warn(line: str) -> None:
    print(f"WARNING: {line}", file=sys.stderr)


def _zone(text: str) -> tuple[str, str]:
    """Read ``COUNTRY=ZONE`` (``US=America/Chicago``)."""
    country, sep, zone = text.partition("=")
    if not sep or len(country.strip()) != 2 or not zone.strip():
        raise argparse.ArgumentTypeError(
            f"expected COUNTRY=ZONE such as US=America/Chicago, got {text!r}"
        )
    from sim.core.units import load_time_zone

    try:
        load_time_zone(zone.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return country.strip().upper(), zone.strip()


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date such as 2026-01-31, got {text!r}"
        ) from None


def _instant(text: str) -> datetime:
    """Read a UTC date or date-time (an offset, if given, is honoured)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date or date-time such as 2026-01-01 or 2026-01-01T05:00Z, got {text!r}"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _dates(text: str) -> list[date]:
    return [_date(t.strip()) for t in text.split(",") if t.strip()]


def _money(text: str) -> str:
    try:
        parse_money(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _nonnegative_money(text: str) -> str:
    _money(text)
    if parse_money(text) < 0:
        raise argparse.ArgumentTypeError(f"expected an amount >= 0, got {text[:40]!r}")
    return text


def _duration_s(text: str) -> float:
    """Read a duration bound: seconds (``86400``) or ``h:mm:ss``."""
    from sim.calllogs.convert import parse_duration_s

    try:
        value = parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration, got {text!r}")
    return value


def _import_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reading the log")
    g.add_argument(
        "--format",
        choices=("auto", *FORMATS),
        default="auto",
        help="log format (default: detected from the file)",
    )
    g.add_argument(
        "--strict", action="store_true", help="stop at the first bad row (exit 2) instead of "
        "counting and reporting bad rows"
    )  # fmt: skip
    g.add_argument(
        "--key-file",
        metavar="FILE",
        help="file holding the key of the pseudonyms (HMAC-SHA256 of users, numbers, call "
        "and conference ids); the same key gives the same pseudonyms across imports "
        f"(default: ${KEY_ENV} if set, else a random key per run)",
    )
    g.add_argument(
        "--salt",
        metavar="TEXT",
        help="the key given on the command line (visible to other users of the machine; "
        "prefer --key-file); recorded as <redacted>",
    )
    g.add_argument(
        "--currency",
        metavar="CODE",
        help="ISO 4217 currency of the rows to keep; rows in another are bad (default: the "
        "scenario's for replay and reconcile, else the first valid row's)",
    )
    g.add_argument(
        "--max-duration",
        type=_duration_s,
        default=MAX_DURATION_S,
        metavar="DURATION",
        help="longest call accepted, seconds or h:mm:ss; longer rows are bad (default "
        f"{MAX_DURATION_S:g} s = 24 h)",
    )
    g.add_argument(
        "--keep-personal-data",
        action="store_true",
        help="keep names, sign-in names, user ids and phone numbers in clear (default: "
        "pseudonymised on import)",
    )


def _mapping_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="PATTERN=GROUP|FILE",
        help="map calls to a user group or service number before the automatic mapping: "
        "CAPABILITY/COUNTRY (wildcards *), e.g. MCOPSTN1/US=us-staff or */GB=uk-sales, or "
        "user:PSEUDONYM=GROUP, or a FILE of such lines (or a mapping.csv of an earlier run); "
        "repeatable, first match wins; accepts plan changes and group sizes of the log",
    )
    p.add_argument(
        "--allow-remap",
        action="store_true",
        help="accept users priced on another plan than their log shows, and groups whose "
        "head count differs from the log's (sized to the log's users); default: exit 2",
    )


def _log_scenario_out(p: argparse.ArgumentParser, out_help: str) -> None:
    """Add the LOG and SCENARIO arguments and ``--out`` shared by replay and reconcile."""
    p.add_argument("log", metavar="LOG", help="call log, or a Parquet call table from import-log")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario .toml file")
    p.add_argument("--out", metavar="DIR", help=out_help)


def add_commands(subparsers: Any) -> None:
    """Add ``import-log``, ``fit``, ``replay`` and ``reconcile`` to ``ccsim``'s subparsers."""
    p = subparsers.add_parser(
        "import-log",
        help="import a PSTN call log (Graph JSON, Graph CSV, admin-center CSV) into a "
        "normalised, pseudonymised call table",
    )
    p.add_argument("log", metavar="LOG", help="call log file (.json, .csv, .gz, admin .zip)")
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="call table to create: .parquet (exact integer money) or .csv; must not exist",
    )
    p.add_argument(
        "--origin",
        type=_instant,
        metavar="TIME",
        help="UTC instant of start_s = 0 (default: 00:00 UTC of the first call's day)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    add_output_options(p)
    _import_options(p)

    p = subparsers.add_parser(
        "fit",
        help="fit user groups, service numbers and traffic to a call log; write a scenario "
        "and a fit report",
    )
    p.add_argument("log", metavar="LOG", help="call log, or a Parquet call table from import-log")
    p.add_argument("--out", required=True, metavar="FILE", help="scenario file to write")
    p.add_argument(
        "--base",
        metavar="SCENARIO",
        help="take simulation, funding, recharge, payment, admin and rate tables from this "
        "scenario (default: scenarios/default.toml)",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="fit report folder to create (default: results/fit-<name>-<timestamp>)",
    )
    p.add_argument(
        "--time-zone",
        metavar="TZ",
        help="IANA time zone of the scenario (its days, months and default window; default: "
        "the zone of the usage country with the most users, else the base scenario's)",
    )
    p.add_argument(
        "--zone",
        action="append",
        type=_zone,
        default=[],
        metavar="COUNTRY=TZ",
        help="time zone of the groups of a usage country (default: a table of one zone per "
        "country, e.g. US=America/New_York); repeatable",
    )
    p.add_argument(
        "--one-time-zone",
        action="store_true",
        help="read every group's profile in the scenario's time zone",
    )
    p.add_argument(
        "--holidays",
        type=_dates,
        default=[],
        metavar="DATES",
        help="comma-separated local dates to leave out of rates and profiles",
    )
    p.add_argument(
        "--from",
        dest="window_from",
        type=_instant,
        metavar="TIME",
        help="start of the observation window, UTC (default: local midnight of the first "
        "call's day in the scenario's zone, not before 00:00 UTC of that UTC day)",
    )
    p.add_argument(
        "--to",
        dest="window_to",
        type=_instant,
        metavar="TIME",
        help="end of the observation window, UTC, exclusive (default: local midnight after "
        "the last call, not after the end of its UTC day)",
    )
    p.add_argument("--name", metavar="NAME", help="simulation.name (default: the file's stem)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of the KS-test jitter")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    add_output_options(p)
    _import_options(p)

    p = subparsers.add_parser(
        "replay",
        help="run a scenario on the calls of a log (or on a block bootstrap of its weeks) "
        "and write a run folder",
    )
    _log_scenario_out(p, "run folder to create (default: results/<scenario>-replay-<timestamp>)")
    p.add_argument(
        "--replications", type=_positive_int, metavar="N", help="override simulation.replications"
    )
    p.add_argument("--seed", type=_seed, metavar="S", help="override simulation.seed")
    p.add_argument("--trigger", type=_money, metavar="AMOUNT", help="override recharge.trigger")
    p.add_argument("--amount", type=_money, metavar="AMOUNT", help="override recharge.amount")
    p.add_argument(
        "--first-day",
        type=_date,
        metavar="DATE",
        help="local date of the log replayed on the scenario's first day (default: the "
        "first call's); earlier calls are left out",
    )
    p.add_argument(
        "--align-weekdays",
        action="store_true",
        help="start from the first log day on the scenario start's weekday",
    )
    p.add_argument(
        "--bootstrap",
        action="store_true",
        help="instead of the log as recorded, resample whole recorded weeks over the "
        "scenario's horizon (a new draw per replication)",
    )
    p.add_argument(
        "--block-weeks",
        type=_positive_int,
        metavar="N",
        help="with --bootstrap: blocks of N consecutive weeks (default 1)",
    )
    p.add_argument(
        "--skip-unmapped",
        action="store_true",
        help="leave out calls that match no user group or service number (default: error)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_output_options(p)
    _mapping_options(p)
    _import_options(p)

    p = subparsers.add_parser(
        "reconcile",
        help="rate a log's calls with a scenario's plans and rate tables and compare them "
        "with the charges in the log",
    )
    _log_scenario_out(p, "folder to create (default: results/<scenario>-reconcile-<timestamp>)")
    p.add_argument(
        "--tolerance",
        type=_nonnegative_money,
        default="0.005",
        metavar="AMOUNT",
        help="largest difference per call still counted as matched (default 0.005: a charge "
        "rounded to the cent)",
    )
    p.add_argument(
        "--add-connection-charge",
        action="store_true",
        help="compare with charge + connectionCharge (default: charge is the total)",
    )
    p.add_argument(
        "--fail-on-difference",
        action="store_true",
        help="exit with code 1 unless every call matched",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    add_output_options(p)
    _mapping_options(p)
    _import_options(p)

    p = subparsers.add_parser(
        "synth-log",
        help="write a synthetic call log (known truth, fake identities) from a scenario's "
        "traffic, rated with its plans and rate tables",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario .toml file")
    p.add_argument(
        "--days",
        type=whole_number(1, MAX_LOG_DAYS),
        metavar="N",
        help=f"local days to simulate from the scenario's start, at most {MAX_LOG_DAYS:,} "
        "(default: its horizon)",
    )
    p.add_argument(
        "--format",
        choices=("graph-json", "graph-csv", "admin-csv"),
        default="graph-json",
        help="graph-json (getPstnCalls pages), graph-csv (pstnCallLogRow columns) or "
        "admin-csv (Teams admin center export); default graph-json",
    )
    p.add_argument(
        "--out", required=True, metavar="FILE", help="log file to create (.gz: gzip-compressed)"
    )
    p.add_argument(
        "--seed",
        type=_seed,
        metavar="S",
        help="seed of the traffic and of the fake identities (default: simulation.seed)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    add_output_options(p)


def _options(args: argparse.Namespace, currency: str | None = None, **extra: Any) -> ImportOptions:
    if args.currency is not None and (error := currency_error(args.currency)) is not None:
        raise InputError(f"--currency: {error}")
    key, source = load_key(args.key_file, args.salt)
    return ImportOptions(
        format=args.format,
        strict=args.strict,
        key=key,
        key_source=source,
        keep_personal_data=args.keep_personal_data,
        currency=args.currency or currency,
        max_duration_s=args.max_duration,
        **extra,
    )


def _load_calls(args: argparse.Namespace, currency: str | None = None) -> tuple[Any, ImportReport]:
    calls, report = read_call_log(args.log, _options(args, currency))
    if not len(calls):
        raise InputError(
            f"{args.log}: no call could be imported ({report.bad:,} bad rows, "
            f"{report.skipped:,} skipped)"
        )
    return calls, report


_SECRET_OPTIONS = ("--salt",)


def recorded_command(argv: list[str] | None = None) -> list[str]:
    """Return the command line to record, with secret option values ``<redacted>``."""
    words = list(sys.argv[1:] if argv is None else argv)
    out = ["ccsim"]
    hide = False
    for w in words:
        if hide:
            out.append("<redacted>")
            hide = False
        elif w in _SECRET_OPTIONS:
            out.append(w)
            hide = True
        elif any(w.startswith(f"{o}=") for o in _SECRET_OPTIONS):
            out.append(w.split("=", 1)[0] + "=<redacted>")
        else:
            out.append(w)
    return out


def _import_log(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    report = write_call_table(
        args.log,
        args.out,
        _options(args, origin=args.origin),
        manifest=tool_identity(recorded_command()),
    )
    if not args.quiet:
        for line in report.lines():
            _say(line)
        wall = time.perf_counter() - t0
        bad_path, manifest_path = sidecar_paths(args.out)
        _say(f"  wrote {args.out} ({report.imported:,} calls, {wall:.1f} s)")
        _say(f"  bad and skipped rows: {bad_path}; manifest: {manifest_path}")
    bad_path, manifest_path = sidecar_paths(args.out)
    args.summary = {
        "command": "import-log",
        "output": str(args.out),
        "bad_rows": str(bad_path),
        "manifest": str(manifest_path),
        **report.summary(),
    }
    return 0


def _remap(args: argparse.Namespace, loaded: Any, mapped: Any) -> tuple[Any, list[str], list[str]]:
    """Refuse a silent remapping; return the scenario sized to the log, lines, items."""
    from sim.calllogs.mapping import find_remapping, require_faithful, with_log_headcounts

    rem = find_remapping(mapped, loaded.scenario)
    require_faithful(rem, args.log, allowed=bool(args.map) or args.allow_remap)
    return with_log_headcounts(loaded, rem), rem.lines(), rem.items()


def _fit(args: argparse.Namespace) -> int:
    import numpy as np

    from sim.calllogs.fit_report import write_fit_report
    from sim.calllogs.fitted_scenario import (
        copy_warnings,
        default_base,
        scenario_text,
        write_scenario_file,
    )
    from sim.calllogs.fitting import fit_calls, local_window, tenant_time_zone
    from sim.core.units import load_time_zone
    from sim.scenario.folders import RunFolder

    base_path = Path(args.base) if args.base else default_base()
    if base_path is None:
        raise InputError("fit: no base scenario: give --base SCENARIO")
    base = load_scenario(base_path)
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"{out}: is a directory; --out names the scenario file to write")
    if out.exists() and not args.force:
        raise InputError(f"{out}: exists already; choose a new file or give --force")
    if args.name is not None and (error := name_error(args.name)) is not None:
        raise InputError(f"--name: {error}")
    if args.report:  # checked again before writing
        check_new_folder(Path(args.report))
    calls, report = _load_calls(args)
    zones = dict(args.zone)
    time_zone = (
        args.time_zone or tenant_time_zone(calls, zones) or base.scenario.simulation.time_zone
    )
    try:
        load_time_zone(time_zone)
    except ValueError as exc:
        raise InputError(f"--time-zone: {exc}") from None
    window = None
    if args.window_from or args.window_to:
        lo, hi = local_window(calls, time_zone)
        window = (args.window_from or lo, args.window_to or hi)
        if window[1] <= window[0]:
            raise InputError(f"--from/--to: empty window {window[0]} to {window[1]}")
    fit = fit_calls(
        calls,
        time_zone=time_zone,
        holidays=args.holidays,
        window=window,
        rng=np.random.default_rng(args.seed),
        zones=zones,
        group_time_zones=not args.one_time_zone,
    )
    warnings = copy_warnings(base_path)
    if report.key_source.startswith("random"):
        warnings.append(
            "the pseudonym key is random for this import: service-number names and user "
            "pseudonyms will differ in a refit (give --key-file or $CCSIM_PSEUDONYM_KEY)"
        )
    for w in warnings:
        _warn(w)
    log_lines = report.lines(show=0)[:2]
    text = scenario_text(fit, base_path, out, log_lines=log_lines, name=args.name)
    report_dir = Path(args.report) if args.report else None
    if report_dir is not None:
        check_new_folder(report_dir)
    # The fitted scenario.toml stands in for the resolved one, and the manifest has no
    # base-scenario identity: the folder is written step by step, not with finish().
    with RunFolder(report_dir, f"fit-{out.stem}") as folder:
        folder.add(
            *write_fit_report(
                fit, folder.staging, report=report, plots=not args.no_plots, warnings=warnings
            )
        )
        folder.path("scenario.toml").write_text(text)
        folder.write_manifest(
            {
                **tool_identity(recorded_command()),
                "log": str(args.log),
                "base": str(base_path),
                "scenario_out": str(out),
                "time_zone": time_zone,
                "window": [w.isoformat() for w in fit.exposure.window],
                "holidays": [d.isoformat() for d in fit.holidays],
                "group_time_zones": {h.name: h.time_zone for h in fit.holders if h.time_zone},
                "warnings": warnings,
                "import": report.summary(),
            }
        )
        write_scenario_file(text, out, force=args.force)
        final = folder.publish()
    if not args.quiet:
        for line in report.lines(show=5):
            _say(line)
        for h in fit.holders:
            t = h.traffic
            if h.kind == "group":
                c = t.get("calling", {})
                m = t.get("meetings", {})
                _say(
                    f"  {h.name}: {h.users} users ({h.plan}, {h.conferencing}); "
                    f"{c.get('calls_per_user_day', 0):.3g} out + "
                    f"{c.get('inbound_per_user_day', 0):.3g} in per user-day, rate cv "
                    f"{c.get('rate_cv', 0):.3g}; meetings {m.get('per_organiser_week', 0):.3g} "
                    "per organiser-week"
                )
            else:
                _say(f"  {h.name}: {t.get('calls_per_day', 0):.3g} calls per day")
        for note in fit.notes:
            _say(f"  note: {note}")
        _say(f"  window: {fit.exposure.days:.2f} ordinary days; time zone {time_zone}")
        _say(f"  scenario: {out}")
        _say(f"  modelling choices and warnings: {final}/choices.txt")
        _say(f"  report: {final}/")
    args.summary = {
        "command": "fit",
        "scenario": str(out),
        "folder": str(final),
        "time_zone": time_zone,
        "window": [w.isoformat() for w in fit.exposure.window],
        "ordinary_days": fit.exposure.days,
        "holders": [{"name": h.name, "kind": h.kind, "users": h.users} for h in fit.holders],
        "warnings": warnings,
        "import": report.summary(),
    }
    return 0


def _refuse_unused_replay_options(args: argparse.Namespace) -> None:
    """Refuse replay options that the chosen mode would ignore (rather than ignore them)."""
    if args.bootstrap:
        if args.first_day is not None:
            raise InputError(
                "--first-day: not with --bootstrap, which resamples weeks of the whole log"
            )
        if args.align_weekdays:
            raise InputError(
                "--align-weekdays: not with --bootstrap, whose weeks start on the "
                "scenario's weekday already"
            )
    elif args.block_weeks is not None:
        raise InputError("--block-weeks: only with --bootstrap (blocks of recorded weeks)")


def _replay(args: argparse.Namespace) -> int:
    from sim.calllogs.mapping import map_calls, mapping_specs, parse_mapping, require_mapped
    from sim.calllogs.reconcile import replay_check
    from sim.calllogs.replay import replay_and_write, with_recharge
    from sim.experiments.runs import summary_lines

    _refuse_unused_replay_options(args)
    loaded = with_recharge(load_scenario(args.scenario), args.trigger, args.amount)
    if loaded.tariffs is None:
        raise InputError(f"{args.scenario}: replay needs rate tables ([tariffs])")
    rules = parse_mapping(mapping_specs(args.map), loaded.scenario)
    calls, report = _load_calls(args, loaded.scenario.simulation.currency)
    mapped = map_calls(calls, loaded.scenario, rules)
    require_mapped(mapped, args.log, args.skip_unmapped)
    loaded, remap_lines, remapped = _remap(args, loaded, mapped)
    folder, result, info = replay_and_write(
        loaded,
        mapped,
        report,
        args.log,
        mode="bootstrap" if args.bootstrap else "replay",
        replications=args.replications,
        seed=args.seed,
        out=Path(args.out) if args.out else None,
        plots=not args.no_plots,
        show_progress=not args.quiet,
        first_day=args.first_day,
        align_weekdays=args.align_weekdays,
        block_weeks=args.block_weeks or 1,
        command=recorded_command(),
        remapped=remapped,
    )
    lines = summary_lines(loaded, result, folder)
    lines[0] = lines[0].replace(
        "ccsim run:", f"ccsim {'replay --bootstrap' if args.bootstrap else 'replay'}:"
    )
    for line in report.lines(show=3):
        _say(line)
    check = replay_check(result, info, loaded)
    for line in lines[:-1] + info.lines() + remap_lines + check + lines[-1:]:
        _say(line)
    from sim.cli.summaries import run_summary

    args.summary = {
        **run_summary(loaded, result, folder),
        "command": "replay --bootstrap" if args.bootstrap else "replay",
        "check": [line.strip() for line in check],
        "import": report.summary(),
    }
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from sim.calllogs.mapping import map_calls, mapping_specs, parse_mapping
    from sim.calllogs.reconcile import reconcile, reconcile_and_write

    loaded = load_scenario(args.scenario)
    rules = parse_mapping(mapping_specs(args.map), loaded.scenario)
    calls, report = _load_calls(args, loaded.scenario.simulation.currency)
    mapped = map_calls(calls, loaded.scenario, rules)
    loaded, remap_lines, remapped = _remap(args, loaded, mapped)
    rec = reconcile(
        mapped,
        loaded,
        tolerance_micros=parse_money(args.tolerance),
        add_connection_charge=args.add_connection_charge,
    )
    folder = reconcile_and_write(
        rec,
        loaded,
        mapped,
        report,
        args.log,
        out=Path(args.out) if args.out else None,
        command=recorded_command(),
        remapped=remapped,
    )
    total = rec.summary[rec.summary["call_type"] == "all"].iloc[0]
    if not args.quiet:
        for line in report.lines(show=3):
            _say(line)
        _say(f"ccsim reconcile: {args.log} against {loaded.name} (tolerance {args.tolerance})")
        for line in remap_lines + rec.lines():
            _say(line)
    _say(
        f"  {rec.matched_share:.2%} matched: {int(total['matched']):,} of {int(total['calls']):,} "
        f"calls; {int(total['differing']):,} differing, {int(total['unratable']):,} unratable"
    )
    _say(f"  results: {folder}/")
    from sim.cli.summaries import records

    args.summary = {
        "command": "reconcile",
        "folder": str(folder),
        "currency": loaded.scenario.simulation.currency,
        "matched_share": float(rec.matched_share),
        "calls": int(total["calls"]),
        "matched": int(total["matched"]),
        "differing": int(total["differing"]),
        "unratable": int(total["unratable"]),
        "by_call_type": records(rec.summary),
        "import": report.summary(),
    }
    if args.fail_on_difference and int(total["matched"]) != int(total["calls"]):
        return 1
    return 0


def _synth_log(args: argparse.Namespace) -> int:
    import numpy as np

    from sim.calllogs.synthetic import synthesize_log, write_log
    from sim.scenario.overrides import with_overrides

    t0 = time.perf_counter()
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"{out}: is a directory; --out names the log file to write")
    if out.exists() and not args.force:
        raise InputError(f"{out}: exists already; choose a new file or give --force")
    if out.exists() and out.resolve() == Path(args.scenario).resolve():
        raise InputError(f"{out}: is the scenario file; --out names the log file to write")
    loaded = load_scenario(args.scenario)
    if loaded.tariffs is None:
        raise InputError(
            f"{args.scenario}: synth-log needs rate tables ([tariffs]) to charge calls"
        )
    horizon = f"{args.days}d" if args.days else None
    loaded = with_overrides(loaded, horizon=horizon, seed=args.seed)
    assert loaded.tariffs is not None
    seed = loaded.scenario.simulation.seed
    log = synthesize_log(
        loaded.scenario, loaded.tariffs, np.random.default_rng(seed), days=args.days
    )
    write_log(log.rows, out, args.format, force=args.force)
    if not args.quiet:
        total = int(log.truth["amount_micros"].sum())
        from sim.core.units import format_money

        _say(
            f"ccsim synth-log: {len(log.rows):,} calls over {log.days} days from "
            f"{loaded.name} (seed {seed}), {format_money(total)} "
            f"{loaded.scenario.simulation.currency} charged"
        )
        if log.dropped_blocked:
            _say(f"  {log.dropped_blocked:,} calls refused by a rule left out")
        _say(f"  wrote {out} ({args.format}, {time.perf_counter() - t0:.1f} s)")
    from sim.core.display import money_json

    args.summary = {
        "command": "synth-log",
        "output": str(out),
        "format": args.format,
        "calls": len(log.rows),
        "days": log.days,
        "seed": seed,
        "currency": loaded.scenario.simulation.currency,
        "charged": money_json(int(log.truth["amount_micros"].sum())),
    }
    return 0


HANDLERS = {
    "import-log": _import_log,
    "fit": _fit,
    "replay": _replay,
    "reconcile": _reconcile,
    "synth-log": _synth_log,
}


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a call-log command; return its exit code, or None if ``args.command`` is not one.

    ``--json`` prints the command's summary as one JSON object on standard output (the
    usual lines go to standard error); ``-v`` adds the elapsed time on standard error.
    """
    handler = HANDLERS.get(getattr(args, "command", None) or "")
    if handler is None:
        return None
    as_json = bool(getattr(args, "json", False))
    _TO_STDERR["on"] = as_json
    t0 = time.perf_counter()
    try:
        code = handler(args)
    finally:
        _TO_STDERR["on"] = False
    if as_json and getattr(args, "summary", None) is not None:
        from sim.cli.summaries import emit

        emit(args.summary)
    if getattr(args, "verbose", 0):
        print(f"{args.command}: done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return code


__all__ = ["COMMANDS", "add_commands", "dispatch"]

"""Replaying recorded calls: a scenario run on recorded traffic, written as a run folder.

``with_recharge`` overrides the scenario's recharge trigger and amount;
``replay_and_write`` runs the replications on ``RecordedTraffic`` (every replication the
same calls) or ``BootstrapTraffic`` (each its own weeks) and writes a run folder the way
``ccsim run`` does (``sim.scenario.folders``), with the mapping and the log's identity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from sim.calllogs.mapping import MappedCalls
from sim.calllogs.report import ImportReport
from sim.calllogs.traffic_sources import BootstrapTraffic, RecordedTraffic
from sim.calllogs.users import file_sha256
from sim.core.errors import InputError
from sim.core.schema import ConfigError, to_plain
from sim.core.units import SECONDS_PER_DAY, parse_money
from sim.engine import run_replication
from sim.engine.results import TABLES, RunResult, tables_of
from sim.reports.tables import write_typed_table
from sim.scenario.folders import RunFolder, scenario_identity
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.telephony.rating import (
    UnratableCallError,
)


def with_recharge(
    loaded: LoadedScenario, trigger: str | None = None, amount: str | None = None
) -> LoadedScenario:
    """Return the scenario with another recharge trigger and/or amount, re-validated."""
    if trigger is None and amount is None:
        return loaded
    if loaded.scenario.recharge.policy == "none":
        raise InputError(
            f"{loaded.path}: recharge.policy is 'none': --trigger and --amount need "
            "auto-recharge (policy fixed, target or multiples)"
        )
    plain = to_plain(loaded.scenario)
    recharge = plain.setdefault("recharge", {})
    for key, value in (("trigger", trigger), ("amount", amount)):
        if value is None:
            continue
        try:
            parse_money(value)
        except ValueError as exc:
            raise InputError(f"--{key}: {exc}") from None
        recharge[key] = value
    try:
        scenario = Scenario.from_dict(plain)
    except ConfigError as exc:
        key = exc.path.removeprefix("recharge.")
        if exc.path.startswith("recharge.") and key in ("trigger", "amount"):
            raise InputError(f"--{key}: {exc.message}") from None  # the value given
        raise InputError(f"{loaded.path}: with the overrides given: {exc}") from None
    return LoadedScenario(
        path=loaded.path, scenario=scenario, sha256=loaded.sha256, tariffs=loaded.tariffs
    )


@dataclass
class ReplayInfo:
    """What a replay used: the log, the mapping, and what it left out."""

    log: str
    report: ImportReport
    mapped: MappedCalls
    mode: Literal["replay", "bootstrap"]
    first_day: date | None = None
    dropped_before: int = 0
    beyond_horizon: int = 0
    source_weeks: list[list[str]] = field(default_factory=list)
    currency: str = ""
    log_days: int = 0
    horizon_days: int = 0
    shift_days: int = 0

    def lines(self) -> list[str]:
        """Return a short summary of the traffic used."""
        m = self.mapped
        out = [
            f"  traffic: {len(m.calls):,} recorded calls of {self.log} "
            + (
                f"replayed from {self.first_day} onwards"
                if self.mode == "replay"
                else "resampled by whole weeks (block bootstrap)"
            )
        ]
        if len(m.unmapped):
            out.append(f"  left out: {len(m.unmapped):,} calls matching no group (--skip-unmapped)")
        if self.dropped_before:
            out.append(f"  left out: {self.dropped_before:,} calls before {self.first_day}")
        if self.beyond_horizon:
            out.append(f"  left out: {self.beyond_horizon:,} calls beyond the horizon")
        if m.relocated:
            out.append(f"  {m.relocated:,} calls took their group's usage country (--map)")
        if self.mode == "replay" and self.log_days < self.horizon_days:
            out.append(
                f"  note: the log covers {self.log_days} days of the {self.horizon_days}-day "
                "horizon; later days have no calls (--bootstrap resamples weeks instead)"
            )
        others = sorted(set(self.report.currencies) - {self.currency, ""})
        if others:
            out.append(
                f"  note: the log's charges are in {', '.join(others)}; the scenario rates "
                f"in {self.currency}"
            )
        return out


def replay_and_write(
    loaded: LoadedScenario,
    mapped: MappedCalls,
    report: ImportReport,
    log: str | Path,
    *,
    mode: Literal["replay", "bootstrap"] = "replay",
    replications: int | None = None,
    seed: int | None = None,
    out: Path | None = None,
    plots: bool = True,
    show_progress: bool = True,
    first_day: date | None = None,
    align_weekdays: bool = False,
    block_weeks: int = 1,
    command: Sequence[str] = (),
    remapped: Sequence[str] = (),
) -> tuple[Path, RunResult, ReplayInfo]:
    """Run the scenario on recorded traffic and write a run folder like ``ccsim run``.

    ``replay``: every replication sees the same recorded calls (payment delays and
    declines still vary); ``bootstrap``: each replication draws its own weeks.
    ``remapped`` lists the plan substitutions and group sizes accepted (for the manifest).
    """
    from sim.core.progress import share_bar

    scenario = loaded.scenario
    if seed is not None:
        from sim.experiments.replications import with_seed

        scenario = with_seed(scenario, seed)
        loaded = LoadedScenario(loaded.path, scenario, loaded.sha256, loaded.tariffs)
    n = replications or scenario.simulation.replications
    seed_used = scenario.simulation.seed
    info = ReplayInfo(str(log), report, mapped, mode, currency=scenario.simulation.currency)
    info.horizon_days = math.ceil(scenario.horizon_s / SECONDS_PER_DAY)
    if mode == "replay":
        source0 = RecordedTraffic(
            mapped, scenario, first_day=first_day, align_weekdays=align_weekdays
        )
        info.log_days = (source0.library.last - source0.first_day).days + 1
        if info.log_days <= 0:
            raise InputError(
                f"--first-day {source0.first_day}: after the log's last call "
                f"({source0.library.last}); give a date the log covers"
            )
        info.first_day = source0.first_day
        info.dropped_before = source0.dropped_before
        info.beyond_horizon = source0.beyond_horizon
        info.shift_days = source0.shift_days

    def source_for(rep: int) -> RecordedTraffic | BootstrapTraffic:
        if mode == "replay":
            return source0
        src = BootstrapTraffic(
            mapped, scenario, seed=seed_used, replication=rep, block_weeks=block_weeks
        )
        info.source_weeks.append(
            [str(src.week0 + timedelta(weeks=int(w))) for w in src.source_week]
        )
        return src

    with RunFolder(out, f"{loaded.name}-{mode}") as folder:
        per_rep = []
        bar, progress = share_bar(f"{loaded.name}: {mode} x {n}", show_progress, n)
        with bar:
            for rep in range(n):
                progress.next()
                try:
                    output = run_replication(
                        scenario, loaded.tariffs, rep, progress, traffic=source_for(rep)
                    )
                except UnratableCallError as exc:
                    raise InputError(f"{loaded.path}: rate tables: {exc}") from None
                per_rep.append(tables_of(output))
        result = RunResult.from_tables(per_rep)
        for name in TABLES:
            written = write_typed_table(result[name], folder.staging, name)
            folder.add(*(p.name for p in written))
        written = write_typed_table(mapped.holders, folder.staging, "mapping", "replay")
        folder.add(*(p.name for p in written))
        report.write_bad_rows(folder.path("bad_rows.csv"))
        if mode == "bootstrap":
            weeks = pd.DataFrame(
                [
                    {"replication": r, "week": w, "recorded_week_start": s}
                    for r, starts in enumerate(info.source_weeks)
                    for w, s in enumerate(starts)
                ]
            )
            written = write_typed_table(weeks, folder.staging, "bootstrap_weeks", "replay")
            folder.add(*(p.name for p in written))
        if plots:
            from sim.reports.plots import plot_balance, plot_spend

            plot_balance(result.tables, scenario, folder.path("plots/balance.png"))
            plot_spend(result.tables, scenario, folder.path("plots/spend.png"))
        final = folder.finish(
            loaded,
            {
                "scenario": {**scenario_identity(loaded), "recharge": to_plain(scenario.recharge)},
                "mode": mode,
                "log": _log_manifest(log, report),
                "mapping": {
                    "calls": len(mapped.calls),
                    "unmapped_calls": len(mapped.unmapped),
                    "relocated_calls": mapped.relocated,
                    "remapped": list(remapped),
                },
                "first_day": str(info.first_day) if info.first_day else None,
                "dropped_before_first_day": info.dropped_before,
                "beyond_horizon": info.beyond_horizon,
                "block_weeks": block_weeks if mode == "bootstrap" else None,
                "replications": n,
            },
            command,
        )
    return final, result, info


def _log_manifest(log: str | Path, report: ImportReport) -> dict[str, Any]:
    """Return the manifest's ``log`` entry: the file, its hash and the import's counts."""
    p = Path(log)
    return {
        "file": str(p),
        "sha256": file_sha256(p) if p.is_file() else None,
        **report.summary(),
        "bad_rows_file": "bad_rows.csv",
    }


__all__ = [
    "ReplayInfo",
    "replay_and_write",
    "with_recharge",
]

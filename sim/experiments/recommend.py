"""``ccsim sweep`` and ``ccsim recommend``: settings compared, and one recommended.

The question planners bring: which auto-recharge trigger and amount keep the chance of
an outage under a target for the least money forfeited plus money tied up? A setting is
*feasible* when the Wilson upper bound of its outage probability over the horizon is at
or below the target; among feasible settings the recommendation minimises the expected
forfeited funds plus the cost of money tied up (annual rate x mean balance x years).
Screening runs every setting; refinement adds replications to the close contenders
(feasibility in doubt, or objective within two standard errors of the best) before
deciding, and the answer says how sure it is.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from sim.core.errors import InputError
from sim.core.schema import ConfigError, to_plain
from sim.core.units import MICROS_PER_UNIT, format_money
from sim.experiments.executors import Executor
from sim.experiments.sweeps import (
    SweepResult,
    Variant,
    auto_batch_size,
    bands,
    build_variants,
    collect,
    pareto_front,
    read_raw,
    replays_traffic,
    run_stage,
    summarise,
    write_table_atomic,
)
from sim.scenario.folders import run_identity
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Sweep


def _current_value(plain: dict[str, Any], path: str) -> str | None:
    node: Any = plain
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return str(node)


def _same(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except ArithmeticError:
        return a == b


@dataclass
class Grid:
    """The variants of a sweep and which one is the current (baseline) setting."""

    variants: list[Variant]
    baseline: int
    replay: bool


def make_grid(loaded: LoadedScenario, settings: dict[str, str]) -> Grid:
    """Build the variants; add the scenario's own setting as the baseline if missing."""
    raw = read_raw(loaded.path)
    for key, rel in (raw.get("tariffs") or {}).items():  # rate tables relative to the file
        if isinstance(rel, str) and not Path(rel).is_absolute():
            raw["tariffs"][key] = str(loaded.path.parent / rel)
    try:
        variants = build_variants(raw, settings)
    except (ConfigError, ValueError) as exc:
        raise InputError(f"{loaded.path}: sweep: {exc}") from None
    plain = to_plain(loaded.scenario)
    current = tuple((p, _current_value(plain, p)) for p in settings)
    for v in variants:
        if all(
            c is not None and _same(val, c)
            for (_, val), (_, c) in zip(v.values, current, strict=True)
        ):
            return Grid(variants, v.variant, replays_traffic(settings))
    scenario = replace(
        loaded.scenario, simulation=replace(loaded.scenario.simulation, debits="per_event")
    )
    base = Variant(len(variants), tuple((p, c or "") for p, c in current), scenario)
    return Grid([*variants, base], base.variant, replays_traffic(settings))


@dataclass
class Recommendation:
    """The chosen setting, how sure the choice is, and the tables behind it."""

    summary: pd.DataFrame
    front: list[int]
    chosen: int | None
    runner_up: int | None
    text: list[str]


def decide(
    summary: pd.DataFrame, grid: Grid, target: float, currency: str, confidence: float = 0.95
) -> Recommendation:
    """Pick the feasible setting with the least forfeited funds plus cost of money."""
    s = summary.set_index("variant")
    rows: dict[int, dict[str, Any]] = {
        int(r["variant"]): {str(c): x for c, x in r.items()} for r in summary.to_dict("records")
    }
    feasible = s[s["p_outage_high"] <= target].sort_values("objective_micros")
    front = pareto_front(summary)
    label = {v.variant: v.label for v in grid.variants}

    def money(micros: float) -> str:
        # Means over replications, not ledger amounts: shown to the cent.
        cents = round(micros / (MICROS_PER_UNIT // 100))
        return f"{format_money(cents * (MICROS_PER_UNIT // 100), 2)} {currency}"

    if feasible.empty:
        safest = int(s.sort_values(["p_outage_high", "objective_micros"]).index[0])
        row = rows[safest]
        clean = s[s["p_outage"] == 0]
        n = int(s["replications"].max())
        # With no outage in n runs the Wilson upper bound is about z^2 / (n + z^2).
        needed = needed_replications(target, confidence)
        text = [
            f"No setting keeps the outage probability under {target:.2%} at the confidence asked.",
            f"The safest is {label[safest]}: P(outage) {row['p_outage']:.2%} "
            f"(Wilson interval {row['p_outage_low']:.2%} to {row['p_outage_high']:.2%}).",
            (
                f"{len(clean)} setting(s) had no outage in {n} replications, but showing "
                f"P(outage) < {target:.2%} needs about {needed} replications per setting: "
                f"rerun with --max-replications {needed} (or raise --max-outage)."
                if len(clean)
                else "Try higher triggers or amounts, or more replications."
            ),
        ]
        return Recommendation(summary, front, None, None, text)
    best = int(feasible.index[0])
    row = rows[best]
    text = [
        f"Recommended: {label[best]}.",
        f"  P(outage over the horizon) {row['p_outage']:.2%}, Wilson interval "
        f"{row['p_outage_low']:.2%} to {row['p_outage_high']:.2%} (target {target:.2%}), "
        f"from {int(row['replications'])} replications.",
        f"  Expected forfeited funds {money(row['mean_forfeited_micros'])}, mean balance "
        f"(money tied up) {money(row['mean_mean_balance_micros'])}, objective "
        f"{money(row['objective_micros'])} +/- {money(row['objective_se_micros'])}.",
    ]
    runner = None
    if len(feasible) > 1:
        runner = int(feasible.index[1])
        r2 = rows[runner]
        diff = float(r2["objective_micros"] - row["objective_micros"])
        se = math.hypot(float(row["objective_se_micros"]), float(r2["objective_se_micros"]))
        sure = float(stats.norm.cdf(diff / se)) if se > 0 else 1.0
        text.append(
            f"  Runner-up: {label[runner]}, objective {money(diff)} higher; the chance that "
            f"it is really the better choice is about {1 - sure:.0%} (normal approximation)."
        )
    if grid.baseline != best:
        b = rows[grid.baseline]
        text.append(
            f"  Current setting ({label[grid.baseline]}): P(outage) {b['p_outage']:.2%}, "
            f"objective {money(b['objective_micros'])}; paired difference of the "
            f"recommendation against it: {money(row['diff_objective'])} "
            f"+/- {money(1.96 * row['diff_objective_se'])} (95 %)."
        )
    return Recommendation(summary, front, best, runner, text)


def needed_replications(target: float, confidence: float = 0.95) -> int:
    """Replications in which no outage shows P(outage) <= ``target`` (Wilson bound).

    With no outage in n runs the Wilson upper bound is z^2 / (n + z^2).
    """
    z2 = float(stats.norm.ppf(0.5 + confidence / 2)) ** 2
    return math.ceil(z2 * (1 - target) / target)


def refinement_size(summary: pd.DataFrame, chosen: Sequence[int], sweep: Sweep) -> int:
    """Replications to add to the contenders ``chosen`` after screening.

    ``refine_replications`` (default: as many as screening); when a contender's
    feasibility is in doubt, enough for a clean record to show the target; never more
    than ``max_replications`` per setting in all.
    """
    reps = sweep.replications
    total = reps + (sweep.refine_replications or reps)
    s = summary.set_index("variant").loc[list(chosen)]
    if (s["p_outage_high"] > sweep.max_outage).any():
        total = max(total, needed_replications(sweep.max_outage, sweep.confidence))
    return max(0, min(total, sweep.max_replications) - reps)


def contenders(summary: pd.DataFrame, target: float) -> list[int]:
    """Return the settings worth more replications: feasibility in doubt, or near the best."""
    s = summary.set_index("variant")
    doubtful = s[(s["p_outage_low"] <= target) & (s["p_outage_high"] > target)].index
    feasible = s[s["p_outage_high"] <= target]
    close: list[int] = []
    if not feasible.empty:
        best = feasible["objective_micros"].min()
        se = feasible["objective_se_micros"]
        close = list(feasible[feasible["objective_micros"] <= best + 2 * (se + se.min())].index)
    return sorted({int(v) for v in (*doubtful, *close)})


def run(
    loaded: LoadedScenario,
    *,
    settings: dict[str, str],
    sweep: Sweep,
    executor: Executor,
    folder: Path,
    refine: bool,
    progress: Any = None,
    command: list[str] | None = None,
    bands_for: Sequence[int] = (),
) -> tuple[SweepResult, Recommendation, Grid]:
    """Run (or resume) a sweep into ``folder`` and decide; write every table and plot."""
    grid = make_grid(loaded, settings)
    pick_for_bands(Recommendation(pd.DataFrame(), [], None, None, []), grid, bands_for)
    reps = sweep.replications
    size = sweep.batch_size or auto_batch_size(len(grid.variants), reps, executor.workers)
    manifest_path = folder / "manifest.json"
    manifest: dict[str, Any] = {
        **run_identity(loaded, command or []),
        "kind": "recommend" if refine else "sweep",
        "settings": settings,
        "seed": loaded.scenario.simulation.seed,
        "replications": reps,
        "refine_replications": sweep.refine_replications or reps,
        "max_replications": sweep.max_replications,
        "max_outage": sweep.max_outage,
        "annual_rate": sweep.annual_rate,
        "confidence": sweep.confidence,
        "batch_size": size,
        "variants": len(grid.variants),
        "replayed_traffic": grid.replay,
        "executor": executor.kind,
        "workers": executor.workers,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "running",
    }
    folder.mkdir(parents=True, exist_ok=True)
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        for key in (
            "scenario",
            "settings",
            "seed",
            "replications",
            "refine_replications",
            "max_replications",
            "batch_size",
            "kind",
        ):
            if old.get(key) != manifest.get(key):
                raise InputError(
                    f"{folder}: cannot resume: {key} differs from the interrupted run "
                    f"({old.get(key)!r} there, {manifest.get(key)!r} now)"
                )
        manifest["started_at"] = old.get("started_at", manifest["started_at"])
    _write_text_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    variants_table = pd.DataFrame(
        [
            {
                "variant": v.variant,
                "setting": v.label,
                **dict(v.values),
                "baseline": v.variant == grid.baseline,
            }
            for v in grid.variants
        ]
    )
    write_table_atomic(variants_table, folder, "variants")

    def stage(label: str) -> Any:
        # Tell the progress display which stage its batches belong to.
        return None if progress is None else (lambda done, total: progress(done, total, label))

    result = run_stage(
        folder,
        "screen",
        grid.variants,
        loaded.tariffs,
        range(reps),
        executor,
        size,
        grid.replay,
        stage(f"screening {len(grid.variants)} settings x {reps}"),
    )
    summary = summarise(result, grid.baseline, sweep.annual_rate, sweep.confidence)
    if refine:
        chosen = contenders(summary, sweep.max_outage)
        manifest["contenders"] = chosen
        extra = refinement_size(summary, chosen, sweep) if chosen else 0
        manifest["refined_with"] = extra
        if chosen and extra:
            keep = [v for v in grid.variants if v.variant in chosen]
            if grid.baseline not in chosen:
                keep.append(next(v for v in grid.variants if v.variant == grid.baseline))
            more = run_stage(
                folder,
                "refine",
                keep,
                loaded.tariffs,
                range(reps, reps + extra),
                executor,
                size,
                grid.replay,
                stage(f"refining {len(keep)} settings to {reps + extra}"),
            )
            parts = [result.balances[v.variant] for v in grid.variants]
            parts += [more.balances[v.variant] for v in keep]
            order_runs = pd.concat(
                [result.runs[result.runs["variant"] == v.variant] for v in grid.variants]
                + [more.runs[more.runs["variant"] == v.variant] for v in keep],
                ignore_index=True,
            )
            result = collect(grid.variants, order_runs, parts)
            summary = summarise(result, grid.baseline, sweep.annual_rate, sweep.confidence)
    rec = decide(
        summary, grid, sweep.max_outage, loaded.scenario.simulation.currency, sweep.confidence
    )
    write_outputs(folder, loaded, grid, result, rec, sweep, bands_for)
    manifest["status"] = "complete"
    manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    manifest["recommended_variant"] = rec.chosen
    _write_text_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return result, rec, grid


def write_outputs(
    folder: Path,
    loaded: LoadedScenario,
    grid: Grid,
    result: SweepResult,
    rec: Recommendation,
    sweep: Sweep,
    bands_for: Sequence[int] = (),
) -> None:
    """Write the per-run and per-setting tables, the bands, the answer and the plots."""
    from sim.reports.plots import plot_bands, plot_frontier, plot_heatmaps

    write_table_atomic(result.runs, folder, "runs")
    summary = rec.summary.copy()
    summary["feasible"] = summary["p_outage_high"] <= sweep.max_outage
    summary["on_frontier"] = summary["variant"].isin(rec.front)
    summary["recommended"] = summary["variant"] == rec.chosen
    write_table_atomic(summary, folder, "settings")
    picks = pick_for_bands(rec, grid, bands_for)
    band_table = pd.concat([bands(result, v) for v in sorted(picks)], ignore_index=True)
    all_bands = pd.concat([bands(result, v.variant) for v in grid.variants], ignore_index=True)
    write_table_atomic(all_bands, folder, "bands")
    # Plots are drawn in a scratch folder and moved in whole, one file at a time.
    scratch = folder / ".plots.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    currency = loaded.scenario.simulation.currency
    plot_heatmaps(summary, scratch, currency)
    plot_frontier(summary, rec, scratch / "frontier.png", currency, sweep.max_outage)
    labels = {v.variant: v.label for v in grid.variants}
    plot_bands(band_table, picks, labels, loaded.scenario, grid, scratch / "balance-bands.png")
    (folder / "plots").mkdir(exist_ok=True)
    for png in sorted(scratch.iterdir()):
        os.replace(png, folder / "plots" / png.name)
    scratch.rmdir()
    _write_text_atomic(folder / "recommendation.txt", "\n".join(rec.text) + "\n")


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def pick_for_bands(rec: Recommendation, grid: Grid, chosen: Sequence[int] = ()) -> dict[int, str]:
    """Return the settings to compare over the year.

    The ones asked for (variant numbers, see ``variants.csv``), or by default the
    recommended one, the current one, and the safest and cheapest ends of the frontier.
    """
    if chosen:
        known = {v.variant for v in grid.variants}
        missing = sorted(set(chosen) - known)
        if missing:
            raise InputError(
                f"--bands: no setting number {missing[0]} (settings are 0 to {max(known)}; "
                "see variants.csv)"
            )
        return {v: "setting" for v in chosen}
    picks: dict[int, str] = {}
    if rec.chosen is not None:
        picks[rec.chosen] = "recommended"
    picks.setdefault(grid.baseline, "current")
    if rec.front:
        picks.setdefault(rec.front[0], "safest on the frontier")
        picks.setdefault(rec.front[-1], "cheapest on the frontier")
    return picks


def settings_from_cli(
    loaded: LoadedScenario, trigger: str | None, amount: str | None, sets: list[str]
) -> dict[str, str]:
    """Merge ``--trigger``, ``--amount`` and ``--set PATH=VALUES`` over ``[sweep].settings``."""
    base = dict(loaded.scenario.sweep.settings) if loaded.scenario.sweep else {}
    cli: dict[str, str] = {}
    if trigger:
        cli["recharge.trigger"] = trigger
    if amount:
        cli["recharge.amount"] = amount
    for item in sets:
        path, sep, values = item.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise InputError(
                f"--set {item!r}: expected PATH=VALUES, e.g. recharge.trigger=50:500:50"
            )
        cli[path.strip()] = values.strip()
    settings = {**base, **cli}
    if not settings:
        raise InputError(
            f"{loaded.path}: nothing to sweep: add a [sweep] section with settings, or "
            "give --trigger/--amount/--set"
        )
    return settings


def sweep_settings(loaded: LoadedScenario, replications: int | None, **over: Any) -> Sweep:
    """Return the scenario's ``[sweep]`` (or defaults) with command-line overrides."""
    sweep = loaded.scenario.sweep or Sweep()
    changes = {k: v for k, v in over.items() if v is not None}
    if replications is not None:
        changes["replications"] = replications
    try:
        return replace(sweep, **changes)
    except ValueError as exc:
        raise InputError(f"{loaded.path}: sweep: {exc}") from None


__all__ = ["Grid", "Recommendation", "contenders", "decide", "make_grid", "run"]

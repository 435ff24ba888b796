"""``ccsim sweep`` and ``ccsim recommend``: settings compared, and one recommended.

The question planners bring: which auto-recharge trigger and amount keep the chance of
an outage under a target for the least money a year? Every setting's runs are costed by
the ``[costs]`` section (card charges, invoices, money tied up, forfeited funds, outages;
``sim.scenario.costs``), after the sweep's warm-up, so forfeits appear as in steady state.

``ccsim recommend`` selects with a stated guarantee: a fully sequential ranking-and-
selection procedure with a stochastic constraint (``sim.experiments.selection``) runs in
stages on common random numbers, checks each setting's outage probability against the
target and drops settings that are clearly dearer, until one remains. ``ccsim sweep``
runs every setting on the same replications and ranks them by their sample means, with
no guarantee.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.display import money_text
from sim.core.errors import InputError
from sim.core.schema import ConfigError, FieldError, to_plain
from sim.core.units import MICROS_PER_UNIT
from sim.experiments.executors import Executor
from sim.experiments.selection import ConstrainedSelection, SelectionResult, SelectionSettings
from sim.experiments.sweeps import (
    SweepResult,
    Variant,
    auto_batch_size,
    bands,
    build_variants,
    collect,
    current_values,
    matching_variant,
    pareto_front,
    raw_scenario,
    replays_traffic,
    resume_manifest,
    run_stage,
    scratch_folder,
    steady,
    summarise,
    wait_all,
    write_json_atomic,
    write_table_atomic,
)
from sim.reports.html import write_report
from sim.reports.tables import bands_table, settings_table
from sim.scenario.costs import COMPONENT_TITLES, COMPONENTS, annual_costs
from sim.scenario.folders import run_identity
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario, Sweep, expand_values
from sim.scenario.paths import PathError


@dataclass
class Grid:
    """The variants of a sweep, the current (baseline) setting, and which are on the grid."""

    variants: list[Variant]
    baseline: int
    replay: bool
    off_grid: int | None = None
    """The current setting when it is not one of the grid's (added to compare with)."""


def make_grid(
    loaded: LoadedScenario,
    settings: dict[str, str],
    warm_up_s: float = 0.0,
    costs: dict[str, Any] | None = None,
    options: Mapping[str, str] | None = None,
) -> Grid:
    """Build the variants (``sweeps.steady``); add the scenario's own setting if missing.

    ``costs`` overrides keys of the ``[costs]`` section (``--annual-rate``). ``options``
    maps the setting paths given on the command line to their option
    (``options_of_settings``): a value out of range is blamed on the option.
    """
    raw = raw_scenario(loaded.path)
    if costs:
        raw["costs"] = {**raw.get("costs", {}), **costs}
    try:
        variants = build_variants(raw, settings, warm_up_s)
        base_scenario = Scenario.from_dict({k: v for k, v in raw.items() if k != "sweep"})
    except (ConfigError, PathError) as exc:
        if options and exc.path in options:
            raise InputError(f"{options[exc.path]}: {exc.message}") from None
        raise InputError(f"{loaded.path}: sweep: {exc}") from None
    except ValueError as exc:
        raise InputError(f"{loaded.path}: sweep: {exc}") from None
    current = current_values(loaded.scenario, settings)
    found = matching_variant(variants, current)
    if found is not None:
        return Grid(variants, found, replays_traffic(settings))
    base = Variant(len(variants), current, steady(base_scenario, warm_up_s))
    return Grid([*variants, base], base.variant, replays_traffic(settings), base.variant)


@dataclass
class Recommendation:
    """The chosen setting, the guarantee behind it, and the tables."""

    summary: pd.DataFrame
    front: list[int]
    chosen: int | None
    text: list[str]
    selection: SelectionResult | None = None


def _money(micros: float, currency: str) -> str:
    # Means over replications, not ledger amounts: shown to the cent (sim.core.display).
    return money_text(micros, currency)


def _parts(row: dict[str, Any], currency: str) -> str:
    shown = [
        f"{COMPONENT_TITLES[p]} {_money(row[f'mean_cost_{p}_micros'], currency)}"
        for p in COMPONENTS
        if abs(row[f"mean_cost_{p}_micros"]) >= MICROS_PER_UNIT // 200
    ]
    return ", ".join(shown) or "nothing"


def trade_off(
    rec: dict[str, Any], cur: dict[str, Any], labels: tuple[str, str], currency: str
) -> str:
    """One sentence: what the recommended setting gains and gives up against the current.

    ``labels`` name the recommended and the current setting. Compares the yearly mean of
    card charges, then names the cost parts that differ most either way.
    """
    n_rec = rec.get("mean_card_charges", float("nan")) * 365.25 / rec["mean_horizon_days"]
    n_cur = cur.get("mean_card_charges", float("nan")) * 365.25 / cur["mean_horizon_days"]
    diffs = {p: rec[f"mean_cost_{p}_micros"] - cur[f"mean_cost_{p}_micros"] for p in COMPONENTS}
    more = [(d, p) for p, d in diffs.items() if d >= MICROS_PER_UNIT // 2]
    less = [(-d, p) for p, d in diffs.items() if d <= -(MICROS_PER_UNIT // 2)]
    said = []
    if more:
        d, p = max(more)
        said.append(f"{_money(d, currency)} more in {COMPONENT_TITLES[p]}")
    if less:
        less.sort(reverse=True)
        names = " and ".join(COMPONENT_TITLES[p] for _, p in less[:2])
        said.append(f"{_money(sum(d for d, _ in less[:2]), currency)} less in {names}")
    total = rec["annual_cost_micros"] - cur["annual_cost_micros"]
    gist = "; ".join(said) if said else "about the same in every part"
    return (
        f"{n_rec:,.0f} card charges a year with {labels[0]} instead of {n_cur:,.0f} with "
        f"{labels[1]}: {gist} ({_money(total, currency)} a year in all)."
    )


def describe_sweep(
    summary: pd.DataFrame, grid: Grid, target: float, currency: str
) -> Recommendation:
    """Rank a plain sweep's settings by their sample means (no guarantee is claimed)."""
    s = summary.set_index("variant")
    label = {v.variant: v.label for v in grid.variants}
    front = pareto_front(summary)
    ok = s[(s["p_outage_high"] <= target) & s["meets_constraints"]]
    n = int(s["replications"].max())
    if ok.empty:
        text = [
            f"No setting's outage probability is shown to be under {target:.2%} in {n} "
            "replications per setting (Wilson upper bounds).",
            "ccsim recommend runs as many replications as a decision with a stated "
            "guarantee needs.",
        ]
        return Recommendation(summary, front, None, text)
    best = int(ok.sort_values(["annual_cost_micros", "p_outage_high"]).index[0])
    row: dict[str, Any] = {str(k): v for k, v in s.loc[best].items()}
    text = [
        f"Cheapest by sample means among settings whose Wilson upper bound is under "
        f"{target:.2%}: {label[best]}, annual cost {_money(row['annual_cost_micros'], currency)}"
        f" +/- {_money(row['annual_cost_se_micros'], currency)} ({_parts(row, currency)}).",
        f"  From {n} replications per setting; no guarantee of selection is claimed: "
        "ccsim recommend gives one.",
    ]
    return Recommendation(summary, front, best, text)


def decide(
    summary: pd.DataFrame,
    grid: Grid,
    selection: SelectionResult,
    sweep: Sweep,
    currency: str,
) -> Recommendation:
    """Say what the selection procedure chose, its guarantee, and the trade-off."""
    s = summary.set_index("variant")
    rows = {
        int(r["variant"]): {str(c): x for c, x in r.items()} for r in summary.to_dict("records")
    }
    front = pareto_front(summary)
    label = {v.variant: v.label for v in grid.variants}
    spent = selection.replications
    total = sum(spent.values())
    counts = (
        f"{min(spent.values())} to {max(spent.values())} replications per setting, {total:,} in all"
    )
    zone = _money(float(sweep.indifference), currency)
    target, tol = sweep.max_outage, sweep.feasibility_tolerance
    if selection.chosen is None:
        text = [
            f"No setting was shown to keep the outage probability at most {target:.2%} "
            f"(tolerance {tol:.2%}) with confidence {sweep.confidence:.0%}.",
            f"  {counts}. Try higher triggers or amounts"
            + (", or raise --max-replications" if not selection.guaranteed else "")
            + ".",
        ]
        return Recommendation(summary, front, None, text, selection)
    best = selection.chosen
    row = rows[best]
    text = [
        f"Recommended: {label[best]}.",
        f"  Annual cost {_money(row['annual_cost_micros'], currency)} +/- "
        f"{_money(row['annual_cost_se_micros'], currency)}: {_parts(row, currency)}.",
        f"  P(outage over the horizon) {row['p_outage']:.2%} (Wilson interval "
        f"{row['p_outage_low']:.2%} to {row['p_outage_high']:.2%}; target {target:.2%}).",
    ]
    if selection.guaranteed:
        text.append(
            f"  Guarantee: with probability at least {sweep.confidence:.0%} this is the "
            f"cheapest setting whose outage probability is at most {target:.2%}, whenever it "
            f"is at least {zone} a year cheaper than every other (indifference zone); "
            f"settings within {tol:.2%} of the target may count either way. "
            f"{selection.method}."
        )
    else:
        text.append(
            f"  No guarantee: the cap of {sweep.max_replications} replications per setting "
            f"stopped the procedure with {len(selection.undecided)} setting(s) undecided; "
            "this is the best sample mean among settings not found infeasible. Raise "
            "--max-replications for a decision with a guarantee."
        )
    text.append(f"  Replications: {counts} (common random numbers).")
    if grid.baseline != best and grid.baseline in rows:
        cur = rows[grid.baseline]
        text.append(
            f"  Against the current setting ({label[grid.baseline]}): "
            + trade_off(row, cur, ("the recommendation", "the current setting"), currency)
        )
        if not np.isnan(row.get("diff_annual_cost_micros", np.nan)):
            text.append(
                f"  Paired difference of the annual cost: "
                f"{_money(row['diff_annual_cost_micros'], currency)} +/- "
                f"{_money(1.96 * row['diff_annual_cost_se_micros'], currency)} (95 %)."
            )
    del s
    return Recommendation(summary, front, best, text, selection)


def stage_size(sweep: Sweep) -> int:
    """Replications added per stage to the settings still undecided."""
    return sweep.refine_replications or max(10, sweep.replications // 2)


def _observations(
    runs: pd.DataFrame, grid: Grid, reps: Sequence[int]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Each variant's annual costs and outage indicators, in replication order."""
    by_variant = {v.variant: v for v in grid.variants}
    costs: dict[int, np.ndarray] = {}
    outages: dict[int, np.ndarray] = {}
    for key, part in runs.groupby("variant", sort=True):
        v = int(str(key))
        part = part.set_index("replication").loc[list(reps)]
        c = annual_costs(part, by_variant[v].scenario.costs)
        costs[v] = c["annual_cost_micros"].to_numpy(dtype=float)
        outages[v] = part["outage"].to_numpy(dtype=float)
    return costs, outages


def _eligible(grid: Grid, first: pd.DataFrame) -> list[int]:
    """Variants that keep the ``[costs]`` constraints, judged on the first stage.

    ``min_amount`` is a property of the setting; ``max_recharges_per_month`` is judged on
    the first stage's mean (``sweeps.summarise``, ``meets_constraints``) and is not part of
    the selection's guarantee, which concerns the outage target.
    """
    keep = set(first.loc[first["meets_constraints"].astype(bool), "variant"].astype(int))
    return [v.variant for v in grid.variants if v.variant in keep]


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
    costs: dict[str, Any] | None = None,
    options: Mapping[str, str] | None = None,
) -> tuple[SweepResult, Recommendation, Grid]:
    """Run (or resume) a sweep into ``folder`` and decide; write every table and plot.

    ``refine`` (``ccsim recommend``): the selection procedure decides, in stages;
    otherwise (``ccsim sweep``) every setting runs ``sweep.replications`` times. The
    stages share one process pool (``Executor.kept_open``).
    """
    with executor.kept_open():
        grid = make_grid(loaded, settings, sweep.warm_up, costs, options)
        pick_for_bands(Recommendation(pd.DataFrame(), [], None, []), grid, bands_for)
        reps = sweep.replications
        size = sweep.batch_size or auto_batch_size(len(grid.variants), reps, executor.workers)
        manifest_path = folder / "manifest.json"
        manifest: dict[str, Any] = {
            **run_identity(loaded, command or []),
            "kind": "recommend" if refine else "sweep",
            "settings": settings,
            "seed": loaded.scenario.simulation.seed,
            "replications": reps,
            "refine_replications": stage_size(sweep),
            "max_replications": sweep.max_replications,
            "max_outage": sweep.max_outage,
            "tolerance": sweep.feasibility_tolerance,
            "indifference_micros": int(sweep.indifference),
            "warm_up_days": sweep.warm_up / 86_400,
            "costs": to_plain(grid.variants[0].scenario.costs),
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
        manifest = resume_manifest(
            folder,
            manifest,
            (
                "scenario",
                "settings",
                "seed",
                "replications",
                "refine_replications",
                "max_replications",
                "max_outage",
                "tolerance",
                "indifference_micros",
                "warm_up_days",
                "costs",
                "confidence",
                "batch_size",
                "kind",
            ),
        )
        write_json_atomic(manifest_path, manifest)
        variants_table = pd.DataFrame(
            [
                {
                    "variant": v.variant,
                    "setting": v.label,
                    **dict(v.values),
                    "baseline": v.variant == grid.baseline,
                    "on_grid": v.variant != grid.off_grid,
                }
                for v in grid.variants
            ]
        )
        write_table_atomic(variants_table, folder, "variants")

        def stage(label: str) -> Any:
            # Tell the progress display which stage its batches belong to.
            return None if progress is None else (lambda done, total: progress(done, total, label))

        by_variant = {v.variant: v for v in grid.variants}
        result = run_stage(
            folder,
            "screen",
            grid.variants,
            loaded.tariffs,
            range(reps),
            executor,
            size,
            grid.replay,
            stage(f"first stage: {len(grid.variants)} settings x {reps}"),
        )
        selection_result: SelectionResult | None = None
        if refine:
            eligible = _eligible(grid, summarise(result, grid.baseline, sweep.confidence))
            if not eligible:
                raise InputError(
                    f"{loaded.path}: costs: no setting keeps min_amount and "
                    "max_recharges_per_month; relax them or sweep other values"
                )
            chooser = ConstrainedSelection(
                eligible,
                SelectionSettings(
                    indifference=float(sweep.indifference),
                    target=sweep.max_outage,
                    tolerance=sweep.feasibility_tolerance,
                    confidence=sweep.confidence,
                    first_stage=reps,
                    max_replications=sweep.max_replications,
                ),
            )
            runs_parts = [result.runs]
            balance_parts = {v.variant: [result.balances[v.variant]] for v in grid.variants}
            done_reps = list(range(reps))
            costs_now, outages_now = _observations(result.runs, grid, done_reps)
            chooser.add(
                done_reps,
                {v: costs_now[v] for v in chooser.needs()},
                {v: outages_now[v] for v in chooser.needs()},
            )
            step = stage_size(sweep)
            k = 0
            while not chooser.done:
                need = chooser.needs()
                if not need:
                    break
                first = len(done_reps)
                count = min(step, sweep.max_replications - first)
                if count <= 0:
                    break
                k += 1
                new_reps = list(range(first, first + count))
                keep = [by_variant[v] for v in need]
                more = run_stage(
                    folder,
                    f"stage-{k:03d}",
                    keep,
                    loaded.tariffs,
                    new_reps,
                    executor,
                    sweep.batch_size or auto_batch_size(len(keep), count, executor.workers),
                    grid.replay,
                    stage(
                        f"stage {k}: {len(keep)} settings undecided, "
                        f"to {first + count} replications"
                    ),
                )
                runs_parts.append(more.runs)
                for v in keep:
                    balance_parts[v.variant].append(more.balances[v.variant])
                done_reps += new_reps
                c, o = _observations(more.runs, grid, new_reps)
                chooser.add(new_reps, {v: c[v] for v in need}, {v: o[v] for v in need})
            selection_result = chooser.result()
            all_runs = pd.concat(runs_parts, ignore_index=True)
            order_runs = pd.concat(
                [all_runs[all_runs["variant"] == v.variant] for v in grid.variants],
                ignore_index=True,
            )
            parts = [np.vstack(balance_parts[v.variant]) for v in grid.variants]
            result = collect(grid.variants, order_runs, parts)
            manifest["selection"] = {
                "chosen": selection_result.chosen,
                "guaranteed": selection_result.guaranteed,
                "replications": {str(v): n for v, n in selection_result.replications.items()},
                "stages": k + 1,
            }
        summary = summarise(result, grid.baseline, sweep.confidence)
        currency = loaded.scenario.simulation.currency
        if selection_result is None:
            rec = describe_sweep(summary, grid, sweep.max_outage, currency)
        else:
            rec = decide(summary, grid, selection_result, sweep, currency)
        write_outputs(folder, loaded, grid, result, rec, sweep, bands_for, executor)
        manifest["status"] = "complete"
        manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        manifest["recommended_variant"] = rec.chosen
        write_json_atomic(manifest_path, manifest)
        write_report(folder)
        return result, rec, grid


def write_outputs(
    folder: Path,
    loaded: LoadedScenario,
    grid: Grid,
    result: SweepResult,
    rec: Recommendation,
    sweep: Sweep,
    bands_for: Sequence[int] = (),
    executor: Executor | None = None,
) -> None:
    """Write the per-run and per-setting tables, the bands, the answer and the plots.

    With a kept process pool (``Executor.beside``) its idle workers draw the plots and
    write the per-run table while this process writes the others.
    """
    from sim.reports.plots import plot_bands, plot_frontier, plot_heatmaps

    summary = rec.summary.copy()
    if rec.selection is not None:
        verdict = rec.selection.verdicts
        summary["feasibility"] = [verdict.get(int(v), "not considered") for v in summary["variant"]]
    summary["wilson_under_target"] = summary["p_outage_high"] <= sweep.max_outage
    summary["on_frontier"] = summary["variant"].isin(rec.front)
    summary["recommended"] = summary["variant"] == rec.chosen
    summary["current"] = summary["variant"] == grid.baseline
    summary["on_grid"] = summary["variant"] != grid.off_grid
    currency = loaded.scenario.simulation.currency
    picks = pick_for_bands(rec, grid, bands_for)
    all_bands = pd.concat([bands(result, v.variant) for v in grid.variants], ignore_index=True)
    picked = all_bands[all_bands["variant"].isin(list(picks))]
    band_table = picked.sort_values("variant", kind="stable").reset_index(drop=True)
    # Plots and the per-run table are written in a scratch folder and moved in whole,
    # one file at a time.
    with scratch_folder(folder) as scratch:
        beside = (executor or Executor("serial")).beside
        labels = {v.variant: v.label for v in grid.variants}
        waits = [
            beside(plot_heatmaps, summary, scratch, currency),
            beside(
                plot_frontier, summary, rec, scratch / "frontier.png", currency, sweep.max_outage
            ),
            beside(
                plot_bands,
                band_table,
                picks,
                labels,
                loaded.scenario,
                grid,
                scratch / "balance-bands.png",
            ),
            beside(write_table_atomic, result.runs, scratch, "runs"),
        ]
        write_table_atomic(settings_table(summary, currency), folder, "settings")
        write_table_atomic(bands_table(all_bands, loaded.scenario), folder, "bands")
        wait_all(waits)  # every job done before a failure removes the scratch folder
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
        p_of = dict(zip(rec.summary["variant"], rec.summary["p_outage"], strict=True))
        first = rec.front[0]
        fewest = (
            "cheapest with no outage seen"
            if float(p_of[first]) == 0
            else "cheapest with the fewest outages"
        )
        picks.setdefault(first, fewest)
        picks.setdefault(rec.front[-1], "cheapest of all")
    return picks


def _given(
    trigger: str | None, amount: str | None, sets: Sequence[str]
) -> list[tuple[str, str, str]]:
    """Return the grid options given: (option as typed, setting path, values)."""
    given: list[tuple[str, str, str]] = []
    if trigger:
        given.append(("--trigger", "recharge.trigger", trigger))
    if amount:
        given.append(("--amount", "recharge.amount", amount))
    for item in sets:
        path, sep, values = item.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise InputError(
                f"--set {item!r}: expected PATH=VALUES, e.g. recharge.trigger=50:500:50"
            )
        given.append((f"--set {path.strip()}", path.strip(), values.strip()))
    return given


def options_of_settings(
    trigger: str | None, amount: str | None, sets: Sequence[str]
) -> dict[str, str]:
    """Return the option that gave each swept setting path (to blame a bad value on it)."""
    return {path: option for option, path, _ in _given(trigger, amount, sets)}


def settings_from_cli(
    loaded: LoadedScenario, trigger: str | None, amount: str | None, sets: list[str]
) -> dict[str, str]:
    """Merge ``--trigger``, ``--amount`` and ``--set PATH=VALUES`` over ``[sweep].settings``."""
    base = dict(loaded.scenario.sweep.settings) if loaded.scenario.sweep else {}
    cli: dict[str, str] = {}
    for option, path, values in _given(trigger, amount, sets):
        try:  # the grid's syntax, blamed on the option that gave it
            expand_values(values)
        except ValueError as exc:
            raise InputError(f"{option}: {exc}") from None
        cli[path] = values
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
    except FieldError as exc:
        if exc.field in changes:  # a command-line value: name the option, not the file
            raise InputError(f"--{exc.field.replace('_', '-')}: {exc.message}") from None
        raise InputError(f"{loaded.path}: sweep: {exc}") from None
    except ValueError as exc:
        raise InputError(f"{loaded.path}: sweep: {exc}") from None


__all__ = [
    "Grid",
    "Recommendation",
    "decide",
    "describe_sweep",
    "make_grid",
    "run",
    "stage_size",
    "trade_off",
]

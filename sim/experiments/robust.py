"""Levers x futures x replications: robust advice when the inputs are uncertain.

A scenario's ``[uncertainties]`` give a distribution over settings nobody controls (next
year's decline rate, usage growth, call volumes, tariff levels); the ``[sweep]`` settings
are the levers the planner does control (trigger, amount). A robust study samples
*futures* from the uncertainties (``sim.scenario.uncertainties.sample_futures``: a Latin
hypercube by default, keyed by the seed alone), and runs every lever setting in every
future on the same replications. Future f's replication r uses replication number
``f * replications + r`` for every setting, so within a future all settings see the same
calls (common random numbers), and no stream depends on a lever value.

Per setting, across futures (``robust_summary``): the outage probability, the share of
futures in which the outage target is met, the mean, P90 and worst-decile annual cost
(``sim.scenario.costs``), and the regret against the best setting of each future. The
choice (``choose``) is by a stated criterion, by default the least expected annual cost
among settings that meet the target in at least ``min_share`` of the futures.

Work is split into batches of futures, each written atomically (``sweeps.save_batch``), so
an interrupted study resumes where it stopped, and results are identical whatever the
executor and the number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.core.display import money_text
from sim.core.errors import InputError
from sim.core.schema import ConfigError
from sim.core.units import parse_duration
from sim.engine import RatedTraffic, fewer_collections, run_replication
from sim.engine.results import outcome_row
from sim.experiments.discovery import Box, NoFailureRegion, discover
from sim.experiments.executors import Batch, Executor, plan_batches
from sim.experiments.sweeps import (
    Variant,
    build_variants,
    current_values,
    matching_variant,
    raw_scenario,
    replays_traffic,
    resume_manifest,
    run_batches,
    steady,
    write_json_atomic,
    write_table_atomic,
)
from sim.reports.sensitivity_plots import boxes_figure
from sim.scenario.costs import COMPONENTS, annual_costs
from sim.scenario.folders import run_identity
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.scenario.uncertainties import apply_future, sample_futures
from sim.telephony.tariffs import TariffBook

Criterion = Literal["expected", "worst-decile", "regret"]
CRITERIA: tuple[str, ...] = ("expected", "worst-decile", "regret")
CRITERION_TEXT = {
    "expected": "the least expected annual cost",
    "worst-decile": "the least worst-decile annual cost (the mean of its 10 % dearest futures)",
    "regret": "the least maximum regret (annual cost above the best setting of each future)",
}


@dataclass(frozen=True)
class RobustJob:
    """Everything a worker needs to run futures: plain data, sent once per worker."""

    raw: dict[str, Any]
    """The scenario as parsed TOML, rate tables made absolute, without sweep/uncertainties."""
    levers: dict[str, str]
    futures: list[dict[str, Any]]
    """The values of each future, by dotted path; the list index is the future number."""
    replications: int
    warm_up_s: float
    current: tuple[tuple[str, str], ...] | None = None
    """The current lever values when they are not on the grid (added as a setting)."""
    rescale_tariffs: bool = False
    """True when ``tariffs.scale`` is uncertain: each future loads its own rate tables."""


def future_variants(job: RobustJob, future: int) -> list[Variant]:
    """Return the lever settings of one future as validated scenarios (``sweeps.steady``)."""
    raw = apply_future(job.raw, job.futures[future])
    try:
        variants = build_variants(raw, job.levers, job.warm_up_s)
        if job.current is not None:
            base = steady(Scenario.from_dict(raw), job.warm_up_s)
            variants.append(Variant(len(variants), job.current, base))
    except ConfigError as exc:
        raise ConfigError(exc.path, f"{exc.message} (future {future})") from None
    return variants


def run_future_batch(
    job: RobustJob, tariffs: TariffBook | None, batch: Batch, replay: bool
) -> tuple[pd.DataFrame, np.ndarray]:
    """Run every lever setting in the batch's futures, ``job.replications`` times each.

    Returns one row per (future, replication, setting) and an empty balance matrix (robust
    studies keep outcomes only).
    """
    rows = []
    with fewer_collections():
        for f in range(batch.first, batch.first + batch.count):
            variants = future_variants(job, f)
            book = tariffs
            if job.rescale_tariffs and variants[0].scenario.tariffs is not None:
                book = variants[0].scenario.tariffs.load(Path("/"))
            for r in range(job.replications):
                rep = f * job.replications + r
                cache = RatedTraffic() if replay else None
                for v in variants:
                    out = run_replication(v.scenario, book, rep, rated=cache, lean=replay)
                    rows.append({"future": f, "variant": v.variant, **outcome_row(out)})
    return pd.DataFrame(rows), np.zeros((len(rows), 0), np.int64)


@dataclass
class RobustResult:
    """The runs of a robust study, its futures, and one row per setting."""

    variants: list[Variant]
    futures: pd.DataFrame
    runs: pd.DataFrame
    summary: pd.DataFrame
    chosen: int | None
    text: list[str]
    baseline: int
    extra: dict[str, Any] = field(default_factory=dict)


def _job(
    loaded: LoadedScenario,
    levers: dict[str, str],
    futures: pd.DataFrame,
    replications: int,
    warm_up_s: float,
    options: Mapping[str, str] | None = None,
) -> tuple[RobustJob, list[Variant], int]:
    raw = raw_scenario(loaded.path, drop=("sweep", "uncertainties"))
    values = [
        {str(k): v for k, v in row.items() if k != "future"} for row in futures.to_dict("records")
    ]
    job = RobustJob(raw, dict(levers), values, replications, warm_up_s)
    try:
        grid = future_variants(job, 0) if values else build_variants(raw, levers, warm_up_s)
    except ConfigError as exc:
        if options and exc.path in options:
            raise InputError(f"{options[exc.path]}: {exc.message}") from None
        raise InputError(f"{loaded.path}: {exc}") from None
    current = current_values(loaded.scenario, levers)
    baseline = matching_variant(grid, current)
    if baseline is None:
        job = RobustJob(raw, dict(levers), values, replications, warm_up_s, current)
        baseline = len(grid)
    rescale = "tariffs.scale" in futures.columns
    if rescale:
        job = RobustJob(
            job.raw, job.levers, job.futures, replications, warm_up_s, job.current, True
        )
    return job, future_variants(job, 0) if values else grid, baseline


def robust_summary(
    runs: pd.DataFrame,
    variants: Sequence[Variant],
    target: float,
) -> pd.DataFrame:
    """One row per setting across futures: outages, share meeting the target, cost, regret.

    A setting meets the target in a future when the share of that future's replications
    with an outage is at most ``target``. Regret in a future is the setting's annual cost
    there less the least annual cost among the settings that meet the target in it (or
    among all settings when none does).
    """
    by_variant = {v.variant: v for v in variants}
    priced = []
    for key, part in runs.groupby("variant", sort=True):
        costs = annual_costs(part, by_variant[int(str(key))].scenario.costs)
        priced.append(pd.concat([part[["variant", "future", "outage"]], costs], axis=1))
    per_run = pd.concat(priced, ignore_index=True)
    settings = [(v.variant, v.label, dict(v.values)) for v in variants]
    return _summary(per_run, settings, target)


def summarise_experiments(table: pd.DataFrame, target: float) -> pd.DataFrame:
    """``robust_summary`` of the tidy table of ``run_experiments`` (already priced)."""
    levers = [c for c in table.columns if "." in c and not c.startswith("future.")]
    settings = []
    for key, part in table.groupby("variant", sort=True):
        values = {c: str(part[c].iloc[0]) for c in levers}
        label = ", ".join(f"{c}={v}" for c, v in values.items())
        settings.append((int(str(key)), label, values))
    return _summary(table, settings, target)


def _summary(
    per_run: pd.DataFrame,
    settings: Sequence[tuple[int, str, dict[str, str]]],
    target: float,
) -> pd.DataFrame:
    cells = per_run.groupby(["variant", "future"], sort=True).agg(
        cost=("annual_cost_micros", "mean"), p=("outage", "mean")
    )
    cells["meets"] = cells["p"] <= target
    cost = cells["cost"].unstack("variant")
    meets = cells["meets"].unstack("variant")
    best_ok = cost.where(meets).min(axis=1)
    best = best_ok.fillna(cost.min(axis=1))
    regret = cost.sub(best, axis=0)
    part_means: dict[Any, dict[Any, Any]] = (
        per_run.groupby("variant", sort=True)[[f"cost_{p}_micros" for p in COMPONENTS]]
        .mean()
        .to_dict("index")
    )
    rows = []
    for variant, label, values in settings:
        if variant not in cost.columns:
            continue
        c = cost[variant].to_numpy(dtype=float)
        worst = np.sort(c)[-max(1, math.ceil(len(c) / 10)) :]
        row: dict[str, Any] = {"variant": variant, "setting": label, **values}
        outages = per_run.loc[per_run["variant"] == variant, "outage"].to_numpy(dtype=float)
        row.update(
            {
                "futures": len(c),
                "runs": len(outages),
                "p_outage": float(outages.mean()),
                "share_meeting_target": float(meets[variant].mean()),
                "annual_cost_micros": float(c.mean()),
                "annual_cost_se_micros": float(c.std(ddof=1) / math.sqrt(len(c)))
                if len(c) > 1
                else 0.0,
                "p90_annual_cost_micros": float(np.percentile(c, 90)),
                "worst_decile_annual_cost_micros": float(worst.mean()),
                "mean_regret_micros": float(regret[variant].mean()),
                "max_regret_micros": float(regret[variant].max()),
            }
        )
        for p in COMPONENTS:
            row[f"mean_cost_{p}_micros"] = float(part_means[variant][f"cost_{p}_micros"])
        rows.append(row)
    return pd.DataFrame(rows)


def choose(
    summary: pd.DataFrame, criterion: str, min_share: float
) -> tuple[int | None, pd.DataFrame]:
    """Pick by ``criterion`` among settings meeting the target in ``min_share`` of futures."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    ok = summary[summary["share_meeting_target"] >= min_share - 1e-12]
    if ok.empty:
        return None, ok
    column = {
        "expected": "annual_cost_micros",
        "worst-decile": "worst_decile_annual_cost_micros",
        "regret": "max_regret_micros",
    }[criterion]
    ranked = ok.sort_values([column, "annual_cost_micros", "variant"])
    return int(ranked["variant"].iloc[0]), ranked


def _money(micros: float, currency: str) -> str:
    return money_text(micros, currency)


def robust_text(
    summary: pd.DataFrame,
    chosen: int | None,
    baseline: int,
    *,
    criterion: str,
    min_share: float,
    target: float,
    currency: str,
    futures: int,
    replications: int,
) -> list[str]:
    """Return the robust answer in words: the criterion, the pick, and how it fares."""
    rule = (
        f"Criterion: {CRITERION_TEXT[criterion]} among settings that meet the outage "
        f"target ({target:.2%}) in at least {min_share:.0%} of {futures} futures "
        f"({replications} replication(s) each)."
    )
    s = summary.set_index("variant")
    if chosen is None:
        best = s.sort_values(
            ["share_meeting_target", "annual_cost_micros"], ascending=[False, True]
        )
        top = best.index[0]
        return [
            rule,
            f"No setting meets the target in {min_share:.0%} of the futures; the most robust "
            f"is {s.loc[top, 'setting']}, meeting it in {s.loc[top, 'share_meeting_target']:.0%}.",
        ]
    r: dict[str, Any] = {str(k): v for k, v in s.loc[chosen].items()}
    lines = [
        rule,
        f"Robust choice: {r['setting']}.",
        f"  Meets the target in {r['share_meeting_target']:.0%} of futures; P(outage) "
        f"{r['p_outage']:.2%} over all runs.",
        f"  Annual cost: mean {_money(r['annual_cost_micros'], currency)}, P90 "
        f"{_money(r['p90_annual_cost_micros'], currency)}, worst decile "
        f"{_money(r['worst_decile_annual_cost_micros'], currency)}; regret mean "
        f"{_money(r['mean_regret_micros'], currency)}, max "
        f"{_money(r['max_regret_micros'], currency)}.",
    ]
    if baseline != chosen and baseline in s.index:
        b: dict[str, Any] = {str(k): v for k, v in s.loc[baseline].items()}
        lines.append(
            f"  Current setting ({b['setting']}): meets the target in "
            f"{b['share_meeting_target']:.0%} of futures, mean annual cost "
            f"{_money(b['annual_cost_micros'], currency)}."
        )
    return lines


def run_robust(
    loaded: LoadedScenario,
    *,
    levers: dict[str, str],
    executor: Executor,
    folder: Path,
    target: float,
    futures: int | None = None,
    sampler: str | None = None,
    replications: int = 1,
    warm_up_s: float = 0.0,
    criterion: str = "expected",
    min_share: float = 0.9,
    batch_size: int = 0,
    progress: Callable[[int, int], None] | None = None,
    command: Sequence[str] = (),
    options: Mapping[str, str] | None = None,
) -> RobustResult:
    """Run (or resume) a robust study into ``folder``; return its tables and the choice.

    ``options`` maps lever paths given on the command line to their option, to blame a
    value out of range on it (``recommend.options_of_settings``).
    """
    unc = loaded.scenario.uncertainties
    if unc is None:
        raise InputError(
            f"{loaded.path}: a robust study needs an [uncertainties] section "
            "(distributions over settings by dotted path)"
        )
    if criterion not in CRITERIA:
        raise InputError(f"--criterion: one of {', '.join(CRITERIA)}, got {criterion!r}")
    table = sample_futures(unc, loaded.scenario.simulation.seed, futures, sampler)
    job, variants, baseline = _job(loaded, levers, table, replications, warm_up_s, options)
    replay = replays_traffic(levers)
    n = len(job.futures)
    size = batch_size or max(1, min(10, math.ceil(n / max(1, 4 * executor.workers))))
    manifest: dict[str, Any] = {
        **run_identity(loaded, list(command)),
        "kind": "robust",
        "levers": levers,
        "futures": n,
        "sampler": sampler or unc.sampler,
        "uncertainties": sorted(c for c in table.columns if c != "future"),
        "replications_per_future": replications,
        "warm_up_days": warm_up_s / 86_400,
        "target": target,
        "criterion": criterion,
        "min_share": min_share,
        "batch_size": size,
        "settings": len(variants),
        "seed": loaded.scenario.simulation.seed,
        "executor": executor.kind,
        "workers": executor.workers,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "running",
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    manifest = resume_manifest(
        folder,
        manifest,
        (
            "scenario",
            "levers",
            "futures",
            "sampler",
            "uncertainties",
            "replications_per_future",
            "warm_up_days",
            "batch_size",
            "seed",
            "kind",
        ),
    )
    write_json_atomic(path, manifest)
    write_table_atomic(table, folder, "futures")
    runs, _ = run_batches(
        folder / "batches" / "futures",
        plan_batches(range(n), size),
        executor,
        run_future_batch,
        (job, loaded.tariffs, replay),
        progress,
    )
    runs = runs.sort_values(["future", "replication", "variant"], kind="stable")
    runs = runs.reset_index(drop=True)
    summary = robust_summary(runs, variants, target)
    chosen, _ = choose(summary, criterion, min_share)
    currency = loaded.scenario.simulation.currency
    text = robust_text(
        summary,
        chosen,
        baseline,
        criterion=criterion,
        min_share=min_share,
        target=target,
        currency=currency,
        futures=n,
        replications=replications,
    )
    summary["robust_choice"] = summary["variant"] == chosen
    summary["current"] = summary["variant"] == baseline
    result = RobustResult(variants, table, runs, summary, chosen, text, baseline)
    write_table_atomic(runs, folder, "runs")
    write_table_atomic(summary, folder, "robust")
    focus = chosen if chosen is not None else baseline
    boxes, said = failure_boxes(runs, table, focus, target)
    text.append(f"  Where {_label(variants, focus)} misses the target: {said}")
    if boxes:
        write_table_atomic(_box_table(boxes), folder, "boxes")
        _plot_boxes(folder, table, runs, focus, target, boxes[0])
    result.extra["boxes"] = boxes
    (folder / "recommendation.txt").write_text("\n".join(text) + "\n")
    manifest.update(
        {
            "status": "complete",
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "robust_choice": chosen,
        }
    )
    write_json_atomic(path, manifest)
    return result


def numeric_futures(table: pd.DataFrame) -> pd.DataFrame:
    """Return the futures as numbers (money in currency units, durations in seconds)."""
    out = pd.DataFrame(index=table.index)
    for col in table.columns:
        if col == "future":
            continue
        values = pd.to_numeric(table[col], errors="coerce")
        if values.isna().any():
            values = pd.Series([float(parse_duration(str(v))) for v in table[col]], table.index)
        out[col] = values.astype(float)
    return out


def failure_boxes(
    runs: pd.DataFrame, futures: pd.DataFrame, variant: int, target: float
) -> tuple[list[Box], str]:
    """Scenario discovery: the futures in which ``variant`` misses the target, as boxes.

    Returns the boxes (PRIM, ``sim.experiments.discovery``) and a sentence for the answer.
    """
    mine = runs[runs["variant"] == variant]
    share = mine.groupby("future", sort=True)["outage"].mean()
    failed = (share > target).reindex(futures["future"]).fillna(False).to_numpy(dtype=bool)
    try:
        boxes = discover(numeric_futures(futures), failed)
    except NoFailureRegion as exc:
        return [], str(exc)
    if not boxes:
        return [], (
            f"{int(failed.sum())} of {len(failed)} futures, with no region of the "
            "uncertainties that holds most of them"
        )
    said = "; or ".join(
        f"{b.describe()} (coverage {b.coverage:.0%}, density {b.density:.0%})" for b in boxes
    )
    return boxes, f"{int(failed.sum())} of {len(failed)} futures, mostly when {said}"


def _label(variants: Sequence[Variant], variant: int) -> str:
    return next((v.label for v in variants if v.variant == variant), str(variant))


def _box_table(boxes: Sequence[Box]) -> pd.DataFrame:
    rows = []
    for k, b in enumerate(boxes):
        for name, (low, high) in b.limits.items():
            rows.append(
                {
                    "box": k,
                    "input": name,
                    "low": low,
                    "high": high,
                    "coverage": b.coverage,
                    "density": b.density,
                    "mass": b.mass,
                    "description": b.describe(),
                }
            )
    return pd.DataFrame(rows)


def _plot_boxes(
    folder: Path, table: pd.DataFrame, runs: pd.DataFrame, variant: int, target: float, box: Box
) -> None:
    names = list(box.limits) + [c for c in table.columns if c not in box.limits and c != "future"]
    if len(names) < 2:
        return
    mine = runs[runs["variant"] == variant]
    share = mine.groupby("future", sort=True)["outage"].mean()
    failed = (share > target).reindex(table["future"]).fillna(False).to_numpy(dtype=bool)
    fig = boxes_figure(numeric_futures(table), failed, box, names[0], names[1])
    (folder / "plots").mkdir(exist_ok=True)
    fig.savefig(folder / "plots" / "failure-boxes.png")


def run_experiments(
    loaded: LoadedScenario,
    *,
    levers: dict[str, str] | None = None,
    futures: int | None = None,
    replications: int = 1,
    executor: Executor | None = None,
    folder: Path | None = None,
    target: float | None = None,
    warm_up_s: float | None = None,
) -> pd.DataFrame:
    """Run levers x futures x replications and return one tidy row per run.

    The notebook entry point (like Mesa's ``batch_run``): ``levers`` default to the
    scenario's ``[sweep].settings``, futures to its ``[uncertainties]``; any executor; a
    ``folder`` keeps the batches (and resumes them), otherwise a temporary one is used.
    Columns: ``future``, ``replication``, ``variant``, the lever values, the future's
    values (``future.<path>``), every outcome of ``sim.engine.results``, the annual
    cost with its parts (``sim.scenario.costs``) and ``current`` (the scenario's own
    setting).
    """
    import tempfile

    sweep = loaded.scenario.sweep
    levers = levers if levers is not None else (dict(sweep.settings) if sweep else {})
    if not levers:
        raise InputError(f"{loaded.path}: no levers: give levers= or a [sweep] section")
    executor = executor or Executor("serial")
    if warm_up_s is not None:
        warm_up = warm_up_s
    else:
        warm_up = float(sweep.warm_up) if sweep is not None else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        result = run_robust(
            loaded,
            levers=levers,
            executor=executor,
            folder=folder or Path(tmp) / "robust",
            target=target if target is not None else (sweep.max_outage if sweep else 0.01),
            futures=futures,
            replications=replications,
            warm_up_s=warm_up,
        )
    runs = result.runs
    by_variant = {v.variant: v for v in result.variants}
    priced = []
    for key, part in runs.groupby("variant", sort=True):
        v = by_variant[int(str(key))]
        costs = annual_costs(part, v.scenario.costs)
        levers_of = pd.DataFrame({p: [val] * len(part) for p, val in v.values}, index=part.index)
        priced.append(pd.concat([part, levers_of, costs], axis=1))
    tidy = pd.concat(priced).sort_values(["future", "replication", "variant"], kind="stable")
    tidy["current"] = tidy["variant"] == result.baseline
    values = result.futures.rename(columns=lambda c: c if c == "future" else f"future.{c}")
    return tidy.merge(values, on="future", how="left").reset_index(drop=True)


__all__ = [
    "CRITERIA",
    "RobustJob",
    "RobustResult",
    "choose",
    "failure_boxes",
    "future_variants",
    "numeric_futures",
    "robust_summary",
    "robust_text",
    "run_experiments",
    "run_future_batch",
    "run_robust",
    "summarise_experiments",
]

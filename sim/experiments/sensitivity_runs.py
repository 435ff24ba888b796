"""``ccsim sensitivity``: what drives outages, the annual cost and forfeits of a setting.

The scenario's ``[uncertainties]`` are the inputs (and, with ``levers``, the sweep's
settings too, each a choice among its swept values), on the unit cube; each design point is
turned into settings (``sim.scenario.uncertainties.values_from_unit``) and simulated for
the scenario's own recharge setting, ``replications`` times, on the same replication
numbers at every point (common random numbers: the indices see the inputs, not different
traffic noise). Outputs per point: the share of replications with an outage, the mean
annual cost (``sim.scenario.costs``) and the mean forfeited funds. Morris screening first,
then Sobol' first-order and total indices of the inputs that matter
(``sim.experiments.sensitivity``, SALib), with 95 % intervals; a tornado chart per output.

Points are evaluated in batches on any executor, with the same results whatever runs them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.errors import InputError
from sim.core.schema import ConfigError
from sim.core.units import Micros
from sim.engine import fewer_collections, run_replication
from sim.engine.results import outcome_row
from sim.experiments.executors import Batch, Executor, plan_batches
from sim.experiments.sensitivity import Problem, Screening, screen_then_sobol
from sim.experiments.sweeps import (
    done_batches,
    load_batches,
    raw_scenario,
    resume_manifest,
    save_batch,
    scratch_folder,
    steady,
    write_json_atomic,
    write_table_atomic,
)
from sim.reports.sensitivity_plots import tornado_figure
from sim.scenario.costs import annual_costs
from sim.scenario.folders import check_new_folder, run_identity
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario, expand_values
from sim.scenario.paths import setting_type
from sim.scenario.uncertainties import (
    Uncertainties,
    Uncertainty,
    apply_future,
    values_from_unit,
)
from sim.telephony.tariffs import TariffBook

OUTPUTS: tuple[str, ...] = ("p_outage", "annual_cost", "forfeited")


@dataclass(frozen=True)
class PointsJob:
    """The design points to simulate and what each needs (plain data for the workers)."""

    raw: dict[str, Any]
    points: list[dict[str, Any]]
    replications: int
    warm_up_s: float
    rescale_tariffs: bool


def run_points(
    job: PointsJob, tariffs: TariffBook | None, batch: Batch, _: bool
) -> tuple[pd.DataFrame, np.ndarray]:
    """Simulate the batch's design points; one row of outputs per point."""
    rows = []
    with fewer_collections():  # runs are freed by reference counting (``_release``)
        for i in range(batch.first, batch.first + batch.count):
            raw = apply_future(job.raw, job.points[i])
            try:
                scenario = steady(Scenario.from_dict(raw), job.warm_up_s)
            except ConfigError as exc:
                raise ConfigError(exc.path, f"{exc.message} (design point {i})") from None
            book = tariffs
            if job.rescale_tariffs and scenario.tariffs is not None:
                book = scenario.tariffs.load(Path("/"))
            outs = pd.DataFrame(
                [outcome_row(run_replication(scenario, book, r)) for r in range(job.replications)]
            )
            cost = annual_costs(outs, scenario.costs)["annual_cost_micros"]
            rows.append(
                {
                    "point": i,
                    "p_outage": float(outs["outage"].astype(float).mean()),
                    "annual_cost": float(cost.mean()) / 1_000_000,
                    "forfeited": float(outs["forfeited_micros"].mean()) / 1_000_000,
                }
            )
    return pd.DataFrame(rows), np.zeros((len(rows), 0), np.int64)


def with_levers(uncertainties: Uncertainties, levers: dict[str, str]) -> Uncertainties:
    """Add the sweep's levers as inputs: each a choice among its swept values.

    A choice (not a range) keeps every value one the grid allows, the admin portal's
    whole numbers included, so the indices say how much each lever moves the outcomes
    next to the uncertainties.
    """
    extra: dict[str, Uncertainty] = {}
    for path, text in levers.items():
        values = expand_values(text)
        if len(set(values)) < 2 or path in uncertainties.settings:
            continue
        money = setting_type(path, Scenario) is Micros
        chosen = tuple(v if money else float(v) for v in values)
        extra[path] = Uncertainty(kind="choice", values=chosen)
    if not extra:
        return uncertainties
    merged = replace(uncertainties, settings={**uncertainties.settings, **extra})
    return merged.bind(Scenario)


class _Evaluator:
    """Evaluate unit-cube rows with the simulator on an executor (in batches)."""

    def __init__(
        self,
        loaded: LoadedScenario,
        executor: Executor,
        replications: int,
        warm_up_s: float,
        progress: Any = None,
        cache: Path | None = None,
        uncertainties: Uncertainties | None = None,
    ) -> None:
        unc = uncertainties or loaded.scenario.uncertainties
        assert unc is not None
        self.unc = unc
        self.raw = raw_scenario(loaded.path, drop=("sweep", "uncertainties"))
        self.loaded = loaded
        self.executor = executor
        self.replications = replications
        self.warm_up_s = warm_up_s
        self.progress = progress
        self.points = 0
        self.cache = cache

    def __call__(self, u: np.ndarray) -> pd.DataFrame:
        table = values_from_unit(self.unc, u)
        points = [
            {str(k): v for k, v in row.items() if k != "future"} for row in table.to_dict("records")
        ]
        job = PointsJob(
            self.raw,
            points,
            self.replications,
            self.warm_up_s,
            "tariffs.scale" in table.columns,
        )
        n = len(points)
        size = max(1, min(8, math.ceil(n / max(1, 4 * self.executor.workers))))
        results: dict[int, pd.DataFrame] = {}
        batches = plan_batches(range(n), size)
        # Each design's finished batches are kept on disk under a key of the design
        # itself, so an interrupted study resumes where it stopped (--resume).
        store = None
        if self.cache is not None:
            key = hashlib.sha256(np.ascontiguousarray(u, dtype=np.float64).tobytes())
            store = self.cache / key.hexdigest()[:16]
            have = done_batches(store)
            for b in batches:
                if b.name in have:
                    results[b.first] = load_batches(store, [b.name])[0]
        todo = [b for b in batches if b.first not in results]

        def done(batch: Batch, result: tuple[pd.DataFrame, np.ndarray]) -> None:
            if store is not None:
                save_batch(store, batch, *result)
            results[batch.first] = result[0]
            if self.progress is not None:
                self.progress(len(results), len(batches))

        self.executor.map(run_points, todo, (job, self.loaded.tariffs, False), done)
        self.points += n
        out = pd.concat([results[b.first] for b in batches], ignore_index=True)
        return out.sort_values("point").reset_index(drop=True)[list(OUTPUTS)]


def run_sensitivity(
    loaded: LoadedScenario,
    *,
    executor: Executor,
    folder: Path,
    n_base: int = 64,
    trajectories: int = 10,
    replications: int = 4,
    warm_up_s: float = 0.0,
    seed: int | None = None,
    progress: Any = None,
    command: list[str] | None = None,
    resume: bool = False,
    levers: bool = False,
) -> tuple[Screening, Path]:
    """Screen with Morris, then Sobol' on the inputs that matter; write the folder.

    Writes ``morris`` and ``sobol`` tables (Parquet and CSV), ``plots/tornado-<output>.png``
    and a manifest into ``folder``, which must not exist unless ``resume``: then it is an
    interrupted study with the same settings, and its finished batches are kept.
    """
    unc = loaded.scenario.uncertainties
    if unc is None:
        raise InputError(
            f"{loaded.path}: sensitivity needs an [uncertainties] section "
            "(distributions over settings by dotted path)"
        )
    if n_base < 2 or n_base & (n_base - 1):
        raise InputError(f"--n-base: must be a power of two, got {n_base}")
    if levers:
        sweep = loaded.scenario.sweep
        if sweep is None or not sweep.settings:
            raise InputError(f"{loaded.path}: --levers needs a [sweep] section with settings")
        try:
            unc = with_levers(unc, dict(sweep.settings))
        except ConfigError as exc:
            raise InputError(f"{loaded.path}: --levers: {exc}") from None
    manifest: dict[str, Any] = {
        **run_identity(loaded, command or []),
        "kind": "sensitivity",
        "inputs": list(unc.paths),
        "n_base": n_base,
        "trajectories": trajectories,
        "replications_per_point": replications,
        "warm_up_days": warm_up_s / 86_400,
        "seed": loaded.scenario.simulation.seed if seed is None else seed,
        "executor": executor.kind,
        "workers": executor.workers,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "running",
    }
    path = folder / "manifest.json"
    if resume:
        if not path.exists():
            raise InputError(f"{folder}: not a sensitivity run folder (no manifest.json)")
        manifest = resume_manifest(
            folder,
            manifest,
            (
                "kind",
                "scenario",
                "inputs",
                "n_base",
                "trajectories",
                "replications_per_point",
                "warm_up_days",
                "seed",
            ),
        )
    else:
        check_new_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, manifest)
    evaluate = _Evaluator(
        loaded,
        executor,
        replications,
        warm_up_s,
        progress,
        cache=folder / "batches",
        uncertainties=unc,
    )
    problem = Problem(unc.paths)
    screening = screen_then_sobol(
        problem,
        evaluate,
        trajectories=trajectories,
        n_base=n_base,
        seed=int(manifest["seed"]),
    )
    write_table_atomic(screening.morris, folder, "morris")
    write_table_atomic(screening.sobol, folder, "sobol")
    with scratch_folder(folder) as scratch:
        for output in OUTPUTS:
            tornado_figure(screening.sobol, output).savefig(scratch / f"tornado-{output}.png")
    manifest.update(
        {
            "status": "complete",
            "kept_for_sobol": list(screening.kept),
            "points_simulated": evaluate.points,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    write_json_atomic(path, manifest)
    return screening, folder


__all__ = ["OUTPUTS", "PointsJob", "run_points", "run_sensitivity", "with_levers"]

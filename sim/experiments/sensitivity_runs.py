"""``ccsim sensitivity``: what drives outages, the annual cost and forfeits of a setting.

The scenario's ``[uncertainties]`` are the inputs, on the unit cube; each design point is
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

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.errors import InputError
from sim.core.schema import ConfigError
from sim.engine import run_replication
from sim.engine.results import outcome_row
from sim.experiments.executors import Batch, Executor, plan_batches
from sim.experiments.sensitivity import Problem, Screening, screen_then_sobol
from sim.experiments.sweeps import read_raw, steady, write_table_atomic
from sim.reports.sensitivity_plots import tornado_figure
from sim.scenario.costs import annual_costs
from sim.scenario.folders import run_identity
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.scenario.uncertainties import apply_future, values_from_unit
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


class _Evaluator:
    """Evaluate unit-cube rows with the simulator on an executor (in batches)."""

    def __init__(
        self,
        loaded: LoadedScenario,
        executor: Executor,
        replications: int,
        warm_up_s: float,
        progress: Any = None,
    ) -> None:
        unc = loaded.scenario.uncertainties
        assert unc is not None
        self.unc = unc
        raw = read_raw(loaded.path)
        for key, rel in (raw.get("tariffs") or {}).items():
            if key != "scale" and isinstance(rel, str) and not Path(rel).is_absolute():
                raw["tariffs"][key] = str(loaded.path.parent / rel)
        self.raw = {k: v for k, v in raw.items() if k not in ("sweep", "uncertainties")}
        self.loaded = loaded
        self.executor = executor
        self.replications = replications
        self.warm_up_s = warm_up_s
        self.progress = progress
        self.points = 0

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

        def done(batch: Batch, result: tuple[pd.DataFrame, np.ndarray]) -> None:
            results[batch.first] = result[0]
            if self.progress is not None:
                self.progress(len(results), len(batches))

        self.executor.map(run_points, batches, (job, self.loaded.tariffs, False), done)
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
) -> tuple[Screening, Path]:
    """Screen with Morris, then Sobol' on the inputs that matter; write the folder.

    Writes ``morris`` and ``sobol`` tables (Parquet and CSV), ``plots/tornado-<output>.png``
    and a manifest into ``folder`` (which must not exist).
    """
    unc = loaded.scenario.uncertainties
    if unc is None:
        raise InputError(
            f"{loaded.path}: sensitivity needs an [uncertainties] section "
            "(distributions over settings by dotted path)"
        )
    if folder.exists():
        raise InputError(f"{folder}: exists already; choose a new folder (nothing overwritten)")
    if n_base < 2 or n_base & (n_base - 1):
        raise InputError(f"--n-base: must be a power of two, got {n_base}")
    t0 = datetime.now(UTC)
    evaluate = _Evaluator(loaded, executor, replications, warm_up_s, progress)
    problem = Problem(unc.paths)
    screening = screen_then_sobol(
        problem,
        evaluate,
        trajectories=trajectories,
        n_base=n_base,
        seed=loaded.scenario.simulation.seed if seed is None else seed,
    )
    staging = folder.with_name(f".{folder.name}.tmp")
    staging.mkdir(parents=True)
    write_table_atomic(screening.morris, staging, "morris")
    write_table_atomic(screening.sobol, staging, "sobol")
    (staging / "plots").mkdir()
    for output in OUTPUTS:
        fig = tornado_figure(screening.sobol, output)
        fig.savefig(staging / "plots" / f"tornado-{output}.png")
    manifest = {
        **run_identity(loaded, command or []),
        "kind": "sensitivity",
        "inputs": list(unc.paths),
        "kept_for_sobol": list(screening.kept),
        "n_base": n_base,
        "trajectories": trajectories,
        "replications_per_point": replications,
        "warm_up_days": warm_up_s / 86_400,
        "points_simulated": evaluate.points,
        "executor": executor.kind,
        "workers": executor.workers,
        "started_at": t0.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    staging.rename(folder)
    return screening, folder


__all__ = ["OUTPUTS", "PointsJob", "run_points", "run_sensitivity"]

"""Sweeps: a grid of settings x replications, run on any executor, summarised.

A sweep varies numeric settings by dotted path (``recharge.trigger = "50:500:50"``),
builds and validates one scenario per combination (a *variant*), and runs every variant
on the same replications. Random streams are keyed by (seed, replication, ...), never by
a setting, so all variants see the same calls (common random numbers); when only policy
settings vary, each replication's calls are drawn and rated once and replayed against
every variant (``sim.engine.RatedTraffic``).

Work is split into batches of replications; each batch runs every variant and is written
atomically to ``batches/`` of the run folder, so an interrupted sweep keeps its complete
batches and ``--resume`` finishes the rest. Results are identical, to the unit, whatever
the executor (serial, local processes, Dask) and the number of workers.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.errors import InputError
from sim.core.files import read_manifest
from sim.core.schema import ConfigError, to_plain
from sim.core.units import MICROS_PER_UNIT, Seconds, cut
from sim.engine import RatedTraffic, fewer_collections, run_replication
from sim.engine.results import outcome_row
from sim.experiments.executors import Batch, Executor, plan_batches
from sim.scenario.costs import COMPONENTS, DAYS_PER_YEAR, annual_costs
from sim.scenario.model import Scenario, Sweep, expand_values
from sim.scenario.paths import set_value, typed_value
from sim.telephony.tariffs import TariffBook
from sim.validation.theory import wilson_interval

# Settings whose change leaves every call and its rating unchanged: a sweep over these
# alone can draw and rate each replication once.
POLICY_SECTIONS = ("recharge", "payment", "admin")
POLICY_FUNDING = (
    "initial_funds",
    "initial_purchased",
    "expiry_months",
    "portal_rules",
    "at_zero",
    "refuse_at_zero",
    "charge_at",
    "low_balance",
    "lot_lifetime",
    "lots",
    "postpaid_from",
)

OUTCOME_MEANS = (
    "horizon_days",
    "charged_micros",
    "spent_micros",
    "consumed_micros",
    "forfeited_micros",
    "mean_balance_micros",
    "min_balance_micros",
    "final_balance_micros",
    "purchased_auto_micros",
    "purchased_manual_micros",
    "recharges_requested",
    "recharges_settled",
    "recharges_declined",
    "card_charges",
    "blocked_attempts",
    "blocked_minutes",
    "outage_hours",
    "invoices",
    "cost_per_user_month_micros",
)


@dataclass(frozen=True, slots=True)
class Variant:
    """One combination of swept settings, validated as a scenario."""

    variant: int
    values: tuple[tuple[str, str], ...]
    scenario: Scenario

    @property
    def label(self) -> str:
        """Return ``path=value`` pairs, for people."""
        return ", ".join(f"{p}={v}" for p, v in self.values)


def steady(scenario: Scenario, warm_up_s: float) -> Scenario:
    """Return the scenario as a sweep runs it: one debit per event, and a warm-up.

    Sweeps need outcomes and day-end balances only: one debit per stretch between events
    gives the same ones with the fewest ledger entries. A scenario without a warm-up of
    its own gets ``warm_up_s``, so that lots expire in the measured window as they would
    in steady state, unless it starts from a lot history (``funding.lots``: today's lots
    already give expiries their place) or dates its initial funds.
    """
    sim = replace(scenario.simulation, debits="per_event")
    f = scenario.funding
    if sim.warm_up == 0 and f.initial_purchased is None and not f.lots and warm_up_s > 0:
        sim = replace(sim, warm_up=Seconds(warm_up_s))
    return replace(scenario, simulation=sim)


def build_variants(
    raw: dict[str, Any], settings: dict[str, str], warm_up_s: float = 0.0
) -> list[Variant]:
    """Build one validated scenario per combination of the swept values (``steady``)."""
    base = {k: v for k, v in raw.items() if k != "sweep"}
    axes = [(path, expand_values(text)) for path, text in settings.items()]
    for path, values in axes:
        typed_value(path, values[0], Scenario)  # fail early on unknown or non-numeric paths
    combos: list[tuple[tuple[str, str], ...]] = [()]
    for path, values in axes:
        combos = [(*c, (path, v)) for c in combos for v in values]
    variants = []
    for k, combo in enumerate(combos):
        data = copy.deepcopy(base)
        for path, text in combo:
            set_value(data, path, typed_value(path, text, Scenario))
        try:
            scenario = Scenario.from_dict(data)
        except ConfigError as exc:
            shown = ", ".join(f"{p}={cut(v)}" for p, v in combo)
            raise ConfigError(exc.path, f"{exc.message} (sweep setting {shown})") from None
        variants.append(Variant(k, combo, steady(scenario, warm_up_s)))
    return variants


def replays_traffic(settings: Iterable[str]) -> bool:
    """Return True when only policy settings vary, so calls can be rated once."""
    for path in settings:
        head, _, rest = path.partition(".")
        if head in POLICY_SECTIONS:
            continue
        if head == "funding" and rest.split(".")[0] in POLICY_FUNDING:
            continue
        return False
    return True


def run_batch(
    variants: Sequence[Variant],
    tariffs: TariffBook | None,
    batch: Batch,
    replay: bool,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Run every variant on the batch's replications.

    Returns the outcomes (one row per variant and replication) and the day-end balances
    (micro-units; rows in the same order, one column per local day).
    """
    rows = []
    days = []
    with fewer_collections():
        for rep in range(batch.first, batch.first + batch.count):
            cache = RatedTraffic() if replay else None
            for v in variants:
                out = run_replication(v.scenario, tariffs, rep, rated=cache, lean=replay)
                rows.append({"variant": v.variant, **outcome_row(out)})
                days.append(out.window_day_balances())
    width = max(len(d) for d in days)
    matrix = np.zeros((len(days), width), dtype=np.int64)
    for k, d in enumerate(days):
        matrix[k, : len(d)] = d
    return pd.DataFrame(rows), matrix


@dataclass
class SweepResult:
    """Outcomes of every run, and the day-end balances, of a sweep."""

    variants: list[Variant]
    runs: pd.DataFrame
    balances: dict[int, np.ndarray]  # variant -> (replications x days), micro-units
    replications: list[int]


def save_batch(folder: Path, batch: Batch, runs: pd.DataFrame, balances: np.ndarray) -> None:
    """Write one finished batch atomically (temporary names, flushed to disk, then rename).

    On any failure (a full disk, Ctrl-C) the temporary files are removed: the batch is
    either complete on disk or absent.
    """
    from sim.scenario.folders import fsync_dir

    folder.mkdir(parents=True, exist_ok=True)
    tmp_runs = folder / f".{batch.name}.parquet.tmp"
    tmp_bal = folder / f".{batch.name}.npy.tmp"
    try:
        runs.to_parquet(tmp_runs, index=False)
        with tmp_bal.open("wb") as fh:
            np.save(fh, balances)
            fh.flush()
            os.fsync(fh.fileno())
        with tmp_runs.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_bal, folder / f"{batch.name}.npy")
        os.replace(tmp_runs, folder / f"{batch.name}.parquet")  # last: marks the batch done
    except BaseException:
        tmp_runs.unlink(missing_ok=True)
        tmp_bal.unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def done_batches(folder: Path) -> set[str]:
    """Return the names of the complete batches in a sweep's ``batches/`` folder.

    A batch whose files are corrupt or truncated (a disk fault, an edit) is reported on
    standard error as one line, removed, and left out, so ``--resume`` runs it again.
    """
    import sys

    if not folder.exists():
        return set()
    done = set()
    for p in folder.glob("reps-*.parquet"):
        npy = folder / f"{p.stem}.npy"
        if not npy.exists():
            continue
        try:
            pd.read_parquet(p, columns=["variant"])
            np.load(npy, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            sys.stderr.write(
                f"{p.parent / p.stem}: corrupt or truncated batch ({type(exc).__name__}); "
                "running it again\n"
            )
            p.unlink(missing_ok=True)
            npy.unlink(missing_ok=True)
            continue
        done.add(p.stem)
    return done


def load_batches(folder: Path, names: Iterable[str]) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Read complete batches back."""
    runs, bals = [], []
    for name in sorted(names):
        try:
            runs.append(pd.read_parquet(folder / f"{name}.parquet"))
            bals.append(np.load(folder / f"{name}.npy", allow_pickle=False))
        except (ValueError, EOFError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # an I/O fault, not a damaged file
            raise InputError(
                f"{folder / name}: corrupt or truncated batch ({type(exc).__name__}); "
                "run again with --resume to rerun it"
            ) from None
    return pd.concat(runs, ignore_index=True), bals


def collect(
    variants: list[Variant], runs: pd.DataFrame, balance_parts: list[np.ndarray]
) -> SweepResult:
    """Order the runs by (variant, replication) and split the balances by variant."""
    width = max(b.shape[1] for b in balance_parts)
    matrix = np.vstack(
        [np.pad(b, ((0, 0), (0, width - b.shape[1])), mode="edge") for b in balance_parts]
    )
    runs = runs.reset_index(drop=True)
    order = np.lexsort((runs["replication"].to_numpy(), runs["variant"].to_numpy()))
    runs = runs.iloc[order].reset_index(drop=True)
    matrix = matrix[order]
    # Sorted by variant: each variant's rows are one slice.
    ids = runs["variant"].to_numpy()
    wanted = [v.variant for v in variants]
    lo, hi = np.searchsorted(ids, wanted, "left"), np.searchsorted(ids, wanted, "right")
    balances = {v.variant: matrix[a:b] for v, a, b in zip(variants, lo, hi, strict=True)}
    reps = sorted(set(runs["replication"].tolist()))
    return SweepResult(variants, runs, balances, reps)


def summarise(result: SweepResult, baseline: int, confidence: float = 0.95) -> pd.DataFrame:
    """One row per variant: means, Wilson intervals, the annual cost and its parts, pairs.

    Every run's cost per year comes from its variant's ``[costs]`` (``annual_costs``):
    card charges, invoices, money tied up, forfeited funds and outages. The table gives
    their means (``mean_cost_<part>_micros``), the mean annual cost and its standard error,
    whether the variant meets the ``[costs]`` constraints, and paired differences against
    the baseline on the replications both have (common random numbers).
    """
    runs = result.runs
    per_variant = {v.variant: v for v in result.variants}
    # Costs are per run: variants with the same ``[costs]`` are costed together.
    sharing: dict[Any, list[int]] = {}
    for v in sorted(set(runs["variant"].tolist())):
        sharing.setdefault(per_variant[v].scenario.costs, []).append(v)
    cost_frames = [
        annual_costs(runs[runs["variant"].isin(vs)], costs) for costs, vs in sharing.items()
    ]
    costs = pd.concat(cost_frames).reindex(runs.index) if cost_frames else pd.DataFrame()
    per_run = pd.DataFrame(
        {
            "variant": runs["variant"].to_numpy(),
            "replication": runs["replication"].to_numpy(),
            "annual_cost": costs["annual_cost_micros"].to_numpy(dtype=float),
            "outage": runs["outage"].to_numpy(dtype=float),
            "mean_balance": runs["mean_balance_micros"].to_numpy(dtype=float),
        }
    )
    for part in COMPONENTS:
        per_run[f"cost_{part}"] = costs[f"cost_{part}_micros"].to_numpy(dtype=float)
    groups = per_run.groupby("variant", sort=True)
    n_runs = groups.size()
    outages = groups["outage"].sum()
    cost_mean = groups["annual_cost"].mean()
    cost_sd = groups["annual_cost"].std(ddof=1)
    part_means = groups[[f"cost_{p}" for p in COMPONENTS]].mean().to_dict("index")
    means_of = [c for c in OUTCOME_MEANS if c in runs]
    means: dict[Any, dict[Any, Any]] = (
        runs.groupby("variant", sort=True)[means_of].mean().to_dict("index") if means_of else {}
    )
    # Paired differences: one row per variant, one column per replication.
    diffs: dict[str, pd.DataFrame] = {}
    for name in ("annual_cost", "outage", "mean_balance"):
        wide = per_run.pivot(index="variant", columns="replication", values=name)
        if baseline in wide.index:
            diffs[name] = wide.sub(wide.loc[baseline], axis=1)
        else:
            diffs[name] = wide * np.nan
    rows = []
    for v in result.variants:
        n = int(n_runs.get(v.variant, 0))
        k = int(outages.get(v.variant, 0))
        lo, hi = wilson_interval(k, n, confidence)
        row: dict[str, Any] = {"variant": v.variant, "setting": v.label}
        for path, text in v.values:
            row[path] = text
        sd = float(cost_sd.get(v.variant, np.nan))
        row.update(
            {
                "replications": n,
                "p_outage": k / n if n else float("nan"),
                "p_outage_low": lo,
                "p_outage_high": hi,
                "annual_cost_micros": float(cost_mean.get(v.variant, np.nan)),
                "annual_cost_se_micros": sd / math.sqrt(n) if n > 1 else 0.0,
            }
        )
        for part in COMPONENTS:
            row[f"mean_cost_{part}_micros"] = (
                float(part_means[v.variant][f"cost_{part}"]) if n else float("nan")
            )
        for col in means_of:
            row[f"mean_{col}"] = float(means[v.variant][col]) if n else float("nan")
        row["meets_constraints"] = _meets_constraints(v, row)
        for name, wide in diffs.items():
            d = wide.loc[v.variant].dropna().to_numpy(dtype=float) if n else np.zeros(0)
            unit = "" if name == "outage" else "_micros"
            row[f"diff_{name}{unit}"] = float(d.mean()) if len(d) else float("nan")
            row[f"diff_{name}_se{unit}"] = (
                float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _meets_constraints(variant: Variant, row: dict[str, Any]) -> bool:
    """Whether a variant keeps the ``[costs]`` constraints (minimum amount, recharges)."""
    sc = variant.scenario
    c = sc.costs
    buys_amount = sc.recharge.policy in ("fixed", "multiples")
    if c.min_amount is not None and buys_amount and sc.recharge.amount < c.min_amount:
        return False
    if c.max_recharges_per_month is not None and "mean_recharges_requested" in row:
        months = float(row.get("mean_horizon_days", 0.0)) / (DAYS_PER_YEAR / 12)
        if months > 0 and row["mean_recharges_requested"] / months > c.max_recharges_per_month:
            return False
    return True


def pareto_front(summary: pd.DataFrame) -> list[int]:
    """Variants not beaten on both outage probability and annual cost, safest first."""
    pts = summary[["variant", "p_outage", "annual_cost_micros"]].to_numpy()
    front = []
    for v, p, m in pts:
        dominated = any((p2 <= p and m2 <= m) and (p2 < p or m2 < m) for _, p2, m2 in pts)
        if not dominated:
            front.append(int(v))
    p_of = dict(zip(summary["variant"].tolist(), summary["p_outage"].tolist(), strict=True))
    return sorted(front, key=lambda v: (p_of[v], v))


def bands(result: SweepResult, variant: int) -> pd.DataFrame:
    """Day-end balance P10/P50/P90 and minimum over replications, in currency units."""
    m = result.balances[variant] / MICROS_PER_UNIT
    p10, p50, p90 = np.percentile(m, [10, 50, 90], axis=0)  # one partial sort for the three
    return pd.DataFrame(
        {
            "variant": variant,
            "day": np.arange(m.shape[1]),
            "p10": p10,
            "p50": p50,
            "p90": p90,
            "min": m.min(axis=0),
            "p_at_or_below_zero": (m <= 0).mean(axis=0),
        }
    )


def read_raw(path: Path) -> dict[str, Any]:
    """Parse a scenario file as plain data (already validated by ``load_scenario``)."""
    return tomllib.loads(path.read_text())


def current_values(scenario: Scenario, paths: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Return the scenario's own value of each swept setting, as text ("" if none)."""
    plain = to_plain(scenario)
    out = []
    for path in paths:
        node: Any = plain
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out.append((path, "" if node is None else str(node)))
    return tuple(out)


def matching_variant(variants: Sequence[Variant], values: Sequence[tuple[str, str]]) -> int | None:
    """Return the variant whose swept values equal ``values`` (as numbers), or None."""

    def same(a: str, b: str) -> bool:
        try:
            return Decimal(a) == Decimal(b)
        except ArithmeticError:
            return a == b

    for v in variants:
        if all(c != "" and same(val, c) for (_, val), (_, c) in zip(v.values, values, strict=True)):
            return v.variant
    return None


def raw_scenario(path: Path, drop: Iterable[str] = ()) -> dict[str, Any]:
    """Parse a scenario file as plain data with its rate tables as absolute paths.

    What variants are built from (``build_variants``, futures); the sections in ``drop``
    (such as ``sweep``, ``uncertainties``) are left out.
    """
    raw = read_raw(path)
    # Rate tables relative to the file, made absolute whatever the working folder: a
    # relative scenario path made them relative too, and a worker that loads them again
    # (``tariffs.scale`` uncertain) read them from the file system's root.
    folder = path.resolve().parent
    for key, rel in (raw.get("tariffs") or {}).items():
        if isinstance(rel, str) and not Path(rel).is_absolute():
            raw["tariffs"][key] = str(folder / rel)
    gone = set(drop)
    return {k: v for k, v in raw.items() if k not in gone}


def sweep_manifest(folder: Path) -> dict[str, Any]:
    """Read a sweep's ``manifest.json``."""
    return read_manifest(folder / "manifest.json")


# -- running a sweep into a run folder -------------------------------------------------


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` under a temporary name, flush it to disk, then rename it into place.

    On any failure the temporary file is removed, so nothing half-written is visible.
    """
    from sim.scenario.folders import fsync_dir

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_table_atomic(frame: pd.DataFrame, folder: Path, name: str) -> None:
    """Write ``name.parquet`` and ``name.csv`` (money as decimal strings), atomically.

    Tables with a documented schema (``docs/tables.md``) are written typed by it.
    """
    from sim.core.tables import to_csv_frame
    from sim.reports.tables import SCHEMAS, write_typed_table

    if ("sweep", name) in SCHEMAS:
        write_typed_table(frame, folder, name, "sweep")
        return
    _write_atomic(folder / f"{name}.parquet", lambda p: frame.to_parquet(p, index=False))
    _write_atomic(folder / f"{name}.csv", lambda p: to_csv_frame(frame).to_csv(p, index=False))


@dataclass
class SweepPlan:
    """What a sweep run folder is for: the scenario, the settings and the stages."""

    scenario_path: Path
    sha256: str
    settings: dict[str, str]
    replications: int
    seed: int
    name: str


def run_stage(
    folder: Path,
    stage: str,
    variants: list[Variant],
    tariffs: TariffBook | None,
    replications: Sequence[int],
    executor: Executor,
    batch_size: int,
    replay: bool,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run (or finish) one stage of a sweep; batches already on disk are kept."""
    batches = plan_batches(replications, batch_size)
    runs, bals = run_batches(
        folder / "batches" / stage,
        batches,
        executor,
        run_batch,
        (variants, tariffs, replay),
        progress,
    )
    return collect(variants, runs, bals)


def resume_manifest(folder: Path, manifest: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Return ``manifest`` ready to write; when ``folder`` holds an interrupted run, check it.

    Every key in ``keys`` must be the same as in the interrupted run's manifest (else
    ``InputError`` naming the first that differs), and the run keeps its start time.
    """
    path = folder / "manifest.json"
    if not path.exists():
        return manifest
    old = read_manifest(path)
    if "kind" in keys and old.get("kind") != manifest.get("kind"):
        made_by = str(old.get("kind") or "run")[:40]
        raise InputError(
            f"{folder}: cannot resume: not a {manifest.get('kind')} folder (a {made_by} "
            f"folder); resume a folder with the command that made it"
        )
    for key in keys:
        if old.get(key) != manifest.get(key):
            raise InputError(
                f"{folder}: cannot resume: {key} differs from the interrupted run "
                f"({old.get(key)!r} there, {manifest.get(key)!r} now)"
            )
    return {**manifest, "started_at": old.get("started_at", manifest.get("started_at"))}


@contextmanager
def scratch_folder(folder: Path, name: str = ".plots.tmp") -> Iterator[Path]:
    """Yield an empty hidden folder inside ``folder`` whose files are moved in at the end.

    When the block succeeds, each file is moved in whole (PNG files into ``plots/``, the
    rest into ``folder``) and the scratch folder removed. If the block fails (a full
    disk, Ctrl-C) the scratch folder goes with what it holds, so a failed write leaves
    nothing half-made.
    """
    scratch = folder / name
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        yield scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    made = sorted(scratch.iterdir())
    if any(p.suffix == ".png" for p in made):
        (folder / "plots").mkdir(exist_ok=True)
    for path in made:
        os.replace(path, folder / ("plots" if path.suffix == ".png" else "") / path.name)
    scratch.rmdir()


def wait_all(waits: Iterable[Callable[[], Any]]) -> None:
    """Call every wait (``Executor.beside``); then raise the first error, if any."""
    first: Exception | None = None
    for wait in waits:
        try:
            wait()
        except Exception as exc:  # the others still run: wait for them too
            first = first or exc
    if first is not None:
        raise first


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON (sorted keys) under a temporary name, then rename it."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"

    def write(tmp: Path) -> None:
        tmp.write_text(text)

    _write_atomic(path, write)


def run_batches(
    batch_dir: Path,
    batches: Sequence[Batch],
    executor: Executor,
    fn: Callable[..., tuple[pd.DataFrame, np.ndarray]],
    args: tuple[Any, ...],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Run the batches not yet in ``batch_dir`` and save each as it ends; read them all.

    ``fn(args[0], args[1], batch, args[2])`` runs one batch (the executor's contract). An
    interrupted run keeps its finished batches, so running again finishes the rest.
    """
    have = done_batches(batch_dir)
    todo = [b for b in batches if b.name not in have]
    finished = len(batches) - len(todo)
    if progress is not None:
        progress(finished, len(batches))

    def done(batch: Batch, result: tuple[pd.DataFrame, np.ndarray]) -> None:
        nonlocal finished
        save_batch(batch_dir, batch, *result)
        finished += 1
        if progress is not None:
            progress(finished, len(batches))

    executor.map(fn, todo, args, done)
    return load_batches(batch_dir, [b.name for b in batches])


def auto_batch_size(n_variants: int, replications: int, workers: int) -> int:
    """Batch replications so each task runs for seconds yet every worker gets work."""
    per_task = max(1, math.ceil(20 / max(1, n_variants)))  # ~20 policy-years per task
    return max(1, min(per_task, math.ceil(replications / max(1, 2 * workers))))


__all__ = [
    "Sweep",
    "SweepResult",
    "Variant",
    "bands",
    "build_variants",
    "current_values",
    "expand_values",
    "matching_variant",
    "pareto_front",
    "raw_scenario",
    "replays_traffic",
    "resume_manifest",
    "run_batch",
    "run_batches",
    "summarise",
    "write_json_atomic",
]

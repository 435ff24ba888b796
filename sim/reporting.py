"""Plumbing shared by ``ccsim forecast`` and ``ccsim compare``.

Running independent tasks (replications, plan variants) serially or on a local process
pool, in a fixed order whatever the number of workers; finding the licence-price table;
scenario overrides for quick studies (a shorter horizon, another seed); and the atomic run
folder with its manifest, written like ``ccsim run`` writes its own (``sim.io``).

Defines no model logic.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import shutil
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import tomli_w

from sim.io import RESULTS_ROOT, InputError, LoadedScenario, RunFolder, load_scenario
from sim.licences import SAMPLE_PRICES, LicencePrices, PriceFileError, load_prices
from sim.units import UnitError, parse_duration


def _single_threaded() -> None:
    # One thread per worker process: the parallelism is across processes.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def map_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
) -> list[Any]:
    """Return ``[fn(*task) for task in tasks]``, on ``workers`` local processes if > 1.

    Results come back in the order of ``tasks`` whatever the number of workers, and
    each task carries its own seed and replication number, so they do not depend on it.
    ``fn`` must be a module-level function (tasks travel to spawned processes).
    """
    n = len(tasks)
    if workers <= 1 or n <= 1:
        out = []
        for k, task in enumerate(tasks):
            out.append(fn(*task))
            if progress is not None:
                progress((k + 1) / n)
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: dict[int, Any] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, n), mp_context=context, initializer=_single_threaded
    ) as pool:
        futures = {pool.submit(fn, *task): k for k, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(len(results) / n)
    return [results[k] for k in range(n)]


def find_prices(loaded: LoadedScenario, path: str | Path | None = None) -> LicencePrices:
    """Return the licence prices; raise ``InputError`` for a bad or missing table.

    ``path`` when given, else ``prices/sample-licences.csv`` beside the scenario file,
    else the repository's illustrative ``scenarios/prices/sample-licences.csv``.
    """
    candidates: list[Path]
    if path is not None:
        candidates = [Path(path)]
    else:
        candidates = [loaded.path.parent / "prices" / "sample-licences.csv", SAMPLE_PRICES]
    for candidate in candidates:
        if path is not None or candidate.exists():
            try:
                return load_prices(candidate)
            except PriceFileError as exc:
                raise InputError(str(exc)) from None
    raise InputError(
        f"{loaded.path}: no licence-price table found; give --prices FILE "
        "(see scenarios/prices/sample-licences.csv)"
    )


def with_overrides(
    loaded: LoadedScenario, *, horizon: str | None = None, seed: int | None = None
) -> LoadedScenario:
    """Return the scenario with another horizon (``"90d"``) and/or seed, validated again.

    The file, its hash and its rate tables stay those of ``loaded``; the run folder's
    ``scenario.resolved.toml`` and manifest show the overrides.
    """
    sim = loaded.scenario.simulation
    changes: dict[str, Any] = {}
    if horizon is not None:
        try:
            changes["horizon"] = parse_duration(horizon)
        except UnitError as exc:
            raise InputError(f"--horizon: {exc}") from None
    if seed is not None:
        changes["seed"] = seed
    if not changes:
        return loaded
    try:
        scenario = replace(loaded.scenario, simulation=replace(sim, **changes))
    except ValueError as exc:
        raise InputError(f"{loaded.path}: simulation: {exc}") from None
    return replace(loaded, scenario=scenario)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def derive_scenario(
    source: LoadedScenario | str | Path,
    overrides: Mapping[str, Any],
    folder: Path,
    name: str | None = None,
) -> LoadedScenario:
    """Write a copy of a scenario file with ``overrides`` merged in, and load it.

    ``overrides`` is nested like the TOML file, e.g. ``{"simulation": {"horizon":
    "30d"}, "sweep": {"replications": 2}}``; tables are merged, other values replaced.
    Rate-table paths are made absolute so the copy works from ``folder``. Commands that
    read the file itself (``ccsim sweep``/``recommend``) then see the overrides too.
    """
    path = source.path if isinstance(source, LoadedScenario) else Path(source)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for key, rel in (data.get("tariffs") or {}).items():
        if isinstance(rel, str) and not Path(rel).is_absolute():
            data["tariffs"][key] = str((path.parent / rel).resolve())
    data = _merge(data, overrides)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name or path.stem}.toml"
    target.write_text(
        f"# Derived from {path} with overrides {dict(overrides)!r}\n" + tomli_w.dumps(data),
        encoding="utf-8",
    )
    return load_scenario(target)


class ReportFolder(RunFolder):
    """A ``sim.io.RunFolder`` (default root ``results/``) whose manifest names the prices.

    Use as a context manager: on any exception (Ctrl-C included) the staging folder is
    removed and nothing is left behind; ``finish`` renames it into place.
    """

    def __init__(self, out: Path | None, name: str, root: Path = RESULTS_ROOT) -> None:
        super().__init__(out, name, root)

    def finish(  # type: ignore[override]  # takes the prices too
        self,
        loaded: LoadedScenario,
        prices: LicencePrices | None,
        manifest: dict[str, Any],
        command: Sequence[str] = (),
    ) -> Path:
        """Write the scenario, the prices and the manifest, then publish the folder."""
        price_info: dict[str, Any] | None = None
        if prices is not None:
            price_info = {"file": prices.source, "sha256": prices.sha256}
            if prices.source and Path(prices.source).is_file():
                shutil.copyfile(prices.source, self.path("prices.csv"))
        return super().finish(loaded, {"licence_prices": price_info, **manifest}, command)


__all__ = [
    "RESULTS_ROOT",
    "ReportFolder",
    "derive_scenario",
    "find_prices",
    "map_tasks",
    "with_overrides",
]

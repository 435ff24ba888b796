"""Derived scenarios for quick studies: a scenario file with some settings overridden."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import tomli_w

from sim.core.errors import InputError
from sim.core.schema import ConfigError, FieldError, to_plain
from sim.core.units import UnitError, parse_duration
from sim.scenario.loading import LoadedScenario, load_scenario
from sim.scenario.model import Scenario


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
    given = " ".join(
        f"--{name} {horizon if name == 'horizon' else seed}" for name in changes
    )  # what the command line changed, for errors the changed scenario meets
    try:
        simulation = replace(sim, **changes)
    except FieldError as exc:  # a value given on the command line: name its option
        option = {"horizon": "--horizon", "seed": "--seed"}.get(exc.field)
        if option is not None and exc.field in changes:
            raise InputError(f"{option}: {exc.message}") from None
        raise InputError(f"{loaded.path}: simulation: {exc}") from None
    try:
        scenario = replace(loaded.scenario, simulation=simulation)
        # The file's rules too (ranges, horizon with growth), as for a scenario file.
        Scenario.from_dict(to_plain(scenario))
    except ConfigError as exc:
        option = {"simulation.horizon": "--horizon", "simulation.seed": "--seed"}.get(exc.path)
        if option is not None:
            raise InputError(f"{option}: {exc.message}") from None
        raise InputError(f"{loaded.path}: {exc} (with {given})") from None
    except (FieldError, ValueError) as exc:
        raise InputError(f"{loaded.path}: {exc} (with {given})") from None
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


__all__ = ["derive_scenario", "with_overrides"]

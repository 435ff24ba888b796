"""Build scenarios for tests from the default file, with overrides, as real TOML files."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from sim.scenario.loading import LoadedScenario, load_scenario

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "scenarios" / "default.toml"


def default_data() -> dict[str, Any]:
    """The default scenario as data, rate tables absolute, without its [uncertainties].

    Tests that vary settings (groups, traffic) would clash with the default file's
    uncertainties; tests of robust studies give their own.
    """
    data = tomllib.loads(DEFAULT.read_text())
    data.pop("uncertainties", None)
    for key, rel in data["tariffs"].items():
        data["tariffs"][key] = str(REPO / "scenarios" / rel)
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def small_tenant(scale: float = 0.2) -> dict[str, Any]:
    """The default tenant with fewer users (and a busier support line per user)."""
    data = default_data()
    for g in data["user_groups"]:
        g["count"] = max(1, round(g["count"] * scale))
        if "conferencing_assigned" in g:
            g["conferencing_assigned"] = max(1, round(g["conferencing_assigned"] * scale))
            g["conferencing_purchased"] = max(
                g["conferencing_assigned"], round(g["conferencing_purchased"] * scale)
            )
    return data


def write_scenario(tmp: Path, data: dict[str, Any], name: str = "s") -> LoadedScenario:
    path = tmp / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return load_scenario(path)

"""Reading inputs: scenario files (TOML) with one-line, file-named errors.

Scenario files are data: they are parsed with ``tomllib`` and never evaluated.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sim.scenario import Scenario
from sim.schema import ConfigError
from sim.tariffs import TariffBook


class InputError(Exception):
    """Bad input, reported to the user as one line: ``file: where: what is allowed``."""


@dataclass(frozen=True, slots=True)
class LoadedScenario:
    """A validated scenario with where it came from."""

    path: Path
    scenario: Scenario
    sha256: str
    tariffs: TariffBook | None

    @property
    def name(self) -> str:
        """The scenario's name: its ``simulation.name`` or the file's stem."""
        return self.scenario.simulation.name or self.path.stem


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read, parse and validate a scenario file; raise ``InputError`` on any problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, expected a .toml scenario file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: TOML syntax error: {exc}") from None
    try:
        scenario = Scenario.from_dict(data)
    except ConfigError as exc:
        raise InputError(f"{p}: {exc}") from None
    tariffs = None
    if scenario.tariffs is not None:
        # Rate tables are validated with the scenario; their errors name the CSV file.
        try:
            tariffs = scenario.tariffs.load(p.parent)
        except ConfigError as exc:
            raise InputError(f"{exc} (rate table of {p})") from None
    return LoadedScenario(
        path=p, scenario=scenario, sha256=hashlib.sha256(raw).hexdigest(), tariffs=tariffs
    )

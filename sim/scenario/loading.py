"""Reading a scenario file: parse, validate, load its rate tables; one-line errors.

Scenario files are data: they are parsed with ``tomllib`` and never evaluated. The file
must be a regular UTF-8 text file of at most 1 MiB (``sim.core.files``).
"""

from __future__ import annotations

import hashlib
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from sim.core.errors import InputError
from sim.core.files import decode_text, path_of, read_bytes, slug
from sim.core.limits import MAX_SCENARIO_BYTES
from sim.core.schema import ConfigError, to_plain
from sim.scenario.model import Scenario
from sim.telephony.tariffs import TariffBook


@dataclass(frozen=True, slots=True)
class LoadedScenario:
    """A validated scenario with where it came from."""

    path: Path
    scenario: Scenario
    sha256: str
    tariffs: TariffBook | None

    @property
    def name(self) -> str:
        """The scenario's name: its ``simulation.name`` or the file's stem (as a slug)."""
        return self.scenario.simulation.name or slug(self.path.stem)


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read, parse and validate a scenario file; raise ``InputError`` on any problem."""
    p = path_of(path, "scenario path")
    raw = read_bytes(p, MAX_SCENARIO_BYTES, "scenario file")  # FileRuleError: one line
    text = decode_text(raw, p, "scenario file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise InputError(f"{p}: TOML syntax error: nested too deeply") from None
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


# -- run folders -------------------------------------------------------------------------


def write_resolved_scenario(loaded: LoadedScenario, folder: Path) -> None:
    """Copy the scenario file and its rate tables, and write the resolved scenario.

    ``scenario.toml`` is the file as given; ``scenario.resolved.toml`` has every default
    filled in and points at the copied rate tables in ``tariffs/``, so the run folder
    alone reproduces the run.
    """
    shutil.copyfile(loaded.path, folder / "scenario.toml")
    plain = to_plain(loaded.scenario)
    files = loaded.scenario.tariffs
    if files is not None:
        (folder / "tariffs").mkdir()
        for key in ("outbound", "toll_free", "dial_out", "dial_in"):
            rel = getattr(files, key)
            if rel is None:
                continue
            src = Path(rel) if Path(rel).is_absolute() else loaded.path.parent / rel
            dst = folder / "tariffs" / f"{key}.csv"
            shutil.copyfile(src, dst)
            plain["tariffs"][key] = f"tariffs/{key}.csv"
    header = (
        f"# Resolved scenario of {loaded.path.name} (sha256 {loaded.sha256}):\n"
        "# every default filled in; rate tables copied into tariffs/.\n"
    )
    (folder / "scenario.resolved.toml").write_text(header + tomli_w.dumps(plain))


__all__ = ["LoadedScenario", "load_scenario", "write_resolved_scenario"]

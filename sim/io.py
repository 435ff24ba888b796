"""Files: reading scenarios (one-line, file-named errors) and writing run folders.

Scenario files are data: they are parsed with ``tomllib`` and never evaluated. Run
folders are written into a hidden staging folder and renamed into place when complete;
``RunFolder`` does that for every command that writes one.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pandas as pd
import tomli_w

from sim.scenario import Scenario
from sim.schema import ConfigError, to_plain
from sim.tariffs import TariffBook
from sim.units import format_money


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


# -- run folders -------------------------------------------------------------------------

MONEY_SUFFIX = "_micros"


def to_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with every ``*_micros`` column as a decimal string (suffix dropped)."""
    out = frame.copy()
    for col in list(out.columns):
        if col.endswith(MONEY_SUFFIX):
            out[col[: -len(MONEY_SUFFIX)]] = [format_money(int(v)) for v in out[col]]
            out = out.drop(columns=col)
    return out


def write_table(frame: pd.DataFrame, folder: Path, name: str) -> list[Path]:
    """Write ``name.parquet`` (exact integer money) and ``name.csv`` (decimal strings)."""
    parquet = folder / f"{name}.parquet"
    csv = folder / f"{name}.csv"
    frame.to_parquet(parquet, index=False)
    to_csv_frame(frame).to_csv(csv, index=False)
    return [parquet, csv]


def new_run_folder(root: Path, name: str) -> tuple[Path, Path]:
    """Return (staging folder, final folder) for a new run under ``root``.

    Results are written into the hidden staging folder and renamed into place at the
    end, so an interrupted run leaves no half-written run folder behind. The final name
    is ``<name>-<UTC timestamp>``, with a counter if that exists already.
    """
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    final = root / f"{name}-{stamp}"
    k = 2
    while final.exists():
        final = root / f"{name}-{stamp}-{k}"
        k += 1
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    return staging, final


def publish(staging: Path, final: Path) -> Path:
    """Move a finished staging folder into place (atomic rename; never overwrites)."""
    if final.exists():
        raise FileExistsError(f"{final} exists already; nothing was overwritten")
    os.rename(staging, final)
    return final


def discard(staging: Path) -> None:
    """Remove a staging folder after a failed or interrupted run."""
    shutil.rmtree(staging, ignore_errors=True)


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


def git_commit(cwd: Path | None = None) -> str:
    """Return the git commit of the source tree (``+dirty`` if modified), or ``unknown``."""
    here = cwd or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """Return the versions of Python and the packages that shape results."""
    out = {"python": platform.python_version()}
    for name in ("ccsim", "numpy", "pandas", "scipy", "simpy", "pyarrow", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` (sorted keys, UTF-8)."""
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def tool_identity(command: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Return the fields every manifest carries: tool, version, command, commit, packages."""
    from sim import __version__

    return {
        "tool": "ccsim",
        "version": __version__,
        "command": list(command),
        "git_commit": git_commit(),
        "packages": package_versions(),
    }


def run_identity(
    loaded: LoadedScenario, command: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Return ``tool_identity`` plus the scenario a run came from (name, file, sha256)."""
    return {**tool_identity(command), "scenario": scenario_identity(loaded)}


def scenario_identity(loaded: LoadedScenario) -> dict[str, Any]:
    """Return the manifest's ``scenario`` entry: name, file and sha256."""
    return {"name": loaded.name, "file": str(loaded.path), "sha256": loaded.sha256}


RESULTS_ROOT = Path("results")
"""Where new run folders go unless ``--out`` names one (relative to the working folder)."""


class RunFolder:
    """A new run folder, written in a hidden staging folder and renamed into place.

    Use as a context manager: on any exception (Ctrl-C included) the staging folder is
    removed, nothing is left behind and the exception goes on; ``finish`` (or
    ``write_manifest`` then ``publish``) puts the complete folder in place.

    Parameters
    ----------
    out
        The folder to write (``--out``); it must not exist. Staged beside it.
    name
        Without ``out``: the folder is ``root/<name>-<UTC timestamp>``.
    root
        Where folders without ``out`` go.

    Raises
    ------
    InputError
        If ``out`` exists already (nothing is overwritten).
    """

    def __init__(self, out: Path | None, name: str, root: Path = RESULTS_ROOT) -> None:
        if out is not None:
            if out.exists():
                raise InputError(
                    f"{out}: exists already; choose a new folder (nothing overwritten)"
                )
            self.staging, _ = new_run_folder(out.parent, out.name)
            self.final = out
        else:
            self.staging, self.final = new_run_folder(root, name)
        self.files: list[str] = []
        self.started = datetime.now(UTC)
        self.t0 = time.perf_counter()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            discard(self.staging)

    def add(self, *names: str) -> None:
        """Record files written into the folder (paths relative to it)."""
        self.files.extend(names)

    def table(self, frame: pd.DataFrame, name: str) -> None:
        """Write ``name.parquet`` and ``name.csv`` (``write_table``) and record them."""
        self.add(*(p.name for p in write_table(frame, self.staging, name)))

    def path(self, rel: str) -> Path:
        """Return the staging path of file ``rel`` (parent folders made) and record it."""
        target = self.staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        self.add(rel)
        return target

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write ``manifest.json``: ``manifest`` plus ``files``, every file recorded."""
        self.add("manifest.json")
        write_manifest(self.staging, {**manifest, "files": sorted(set(self.files))})

    def publish(self) -> Path:
        """Rename the complete staging folder into place; return the final folder."""
        self.staging.chmod(0o755)  # mkdtemp made it private; the run folder is not
        return publish(self.staging, self.final)

    def finish(
        self,
        loaded: LoadedScenario,
        manifest: dict[str, Any],
        command: Sequence[str] = (),
    ) -> Path:
        """Write the scenario and the manifest, then publish the folder; return it.

        The manifest has ``run_identity``, the seed, horizon, currency, start time and
        wall time, then ``manifest`` (which may replace any of them), then ``files``.
        The folder gets ``scenario.toml``, ``scenario.resolved.toml`` and ``tariffs/``
        (``write_resolved_scenario``).
        """
        write_resolved_scenario(loaded, self.staging)
        self.add("scenario.toml", "scenario.resolved.toml")
        if loaded.scenario.tariffs is not None:
            self.add(*(f"tariffs/{p.name}" for p in sorted((self.staging / "tariffs").iterdir())))
        sim = loaded.scenario.simulation
        self.write_manifest(
            {
                **run_identity(loaded, list(command)),
                "seed": sim.seed,
                "horizon_s": loaded.scenario.horizon_s,
                "currency": sim.currency,
                "started_at": self.started.isoformat(timespec="seconds"),
                "wall_s": round(time.perf_counter() - self.t0, 3),
                **manifest,
            }
        )
        return self.publish()

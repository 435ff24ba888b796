"""Run folders: every command's results, with the scenario and a manifest.

Run folders are written into a hidden staging folder and renamed into place when complete;
``RunFolder`` does that for every command that writes one. Before the rename every file
and folder of the staging folder is flushed to disk (``fsync``), and the parent folder
after it, so a crash never leaves a published folder with missing data.

A staging folder holds a marker naming the process that writes it. A killed run leaves
its staging folder behind; the next run folder created in the same place removes every
staging folder whose process is gone (``clean_staging``), and ``ccsim clean`` does the
same on demand. Run folder names are single path components (``sim.core.files.slug``).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pandas as pd

from sim.core.errors import InputError
from sim.core.files import name_error, refuse_under_file, slug
from sim.core.tables import write_table
from sim.core.version import __version__
from sim.core.workers import process_exists
from sim.scenario.loading import LoadedScenario, write_resolved_scenario


def check_new_folder(out: Path) -> None:
    """Refuse an ``--out`` folder that exists, has no name, or lies under a file."""
    if out.exists() or out.is_symlink():
        raise InputError(f"{out}: exists already; choose a new folder (nothing overwritten)")
    if out.name in ("", ".", ".."):
        raise InputError(f"{out}: name a new folder for --out")
    refuse_under_file(out, "; choose a new folder")


def new_run_folder(root: Path, name: str) -> tuple[Path, Path]:
    """Return (staging folder, final folder) for a new run under ``root``.

    Results are written into the hidden staging folder and renamed into place at the
    end, so an interrupted run leaves no half-written run folder behind. The final name
    is ``<name>-<UTC timestamp>``, with a counter if that exists already.
    """
    if name_error(name) is not None or not name:
        name = slug(name)
    root.mkdir(parents=True, exist_ok=True)
    clean_staging(root)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    final = root / f"{name}-{stamp}"
    k = 2
    while final.exists():
        final = root / f"{name}-{stamp}-{k}"
        k += 1
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    (staging / STAGING_MARKER).write_text(f"{os.getpid()} {socket.gethostname()}\n")
    return staging, final


STAGING_MARKER = ".ccsim-staging"
"""The file in a staging folder naming the process writing it: ``<pid> <host>``."""
_STAGING_RE = re.compile(r"^\..+-\d{8}-\d{6}(-\d+)?\.[a-z0-9_]{8}$")
"""``.<name>-<YYYYMMDD>-<HHMMSS>[-k].<8 characters of tempfile.mkdtemp>``."""
STALE_UNMARKED_S = 24 * 3600.0
"""A staging folder without a marker counts as stale after a day."""


def _ours_unmarked(folder: Path) -> bool:
    """Return whether an unmarked folder is a run's: empty, or holding a manifest.

    A run leaves one empty when cut off between making it and writing the marker, and
    one with a manifest when cut off between dropping the marker and the rename.
    Anything else with a similar name is somebody else's and stays.
    """
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return False
    return not names or "manifest.json" in names


def _writer_alive(marker: Path) -> bool:
    try:
        pid_text, host = marker.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return True  # another machine's run: never touched
    return pid != 0 and process_exists(pid)


def stale_staging(root: Path) -> list[Path]:
    """Return the staging folders under ``root`` left by runs that are gone."""
    out: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return out
    for entry in entries:
        if not _STAGING_RE.match(entry.name) or not entry.is_dir() or entry.is_symlink():
            continue
        marker = entry / STAGING_MARKER
        if marker.exists():
            if not _writer_alive(marker):
                out.append(entry)
        else:
            try:
                age_s = time.time() - entry.stat().st_mtime
            except OSError:
                continue
            if age_s > STALE_UNMARKED_S and _ours_unmarked(entry):
                out.append(entry)
    return sorted(out)


def clean_staging(root: Path) -> list[Path]:
    """Remove the stale staging folders under ``root`` (best effort); return them."""
    gone = stale_staging(root)
    for folder in gone:
        shutil.rmtree(folder, ignore_errors=True)
    return gone


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` (and itself) to disk."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the system allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync folders
    finally:
        os.close(fd)


def publish(staging: Path, final: Path) -> Path:
    """Move a finished staging folder into place (flushed, atomic rename, never overwrites)."""
    if final.exists():
        raise FileExistsError(f"{final} exists already; nothing was overwritten")
    (staging / STAGING_MARKER).unlink(missing_ok=True)
    fsync_tree(staging)
    os.rename(staging, final)
    fsync_dir(final.parent)
    return final


def discard(staging: Path) -> None:
    """Remove a staging folder after a failed or interrupted run."""
    shutil.rmtree(staging, ignore_errors=True)


def git_commit(cwd: Path | None = None) -> str:
    """Return the git commit of the source tree (``+dirty`` if modified), or ``unknown``."""
    here = cwd or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "--no-optional-locks", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
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
            check_new_folder(out)
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
        if exc_type is not None and self.staging.exists():
            discard(self.staging)
        if isinstance(exc, OSError):
            self._name_final(exc)

    def _name_final(self, exc: OSError) -> None:
        """Make an I/O error name the run folder, not the hidden staging folder (or none).

        A user never sees the staging folder (it is renamed into place or removed), so
        ``.run-….x1y2/outcomes.parquet: no space left on device`` becomes
        ``run/outcomes.parquet: ...``, and an error naming no file names the folder.
        """
        staging = self.staging.absolute()
        for attr in ("filename", "filename2"):
            name = getattr(exc, attr)
            if not isinstance(name, str | bytes | os.PathLike):
                continue
            try:
                path = Path(os.fsdecode(name)).absolute()
            except (TypeError, ValueError):  # an undecodable name: left as it is
                continue
            if path.is_relative_to(staging):
                setattr(exc, attr, str(self.final / path.relative_to(staging)))
        if exc.filename is None:
            exc.filename = str(self.final)

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

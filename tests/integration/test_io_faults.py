"""Issue 17: I/O faults, closed pipes, Ctrl-C and leftovers end with one line and a code."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import sim.scenario.folders
from sim.cli.main import main
from sim.scenario.folders import STAGING_MARKER
from tests.scenario_support import merge, small_tenant, write_scenario

EXIT_IO = 3


@pytest.fixture
def scenario_file(tmp_path):
    data = merge(
        small_tenant(0.1),
        {"simulation": {"horizon": "5d", "name": "tiny"}, "sweep": {"warm_up": "0d"}},
    )
    return write_scenario(tmp_path, data, "tiny").path


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_unwritable_output_folder(tmp_path, scenario_file, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ro"))

    monkeypatch.setattr(sim.scenario.folders.tempfile, "mkdtemp", refuse)
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "ro" / "x"), "-q"]) == EXIT_IO
    line = one_line(capsys.readouterr().err)
    assert line == f"{tmp_path / 'ro'}: permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="chmod does not stop root")
def test_read_only_folder_with_chmod(tmp_path, scenario_file):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sim", "run", "-q", str(scenario_file), "--out", str(ro / "x")],
            capture_output=True,
            text=True,
        )
    finally:
        ro.chmod(0o755)
    assert proc.returncode == EXIT_IO
    assert "permission denied" in one_line(proc.stderr)


def test_full_disk_leaves_nothing(tmp_path, scenario_file, monkeypatch, capsys):
    def full(loaded, folder):
        (folder / "scenario.toml").write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "scenario.toml"))

    monkeypatch.setattr(sim.scenario.folders, "write_resolved_scenario", full)
    out = tmp_path / "full"
    assert main(["run", str(scenario_file), "--out", str(out), "-q", "--no-plots"]) == EXIT_IO
    assert "no space left on device" in one_line(capsys.readouterr().err)
    assert not out.exists()
    assert hidden(tmp_path) == []


def test_vanished_staging_folder(tmp_path, scenario_file, monkeypatch, capsys):
    real = sim.scenario.folders.write_resolved_scenario

    def vanish(loaded, folder):
        shutil.rmtree(folder)
        real(loaded, folder)

    monkeypatch.setattr(sim.scenario.folders, "write_resolved_scenario", vanish)
    out = tmp_path / "gone"
    assert main(["run", str(scenario_file), "--out", str(out), "-q", "--no-plots"]) == EXIT_IO
    assert "no such file or directory" in one_line(capsys.readouterr().err)
    assert not out.exists()


def sweep(scenario_file: Path, out: Path, *extra: str) -> int:
    return main(
        ["sweep", str(scenario_file), "--trigger", "100,200", "--replications", "2"]
        + ["--batch-size", "1", "--serial", "-q", *extra]
        + (["--out", str(out)] if "--resume" not in extra else [])
    )


def test_full_disk_in_a_sweep_batch_and_a_truncated_batch_on_resume(
    tmp_path, scenario_file, monkeypatch, capsys
):
    out = tmp_path / "sw"
    assert sweep(scenario_file, out) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    (batches,) = (out / "batches").iterdir()
    names = sorted(p.name for p in batches.glob("reps-*.parquet"))
    assert names
    # Truncate one batch: --resume reports it and runs it again, with the same results.
    victim = batches / names[-1]
    victim.write_bytes(victim.read_bytes()[:100])
    capsys.readouterr()
    assert sweep(scenario_file, out, "--resume", str(out)) == 0
    err = capsys.readouterr().err
    assert "corrupt or truncated batch" in err
    assert names[-1].removesuffix(".parquet") in err
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), runs)
    # A full disk while a batch is saved: exit 3, no temporary file left behind.
    for p in batches.glob("reps-*"):
        p.unlink()
    real = pd.DataFrame.to_parquet

    def full(self, path, *args, **kwargs):
        if str(path).endswith(".parquet.tmp"):
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    assert sweep(scenario_file, out, "--resume", str(out)) == EXIT_IO
    assert "no space left on device" in one_line(capsys.readouterr().err)
    assert hidden(batches) == []


def test_closed_pipe_ends_quietly(tmp_path, scenario_file):
    files = [str(scenario_file)] * 40
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "validate", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # as `| head -c 10` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def _start_longer_run(scenario_file: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim",
            "run",
            "-q",
            "--no-plots",
            "--workers",
            "2",
            "--replications",
            "6",
            str(scenario_file),
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's job
    )


def test_ctrl_c_while_workers_start_prints_one_line(tmp_path):
    data = merge(small_tenant(0.5), {"simulation": {"horizon": "180d", "name": "longer"}})
    scenario_file = write_scenario(tmp_path, data, "longer").path
    out = tmp_path / "never"
    # A background job starts with SIGINT ignored, and a child inherits that: with
    # Python's own handler here for the moment of the start, the child starts with the
    # default, as from a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = _start_longer_run(scenario_file, out)
    finally:
        signal.signal(signal.SIGINT, previous)
    time.sleep(1.5)  # the modules are loaded and the workers are starting
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt")
    assert proc.returncode == 130
    assert one_line(err) == "interrupted"
    assert not out.exists()
    assert hidden(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["longer.toml"]


def test_stale_staging_folders_are_removed(tmp_path, scenario_file, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "results"
    root.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    host = os.uname().nodename
    stale = root / ".tiny-20260101-000000.abc123"
    stale.mkdir()
    (stale / STAGING_MARKER).write_text(f"{dead} {host}\n")
    live = root / ".tiny-20260101-000001.def456"
    live.mkdir()
    (live / STAGING_MARKER).write_text(f"{os.getpid()} {host}\n")
    assert main(["clean", "--dry-run"]) == 0
    assert stale.exists()
    assert "would remove" in capsys.readouterr().out
    assert main(["run", str(scenario_file), "-q", "--no-plots"]) == 0  # cleans as it starts
    assert not stale.exists()
    assert live.exists()
    (live / STAGING_MARKER).write_text(f"{dead} {host}\n")
    assert main(["clean"]) == 0
    assert not live.exists()
    assert "1 stale staging folder(s) removed" in capsys.readouterr().out
    published = [p for p in root.iterdir() if not p.name.startswith(".")]
    assert len(published) == 1
    assert not (published[0] / STAGING_MARKER).exists()
    assert STAGING_MARKER not in json.loads((published[0] / "manifest.json").read_text())["files"]

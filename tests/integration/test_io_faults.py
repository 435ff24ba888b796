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


def _blocked_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigBlk line")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_workers_start_with_ctrl_c_held_and_the_parent_raises_it_after():
    """The mechanism, deterministically: a child spawned in the block starts with SIGINT
    blocked; a Ctrl-C in the block is raised when it ends, not in the middle of a spawn."""
    import multiprocessing

    from sim.core.workers import children_start_without_interrupts

    sigint = 1 << (signal.SIGINT - 1)
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=time.sleep, args=(30,))
    reached_the_end = []

    def start_and_press_ctrl_c() -> None:
        with children_start_without_interrupts():
            child.start()
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the worker is starting
            time.sleep(0.05)
            reached_the_end.append(True)

    # Python's own handler, as in a terminal (a background job starts with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            start_and_press_ctrl_c()
        assert reached_the_end
        assert _blocked_signals(child.pid) & sigint
        assert not _blocked_signals(os.getpid()) & sigint  # the parent's mask is back
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
        if child.pid is not None:
            child.terminate()
            child.join(5)


def _worker_of(pid: int) -> int | None:
    """A pool worker the process has spawned (its command line runs ``spawn_main``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_ctrl_c_as_a_worker_process_starts_prints_one_line(tmp_path, command):
    """Ctrl-C the moment the first worker exists: it is still starting its interpreter.

    Workers start with SIGINT blocked and take it once they can end quietly; a worker
    interrupted inside its start-up used to print "Fatal Python error" and a traceback.
    """
    data = merge(small_tenant(0.5), {"simulation": {"horizon": "180d", "name": "longer"}})
    scenario_file = write_scenario(tmp_path, data, "longer").path
    out = tmp_path / "never"
    args = ["--replications", "6"] if command == "run" else ["--trigger", "100:300:100"]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim", command, "-q", "--workers", "2", *args]
            + [str(scenario_file), "--out", str(out)]
            + (["--no-plots"] if command == "run" else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 60
    while _worker_of(proc.pid) is None and proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no worker process started within 60 s")
        time.sleep(0.001)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Fatal Python error" not in err
    assert proc.returncode == 130, err
    assert one_line(err) == "interrupted"
    if command == "run":
        assert not out.exists()
    else:  # a sweep's folder keeps its complete batches for --resume
        assert not out.exists() or (out / "manifest.json").exists()
    assert hidden(tmp_path) == []


def test_stale_staging_folders_are_removed(tmp_path, scenario_file, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "results"
    root.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    host = os.uname().nodename
    stale = root / ".tiny-20260101-000000.abc123xy"
    stale.mkdir()
    (stale / STAGING_MARKER).write_text(f"{dead} {host}\n")
    live = root / ".tiny-20260101-000001.def456xy"
    live.mkdir()
    (live / STAGING_MARKER).write_text(f"{os.getpid()} {host}\n")
    assert main(["clean", "--dry-run"]) == 0
    assert stale.exists()
    printed = capsys.readouterr().out
    assert f"would remove results/{stale.name}" in printed
    assert "1 stale staging folder(s) to remove (dry run)" in printed
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


def test_unmarked_folders_are_removed_only_when_a_run_could_have_left_them(tmp_path):
    from sim.scenario.folders import clean_staging

    old = time.time() - 2 * 86400
    empty = tmp_path / ".tiny-20260101-000000.k2j4h6g8"  # cut off before its marker
    with_manifest = tmp_path / ".tiny-20260101-000001.m2n4b6v8"  # before the rename
    theirs = tmp_path / ".photos-20240101-120000.q2w4e6r8"  # a look-alike with files
    backup = tmp_path / ".photos-20240101-120000.bak"  # not a mkdtemp name at all
    for folder in (empty, with_manifest, theirs, backup):
        folder.mkdir()
    (with_manifest / "manifest.json").write_text("{}")
    (theirs / "holiday.jpg").write_text("x")
    (backup / "file").write_text("x")
    for folder in (empty, with_manifest, theirs, backup):
        os.utime(folder, (old, old))
    assert clean_staging(tmp_path) == sorted([empty, with_manifest])
    assert theirs.exists()
    assert backup.exists()

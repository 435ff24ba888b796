"""The compiled billing modules: a stale build is never used, and a build changes nothing."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys

import pytest

from sim.core import native
from tests.scenario_support import REPO

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def fake_package(tmp_path, record):
    folder = tmp_path / "fakepkg"
    folder.mkdir()
    (folder / "mod.py").write_text("VALUE = 'from source'\n")
    (folder / "plain.py").write_text("VALUE = 1\n")  # never compiled: never listed
    (folder / f"mod{SUFFIX}").write_bytes(b"not a real extension")
    if record is not None:
        (folder / native.RECORD).write_text(json.dumps(record))
    return folder


def test_a_build_is_used_only_while_its_source_is_the_one_compiled(tmp_path, monkeypatch):
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    folder = fake_package(tmp_path, None)
    digest = native.source_hash(folder / "mod.py")
    modules = ("mod", "plain")
    assert native.stale_modules(folder, modules) == {
        "mod": "its source changed since it was compiled"
    }
    (folder / native.RECORD).write_text(json.dumps({"mod": digest}))
    assert native.stale_modules(folder, modules) == {}
    (folder / "mod.py").write_text("VALUE = 'edited'\n")
    assert list(native.stale_modules(folder, modules)) == ["mod"]
    (folder / "mod.py").write_text("VALUE = 'from source'\n")
    monkeypatch.setenv(native.PURE_ENV, "1")
    assert native.stale_modules(folder, modules) == {"mod": f"{native.PURE_ENV} is set"}
    (folder / native.RECORD).write_text("{not json")
    monkeypatch.delenv(native.PURE_ENV)
    assert list(native.stale_modules(folder, modules)) == ["mod"]


def test_a_stale_build_is_bypassed_for_the_source_with_one_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    folder = fake_package(tmp_path, {"mod": "0" * 64})
    monkeypatch.setitem(native.COMPILED, "fakepkg", ("mod",))
    monkeypatch.delitem(sys.modules, "fakepkg.mod", raising=False)
    native.prefer_fresh_source("fakepkg", str(folder))
    try:
        assert sys.modules["fakepkg.mod"].VALUE == "from source"
        assert sys.modules["fakepkg.mod"].__file__.endswith("mod.py")
    finally:
        del sys.modules["fakepkg.mod"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "fakepkg.mod is not used" in err[0]
    assert "compile it again" in err[0]


CHILD = r"""
import hashlib, sys
from dataclasses import replace
from sim.core.native import compiled_in_use
from sim.engine import RatedTraffic, run_replication
from sim.engine.results import outcome_row, outcomes_of
from sim.experiments.sweeps import build_variants, read_raw, steady
from sim.scenario.loading import load_scenario

loaded = load_scenario(sys.argv[1])
raw = read_raw(loaded.path)
settings = {"recharge.trigger": "50:450:200", "recharge.amount": "250:2250:1000"}
variants = [
    replace(v, scenario=steady(v.scenario, 120 * 86400.0)) for v in build_variants(raw, settings)
]
h = hashlib.sha256()
for rep in range(2):
    cache = RatedTraffic()
    for v in variants:
        out = run_replication(v.scenario, loaded.tariffs, rep, rated=cache, lean=True)
        h.update(repr(sorted(outcome_row(out).items())).encode())
        h.update(out.day_balance.tobytes())
full = run_replication(variants[0].scenario, loaded.tariffs, 0)
h.update(outcomes_of(full).to_csv().encode())
h.update(repr([(e.t_s, e.kind, e.amount, e.lot_id) for e in full.account.ledger.entries]).encode())
used = compiled_in_use().values()
print(all(used), any(used), h.hexdigest())
"""


def test_compiled_and_pure_python_billing_give_identical_runs():
    if not all(native.compiled_in_use().values()):
        pytest.skip("the billing modules are not compiled here (python -m sim.core.native)")
    scenario = str(REPO / "scenarios" / "default.toml")
    results = []
    for pure in ("0", "1"):
        env = {**os.environ, native.PURE_ENV: pure}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, scenario],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=REPO,
        )
        results.append(done.stdout.split())
    compiled, pure_python = results
    assert compiled[:2] == ["True", "True"]  # every compiled module in use
    assert pure_python[:2] == ["False", "False"]  # none
    assert compiled[2] == pure_python[2]

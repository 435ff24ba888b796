"""The layers of docs/architecture.md: import contracts, public API, no SimPy below the engine."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sim

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

FUNCTIONAL_CORE = (
    "sim.core.units",
    "sim.core.schema",
    "sim.telephony.rating",
    "sim.billing.account",
    "sim.traffic.model",
    "sim.scenario.loading",
    "sim.scenario.folders",
)


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # The tree under ``root`` comes first on the path, ahead of the installed package.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_hold():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("sim/core/units.py", "import simpy", "Only sim.engine imports SimPy BROKEN"),
        (
            "sim/telephony/tariffs.py",
            "from sim.engine import run_replication",
            "Layers: each subpackage imports only those below it BROKEN",
        ),
        (
            "sim/reports/forecast.py",
            "from sim.reports import cost_plots",
            "No import circles between the modules of a subpackage BROKEN",
        ),
        (
            "sim/experiments/sweeps.py",
            "from sim.cli import main",
            "Layers: each subpackage imports only those below it BROKEN",
        ),
    ],
)
def test_a_broken_import_breaks_a_contract(tmp_path, module, line, broken):
    shutil.copytree(REPO / "sim", tmp_path / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    # Inside a function: lazy imports count as much as module-level ones.
    target.write_text(
        target.read_text() + f"\n\ndef _broken() -> None:\n    {line}  # noqa\n", encoding="utf-8"
    )
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout


@pytest.mark.parametrize("module", FUNCTIONAL_CORE)
def test_the_functional_core_imports_without_simpy(module):
    code = f"import sys, {module}; print('simpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_sim_loads_nothing_heavy():
    heavy = ("simpy", "pandas", "sim.engine")
    code = f"import sys, sim; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves():
    assert set(sim.__all__) == {"__version__", *sim._API}
    for name in sim.__all__:
        assert getattr(sim, name) is not None, name
    loaded = sim.load_scenario(REPO / "scenarios" / "default.toml")
    assert isinstance(loaded.scenario, sim.Scenario)
    assert callable(sim.run_replication)
    assert sim.forecast.forecast is not None  # a module: forecast.forecast, summary_lines


def test_an_unknown_public_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = sim.nothing_here  # type: ignore[attr-defined]

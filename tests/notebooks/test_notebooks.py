"""The notebooks run end to end with small parameters, and are committed without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# Small parameters replacing each notebook's cell tagged "parameters" (a few seconds each).
# Horizons stay clear of daylight-saving changes, so that they end at a local midnight.
SMALL = {
    "budget-forecast.ipynb": {
        "SCENARIO": "../scenarios/enterprise-us.toml",
        "REPLICATIONS": 3,
        "HORIZON": "31d",
        "PRICES": None,
        "WORKERS": 1,
    },
    "plan-comparison.ipynb": {
        "SCENARIO": "../scenarios/small-business-payg.toml",
        "PLANS": ["payg", "domestic"],
        "GROUPS": None,
        "REPLICATIONS": 2,
        "HORIZON": "31d",
        "BREAKEVEN_PLAN": "domestic",
        "BREAKEVEN_USERS": 20,
        "PRICES": None,
        "WORKERS": 1,
    },
    "robust-recharge.ipynb": {
        "SCENARIO": "../scenarios/default.toml",
        "TRIGGERS": "250,750",
        "AMOUNTS": "1000,2000",
        "FUTURES": 6,
        "REPLICATIONS": 1,
        "WARM_UP": "0d",
        "HORIZON": "31d",
        "TARGET": 0.5,
        "MIN_SHARE": 0.5,
        "WORKERS": 1,
    },
    "recharge-tuning.ipynb": {
        "SCENARIO": "../scenarios/default.toml",
        "TRIGGERS": "250,750",
        "AMOUNTS": "1000,2000",
        "REPLICATIONS": 2,
        "REFINE_REPLICATIONS": 2,
        "MAX_REPLICATIONS": 6,
        "MAX_OUTAGE": 0.2,
        "WARM_UP": "31d",
        "HORIZON": "31d",
        "OUT": None,
        "WORKERS": 1,
    },
}


def _parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    return cells[0]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_is_committed_clean(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown"  # says what it shows
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert nb.cells.index(_parameters_cell(nb)) <= 1  # parameters come first
    names = {line.split("=")[0].strip() for line in _parameters_cell(nb).source.splitlines()}
    assert set(SMALL[name]) <= names  # the test overrides real parameters


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cell = _parameters_cell(nb)
    cell.source = "\n".join(f"{k} = {v!r}" for k, v in SMALL[name].items())
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook ends with figures"
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert any("image/png" in o.get("data", {}) for o in last.outputs)

"""Golden regression: a fixed tiny scenario and seed give the stored tables.

Money and counts must match exactly; float columns (times, minutes) to 1e-12.
Regenerate only deliberately: ``python -m tests.regression.make_golden``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.regression.golden_support import GOLDEN, TABLES, golden_tables


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    return golden_tables(tmp_path_factory.mktemp("golden"))


@pytest.mark.regression
@pytest.mark.parametrize("name", TABLES)
def test_golden_table(fresh, name):
    stored = pd.read_csv(GOLDEN / f"{name}.csv", keep_default_na=False)
    got = pd.read_csv(pd.io.common.StringIO(fresh[name].to_csv(index=False)), keep_default_na=False)
    assert list(got.columns) == list(stored.columns)
    assert len(got) == len(stored)
    for col in stored.columns:
        if pd.api.types.is_float_dtype(stored[col]):
            pd.testing.assert_series_equal(got[col], stored[col], rtol=1e-12, check_exact=False)
        else:
            assert got[col].astype(str).tolist() == stored[col].astype(str).tolist(), col


def test_golden_scenario_is_eventful():
    stored = pd.read_csv(GOLDEN / "outcomes.csv")
    assert stored["recharges_declined"].iloc[0] + stored["declined_attempts"].iloc[0] > 0
    assert stored["blocked_attempts"].iloc[0] > 0

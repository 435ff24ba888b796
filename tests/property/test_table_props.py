"""Property: CSV money text of a whole column equals the value-by-value conversion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.tables import _money_text, _money_texts, to_csv_frame

# Amounts near the edges: cents, odd micro-units, halves of a micro-unit in means, and
# values beyond what an int64 or a float's integer range hold.
_INTS = st.one_of(
    st.integers(-(10**13), 10**13),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 10_000, -10_000, 999_999, -1_000_001]),
)
_FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e13, max_value=1e13),
    st.just(math.nan),
    st.sampled_from([0.5, -0.5, 1.5, -2.5, -0.0, 0.49999999999999994, 2.0**62, -(2.0**63)]),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_INTS, max_size=40))
def test_integer_columns(values: list[int]) -> None:
    column = pd.Series(values, dtype=np.int64)
    assert _money_texts(column) == [_money_text(v) for v in column]


@settings(max_examples=300, deadline=None)
@given(st.lists(_FLOATS, max_size=40))
def test_float_columns_round_half_away_from_zero(values: list[float]) -> None:
    column = pd.Series(values, dtype=np.float64)
    texts = _money_texts(column)
    assert texts == [_money_text(v) for v in column]
    assert all((t == "") == math.isnan(v) for t, v in zip(texts, values, strict=True))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-(10**15), 10**15)), max_size=30))
def test_nullable_integer_columns_leave_missing_empty(values: list[int | None]) -> None:
    column = pd.Series(values, dtype="Int64")
    frame = to_csv_frame(pd.DataFrame({"amount_micros": column}))
    assert frame["amount"].tolist() == [_money_text(v) for v in column]

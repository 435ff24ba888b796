"""Property: merging a chunk's held-back meeting legs is a stable sort of the two."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.telephony.calls import CallBatch
from sim.traffic.model import _merge_sorted

starts = st.lists(st.integers(0, 40), max_size=30).map(sorted)


def _batch(start: list[int], first_id: int) -> CallBatch:
    n = len(start)
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    return CallBatch(
        call_id=ids,
        subscriber_id=ids % 7,
        group=(ids % 2).astype(np.int32),
        usage_country=np.zeros(n, np.int16),
        dest_country=(ids % 3).astype(np.int16),
        number_type=np.zeros(n, np.int8),
        call_type=(ids % 5).astype(np.int8),
        start_s=np.asarray(start, dtype=np.float64),
        duration_s=ids * 1.5,
        groups=("a", "b"),
        countries=("CA", "GB", "US"),
    )


@settings(max_examples=200, deadline=None)
@given(starts, starts)
def test_merge_is_the_stable_sort_of_both(first: list[int], then: list[int]) -> None:
    a, b = _batch(first, 0), _batch(then, 1000)
    merged = _merge_sorted(a, b)
    joined = CallBatch.concat([a, b])
    expected = joined.take(np.argsort(joined.start_s, kind="stable"))
    for name in ("call_id", "start_s", "duration_s", "group", "call_type", "dest_country"):
        got, want = getattr(merged, name), getattr(expected, name)
        assert got.dtype == want.dtype, name
        assert np.array_equal(got, want), name

"""The call model: scalar Call and columnar CallBatch."""

from __future__ import annotations

import numpy as np
import pytest

from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES, Call, CallBatch, CallType, NumberType
from tests.rating_support import call


def test_call_types_are_the_usage_report_types():
    assert [t.value for t in CALL_TYPES] == [
        "user_in", "user_out", "user_out_conf", "user_out_transfer", "user_out_forwarding",
        "conf_in", "conf_out", "ucap_in", "ucap_out",
    ]  # fmt: skip
    assert [t.value for t in NUMBER_TYPES] == ["toll", "toll_free", "premium"]


def test_call_validation():
    with pytest.raises(ValueError, match="'UK' is not ISO 3166-1 alpha-2: use 'GB'"):
        call(dest="UK")
    with pytest.raises(ValueError, match="duration_s must be finite and >= 0"):
        call(duration_s=-1)
    with pytest.raises(ValueError, match="'sms'"):
        call(call_type="sms")
    c = Call(1, 2, "g", "US", "US", "toll", "user_out", 0.0, 1.0)  # type: ignore[arg-type]
    assert c.number_type is NumberType.TOLL
    assert c.call_type is CallType.USER_OUT


def test_batch_round_trip():
    calls = [
        call("a", "user_out", dest="GB", start_s=1.0, duration_s=30.0, call_id=1),
        call("b", "conf_in", usage="PR", number_type="toll_free", start_s=2.0, call_id=2),
        call("a", "ucap_in", dest="US", number_type="premium", start_s=2.0, call_id=3),
    ]
    batch = CallBatch.from_calls(calls)
    assert len(batch) == 3
    assert list(batch) == calls
    assert batch.groups == ("a", "b")
    assert batch.countries == ("GB", "PR", "US")
    assert batch.group.dtype == np.int32
    assert batch.call_type.dtype == np.int8
    assert batch.is_time_sorted()


def test_batch_sort_take_concat():
    calls = [call(start_s=s, call_id=i) for i, s in enumerate([3.0, 1.0, 1.0, 2.0])]
    batch = CallBatch.from_calls(calls)
    assert not batch.is_time_sorted()
    ordered = batch.sorted_by_start()
    assert ordered.call_id.tolist() == [1, 2, 3, 0]  # ties keep their order
    other = CallBatch.from_calls([call("z", dest="JP", call_id=9)])
    joined = CallBatch.concat([ordered, other])
    assert [c.call_id for c in joined] == [1, 2, 3, 0, 9]
    assert joined.call(4).group == "z"
    assert joined.call(4).dest_country == "JP"
    assert joined.call(0) == calls[1]
    assert len(batch.take(batch.call_id > 1)) == 2


def test_batch_validation():
    good = CallBatch.from_calls([call()])
    cols = {
        name: getattr(good, name)
        for name in (
            "call_id", "subscriber_id", "group", "usage_country", "dest_country",
            "number_type", "call_type", "start_s", "duration_s", "groups", "countries",
        )
    }  # fmt: skip
    with pytest.raises(ValueError, match="column 'group': codes must lie in"):
        CallBatch(**{**cols, "group": np.array([5])})
    with pytest.raises(ValueError, match="expected a 1-d array of length 1"):
        CallBatch(**{**cols, "start_s": np.array([1.0, 2.0])})
    with pytest.raises(ValueError, match="duration_s"):
        CallBatch(**{**cols, "duration_s": np.array([np.nan])})
    with pytest.raises(ValueError, match="unknown label 'sms'"):
        CallBatch.from_columns(**_cols("sms"))
    assert len(CallBatch.from_columns(**_cols("conf_out"))) == 1


def _cols(call_type):
    return {
        "call_id": [1], "subscriber_id": [1], "group": ["g"], "usage_country": ["US"],
        "dest_country": ["US"], "number_type": ["toll"], "call_type": [call_type],
        "start_s": [0.0], "duration_s": [1.0],
    }  # fmt: skip

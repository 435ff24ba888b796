"""A call table edited by hand is refused in one line naming the column and what is allowed.

``ccsim import-log`` writes typed columns from code lists (``sim.calllogs.reader``); a
table retyped or mistyped afterwards must not reach rating, where it would fail with a
traceback or be priced as something else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calllogs.reader import read_call_log, read_call_table, write_call_table
from sim.calllogs.report import ImportOptions
from sim.core.errors import InputError

SAMPLE = Path(__file__).resolve().parents[2] / "scenarios" / "logs" / "sample-graph.json.gz"


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("edited") / "calls.parquet"
    write_call_table(SAMPLE, out, ImportOptions(key="edited-table-test-key"))
    read_call_table(out)  # an untouched import is accepted
    return pd.read_parquet(out)


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], None]:
    def edit(t: pd.DataFrame) -> None:
        t.loc[row, column] = value

    return edit


def _retype(column: str, kind: str) -> Callable[[pd.DataFrame], None]:
    def edit(t: pd.DataFrame) -> None:
        t[column] = t[column].astype(kind)

    return edit


EDITS = {
    "duration as text": (
        _retype("duration_s", "str"),
        "column 'duration_s': found str; expected numbers",
    ),
    "start as text": (
        _retype("start", "str"),
        "column 'start': found str; expected time zone-aware",
    ),
    "charge as float": (
        _retype("charge_micros", "float64"),
        "column 'charge_micros': found float64; expected whole numbers",
    ),
    "negative duration": (
        _set("duration_s", 0, -5.0),
        "column 'duration_s': row 1 is '-5.0'; expected seconds, at least 0",
    ),
    "start_s missing": (
        _set("start_s", 3, np.nan),
        "column 'start_s': row 4 is 'nan'; expected a finite number",
    ),
    "unknown call type": (
        _set("call_type", 3, "bogus"),
        "column 'call_type': row 4 is 'bogus'; expected a ccsim call type",
    ),
    "unknown number type": (
        _set("number_type", 5, "tollfree"),
        "column 'number_type': row 6 is 'tollfree'; expected a number type",
    ),
    "unknown country": (
        _set("dest_country", 3, "ZZ"),
        "column 'dest_country': row 4 is 'ZZ'; expected an ISO 3166-1",
    ),
    "second currency": (
        _set("currency", 3, "EUR"),
        "column 'currency': row 4 is 'EUR'; expected the table's one currency, USD",
    ),
    "negative charge": (
        _set("charge_micros", 2, -10),
        "column 'charge_micros': row 3 is '-10'; expected micro-units, at least 0",
    ),
    "charge missing": (
        lambda t: t.__setitem__(
            "charge_micros", t["charge_micros"].astype("Int64").where(t.index != 1)
        ),
        "column 'charge_micros': row 2 is '<NA>'; expected a whole number",
    ),
    "not a currency": (
        lambda t: t.__setitem__("currency", "DOLLARS"),
        "column 'currency': row 1 is 'DOLLARS'; expected an ISO 4217",
    ),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edited_table_is_refused_naming_column_and_row(table, tmp_path, name):
    edit, message = EDITS[name]
    edited = table.copy()
    edit(edited)
    path = tmp_path / "edited.parquet"
    edited.to_parquet(path)
    with pytest.raises(InputError) as info:
        read_call_log(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {message}"), text
    assert "import the raw log again" in text
    assert len(text.splitlines()) == 1


def test_rows_in_another_order_and_extra_columns_are_still_a_table(table, tmp_path):
    shuffled = table.sample(frac=1.0, random_state=1).assign(note="kept")
    path = tmp_path / "shuffled.parquet"
    shuffled.to_parquet(path)
    calls, report = read_call_log(path)
    assert report.imported == len(table)
    assert calls["start"].is_monotonic_increasing


def test_calls_without_a_currency_are_still_a_table(table, tmp_path):
    """Free calls may carry no currency: an import keeps them so, and so does the reader."""
    blank = table.copy()
    blank.loc[blank.index % 3 == 0, "currency"] = ""
    path = tmp_path / "blank.parquet"
    blank.to_parquet(path)
    calls, _ = read_call_log(path)
    assert (calls["currency"] == "").sum() == (blank["currency"] == "").sum() > 0
    blank.loc[5, "currency"] = "EUR"  # a second currency is still refused
    blank.to_parquet(path)
    with pytest.raises(InputError, match="row 6 is 'EUR'; expected the table's one currency"):
        read_call_log(path)

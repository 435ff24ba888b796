"""Fuzzing call-log import: mutated rows and files either import or exit 2 with one line.

Hypothesis mutates good PSTN log rows (field types, ranges, control characters, lone
surrogates), their shape (missing, repeated or extra columns, short rows) and their
encoding (latin-1, UTF-16, gzip, truncation, stray bytes). Every import must succeed
(exit 0, a call table written) or fail as bad input: exit 2 with exactly one stderr line
and no traceback. Any other exception fails the test.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli.main import main

GOOD: dict[str, Any] = {
    "id": "row-1",
    "callId": "call-1",
    "userId": "0b8d2c4e-0000-4000-8000-000000000001",
    "userPrincipalName": "ada@contoso.example",
    "userDisplayName": "Ada Example",
    "startDateTime": "2026-03-02T14:03:27.1234567Z",
    "endDateTime": "2026-03-02T14:07:07.1234567Z",
    "duration": 220,
    "charge": "0.12",
    "callType": "user_out",
    "currency": "USD",
    "calleeNumber": "+442071234567",
    "usageCountryCode": "US",
    "tenantCountryCode": "US",
    "connectionCharge": "0.00",
    "callerNumber": "+12125550101",
    "destinationContext": "International",
    "destinationName": "United Kingdom",
    "conferenceId": None,
    "licenseCapability": "MCOPSTNPP",
    "inventoryType": "Subscriber",
}
FIELDS = list(GOOD)

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from(["\x00", "\x07", "\n", '"', ",", ";", "\ud800", "\ufeff", "é"]),
    max_size=12,
)
values = st.one_of(
    texts,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-02-30T00:00:00Z",
            "1e30",
            "12345678901234567890",
            "-0",
            "NaN",
            "1:99:99",
            "emergency_out",
            "dr_out",
            "JPY",
            "ucap_in",
            "conf_in",
            "",
            "  ",
            "١٢",
            "2026-03-02T14:03:27+25:00",
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
row_mutation = st.dictionaries(st.sampled_from(FIELDS), values, max_size=4)


def _cell(v: Any) -> str:
    return "" if v is None else (json.dumps(v) if isinstance(v, list | dict) else str(v))


def _csv(rows: list[dict[str, Any]], header: list[str], extra: int) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for i, r in enumerate(rows):
        cells = [_cell(r.get(h)) for h in header]
        if i < extra:
            cells = cells[: -1 - i] if i % 2 else [*cells, "extra"]
        w.writerow(cells)
    return buf.getvalue()


@st.composite
def logs(draw: st.DrawFn) -> tuple[str, bytes]:
    n = draw(st.integers(min_value=1, max_value=5))
    rows = [dict(GOOD, id=f"row-{i}") for i in range(n)]
    for r in rows:
        r.update(draw(row_mutation))
    shape = draw(st.sampled_from(["csv", "json", "json-array", "json-rows"]))
    if shape == "csv":
        header = list(FIELDS)
        cut = draw(st.sets(st.sampled_from(FIELDS), max_size=3))
        header = [h for h in header if h not in cut]
        if draw(st.booleans()):
            header.append(draw(st.sampled_from(FIELDS)))  # a column twice
        text = _csv(rows, header, draw(st.integers(min_value=0, max_value=2)))
        name = "log.csv"
    else:
        page = {"value": rows}
        doc: Any = page if shape == "json" else ([page] if shape == "json-array" else rows)
        text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
        name = "log.json"
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    data = text.encode(
        encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace"
    )
    damage = draw(st.sampled_from(["none", "none", "truncate", "stray", "gzip", "gzip-cut"]))
    if damage == "truncate":
        data = data[: draw(st.integers(min_value=0, max_value=len(data)))]
    elif damage == "stray":
        at = draw(st.integers(min_value=0, max_value=len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    elif damage.startswith("gzip"):
        data = gzip.compress(data)
        name += ".gz"
        if damage == "gzip-cut":
            data = data[: draw(st.integers(min_value=0, max_value=len(data) - 1))]
    return name, data


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(log=logs())
def test_import_succeeds_or_exits_2_with_one_line(tmp_path_factory, capsys, log):
    name, data = log
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    path = tmp / name
    path.write_bytes(data)
    out = tmp / "calls.parquet"
    code = main(["import-log", str(path), "--out", str(out), "-q"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 0:
        assert out.exists()
        assert captured.err == ""
    else:
        assert code == 2, captured.err
        assert captured.err.count("\n") == 1, captured.err
        assert captured.err.startswith(str(path)) or captured.err.startswith("--")
        assert not out.exists()


@pytest.mark.parametrize("fmt", ["graph-json", "graph-csv", "admin-csv"])
def test_forced_format_on_the_wrong_file_is_one_line(tmp_path, capsys, fmt):
    path = tmp_path / "log.bin"
    path.write_bytes(b"{\x00[\xff" * 50)
    code = main(["import-log", str(path), "--out", str(tmp_path / "o.parquet"), "--format", fmt])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1

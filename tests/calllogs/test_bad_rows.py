"""Malformed rows: each kind is reported with its line (or record) and reason, counted,
and the rest imported; ``strict`` makes the first one fatal (one line, exit 2)."""

from __future__ import annotations

import csv
import json

import pytest

from sim.calllogs.reader import read_call_log
from sim.calllogs.report import ImportOptions
from sim.core.errors import InputError
from tests.calllogs.support import run_cli

GOOD = {
    "id": "row-1",
    "callId": "call-1",
    "userId": "0b8d2c4e-0000-4000-8000-000000000001",
    "userPrincipalName": "ada@contoso.example",
    "userDisplayName": "Ada Example",
    "startDateTime": "2026-03-02T14:03:27.1234567Z",
    "endDateTime": "2026-03-02T14:07:07.1234567Z",
    "duration": "220",
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
    "conferenceId": "",
    "licenseCapability": "MCOPSTNPP",
    "inventoryType": "Subscriber",
}

# (changes to a good row, field reported, words of the reason)
BAD = [
    ({"callType": ""}, "call_type", "missing"),
    ({"callType": "user_sideways"}, "call_type", "unknown call type"),
    ({"startDateTime": "yesterday"}, "start", "not an ISO 8601 date-time"),
    ({"startDateTime": ""}, "start", "missing"),
    ({"startDateTime": "2026-02-30T10:00:00Z"}, "start", "not an ISO 8601 date-time"),
    ({"duration": "-5"}, "duration", "negative duration"),
    ({"duration": "about a minute"}, "duration", "not a duration"),
    ({"duration": ""}, "duration", "missing"),
    ({"charge": ""}, "charge", "missing"),
    ({"charge": "1,20"}, "charge", "not a decimal amount"),
    ({"charge": "-0.10"}, "charge", "negative amount"),
    ({"charge": "0.1234567"}, "charge", "finer than a micro-unit"),
    ({"connectionCharge": "free"}, "connection_charge", "not a decimal amount"),
    ({"usageCountryCode": ""}, "usage_country", "missing"),
    ({"usageCountryCode": "Atlantis"}, "usage_country", "unknown country or region"),
    ({"destinationName": "Atlantis", "calleeNumber": ""}, "dest_country", "unknown country"),
    ({"destinationName": "", "calleeNumber": "5551234"}, "dest_country", "missing"),
    ({"currency": "ZZZ"}, "currency", "must be an ISO 4217 currency code"),
]


def _rows(n_good=5):
    """Good rows with every bad kind in between; return rows and the bad positions."""
    rows, bad_at = [], []
    for i, (change, _, _) in enumerate(BAD):
        rows.append(dict(GOOD, id=f"good-{i}"))
        bad_at.append(len(rows))
        rows.append(dict(GOOD, id=f"bad-{i}", **change))
    rows += [dict(GOOD, id=f"tail-{i}") for i in range(n_good)]
    return rows, bad_at


def _write_graph_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(GOOD))
        w.writeheader()
        w.writerows(rows)


def test_every_bad_kind_reported_with_line_and_reason_in_csv(tmp_path):
    rows, bad_at = _rows()
    path = tmp_path / "calls.csv"
    _write_graph_csv(path, rows)
    calls, report = read_call_log(path)
    assert report.format == "graph-csv"
    assert report.rows == len(rows)
    assert report.bad == len(BAD)
    assert report.imported == len(rows) - len(BAD)
    assert len(calls) == report.imported
    assert calls["call_id"].nunique() == 1  # only good rows came through (all call-1)
    assert calls["call_id"].iloc[0].startswith("c-")
    listed = {r.where: r for r in report.bad_rows}
    for (change, fld, words), pos in zip(BAD, bad_at, strict=True):
        where = f"line {pos + 2}"  # the header is line 1, rows start at line 2
        assert where in listed, (change, listed.keys())
        assert listed[where].field == fld, change
        assert words in listed[where].reason, (change, listed[where].reason)
    # Counted by reason, without the offending values.
    assert report.bad_by_reason["duration: negative duration"] == 1
    assert report.bad_by_reason["call_type: unknown call type"] == 1
    text = "\n".join(report.lines())
    assert "line 3: call_type: missing" in text


def test_wrong_field_count_and_blank_lines(tmp_path):
    path = tmp_path / "calls.csv"
    _write_graph_csv(path, [GOOD, dict(GOOD, id="row-2")])
    lines = path.read_text().splitlines()
    lines.insert(2, "only,three,fields")
    lines.insert(3, "")
    path.write_text("\n".join(lines) + "\n")
    calls, report = read_call_log(path)
    assert len(calls) == 2
    assert report.bad == 1
    (bad,) = report.bad_rows
    assert bad.where == "line 3"
    assert bad.field == "row"
    assert "expected 21 fields" in bad.reason


def test_emergency_and_direct_routing_rows_are_skipped_and_counted(tmp_path):
    rows = [GOOD, dict(GOOD, callType="emergency_out"), dict(GOOD, callType="dr_out")]
    path = tmp_path / "calls.csv"
    _write_graph_csv(path, rows)
    calls, report = read_call_log(path)
    assert len(calls) == 1
    assert report.bad == 0
    assert report.skipped == 2
    assert sum(report.skipped_by_reason.values()) == 2
    assert any("emergency" in r for r in report.skipped_by_reason)
    assert any("Direct Routing" in r for r in report.skipped_by_reason)


def test_admin_center_bad_rows(tmp_path):
    header = [
        "Call Type",
        "TIME STAMP (UTC)",
        "Duration",
        "Charge",
        "Currency",
        "Country or region",
        "To country or region",
        "Called to",
        "Username",
    ]
    good = [
        "user_out",
        "2026-03-02 14:03:27",
        "00:03:40",
        "0.12",
        "USD",
        "United States",
        "Canada",
        "+14165550100",
        "ada@contoso.example",
    ]
    rows = [
        good,
        ["user_out", "2026-03-02 14:03:27", "1:xx:00", "0.12", "USD", "US", "CA", "", ""],
        ["conf_dial_sideways", "2026-03-02 14:03:27", "10", "0", "USD", "US", "", "", ""],
        ["user_out", "2026-03-02 15:03:27", *good[2:]],
    ]
    path = tmp_path / "admin.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    calls, report = read_call_log(path)
    assert report.format == "admin-csv"
    assert len(calls) == 2
    assert report.bad == 2
    assert [(r.where, r.field) for r in report.bad_rows] == [
        ("line 3", "duration"),
        ("line 4", "call_type"),
    ]
    assert calls["duration_s"].tolist() == [220.0, 220.0]
    assert calls["dest_country"].tolist() == ["CA", "CA"]


def test_json_bad_records_reported_by_record_number(tmp_path):
    rows = [
        GOOD,
        42,
        None,
        ["a", "list"],
        {"foo": 1},
        {k: v for k, v in GOOD.items() if k != "callType"},
        dict(GOOD, duration=None),
        dict(GOOD, duration=-3),
        dict(GOOD, startDateTime="2026-13-01T00:00:00Z"),
        dict(GOOD, id="row-2"),
    ]
    path = tmp_path / "calls.json"
    path.write_text(json.dumps({"value": rows[:5]}) + "\n" + json.dumps({"value": rows[5:]}))
    calls, report = read_call_log(path, ImportOptions(read_chars=17))
    assert len(calls) == 2
    assert report.rows == 10
    assert report.bad == 8
    got = [(r.where, r.field) for r in report.bad_rows]
    assert got == [
        ("record 2", "row"),
        ("record 3", "row"),
        ("record 4", "row"),
        ("record 5", "row"),
        ("record 6", "call_type"),
        ("record 7", "duration"),
        ("record 8", "duration"),
        ("record 9", "start"),
    ]
    assert "expected an object, got a number" in report.bad_rows[0].reason
    assert "not a pstnCallLogRow" in report.bad_rows[3].reason


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"value": [{"callType": "user_out",}]}', "record 1"),
        ('{"value": [{"callType": "user_out"}', "expected ',' or ']'"),
        ('{"value": [] } trailing', "expected '{' or '['"),
        ('{"value": [{"callType": "user_out"} {"callType": "user_in"}]}', "after a row"),
    ],
)
def test_malformed_json_structure_is_fatal_with_position(tmp_path, text, words):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_call_log(path, ImportOptions(read_chars=5))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert "malformed JSON" in message
    assert words in message


def test_strict_makes_the_first_bad_row_fatal(tmp_path):
    rows, bad_at = _rows()
    path = tmp_path / "calls.csv"
    _write_graph_csv(path, rows)
    with pytest.raises(InputError) as info:
        read_call_log(path, ImportOptions(strict=True))
    assert str(info.value).startswith(f"{path}: line {bad_at[0] + 2}: call_type: missing")
    code, out, err = run_cli("import-log", path, "--out", tmp_path / "t.parquet", "--strict")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert f"line {bad_at[0] + 2}: call_type: missing" in err
    assert not (tmp_path / "t.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    # Without --strict the same file imports, reporting the bad rows.
    key = "badrows-test-key-001"
    code, out, _ = run_cli("import-log", path, "--out", tmp_path / "t.parquet", "--salt", key)
    assert code == 0
    assert f"bad {len(BAD) - 1}" not in out
    assert f"{len(BAD)} bad" in out
    assert (tmp_path / "t.parquet").exists()


def test_strict_applies_to_json_records(tmp_path):
    path = tmp_path / "calls.json"
    path.write_text(json.dumps({"value": [GOOD, dict(GOOD, duration="-1")]}))
    with pytest.raises(InputError, match=r"record 2: duration: negative duration"):
        read_call_log(path, ImportOptions(strict=True))


def test_strict_names_the_first_bad_row_before_a_malformed_later_one(tmp_path):
    # A bad value on record 2 comes before a record that is no row at all (record 4): the
    # reader finds the malformed one first, yet the strict import must stop at record 2.
    path = tmp_path / "calls.json"
    good = [dict(GOOD, id=f"row-{i}") for i in range(3)]
    rows = [good[0], dict(GOOD, duration="-1"), good[1], [1, 2], good[2]]
    path.write_text(json.dumps({"value": rows}))
    with pytest.raises(InputError, match=r"record 2: duration: negative duration"):
        read_call_log(path, ImportOptions(strict=True))
    # The same in CSV: line 3 has a bad value, line 5 the wrong number of fields.
    path = tmp_path / "calls.csv"
    _write_graph_csv(path, [good[0], dict(GOOD, duration="-1"), good[1]])
    with open(path, "a") as f:
        f.write("2026-01-01T00:00:00Z,user_out\n")
    with pytest.raises(InputError, match=r"line 3: duration: negative duration"):
        read_call_log(path, ImportOptions(strict=True))
    # Without a bad value before it, the malformed row is the first, and is named.
    _write_graph_csv(path, good[:2])
    with open(path, "a") as f:
        f.write("2026-01-01T00:00:00Z,user_out\n")
    with pytest.raises(InputError, match=r"line 4: row: expected \d+ fields"):
        read_call_log(path, ImportOptions(strict=True))


def test_missing_required_column_is_a_one_line_error(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text("startDateTime,callType,charge\n2026-01-01T00:00:00Z,user_out,0\n")
    code, _, err = run_cli("import-log", path, "--out", tmp_path / "o.parquet")
    assert code == 2
    assert err.strip() == (
        f"{path}: line 1: graph-csv: missing column 'duration' "
        "(found: 'startDateTime', 'callType', 'charge')"
    )


def test_unrecognised_header_names_the_formats(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text("when,what\n1,2\n")
    code, _, err = run_cli("import-log", path, "--out", tmp_path / "o.parquet")
    assert code == 2
    assert "cannot tell the call-log format" in err
    assert "--format" in err


@pytest.mark.parametrize("fmt", [None, "admin-csv", "graph-csv"])
def test_a_header_that_is_data_is_counted_never_quoted(tmp_path, fmt):
    # A log saved without its header: line 1 is a call, with a user and a number in clear.
    path = tmp_path / "calls.csv"
    row = "2026-01-01T00:00:00Z,user_out,60,0.10,jane.doe@contoso.example,Jane Doe,+12125550143"
    path.write_text(row + "\n" + row + "\n")
    extra = [] if fmt is None else ["--format", fmt]
    code, _, err = run_cli("import-log", path, "--out", tmp_path / "o.parquet", *extra)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    for private in ("jane.doe", "Jane Doe", "+1212555", "user_out"):
        assert private not in err
    assert "7 cell(s) that are no column name, not shown" in err


def test_json_nested_thousands_deep_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run_cli("import-log", path, "--out", tmp_path / "o.parquet")
    assert code == 2
    assert err.strip().endswith(
        "malformed JSON: nested too deeply for a call record; expected Graph getPstnCalls "
        'pages {"value": [...]}'
    )


def test_a_first_row_in_no_currency_does_not_set_the_logs(tmp_path):
    # A typo in the first row's currency made it the log's, and every good row bad.
    path = tmp_path / "calls.json"
    rows = [dict(GOOD, id="r0", callId="c0", currency="ZZZ")]
    rows += [dict(GOOD, id=f"r{i}", callId=f"c{i}") for i in range(1, 4)]
    path.write_text(json.dumps({"value": rows}))
    calls, report = read_call_log(path, ImportOptions())
    assert len(calls) == 3
    assert report.currency == "USD"
    code, _, err = run_cli("import-log", path, "--out", tmp_path / "o.parquet", "--currency", "ZZZ")
    assert code == 2
    assert err.strip().startswith("--currency: must be an ISO 4217 currency code")


def test_the_output_names_its_format(tmp_path):
    path = tmp_path / "calls.json"
    path.write_text(json.dumps({"value": [GOOD]}))
    code, _, err = run_cli("import-log", path, "--out", tmp_path / "calls.txt")
    assert code == 2
    assert "--out must end in .parquet or .csv (the format written), got '.txt'" in err
    assert not list(tmp_path.glob("calls.txt*"))

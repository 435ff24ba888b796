"""Planted defects: every one reported with its line/record, field and reason, none imported.

Rows: duplicates, another currency, end before start or not start + duration, durations
above the bound, a user call without its user, values out of range, control characters;
skipped kinds listed too. Files: not UTF-8, binary, truncated gzip and zip, malformed JSON,
a column given twice -> one stderr line naming the file and where, exit 2, nothing written.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.calllogs.reader import read_call_log, sidecar_paths
from sim.calllogs.report import BAD_ROW_COLUMNS, ImportOptions
from sim.cli.main import main
from tests.calllogs.test_bad_rows import GOOD

FIELDS = list(GOOD)

# name -> (changes to a good row, field reported, words of the reason)
DEFECTS: dict[str, tuple[dict[str, str], str, str]] = {
    "duplicate": ({"id": "good-0"}, "id", "duplicate of"),
    "other_currency": ({"currency": "JPY"}, "currency", "not the currency of the log"),
    "end_before_start": ({"endDateTime": "2026-03-02T13:00:00Z"}, "end", "before the start"),
    "end_mismatch": (
        {"endDateTime": "2026-03-02T18:00:00Z"},
        "end",
        "does not match start + duration",
    ),
    "end_unparsable": ({"endDateTime": "soon"}, "end", "not an ISO 8601"),
    # pandas reads these words as the current time: a log's instant must be written out.
    "start_now": ({"startDateTime": "now", "endDateTime": ""}, "start", "not an ISO 8601"),
    "end_today": ({"endDateTime": "today"}, "end", "not an ISO 8601"),
    "days_long": (
        {"duration": "432000", "endDateTime": "2026-03-07T14:03:27.1234567Z"},
        "duration",
        "above the bound",
    ),
    "huge_duration": ({"duration": "1e30", "endDateTime": ""}, "duration", "above the bound"),
    "no_user_id": ({"userId": ""}, "user_id", "missing"),
    "year_zero": (
        {"startDateTime": "0000-01-01T00:00:00Z", "endDateTime": ""},
        "start",
        "out of range: year 0",
    ),
    "charge_20_digits": ({"charge": "12345678901234567890"}, "charge", "out of range"),
    "control_character": ({"destinationName": "United\x07Kingdom"}, "dest_name", "control"),
    "negative_charge": ({"charge": "-1"}, "charge", "negative"),
}


def good_row(i: int) -> dict[str, str]:
    return dict(GOOD, id=f"good-{i}", callId=f"call-{i}")


def bad_row(kind: str, i: int) -> dict[str, str]:
    change, _, _ = DEFECTS[kind]
    return {**good_row(10_000 + i), "id": f"bad-{i}", **change}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    return path


def write_json(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text(json.dumps({"value": rows[:3]}) + "\n" + json.dumps({"value": rows[3:]}))
    return path


WRITERS = {"csv": (write_csv, "line", 2), "json": (write_json, "record", 1)}


def where_of(fmt: str, position: int) -> str:
    """The line (CSV: header = line 1) or record (JSON: from 1) of row ``position``."""
    _, kind, first = WRITERS[fmt]
    return f"{kind} {position + first}"


def read_bad_rows(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_each_row_defect_is_reported_and_not_imported(tmp_path, kind, fmt):
    rows = [good_row(0), good_row(1), bad_row(kind, 0), good_row(2), good_row(3)]
    writer, _, _ = WRITERS[fmt]
    path = writer(tmp_path / f"log.{fmt}", rows)
    out = tmp_path / "calls.parquet"
    assert main(["import-log", str(path), "--out", str(out), "-q"]) == 0
    table = pd.read_parquet(out)
    bad_where = where_of(fmt, 2)
    _, fld, words = DEFECTS[kind]
    # Reported: in the complete bad-rows file, with field and reason ...
    bad_file, manifest_file = sidecar_paths(out)
    listed = read_bad_rows(bad_file)
    assert list(listed.columns) == list(BAD_ROW_COLUMNS)
    assert len(listed) == 1, listed
    row = listed.iloc[0]
    assert (row["status"], row["where"], row["field"]) == ("bad", bad_where, fld)
    assert words in row["reason"]
    # ... and in the manifest's counts; absent from the call table.
    summary = json.loads(manifest_file.read_text())["import"]
    assert summary["bad"] == 1
    assert sum(summary["bad_by_reason"].values()) == 1
    assert len(table) == 4
    assert int(bad_where.split()[1]) not in set(table["line"])
    assert sorted(table["line"]) == [int(where_of(fmt, p).split()[1]) for p in (0, 1, 3, 4)]


def test_skipped_kinds_are_listed_with_their_lines(tmp_path):
    rows = [good_row(0), dict(good_row(1), callType="emergency_out"), good_row(2)]
    rows.append(dict(good_row(3), callType="dr_out"))
    path = write_csv(tmp_path / "log.csv", rows)
    calls, report = read_call_log(path)
    assert sorted(calls["line"]) == [2, 4]
    report.write_bad_rows(tmp_path / "bad.csv")
    listed = read_bad_rows(tmp_path / "bad.csv")
    assert listed[["status", "where"]].values.tolist() == [
        ["skipped", "line 3"],
        ["skipped", "line 5"],
    ]
    assert "emergency" in listed["reason"].iloc[0]
    assert "Direct Routing" in listed["reason"].iloc[1]


def test_currency_option_chooses_the_rows_kept(tmp_path):
    rows = [good_row(0), dict(good_row(1), currency="JPY"), good_row(2)]
    rows.append(dict(good_row(3), currency="gbp"))
    path = write_csv(tmp_path / "log.csv", rows)
    calls, report = read_call_log(path)
    assert sorted(calls["line"]) == [2, 4]
    assert report.currency == "USD"
    assert report.rejected_currencies == {"JPY": 1, "GBP": 1}
    text = "\n".join(report.lines())
    assert "currencies: imported USD 2; rejected" in text
    calls, report = read_call_log(path, ImportOptions(currency="JPY"))
    assert calls["line"].tolist() == [3]
    assert report.rejected_currencies == {"USD": 2, "GBP": 1}
    # The scenario's currency is the default of replay and reconcile; a bad code is refused.
    code = main(["import-log", str(path), "--out", str(tmp_path / "o.parquet"), "--currency", "U$"])
    assert code == 2


def test_duration_bound_is_an_option(tmp_path, capsys):
    long_row = bad_row("days_long", 0)
    path = write_csv(tmp_path / "log.csv", [good_row(0), long_row])
    calls, report = read_call_log(path)
    assert report.bad == 1
    assert len(calls) == 1
    calls, report = read_call_log(path, ImportOptions(max_duration_s=6 * 86400))
    assert report.bad == 0
    assert len(calls) == 2
    out = tmp_path / "o.parquet"
    assert main(["import-log", str(path), "--out", str(out), "--max-duration", "144:00:00"]) == 0
    assert len(pd.read_parquet(out)) == 2
    with pytest.raises(SystemExit) as info:  # argparse refuses the value itself
        main(["import-log", str(path), "--out", str(tmp_path / "p.parquet"), "--max-duration", "0"])
    assert info.value.code == 2
    assert "expected a positive duration" in capsys.readouterr().err


def test_bad_rows_file_is_complete_beyond_the_console_listing(tmp_path):
    kinds = sorted(DEFECTS)
    rows = [good_row(0)] + [bad_row(kinds[i % len(kinds)], i) for i in range(30)]
    path = write_csv(tmp_path / "log.csv", rows)
    calls, report = read_call_log(path, ImportOptions(keep_bad_rows=3))
    assert len(calls) == 1
    assert report.bad == 30
    assert len(report.bad_rows) == 3
    report.write_bad_rows(tmp_path / "bad.csv")
    listed = read_bad_rows(tmp_path / "bad.csv")
    assert listed["where"].tolist() == [f"line {i + 3}" for i in range(30)]
    assert all(len(r) <= 240 for r in listed["raw"])
    text = "\n".join(report.lines(show=2))
    assert "28 more bad rows (all in the bad-rows file)" in text


def test_json_records_count_from_one_across_pages(tmp_path):
    rows = [good_row(0), good_row(1), good_row(2), bad_row("no_user_id", 0), good_row(3)]
    calls, report = read_call_log(write_json(tmp_path / "log.json", rows))
    assert calls["line"].tolist() == [1, 2, 3, 5]
    assert [r.where for r in report.bad_rows] == ["record 4"]


def _zip(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data)
    return buf.getvalue()


def _csv_bytes(n: int = 40) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS)
    w.writeheader()
    w.writerows(good_row(i) for i in range(n))
    return buf.getvalue().encode()


def _file_defects() -> dict[str, tuple[str, bytes, str]]:
    text = _csv_bytes()
    gz = gzip.compress(text)
    archive = _zip("PSTN.calls.2026.csv", text * 20)
    zip_member_cut = bytearray(archive)
    zip_member_cut[60:400] = bytes(340)  # the member's compressed data, overwritten
    return {
        "latin1_byte": ("log.csv", text.replace(b"Ada Example", b"Ad\xe9 Example", 1), "line 2"),
        "binary": ("log.csv", bytes(range(256)) * 8, "not UTF-8 text"),
        "nul_bytes": ("log.csv", text[:400] + b"\x00" + text[400:], "binary data"),
        "truncated_gzip": ("log.csv.gz", gz[: len(gz) // 2], "truncated"),
        "truncated_zip": ("export.zip", archive[: len(archive) // 2], "zip"),
        "corrupt_zip_member": ("export.zip", bytes(zip_member_cut), "zip"),
        "malformed_json": (
            "log.json",
            b'{"value": [{"callType": "user_out"}, {"a": }]}',
            "record 2",
        ),
        "truncated_json": (
            "log.json",
            json.dumps({"value": [GOOD, GOOD]}).encode()[:-30],
            "record",
        ),
        "duplicated_column": (
            "log.csv",
            text.replace(b",callType,", b",charge,", 1),
            "line 1: column 10 'charge': charge is given twice",
        ),
        "empty": ("log.csv", b"", "empty"),
    }


FILE_DEFECTS = _file_defects()


@pytest.mark.parametrize("kind", sorted(FILE_DEFECTS))
def test_each_file_defect_is_one_line_exit_2(tmp_path, capsys, kind):
    name, data, words = FILE_DEFECTS[kind]
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "calls.parquet"
    code = main(["import-log", str(path), "--out", str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"{path}: ")
    assert words in captured.err
    assert "Traceback" not in captured.err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # nothing else written


# -- any mix of good and bad rows imports exactly the good ones ------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plan=st.lists(st.sampled_from([None, *sorted(DEFECTS)]), min_size=1, max_size=25),
    fmt=st.sampled_from(sorted(WRITERS)),
    chunk_rows=st.sampled_from([1, 3, 50_000]),
)
def test_any_mix_imports_exactly_the_good_rows(tmp_path_factory, plan, fmt, chunk_rows):
    tmp = tmp_path_factory.mktemp("mix")
    rows = [good_row(0)]  # the first row is good: it sets the log's currency
    good_positions = [0]
    for i, kind in enumerate(plan, start=1):
        if kind is None:
            rows.append(good_row(i))
            good_positions.append(i)
        else:
            rows.append(bad_row(kind, i))
    writer, _, _ = WRITERS[fmt]
    path = writer(tmp / f"log.{fmt}", rows)
    calls, report = read_call_log(path, ImportOptions(chunk_rows=chunk_rows))
    expected = [int(where_of(fmt, p).split()[1]) for p in good_positions]
    assert sorted(calls["line"]) == expected
    assert report.imported == len(expected)
    assert report.bad == len(rows) - len(expected)
    assert report.rows == len(rows)


def test_a_fifo_is_refused_instead_of_waiting_for_a_writer(tmp_path, capsys):
    import os

    from sim.cli.main import main

    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    assert main(["import-log", str(fifo), "--out", str(tmp_path / "o.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{fifo}: not a regular file (a device, FIFO or socket), expected a call log"
    assert not (tmp_path / "o.parquet").exists()


def test_a_csv_call_table_is_named_for_what_it_is(tmp_path, capsys):
    from sim.cli.main import main

    sample = Path(__file__).resolve().parents[2] / "scenarios" / "logs" / "sample-graph.json.gz"
    table = tmp_path / "calls.csv"
    assert main(["import-log", str(sample), "--out", str(table), "-q"]) == 0
    capsys.readouterr()
    assert main(["fit", str(table), "--out", str(tmp_path / "fit.toml"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{table}: a call table from ccsim import-log written as CSV")
    assert err.endswith("ccsim import-log LOG --out calls.parquet")


def test_zip_member_names_are_quoted_and_few_in_the_error(tmp_path, capsys):
    from sim.cli.main import main

    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil\nname.csv", "x")
        for i in range(2000):
            archive.writestr(f"m{i}.json", "x")
    assert main(["import-log", str(path), "--out", str(tmp_path / "o.parquet")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1  # the newline in the name stays quoted
    assert "'evil\\nname.csv'" in err
    assert "and 1,996 more" in err
    assert len(err) < 1000


def test_synth_log_never_writes_over_its_own_scenario(tmp_path, capsys):
    from sim.cli.main import main

    scenario = tmp_path / "s.toml"
    text = (Path(__file__).resolve().parents[2] / "scenarios" / "default.toml").read_text()
    scenario.write_text(text)  # checked before the scenario is read
    args = ["synth-log", str(scenario), "--days", "1", "--out", str(scenario), "--force"]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"{scenario}: is the scenario file; --out names the log file to write"
    )
    assert scenario.read_text() == text


def test_synth_log_days_are_bounded_before_anything_is_drawn(tmp_path, capsys):
    from sim.cli.calllogs import MAX_LOG_DAYS
    from sim.cli.main import main

    out = tmp_path / "log.json"
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "default.toml"
    with pytest.raises(SystemExit) as info:
        main(["synth-log", str(scenario), "--days", str(MAX_LOG_DAYS + 1), "--out", str(out)])
    assert info.value.code == 2
    assert f"--days: expected a whole number from 1 to {MAX_LOG_DAYS:,}" in capsys.readouterr().err
    assert not out.exists()

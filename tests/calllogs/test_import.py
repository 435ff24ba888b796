"""Importing call logs: formats, detection, streaming JSON, exact money, pseudonyms."""

from __future__ import annotations

import codecs
import gzip
import json
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from sim.calllogs.convert import parse_amount, parse_duration_s
from sim.calllogs.countries import COUNTRY_NAMES, calling_prefix, country_code, country_name
from sim.calllogs.formats.detection import detect_format
from sim.calllogs.numbers import e164_digits, number_country, number_kind
from sim.calllogs.privacy import Pseudonymiser
from sim.calllogs.reader import read_call_log, write_call_table
from sim.calllogs.report import ImportOptions
from sim.calllogs.synthetic import ADMIN_COLUMNS, write_admin_csv, write_graph_csv, write_graph_json
from sim.calllogs.users import user_licences
from sim.core.errors import InputError
from sim.telephony.calls import NumberType
from tests.calllogs.support import make_log, make_scenario, run_cli

KEY = "import-key-pseudo0"  # keys have at least 16 bytes (privacy.MIN_KEY_BYTES)
COMPARED = ["call_type", "number_type", "usage_country", "dest_country", "charge_micros"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("synthetic")
    loaded = make_scenario(tmp)
    return make_log(loaded, days=3)


def _check_against_truth(calls, log):
    truth = log.truth
    assert len(calls) == len(truth)
    for col in ("call_type", "number_type", "usage_country", "dest_country"):
        assert calls[col].tolist() == truth[col].tolist(), col
    assert calls["charge_micros"].tolist() == truth["amount_micros"].tolist()
    assert calls["duration_s"].tolist() == truth["duration_s"].tolist()


@pytest.mark.parametrize(
    ("writer", "fmt"),
    [
        (lambda rows, p: write_graph_json(rows, p), "graph-json"),
        (
            lambda rows, p: write_graph_json(rows, p, layout="array", pretty=True, page_size=97),
            "graph-json",
        ),
        (lambda rows, p: write_graph_json(rows, p, layout="single"), "graph-json"),
        (write_graph_csv, "graph-csv"),
        (write_admin_csv, "admin-csv"),
    ],
)
def test_every_format_imports_the_synthetic_log_exactly(tmp_path, synthetic, writer, fmt):
    path = tmp_path / "log"
    writer(synthetic.rows, path)
    assert detect_format(path) == fmt
    calls, report = read_call_log(path, ImportOptions(salt=KEY, chunk_rows=500, read_chars=4096))
    assert report.format == fmt
    assert report.bad == 0
    assert report.skipped == 0
    _check_against_truth(calls, synthetic)
    assert calls["start"].is_monotonic_increasing
    assert str(calls["start"].dt.tz) == "UTC"


def test_json_parser_does_not_depend_on_chunk_size(tmp_path, synthetic):
    path = write_graph_json(synthetic.rows.head(200), tmp_path / "log.json", page_size=64)
    base, _ = read_call_log(path, ImportOptions(salt=KEY))
    for read_chars, chunk_rows in ((1, 50), (2, 50_000), (7, 1), (100, 13), (1 << 20, 7)):
        calls, report = read_call_log(
            path, ImportOptions(salt=KEY, read_chars=read_chars, chunk_rows=chunk_rows)
        )
        assert report.rows == 200
        pd.testing.assert_frame_equal(calls, base)


def test_json_layouts_pages_arrays_and_rows(tmp_path, synthetic):
    rows = json.loads(
        write_graph_json(synthetic.rows.head(5), tmp_path / "a.json", layout="single").read_text()
    )["value"]
    variants = {
        "pages": "".join(json.dumps({"value": [r]}) for r in rows),  # no separator at all
        "spaced": "\n\n".join(
            json.dumps({"@odata.count": 1, "value": [r]}, indent=2) for r in rows
        ),
        "array_of_pages": json.dumps([{"value": rows[:2]}, {"value": []}, {"value": rows[2:]}]),
        "array_of_rows": json.dumps(rows),
        "empty_pages": json.dumps({"value": []}) + json.dumps({"value": rows}),
        "bom": "\ufeff" + json.dumps({"value": rows}),
    }
    for name, text in variants.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        calls, report = read_call_log(path, ImportOptions(read_chars=3))
        assert len(calls) == 5, name
        assert report.bad == 0, name


def test_charges_are_exact_integers_from_json_numbers(tmp_path):
    row = {
        "callType": "ucap_in",
        "startDateTime": "2026-01-01T00:00:00Z",
        "duration": 60,
        "usageCountryCode": "US",
        "inventoryType": "ServiceTollFree",
    }
    text = "".join(
        '{"value": [' + json.dumps(row)[:-1] + f', "charge": {c}, "connectionCharge": 0' + "]}"
        for c in ("0.1", "0.29", "1e-2", "123456.789012", "0.30000000000000004".replace("4", "0"))
    )
    path = tmp_path / "money.json"
    path.write_text(text.replace('}, "charge"', ', "charge"').replace("0]}", "0}]}"))
    calls, report = read_call_log(path)
    assert report.bad == 0, report.bad_rows
    assert calls["charge_micros"].tolist() == [100_000, 290_000, 10_000, 123_456_789_012, 300_000]
    assert calls["charge_micros"].dtype == np.int64
    assert calls["number_type"].tolist() == ["toll_free"] * 5
    assert calls["dest_country"].tolist() == ["US"] * 5  # inbound: the usage country


def test_parse_helpers():
    assert parse_amount("12.5") == 12_500_000
    assert parse_amount(" 0.000001 ") == 1
    assert parse_amount("5.1200000") == 5_120_000
    assert parse_duration_s("00:03:39") == 219
    assert parse_duration_s("3:39") == 219
    assert parse_duration_s("219") == 219
    with pytest.raises(ValueError, match="negative"):
        parse_duration_s("-1")


def test_countries_and_numbers():
    for code, name in COUNTRY_NAMES.items():
        assert country_code(name) == code
        assert country_code(code.lower()) == code
    assert country_code("UK") == "GB"
    assert country_code("Korea, Republic of") == "KR"
    assert country_code("Côte d’Ivoire") == "CI"
    assert country_code("GBR") == "GB"
    assert country_code("Narnia") is None
    assert number_country(e164_digits("+1 416 555 0100")) == "CA"
    assert number_country(e164_digits("+1 (787) 555-0100")) == "PR"
    assert number_country(e164_digits("+1 212 555 0100")) == "US"
    assert number_country(e164_digits("0044 20 7946 0000")) == "GB"
    assert number_country(e164_digits("tel:+441534123456")) == "JE"
    assert e164_digits("020 7946 0000") is None  # national format: not guessed
    assert number_kind(e164_digits("+44 845 000 0000")) is NumberType.PREMIUM
    assert number_kind(e164_digits("+1 800 555 0100")) is NumberType.TOLL_FREE
    assert number_kind(e164_digits("+44 20 7946 0000")) is None
    assert calling_prefix("GB") == "44"
    assert country_name("DE") == "Germany"


def test_admin_headers_tolerate_case_spacing_order_and_delimiter(tmp_path, synthetic):
    cols = list(ADMIN_COLUMNS)
    rng = np.random.default_rng(5)
    rng.shuffle(cols)
    path = write_admin_csv(synthetic.rows, tmp_path / "a.csv", columns=cols, bom=False)
    lines = path.read_text().splitlines()
    messy = ",".join(f"  {c.upper().replace(' ', '  ')} " for c in lines[0].split(","))
    path.write_text("\n".join([messy, *lines[1:]]) + "\n")
    calls, report = read_call_log(path)
    assert report.format == "admin-csv"
    assert report.bad == 0
    _check_against_truth(calls, synthetic)
    # Semicolons, UTF-16 with a byte-order mark.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    semi = tmp_path / "semi.csv"
    frame.to_csv(semi, sep=";", index=False)
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(codecs.BOM_UTF16_LE + path.read_text().encode("utf-16-le"))
    for p in (semi, utf16):
        calls, report = read_call_log(p)
        assert report.bad == 0, p
        assert len(calls) == len(synthetic.rows), p


def test_export_column_names_of_the_zipped_report(tmp_path):
    path = tmp_path / "PSTN.calls.2026-01-31.csv"
    path.write_text(
        "UsageId,Call ID,Conference ID,User Location,AAD ObjectId,UPN,User Display Name,"
        "Caller ID,Call Type,Number Type,Domestic/International,Destination Dialed,"
        "Destination Number,Start Time,End Time,Duration Seconds,Connection Fee,Charge,"
        "Currency,Capability\n"
        "u1,c1,,US,oid-1,ada@contoso.example,Ada,+12125550100,user_out,Subscriber,"
        "International,Germany,+4930123456,2026-01-05T15:00:00Z,2026-01-05T15:02:00Z,120,"
        "0.00,0.07,USD,MCOPSTN1\n"
    )
    archive = tmp_path / "Calls.Export.abc.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(path, path.name)
        z.writestr("parameters.json", "{}")
    for p in (path, archive):
        calls, report = read_call_log(p)
        assert report.format == "admin-csv"
        row = calls.iloc[0]
        assert (row["dest_country"], row["usage_country"], row["charge_micros"]) == (
            "DE",
            "US",
            70_000,
        )
        assert row["duration_s"] == 120
        assert row["licence"] == "MCOPSTN1"


def test_gzip_and_format_override(tmp_path, synthetic):
    path = tmp_path / "log.json.gz"
    raw = write_graph_json(synthetic.rows.head(20), tmp_path / "log.json").read_bytes()
    path.write_bytes(gzip.compress(raw))
    calls, _ = read_call_log(path)
    assert len(calls) == 20
    csv_path = write_graph_csv(synthetic.rows.head(5), tmp_path / "g.csv")
    with pytest.raises(InputError, match="missing column 'Time stamp"):
        read_call_log(csv_path, ImportOptions(format="admin-csv"))
    with pytest.raises(InputError, match="malformed JSON"):
        read_call_log(csv_path, ImportOptions(format="graph-json"))


def test_personal_data_is_pseudonymised_by_default(tmp_path, synthetic):
    path = write_graph_csv(synthetic.rows, tmp_path / "g.csv")
    calls, _ = read_call_log(path, ImportOptions(salt="import-key-one-0"))
    personal = set()
    for col in ("userId", "userPrincipalName", "userDisplayName", "callerNumber", "calleeNumber"):
        personal |= {str(v) for v in synthetic.rows[col] if isinstance(v, str) and v}
    values = {str(v) for col in calls.columns for v in calls[col].astype(str)}
    assert not personal & values
    assert calls["user"].str.fullmatch(r"u-[0-9a-f]{16}").all()
    # Same salt, same pseudonyms; another salt, others; one per user.
    again, _ = read_call_log(path, ImportOptions(salt="import-key-one-0"))
    other, _ = read_call_log(path, ImportOptions(salt="import-key-two-0"))
    assert again["user"].tolist() == calls["user"].tolist()
    assert not set(other["user"]) & set(calls["user"])
    users = synthetic.truth["subscriber"]
    assert calls["user"].nunique() == users.nunique()
    # Without a salt: a random key per import.
    r1, _ = read_call_log(path)
    r2, _ = read_call_log(path)
    assert set(r1["user"]).isdisjoint(r2["user"])
    kept, _ = read_call_log(path, ImportOptions(keep_personal_data=True))
    assert set(kept["upn"]) - {""} <= personal
    assert kept["user"].iloc[0] in personal
    assert Pseudonymiser(KEY)("x") == Pseudonymiser(KEY)("x") != Pseudonymiser(KEY)("y")


def test_import_log_command_writes_parquet_and_csv(tmp_path, synthetic):
    src = write_graph_json(synthetic.rows, tmp_path / "log.json")
    out = tmp_path / "calls.parquet"
    key = "import-test-key-0001"  # at least 16 bytes (sim.calllogs.privacy.MIN_KEY_BYTES)
    code, printed, err = run_cli("import-log", src, "--out", out, "--salt", key)
    assert code == 0, err
    assert "graph-json" in printed
    assert f"{len(synthetic.rows):,} imported" in printed
    table = pd.read_parquet(out)
    assert table["charge_micros"].dtype == np.int64
    assert str(table["start"].dt.tz) == "UTC"
    # The table reads back as a log (fit/replay/reconcile accept it).
    again, report = read_call_log(out)
    assert report.format == "parquet"
    assert len(again) == len(table)
    direct, _ = read_call_log(src, ImportOptions(salt=key))
    pd.testing.assert_frame_equal(again[direct.columns], direct, check_dtype=False)
    # start_s counts from 00:00 UTC of the first call's day.
    first = direct["start"].iloc[0]
    assert direct["start_s"].iloc[0] == (first - first.normalize()).total_seconds()
    # CSV output: money as decimal strings.
    out_csv = tmp_path / "calls.csv"
    write_call_table(src, out_csv, ImportOptions(salt="import-key-csv-0"))
    text = pd.read_csv(out_csv, dtype=str)
    assert "charge" in text.columns
    assert "charge_micros" not in text.columns
    assert [parse_amount(v) for v in text["charge"]] == direct["charge_micros"].tolist()
    # Never overwrites.
    code, _, err = run_cli("import-log", src, "--out", out)
    assert code == 2
    assert "exists already" in err


def test_user_licences(synthetic, tmp_path):
    calls, _ = read_call_log(write_graph_csv(synthetic.rows, tmp_path / "g.csv"))
    users = user_licences(calls)
    by = users.groupby(["usage_country", "plan", "service"]).size().to_dict()
    assert set(by) <= {("US", "domestic", False), ("GB", "payg", False), ("US", "payg", True)}
    assert users[users["service"]]["usage_country"].tolist() == ["US"]
    organisers = users[users["conferencing"] == "standard"]
    assert set(organisers["usage_country"]) == {"US"}


@pytest.mark.parametrize("rows", [0, 3])
def test_an_import_of_no_call_fails_says_why_and_writes_nothing(tmp_path, synthetic, rows):
    """A log with no row, or only bad rows, exits 2: nothing downstream could use it."""
    src = write_graph_json(synthetic.rows.head(rows), tmp_path / "log.json")
    if rows:
        text, n = re.subn(r'"callType": ?"[a-z_]+"', '"callType": "bogus_type"', src.read_text())
        assert n == rows
        src.write_text(text)
    out = tmp_path / "new" / "folders" / "calls.parquet"  # folders it would have made
    code, _, err = run_cli("import-log", src, "--out", out, "--salt", "import-test-key-0001")
    assert code == 2
    if rows:
        assert err.strip() == (
            f"{src}: no call imported (3 rows: bad 3: call_type: unknown call type; the "
            "first: record 1: call_type: unknown call type 'bogus_type' (known: user_in, "
            "user_out, user_out_conf, user_out_transfer, user_out_forwarding, conf_in, "
            "conf_out, ucap_in, ucap_out)); nothing written"
        )
    else:
        assert err.strip() == f"{src}: no call imported (no rows); nothing written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.json"]  # nor a temporary file


def test_import_log_out_under_a_file_is_bad_input(tmp_path, synthetic):
    src = write_graph_json(synthetic.rows.head(3), tmp_path / "log.json")
    afile = tmp_path / "afile"
    afile.write_text("kept")
    out = afile / "calls.parquet"
    code, _, err = run_cli("import-log", src, "--out", out, "--salt", "import-test-key-0001")
    assert code == 2
    assert err.strip() == f"{out}: {afile} is a file, not a folder"
    assert afile.read_text() == "kept"

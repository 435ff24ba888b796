"""Rate tables: CSV loading, lookup fallbacks, exact money, Zone A data."""

from __future__ import annotations

import pytest

from sim.core.schema import ConfigError, build
from sim.core.units import Micros
from sim.telephony.calls import NumberType
from sim.telephony.tariffs import (
    ZONE_A,
    Tariff,
    TariffFileError,
    TariffFiles,
    TariffTable,
    billable_seconds,
    charge_for,
)

HEADER = "destination,number_type,rate_per_min,connection_fee,increment_s\n"


def test_zone_a_is_the_44_documented_countries():
    # teams-credits.md §3: 44 countries/regions, including PR, HK and the UK as GB.
    assert len(ZONE_A) == 44
    assert {"US", "PR", "CA", "GB", "HK", "TW", "RU", "KR", "ZA", "TH"} <= ZONE_A
    assert not {"NG", "AE", "UK", "IL"} & ZONE_A


@pytest.mark.parametrize("name", ["outbound", "tollfree", "dialout", "dialin"])
def test_sample_tables_load_and_price_everything(repo, name):
    table = TariffTable.from_csv(repo / "scenarios" / "tariffs" / f"sample-{name}.csv")
    assert table.rows
    for country in ("US", "GB", "NG", "KR"):
        for nt in NumberType:
            assert table.find(country, nt) is not None


def test_sample_files_are_labelled_illustrative(repo):
    folder = repo / "scenarios" / "tariffs"
    assert "ILLUSTRATIVE" in (folder / "README.md").read_text()
    for path in folder.glob("sample-*.csv"):
        assert "ILLUSTRATIVE" in path.read_text().splitlines()[0]


def test_lookup_order_country_zone_default():
    table = TariffTable.from_text(
        HEADER
        + "GB,premium,0.50,,\n"
        + "GB,,0.03,,\n"
        + "zone_a,toll_free,0.07,,\n"
        + "zone_a,,0.05,,\n"
        + "default,,0.40,,\n"
    )

    def rate(country, nt):
        return table.find(country, NumberType(nt)).rate_per_min

    assert rate("GB", "premium") == 500_000
    assert rate("GB", "toll") == 30_000
    assert rate("GB", "toll_free") == 30_000  # the country beats the zone
    assert rate("DE", "toll_free") == 70_000
    assert rate("DE", "toll") == 50_000
    assert rate("NG", "toll") == 400_000


def test_missing_rate_is_none_not_free():
    table = TariffTable.from_text(HEADER + "GB,,0.03,,\n")
    assert table.find("US", NumberType.TOLL) is None
    grid = table.lookup_grid(["GB", "US"])
    assert grid[0].tolist() == [0, 0, 0]
    assert grid[1].tolist() == [-1, -1, -1]


def test_optional_columns_default():
    table = TariffTable.from_text("# a comment\n\ndestination,rate_per_min\nUS,0.02\n")
    assert table.rows[0] == Tariff(Micros(20_000), Micros(0), 60, "US", None, "<tariffs>:4")


@pytest.mark.parametrize(
    ("increment_s", "duration_s", "billable"),
    [
        (1, 61.2, 62),
        (6, 61.2, 66),
        (60, 61.2, 120),
        (60, 60.0, 60),
        (6, 0.0, 0),
        (1, 0.001, 1),
        (6, 5e-324, 6),  # the float quotient underflows to 0; still one increment
    ],
)
def test_billable_seconds_round_up(increment_s, duration_s, billable):
    assert billable_seconds(duration_s, increment_s) == billable


def test_billable_seconds_of_a_remainder():
    # The part of a call left after the pool covered 120 s.
    assert billable_seconds(130.5, 6, covered_s=120) == 12
    assert billable_seconds(180.0, 60, covered_s=120) == 60


def test_charge_is_exact_and_rounds_up_to_the_micro_unit():
    assert charge_for(60, 25_000, 0) == 25_000
    assert charge_for(1, 25_000, 0) == 417  # 416.67 -> 417
    assert charge_for(61, 25_000, 10_000) == 10_000 + 25_417
    assert charge_for(0, 25_000, 10_000) == 0  # nothing billable: no fee


BAD_ROWS = [
    ("US,,abc,,", "t.csv:3: rate_per_min: expected money as a decimal string"),
    ("US,,,,", "t.csv:3: rate_per_min: missing value"),
    ("US,,0.1234567,,", "t.csv:3: rate_per_min: '0.1234567' has more than 6 decimal places"),
    ("US,,-0.01,,", "t.csv:3: rate_per_min: must be >= 0"),
    ("US,,0.01,x,", "t.csv:3: connection_fee: expected money"),
    ("US,,0.01,,6.5", "t.csv:3: increment_s: expected a whole number of seconds"),
    ("US,,0.01,,\u0666\u0660", "t.csv:3: increment_s: expected a whole number of seconds"),
    ("US,,0.01,,\uff16\uff10", "t.csv:3: increment_s: expected a whole number of seconds"),
    ("US,,\u0660.\u0661,,", "t.csv:3: rate_per_min: expected money as a decimal string"),
    ("XX,,0.01,,", "t.csv:3: destination: expected an ISO 3166-1 alpha-2"),
    ("US,,0.01,,0", "t.csv:3: increment_s: must be a whole number of seconds in 1..3600"),
    ("UK,,0.01,,", "t.csv:3: destination: 'UK' is not ISO 3166-1 alpha-2: use 'GB'"),
    ("Zone A,,0.01,,", "t.csv:3: destination: expected an ISO 3166-1 alpha-2"),
    ("US,mobile,0.01,,", "t.csv:3: number_type: expected one of toll, toll_free, premium"),
    ("US,,0.01", "t.csv:3: expected 5 fields"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
def test_bad_rows_name_file_line_and_column(row, message):
    text = "# comment line 1\n" + HEADER + row + "\n"
    with pytest.raises(TariffFileError) as info:
        TariffTable.from_text(text, file="t.csv")
    assert str(info.value).startswith(message)
    assert info.value.line == 3
    assert isinstance(info.value, ConfigError)


def test_duplicate_row_names_both_lines():
    text = HEADER + "US,,0.01,,\n# c\nUS,,0.02,,\n"
    with pytest.raises(
        TariffFileError,
        match=r"t.csv:4: destination: duplicate row for 'US' "
        r"\(first given on line 2\)",
    ):
        TariffTable.from_text(text, file="t.csv")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("destination,rate,increment_s", "t.csv:1: rate: unknown column"),
        ("destination,increment_s", "t.csv:1: rate_per_min: missing required column"),
        ("destination,rate_per_min,rate_per_min", "t.csv:1: rate_per_min: column given twice"),
    ],
)
def test_bad_header(header, message):
    with pytest.raises(TariffFileError, match=message):
        TariffTable.from_text(header + "\n", file="t.csv")


def test_empty_file():
    with pytest.raises(TariffFileError, match="empty rate table"):
        TariffTable.from_text("# only a comment\n", file="t.csv")


def test_tariff_files_from_toml_data_and_load(tmp_path):
    for name in ("out", "tf", "do"):
        (tmp_path / f"{name}.csv").write_text(HEADER + "default,,0.10,,\n")
    files = build(
        TariffFiles,
        {"outbound": "out.csv", "toll_free": "tf.csv", "dial_out": "do.csv"},
        "tariffs",
    )
    book = files.load(tmp_path)
    assert book.outbound.rows[0].rate_per_min == 100_000
    assert book.dial_in.rows == ()  # optional table, empty


def test_tariff_files_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"tariffs.outbound: expected a .csv file"):
        build(
            TariffFiles, {"outbound": "x.txt", "toll_free": "a.csv", "dial_out": "b.csv"}, "tariffs"
        )
    files = TariffFiles("missing.csv", "a.csv", "b.csv")
    with pytest.raises(ConfigError, match=r"missing\.csv: cannot read rate table"):
        files.load(tmp_path)


def _book(tmp_path, scale=None):
    (tmp_path / "out.csv").write_text(HEADER + "GB,,0.033333,0.10,\ndefault,,0.40,,30\n")
    (tmp_path / "tf.csv").write_text(HEADER + "default,,0.000001,0.000003,\n")
    (tmp_path / "do.csv").write_text(HEADER + "default,,0.10,,\n")
    data = {"outbound": "out.csv", "toll_free": "tf.csv", "dial_out": "do.csv"}
    if scale is not None:
        data["scale"] = scale
    return build(TariffFiles, data, "tariffs").load(tmp_path)


def test_tariff_scale_one_leaves_the_book_identical(tmp_path):
    unscaled = _book(tmp_path)
    files = build(TariffFiles, {"outbound": "a.csv", "toll_free": "b.csv", "dial_out": "c.csv"})
    assert files.scale == 1.0
    assert _book(tmp_path, 1.0) == unscaled
    assert _book(tmp_path, 1) == unscaled
    assert unscaled.scaled(1.0) is unscaled


def test_tariff_scale_multiplies_rates_and_fees_rounding_half_up(tmp_path):
    book = _book(tmp_path, 1.5)
    gb, default = book.outbound.rows
    assert gb.rate_per_min == 50_000  # 33_333 * 1.5 = 49_999.5, rounded half up
    assert gb.connection_fee == 150_000
    assert default.rate_per_min == 600_000
    assert default.increment_s == 30  # increments and sources stay
    assert default.source == "out.csv:3"
    tf = book.toll_free.rows[0]
    assert (tf.rate_per_min, tf.connection_fee) == (2, 5)  # 1.5 -> 2, 4.5 -> 5
    assert book.dial_out.rows[0].rate_per_min == 150_000
    # The factor is the decimal written: 1.1 * 33_333 = 36_666.3 exactly -> 36_666.
    assert _book(tmp_path, 1.1).outbound.rows[0].rate_per_min == 36_666
    assert all(isinstance(r.rate_per_min, int) for r in book.outbound.rows)
    # Lookups use the scaled rows.
    assert book.outbound.find("GB", NumberType.TOLL).rate_per_min == 50_000


@pytest.mark.parametrize(
    ("scale", "message"),
    [(0, "must be a number > 0"), (-1.0, "must be a number > 0"), (float("inf"), "finite")],
)
def test_tariff_scale_must_be_positive(scale, message):
    with pytest.raises(ConfigError, match=rf"tariffs.scale: .*{message}"):
        build(
            TariffFiles,
            {"outbound": "a.csv", "toll_free": "b.csv", "dial_out": "c.csv", "scale": scale},
            "tariffs",
        )


def test_tariff_scale_above_the_largest_rate_names_the_row(tmp_path):
    with pytest.raises(
        ConfigError, match=r"out\.csv:3: rate_per_min: 1200\.00 after tariffs\.scale"
    ):
        _book(tmp_path, 3000.0)


def test_origin_and_call_type_columns_key_rows_most_specific_origin_first():
    """Rows keyed by origin (usage country or zone) and call type, as per-origin sheets."""
    from sim.telephony.calls import CallType

    text = (
        "origin,destination,number_type,call_type,rate_per_min,connection_fee\n"
        ",default,,,0.05,0\n"
        ",US,,,0.01,0\n"
        "GB,default,,,0.09,0\n"
        "zone_a,JP,,,0.07,0\n"
        "GB,US,,user_out_forwarding,0.02,0.04\n"
        "default,CA,,ucap_out,0.03,0.01\n"
    )
    table = TariffTable.from_text(text, "t.csv", "outbound")
    toll = NumberType.TOLL
    assert table.by_origin
    assert table.by_call_type
    assert table.find("US", toll).rate_per_min == 10_000  # no origin: any-origin rows
    assert table.find("US", toll, "NG").rate_per_min == 10_000  # NG has no sheet
    assert table.find("US", toll, "GB").rate_per_min == 90_000  # GB's default first
    assert table.find("JP", toll, "DE").rate_per_min == 70_000  # DE is in Zone A
    fwd = table.find("US", toll, "GB", CallType.USER_OUT_FORWARDING)
    assert (fwd.rate_per_min, fwd.connection_fee) == (20_000, 40_000)
    assert table.find("CA", toll, "US", CallType.UCAP_OUT).connection_fee == 10_000
    assert table.find("CA", toll, "US", CallType.USER_OUT).connection_fee == 0
    assert table.rows[5].origin is None  # "default" origin means any


def test_old_tables_price_as_before_and_new_keys_are_checked():
    old = TariffTable.from_text("destination,rate_per_min\nUS,0.02\ndefault,0.05\n")
    assert not old.by_origin
    assert not old.by_call_type
    for origin in (None, "US", "GB"):
        assert old.find("US", NumberType.TOLL, origin).rate_per_min == 20_000
    bad = "origin,destination,rate_per_min\nXX,US,0.01\n"
    with pytest.raises(TariffFileError, match=r"t\.csv:2: origin"):
        TariffTable.from_text(bad, "t.csv")
    bad = "call_type,destination,rate_per_min\nuser_up,US,0.01\n"
    with pytest.raises(TariffFileError, match=r"t\.csv:2: call_type: expected one of"):
        TariffTable.from_text(bad, "t.csv")
    dup = "origin,destination,rate_per_min\nGB,US,0.01\nGB,US,0.02\n"
    with pytest.raises(TariffFileError, match="duplicate row for 'US' from GB"):
        TariffTable.from_text(dup, "t.csv")
    # The same destination from two origins is no duplicate.
    TariffTable.from_text("origin,destination,rate_per_min\nGB,US,0.01\nUS,US,0.02\n")

"""Files given to options (``--prices``, ``--map``) get the checks scenario files get.

A device, a directory, a file with NUL bytes or not UTF-8: one line naming the file and
what was expected, never a read without end (``/dev/zero``) or replaced characters.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.calllogs.mapping import read_mapping_file
from sim.core.errors import InputError
from sim.reports.licences import PriceFileError, load_prices

READERS = [
    pytest.param(load_prices, PriceFileError, "licence-price file", id="prices"),
    pytest.param(read_mapping_file, InputError, "mapping file", id="map"),
]


def _bad_files(tmp: Path) -> list[tuple[Path, str]]:
    binary = tmp / "binary.csv"
    binary.write_bytes(b"kind,name\x00,price\n")
    latin = tmp / "latin.csv"
    latin.write_bytes("kind,name,price\nplan,caf\xe9,1\n".encode("latin-1"))
    return [
        (Path("/dev/zero"), "not a regular file (a device, FIFO or socket)"),
        (tmp, "is a directory"),
        (binary, "is binary (NUL bytes), expected UTF-8 text"),
        (latin, "is not UTF-8 text"),
    ]


@pytest.mark.parametrize(("read", "error", "what"), READERS)
def test_unreadable_option_files_are_one_line(tmp_path, read, error, what):
    for path, message in _bad_files(tmp_path):
        with pytest.raises(error) as exc:
            read(path)
        text = str(exc.value)
        assert str(path) in text
        assert message in text
        assert "\n" not in text


def test_a_mapping_file_over_its_cap_is_refused(tmp_path, monkeypatch):
    import sim.calllogs.mapping as mapping

    path = tmp_path / "rules.txt"
    path.write_text("user:a*=staff\n" * 100)
    monkeypatch.setattr(mapping, "MAX_MAPPING_FILE_BYTES", 1000)
    with pytest.raises(InputError, match="mapping file is larger than 1,000 bytes"):
        read_mapping_file(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("plan,domestic,XX,8.00,USD", "country: expected an ISO 3166-1 alpha-2 country code"),
        ("plan,domestic,UK,8.00,USD", "country: 'UK' is not ISO 3166-1 alpha-2: use 'GB'"),
        ("plan,domestic,US,8.00,XXX", "currency: must be an ISO 4217 currency code"),
        ("plan,domestic,US,8.00,DOLLARS", "currency: must be an ISO 4217 currency code"),
    ],
)
def test_a_price_row_with_no_such_country_or_currency_names_line_and_column(tmp_path, row, message):
    path = tmp_path / "prices.csv"
    path.write_text(f"# prices\nkind,name,country,price_per_month,currency\n{row}\n")
    with pytest.raises(PriceFileError) as exc:
        load_prices(path)
    assert str(exc.value).startswith(f"{path}:3: {message}")


def test_a_blank_country_prices_every_country(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("kind,name,country,price_per_month,currency\nplan,domestic,,8.00,USD\n")
    prices = load_prices(path)
    assert prices.price("plan", "domestic", "DE") == prices.price("plan", "domestic", "US") > 0

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

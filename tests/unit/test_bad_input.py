"""Issue 17: every bad input is refused by ``ccsim validate`` with one line naming the field."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from sim.cli.main import main
from sim.core.errors import InputError
from sim.scenario.loading import load_scenario
from tests.scenario_support import REPO, default_data, merge

TARIFFS = REPO / "scenarios" / "tariffs"


def write(tmp_path: Path, data: dict, name: str = "s") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def local_data(tmp_path: Path) -> dict:
    """The default scenario with its rate tables copied beside it (relative paths)."""
    shutil.copytree(TARIFFS, tmp_path / "tariffs", dirs_exist_ok=True)
    data = default_data()
    for key, path in data["tariffs"].items():
        data["tariffs"][key] = f"tariffs/{Path(path).name}"
    return data


def error_of(tmp_path: Path, over: dict) -> str:
    path = write(tmp_path, merge(local_data(tmp_path), over))
    with pytest.raises(InputError) as exc:
        load_scenario(path)
    message = str(exc.value)
    assert "\n" not in message
    return message


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.mark.parametrize(
    ("over", "field", "fragment"),
    [
        ({"funding": {"initial_funds": "1" + "0" * 30}}, "funding.initial_funds", "1000000000"),
        ({"simulation": {"horizon": "100000000d"}}, "simulation.horizon", "36525d"),
        ({"simulation": {"start": "9999-12-31T00:00:00"}}, "simulation.start", "2150-12-31"),
        ({"simulation": {"seed": 2**70}}, "simulation.seed", "9,223,372,036,854,775,807"),
        ({"simulation": {"seed": -1}}, "simulation.seed", "between 0 and"),
        ({"simulation": {"replications": 10**12}}, "simulation.replications", "100,000"),
        (
            {"traffic": {"groups": {"us-staff": {"calling": {"calls_per_user_day": 1e308}}}}},
            "traffic.groups.us-staff.calling.calls_per_user_day",
            "must be <= 1000",
        ),
        ({"simulation": {"currency": "QQQ"}}, "simulation.currency", "ISO 4217"),
        ({"simulation": {"currency": "XXX"}}, "simulation.currency", "no-currency code"),
        ({"simulation": {"currency": "XAU"}}, "simulation.currency", "not money a bill is paid"),
        ({"simulation": {"horizon": 30}}, "simulation.horizon", 'write "30d" for 30 days'),
        ({"simulation": {"horizon": "30"}}, "simulation.horizon", "must be at least 1h, got 30s"),
        ({"simulation": {"currency": "usd"}}, "simulation.currency", "did you mean 'USD'"),
        ({"simulation": {"name": "../../escape/pwned"}}, "simulation.name", "no '/'"),
        ({"payment": {"card_expires": "0001-01-01"}}, "payment.card_expires", "1900-01-01"),
        ({"recharge": {"amount": "5000000000"}}, "recharge.amount", "1000000000"),
        (
            {"simulation": {"horizon": "730d"}, "traffic": {"usage_growth_per_month": 0.9}},
            "traffic",
            "calls a day",
        ),
    ],
)
def test_out_of_range_values_name_field_and_range(tmp_path, over, field, fragment):
    message = error_of(tmp_path, over)
    assert f": {field}: " in message, message
    assert fragment in message, message


def test_group_count_and_made_up_countries(tmp_path):
    data = local_data(tmp_path)
    data["user_groups"][0]["count"] = 10**12
    path = write(tmp_path, data)
    with pytest.raises(InputError, match=r"user_groups\[0\]\.count: must be <= 1,000,000"):
        load_scenario(path)
    for code in ("ZZ", "QQ"):
        data = local_data(tmp_path)
        data["user_groups"][1]["usage_country"] = code
        with pytest.raises(InputError, match=r"user_groups\[1\]\.usage_country: .*no such country"):
            load_scenario(write(tmp_path, data))
    data = local_data(tmp_path)
    data["service_numbers"][0]["country"] = "us"
    with pytest.raises(InputError, match=r"service_numbers\[0\]\.country: .*did you mean 'US'"):
        load_scenario(write(tmp_path, data))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("a\nb", "must not contain control characters"),
        ("a\x00b", "must not contain control characters"),
        ("=HYPERLINK(1)", "must not start with = + - @ (read as a formula"),
        ("@SUM(A1)", "must not start with = + - @ (read as a formula"),
        ("x" * 101, "must be at most 100 characters"),
    ],
)
def test_group_and_service_names_are_plain_labels(tmp_path, name, fragment):
    for table, field in (
        ("user_groups", "user_groups[0].name"),
        ("service_numbers", "service_numbers[0].name"),
    ):
        data = local_data(tmp_path)
        data[table][0]["name"] = name
        with pytest.raises(InputError) as exc:
            load_scenario(write(tmp_path, data))
        message = str(exc.value)
        assert f"{field}: {fragment}" in message
        assert "\n" not in message  # one line, whatever the name held


def test_negative_share_names_that_share(tmp_path):
    shares = {"domestic": 1.0, "zone_a": 0.0, "international": 0.0, "premium": -0.1}
    over = {"traffic": {"groups": {"us-staff": {"calling": {"destinations": shares}}}}}
    message = error_of(tmp_path, over)
    assert "traffic.groups.us-staff.calling.destinations.premium: must be between 0 and 1" in (
        message
    )


def test_enum_values_and_keys_suggest_near_misses(tmp_path):
    data = local_data(tmp_path)
    data["user_groups"][0]["plan"] = "Domestic"
    with pytest.raises(InputError, match=r'user_groups\[0\]\.plan: .*did you mean "domestic"'):
        load_scenario(write(tmp_path, data))
    message = error_of(tmp_path, {"funding": {"at_zero": "cutoff"}})
    assert "funding.at_zero: must be one of" in message
    assert 'did you mean "cut_off"' in message
    message = error_of(tmp_path, {"recharge": {"triger": "50"}})
    assert "recharge.triger: unknown key" in message
    assert 'did you mean "trigger"' in message


def test_tariff_row_with_unknown_country(tmp_path):
    data = local_data(tmp_path)
    outbound = tmp_path / "tariffs" / "sample-outbound.csv"
    outbound.write_text(outbound.read_text() + "XQ,,0.10,,\n")
    with pytest.raises(InputError) as exc:
        load_scenario(write(tmp_path, data))
    lines = len(outbound.read_text().splitlines())
    assert f"sample-outbound.csv:{lines}: destination: " in str(exc.value)
    assert "no such country" in str(exc.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"destination,rate_per_min\nUS,\xff\xfe0.1\n", "not UTF-8 text"),
        (b"destination,rate_per_min\nUS,0.1\x00\x00\n", "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", "not UTF-8 text"),
    ],
)
def test_tariff_files_that_are_not_text(tmp_path, content, fragment):
    data = local_data(tmp_path)
    (tmp_path / "tariffs" / "bad.csv").write_bytes(content)
    data["tariffs"]["outbound"] = "tariffs/bad.csv"
    path = write(tmp_path, data)
    proc = cli("validate", str(path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "bad.csv" in proc.stderr
    assert fragment in proc.stderr


def test_nul_byte_in_a_tariff_path(tmp_path):
    data = local_data(tmp_path)
    data["tariffs"]["outbound"] = "tariffs/x\x00.csv"
    with pytest.raises(InputError, match="NUL character"):
        load_scenario(write(tmp_path, data))


def test_tariff_paths_stay_in_the_scenario_folder(tmp_path):
    scen = tmp_path / "scen"
    scen.mkdir()
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "x.csv").write_text("destination,rate_per_min\ndefault,0.1\n")
    data = local_data(scen)
    data["tariffs"]["outbound"] = "../secret/x.csv"
    with pytest.raises(InputError, match="outside the scenario's folder"):
        load_scenario(write(scen, data))
    data["tariffs"]["allow_outside"] = True  # the explicit option
    assert load_scenario(write(scen, data)).tariffs is not None


@pytest.mark.skipif(not Path("/etc/passwd").exists(), reason="needs /etc/passwd")
def test_symlinks_out_of_the_folder_are_refused_and_contents_never_echoed(tmp_path):
    data = local_data(tmp_path)
    os.symlink("/etc/passwd", tmp_path / "tariffs" / "pw.csv")
    data["tariffs"]["outbound"] = "tariffs/pw.csv"
    proc = cli("validate", str(write(tmp_path, data)))
    assert proc.returncode == 2
    assert "outside the scenario's folder" in proc.stderr
    assert "root:" not in proc.stderr
    # Named explicitly (absolute), it is read, and refused without quoting it.
    data["tariffs"]["outbound"] = str(tmp_path / "tariffs" / "pw.csv")
    proc = cli("validate", str(write(tmp_path, data)))
    assert proc.returncode == 2
    assert "root:" not in proc.stderr
    assert "column 1" in proc.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_devices_and_fifos_are_not_read(tmp_path):
    data = local_data(tmp_path)
    os.symlink("/dev/zero", tmp_path / "zero.csv")
    data["tariffs"]["outbound"] = str(tmp_path / "zero.csv")
    proc = cli("validate", str(write(tmp_path, data)))
    assert proc.returncode == 2
    assert "not a regular file" in proc.stderr
    os.mkfifo(tmp_path / "tariffs" / "fifo.csv")
    data["tariffs"]["outbound"] = "tariffs/fifo.csv"
    with pytest.raises(InputError, match="not a regular file"):
        load_scenario(write(tmp_path, data))


def test_oversized_and_binary_scenario_files(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(InputError, match="larger than 1 MiB"):
        load_scenario(big)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b'[simulation]\nname = "\xff"\n')
    with pytest.raises(InputError, match="not UTF-8 text"):
        load_scenario(binary)


def test_validate_refuses_what_run_cannot_run(tmp_path):
    """The issue's cases through the command: exit 2, one line, no traceback."""
    cases = {
        "funds": {"funding": {"initial_funds": "1" + "0" * 30}},
        "seed": {"simulation": {"seed": 2**70}},
        "start": {"simulation": {"start": "9999-12-31T00:00:00"}},
        "escape": {"simulation": {"name": "../../escape/pwned"}},
    }
    base = local_data(tmp_path)
    for name, over in cases.items():
        path = write(tmp_path, merge(base, over), name)
        for command in (["validate", str(path)], ["run", "-q", "--no-plots", str(path)]):
            proc = cli(*command, cwd=tmp_path)
            assert proc.returncode == 2, (name, proc.stderr)
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
            assert "Traceback" not in proc.stderr
    assert not (tmp_path.parent / "escape").exists()
    assert not (tmp_path / "results").exists()


def test_cli_options_are_bounded(tmp_path, capsys):
    path = write(tmp_path, local_data(tmp_path))
    for option in (["--replications", str(10**12)], ["--seed", str(2**70)], ["--workers", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(["run", str(path), *option])
        assert exc.value.code == 2
    assert "expected a whole number" in capsys.readouterr().err

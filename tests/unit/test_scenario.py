"""Scenario loading: strict shape, value rules, portal rules, CLI exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sim.cli.main import main
from sim.core.errors import InputError
from sim.core.schema import ConfigError
from sim.scenario.loading import load_scenario
from sim.scenario.model import Scenario

MINIMAL = {"simulation": {"start": "2026-01-01T00:00:00", "horizon": "30d"}}


def scenario_with(**sections):
    data = {"simulation": dict(MINIMAL["simulation"])}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return Scenario.from_dict(data)


def error_of(**sections) -> str:
    with pytest.raises(ConfigError) as exc:
        scenario_with(**sections)
    return str(exc.value)


def test_minimal_scenario_uses_documented_defaults():
    s = scenario_with()
    assert s.recharge.policy == "fixed"
    assert s.recharge.compare == "<"
    assert s.recharge.basis == "balance"
    assert s.recharge.max_in_flight == 1
    assert s.recharge.check == "after_debit"
    assert s.funding.expiry_months == 12
    assert s.funding.at_zero == "overshoot"
    assert s.funding.charge_at == "end"
    assert s.horizon_s == 30 * 86400


@pytest.mark.parametrize(
    ("sections", "path", "fragment"),
    [
        ({"recharge": {"trigerr": "100"}}, "recharge.trigerr", "unknown key"),
        ({"bogus": {}}, "bogus", "unknown key"),
        ({"recharge": {"amount": "-5"}}, "recharge.amount", "must be > 0"),
        ({"recharge": {"trigger": "20"}}, "recharge.trigger", "at least 50"),
        ({"recharge": {"amount": "75.50"}}, "recharge.amount", "whole numbers"),
        ({"recharge": {"policy": "target", "target": "40"}}, "recharge.target", "above"),
        ({"recharge": {"poll_interval": "2 hours"}}, "recharge.poll_interval", "duration"),
        ({"recharge": {"compare": ">"}}, "recharge.compare", "one of"),
        ({"recharge": {"max_in_flight": 0}}, "recharge.max_in_flight", ">= 1"),
        ({"recharge": {"max_in_flight": 1.5}}, "recharge.max_in_flight", "whole number"),
        ({"funding": {"initial_funds": 12.5}}, "funding.initial_funds", "decimal string"),
        ({"funding": {"initial_funds": "10"}}, "funding.initial_funds", "at least 50"),
        ({"funding": {"mode": "credit"}}, "funding.mode", "one of"),
        ({"funding": {"expiry_months": -1}}, "funding.expiry_months", "between"),
        ({"payment": {"decline_probability": 2}}, "payment.decline_probability", "between"),
        ({"payment": {"delay": {"kind": "gamma"}}}, "payment.delay.kind", "one of"),
        ({"payment": {"delay": {"kind": "exponential"}}}, "payment.delay.mean", "> 0"),
        ({"payment": {"card_expires": "soon"}}, "payment.card_expires", "date"),
        ({"admin": {"responds_to": ["pager"]}}, "admin.responds_to[0]", "one of"),
        ({"admin": {"top_up": "10"}}, "admin.top_up", "at least 50"),
        ({"simulation": {"horizon": "0s"}}, "simulation.horizon", "at least 1h, got 0s"),
        ({"simulation": {"currency": "usd"}}, "simulation.currency", "ISO 4217"),
        ({"simulation": {"time_zone": "Mars/Base"}}, "simulation.time_zone", "unknown time"),
        ({"simulation": {"seed": True}}, "simulation.seed", "whole number"),
        ({"funding": {"mode": "postpaid"}}, "recharge.policy", "postpaid"),
    ],
)
def test_bad_values_name_the_field(sections, path, fragment):
    message = error_of(**sections)
    assert message.startswith(f"{path}: "), message
    assert fragment in message


def test_missing_required_key():
    with pytest.raises(ConfigError, match=r"^simulation\.horizon: missing required key"):
        Scenario.from_dict({"simulation": {"start": "2026-01-01T00:00:00"}})


def test_portal_rules_switch_allows_study_values():
    s = scenario_with(
        funding={"portal_rules": False}, recharge={"trigger": "20", "amount": "12.34"}
    )
    assert s.recharge.trigger == 20_000_000
    assert s.recharge.amount == 12_340_000


def test_postpaid_with_recharge_off_is_valid():
    s = scenario_with(funding={"mode": "postpaid"}, recharge={"policy": "none"})
    assert s.funding.mode == "postpaid"


def test_default_scenario_file_is_valid(repo: Path):
    loaded = load_scenario(repo / "scenarios" / "default.toml")
    assert loaded.name == "default"
    assert len(loaded.sha256) == 64


def test_every_shipped_scenario_is_valid(repo: Path):
    files = sorted((repo / "scenarios").glob("*.toml"))
    assert files
    for f in files:
        load_scenario(f)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_load_reports_file_and_toml_syntax(tmp_path: Path):
    with pytest.raises(InputError, match=r"s\.toml: TOML syntax error"):
        load_scenario(write(tmp_path, "x = ["))
    with pytest.raises(InputError, match="no such file"):
        load_scenario(tmp_path / "nope.toml")


def default_text(repo: Path) -> str:
    return (repo / "scenarios" / "default.toml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('compare = "<"', 'comprae = "<"', "recharge.comprae"),
        ('amount = "2000"', 'amount = "-2000"', "recharge.amount"),
        ('trigger = "500"', 'trigger = "20"', "recharge.trigger"),
        ('poll_interval = "1h"', 'poll_interval = "1hr"', "recharge.poll_interval"),
    ],
)
def test_cli_validate_bad_file_exits_2_with_one_line(tmp_path, repo, capsys, old, new, path):
    text = default_text(repo)
    assert old in text
    bad = write(tmp_path, text.replace(old, new))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert re.match(rf"^{re.escape(str(bad))}: {re.escape(path)}: ", lines[0])
    assert "Traceback" not in err


def test_cli_validate_ok(repo, capsys):
    assert main(["validate", str(repo / "scenarios" / "default.toml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_console_script_has_no_traceback(tmp_path, repo):
    bad = write(tmp_path, default_text(repo).replace('trigger = "500"', 'trigger = "20"'))
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "recharge.trigger" in proc.stderr


def test_default_file_keys_match_schema(repo):
    # Every key written in the commented default must be a schema key (no mapping layer).
    data = tomllib.loads(default_text(repo))
    Scenario.from_dict(data)


def test_traffic_must_name_existing_groups(repo):
    text = default_text(repo).replace("[traffic.services.support]", "[traffic.services.suport]")
    data = tomllib.loads(text)
    with pytest.raises(ConfigError, match=r"^traffic\.services\.suport: no service number"):
        Scenario.from_dict(data)


def test_unknown_plan_lists_allowed(repo):
    data = tomllib.loads(default_text(repo))
    data["user_groups"][1]["plan"] = "paygo"
    with pytest.raises(ConfigError, match=r"^user_groups\[1\]\.plan: unknown plan 'paygo'"):
        Scenario.from_dict(data)


def test_traffic_without_tariffs_is_refused(repo):
    data = tomllib.loads(default_text(repo))
    del data["tariffs"]
    with pytest.raises(ConfigError, match=r"^tariffs: a scenario with user groups, service"):
        Scenario.from_dict(data)


def test_bad_tariff_row_is_reported_with_file_line_and_column(tmp_path, repo):
    (tmp_path / "tariffs").mkdir()
    for f in (repo / "scenarios" / "tariffs").glob("*.csv"):
        text = f.read_text()
        if f.name == "sample-outbound.csv":
            text = text.replace("GB,,0.030,0,60", "GB,,0.0x30,0,60")
        (tmp_path / "tariffs" / f.name).write_text(text)
    scenario = tmp_path / "s.toml"
    scenario.write_text(default_text(repo))
    with pytest.raises(InputError, match=r"sample-outbound\.csv:\d+: rate_per_min: "):
        load_scenario(scenario)

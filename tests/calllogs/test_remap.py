"""No silent remapping: plan substitutions and head-count mismatches are refused (exit 2)
unless ``--map`` or ``--allow-remap``; groups then follow the log's users; replay's charges
equal reconcile's rating of the same calls; reconcile's difference is ccsim - log."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sim.calllogs.mapping import find_remapping, map_calls, require_faithful
from sim.calllogs.reader import read_call_log
from sim.calllogs.reconcile import reconcile
from sim.calllogs.report import ImportOptions
from sim.calllogs.synthetic import write_graph_json
from sim.cli.main import main
from sim.core.errors import InputError
from tests.calllogs.support import make_log, scenario_data
from tests.scenario_support import write_scenario

GROUPS = [
    {"name": "us-staff", "count": 10, "usage_country": "US", "plan": "domestic",
     "conferencing": "standard"},
    {"name": "uk-sales", "count": 5, "usage_country": "GB", "plan": "payg",
     "conferencing": "standard"},
]  # fmt: skip


def _scenario(tmp, name, groups=GROUPS, **over):
    return write_scenario(tmp, scenario_data(user_groups=groups, **over), name)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("remap")
    loaded = _scenario(tmp, "base")
    log = make_log(loaded, days=7, seed=5)
    path = write_graph_json(log.rows, tmp / "log.json")
    calls, _ = read_call_log(path, ImportOptions(key="remap-key-0123456"))
    users = calls[calls["user"].str.startswith("u-")].groupby("usage_country")["user"].nunique()
    assert users.to_dict() == {"GB": 5, "US": 11}  # 10 users and the support queue
    payg = [dict(GROUPS[0], plan="payg"), GROUPS[1]]
    bigger = [dict(GROUPS[0], count=40), GROUPS[1]]
    return {
        "tmp": tmp,
        "base": loaded,
        "path": path,
        "calls": calls,
        "payg": _scenario(tmp, "payg", payg),
        "bigger": _scenario(tmp, "bigger", bigger),
    }


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", ["replay", "reconcile"])
@pytest.mark.parametrize(
    ("scenario", "words"),
    [("payg", "10 users of plan domestic priced as payg in us-staff"),
     ("bigger", "us-staff has 10 users in the log and 40 in the scenario")],
)  # fmt: skip
def test_remap_without_map_exits_2(logged, capsys, tmp_path, command, scenario, words):
    extra = ["--no-plots"] if command == "replay" else []
    code, _, err = _run(
        capsys, command, logged["path"], logged[scenario].path, "--out", tmp_path / "o", "-q",
        *extra,
    )  # fmt: skip
    assert code == 2
    assert err.count("\n") == 1
    assert words in err
    assert "--map" in err
    assert "--allow-remap" in err
    assert not (tmp_path / "o").exists()


def test_allow_remap_prints_and_sizes_groups_to_the_log(logged, capsys, tmp_path):
    out = tmp_path / "run"
    code, printed, err = _run(
        capsys, "replay", logged["path"], logged["bigger"].path, "--out", out, "-q",
        "--no-plots", "--allow-remap", "--replications", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "remapped: us-staff has 10 users in the log and 40 in the scenario" in printed
    assert "group sizes follow the log: us-staff 40 -> 10 users" in printed
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    assert outcomes["users"].iloc[0] == 15  # the log's users, not the scenario's 45
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mapping"]["remapped"] == [
        "us-staff has 10 users in the log and 40 in the scenario"
    ]
    # Per user-month figures divide by the log's users.
    months = manifest["horizon_s"] / 86400 / (365.25 / 12)
    spent = outcomes["spent_micros"].iloc[0]
    per_user = outcomes["cost_per_user_month_micros"].iloc[0]
    assert per_user == pytest.approx(spent / 15 / months, rel=0.02)


def test_map_file_accepts_the_mapping(logged, capsys, tmp_path):
    rules = tmp_path / "rules.txt"
    rules.write_text("# all US users\nMCOPSTN1/US=us-staff\n")
    code, printed, err = _run(
        capsys, "reconcile", logged["path"], logged["payg"].path, "--out", tmp_path / "rec",
        "--map", rules,
    )  # fmt: skip
    assert code == 0, err
    assert "remapped: 10 users of plan domestic priced as payg in us-staff" in printed
    # A missing rules file is one line, exit 2.
    code, _, err = _run(
        capsys, "reconcile", logged["path"], logged["payg"].path, "--map", tmp_path / "none"
    )
    assert code == 2
    assert "no such file" in err


def test_faithful_mapping_and_replay_equals_reconcile(logged, capsys, tmp_path):
    base = logged["base"]
    mapped = map_calls(logged["calls"], base.scenario)
    rem = find_remapping(mapped, base.scenario)
    assert not rem
    require_faithful(rem, "log", allowed=False)
    with pytest.raises(InputError):
        require_faithful(find_remapping(mapped, logged["payg"].scenario), "log", allowed=False)
    code, printed, err = _run(
        capsys, "replay", logged["path"], base.path, "--out", tmp_path / "run", "-q",
        "--no-plots", "--replications", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "as reconcile rates the same" in printed
    # Moved to another start: the check says why the totals may differ, or that they agree.
    later = _scenario(tmp_path, "later", simulation={"start": "2026-01-19T00:00:00"})
    code, printed, err = _run(
        capsys, "replay", logged["path"], later.path, "--out", tmp_path / "later-run", "-q",
        "--no-plots", "--replications", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "check: replay charged" in printed


def test_reconcile_difference_is_ccsim_minus_log_with_unratable_apart(logged, tmp_path):
    no_credits = _scenario(
        tmp_path,
        "nocredits",
        service_numbers=[
            {
                "name": "support",
                "kind": "call_queue",
                "number_type": "toll_free",
                "country": "US",
                "credits_licence": False,
            }
        ],
    )
    calls = logged["calls"].copy()
    calls["charge_micros"] += 1_000  # every logged charge 0.001 higher
    rec = reconcile(map_calls(calls, no_credits.scenario), no_credits)
    total = rec.summary.set_index("call_type").loc["all"]
    assert total["unratable"] > 0
    assert total["difference_micros"] == total["ccsim_charge_micros"] - total["log_charge_micros"]
    rated = total["calls"] - total["unratable"]
    assert total["difference_micros"] == -1_000 * rated
    unratable = rec.calls[rec.calls["status"] == "unratable"]
    assert total["unratable_log_charge_micros"] == unratable["log_charge_micros"].sum() > 0
    text = "\n".join(rec.lines())
    assert "ccsim - log" in text
    assert f"unratable: {len(unratable):,} calls" in text


@pytest.mark.parametrize("spec", ["x" * 5000, "us-staff/*=" + "g" * 5000])
def test_a_long_bad_mapping_rule_is_quoted_short(tmp_path, spec):
    from sim.calllogs.mapping import parse_mapping

    loaded = _scenario(tmp_path, "long")
    with pytest.raises(InputError) as info:
        parse_mapping([spec], loaded.scenario)
    text = str(info.value)
    assert text.startswith("--map 'xxx" if spec.startswith("x") else "--map 'us-staff/*=ggg")
    assert len(text) < 250

"""Replay recorded calls through rating and the ledger; bootstrap weeks; reconcile charges."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calllogs.mapping import map_calls, parse_mapping, require_mapped
from sim.calllogs.reader import read_call_log
from sim.calllogs.reconcile import reconcile
from sim.calllogs.replay import replay_and_write, with_recharge
from sim.calllogs.report import ImportOptions
from sim.calllogs.synthetic import write_graph_json
from sim.calllogs.traffic_sources import BootstrapTraffic, RecordedTraffic
from sim.core.errors import InputError
from sim.engine.results import TABLES
from sim.scenario.loading import load_scenario
from tests.calllogs.support import make_log, make_scenario, run_cli, scenario_data
from tests.scenario_support import write_scenario

DAYS = 28
# A smaller tenant than the round trip's: replays need money flows, not statistical power.
SMALL = [
    {
        "name": "us-staff",
        "count": 60,
        "usage_country": "US",
        "plan": "domestic",
        "conferencing": "standard",
    },
    {
        "name": "uk-sales",
        "count": 20,
        "usage_country": "GB",
        "plan": "payg",
        "conferencing": "standard",
    },
]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recorded")
    loaded = make_scenario(tmp, "base", user_groups=SMALL)
    log = make_log(loaded, days=DAYS, seed=3)
    path = write_graph_json(log.rows, tmp / "log.json")
    calls, report = read_call_log(path, ImportOptions(salt="replay-key-012345"))
    return {
        "tmp": tmp,
        "loaded": loaded,
        "log": log,
        "path": path,
        "calls": calls,
        "report": report,
    }


def _scenario(tmp: Path, name: str, **over):
    return write_scenario(tmp, scenario_data(**{"user_groups": SMALL, **over}), name)


def test_automatic_mapping_recovers_the_groups(recorded):
    mapped = map_calls(recorded["calls"], recorded["loaded"].scenario)
    assert len(mapped.unmapped) == 0
    assert mapped.relocated == 0
    assert mapped.calls["group"].tolist() == recorded["log"].truth["group"].tolist()
    kinds = mapped.holders.groupby(["group", "kind"]).size().to_dict()
    assert kinds == {("support", "service"): 1, ("uk-sales", "user"): 20, ("us-staff", "user"): 60}
    # One subscriber per user, as in the simulation.
    pairs = set(zip(mapped.calls["subscriber"], recorded["log"].truth["subscriber"], strict=True))
    assert len(pairs) == mapped.calls["subscriber"].nunique()


def test_replayed_calls_keep_their_local_times(recorded):
    loaded = recorded["loaded"]
    mapped = map_calls(recorded["calls"], loaded.scenario)
    source = RecordedTraffic(mapped, loaded.scenario)
    assert source.shift_days == 0
    assert source.dropped_before == 0
    truth = recorded["log"].truth
    got = pd.concat(
        [
            pd.DataFrame({"start_s": b.start_s, "duration_s": b.duration_s})
            for b in (source.draw_day(d) for d in range(DAYS + 2))
        ]
    )
    assert len(got) == len(truth)
    # Same instants (to the microsecond of the log) and lengths, in start order.
    assert np.allclose(np.sort(got["start_s"]), np.sort(truth["start_s"]), atol=1e-6)
    assert sorted(got["duration_s"]) == sorted(truth["duration_s"])
    # Moved a week later: the same local wall-clock times, 7 days on.
    later = _scenario(recorded["tmp"], "later", simulation={"start": "2026-01-12T00:00:00"})
    moved = RecordedTraffic(map_calls(recorded["calls"], later.scenario), later.scenario)
    assert moved.shift_days == 7
    b0, b1 = source.draw_day(2), moved.draw_day(2)
    assert np.allclose(b0.start_s, b1.start_s)
    assert (b0.call_id == b1.call_id).all()
    # --first-day drops earlier calls and counts them.
    first = RecordedTraffic(mapped, loaded.scenario, first_day=date(2026, 1, 7))
    n_before = int((truth["start_s"] < 2 * 86400).sum())
    assert first.dropped_before == n_before
    assert (first.draw_day(0).call_id == source.draw_day(2).call_id).all()
    # --align-weekdays: the scenario starts on a Tuesday -> log from Tuesday 6 January.
    tue = _scenario(recorded["tmp"], "tue", simulation={"start": "2026-01-06T00:00:00"})
    aligned = RecordedTraffic(
        map_calls(recorded["calls"], tue.scenario), tue.scenario, align_weekdays=True
    )
    assert aligned.first_day == date(2026, 1, 6)
    assert aligned.shift_days == 0


def test_replay_with_two_recharge_settings(recorded, tmp_path):
    """Identical traffic, different funding: different recharges, refusals and balances."""
    base = _scenario(tmp_path, "small", funding={"initial_funds": "100"})
    small = with_recharge(base, trigger="50", amount="100")
    large = with_recharge(base, trigger="500", amount="1000")
    results = {}
    for name, loaded in (("small", small), ("large", large)):
        mapped = map_calls(recorded["calls"], loaded.scenario)
        folder, result, _info = replay_and_write(
            loaded,
            mapped,
            recorded["report"],
            recorded["path"],
            out=tmp_path / name,
            plots=False,
            show_progress=False,
        )
        results[name] = result
        for table in TABLES:
            assert (folder / f"{table}.parquet").exists()
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["mode"] == "replay"
        assert manifest["log"]["imported"] == len(recorded["calls"])
        assert manifest["scenario"]["recharge"]["amount"] == (
            "100.00" if name == "small" else "1000.00"
        )
    o_small, o_large = results["small"]["outcomes"].iloc[0], results["large"]["outcomes"].iloc[0]
    n = len(recorded["calls"])
    # Same recorded calls in both (retries are repeat attempts of refused ones).
    assert o_small["calls"] - o_small["retries"] == n
    assert o_large["calls"] - o_large["retries"] == n
    assert o_small["recharges_requested"] > o_large["recharges_requested"] >= 1
    assert o_small["purchased_auto_micros"] != o_large["purchased_auto_micros"]
    assert o_small["final_balance_micros"] != o_large["final_balance_micros"]


def test_replay_charges_equal_the_log_when_funds_never_run_out(recorded, tmp_path):
    rich = _scenario(tmp_path, "rich", funding={"initial_funds": "100000"})
    mapped = map_calls(recorded["calls"], rich.scenario)
    _, result, _ = replay_and_write(
        rich,
        mapped,
        recorded["report"],
        recorded["path"],
        out=tmp_path / "run",
        plots=False,
        show_progress=False,
    )
    o = result["outcomes"].iloc[0]
    assert o["blocked_attempts"] == 0
    assert o["recharges_requested"] == 0
    assert o["charged_micros"] == recorded["calls"]["charge_micros"].sum()


def test_replay_command(recorded, tmp_path):
    scenario = _scenario(tmp_path, "cli", funding={"initial_funds": "100"}).path
    out = tmp_path / "replayed"
    code, printed, err = run_cli(
        "replay",
        recorded["path"],
        scenario,
        "--out",
        out,
        "-q",
        "--no-plots",
        "--trigger",
        "50",
        "--amount",
        "100",
        "--salt",
        "replay-test-key-0002",
    )
    assert code == 0, err
    assert "ccsim replay:" in printed
    assert str(out) in printed
    assert "replayed from 2026-01-05" in printed
    assert (out / "mapping.csv").exists()
    assert (out / "outcomes.csv").exists()
    resolved = load_scenario(out / "scenario.resolved.toml")
    assert resolved.scenario.recharge.amount == 100_000_000
    code, _, err = run_cli("replay", recorded["path"], scenario, "--trigger", "20", "-q")
    assert code == 2
    assert err.strip().startswith("--trigger: 20.00 is refused by the admin portal")  # the option
    code, _, err = run_cli("replay", recorded["path"], scenario, "--trigger", "-5", "-q")
    assert code == 2
    assert err.strip() == "--trigger: must be >= 0"


def test_unmapped_calls_are_an_error_unless_skipped(recorded, tmp_path):
    data = scenario_data(user_groups=SMALL)
    data["user_groups"] = [g for g in data["user_groups"] if g["name"] != "uk-sales"]
    del data["traffic"]["groups"]["uk-sales"]
    us_only = write_scenario(tmp_path, data, "us_only")
    mapped = map_calls(recorded["calls"], us_only.scenario)
    gb = int((recorded["calls"]["usage_country"] == "GB").sum())
    assert len(mapped.unmapped) == gb
    with pytest.raises(InputError, match=r"match no user group.*MCOPSTNPP/GB.*--map"):
        require_mapped(mapped, "log.json", allow_unmapped=False)
    require_mapped(mapped, "log.json", allow_unmapped=True)
    # An explicit rule moves them (and their usage country) to a US group.
    rules = parse_mapping(["*/GB=us-staff"], us_only.scenario)
    moved = map_calls(recorded["calls"], us_only.scenario, rules)
    assert len(moved.unmapped) == 0
    assert moved.relocated == gb
    assert set(moved.calls["usage_country"]) == {"US"}
    with pytest.raises(InputError, match="no user group or service number is named 'nobody'"):
        parse_mapping(["MCOPSTN1/US=nobody"], us_only.scenario)
    with pytest.raises(InputError, match="belong to service numbers"):
        map_calls(
            recorded["calls"], us_only.scenario, parse_mapping(["*=us-staff"], us_only.scenario)
        )
    code, _, err = run_cli("replay", recorded["path"], us_only.path, "-q")
    assert code == 2
    assert "--skip-unmapped" in err


def test_bootstrap_resamples_whole_weeks(recorded, tmp_path):
    longer = _scenario(tmp_path, "longer", simulation={"horizon": "70d"})
    mapped = map_calls(recorded["calls"], longer.scenario)
    boot = BootstrapTraffic(mapped, longer.scenario, seed=1, replication=0)
    assert boot.recorded_weeks == 4
    assert boot.week0 == date(2026, 1, 5)
    again = BootstrapTraffic(mapped, longer.scenario, seed=1, replication=0)
    other = BootstrapTraffic(mapped, longer.scenario, seed=1, replication=1)
    assert (boot.source_week == again.source_week).all()
    assert not (boot.source_week == other.source_week).all()
    assert set(boot.source_week.tolist()) <= {0, 1, 2, 3}
    replayed = RecordedTraffic(mapped, recorded["loaded"].scenario)

    tz = longer.scenario.simulation.time_zone
    origin = pd.Timestamp(longer.scenario.calendar.start).tz_convert("UTC")

    def week(src, w, dst_sunday=False):
        """The week's calls as (weekday, local wall-clock seconds, duration), sorted."""
        parts = []
        for d in range(7):
            b = src.draw_day(7 * w + d)
            local = (origin + pd.to_timedelta(b.start_s, unit="s")).tz_convert(tz).tz_localize(None)
            wall = (local - local.normalize()).total_seconds().to_numpy()
            parts.append(np.column_stack([np.full(len(b), d), wall, b.duration_s]))
        rows = np.concatenate(parts)
        if dst_sunday:  # 02:00-03:00 does not exist on 8 March 2026: moved to 03:00
            gap = (rows[:, 0] == 6) & (rows[:, 1] >= 7200) & (rows[:, 1] < 10800)
            rows[gap, 1] = 10800
        return rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]

    for w in range(10):
        k = int(boot.source_week[w])
        got = week(boot, w)
        want = week(replayed, k, dst_sunday=w == 8)  # week 8 ends on 8 March (DST starts)
        assert got.shape == want.shape, w
        assert np.allclose(got, want, rtol=0, atol=1e-5), w
    # Call ids stay unique across repeated weeks.
    ids = np.concatenate([boot.draw_day(d).call_id for d in range(20)])
    assert len(np.unique(ids)) == len(ids)
    blocks = BootstrapTraffic(mapped, longer.scenario, seed=1, replication=0, block_weeks=2)
    sw = blocks.source_week
    assert all(sw[i + 1] == sw[i] + 1 for i in range(0, len(sw) - 1, 2))
    with pytest.raises(InputError, match="needs at least 5"):
        BootstrapTraffic(mapped, longer.scenario, seed=1, replication=0, block_weeks=5)


def test_bootstrap_command(recorded, tmp_path):
    scenario = _scenario(tmp_path, "boot", simulation={"horizon": "35d"}).path
    out = tmp_path / "boot-run"
    code, printed, err = run_cli(
        "replay",
        recorded["path"],
        scenario,
        "--bootstrap",
        "--out",
        out,
        "-q",
        "--no-plots",
        "--replications",
        "2",
    )
    assert code == 0, err
    assert "block bootstrap" in printed
    weeks = pd.read_csv(out / "bootstrap_weeks.csv")
    assert set(weeks["replication"]) == {0, 1}
    assert len(weeks) == 2 * 6
    outcomes = pd.read_csv(out / "outcomes.csv")
    assert len(outcomes) == 2
    assert outcomes["calls"].min() > 0


def test_reconcile_same_tariffs_all_matched(recorded, tmp_path):
    loaded = recorded["loaded"]
    rec = reconcile(map_calls(recorded["calls"], loaded.scenario), loaded)
    total = rec.summary.set_index("call_type").loc["all"]
    assert total["calls"] == total["matched"] == len(recorded["calls"])
    assert total["differing"] == 0
    assert total["unratable"] == 0
    assert total["log_charge_micros"] == total["ccsim_charge_micros"] > 0
    assert rec.matched_share == 1.0
    assert len(rec.calls) == 0
    code, printed, err = run_cli(
        "reconcile",
        recorded["path"],
        loaded.path,
        "--out",
        tmp_path / "rec",
        "--fail-on-difference",
    )
    assert code == 0, err
    assert "100.00% matched" in printed
    for name in ("reconcile_summary", "reconcile_by_route", "reconcile_calls", "mapping"):
        assert (tmp_path / "rec" / f"{name}.csv").exists()


def test_reconcile_shows_a_changed_tariff(recorded, tmp_path):
    loaded = recorded["loaded"]
    outbound = Path(loaded.scenario.tariffs.outbound)
    changed = tmp_path / "outbound.csv"
    changed.write_text(outbound.read_text().replace("GB,,0.030,0,60", "GB,,0.033,0,60"))
    assert changed.read_text() != outbound.read_text()
    other = _scenario(tmp_path, "changed", tariffs={"outbound": str(changed)})
    rec = reconcile(map_calls(recorded["calls"], other.scenario), other)
    summary = rec.summary.set_index("call_type")
    assert summary.loc["user_out", "differing"] > 0
    assert summary.loc["user_out", "difference_micros"] > 0  # ccsim now charges more
    assert summary.loc["ucap_in", "differing"] == 0
    assert summary.loc["conf_in", "differing"] == 0
    assert rec.matched_share < 1.0
    # The route table points at the row: PAYG outbound to GB.
    routes = rec.by_route[rec.by_route["differing"] > 0]
    assert set(routes["dest_country"]) == {"GB"}
    assert set(routes["rule"]) <= {
        "payg_outbound",
        "domestic_plan",
        "international_on_domestic",
        "international_plan",
    }
    # Every differing call is listed with its line and both charges.
    listed = rec.calls[rec.calls["status"] == "differing"]
    assert len(listed) == summary.loc["all", "differing"]
    assert (
        listed["ccsim_charge_micros"] - listed["log_charge_micros"] == listed["difference_micros"]
    ).all()
    code, printed, _ = run_cli(
        "reconcile",
        recorded["path"],
        other.path,
        "--out",
        tmp_path / "rec2",
        "--fail-on-difference",
        "-q",
    )
    assert code == 1
    assert "differing" in printed


def test_reconcile_unratable_and_tolerance(recorded, tmp_path):
    loaded = recorded["loaded"]
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
    rec = reconcile(map_calls(recorded["calls"], no_credits.scenario), no_credits)
    summary = rec.summary.set_index("call_type")
    assert summary.loc["ucap_in", "unratable"] == summary.loc["ucap_in", "calls"] > 0
    reasons = set(rec.calls.loc[rec.calls["status"] == "unratable", "reason"])
    assert reasons == {"refused: no_credits_licence"}
    # A generous tolerance hides small per-call differences but not the totals.
    shifted = recorded["calls"].copy()
    shifted["charge_micros"] = shifted["charge_micros"] + 1_000
    mapped = map_calls(shifted, loaded.scenario)
    strict = reconcile(mapped, loaded, tolerance_micros=0)
    loose = reconcile(mapped, loaded, tolerance_micros=1_000)
    assert strict.matched_share == 0.0
    assert loose.matched_share == 1.0
    assert loose.summary.set_index("call_type").loc["all", "difference_micros"] == -1_000 * len(
        shifted
    )


def test_with_recharge_rejects_bad_amounts(recorded):
    with pytest.raises(InputError, match="--amount"):
        with_recharge(recorded["loaded"], amount="lots")


def test_replay_accepts_an_imported_table(recorded, tmp_path):
    table = tmp_path / "calls.parquet"
    key = "replay-test-key-0001"
    code, _, err = run_cli("import-log", recorded["path"], "--out", table, "--salt", key, "-q")
    assert code == 0, err
    calls, report = read_call_log(table)
    assert report.format == "parquet"
    mapped = map_calls(calls, recorded["loaded"].scenario)
    source = RecordedTraffic(mapped, recorded["loaded"].scenario)
    total = sum(len(source.draw_day(d)) for d in range(DAYS + 1))
    assert total == len(recorded["calls"])
    assert source.day_bounds(1)[2] == date(2026, 1, 5) + timedelta(days=1)


def test_replay_from_after_the_log_and_a_negative_tolerance_are_refused(recorded, tmp_path):
    scenario = _scenario(tmp_path, "late", funding={"initial_funds": "100"}).path
    out = tmp_path / "late"
    code, _, err = run_cli(
        "replay", recorded["path"], scenario, "--out", out, "-q", "--no-plots",
        "--first-day", "2030-01-01",
    )  # fmt: skip
    assert code == 2
    assert err.strip().startswith("--first-day 2030-01-01: after the log's last call")
    assert not out.exists()
    import argparse

    from sim.cli.calllogs import _nonnegative_money  # reconcile --tolerance

    assert _nonnegative_money("0.005") == "0.005"
    with pytest.raises(argparse.ArgumentTypeError, match="expected an amount >= 0"):
        _nonnegative_money("-1")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--block-weeks", "2"], "--block-weeks: only with --bootstrap"),
        (["--bootstrap", "--first-day", "2026-01-07"], "--first-day: not with --bootstrap"),
        (["--bootstrap", "--align-weekdays"], "--align-weekdays: not with --bootstrap"),
    ],
)
def test_replay_options_the_mode_would_ignore_are_refused(recorded, tmp_path, options, message):
    scenario = _scenario(tmp_path, "modes", funding={"initial_funds": "100"}).path
    out = tmp_path / "modes"
    code, _, err = run_cli("replay", recorded["path"], scenario, "--out", out, "-q", *options)
    assert code == 2
    assert err.strip().startswith(message)
    assert not out.exists()

"""Reconcile a log priced by origin-dependent rates and per-type fees: every call matches.

The rate tables key rows by the caller's usage country (Microsoft's sheets are per origin
country, teams-credits.md §7) and by call type (a connection fee for forwarded calls, for
conference dial-out, for toll-free calls to the call queue). A log synthesised from the
scenario and reconciled against the same scenario must match every call to the micro-unit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.calllogs.mapping import map_calls
from sim.calllogs.reader import read_call_log
from sim.calllogs.reconcile import reconcile
from sim.calllogs.report import ImportOptions
from sim.calllogs.synthetic import write_graph_json
from tests.calllogs.support import make_log, make_scenario

HEADER = "origin,destination,number_type,call_type,rate_per_min,connection_fee,increment_s\n"
OUTBOUND = HEADER + (
    ",default,,,0.050,0,60\n"
    "US,US,,,0.011,0,60\n"
    "US,CA,,,0.013,0,60\n"
    "US,zone_a,,,0.031,0.004,6\n"
    "US,default,,,0.090,0,60\n"
    "GB,GB,,,0.017,0,1\n"
    "GB,zone_a,,,0.042,0,60\n"
    "GB,default,,,0.120,0.010,60\n"
    "US,US,,user_out_forwarding,0.011,0.035,60\n"
    "US,US,,user_out_transfer,0.011,0.025,60\n"
    "GB,GB,,user_out_forwarding,0.017,0.045,1\n"
    ",GB,premium,,0.300,0,60\n"
    "GB,GB,premium,user_out,0.280,0.020,60\n"
    ",US,premium,,0.250,0.015,60\n"
)
TOLL_FREE = HEADER + (
    ",default,,,0.026,0,60\n"
    "US,US,toll_free,ucap_in,0.021,0.003,6\n"
    "US,US,toll_free,conf_in,0.024,0.001,60\n"
    "GB,US,toll_free,,0.033,0,60\n"
)
DIAL_OUT = HEADER + (
    ",default,,,0.200,0.050,60\n"
    "US,US,,,0.024,0.010,60\n"
    "US,zone_a,,,0.040,0.010,60\n"
    "GB,zone_a,,,0.045,0.020,60\n"
    "GB,GB,,,0.028,0.005,6\n"
)


@pytest.fixture(scope="module")
def origin_log(tmp_path_factory):
    tmp: Path = tmp_path_factory.mktemp("origin")
    files = {}
    for name, text in (("outbound", OUTBOUND), ("toll_free", TOLL_FREE), ("dial_out", DIAL_OUT)):
        path = tmp / f"{name}.csv"
        path.write_text(text)
        files[name] = str(path)
    loaded = make_scenario(tmp, "origin", tariffs=files)
    log = make_log(loaded, days=14, seed=11)
    path = write_graph_json(log.rows, tmp / "log.json")
    calls, _ = read_call_log(path, ImportOptions(salt="origin-key-012345"))
    return loaded, log, calls


def test_tables_are_keyed_by_origin_and_call_type(origin_log):
    loaded, _, _ = origin_log
    assert loaded.tariffs is not None
    outbound = loaded.tariffs.outbound
    assert outbound.by_origin
    assert outbound.by_call_type
    # The same destination costs differently from two origins.
    assert outbound.find("US", "toll", "US").rate_per_min == 11_000
    assert outbound.find("US", "toll", "GB").rate_per_min == 42_000  # US is in Zone A
    assert outbound.find("NG", "toll", "GB").rate_per_min == 120_000
    assert outbound.find("NG", "toll", "US").rate_per_min == 90_000
    # A forwarded call pays its own connection fee.
    assert outbound.find("US", "toll", "US", "user_out_forwarding").connection_fee == 35_000
    assert outbound.find("US", "toll", "US", "user_out").connection_fee == 0


def test_reconcile_matches_every_call_with_origin_rates_and_type_fees(origin_log):
    loaded, log, calls = origin_log
    rec = reconcile(map_calls(calls, loaded.scenario), loaded, tolerance_micros=0)
    total = rec.summary.set_index("call_type").loc["all"]
    assert total["calls"] == len(calls) == len(log.rows)
    assert total["matched"] == total["calls"]
    assert total["differing"] == total["unratable"] == 0
    assert total["difference_micros"] == 0
    assert total["max_abs_difference_micros"] == 0
    assert total["log_charge_micros"] == total["ccsim_charge_micros"] > 0
    assert rec.matched_share == 1.0
    # The log exercises what the old tables could not express.
    by_type = rec.summary.set_index("call_type")
    for call_type in ("user_out", "user_out_forwarding", "conf_out", "ucap_in"):
        assert by_type.loc[call_type, "ccsim_charge_micros"] > 0, call_type


def test_a_log_priced_by_origin_does_not_match_a_destination_only_table(origin_log, tmp_path):
    loaded, _, calls = origin_log
    flat = tmp_path / "outbound.csv"
    flat.write_text("destination,rate_per_min\ndefault,0.050\nGB,0.017\nUS,0.011\nCA,0.013\n")
    files = {k: getattr(loaded.scenario.tariffs, k) for k in ("toll_free", "dial_out")}
    other = make_scenario(tmp_path, "flat", tariffs={**files, "outbound": str(flat)})
    rec = reconcile(map_calls(calls, other.scenario), other, tolerance_micros=0)
    assert rec.matched_share < 1.0
    differing = rec.calls[rec.calls["status"] == "differing"]
    assert {"user_out", "user_out_forwarding"} <= set(differing["call_type"])

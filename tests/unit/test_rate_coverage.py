"""``ccsim validate`` looks up every kind of call the traffic can make (``sim.engine.coverage``).

``TrafficModel.possible_calls`` names the kinds (group or service number, call type,
number type, destination) the draws give a positive chance; ``unpriced_calls`` looks
them up in the rating's own cell tables. Known truth: every call a draw makes is of a
named kind, and over a year of each shipped scenario every named kind is drawn.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli.main import main
from sim.engine.coverage import unpriced_call_kinds
from sim.scenario.loading import load_scenario
from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES, CallBatch
from sim.traffic.model import TrafficModel
from tests.scenario_support import merge, small_tenant, write_scenario

REPO = Path(__file__).resolve().parents[2]
SAMPLE_OUTBOUND = REPO / "scenarios" / "tariffs" / "sample-outbound.csv"


def kinds(batch: CallBatch) -> set[tuple[str, str, str, str]]:
    cells = zip(
        batch.group.tolist(),
        batch.call_type.tolist(),
        batch.number_type.tolist(),
        batch.dest_country.tolist(),
        strict=True,
    )
    return {
        (batch.groups[g], CALL_TYPES[c].value, NUMBER_TYPES[n].value, batch.countries[d])
        for g, c, n, d in set(cells)
    }


def model_of(scenario) -> TrafficModel:
    return TrafficModel(
        scenario.traffic,
        scenario.population,
        scenario.calendar,
        scenario.simulation.seed,
        0,
        scenario.horizon_s,
    )


@pytest.mark.parametrize(
    "name", ["default", "multinational", "enterprise-us", "small-business-payg", "nce-postpaid"]
)
def test_the_kinds_named_are_exactly_those_a_year_of_draws_makes(name):
    scenario = load_scenario(REPO / "scenarios" / f"{name}.toml").scenario
    model = model_of(scenario)
    named = kinds(model.possible_calls())
    drawn = kinds(model.draw_days(0, 363))
    assert drawn <= named  # nothing a run rates goes unchecked
    assert named == drawn  # and nothing is named that the traffic never makes


def uncovered_tenant(tmp_path: Path, *rows: str):
    """A tenant whose outbound table has no 'default' row, and these extra rows."""
    table = [
        line for line in SAMPLE_OUTBOUND.read_text().splitlines() if not line.startswith("default,")
    ]
    (tmp_path / "outbound.csv").write_text("\n".join([*table, *rows]) + "\n")
    groups = {
        "us-staff": {
            "domestic": 0.97,
            "zone_a": 0.02,
            "international": 0.01,
            "premium": 0.0,
            "international_countries": ["JP", "FJ", "NZ"],
            "international_weights": [1.0, 1e-6, 0.0],  # NZ is never called
        },
        "uk-sales": {
            "domestic": 0.9,
            "zone_a": 0.08,
            "international": 0.0,  # no class, no countries
            "premium": 0.02,
            "international_countries": ["NZ"],
        },
    }
    data = merge(
        small_tenant(0.1),
        {
            "simulation": {"horizon": "7d", "name": "uncovered"},
            "traffic": {"groups": {g: {"calling": {"destinations": d}} for g, d in groups.items()}},
        },
    )
    data["tariffs"]["outbound"] = "outbound.csv"
    return write_scenario(tmp_path, data)


def test_validate_names_a_rare_destination_without_a_row(tmp_path, capsys):
    loaded = uncovered_tenant(tmp_path)
    missing = unpriced_call_kinds(loaded.scenario, loaded.tariffs)
    # FJ has a millionth of us-staff's international calls: a short run may never
    # call it, but a long one would stop there. NZ has weight 0 or share 0: no call.
    assert missing
    assert missing == [
        f"us-staff {kind} to FJ toll (INTERNATIONAL_ON_DOMESTIC)"
        for kind in ("user_out", "user_out_transfer", "user_out_forwarding")
    ]
    assert main(["validate", "-q", str(loaded.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{loaded.path}: tariffs: {len(missing)} kind(s) of call")
    assert "e.g. us-staff user_out to FJ toll (INTERNATIONAL_ON_DOMESTIC); " in err
    assert len(err.splitlines()) == 1


def test_a_country_no_call_can_reach_needs_no_row(tmp_path, capsys):
    loaded = uncovered_tenant(tmp_path, "FJ,,0.500,0,60")
    assert unpriced_call_kinds(loaded.scenario, loaded.tariffs) == []
    assert main(["validate", "-q", str(loaded.path)]) == 0
    out = tmp_path / "run"
    assert main(["run", str(loaded.path), "--out", str(out), "-q", "--no-plots"]) == 0


@pytest.mark.parametrize("command", ["sweep", "recommend"])
def test_sweeps_check_the_rate_tables_before_making_a_folder(tmp_path, capsys, command):
    loaded = uncovered_tenant(tmp_path)
    out = tmp_path / "out"
    args = [command, str(loaded.path), "--trigger", "100,200", "--amount", "300"]
    assert main([*args, "--serial", "-q", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{loaded.path}: tariffs: 3 kind(s) of call the traffic can make")
    assert not out.exists()

"""Uncertainties: the [uncertainties] section, futures sampled from it, dotted paths."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import tomli_w
from scipy import stats

from sim.cli.main import main
from sim.core.schema import ConfigError, build, to_plain
from sim.core.units import Micros, Seconds, parse_duration, parse_money
from sim.experiments.sweeps import build_variants
from sim.scenario.model import Scenario
from sim.scenario.paths import PathError, set_value, setting_type, typed_value
from sim.scenario.uncertainties import (
    FUTURES_STREAM,
    Uncertainties,
    Uncertainty,
    apply_future,
    duration_text,
    futures_drawn,
    sample_futures,
    unit_design,
    values_from_unit,
)
from sim.traffic.settings import Calling
from tests.scenario_support import default_data, merge

GROUP_CALLS = "traffic.groups.us-staff.calling.calls_per_user_day"
SETTINGS = {
    "payment.decline_probability": {"kind": "uniform", "low": 0.0, "high": 0.1},
    "traffic.usage_growth_per_month": {
        "kind": "triangular",
        "low": 0.0,
        "mode": 0.01,
        "high": 0.03,
    },
    GROUP_CALLS: {"kind": "truncnorm", "mean": 6.0, "sd": 1.0, "low": 3.0, "high": 9.0},
    "payment.delay.mean": {"kind": "lognormal", "median": "10m", "sigma": 0.5},
    "tariffs.scale": {"kind": "choice", "values": [0.9, 1.0, 1.2], "weights": [1, 2, 1]},
    "payment.max_retries": {"kind": "uniform", "low": 0, "high": 5},
    "costs.outage_hour": {"kind": "uniform", "low": "10", "high": "100"},
}
N = 2000


def with_uncertainties(settings=None, **section):
    return merge(default_data(), {"uncertainties": {**section, "settings": settings or SETTINGS}})


@pytest.fixture(scope="module")
def raw():
    return with_uncertainties()


@pytest.fixture(scope="module")
def scenario(raw):
    return Scenario.from_dict(raw)


@pytest.fixture(scope="module")
def futures(scenario):
    return sample_futures(scenario.uncertainties, seed=11, n=N)


def error_of(data) -> str:
    with pytest.raises(ConfigError) as info:
        Scenario.from_dict(data)
    text = str(info.value)
    assert "\n" not in text
    return text


# -- the section ----------------------------------------------------------------------------


def test_section_is_built_and_bound_to_the_settings_units(scenario):
    unc = scenario.uncertainties
    assert isinstance(unc, Uncertainties)
    assert (unc.futures, unc.sampler) == (200, "lhs")
    assert unc.paths == tuple(SETTINGS)
    units = {p: u.unit for p, u in unc.settings.items()}
    assert units == {
        "payment.decline_probability": "number",
        "traffic.usage_growth_per_month": "number",
        GROUP_CALLS: "number",
        "payment.delay.mean": "duration",
        "tariffs.scale": "number",
        "payment.max_retries": "whole",
        "costs.outage_hour": "money",
    }
    assert unc.settings["tariffs.scale"].weights == (1.0, 2.0, 1.0)


def test_a_run_is_unchanged_by_the_section(raw, scenario):
    plain = Scenario.from_dict({k: v for k, v in raw.items() if k != "uncertainties"})
    assert replace(scenario, uncertainties=None) == plain


def test_describe_has_a_line_for_it(scenario):
    assert scenario.describe()[-1] == "uncertainties: 7 setting(s), 200 futures (lhs)"
    sobol = Scenario.from_dict(with_uncertainties(futures=100, sampler="sobol"))
    assert sobol.describe()[-1] == "uncertainties: 7 setting(s), 100 futures (sobol, drawn as 128)"


def test_resolved_scenario_round_trips(scenario):
    import tomllib

    text = tomli_w.dumps(to_plain(scenario))
    assert '[uncertainties.settings."payment.delay.mean"]' in text
    assert Scenario.from_dict(tomllib.loads(text)) == scenario


def test_cli_validate_shows_the_line(tmp_path, capsys):
    path = tmp_path / "u.toml"
    path.write_text(tomli_w.dumps(with_uncertainties()))
    assert main(["validate", str(path)]) == 0
    assert "uncertainties: 7 setting(s), 200 futures (lhs)" in capsys.readouterr().out


# -- distributions --------------------------------------------------------------------------


def test_table_has_one_row_per_future_and_toml_values(futures):
    assert list(futures.columns) == ["future", *SETTINGS]
    assert futures["future"].tolist() == list(range(N))
    assert all(isinstance(v, float) for v in futures["payment.decline_probability"])
    assert futures["payment.max_retries"].dtype == np.int64
    assert all(isinstance(v, str) for v in futures["payment.delay.mean"])
    assert all(isinstance(v, str) for v in futures["costs.outage_hour"])


def within(sample, expected, sd, k=4.0):
    """The sample mean lies within k standard errors of ``expected`` (iid bound: LHS is tighter)."""
    return abs(float(np.mean(sample)) - expected) <= k * sd / math.sqrt(len(sample))


def test_uniform(futures):
    x = futures["payment.decline_probability"].to_numpy()
    assert x.min() >= 0.0
    assert x.max() <= 0.1
    assert within(x, 0.05, 0.1 / math.sqrt(12))
    assert np.std(x) == pytest.approx(0.1 / math.sqrt(12), rel=0.05)


def test_triangular(futures):
    x = futures["traffic.usage_growth_per_month"].to_numpy()
    dist = stats.triang((0.01 - 0.0) / 0.03, loc=0.0, scale=0.03)
    assert x.min() >= 0.0
    assert x.max() <= 0.03
    assert within(x, (0.0 + 0.01 + 0.03) / 3, dist.std())
    assert np.std(x) == pytest.approx(dist.std(), rel=0.05)
    assert np.median(x) == pytest.approx(dist.median(), abs=0.001)


def test_truncated_normal(futures):
    x = futures[GROUP_CALLS].to_numpy()
    dist = stats.truncnorm(-3.0, 3.0, loc=6.0, scale=1.0)
    assert x.min() >= 3.0
    assert x.max() <= 9.0
    assert within(x, 6.0, dist.std())
    assert np.std(x) == pytest.approx(dist.std(), rel=0.05)


def test_lognormal_duration(futures):
    seconds = np.array([parse_duration(v) for v in futures["payment.delay.mean"]])
    assert seconds.min() > 0
    logs = np.log(seconds)
    assert within(logs, math.log(600.0), 0.5)
    assert np.std(logs) == pytest.approx(0.5, rel=0.05)
    assert np.median(seconds) == pytest.approx(600.0, rel=0.03)
    # Rounded to the millisecond and written as a duration string.
    assert all(
        re.fullmatch(r"\d+(\.\d{1,3})?s|\d+[mhdw]", v) for v in futures["payment.delay.mean"]
    )


def test_choice_with_weights(futures):
    x = futures["tariffs.scale"]
    assert set(x) <= {0.9, 1.0, 1.2}
    shares = x.value_counts(normalize=True)
    for value, p in ((0.9, 0.25), (1.0, 0.5), (1.2, 0.25)):
        assert abs(shares[value] - p) <= 4 * math.sqrt(p * (1 - p) / N)


def test_whole_numbers_are_rounded(futures):
    x = futures["payment.max_retries"]
    assert set(x) == {0, 1, 2, 3, 4, 5}
    assert within(x.to_numpy(), 2.5, 1.6)


def test_money_is_exact_decimal_strings(futures):
    micros = np.array([parse_money(v) for v in futures["costs.outage_hour"]])
    assert micros.min() >= 10_000_000
    assert micros.max() <= 100_000_000
    assert within(micros / 1e6, 55.0, 90 / math.sqrt(12))
    assert all(re.fullmatch(r"\d+\.\d{2,6}", v) for v in futures["costs.outage_hour"])


def test_values_from_unit_maps_the_ends_and_checks_its_input(scenario):
    unc = scenario.uncertainties
    u = np.array([[0.0] * 7, [1.0] * 7])
    table = values_from_unit(unc, u)
    assert table["payment.decline_probability"].tolist() == [0.0, 0.1]
    assert table[GROUP_CALLS].tolist() == [3.0, 9.0]
    assert table["tariffs.scale"].tolist() == [0.9, 1.2]
    assert table["payment.max_retries"].tolist() == [0, 5]
    assert table["costs.outage_hour"].tolist() == ["10.00", "100.00"]
    with pytest.raises(ValueError, match="7 column"):
        values_from_unit(unc, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        values_from_unit(unc, np.full((1, 7), 1.5))


def test_duration_text():
    assert duration_text(600.0) == "10m"
    assert duration_text(612.3456) == "612.346s"
    assert duration_text(1_234_567.8) == "1234567.8s"
    assert duration_text(0.0) == "0s"
    assert parse_duration(duration_text(7201.5)) == 7201.5


# -- designs --------------------------------------------------------------------------------


def test_lhs_stratifies_every_margin(scenario):
    n = 500
    u = unit_design(scenario.uncertainties, seed=3, n=n)
    assert u.shape == (n, 7)
    for j in range(u.shape[1]):
        strata = np.floor(u[:, j] * n).astype(int)
        assert sorted(strata.tolist()) == list(range(n))  # one future in each stratum
    table = sample_futures(scenario.uncertainties, seed=3, n=n)
    x = table["payment.decline_probability"].to_numpy()
    assert sorted(np.floor(x / 0.1 * n).astype(int).tolist()) == list(range(n))


def test_sobol_is_rounded_to_a_power_of_two_and_balanced(scenario):
    unc = scenario.uncertainties
    assert futures_drawn(200, "sobol") == 256
    assert futures_drawn(256, "sobol") == 256
    assert futures_drawn(1, "sobol") == 1
    assert futures_drawn(200, "lhs") == 200
    table = sample_futures(unc, seed=5, n=200, method="sobol")
    assert len(table) == 256
    assert "256" in table.attrs["note"]
    u = unit_design(unc, seed=5, n=256, method="sobol")
    for j in range(u.shape[1]):
        assert sorted(np.floor(u[:, j] * 256).astype(int).tolist()) == list(range(256))
    assert "note" not in sample_futures(unc, seed=5, n=64, method="sobol").attrs


def test_random_sampler_and_bad_arguments(scenario):
    unc = scenario.uncertainties
    u = unit_design(unc, seed=1, n=50, method="random")
    assert u.shape == (50, 7)
    assert ((u >= 0) & (u < 1)).all()
    with pytest.raises(ValueError, match="method"):
        unit_design(unc, seed=1, method="grid")
    with pytest.raises(ValueError, match="seed"):
        unit_design(unc, seed=-1)


@pytest.mark.parametrize("method", ["lhs", "sobol", "random"])
def test_same_seed_same_table(scenario, method):
    a = sample_futures(scenario.uncertainties, seed=42, n=64, method=method)
    b = sample_futures(scenario.uncertainties, seed=42, n=64, method=method)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = sample_futures(scenario.uncertainties, seed=43, n=64, method=method)
    assert not a.equals(c)


def test_futures_depend_on_the_seed_only(raw, scenario):
    base = sample_futures(scenario.uncertainties, seed=9, n=100)
    # Other lever values, another simulation seed, the section's lines in another order.
    other = merge(raw, {"recharge": {"trigger": "100"}, "simulation": {"seed": 77}})
    other["uncertainties"]["settings"] = dict(reversed(list(SETTINGS.items())))
    again = sample_futures(Scenario.from_dict(other).uncertainties, seed=9, n=100)
    pd.testing.assert_frame_equal(base, again[base.columns], check_exact=True)
    # Every variant of a sweep sees the same futures.
    variants = build_variants(
        {k: v for k, v in raw.items() if k != "sweep"}, {"recharge.trigger": "50,250"}
    )
    for v in variants:
        table = sample_futures(v.scenario.uncertainties, seed=9, n=100)
        pd.testing.assert_frame_equal(base, table, check_exact=True)
    assert int.from_bytes(b"futures", "big") == FUTURES_STREAM


# -- applying a future ----------------------------------------------------------------------


def test_apply_future_changes_exactly_those_settings(raw, scenario, futures):
    row = futures.iloc[7]
    data = apply_future(raw, row)
    assert "uncertainties" not in data
    assert raw["payment"]["decline_probability"] == 0.01  # the original is untouched
    built = Scenario.from_dict(data)
    base = replace(scenario, uncertainties=None)
    delay_s = parse_duration(row["payment.delay.mean"])
    groups = dict(base.traffic.groups)
    us = groups["us-staff"]
    groups["us-staff"] = replace(
        us, calling=replace(us.calling, calls_per_user_day=row[GROUP_CALLS])
    )
    assert base.tariffs is not None
    expected = replace(
        base,
        payment=replace(
            base.payment,
            decline_probability=row["payment.decline_probability"],
            delay=replace(base.payment.delay, mean=Seconds(delay_s)),
            max_retries=int(row["payment.max_retries"]),
        ),
        traffic=replace(
            base.traffic,
            groups=groups,
            usage_growth_per_month=row["traffic.usage_growth_per_month"],
        ),
        tariffs=replace(base.tariffs, scale=row["tariffs.scale"]),
        costs=replace(base.costs, outage_hour=parse_money(row["costs.outage_hour"])),
    )
    assert built == expected
    assert built.payment.delay.mean == delay_s  # seconds
    assert isinstance(built.traffic.groups["us-staff"].calling, Calling)
    assert built != base


def test_apply_future_takes_a_plain_mapping(raw):
    data = apply_future(raw, {"tariffs.scale": np.float64(1.2), "payment.max_retries": np.int64(4)})
    s = Scenario.from_dict(data)
    assert s.tariffs is not None
    assert s.tariffs.scale == 1.2
    assert s.payment.max_retries == 4


# -- validation -----------------------------------------------------------------------------

PREFIX = "uncertainties.settings."


@pytest.mark.parametrize(
    ("path", "spec", "message"),
    [
        (
            "payment.decline_probabilty",
            {"kind": "uniform", "low": 0.0, "high": 0.1},
            "\"payment.decline_probabilty\": unknown setting 'decline_probabilty'",
        ),
        (
            "payment.delay.mean.x",
            {"kind": "uniform", "low": 0.0, "high": 0.1},
            "\"payment.delay.mean.x\": cannot set a value inside 'x'",
        ),
        (
            "funding.mode",
            {"kind": "choice", "values": [1.0]},
            '"funding.mode": is not a numeric setting',
        ),
        (
            "payment.decline_probability",
            {"kind": "uniform", "low": 0.1, "high": 0.1},
            '"payment.decline_probability".low: must be < high, got low = 0.1 and high = 0.1',
        ),
        (
            GROUP_CALLS,
            {"kind": "truncnorm", "mean": 6.0, "sd": 0.0, "low": 3.0, "high": 9.0},
            f'"{GROUP_CALLS}".sd: must be > 0, got 0.0',
        ),
        (
            "traffic.usage_growth_per_month",
            {"kind": "triangular", "low": 0.0, "mode": 0.05, "high": 0.03},
            '"traffic.usage_growth_per_month".mode: must lie in [low, high] = [0.0, 0.03], '
            "got 0.05",
        ),
        (
            "payment.delay.mean",
            {"kind": "lognormal", "median": "0s", "sigma": 0.5},
            '"payment.delay.mean".median: must be > 0',
        ),
        (
            "payment.delay.mean",
            {"kind": "lognormal", "median": "10m", "sigma": -1.0},
            '"payment.delay.mean".sigma: must be > 0',
        ),
        (
            "tariffs.scale",
            {"kind": "choice", "values": []},
            '"tariffs.scale".values: a choice needs at least one value',
        ),
        (
            "tariffs.scale",
            {"kind": "choice", "values": [1.0, 2.0], "weights": [1.0, -0.5]},
            '"tariffs.scale".weights[1]: must be >= 0, got -0.5',
        ),
        (
            "tariffs.scale",
            {"kind": "choice", "values": [1.0, 2.0], "weights": [0, 0]},
            '"tariffs.scale".weights: must not all be 0',
        ),
        (
            "tariffs.scale",
            {"kind": "choice", "values": [1.0, 2.0], "weights": [1.0]},
            '"tariffs.scale".weights: expected one weight per value (2), got 1',
        ),
        (
            "tariffs.scale",
            {"kind": "uniform", "low": 0.5, "high": 2.0, "mode": 1.0},
            '"tariffs.scale".mode: is not a parameter here: a uniform distribution takes low, high',
        ),
        (
            "tariffs.scale",
            {"kind": "triangular", "low": 0.5, "high": 2.0},
            '"tariffs.scale".mode: missing: a triangular distribution takes low, mode, high',
        ),
        (
            "tariffs.scale",
            {"kind": "normal", "mean": 1.0},
            '"tariffs.scale".kind: must be one of',
        ),
        (
            "payment.delay.mean",
            {"kind": "lognormal", "median": "10m", "sgma": 0.5},
            "\"payment.delay.mean\".sgma: unknown key 'sgma'",
        ),
        (
            "costs.outage_hour",
            {"kind": "uniform", "low": 1.5, "high": 100.0},
            '"costs.outage_hour".low: expected money as a decimal string',
        ),
        (
            "payment.decline_probability",
            {"kind": "uniform", "low": "0", "high": "0.1"},
            '"payment.decline_probability".low: expected a plain number',
        ),
        (
            "payment.max_retries",
            {"kind": "choice", "values": [1, 2.5]},
            '"payment.max_retries".values[1]: expected a whole number',
        ),
        (
            "payment.max_retries",
            {"kind": "choice", "values": [1, 2], "unit": "money"},
            "\"payment.max_retries\".unit: must be 'whole' for this setting, got 'money'",
        ),
        (
            "payment.decline_probability",
            {"kind": "uniform", "low": 0.0, "high": 1.5},
            '"payment.decline_probability": the scenario is invalid at its highest value, 1.5: '
            "payment.decline_probability: must be between 0 and 1",
        ),
        (
            "admin.top_up",
            {"kind": "uniform", "low": "50", "high": "500"},
            "\"admin.top_up\": the scenario is invalid at a typical value, '328.115295': "
            "admin.top_up: 328.115295 is refused by the admin portal",
        ),
        (
            "traffic.groups.nobody.calling.calls_per_user_day",
            {"kind": "uniform", "low": 1.0, "high": 2.0},
            "no user group is named 'nobody'",
        ),
        (
            "recharge.trigger",
            {"kind": "choice", "values": ["100", "200"]},
            '"recharge.trigger": is also a sweep lever ([sweep].settings): a setting is either '
            "chosen or uncertain, not both",
        ),
    ],
)
def test_validation_errors_name_the_quoted_path(path, spec, message):
    text = error_of(with_uncertainties({path: spec}))
    assert text.startswith(PREFIX + f'"{path}"'), text
    assert message in text, text


def test_section_errors():
    assert error_of(with_uncertainties(futures=0)).startswith("uncertainties.futures: must be")
    text = error_of(merge(default_data(), {"uncertainties": {"settings": {}}}))
    assert text == "uncertainties.settings: give at least one setting to be uncertain"
    assert error_of(with_uncertainties(sampler="grid")).startswith("uncertainties.sampler:")


def test_the_lever_clash_needs_a_sweep():
    data = with_uncertainties({"recharge.trigger": {"kind": "choice", "values": ["100", "200"]}})
    del data["sweep"]
    s = Scenario.from_dict(data)
    assert s.uncertainties is not None
    assert s.uncertainties.settings["recharge.trigger"].unit == "money"


def test_cli_validate_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    spec = {"kind": "uniform", "low": 0.2, "high": 0.1}
    bad.write_text(tomli_w.dumps(with_uncertainties({"payment.decline_probability": spec})))
    assert main(["validate", str(bad)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f'{bad}: uncertainties.settings."payment.decline_probability".low: must be < high, '
        "got low = 0.2 and high = 0.1"
    ]


def test_standalone_section_needs_units():
    unc = build(
        Uncertainties,
        {"settings": {"x": {"kind": "uniform", "low": 0.0, "high": 1.0}}},
        "uncertainties",
    )
    with pytest.raises(ValueError, match="unit of this uncertainty is not known"):
        sample_futures(unc, seed=0, n=4)
    given = Uncertainties(settings={"x": Uncertainty("uniform", low=0.0, high=1.0, unit="number")})
    assert len(sample_futures(given, seed=0, n=4)) == 4


# -- dotted paths ---------------------------------------------------------------------------


def test_setting_type_walks_dataclasses_and_dicts():
    assert setting_type("recharge.trigger", Scenario) is Micros
    assert setting_type("payment.delay.mean", Scenario) is Seconds
    assert setting_type("tariffs.scale", Scenario) is float
    assert setting_type(GROUP_CALLS, Scenario) is float
    assert setting_type("payment.max_retries", Scenario) is int
    with pytest.raises(PathError, match=r"^recharge\.triger: unknown setting 'triger'$"):
        setting_type("recharge.triger", Scenario)
    with pytest.raises(ValueError, match="cannot set a value inside 'x'"):
        setting_type("recharge.trigger.x", Scenario)


def test_typed_value_and_set_value():
    assert typed_value("recharge.trigger", "150", Scenario) == "150"
    assert typed_value("payment.max_retries", "3", Scenario) == 3
    assert typed_value("payment.decline_probability", "0.05", Scenario) == 0.05
    with pytest.raises(PathError, match="expects whole numbers"):
        typed_value("payment.max_retries", "2.5", Scenario)
    with pytest.raises(PathError, match="expects whole numbers"):
        typed_value("payment.max_retries", "two", Scenario)
    with pytest.raises(PathError, match="only numeric settings"):
        typed_value("funding.mode", "postpaid", Scenario)
    data: dict = {"payment": {"max_retries": 1}}
    set_value(data, "payment.delay.mean", "5m")
    assert data == {"payment": {"max_retries": 1, "delay": {"mean": "5m"}}}
    with pytest.raises(PathError, match=r"payment\.max_retries\.x: 'max_retries' is not a table"):
        set_value(data, "payment.max_retries.x", 1)

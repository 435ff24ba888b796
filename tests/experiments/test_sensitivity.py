"""Global sensitivity analysis: Ishigami's known indices, dummies, several outputs, seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sim.experiments.sensitivity import (
    MORRIS_COLUMNS,
    SOBOL_COLUMNS,
    Problem,
    morris,
    screen_then_sobol,
    sobol,
    tornado,
)
from sim.reports.sensitivity_plots import tornado_figure

A, B = 7.0, 0.1
PI = math.pi


def ishigami_truth() -> dict[str, dict[str, float]]:
    """Closed-form Sobol' indices of Ishigami's function (Ishigami & Homma 1990)."""
    d1 = B * PI**4 / 5 + B**2 * PI**8 / 50 + 0.5
    d2 = A**2 / 8
    d13 = 8 * B**2 * PI**8 / 225
    total = d1 + d2 + d13
    return {
        "S1": {"x1": d1 / total, "x2": d2 / total, "x3": 0.0},
        "ST": {"x1": (d1 + d13) / total, "x2": d2 / total, "x3": d13 / total},
    }


ISHIGAMI = Problem.from_ranges({name: (-PI, PI) for name in ("x1", "x2", "x3")})


def ishigami(u: np.ndarray) -> pd.DataFrame:
    v = ISHIGAMI.values(u)
    x1, x2, x3 = (v[n].to_numpy() for n in ("x1", "x2", "x3"))
    return pd.DataFrame({"y": np.sin(x1) + A * np.sin(x2) ** 2 + B * x3**4 * np.sin(x1)})


def test_closed_form_matches_the_literature() -> None:
    truth = ishigami_truth()
    assert [round(truth["S1"][n], 3) for n in ("x1", "x2", "x3")] == [0.314, 0.442, 0.0]
    assert [round(truth["ST"][n], 3) for n in ("x1", "x2", "x3")] == [0.558, 0.442, 0.244]


def test_ishigami_indices_lie_within_their_intervals() -> None:
    table = sobol(ISHIGAMI, ishigami, n_base=2048, seed=1)
    assert list(table.columns) == list(SOBOL_COLUMNS)
    assert table["input"].tolist() == ["x1", "x2", "x3"]
    assert set(table["output"]) == {"y"}
    truth = ishigami_truth()
    for row in table.itertuples():
        for index in ("S1", "ST"):
            estimate, conf = getattr(row, index), getattr(row, f"{index}_conf")
            assert 0 < conf < 0.1
            # The interval is itself estimated (bootstrap), so allow at least 0.05.
            assert abs(estimate - truth[index][row.input]) <= max(conf, 0.05), (row, index)


def test_second_order_indices_of_ishigami() -> None:
    table = sobol(ISHIGAMI, ishigami, n_base=1024, seed=2, calc_second_order=True)
    pairs = table.attrs["S2"].set_index(["input", "other"])
    truth13 = ishigami_truth()["ST"]["x3"]
    assert abs(pairs.loc[("x1", "x3"), "S2"] - truth13) <= max(
        pairs.loc[("x1", "x3"), "S2_conf"], 0.05
    )
    for pair in (("x1", "x2"), ("x2", "x3")):
        assert abs(pairs.loc[pair, "S2"]) <= max(pairs.loc[pair, "S2_conf"], 0.05)


NAMES = ("payment.decline_probability", "traffic.usage_growth_per_month", "billing.dummy")
TOY = Problem(NAMES)


def toy(u: np.ndarray) -> pd.DataFrame:
    """Three outputs: one dominated by input 0, one by input 1, one constant; input 2 inert."""
    return pd.DataFrame(
        {
            "p_outage": 1 / (1 + np.exp(-10 * (u[:, 0] - 0.5))) + 0.1 * u[:, 1],
            "annual_cost": 1000 + 50 * u[:, 1] ** 2 + 5 * u[:, 0],
            "forfeited": np.zeros(len(u)),
        }
    )


def test_dummy_is_zero_and_dominant_dominates_on_several_outputs() -> None:
    table = sobol(TOY, toy, n_base=1024, seed=3).set_index(["output", "input"])
    dummy = NAMES[2]
    for output in ("p_outage", "annual_cost"):
        assert abs(table.loc[(output, dummy), "S1"]) < 0.05
        assert abs(table.loc[(output, dummy), "ST"]) < 0.05
    assert table.loc[("p_outage", NAMES[0]), "ST"] > 0.9
    assert table.loc[("p_outage", NAMES[0]), "S1"] > 10 * table.loc[("p_outage", NAMES[1]), "S1"]
    assert table.loc[("annual_cost", NAMES[1]), "ST"] > 0.9
    # An output that never varies: no input moves it.
    assert (table.loc["forfeited", ["S1", "S1_conf", "ST", "ST_conf"]] == 0).all().all()


def test_morris_ranks_the_dominant_first_and_the_dummy_at_zero() -> None:
    table = morris(TOY, toy, trajectories=20, levels=4, seed=4)
    assert list(table.columns) == list(MORRIS_COLUMNS)
    assert len(table) == 3 * len(NAMES)
    for output, first in (("p_outage", NAMES[0]), ("annual_cost", NAMES[1])):
        part = table[table["output"] == output].sort_values("mu_star", ascending=False)
        assert part["input"].iloc[0] == first
        dummy = part[part["input"] == NAMES[2]].iloc[0]
        assert dummy["mu_star"] == pytest.approx(0, abs=1e-9)
        assert dummy["sigma"] == pytest.approx(0, abs=1e-9)
    assert (table[table["output"] == "forfeited"]["mu_star"] == 0).all()


def test_morris_on_ishigami_ranks_x3_with_interactions() -> None:
    table = morris(ISHIGAMI, ishigami, trajectories=40, seed=5).set_index("input")
    assert (table["mu_star"] > 0).all()
    assert (table["mu_star_conf"] >= 0).all()
    # x3 acts only through its interaction with x1: its sigma is large next to mu.
    assert table.loc["x3", "sigma"] > abs(table.loc["x3", "mu"])


def test_same_seed_same_tables_and_other_seed_other_tables() -> None:
    first = sobol(TOY, toy, n_base=256, seed=11)
    pd.testing.assert_frame_equal(first, sobol(TOY, toy, n_base=256, seed=11))
    assert not first.equals(sobol(TOY, toy, n_base=256, seed=12))
    screen = morris(TOY, toy, trajectories=10, seed=11)
    pd.testing.assert_frame_equal(screen, morris(TOY, toy, trajectories=10, seed=11))
    assert not screen.equals(morris(TOY, toy, trajectories=10, seed=12))


def test_screen_then_sobol_drops_inert_inputs_and_holds_them_fixed() -> None:
    names = ("a.strong", "b.weak", "c.inert", "d.inert", "e.medium")
    problem = Problem(names)
    seen: list[np.ndarray] = []

    def model(u: np.ndarray) -> pd.DataFrame:
        seen.append(u.copy())
        return pd.DataFrame(
            {
                "p_outage": 4 * u[:, 0] + 0.5 * u[:, 1] + 1e-6 * u[:, 2],
                "annual_cost": 2 * u[:, 4] ** 2 + u[:, 0],
            }
        )

    result = screen_then_sobol(problem, model, share=0.1, n_base=256, trajectories=10, seed=6)
    assert result.kept == ("a.strong", "b.weak", "e.medium")
    assert result.dropped == ("c.inert", "d.inert")
    assert set(result.morris["input"]) == set(names)
    assert result.sobol["input"].unique().tolist() == list(result.kept)
    morris_rows = 10 * (len(names) + 1)
    assert len(seen) == 2
    assert len(seen[0]) == morris_rows
    assert len(seen[1]) == 256 * (len(result.kept) + 2)
    assert (seen[1][:, [2, 3]] == 0.5).all()
    ordered = tornado(result.sobol)
    assert ordered[ordered["output"] == "p_outage"]["input"].iloc[0] == "a.strong"
    assert ordered[ordered["output"] == "annual_cost"]["input"].iloc[0] == "e.medium"


def test_screen_keeps_all_inputs_when_few() -> None:
    result = screen_then_sobol(TOY, toy, n_base=64, trajectories=4, seed=7, keep_all_up_to=3)
    assert result.kept == NAMES
    assert result.dropped == ()


def test_tornado_orders_each_output_with_intervals() -> None:
    table = sobol(TOY, toy, n_base=256, seed=8)
    ordered = tornado(table)
    assert ordered["output"].unique().tolist() == ["p_outage", "annual_cost", "forfeited"]
    for _, part in ordered.groupby("output", sort=False):
        assert part["rank"].tolist() == [1, 2, 3]
        assert (np.diff(part["value"].to_numpy()) <= 0).all()
        np.testing.assert_allclose(part["low"], part["value"] - part["conf"])
        np.testing.assert_allclose(part["high"], part["value"] + part["conf"])
    assert "S1" in ordered.columns
    by_mu = tornado(morris(TOY, toy, trajectories=6, seed=8), outputs=["annual_cost"])
    assert by_mu["input"].iloc[0] == NAMES[1]
    assert set(by_mu["output"]) == {"annual_cost"}
    with pytest.raises(ValueError, match="no indices for outputs"):
        tornado(table, outputs=["nope"])


def test_from_ranges_maps_bounds_and_distributions() -> None:
    from scipy import stats

    problem = Problem.from_ranges({"a": (10.0, 20.0), "b": stats.norm(5, 2)}, tail=0.01)
    values = problem.values(np.array([[0.0, 0.5], [1.0, 1.0]]))
    assert values["a"].tolist() == [10.0, 20.0]
    assert values["b"].iloc[0] == pytest.approx(5.0)
    assert math.isfinite(values["b"].iloc[1])
    plain = Problem(("p", "q")).values(np.array([[0.25, 0.75]]))
    assert plain.columns.tolist() == ["p", "q"]
    with pytest.raises(ValueError, match="low < high"):
        Problem.from_ranges({"a": (1.0, 1.0)})
    with pytest.raises(ValueError, match="distribution with ppf"):
        Problem.from_ranges({"a": "wide"})  # type: ignore[dict-item]


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least one input"):
        Problem(())
    with pytest.raises(ValueError, match="unique"):
        Problem(("a", "a"))
    with pytest.raises(ValueError, match="power of two"):
        sobol(TOY, toy, n_base=1000)
    with pytest.raises(ValueError, match="power of two"):
        sobol(TOY, toy, n_base=1)
    with pytest.raises(ValueError, match="even"):
        morris(TOY, toy, levels=5)
    with pytest.raises(ValueError, match="trajectories"):
        morris(TOY, toy, trajectories=1)
    with pytest.raises(ValueError, match="one row per row of u"):
        sobol(TOY, lambda u: toy(u).iloc[:-1], n_base=16)
    with pytest.raises(ValueError, match="must return a DataFrame"):
        sobol(TOY, lambda u: u[:, 0], n_base=16)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="missing or infinite"):
        sobol(TOY, lambda u: pd.DataFrame({"y": np.where(u[:, 0] > 0.5, np.nan, 1.0)}), n_base=16)
    with pytest.raises(ValueError, match="not numeric"):
        morris(TOY, lambda u: pd.DataFrame({"y": ["a"] * len(u)}), trajectories=2)
    with pytest.raises(ValueError, match="seed"):
        sobol(TOY, toy, n_base=16, seed=-1)
    with pytest.raises(ValueError, match="fixed_at"):
        screen_then_sobol(TOY, toy, fixed_at=2.0)


def test_tornado_figure_draws_sobol_and_morris_tables() -> None:
    table = sobol(TOY, toy, n_base=64, seed=9)
    fig = tornado_figure(table, "p_outage")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == NAMES[0]  # the most important input on top
    assert set(labels) == set(NAMES)
    fig = tornado_figure(morris(TOY, toy, trajectories=4, seed=9), "annual_cost")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == NAMES[1]
    with pytest.raises(ValueError, match="no indices for output"):
        tornado_figure(table, "nope")

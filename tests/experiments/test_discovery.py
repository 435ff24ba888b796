"""Scenario discovery with PRIM: a planted failure region, two regions, edges, seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sim.experiments.discovery import Box, NoFailureRegion, discover
from sim.reports.sensitivity_plots import boxes_figure


def planted(
    seed: int = 7, n: int = 1000, noise: float = 0.05
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Futures uniform on [0, 1]^4; failure when x0 > 0.7 and x2 > 0.6; ``noise`` flips labels."""
    rng = np.random.default_rng(seed)
    futures = pd.DataFrame(rng.uniform(size=(n, 4)), columns=[f"x{i}" for i in range(4)])
    truth = ((futures["x0"] > 0.7) & (futures["x2"] > 0.6)).to_numpy()
    failed = truth ^ (rng.uniform(size=n) < noise)
    return futures, failed, truth


def test_planted_region_is_recovered() -> None:
    futures, failed, truth = planted()
    boxes = discover(futures, failed)
    assert len(boxes) == 1
    box = boxes[0]
    assert set(box.limits) == {"x0", "x2"}  # x1 and x3 unrestricted
    (x0_low, x0_high), (x2_low, x2_high) = box.limits["x0"], box.limits["x2"]
    assert x0_high is None
    assert x2_high is None
    assert x0_low == pytest.approx(0.7, abs=0.05)
    assert x2_low == pytest.approx(0.6, abs=0.05)
    assert box.density >= 0.9
    # 5 % noise puts about 44 failures outside the region: coverage cannot pass ~0.7.
    assert box.coverage >= 0.6
    inside = box.contains(futures)
    assert inside[truth & failed].mean() >= 0.9  # the region's own failures are in the box
    assert box.futures == int(inside.sum())
    assert box.failures == int(failed[inside].sum())
    assert box.mass == pytest.approx(inside.mean())
    assert box.coverage == pytest.approx(box.failures / failed.sum())
    assert box.density == pytest.approx(box.failures / box.futures)
    assert all(q is not None and q < 0.05 for q in (box.qp["x0"][0], box.qp["x2"][0]))
    assert box.describe() == f"x0 above {x0_low:.3g} and x2 above {x2_low:.3g}"
    assert "coverage" in str(box)
    assert "density" in str(box)


@pytest.mark.parametrize("seed", [1, 9, 10])
def test_insignificant_restrictions_are_dropped(seed: int) -> None:
    # With these seeds PRIM's best box also clips x1 a little (quasi-p-value 0.4 to 0.6).
    futures, failed, _ = planted(seed)
    (unpruned,) = discover(futures, failed, max_qp=1.0)
    assert set(unpruned.limits) == {"x0", "x1", "x2"}
    assert unpruned.qp["x1"] != (None, None)
    (box,) = discover(futures, failed)
    assert set(box.limits) == {"x0", "x2"}
    assert box.limits["x0"][0] == pytest.approx(0.7, abs=0.05)
    assert box.limits["x2"][0] == pytest.approx(0.6, abs=0.05)


def test_coverage_objective_gives_a_looser_box_at_the_threshold() -> None:
    futures, failed, _ = planted()
    (f1,) = discover(futures, failed)
    (loose,) = discover(futures, failed, objective="coverage")
    assert loose.coverage >= f1.coverage
    assert 0.8 <= loose.density <= f1.density


def test_two_regions_give_two_boxes_in_dotted_paths() -> None:
    rng = np.random.default_rng(3)
    names = ["payment.decline_probability", "traffic.usage_growth_per_month", "admin.delay_days"]
    futures = pd.DataFrame(rng.uniform(size=(2000, 3)), columns=names)
    failed = (futures[names[0]] > 0.8) | ((futures[names[1]] < 0.2) & (futures[names[2]] > 0.5))
    boxes = discover(futures, failed.to_numpy())
    assert len(boxes) == 2
    first, second = boxes
    assert set(first.limits) == {names[0]}
    assert first.limits[names[0]][0] == pytest.approx(0.8, abs=0.05)
    assert set(second.limits) == {names[1], names[2]}
    assert second.limits[names[1]][0] is None
    assert second.limits[names[1]][1] == pytest.approx(0.2, abs=0.05)
    assert second.limits[names[2]][0] == pytest.approx(0.5, abs=0.05)
    assert first.describe().startswith("payment.decline_probability above 0.")
    assert " below 0." in second.describe()
    assert " and admin.delay_days above 0." in second.describe()
    assert first.coverage + second.coverage == pytest.approx(1.0, abs=0.1)


def test_never_and_always_failing_settings_get_a_message() -> None:
    futures, _, _ = planted()
    with pytest.raises(NoFailureRegion, match="meets its target in all 1,000 futures") as never:
        discover(futures, np.zeros(len(futures), dtype=bool))
    assert never.value.always is False
    assert never.value.failures == 0
    with pytest.raises(NoFailureRegion, match="misses its target in all 1,000 futures") as always:
        discover(futures, [True] * len(futures))
    assert always.value.always is True
    assert always.value.futures == 1000


def test_scattered_failures_give_no_box() -> None:
    futures, _, _ = planted()
    rng = np.random.default_rng(0)
    assert discover(futures, rng.uniform(size=len(futures)) < 0.3) == []


def test_same_data_same_boxes() -> None:
    futures, failed, _ = planted(seed=5)
    assert discover(futures, failed) == discover(futures.copy(), failed.copy())


def test_integer_and_boolean_columns_count_as_numbers() -> None:
    futures, failed, _ = planted()
    futures = futures.assign(x1=(futures["x1"] * 10).astype(int), x3=futures["x3"] > 0.5)
    (box,) = discover(futures, failed.astype(int))
    assert set(box.limits) == {"x0", "x2"}


def test_bad_arguments_are_clear_errors() -> None:
    futures, failed, _ = planted()
    with pytest.raises(ValueError, match="one flag per future"):
        discover(futures, failed[:-1])
    with pytest.raises(ValueError, match="booleans"):
        discover(futures, np.where(failed, 2, 0))
    with pytest.raises(ValueError, match="not numeric"):
        discover(futures.assign(x1="a"), failed)
    with pytest.raises(ValueError, match="missing or infinite"):
        discover(futures.assign(x1=np.nan), failed)
    with pytest.raises(ValueError, match="threshold"):
        discover(futures, failed, threshold=0)
    with pytest.raises(ValueError, match="objective"):
        discover(futures, failed, objective="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_boxes"):
        discover(futures, failed, max_boxes=0)


def test_describe_handles_both_sides_and_open_boxes() -> None:
    box = Box({"a.b": (0.1, 0.25), "c": (None, 12345.0)}, 0.5, 0.9, 0.1, 100, 90)
    assert box.describe() == "a.b between 0.1 and 0.25 and c below 12,345"
    assert Box({}, 1.0, 0.5, 1.0, 10, 5).describe() == "anywhere"


def test_boxes_figure_draws_the_box() -> None:
    futures, failed, _ = planted()
    (box,) = discover(futures, failed)
    fig = boxes_figure(futures, failed, box, "x0", "x2")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    (patch,) = ax.patches
    assert patch.get_x() == pytest.approx(box.limits["x0"][0])
    assert patch.get_y() == pytest.approx(box.limits["x2"][0])
    assert "x0 above" in ax.get_title()
    plain = boxes_figure(futures, failed, {"x1": (0.2, 0.4)}, "x1", "x3")
    assert plain.axes[0].patches[0].get_x() == pytest.approx(0.2)
    with pytest.raises(ValueError, match="not a column"):
        boxes_figure(futures, failed, box, "x0", "nope")


def test_robust_study_describes_where_the_choice_fails(tmp_path):
    # Through the robust study: futures in which a setting misses its target, as boxes.
    from sim.experiments import robust

    rng = np.random.default_rng(4)
    futures = pd.DataFrame(
        {
            "future": np.arange(400),
            "payment.decline_probability": rng.random(400),
            "payment.delay.mean": [f"{int(s)}s" for s in rng.integers(60, 3600, 400)],
        }
    )
    bad = futures["payment.decline_probability"] > 0.7
    runs = pd.DataFrame({"variant": 0, "future": futures["future"], "outage": bad})
    boxes, said = robust.failure_boxes(runs, futures, 0, target=0.5)
    assert boxes
    low, high = boxes[0].limits["payment.decline_probability"]
    assert low == pytest.approx(0.7, abs=0.05)
    assert high is None
    assert "payment.decline_probability above" in said
    none, text = robust.failure_boxes(runs.assign(outage=False), futures, 0, target=0.5)
    assert none == []
    assert "meets its target in all 400 futures" in text

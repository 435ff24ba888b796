"""Scenario discovery: the regions of the futures where a setting misses its target.

For one lever setting (one recharge policy, say), the caller has run many futures (one
row per future, one numeric column per uncertain input, named by dotted paths) and knows
in which the setting missed its outage target. ``discover`` describes the failures as a
few boxes, each a conjunction of simple limits such as "payment.decline_probability above
0.042 and traffic.usage_growth_per_month above 0.021", with

- **coverage**: the share of all failures that fall in the box,
- **density**: the share of the futures in the box that fail,
- **mass**: the share of all futures in the box,

all three computed on the whole table of futures.

The boxes come from PRIM, the patient rule induction method (Friedman & Fisher 1999), as
used for scenario discovery by Bryant & Lempert (2010), through EMA Workbench's
implementation (``ema_workbench.analysis.prim``, Kwakkel 2017; imported on first use).
PRIM peels a small share (``peel_alpha``) of futures off one face of the box at a time,
the face that raises the density most, then pastes back what helps, and so traces a
trajectory from "everything, low density" to "small box, high density". From each
trajectory ``discover`` takes, among the boxes whose density is at least ``threshold``, the
best trade-off between coverage and density: by default (``objective="f1"``) the box with
the largest harmonic mean of the two, ``2 c d / (c + d)`` (the F1 score of the box read as
a classifier of failures), which stops where peeling further loses more failures than it
sheds false alarms; ``objective="coverage"`` takes the box with the largest coverage that
just reaches ``threshold`` (looser, at the edge of acceptable). Ties go to the larger
coverage, then the denser. It then drops each restriction whose quasi-p-value (a one-sided
binomial test, Bryant & Lempert 2010) is above ``max_qp``, as long as the density stays at
or above ``threshold``: what remains is statistically supported and reads short.
Further boxes are sought among the futures outside the boxes found, up to ``max_boxes``,
while a box reaching ``threshold`` exists and covers at least ``min_coverage`` of all the
failures. Boxes may overlap: each one's statistics are its own, on the whole table.

A setting that never fails, or always fails, has no region to describe: ``discover`` then
raises ``NoFailureRegion`` with a sentence saying which.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np
import pandas as pd

Limits = Mapping[str, tuple[float | None, float | None]]
"""Per restricted input: (lower, upper) limit, ``None`` where that side is open."""


class NoFailureRegion(Exception):  # noqa: N818 - an outcome, not an error of the caller
    """The setting fails in no future, or in every one: there is no box to describe.

    Attributes
    ----------
    failures, futures
        How many futures failed, out of how many.
    always
        ``True`` when every future failed, ``False`` when none did.
    """

    def __init__(self, failures: int, futures: int) -> None:
        self.failures = failures
        self.futures = futures
        self.always = failures == futures
        if self.always:
            text = (
                f"the setting misses its target in all {futures:,} futures: it fails "
                "everywhere in the explored ranges, so no box separates failing futures "
                "from the others (widen the ranges or change the setting)"
            )
        else:
            text = (
                f"the setting meets its target in all {futures:,} futures: "
                "there is no failure region to describe"
            )
        super().__init__(text)


def _number(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    if abs(value) >= 1e4 and float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Box:
    """A region of the futures, the conjunction of its limits (inclusive).

    Attributes
    ----------
    limits
        Only the restricted inputs: ``name -> (lower, upper)``, ``None`` for an open side.
    coverage, density, mass
        On the whole table of futures: failures inside / all failures, failures inside /
        futures inside, futures inside / all futures.
    futures, failures
        How many futures, and failing futures, lie inside.
    qp
        Quasi-p-value of each restriction, ``name -> (lower, upper)`` (``None`` for an
        open side): the chance that a box without it would look as good by luck.
    """

    limits: Limits
    coverage: float
    density: float
    mass: float
    futures: int
    failures: int
    qp: Limits = field(default_factory=dict)

    def contains(self, futures: pd.DataFrame) -> np.ndarray:
        """Return which rows of ``futures`` lie inside the box (limits inclusive)."""
        inside = np.ones(len(futures), dtype=bool)
        for name, (low, high) in self.limits.items():
            values = futures[name].to_numpy(dtype=np.float64)
            if low is not None:
                inside &= values >= low
            if high is not None:
                inside &= values <= high
        return inside

    def describe(self) -> str:
        """Return the box as a sentence: "x above 0.7 and y between 0.1 and 0.3"."""
        parts = []
        for name, (low, high) in self.limits.items():
            if low is not None and high is not None:
                parts.append(f"{name} between {_number(low)} and {_number(high)}")
            elif low is not None:
                parts.append(f"{name} above {_number(low)}")
            elif high is not None:
                parts.append(f"{name} below {_number(high)}")
        return " and ".join(parts) if parts else "anywhere"

    def __str__(self) -> str:
        return (
            f"{self.describe()} (coverage {self.coverage:.0%}, density {self.density:.0%}, "
            f"mass {self.mass:.0%})"
        )


def _ema_prim() -> ModuleType:
    """Import EMA Workbench's PRIM, leaving matplotlib's settings and warnings as they were.

    Importing ``ema_workbench.analysis`` sets seaborn's palette into matplotlib's global
    settings (``rcParams``), and warns of optional extras (ipyparallel, altair) not needed
    here; the settings are restored and those warnings silenced.
    """
    import matplotlib as mpl

    with mpl.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim
    return prim


def _table(futures: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(futures, pd.DataFrame):
        raise ValueError(f"futures must be a DataFrame, not {type(futures).__name__}")
    if futures.shape[1] < 1:
        raise ValueError("futures has no input columns")
    names = [str(c) for c in futures.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"futures has repeated columns: {names}")
    out = {}
    for column, name in zip(futures.columns, names, strict=True):
        values = futures[column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise ValueError(f"input {name!r} is not numeric (dtype {values.dtype})")
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(array).all():
            raise ValueError(f"input {name!r} has missing or infinite values")
        out[name] = array
    return pd.DataFrame(out)


def _labels(failed: Sequence[bool] | np.ndarray | pd.Series, n: int) -> np.ndarray:
    values = np.asarray(failed)
    if values.ndim != 1 or len(values) != n:
        raise ValueError(f"failed must hold one flag per future: {n} expected, got {values.shape}")
    if values.dtype != bool:
        if not np.isin(values, (0, 1)).all():
            raise ValueError("failed must be booleans (or 0/1): True where the setting failed")
        values = values.astype(bool)
    return values


def _array(lims: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Return a box's limits as a ``(2, d)`` array: lower row, upper row."""
    return np.array(lims[list(names)].to_numpy(dtype=np.float64), copy=True)


def _inside(x: np.ndarray, lims: np.ndarray) -> np.ndarray:
    return np.asarray(((lims[0] <= x) & (x <= lims[1])).all(axis=1), dtype=bool)


def _prune(box: Any, prim: Any, threshold: float, max_qp: float) -> None:
    """Open, one at a time (least significant first), the box's insignificant sides.

    A side is opened when its quasi-p-value is above ``max_qp`` and the box keeps a
    density of at least ``threshold`` without it; each change is appended to the box's
    trajectory (``PrimBox.update``), which recomputes the quasi-p-values.
    """
    init = prim.box_init
    names = list(init.columns)
    opened = _array(init, names)
    remaining = prim.yi_remaining
    x = prim.x.loc[remaining, names].to_numpy(dtype=np.float64)
    y = np.asarray(prim.y[remaining], dtype=np.float64)
    tried: set[tuple[str, int]] = set()
    while True:
        i = box._cur_box
        lims = box.box_lims[i]
        sides = sorted(
            (
                (float(v), name, side)
                for name, values in box.qp[i].items()
                for side, v in enumerate(values)
                if v > max_qp and (name, side) not in tried
            ),
            reverse=True,
        )
        for _, name, side in sides:
            tried.add((name, side))
            candidate = _array(lims, names)
            j = names.index(name)
            candidate[side, j] = opened[side, j]
            rows = _inside(x, candidate)
            if rows.any() and float(y[rows].mean()) >= threshold:
                box.update(pd.DataFrame(candidate, columns=lims[names].columns), remaining[rows])
                break
        else:
            return


def _side(value: float, unlimited: float) -> float | None:
    return None if value == unlimited else float(value)


def _qp(value: float | None, limit: float | None) -> float | None:
    return None if limit is None or value is None or value < 0 else float(value)


def _stats(
    lims: pd.DataFrame,
    init: pd.DataFrame,
    qp: Mapping[str, Sequence[float]],
    x: pd.DataFrame,
    y: np.ndarray,
) -> Box:
    names = [str(c) for c in init.columns]
    box, whole = _array(lims, names), _array(init, names)
    limits: dict[str, tuple[float | None, float | None]] = {}
    qps: dict[str, tuple[float | None, float | None]] = {}
    for j, name in enumerate(names):
        low, high = _side(box[0, j], whole[0, j]), _side(box[1, j], whole[1, j])
        if low is None and high is None:
            continue
        limits[name] = (low, high)
        q_low, q_high = (float(v) for v in qp.get(name, (-1.0, -1.0)))
        qps[name] = (_qp(q_low, low), _qp(q_high, high))
    inside = Box(limits, 0.0, 0.0, 0.0, 0, 0).contains(x)
    n_in = int(inside.sum())
    k_in = int(y[inside].sum())
    return Box(
        limits=limits,
        coverage=k_in / int(y.sum()),
        density=k_in / n_in if n_in else 0.0,
        mass=n_in / len(y),
        futures=n_in,
        failures=k_in,
        qp=qps,
    )


def discover(
    futures: pd.DataFrame,
    failed: Sequence[bool] | np.ndarray | pd.Series,
    *,
    threshold: float = 0.8,
    objective: Literal["f1", "coverage"] = "f1",
    max_boxes: int = 3,
    min_coverage: float = 0.1,
    max_qp: float = 0.05,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
) -> list[Box]:
    """Describe where a setting fails as a few boxes over the uncertain inputs.

    Parameters
    ----------
    futures
        One row per future, one numeric column per uncertain input (booleans and integers
        are treated as numbers). Column names are used in the sentences.
    failed
        One flag per future: ``True`` where the setting missed its target.
    threshold
        The density a box must reach (0.8: at least four in five futures inside fail).
    objective
        Which box of the trajectory, among those reaching ``threshold``: ``"f1"`` the best
        harmonic mean of coverage and density, ``"coverage"`` the largest coverage.
    max_boxes
        At most this many boxes.
    min_coverage
        A box is kept only if it covers at least this share of all failures.
    max_qp
        Restrictions whose quasi-p-value is above this are dropped when the density allows.
    peel_alpha, paste_alpha, mass_min
        PRIM's share peeled (or pasted) per step and the smallest box mass it may reach.

    Returns
    -------
    list of Box
        The boxes in the order PRIM found them; empty when no box
        reaches ``threshold`` with ``min_coverage`` (the failures are scattered rather
        than gathered in a region).

    Raises
    ------
    NoFailureRegion
        When no future fails, or every future does.
    ValueError
        For malformed arguments.
    """
    x = _table(futures)
    y = _labels(failed, len(x))
    if len(x) < 2:
        raise ValueError(f"scenario discovery needs at least 2 futures, not {len(x)}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a density in (0, 1], not {threshold}")
    if objective not in ("f1", "coverage"):
        raise ValueError(f"objective must be 'f1' or 'coverage', not {objective!r}")
    if isinstance(max_boxes, bool) or not isinstance(max_boxes, int) or max_boxes < 1:
        raise ValueError(f"max_boxes must be an integer >= 1, not {max_boxes!r}")
    for name, value, top in (
        ("min_coverage", min_coverage, 1.0),
        ("max_qp", max_qp, 1.0),
        ("peel_alpha", peel_alpha, 0.5),
        ("paste_alpha", paste_alpha, 0.5),
        ("mass_min", mass_min, 1.0),
    ):
        if not (math.isfinite(value) and 0 <= value <= top):
            raise ValueError(f"{name} must be in [0, {top}], not {value}")
    if peel_alpha == 0:
        raise ValueError("peel_alpha must be above 0")
    failures = int(y.sum())
    if failures in (0, len(y)):
        raise NoFailureRegion(failures, len(y))

    ema = _ema_prim()
    with warnings.catch_warnings():
        # EMA Workbench 2.5 uses pandas features that pandas 3 deprecates.
        warnings.filterwarnings("ignore", module="ema_workbench")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        prim = ema.Prim(
            x,
            y.astype(np.int64),
            threshold=threshold,
            peel_alpha=peel_alpha,
            paste_alpha=paste_alpha,
            mass_min=mass_min,
        )
        boxes: list[Box] = []
        while len(boxes) < max_boxes:
            found = prim.find_box()
            if found is None:
                break
            trajectory = found.peeling_trajectory
            ok = trajectory[(trajectory["density"] >= threshold) & (trajectory["res_dim"] > 0)]
            if ok.empty:
                break
            c, d = ok["coverage"], ok["density"]
            ranked = pd.DataFrame(
                {"score": 2 * c * d / (c + d) if objective == "f1" else c, "c": c, "d": d}
            ).sort_values(["score", "c", "d"], ascending=False, kind="stable")
            found.select(int(ranked.index[0]))
            _prune(found, prim, threshold, max_qp)
            i = found._cur_box
            box = _stats(found.box_lims[i], prim.box_init, found.qp[i], x, y)
            if box.coverage < min_coverage:
                break
            boxes.append(box)
            outside = np.setdiff1d(prim.yi_remaining, found.yi)
            if not y[outside].any():
                break
    return boxes


__all__ = ["Box", "Limits", "NoFailureRegion", "discover"]

"""Charts of decisions under uncertainty: tornado of sensitivity indices, failure boxes.

Figures are built with the object API (no pyplot state), like ``cost_plots``. They read
plain tables, the ones ``sim.experiments.sensitivity`` and ``sim.experiments.discovery``
produce, and import nothing from experiments (reports sit below experiments):

- ``tornado_figure``: one output's inputs as horizontal bars, most important on top: the
  total Sobol' index ``ST`` as a wide pale bar with the first-order ``S1`` drawn inside
  it, each with its interval; a Morris table (``mu_star``) draws one bar per input.
- ``boxes_figure``: the futures on two inputs, failing ones highlighted, and a failure
  box drawn over them (any object with ``limits``, or the limits themselves).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

TOTAL_COLOUR = "#9ecae1"
FIRST_COLOUR = "#1f4e79"
FAIL_COLOUR = "#d62728"
PASS_COLOUR = "#9e9e9e"
BOX_COLOUR = "#1f4e79"

BoxLimits = Mapping[str, tuple[float | None, float | None]]


class HasLimits(Protocol):
    """A failure box: per restricted input, its (lower, upper) limits, ``None`` if open."""

    @property
    def limits(self) -> BoxLimits:
        """Return the limits of the restricted inputs."""
        ...


def _rows(indices: pd.DataFrame, output: str, by: str) -> pd.DataFrame:
    if "output" not in indices.columns or "input" not in indices.columns:
        raise ValueError("the indices table needs 'output' and 'input' columns")
    rows = indices[indices["output"] == output]
    if rows.empty:
        known = sorted(set(indices["output"]))
        raise ValueError(f"no indices for output {output!r}; known: {known}")
    # Most important first (ties in the table's order), then reversed: barh draws the
    # last row at the top.
    order = np.argsort(-rows[by].to_numpy(dtype=float), kind="stable")[::-1]
    return rows.iloc[order]


def _errors(rows: pd.DataFrame, column: str) -> np.ndarray | None:
    conf = f"{column}_conf"
    return rows[conf].to_numpy(dtype=float) if conf in rows.columns else None


def tornado_figure(indices: pd.DataFrame, output: str, *, title: str | None = None) -> Figure:
    """Horizontal bars of one output's sensitivity indices, most important input on top.

    Parameters
    ----------
    indices
        A table with ``output``, ``input`` and either ``ST`` (with ``S1`` and the
        ``*_conf`` half-widths, as ``sobol`` returns) or ``mu_star`` (``morris``).
    output
        The output to draw, e.g. ``"p_outage"``.
    title
        Replaces the default title.
    """
    sobol = "ST" in indices.columns
    by = "ST" if sobol else "mu_star"
    if by not in indices.columns:
        raise ValueError("the indices table needs an 'ST' (Sobol') or 'mu_star' (Morris) column")
    rows = _rows(indices, output, by)
    names = rows["input"].astype(str).tolist()
    y = np.arange(len(rows))
    height = max(2.8, 0.45 * len(rows) + 1.6)
    longest = max(len(n) for n in names)
    fig = Figure(figsize=(8.5 + 0.04 * max(0, longest - 30), height), dpi=110)
    ax = fig.subplots()
    err = {"ecolor": "#333333", "capsize": 3, "elinewidth": 1}
    if sobol:
        ax.barh(
            y,
            rows["ST"].to_numpy(dtype=float),
            height=0.7,
            color=TOTAL_COLOUR,
            xerr=_errors(rows, "ST"),
            error_kw=err,
            label="total effect ST (with interactions)",
        )
        if "S1" in rows.columns:
            ax.barh(
                y,
                rows["S1"].to_numpy(dtype=float),
                height=0.32,
                color=FIRST_COLOUR,
                xerr=_errors(rows, "S1"),
                error_kw={**err, "ecolor": "#000000"},
                label="first-order S1 (alone)",
            )
        ax.set_xlabel("Sobol' index: share of the output's variance (bars: 95 % intervals)")
        total = rows["ST"].to_numpy(dtype=float)
        conf = _errors(rows, "ST")
        first = rows["S1"].to_numpy(dtype=float) if "S1" in rows.columns else total
        top = float(np.nanmax(total + (conf if conf is not None else 0.0)))
        ax.set_xlim(min(0.0, float(np.nanmin(first)) - 0.05), max(1.0, top) * 1.02)
    else:
        ax.barh(
            y,
            rows["mu_star"].to_numpy(dtype=float),
            height=0.6,
            color=FIRST_COLOUR,
            xerr=_errors(rows, "mu_star"),
            error_kw=err,
            label="mu* (mean absolute elementary effect)",
        )
        ax.set_xlabel(f"Morris mu*: change in {output} across each input's range")
    ax.axvline(0, color="#555555", lw=0.8)
    ax.set_yticks(y, names, fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="best", fontsize=9)
    ax.set_title(title or f"What drives {output}", fontsize=12)
    fig.tight_layout()
    return fig


def _limits_of(box: HasLimits | BoxLimits) -> BoxLimits:
    if isinstance(box, Mapping):
        return box
    limits = getattr(box, "limits", None)
    if not isinstance(limits, Mapping):
        raise ValueError("box must be a mapping of limits or have a 'limits' mapping")
    return limits


def boxes_figure(
    futures: pd.DataFrame,
    failed: Sequence[bool] | np.ndarray | pd.Series,
    box: HasLimits | BoxLimits,
    x: str,
    y: str,
    *,
    title: str | None = None,
) -> Figure:
    """Scatter the futures on inputs ``x`` and ``y``, failures highlighted, the box drawn.

    Parameters
    ----------
    futures
        One row per future, a column per input (``x`` and ``y`` among them).
    failed
        One flag per future: ``True`` where the setting missed its target.
    box
        A ``Box`` of ``sim.experiments.discovery`` (anything with ``limits``), or the
        limits themselves: ``{name: (lower, upper)}`` with ``None`` for an open side. An
        input the box does not restrict spans the whole axis. Its ``describe()``, if any,
        becomes the subtitle, with coverage and density when it has them.
    x, y
        The two inputs on the axes (dotted paths as in ``futures``).
    title
        Replaces the default title.
    """
    for name in (x, y):
        if name not in futures.columns:
            raise ValueError(f"{name!r} is not a column of futures")
    flags = np.asarray(failed, dtype=bool)
    if flags.shape != (len(futures),):
        raise ValueError(f"failed must hold one flag per future ({len(futures)})")
    limits = _limits_of(box)
    xs = futures[x].to_numpy(dtype=float)
    ys = futures[y].to_numpy(dtype=float)
    fig = Figure(figsize=(8, 6.5), dpi=110)
    ax = fig.subplots()
    ax.scatter(xs[~flags], ys[~flags], s=10, color=PASS_COLOUR, alpha=0.5, label="meets target")
    ax.scatter(xs[flags], ys[flags], s=14, color=FAIL_COLOUR, alpha=0.8, label="fails")
    pad_x = 0.02 * (float(xs.max() - xs.min()) or 1.0)
    pad_y = 0.02 * (float(ys.max() - ys.min()) or 1.0)
    x_lo, x_hi = limits.get(x, (None, None))
    y_lo, y_hi = limits.get(y, (None, None))
    left = float(xs.min()) - pad_x if x_lo is None else float(x_lo)
    right = float(xs.max()) + pad_x if x_hi is None else float(x_hi)
    bottom = float(ys.min()) - pad_y if y_lo is None else float(y_lo)
    top = float(ys.max()) + pad_y if y_hi is None else float(y_hi)
    ax.add_patch(
        Rectangle(
            (left, bottom),
            right - left,
            top - bottom,
            facecolor=to_rgba(BOX_COLOUR, 0.08),
            edgecolor=BOX_COLOUR,
            lw=2,
            label="failure box",
        )
    )
    ax.set_xlim(float(xs.min()) - pad_x, float(xs.max()) + pad_x)
    ax.set_ylim(float(ys.min()) - pad_y, float(ys.max()) + pad_y)
    ax.set_xlabel(x, fontsize=11)
    ax.set_ylabel(y, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=9)
    others = [n for n in limits if n not in (x, y)]
    lines = [title or f"Where the setting fails: {int(flags.sum()):,} of {len(flags):,} futures"]
    describe = getattr(box, "describe", None)
    if callable(describe):
        text = str(describe())
        coverage, density = getattr(box, "coverage", None), getattr(box, "density", None)
        if coverage is not None and density is not None:
            text += f" (coverage {coverage:.0%}, density {density:.0%})"
        lines.append(text)
    if others:
        lines.append("box also restricts " + ", ".join(others) + " (not shown)")
    ax.set_title("\n".join(textwrap.fill(line, 90) for line in lines), fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["BoxLimits", "HasLimits", "boxes_figure", "tornado_figure"]

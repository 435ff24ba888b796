"""The fit report: the fit's tables (Parquet and CSV) and its plots (PNG).

``write_fit_report`` writes the estimates with their standard errors and tests, the
holders found, the observed and fitted hour-of-week intensities (``profile_table``), the
import's counts and bad rows, plots of the profiles and duration fits, and
``choices.txt``: the warnings (settings copied from the base scenario), each modelling
choice in a sentence and the notes on each holder (``choices_text``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.calllogs.estimators import HOURS_PER_WEEK
from sim.calllogs.fitting import TrafficFit
from sim.calllogs.report import ImportReport
from sim.core.tables import write_table


def profile_table(fit: TrafficFit) -> pd.DataFrame:
    """Return observed and fitted intensities per profile and hour of the week."""
    rows = []
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    for name, p in fit.profiles.items():
        fitted = p.fitted
        exp = fit.exposures.get(name, fit.exposure)
        for k in range(HOURS_PER_WEEK):
            rows.append(
                {
                    "profile": name,
                    "hour_of_week": k,
                    "day": days[k // 24],
                    "hour": k % 24,
                    "calls": int(p.counts[k]),
                    "time_zone": exp.time_zone,
                    "hours_observed": float(exp.hours[k]),
                    "observed_per_hour": float(p.observed[k]),
                    "fitted_per_hour": float(fitted[k]),
                }
            )
    return pd.DataFrame(rows)


def choices_text(fit: TrafficFit, warnings: Sequence[str] = ()) -> str:
    """Return the fit's warnings, modelling choices and per-holder notes as plain text."""
    lines = ["ccsim fit: modelling choices", ""]
    if warnings:
        lines += ["WARNINGS", *[f"- WARNING: {w}." for w in warnings], ""]
    lines += ["Modelling choices", *[f"- {c}" for c in fit.choices], ""]
    lines.append("Holders")
    for h in fit.holders:
        zone = f", profile hours in {h.time_zone}" if h.time_zone else ""
        what = f"{h.users} users, plan {h.plan}" if h.kind == "group" else h.number_type
        lines.append(f"- {h.name} ({h.kind}, {h.country}, {what}{zone})")
        lines += [f"    {n}" for n in h.notes]
    for name, p in fit.profiles.items():
        shape = (
            f"a shape per weekday (one-shape test p = {p.pooled_pvalue:.3g})"
            if p.by_day
            else f"Monday-Friday pooled (one-shape test p = {p.pooled_pvalue:.3g})"
        )
        hol = f"; holiday shape from {p.holiday_calls} calls" if p.holiday is not None else ""
        lines.append(f"- profile {name}: {shape}{hol}")
    if fit.notes:
        lines += ["", "Notes", *[f"- {n}" for n in fit.notes]]
    return "\n".join(lines) + "\n"


def write_fit_report(
    fit: TrafficFit,
    staging: Path,
    *,
    report: ImportReport | None = None,
    plots: bool = True,
    warnings: Sequence[str] = (),
) -> list[str]:
    """Write the fit's tables (and plots) into ``staging``; return the files written."""
    (staging / "choices.txt").write_text(choices_text(fit, warnings), encoding="utf-8")
    files: list[str] = ["choices.txt"]
    for name, table in fit.tables.items():
        if len(table):
            files += [p.name for p in write_table(table, staging, name)]
    files += [p.name for p in write_table(profile_table(fit), staging, "profiles")]
    holders = pd.DataFrame(
        [
            {
                "name": h.name,
                "kind": h.kind,
                "country": h.country,
                "users": h.users,
                "plan": h.plan,
                "conferencing": h.conferencing,
                "number_type": h.number_type,
                "licence": h.licence,
                "time_zone": h.time_zone,
                "notes": "; ".join(h.notes),
            }
            for h in fit.holders
        ]
    )
    files += [p.name for p in write_table(holders, staging, "holders")]
    if report is not None:
        (staging / "import.txt").write_text("\n".join(report.lines(show=50)) + "\n")
        files.append("import.txt")
        report.write_bad_rows(staging / "bad_rows.csv")
        files.append("bad_rows.csv")
    if plots:
        files += _plots(fit, staging)
    return files


def _plots(fit: TrafficFit, staging: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = staging / "plots"
    folder.mkdir(exist_ok=True)
    files = []
    for name, p in fit.profiles.items():
        fig, ax = plt.subplots(figsize=(11, 4), dpi=100)
        x = np.arange(HOURS_PER_WEEK)
        ax.bar(x, p.observed, width=1.0, color="#9ecae1", label="observed (calls per hour)")
        ax.step(x, p.fitted, where="mid", color="#08519c", lw=1.5, label="fitted profile")
        ax.set_xticks(np.arange(0, HOURS_PER_WEEK + 1, 24))
        ax.set_xticklabels(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", ""])
        ax.set_xlim(-0.5, HOURS_PER_WEEK - 0.5)
        ax.set_ylabel("calls per hour")
        zone = fit.exposures.get(name, fit.exposure).time_zone
        ax.set_title(f"{name}: hour-of-week rate ({zone})")
        ax.legend(loc="upper right")
        fig.tight_layout()
        path = folder / f"profile-{name}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(f"plots/{path.name}")
    for name, (d, lf) in fit.durations.items():
        d = d[d > 0]
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        top = float(d.max()) * 1.01
        if lf.censored:  # whole seconds: each bin holds whole numbers of seconds
            edges = np.unique(np.floor(np.geomspace(1.0, top + 1, 60))) - 0.5
            bins = edges[edges > 0].tolist() if (edges > 0).sum() > 1 else [0.5, top + 0.5]
        else:
            bins = np.geomspace(max(float(d.min()), 0.5), top, 60).tolist()
        ax.hist(d, bins=bins, density=True, color="#c6dbef", label=f"observed (n={lf.n:,})")
        grid = np.geomspace(bins[0], bins[-1], 400)
        ax.plot(grid, stats.lognorm.pdf(grid, lf.sigma, 0, math.exp(lf.mu)), color="#08519c",
                label=f"lognormal mean {lf.mean_s:.0f}s cv {lf.cv:.2f}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("duration (s)")
        ax.set_ylabel("density")
        ax.set_title(f"{name}: KS D = {lf.ks_statistic:.4f}, p = {lf.ks_pvalue:.3g}")
        ax.legend()
        fig.tight_layout()
        path = folder / f"duration-{name}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(f"plots/{path.name}")
    return files


__all__ = [
    "choices_text",
    "profile_table",
    "write_fit_report",
]

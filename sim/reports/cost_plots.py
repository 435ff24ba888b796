"""Charts of forecasts and plan comparisons, as matplotlib ``Figure`` objects.

Figures are built with the object API (no pyplot state), so they can be saved into a run
folder or shown in a notebook alike. Reads result objects only; defines no model logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sim.core.units import MICROS_PER_UNIT
from sim.reports.breakeven import BreakEven
from sim.reports.compare import Comparison
from sim.reports.forecast import COMPONENT_TITLES, Forecast, components_of, provenance_caption
from sim.reports.licences import months_of

COMPONENT_COLOURS = {
    "licences": "#9ecae1",
    "credits_initial": "#c7e9c0",
    "credits_auto": "#31a354",
    "credits_manual": "#fd8d3c",
    "postpaid_usage": "#756bb1",
}
PLAN_COLOURS = ("#1f4e79", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#7f7f7f")


def _units(values: pd.Series | Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64) / MICROS_PER_UNIT


def _money_axis(ax: Axes, currency: str, label: str) -> None:
    ax.set_ylabel(f"{label} ({currency})")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(alpha=0.3, axis="y")


def month_names(labels: Sequence[str]) -> list[str]:
    """Return ``"Jan 2026"`` for ``"2026-01"``."""
    return [datetime.strptime(m, "%Y-%m").strftime("%b %Y") for m in labels]


def forecast_figure(fc: Forecast) -> Figure:
    """Fan chart of monthly invoices (P10-P90, P50, mean) and their mean make-up."""
    cur = fc.currency
    table = fc.table
    x = np.arange(len(table))
    inside = {m.label: m.covered_s < m.length_s for m in months_of(fc.scenario)}
    names = [
        n if not inside.get(m, True) else (f"{n} (part)" if m in inside else f"{n} (after)")
        for m, n in zip(table["month"], month_names(table["month"].tolist()), strict=True)
    ]
    fig = Figure(figsize=(11, 8), dpi=110)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    p10, p50, p90 = (_units(table[f"{k}_micros"]) for k in ("p10", "p50", "p90"))
    ax1.fill_between(x, p10, p90, color="#1f4e79", alpha=0.22, label="P10 to P90 of replications")
    ax1.plot(x, p50, "-o", color="#1f4e79", lw=2, ms=5, label="P50 (median)")
    ax1.plot(x, _units(table["mean_micros"]), "--", color="#ff7f0e", lw=1.2, label="mean")
    use10, use90 = (_units(table[f"calls_charged_{k}_micros"]) for k in ("p10", "p90"))
    ax1.fill_between(
        x,
        use10,
        use90,
        color="#31a354",
        alpha=0.25,
        hatch="//",
        label="consumption: calls charged in the month, P10 to P90",
    )
    ax1.plot(x, _units(table["calls_charged_mean_micros"]), ":", color="#31a354", lw=1.5)
    top = max(float(p90.max()), float(use90.max())) if len(table) else 0.0
    ax1.set_ylim(0, max(top, 1.0) * 1.3)  # room for the legend
    _money_axis(ax1, cur, "Invoiced in the month")
    ax1.legend(loc="upper right", fontsize=8)
    mode = "prepaid credits" if fc.scenario.funding.mode == "prepaid" else "NCE/MCA postpaid"
    total = fc.totals.iloc[0]
    spread = ", ".join(
        f"{k.upper()} {total[f'{k}_micros'] / MICROS_PER_UNIT:,.0f}" for k in ("p10", "p50", "p90")
    )
    ax1.set_title(
        f"{fc.name}: monthly invoices forecast ({mode}, licences included; "
        f"{fc.replications} replications)\nWhole horizon: {spread} {cur}"
    )
    bottom = np.zeros(len(table))
    for c in components_of(fc.scenario):
        y = _units(table[f"{c}_mean_micros"])
        if not y.any():
            continue
        ax2.bar(
            x, y, bottom=bottom, width=0.7, color=COMPONENT_COLOURS[c], label=COMPONENT_TITLES[c]
        )
        bottom += y
    accrual = _units(table["licences_mean_micros"]) + _units(table["calls_charged_mean_micros"])
    ax2.plot(
        x,
        accrual,
        "_",
        ms=30,
        mew=2.5,
        color="black",
        label="licences + calls charged in the month (accrual view)",
    )
    forfeit = _units(table["forfeited_mean_micros"])
    if forfeit.any():
        ax2.plot(x, forfeit, "v", color="#d62728", ms=8, label="expected forfeited funds (expired)")
    _money_axis(ax2, cur, "Mean per month")
    ax2.set_ylim(0, max(float(bottom.max()), float(accrual.max()), 1.0) * 1.45)
    ax2.set_title("What the invoices pay for (mean over replications)", fontsize=10)
    ax2.legend(loc="upper center", fontsize=8, ncol=3, markerscale=0.5)
    ax2.set_xticks(x, names, rotation=45, ha="right")
    ax2.set_xlabel("Invoice month (local calendar month in which the invoice arrives)")
    fig.tight_layout(rect=(0, 0.035, 1, 1))
    fig.text(0.01, 0.008, provenance_caption(fc), fontsize=7.5, color="#444444")
    return fig


def plans_figure(cmp: Comparison) -> Figure:
    """Cost per user-month by plan (licences + credits), and per month, with outage risk."""
    cur = cmp.currency
    s = cmp.summary
    fig = Figure(figsize=(12, 5.5), dpi=110)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 3]})
    x = np.arange(len(s))
    lic = _units(s["licences_per_user_month_micros"])
    cred = _units(s["credits_per_user_month_micros"])
    ax1.bar(x, lic, width=0.6, color=COMPONENT_COLOURS["licences"], label="licence fees")
    payer = "credits" if cmp.scenario.funding.mode == "prepaid" else "usage invoice"
    ax1.bar(x, cred, width=0.6, bottom=lic, color="#31a354", label=f"calls charged ({payer})")
    for i, row in enumerate(s.to_dict("records")):
        ax1.text(
            i,
            lic[i] + cred[i],
            f"{(lic[i] + cred[i]):,.2f}\nP(outage) {row['p_outage']:.0%}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax1.set_xticks(x, s["plan"].tolist())
    ax1.set_xlabel("Calling plan given to the compared user groups")
    _money_axis(ax1, cur, "Cost per user per month")
    ax1.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.2f}"))
    top = float((lic + cred).max()) if len(s) else 1.0
    ax1.set_ylim(0, top * 1.25 or 1.0)
    ax1.legend(fontsize=8, loc="upper left")
    ax1.set_title("Mean cost per user-month", fontsize=10)
    m = cmp.monthly[cmp.monthly["month_share"] >= 0.1]  # drop slivers of a month
    for k, plan in enumerate(s["plan"]):
        rows = m[m["plan"] == plan]
        names = [
            f"{n} (part)" if share < 1 else n
            for n, share in zip(
                month_names(rows["month"].tolist()), rows["month_share"], strict=True
            )
        ]
        ax2.plot(
            names,
            _units(rows["per_user_month_micros"]),
            "-o",
            ms=4,
            color=PLAN_COLOURS[k % len(PLAN_COLOURS)],
            label=plan,
        )
    _money_axis(ax2, cur, "Cost per user per month")
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.2f}"))
    # From zero: a truncated axis would exaggerate the differences between plans.
    peak = float(_units(m["per_user_month_micros"]).max()) if len(m) else 0.0
    ax2.set_ylim(0, max(peak, 0.01) * 1.15)
    ax2.tick_params(axis="x", rotation=45)
    ax2.set_xlabel("Local calendar month")
    ax2.legend(fontsize=8, title="plan")
    ax2.set_title(
        "Licences + calls charged per user, month by month (part months scaled to a month)",
        fontsize=10,
    )
    fig.suptitle(
        f"{cmp.name}: plan comparison on identical traffic ({cmp.replications} replications; "
        f"groups: {', '.join(cmp.groups)})"
    )
    fig.tight_layout()
    return fig


def breakeven_figure(be: BreakEven) -> Figure:
    """Cost per user-month against outbound minutes per user-month, break-even marked."""
    cur = be.currency
    fig = Figure(figsize=(9, 5.5), dpi=110)
    ax = fig.subplots()
    for k, plan in enumerate(be.plans):
        rows = be.grid[be.grid["plan"] == plan].sort_values("minutes_per_user_month")
        ax.plot(
            rows["minutes_per_user_month"],
            _units(rows["cost_per_user_month_micros"]),
            "-o",
            ms=4,
            color=PLAN_COLOURS[k],
            label=f"{plan} (licence {be.fees[plan] / MICROS_PER_UNIT:,.2f} {cur} + calls charged)",
        )
    if be.current_minutes is not None:
        ax.axvline(be.current_minutes, color="#7f7f7f", ls=":", lw=1.2)
        ax.text(
            be.current_minutes,
            0.02,
            f" scenario's usage\n {be.current_minutes:,.0f} min",
            transform=ax.get_xaxis_transform(),
            fontsize=8,
            color="#555555",
        )
    if be.minutes is not None and be.cost_micros is not None:
        ax.axvline(be.minutes, color="#d62728", ls="--", lw=1.2)
        ax.plot([be.minutes], [be.cost_micros / MICROS_PER_UNIT], "*", color="#d62728", ms=16)
        ax.annotate(
            f"break-even {be.minutes:,.0f} min per user-month\n"
            f"({be.cost_micros / MICROS_PER_UNIT:,.2f} {cur} per user-month)",
            (be.minutes, be.cost_micros / MICROS_PER_UNIT),
            xytext=(12, -40),
            textcoords="offset points",
            fontsize=9,
            color="#d62728",
        )
        verdict = f"{be.plans[0]} is cheaper below {be.minutes:,.0f} min, {be.plans[1]} above"
    else:
        verdict = "no break-even inside the range simulated"
    ax.set_xlabel(f"Outbound minutes per user per month (group {be.group}, {be.country})")
    _money_axis(ax, cur, "Cost per user per month")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.2f}"))
    ax.grid(alpha=0.3)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"{be.name}: {be.plans[0]} vs {be.plans[1]} for one user: {verdict}", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["breakeven_figure", "forecast_figure", "month_names", "plans_figure"]

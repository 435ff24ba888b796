"""PNG charts of a run: the balance over time and daily spend by service.

Reads result tables only (``sim.engine.results``); defines no model logic.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sim.core.units import MICROS_PER_UNIT
from sim.scenario.model import Scenario

_SERVICE_COLOURS = {
    "toll_free": "#1f77b4",
    "dial_out": "#ff7f0e",
    "overage": "#2ca02c",
    "international": "#d62728",
    "payg": "#9467bd",
    "premium": "#8c564b",
    "conferencing_ppm": "#e377c2",
    "other": "#7f7f7f",
}


def _times(frame: pd.DataFrame, column: str = "time") -> pd.Series:
    return pd.to_datetime(frame[column].str.slice(0, 19))


def plot_balance(
    tables: dict[str, pd.DataFrame], scenario: Scenario, path: Path, replication: int = 0
) -> Path:
    """Draw the balance over time with trigger, recharges, expiries and outages marked."""
    cur = scenario.simulation.currency
    bal = tables["balance"]
    bal = bal[bal["replication"] == replication]
    pays = tables["payment_attempts"]
    pays = pays[pays["replication"] == replication]
    outages = tables["outages"]
    outages = outages[outages["replication"] == replication]
    fig, ax = plt.subplots(figsize=(11, 5), dpi=110)
    if len(bal):
        t = _times(bal)
        y = bal["balance_micros"].to_numpy() / MICROS_PER_UNIT
        ax.step(t, y, where="post", color="#1f4e79", lw=1.2, label="balance")
        expire = bal["cause"] == "expire"
        if expire.any():
            ax.scatter(
                t[expire],
                y[expire.to_numpy()],
                marker="v",
                color="#7f7f7f",
                zorder=3,
                label="lot expired (forfeit)",
            )
        buy = bal["cause"] == "purchase"
        if buy.any():
            ax.scatter(
                t[buy],
                y[buy.to_numpy()],
                marker="^",
                color="#2ca02c",
                zorder=3,
                s=18,
                label="purchase settled",
            )
    declined = pays[pays["declined"]]
    if len(declined):
        ax.scatter(
            _times(declined, "completed_at"),
            np.zeros(len(declined)),
            marker="x",
            color="#d62728",
            zorder=4,
            label="payment declined",
        )
    r = scenario.recharge
    if scenario.funding.mode == "prepaid" and r.policy != "none":
        ax.axhline(
            r.trigger / MICROS_PER_UNIT,
            color="#ff7f0e",
            ls="--",
            lw=1,
            label=f"trigger {r.compare} {r.trigger / MICROS_PER_UNIT:g} {cur}",
        )
    ax.axhline(0, color="black", lw=0.8)
    for k, (_, row) in enumerate(outages.iterrows()):
        a = float(mdates.date2num(pd.Timestamp(row["start"][:19])))
        z = float(mdates.date2num(pd.Timestamp(row["end"][:19])))
        label = "outage (balance <= 0)" if k == 0 else None
        ax.axvspan(a, z, color="#d62728", alpha=0.25, label=label)
    name = scenario.simulation.name or "scenario"
    ax.set_title(f"{name}: communications-credit balance (replication {replication})")
    ax.set_ylabel(f"Balance ({cur})")
    ax.set_xlabel(f"Local date ({scenario.simulation.time_zone})")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_spend(
    tables: dict[str, pd.DataFrame], scenario: Scenario, path: Path, replication: int = 0
) -> Path:
    """Draw daily spend on credits (or the invoice) stacked by service."""
    cur = scenario.simulation.currency
    spend = tables["spend_daily"]
    spend = spend[spend["replication"] == replication]
    fig, ax = plt.subplots(figsize=(11, 5), dpi=110)
    if len(spend):
        wide = spend.pivot_table(
            index="date", columns="service", values="charged_micros", aggfunc="sum", fill_value=0
        ).sort_index()
        x = pd.to_datetime(wide.index)
        bottom = np.zeros(len(wide))
        for service in wide.columns:
            y = wide[service].to_numpy() / MICROS_PER_UNIT
            ax.bar(
                x,
                y,
                bottom=bottom,
                width=1.0,
                label=service.replace("_", " "),
                color=_SERVICE_COLOURS.get(service, "#bbbbbb"),
            )
            bottom += y
    else:
        ax.text(0.5, 0.5, "nothing was charged", transform=ax.transAxes, ha="center")
    name = scenario.simulation.name or "scenario"
    payer = "credits" if scenario.funding.mode == "prepaid" else "the invoice"
    ax.set_title(f"{name}: daily spend on {payer} by service (replication {replication})")
    ax.set_ylabel(f"Spend per day ({cur})")
    ax.set_xlabel(f"Local date ({scenario.simulation.time_zone})")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.grid(alpha=0.3, axis="y")
    if len(spend):
        ax.legend(loc="upper right", fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_heatmaps(summary: pd.DataFrame, folder: Path, currency: str) -> list[Path]:
    """Heatmaps of outage probability, annual cost and forfeited funds over two settings.

    Only the grid's settings are drawn (a current setting off the grid would leave holes);
    the current setting's cell is outlined, or named in the title when it is off the grid.
    """
    axes_cols = [c for c in summary.columns if "." in c]
    if len(axes_cols) != 2:
        return []
    ycol, xcol = axes_cols
    on_grid = summary["on_grid"] if "on_grid" in summary else pd.Series(True, summary.index)
    grid = summary[on_grid.astype(bool)].dropna(subset=axes_cols).copy()
    grid[xcol] = grid[xcol].astype(float)
    grid[ycol] = grid[ycol].astype(float)
    current = summary[summary["current"]] if "current" in summary else summary.iloc[0:0]
    out = []
    for value, title, name, fmt in (
        ("p_outage", "P(outage over the horizon)", "heatmap-outage.png", "{:.0%}"),
        ("annual_cost_micros", f"annual cost ({currency})", "heatmap-cost.png", "{:,.0f}"),
        (
            "mean_forfeited_micros",
            f"expected forfeited funds ({currency})",
            "heatmap-forfeited.png",
            "{:,.0f}",
        ),
    ):
        if value not in grid:
            continue
        table = grid.pivot_table(index=ycol, columns=xcol, values=value, aggfunc="mean")
        data = table.to_numpy(dtype=float)
        if value.endswith("_micros"):
            data = data / MICROS_PER_UNIT
        fig, ax = plt.subplots(
            figsize=(1.2 + 0.9 * data.shape[1], 1.2 + 0.6 * data.shape[0]), dpi=110
        )
        im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis_r")
        ax.set_xticks(range(data.shape[1]), [f"{v:g}" for v in table.columns], rotation=45)
        ax.set_yticks(range(data.shape[0]), [f"{v:g}" for v in table.index])
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                if np.isfinite(data[i, j]):
                    ax.text(
                        j,
                        i,
                        fmt.format(data[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if data[i, j] > np.nanmean(data) else "black",
                    )
        note = ""
        if len(current):
            cx, cy = float(current[xcol].iloc[0]), float(current[ycol].iloc[0])
            cols = [float(c) for c in table.columns]
            rows = [float(r) for r in table.index]
            if bool(current["on_grid"].iloc[0]) if "on_grid" in current else True:
                if cx in cols and cy in rows:
                    ax.add_patch(
                        Rectangle(
                            (cols.index(cx) - 0.5, rows.index(cy) - 0.5),
                            1,
                            1,
                            fill=False,
                            edgecolor="#d62728",
                            lw=2,
                        )
                    )
                    note = " (outlined: current)"
            else:
                v = float(current[value].iloc[0])
                shown = fmt.format(v / MICROS_PER_UNIT if value.endswith("_micros") else v)
                note = f"\ncurrent {ycol}={cy:g}, {xcol}={cx:g} (off the grid): {shown}"
        unit = f" ({currency})" if any(k in xcol for k in ("trigger", "amount", "target")) else ""
        ax.set_xlabel(f"{xcol}{unit}")
        ax.set_ylabel(f"{ycol}{unit if any(k in ycol for k in ('trigger', 'amount')) else ''}")
        ax.set_title(title + note, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
        fig.tight_layout()
        path = folder / name
        fig.savefig(path)
        plt.close(fig)
        out.append(path)
    return out


def plot_frontier(
    summary: pd.DataFrame, rec: object, path: Path, currency: str, target: float
) -> Path:
    """Outage risk against annual cost, every setting, with the Pareto frontier and pick."""
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    x = summary["annual_cost_micros"] / MICROS_PER_UNIT
    y = summary["p_outage"]
    yerr = [
        (y - summary["p_outage_low"]).clip(lower=0),
        (summary["p_outage_high"] - y).clip(lower=0),
    ]
    ax.errorbar(x, y, yerr=yerr, fmt="o", color="#9ecae1", ms=4, lw=0.8, label="setting")
    front = summary[summary["on_frontier"]].sort_values("annual_cost_micros")
    ax.plot(
        front["annual_cost_micros"] / MICROS_PER_UNIT,
        front["p_outage"],
        "-o",
        color="#1f4e79",
        ms=5,
        label="Pareto frontier",
    )
    for flag, marker, colour, size, text in (
        ("current", "s", "#2ca02c", 9, "current"),
        ("recommended", "*", "#d62728", 16, "recommended"),
    ):
        if flag in summary:
            chosen = summary[summary[flag].astype(bool)]
            if len(chosen):
                ax.plot(
                    chosen["annual_cost_micros"] / MICROS_PER_UNIT,
                    chosen["p_outage"],
                    marker,
                    color=colour,
                    ms=size,
                    label=text,
                )
    ax.axhline(target, color="#ff7f0e", ls="--", lw=1, label=f"target {target:.1%}")
    ax.set_xlabel(f"annual cost: card charges, invoices, money tied up, forfeits ({currency})")
    ax.set_ylabel("P(outage over the horizon), Wilson interval")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title("Outage risk against annual cost")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_bands(
    bands: pd.DataFrame,
    picks: dict[int, str],
    labels: dict[int, str],
    scenario: Scenario,
    grid: object,
    path: Path,
) -> Path:
    """Daily balance P10-P90 bands (and P50) of the picked settings over the horizon."""
    cur = scenario.simulation.currency
    start = pd.Timestamp(scenario.simulation.start)
    colours = ["#d62728", "#1f4e79", "#2ca02c", "#9467bd", "#ff7f0e"]
    fig, ax = plt.subplots(figsize=(11, 5), dpi=110)
    for k, (variant, role) in enumerate(sorted(picks.items())):
        b = bands[bands["variant"] == variant]
        x = start + pd.to_timedelta(b["day"] + 1, unit="D")
        c = colours[k % len(colours)]
        ax.fill_between(x, b["p10"], b["p90"], color=c, alpha=0.18)
        ax.plot(x, b["p50"], color=c, lw=1.4, label=f"{role}: {labels[variant]} (P50, P10-P90)")
        risky = b["p_at_or_below_zero"] > 0
        if risky.any():
            ax.scatter(x[risky], np.zeros(int(risky.sum())), marker="|", color=c, s=40)
        trigger = [v for p, v in _values_of(labels[variant]) if p == "recharge.trigger"]
        if trigger:
            ax.axhline(float(trigger[0]), color=c, ls=":", lw=1)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_title(
        "Day-end balance across replications (dotted: triggers; ticks at 0: days "
        "with a replication at or below zero)"
    )
    ax.set_ylabel(f"Balance ({cur})")
    ax.set_xlabel(f"Local date ({scenario.simulation.time_zone})")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _values_of(label: str) -> list[tuple[str, str]]:
    out = []
    for part in label.split(", "):
        if "=" in part:
            p, v = part.split("=", 1)
            out.append((p, v))
    return out

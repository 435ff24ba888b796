"""PNG charts of a run: the balance over time and daily spend by service.

Reads result tables only (``sim.results``); defines no model logic.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.scenario import Scenario
from sim.units import MICROS_PER_UNIT

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

"""PNG charts of a run (the balance over time, spend by service) and of a sweep.

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
from matplotlib.axes import Axes
from matplotlib.figure import Figure
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


SPEND_BY_WEEK_UP_TO_DAYS = 92
"""Spend is drawn by week up to this horizon, by calendar month beyond it."""
ENVELOPE_ABOVE_PURCHASES = 60
"""With more purchases than this the balance is drawn as a daily min/close envelope."""


def _naive(values: pd.Series | pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Local wall-clock times without their zone (what matplotlib's date axis draws)."""
    idx = pd.DatetimeIndex(values)
    return idx.tz_localize(None) if idx.tz is not None else idx


def _horizon(scenario: Scenario) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(scenario.calendar.start).tz_localize(None)
    end = pd.Timestamp(scenario.calendar.to_datetime(scenario.horizon_s)).tz_localize(None)
    return start, end


def _date_axis(ax: Axes, scenario: Scenario) -> None:
    start, end = _horizon(scenario)
    ax.set_xlim(float(mdates.date2num(start)), float(mdates.date2num(end)))
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(f"Local date ({scenario.simulation.time_zone})")


def _of(frame: pd.DataFrame, replication: int) -> pd.DataFrame:
    return frame[frame["replication"] == replication] if len(frame) else frame


def balance_figure(
    tables: dict[str, pd.DataFrame], scenario: Scenario, replication: int = 0
) -> Figure:
    """Draw the balance over time with trigger, purchases, declines, expiries, outages.

    A declined card attempt is drawn at the balance when it was declined. With more than
    ``ENVELOPE_ABOVE_PURCHASES`` purchases the balance is drawn as each day's lowest and
    closing balance (a band) instead of every step.
    """
    cur = scenario.simulation.currency
    bal = _of(tables["balance"], replication)
    pays = _of(tables["payment_attempts"], replication)
    outages = _of(tables["outages"], replication)
    daily = _of(tables.get("balance_daily", pd.DataFrame()), replication)
    fig = Figure(figsize=(11, 5), dpi=110)
    ax = fig.subplots()
    start, end = _horizon(scenario)
    top = 0.0
    buy = bal["cause"] == "purchase" if len(bal) else pd.Series(dtype=bool)
    envelope = int(buy.sum()) > ENVELOPE_ABOVE_PURCHASES and len(daily) > 0
    if len(bal) and envelope:
        day_end = _naive(pd.to_datetime(daily["date"])) + pd.Timedelta(days=1)
        lows = daily["min_micros"].to_numpy() / MICROS_PER_UNIT
        close = daily["closing_micros"].to_numpy() / MICROS_PER_UNIT
        ax.fill_between(
            day_end, lows, close, step="pre", color="#1f4e79", alpha=0.3, label="daily low to close"
        )
        ax.step(day_end, close, where="pre", color="#1f4e79", lw=1.0, label="day-end balance")
        top = float(max(close.max(), lows.max()))
        ax.text(
            0.01,
            0.97,
            f"{int(buy.sum())} purchases: each day's lowest and closing balance",
            transform=ax.transAxes,
            fontsize=8,
            va="top",
        )
    elif len(bal):
        t = _naive(bal["time"])
        y = bal["balance_micros"].to_numpy() / MICROS_PER_UNIT
        # From the start (opening funds) to the horizon, at the last balance.
        xs = np.concatenate([[start], t.to_numpy(), [end]])
        ys = np.concatenate([[y[0] - bal["change_micros"].iloc[0] / MICROS_PER_UNIT], y, [y[-1]]])
        ax.step(xs, ys, where="post", color="#1f4e79", lw=1.2, label="balance")
        top = float(ys.max())
        expire = (bal["cause"] == "expire").to_numpy()
        if expire.any():
            ax.scatter(
                t[expire], y[expire], marker="v", color="#7f7f7f", zorder=3, label="lot expired"
            )
        if buy.any():
            b = buy.to_numpy()
            ax.scatter(
                t[b], y[b], marker="^", color="#2ca02c", zorder=3, s=18, label="purchase settled"
            )
    else:
        ends = mdates.date2num([start.to_pydatetime(), end.to_pydatetime()])
        ax.plot(ends, [0.0, 0.0], color="#1f4e79", lw=1.2, label="balance (no funds)")
    declined = pays[pays["declined"].astype(bool)] if len(pays) else pays
    if len(declined):
        at = _balance_at(bal, declined["completed_at_s"].to_numpy())
        ax.scatter(
            _naive(declined["completed_at"]),
            at / MICROS_PER_UNIT,
            marker="x",
            color="#d62728",
            zorder=4,
            label=f"card attempt declined ({len(declined)})",
        )
    r = scenario.recharge
    if scenario.funding.mode == "prepaid" and r.policy != "none":
        trigger = r.trigger / MICROS_PER_UNIT
        top = max(top, trigger)
        ax.axhline(
            trigger, color="#ff7f0e", ls="--", lw=1, label=f"trigger {r.compare} {trigger:g} {cur}"
        )
    ax.axhline(0, color="black", lw=0.8)
    for k, row in enumerate(outages.to_dict("records")):
        a = float(mdates.date2num(pd.Timestamp(row["start"]).tz_localize(None)))
        z = float(mdates.date2num(pd.Timestamp(row["end"]).tz_localize(None)))
        label = "outage (balance <= 0)" if k == 0 else None
        ax.axvspan(a, z, color="#d62728", alpha=0.25, label=label)
    low = min(0.0, float(bal["balance_micros"].min()) / MICROS_PER_UNIT) if len(bal) else 0.0
    if top <= 0:
        top = 10.0  # never above zero: a readable axis of a few currency units
    span = max(top - low, 1.0)
    ax.set_ylim(low - 0.05 * span, top + 0.25 * span)  # room for the legend
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    name = scenario.simulation.name or "scenario"
    ax.set_title(f"{name}: communications-credit balance (replication {replication})")
    ax.set_ylabel(f"Balance ({cur})")
    _date_axis(ax, scenario)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig


def _balance_at(bal: pd.DataFrame, t_s: np.ndarray) -> np.ndarray:
    """Return the balance (micro-units) in force at each instant (0 before any change)."""
    if not len(bal):
        return np.zeros(len(t_s))
    times = bal["t_s"].to_numpy()
    values = bal["balance_micros"].to_numpy().astype(np.float64)
    k = np.searchsorted(times, t_s, side="right") - 1
    return np.where(k >= 0, values[np.clip(k, 0, None)], 0.0)


def plot_balance(
    tables: dict[str, pd.DataFrame], scenario: Scenario, path: Path, replication: int = 0
) -> Path:
    """Draw ``balance_figure`` into ``path`` (PNG)."""
    balance_figure(tables, scenario, replication).savefig(path)
    return path


def spend_period(scenario: Scenario) -> str:
    """Return ``"week"`` or ``"month"``: how spend is grouped for this horizon."""
    days = scenario.horizon_s / 86_400
    return "week" if days <= SPEND_BY_WEEK_UP_TO_DAYS else "month"


def spend_figure(
    tables: dict[str, pd.DataFrame], scenario: Scenario, replication: int = 0
) -> Figure:
    """Draw spend on credits (or the invoice) by week or month, stacked by service.

    The daily table is summed per period first, so the chart has one bar per period and
    service whatever the horizon.
    """
    cur = scenario.simulation.currency
    spend = _of(tables["spend_daily"], replication)
    period = spend_period(scenario)
    fig = Figure(figsize=(11, 5), dpi=110)
    ax = fig.subplots()
    start, _ = _horizon(scenario)
    if len(spend):
        days = pd.to_datetime(spend["date"])
        if period == "week":
            offset = (days - start.normalize()).dt.days // 7
            left = pd.Series(start.normalize() + pd.to_timedelta(offset * 7, unit="D"))
            width = 7.0
        else:
            left = pd.Series(days.dt.to_period("M").dt.to_timestamp())
            width = 28.0
        wide = (
            pd.DataFrame({"left": left, "service": spend["service"], "v": spend["charged_micros"]})
            .pivot_table(index="left", columns="service", values="v", aggfunc="sum", fill_value=0)
            .sort_index()
        )
        x = mdates.date2num(pd.DatetimeIndex(wide.index).to_pydatetime())
        bottom = np.zeros(len(wide))
        for service in wide.columns:
            y = wide[service].to_numpy() / MICROS_PER_UNIT
            ax.bar(
                x,
                y,
                bottom=bottom,
                width=width * 0.9,
                align="edge",
                label=service.replace("_", " "),
                color=_SERVICE_COLOURS.get(service, "#bbbbbb"),
            )
            bottom += y
        ax.set_ylim(0, float(bottom.max()) * 1.25 or 1.0)
        ax.legend(loc="upper right", fontsize=8, ncol=2)
    else:
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, "nothing was charged", transform=ax.transAxes, ha="center")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    name = scenario.simulation.name or "scenario"
    payer = "credits" if scenario.funding.mode == "prepaid" else "the invoice"
    ax.set_title(f"{name}: spend on {payer} by {period} and service (replication {replication})")
    ax.set_ylabel(f"Spend per {period} ({cur})")
    _date_axis(ax, scenario)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_spend(
    tables: dict[str, pd.DataFrame], scenario: Scenario, path: Path, replication: int = 0
) -> Path:
    """Draw ``spend_figure`` into ``path`` (PNG)."""
    spend_figure(tables, scenario, replication).savefig(path)
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
        # The cells' values lie inside the axes, so they are written after the layout:
        # the figure is then drawn once with them, not twice (a 20 x 20 grid's 400 texts).
        middle = np.nanmean(data) if np.isfinite(data).any() else 0.0
        for i, j in zip(*np.nonzero(np.isfinite(data)), strict=True):
            ax.text(
                j,
                i,
                fmt.format(data[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if data[i, j] > middle else "black",
            )
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


BANDS_FACET_RATIO = 10.0
"""Picked settings whose balances differ by more than this factor get a panel each."""


def bands_figure(
    bands: pd.DataFrame,
    picks: dict[int, str],
    labels: dict[int, str],
    scenario: Scenario,
) -> Figure:
    """Draw daily balance P10-P90 bands (and P50) of the picked settings.

    ``bands``: the typed ``bands`` table (``date``, ``p10_micros`` ...) or the sweep's own
    (``day``, ``p10`` ... in currency units). When the picked settings' typical balances
    differ by more than ``BANDS_FACET_RATIO`` each gets its own panel (own y scale).
    """
    cur = scenario.simulation.currency
    start = pd.Timestamp(scenario.simulation.start)
    colours = ["#d62728", "#1f4e79", "#2ca02c", "#9467bd", "#ff7f0e"]
    frames = {v: _band_units(bands[bands["variant"] == v], start) for v in sorted(picks)}
    scale = [float(f["p90"].max()) for f in frames.values() if len(f) and f["p90"].max() > 0]
    facets = len(scale) > 1 and max(scale) / min(scale) > BANDS_FACET_RATIO
    n = len(frames) if facets else 1
    fig = Figure(figsize=(11, 3.2 * n if facets else 5), dpi=110)
    axes = list(np.atleast_1d(fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]))
    for k, (variant, b) in enumerate(frames.items()):
        ax = axes[k if facets else 0]
        c = colours[k % len(colours)]
        role = picks[variant]
        ax.fill_between(b["x"], b["p10"], b["p90"], color=c, alpha=0.18)
        ax.plot(
            b["x"], b["p50"], color=c, lw=1.4, label=f"{role}: {labels[variant]} (P50, P10-P90)"
        )
        risky = b["p_at_or_below_zero"] > 0
        if risky.any():
            ax.scatter(b["x"][risky], np.zeros(int(risky.sum())), marker="|", color=c, s=40)
        trigger = [v for p, v in _values_of(labels[variant]) if p == "recharge.trigger"]
        if trigger:
            ax.axhline(float(trigger[0]), color=c, ls=":", lw=1)
    for ax in axes:
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
        ax.set_ylabel(f"Balance ({cur})")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
        _date_axis(ax, scenario)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    axes[0].set_title(
        "Day-end balance across replications (dotted: triggers; ticks at 0: days "
        "with a replication at or below zero)" + ("; one panel per setting" if facets else "")
    )
    fig.tight_layout()
    return fig


def _band_units(b: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Return x (day ends), p10/p50/p90 in currency units and the share at zero."""
    if "p10_micros" in b:
        x = pd.to_datetime(b["date"]) + pd.Timedelta(days=1)
        vals = {k: b[f"{k}_micros"].to_numpy() / MICROS_PER_UNIT for k in ("p10", "p50", "p90")}
    else:
        x = start + pd.to_timedelta(b["day"] + 1, unit="D")
        vals = {k: b[k].to_numpy(dtype=float) for k in ("p10", "p50", "p90")}
    return pd.DataFrame(
        {"x": pd.DatetimeIndex(x), **vals, "p_at_or_below_zero": b["p_at_or_below_zero"].to_numpy()}
    )


def plot_bands(
    bands: pd.DataFrame,
    picks: dict[int, str],
    labels: dict[int, str],
    scenario: Scenario,
    grid: object,
    path: Path,
) -> Path:
    """Draw ``bands_figure`` into ``path`` (PNG); ``grid`` is not used."""
    bands_figure(bands, picks, labels, scenario).savefig(path)
    return path


def _values_of(label: str) -> list[tuple[str, str]]:
    out = []
    for part in label.split(", "):
        if "=" in part:
            p, v = part.split("=", 1)
            out.append((p, v))
    return out

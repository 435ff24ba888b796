"""Report folders of ``ccsim forecast`` and ``ccsim compare``: tables, charts, manifest.

Each report is computed by its own module (``forecast``, ``compare``, ``breakeven``) and
drawn by ``cost_plots``; this module writes them into an atomic run folder with the
scenario, the licence prices and a manifest, as ``ccsim run`` writes its own
(``sim.scenario.folders``). Defines no model logic.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.units import SECONDS_PER_DAY, Micros, format_money
from sim.reports.alerts import AlertPolicy, lead_summary, suggest_threshold
from sim.reports.breakeven import breakeven
from sim.reports.compare import Comparison, compare
from sim.reports.cost_plots import breakeven_figure, forecast_figure, plans_figure
from sim.reports.forecast import Forecast, components_of, forecast, forecast_tables
from sim.reports.html import write_report
from sim.reports.licences import LicencePrices, find_prices
from sim.reports.plan_runs import DEFAULT_PLANS
from sim.reports.runway import plot_runway, runway
from sim.reports.tables import with_currency, write_typed_table
from sim.scenario.folders import RESULTS_ROOT, RunFolder
from sim.scenario.loading import LoadedScenario


class ReportFolder(RunFolder):
    """A run folder (default root ``results/``) whose manifest names the licence prices.

    Use as a context manager: on any exception (Ctrl-C included) the staging folder is
    removed and nothing is left behind; ``finish`` renames it into place.
    """

    def __init__(self, out: Path | None, name: str, root: Path = RESULTS_ROOT) -> None:
        super().__init__(out, name, root)

    def finish(  # type: ignore[override]  # takes the prices too
        self,
        loaded: LoadedScenario,
        prices: LicencePrices | None,
        manifest: dict[str, Any],
        command: Sequence[str] = (),
    ) -> Path:
        """Write the scenario, the prices and the manifest, then publish the folder."""
        price_info: dict[str, Any] | None = None
        if prices is not None:
            price_info = {"file": prices.source, "sha256": prices.sha256}
            if prices.source and Path(prices.source).is_file():
                shutil.copyfile(prices.source, self.path("prices.csv"))
        return super().finish(loaded, {"licence_prices": price_info, **manifest}, command)


def write_forecast(
    fc: Forecast,
    loaded: LoadedScenario,
    *,
    out: Path | None = None,
    workers: int = 1,
    command: Sequence[str] = (),
) -> Path:
    """Write a new run folder (atomically): tables, the fan chart and the manifest."""
    with ReportFolder(out, f"{fc.name}-forecast") as folder:
        for name, frame in forecast_tables(fc).items():
            written = write_typed_table(frame, folder.staging, name, "forecast")
            folder.add(*(p.name for p in written))
        (folder.staging / "plots").mkdir()
        fig = forecast_figure(fc)
        fig.savefig(folder.staging / "plots" / "forecast-fan.png")
        folder.add("plots/forecast-fan.png")
        if fc.runway is not None:
            currency = fc.runway.scenario.simulation.currency
            for name, frame in fc.runway.tables().items():
                typed = with_currency(frame, currency)
                written = write_typed_table(typed, folder.staging, name, "forecast")
                folder.add(*(p.name for p in written))
            plot_runway(fc.runway, folder.staging / "plots" / "runway.png")
            folder.add("plots/runway.png")
        if fc.alerts:
            alerts = pd.DataFrame(fc.alerts)
            written = write_typed_table(alerts, folder.staging, "alert_leads", "forecast")
            folder.add(*(p.name for p in written))
        total = fc.totals.iloc[0]
        return folder.finish(
            loaded,
            fc.prices,
            {
                "kind": "forecast",
                "replications": fc.replications,
                "workers": workers,
                "funding_mode": fc.scenario.funding.mode,
                "components": list(components_of(fc.scenario)),
                "horizon_total": {
                    k: format_money(Micros(int(total[f"{k}_micros"])))
                    for k in ("p10", "p50", "p90", "mean")
                },
            },
            command,
        )


def run_forecast(
    loaded: LoadedScenario,
    *,
    replications: int | None = None,
    workers: int = 1,
    prices: LicencePrices | None = None,
    out: Path | None = None,
    progress: Callable[[float], None] | None = None,
    command: Sequence[str] = (),
) -> tuple[Path, Forecast]:
    """Forecast and write a new run folder; return it and the forecast."""
    fc = forecast(
        loaded, replications=replications, workers=workers, prices=prices, progress=progress
    )
    if fc.scenario.funding.mode == "prepaid":
        fc = replace(fc, **_runway_and_alerts(loaded, fc.replications, workers))
    folder = write_forecast(fc, loaded, out=out, workers=workers, command=command)
    write_report(folder)
    return folder, fc


def _runway_and_alerts(loaded: LoadedScenario, replications: int, workers: int) -> dict[str, Any]:
    """Return the runway and the lead times of the current and a suggested alert."""
    rw = runway(loaded, replications=replications, workers=workers)
    runs = rw.runs["no recharge"]
    rows = []
    low = loaded.scenario.funding.low_balance
    if low:
        rows.append(lead_summary(runs, AlertPolicy(f"current {format_money(low)}", (int(low),))))
    suggested = suggest_threshold(runs, target_lead_s=3 * SECONDS_PER_DAY)
    if suggested:
        name = f"suggested {format_money(suggested)}"
        rows.append(lead_summary(runs, AlertPolicy(name, (int(suggested),))))
    where = {"data_window": rw.meta["data_window"], "last_data": str(rw.meta["last_data"])}
    return {"runway": rw, "alerts": [{**row, **where} for row in rows]}


def write_comparison(
    cmp: Comparison,
    loaded: LoadedScenario,
    *,
    out: Path | None = None,
    workers: int = 1,
    command: Sequence[str] = (),
) -> Path:
    """Write a new run folder (atomically): tables, charts and the manifest."""
    with ReportFolder(out, f"{cmp.name}-compare") as folder:
        frames = [
            (cmp.summary, "plans"),
            (cmp.monthly, "plans_monthly"),
            (cmp.runs, "runs"),
            (cmp.licences, "licence_fees"),
        ]
        if cmp.breakeven is not None:
            frames.append((cmp.breakeven.grid, "breakeven"))
        for frame, name in frames:
            written = write_typed_table(frame, folder.staging, name, "compare")
            folder.add(*(p.name for p in written))
        (folder.staging / "plots").mkdir()
        plans_figure(cmp).savefig(folder.staging / "plots" / "plans.png")
        folder.add("plots/plans.png")
        be_info: dict[str, Any] | None = None
        if cmp.breakeven is not None:
            be = cmp.breakeven
            breakeven_figure(be).savefig(folder.staging / "plots" / "breakeven.png")
            folder.add("plots/breakeven.png")
            be_info = {
                "plans": list(be.plans),
                "group": be.group,
                "users": be.users,
                "replications": be.replications,
                "minutes_per_user_month": be.minutes,
                "calls_per_user_day": be.calls_per_user_day,
                "cost_per_user_month": None
                if be.cost_micros is None
                else format_money(Micros(round(be.cost_micros))),
                "licence_per_user_month": {p: format_money(Micros(f)) for p, f in be.fees.items()},
                "answer": be.text(),
            }
        return folder.finish(
            loaded,
            cmp.prices,
            {
                "kind": "compare",
                "plans": cmp.plans,
                "groups": cmp.groups,
                "replications": cmp.replications,
                "workers": workers,
                "identical_traffic": cmp.identical_traffic,
                "breakeven": be_info,
            },
            command,
        )


def run_comparison(
    loaded: LoadedScenario,
    plans: Sequence[str] = DEFAULT_PLANS,
    *,
    groups: Sequence[str] | None = None,
    replications: int | None = None,
    workers: int = 1,
    prices: LicencePrices | None = None,
    breakeven_plan: str | None = "domestic",
    breakeven_group: str | None = None,
    breakeven_users: int = 200,
    out: Path | None = None,
    progress: Callable[[float], None] | None = None,
    breakeven_progress: Callable[[int, int], None] | None = None,
    command: Sequence[str] = (),
) -> tuple[Path, Comparison]:
    """Compare plans (and find the PAYG break-even), then write a new run folder."""
    prices = prices or find_prices(loaded)
    cmp = compare(
        loaded,
        plans,
        groups=groups,
        replications=replications,
        workers=workers,
        prices=prices,
        progress=progress,
    )
    if breakeven_plan is not None:
        cmp.breakeven = breakeven(
            loaded,
            prices,
            plan=breakeven_plan,
            group=breakeven_group,
            users=breakeven_users,
            replications=max(2, min(cmp.replications, 4)),
            workers=workers,
            progress=breakeven_progress,
        )
    folder = write_comparison(cmp, loaded, out=out, workers=workers, command=command)
    write_report(folder)
    return folder, cmp


__all__ = [
    "ReportFolder",
    "run_comparison",
    "run_forecast",
    "write_comparison",
    "write_forecast",
]

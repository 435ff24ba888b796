"""The back-test's run folder and chart: tables, ``backtest.png`` and ``manifest.json``.

``write_backtest`` writes the tables of a ``BacktestResult`` typed by their schemas
(``sim.reports.tables``, folder kind ``backtest``: Parquet with exact ``*_micros`` and
dates, CSV with decimal money; a ``currency`` column names the base scenario's billing
currency) and the chart into a new run folder, staged and
renamed into place (``sim.scenario.folders.RunFolder``), with a manifest naming the base
scenario, seed, version, methods, data window and date of the last data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.calllogs.backtest import BANDS, BacktestResult
from sim.calllogs.report import ImportReport
from sim.calllogs.users import file_sha256
from sim.reports.tables import with_currency, write_typed_table
from sim.scenario.folders import RunFolder
from sim.scenario.loading import LoadedScenario


def plot_backtest(result: BacktestResult, path: Path) -> Path:
    """Draw coverage of both bands and CRPS by method; the title names method and data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = result.summary
    methods = list(summary["method"])
    x = np.arange(len(methods))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    width = 0.38
    for i, (band, lo, hi) in enumerate(BANDS):
        cov = summary[f"coverage_{band}"].to_numpy()
        err = np.vstack(
            [
                cov - summary[f"coverage_{band}_low"].to_numpy(),
                summary[f"coverage_{band}_high"].to_numpy() - cov,
            ]
        )
        label = f"P{round(lo * 100)}-P{round(hi * 100)} (nominal {hi - lo:.0%})"
        ax1.bar(x + (i - 0.5) * width, cov, width, yerr=err, capsize=3, label=label)
        ax1.axhline(hi - lo, color=f"C{i}", linestyle="--", linewidth=1)
    ax1.set_xticks(x, methods)
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel("share of test weeks inside the band (95 % Wilson interval)")
    ax1.set_title("Coverage of the forecast bands")
    ax1.legend(loc="lower right", fontsize=8)
    crps = summary["crps_micros"].to_numpy() / 1e6
    ax2.bar(x, crps, 0.6, color="C2")
    ax2.set_xticks(x, methods)
    ax2.set_ylabel(f"mean CRPS per week ({result.meta.get('currency', '')})")
    ax2.set_title("CRPS of weekly spend (lower is better)")
    fig.suptitle(f"Back-test of weekly spend\n{result.caption()}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_backtest(
    result: BacktestResult,
    base: LoadedScenario,
    log: str | Path,
    report: ImportReport,
    *,
    out: Path | None = None,
    plots: bool = True,
    command: Sequence[str] = (),
) -> Path:
    """Write the back-test's folder (tables, chart, manifest) atomically; return it."""
    with RunFolder(out, f"{base.name}-backtest") as folder:
        currency = str(result.meta.get("currency") or base.scenario.simulation.currency)
        for name, frame in result.tables().items():
            typed = with_currency(frame, currency)
            written = write_typed_table(typed, folder.staging, name, "backtest")
            folder.add(*(p.name for p in written))
        if plots:
            plot_backtest(result, folder.path("plots/backtest.png"))
        manifest: dict[str, Any] = {
            "kind": "backtest",
            "method": result.meta["method_descriptions"],
            "data_window": [result.meta["data_from"], result.meta["data_to"]],
            "last_data": result.meta["last_data"],
            "log": {
                "file": str(log),
                "sha256": file_sha256(log),
                "format": report.format,
                "rows": report.rows,
                "imported": report.imported,
                "bad": report.bad,
            },
            "backtest": {k: v for k, v in result.meta.items() if k != "method_descriptions"},
            "seed": result.meta["seed"],
        }
        return folder.finish(base, manifest, command)


__all__ = ["plot_backtest", "write_backtest"]

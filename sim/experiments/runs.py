"""One ``ccsim run``: replications of a scenario into a new, complete run folder.

A run folder holds ``manifest.json``, the scenario as given and resolved, every result
table as Parquet (exact integer micro-units) and CSV (decimal strings), and PNG charts.
It is written into a hidden staging folder and renamed into place at the end: an
interrupted or failed run leaves nothing half-written, and nothing is ever overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sim.core.display import count_text, hours_text, money_text, percent_text, tally_text
from sim.core.progress import share_bar
from sim.core.units import SECONDS_PER_DAY
from sim.core.workers import release_free_memory
from sim.engine.results import TABLES, RunResult
from sim.experiments.replications import run_replications, with_seed
from sim.reports.html import write_report
from sim.reports.tables import write_typed_table
from sim.scenario.folders import RunFolder
from sim.scenario.loading import LoadedScenario


def run_and_write(
    loaded: LoadedScenario,
    *,
    replications: int | None = None,
    seed: int | None = None,
    out: Path | None = None,
    plots: bool = True,
    show_progress: bool = True,
    workers: int = 1,
    command: Sequence[str] = (),
) -> tuple[Path, RunResult]:
    """Run a scenario's replications and write a new run folder; return it and the tables."""
    scenario = with_seed(loaded.scenario, seed)
    n = replications or scenario.simulation.replications
    with RunFolder(out, loaded.name) as folder:
        bar, progress = share_bar(f"{loaded.name}: {n} replication(s)", show_progress)
        with bar:
            per_rep = run_replications(scenario, loaded.tariffs, n, progress, workers)
        release_free_memory()  # the calls are gone: tables and charts need less
        result = RunResult.from_tables(per_rep)
        for name in TABLES:
            written = write_typed_table(result[name], folder.staging, name)
            folder.add(*(p.name for p in written))
        if plots:
            from sim.reports.plots import plot_balance, plot_spend

            plot_balance(result.tables, scenario, folder.path("plots/balance.png"))
            plot_spend(result.tables, scenario, folder.path("plots/spend.png"))
        final = folder.finish(
            replace(loaded, scenario=scenario),  # the resolved scenario shows --seed
            {"seed": scenario.simulation.seed, "replications": n, "workers": workers},
            command,
        )
    write_report(final)
    return final, result


def summary_lines(
    loaded: LoadedScenario, result: RunResult, folder: Path, verbose: bool = False
) -> list[str]:
    """Return a short text summary of a run (means over replications if several).

    Counts are whole numbers for one replication and means with one decimal for several;
    money is shown to the cent (``sim.core.display``). ``verbose`` adds one line per
    replication.
    """
    o = result["outcomes"]
    sc = loaded.scenario
    cur = sc.simulation.currency
    n = len(o)

    def money(col: str) -> str:
        if col not in o:
            return "-"
        return money_text(float(o[col].mean()), cur)

    def tally(col: str) -> str:
        return tally_text(o[col]) if col in o else "-"

    days = sc.horizon_s / SECONDS_PER_DAY
    shown_days = f"{days:g}" if days == int(days) else f"{days:.2f}"
    end = sc.calendar.to_datetime(sc.horizon_s)
    each = " (mean per replication)" if n > 1 else ""
    warm = sc.simulation.warm_up / SECONDS_PER_DAY
    after = f" after a {warm:g}-day warm-up" if warm else ""
    lines = [
        f"ccsim run: {loaded.name}, seed {int(o['seed'].iloc[0])}, {n} replication(s), "
        f"{shown_days} days to {end:%Y-%m-%d %H:%M}{after}, "
        f"{count_text(int(o['users'].iloc[0]))} users{each}",
        f"  calls {tally('calls')} ({tally('retries')} retries); "
        f"spend {money('spent_micros')} ({money('cost_per_user_month_micros')} per user-month)",
    ]
    if "uncharged_cut_off_micros" in o and o["uncharged_cut_off_micros"].mean() > 0:
        lines.append(
            f"  cut off at zero (rated, never charged): {money('uncharged_cut_off_micros')}"
        )
    if sc.funding.mode == "prepaid":
        lines += [
            f"  recharges: {tally('recharges_requested')} requested, "
            f"{tally('recharges_settled')} settled, {tally('recharges_declined')} declined; "
            f"manual purchases {tally('manual_purchases')}",
            f"  bought {money('purchased_auto_micros')} auto + "
            f"{money('purchased_manual_micros')} manual; forfeited {money('forfeited_micros')}; "
            f"final balance {money('final_balance_micros')}",
            f"  outages: {tally('outages')} ({hours_text(float(o['outage_hours'].mean()))} "
            f"at zero); {tally('blocked_attempts')} call attempts blocked; "
            f"P(outage) {percent_text(float(o['outage'].mean()))}",
        ]
        if "usage_invoiced_micros" in o and sc.funding.postpaid_from is not None:
            lines.append(
                f"  switched to postpaid on {sc.funding.postpaid_from.isoformat(sep=' ')}: "
                f"{money('usage_invoiced_micros')} billed as usage after the credit ran out, "
                f"{money('accrued_at_horizon_micros')} of it not yet invoiced at the horizon"
            )
    else:
        lines.append(f"  postpaid invoices: {tally('invoices')}")
    if verbose and n > 1:
        for r in o.to_dict("records"):
            line = (
                f"    replication {int(r['replication'])}: calls {count_text(r['calls'])}, "
                f"spend {money_text(r['spent_micros'], cur)}"
            )
            if sc.funding.mode == "prepaid":
                line += (
                    f", recharges {count_text(r['recharges_settled'])} settled of "
                    f"{count_text(r['recharges_requested'])}, outages {count_text(r['outages'])} "
                    f"({hours_text(r['outage_hours'])}), final balance "
                    f"{money_text(r['final_balance_micros'], cur)}"
                )
            else:
                line += f", invoices {count_text(r['invoices'])}"
            lines.append(line)
    lines.append(f"  results: {folder}/")
    return lines

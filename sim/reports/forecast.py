"""``ccsim forecast``: monthly spend as the invoices would arrive, with its spread.

What finance asks: *what will we pay month by month over the horizon, and how sure is
that?* Each replication's invoices are dated as they would arrive:

- prepaid credits (MOSA): one invoice per settled purchase, for the amount bought, in the
  month the payment settles (``teams-credits.md`` §5: an invoice per recharge): auto-
  recharges, admins' manual top-ups, and the initial funds when bought at the start
  (funds bought before the start were paid before the horizon and are left out);
- NCE/MCA postpaid: one invoice per calendar month of usage, issued when the month ends
  (§6), so the last month's usage is invoiced in the month after the horizon;
- licence fees (``sim.reports.licences``): calling plans and Audio Conferencing, billed for each
  month in that month, pro rata for a month only partly inside the horizon, following
  the scenario's head-count growth. Usage growth acts through the traffic itself.

Across replications: P10/P50/P90 and mean of each month's total and of the horizon's
total, the mean of each component, the credits consumed by calls, and the expected
forfeited (expired) funds by month. Money stays in integer micro-units; statistics are
rounded to whole cents at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.billing.account import PaymentState
from sim.billing.ledger import EntryKind, LotSource
from sim.core.display import money_text
from sim.core.errors import InputError
from sim.core.workers import map_tasks
from sim.engine import RunOutput, run_replication
from sim.engine.results import local_times, tables_of
from sim.reports.licences import (
    LicencePrices,
    PriceFileError,
    find_prices,
    licence_fees,
    month_label_after,
    months_of,
    user_months,
)
from sim.reports.plan_runs import check_no_warm_up
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.telephony.tariffs import TariffBook

PREPAID_COMPONENTS = ("licences", "credits_initial", "credits_auto", "credits_manual")
POSTPAID_COMPONENTS = ("licences", "postpaid_usage")
COMPONENT_TITLES = {
    "licences": "licence fees",
    "credits_initial": "initial credits",
    "credits_auto": "auto-recharges",
    "credits_manual": "manual top-ups",
    "postpaid_usage": "usage invoice (in arrears)",
}
CENT_MICROS = 10_000
INVOICE_COLUMNS = ["replication", "t_s", "month", "component", "ref", "amount_micros"]
"""The invoices' columns as built; ``currency`` and the local ``time`` are added at the end."""


def components_of(scenario: Scenario) -> tuple[str, ...]:
    """Return the invoice components of a scenario's funding mode.

    Credits with a switch to postpaid (§10.3) have both: purchases, then usage invoices.
    """
    if scenario.funding.mode != "prepaid":
        return POSTPAID_COMPONENTS
    if scenario.funding.postpaid_from is not None:
        return (*PREPAID_COMPONENTS, "postpaid_usage")
    return PREPAID_COMPONENTS


@dataclass
class Bills:
    """One replication's invoices for usage, and what the ledger says about them."""

    replication: int
    invoices: pd.DataFrame
    """Every credit purchase or postpaid invoice: ``INVOICE_COLUMNS`` (no licences)."""
    purchased_micros: int
    """Ledger lots bought at or after the start (prepaid), or usage billed (postpaid)."""
    usage: dict[str, int]
    """Calls charged, by month of the charge (credits consumed, or postpaid usage)."""
    forfeited: dict[str, int]
    """Expired (forfeited) funds, by month of expiry."""
    outcomes: pd.DataFrame


def bills_of(out: RunOutput) -> Bills:
    """Date a replication's invoices as they would arrive (see the module notes)."""
    sc = out.scenario
    cal = sc.calendar
    rows: list[dict[str, object]] = []

    def add(t_s: float, month: str, component: str, ref: str, amount: int) -> None:
        rows.append(
            {
                "replication": out.replication,
                "t_s": t_s,
                "month": month,
                "component": component,
                "ref": ref,
                "amount_micros": int(amount),
            }
        )

    forfeited: dict[str, int] = {}
    purchased = 0
    if out.account is not None:
        led = out.account.ledger
        for lot in led.lots:
            if lot.source is LotSource.INITIAL and lot.purchased_at_s >= 0:
                month = cal.month_label(lot.purchased_at_s)
                add(lot.purchased_at_s, month, "credits_initial", "initial funds", lot.amount)
            if lot.purchased_at_s >= 0:
                purchased += lot.amount
        for p in out.account.payments:
            if p.state is not PaymentState.SETTLED or p.completed_at_s is None:
                continue
            component = "credits_auto" if p.source is LotSource.AUTO else "credits_manual"
            month = cal.month_label(p.completed_at_s)
            add(p.completed_at_s, month, component, f"payment {p.payment_id}", p.amount)
        for e in led.entries:
            if e.kind is EntryKind.EXPIRE:
                month = cal.month_label(max(e.t_s, 0.0))
                forfeited[month] = forfeited.get(month, 0) - e.amount
    usage_account = out.postpaid or (out.account.postpaid if out.account else None)
    if usage_account is not None:
        for inv in usage_account.invoices:
            month = cal.month_label(inv.issued_at_s)
            add(inv.issued_at_s, month, "postpaid_usage", f"usage {inv.month}", inv.amount)
            purchased += inv.amount
        # The month still open at the horizon is invoiced when it ends, after the horizon.
        last_s = max(0.0, sc.horizon_s - 1.0)
        usage_month = f"usage {cal.month_label(last_s)}"
        add(
            sc.horizon_s,
            month_label_after(sc, last_s),
            "postpaid_usage",
            usage_month,
            usage_account.accrued,
        )
        purchased += usage_account.accrued
    usage: dict[str, int] = {}
    start = cal.start.date()
    for day, amounts in out.spend:
        month = (start + timedelta(days=day)).strftime("%Y-%m")
        usage[month] = usage.get(month, 0) + int(amounts.sum())
    outcomes = tables_of(out)["outcomes"]
    invoices = pd.DataFrame(rows, columns=INVOICE_COLUMNS)
    return Bills(out.replication, invoices, purchased, usage, forfeited, outcomes)


def replication_bills(scenario: Scenario, tariffs: TariffBook | None, replication: int) -> Bills:
    """Run one replication and return its dated invoices (a task for ``map_tasks``)."""
    return bills_of(run_replication(scenario, tariffs, replication))


def to_cents(value: float) -> int:
    """Round a statistic in micro-units to whole cents (half away from zero)."""
    return int(np.sign(value) * np.floor(abs(value) / CENT_MICROS + 0.5)) * CENT_MICROS


def spread(values: Sequence[int] | np.ndarray) -> dict[str, int]:
    """Return P10, P50, P90 and mean of amounts in micro-units, rounded to cents."""
    v = np.asarray(values, dtype=np.float64)
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return {
        "p10_micros": to_cents(p10),
        "p50_micros": to_cents(p50),
        "p90_micros": to_cents(p90),
        "mean_micros": to_cents(float(v.mean())),
    }


@dataclass
class Forecast:
    """Invoices of every replication and their monthly spread."""

    scenario: Scenario
    name: str
    prices: LicencePrices
    replications: int
    invoices: pd.DataFrame
    """Every invoice of every replication (licences: one per month), exact."""
    monthly: pd.DataFrame
    """Replication x month x component: invoiced amount (``amount_micros``)."""
    table: pd.DataFrame
    """The finance table, one row per month: P10/P50/P90/mean of the total, mean by
    component, credits consumed and expected forfeited funds."""
    totals: pd.DataFrame
    """One row: the same for the whole horizon (``first_month``, ``last_month``)."""
    components: pd.DataFrame
    """Month x component: P10/P50/P90/mean."""
    component_totals: pd.DataFrame
    """Component: P10/P50/P90/mean over the whole horizon."""
    licences: pd.DataFrame
    """Licence fees by month, group and licence (``sim.reports.licences.licence_fees``)."""
    outcomes: pd.DataFrame
    purchased: dict[int, int]
    """Per replication: the ledger's purchases at or after the start (prepaid) or the
    usage billed (postpaid), in micro-units; equals that replication's usage invoices."""
    runway: Any = None
    """Prepaid only: the runway (``sim.reports.runway.Runway``), when it was computed."""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    """Lead times of the current and a suggested low-balance e-mail (``lead_summary``)."""

    @property
    def currency(self) -> str:
        """Return the billing currency."""
        return self.scenario.simulation.currency

    @property
    def user_months(self) -> float:
        """Return the user-months inside the horizon."""
        return user_months(self.scenario)


def forecast(
    loaded: LoadedScenario,
    *,
    replications: int | None = None,
    workers: int = 1,
    prices: LicencePrices | None = None,
    progress: Callable[[float], None] | None = None,
) -> Forecast:
    """Simulate ``replications`` runs and forecast the monthly invoices.

    ``prices``: licence prices (default: ``sim.reports.licences.find_prices``). Raises
    ``sim.core.errors.InputError`` for bad prices (currency, a licence without a price).
    """
    check_no_warm_up(loaded, "a forecast")
    scenario = loaded.scenario
    n = replications or scenario.simulation.replications
    prices = prices or find_prices(loaded)
    try:
        fees = licence_fees(scenario, prices)
    except PriceFileError as exc:
        raise InputError(str(exc)) from None
    bills: list[Bills] = map_tasks(
        replication_bills,
        [(scenario, loaded.tariffs, rep) for rep in range(n)],
        workers,
        progress,
    )
    months = [m.label for m in months_of(scenario)]
    fee_by_month = fees.groupby("month")["fee_micros"].sum()
    licence_rows = pd.DataFrame(
        [
            {
                "replication": b.replication,
                "t_s": m.start_s,
                "month": m.label,
                "component": "licences",
                "ref": f"licences {m.label}",
                "amount_micros": int(fee_by_month.get(m.label, 0)),
            }
            for b in bills
            for m in months_of(scenario)
        ],
        columns=INVOICE_COLUMNS,
    )
    invoices = pd.concat([licence_rows, *(b.invoices for b in bills)], ignore_index=True)
    invoices = invoices.sort_values(["replication", "t_s", "component"], kind="stable")
    invoices = invoices.reset_index(drop=True)
    invoices.insert(2, "time", local_times(scenario.calendar, invoices["t_s"].to_numpy()))
    extra = sorted(set(invoices["month"]) - set(months))
    months += extra  # postpaid: the last month's usage invoice arrives after the horizon
    comps = components_of(scenario)
    grid = pd.MultiIndex.from_product(
        [[b.replication for b in bills], months, list(comps)],
        names=["replication", "month", "component"],
    )
    monthly = (
        invoices.groupby(["replication", "month", "component"])["amount_micros"]
        .sum()
        .reindex(grid, fill_value=0)
        .astype(np.int64)
        .reset_index()
    )
    table, totals, components, component_totals = _tables(monthly, bills, months, comps)
    outcomes = pd.concat([b.outcomes for b in bills], ignore_index=True)
    cur = scenario.simulation.currency
    for frame in (invoices, monthly, table, totals, components, component_totals, fees):
        at = 1 if "replication" in frame.columns else 0
        frame.insert(at, "currency", pd.Series([cur] * len(frame), dtype="str", index=frame.index))
    return Forecast(
        scenario=scenario,
        name=loaded.name,
        prices=prices,
        replications=n,
        invoices=invoices,
        monthly=monthly,
        table=table,
        totals=totals,
        components=components,
        component_totals=component_totals,
        licences=fees,
        outcomes=outcomes,
        purchased={b.replication: b.purchased_micros for b in bills},
    )


def _tables(
    monthly: pd.DataFrame, bills: list[Bills], months: list[str], comps: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    totals = monthly.pivot_table(
        index="replication", columns="month", values="amount_micros", aggfunc="sum"
    ).reindex(columns=months, fill_value=0)
    n = len(bills)
    rows = []
    comp_rows = []
    for month in months:
        row: dict[str, object] = {"month": month, **spread(totals[month].to_numpy())}
        for c in comps:
            values = monthly[(monthly["month"] == month) & (monthly["component"] == c)]
            amounts = values["amount_micros"].to_numpy()
            row[f"{c}_mean_micros"] = to_cents(float(amounts.mean()))
            comp_rows.append({"month": month, "component": c, **spread(amounts)})
        row["calls_charged_mean_micros"] = to_cents(sum(b.usage.get(month, 0) for b in bills) / n)
        used = spread([b.usage.get(month, 0) for b in bills])
        row["calls_charged_p10_micros"] = used["p10_micros"]
        row["calls_charged_p90_micros"] = used["p90_micros"]
        row["forfeited_mean_micros"] = to_cents(sum(b.forfeited.get(month, 0) for b in bills) / n)
        rows.append(row)
    whole = totals.sum(axis=1).to_numpy()
    total: dict[str, object] = {"first_month": months[0], "last_month": months[-1]}
    total.update(spread(whole))
    comp_totals = []
    for c in comps:
        per_rep = monthly[monthly["component"] == c].groupby("replication")["amount_micros"].sum()
        total[f"{c}_mean_micros"] = to_cents(float(per_rep.mean()))
        comp_totals.append({"component": c, **spread(per_rep.to_numpy())})
    total["calls_charged_mean_micros"] = to_cents(sum(sum(b.usage.values()) for b in bills) / n)
    used = spread([sum(b.usage.values()) for b in bills])
    total["calls_charged_p10_micros"] = used["p10_micros"]
    total["calls_charged_p90_micros"] = used["p90_micros"]
    total["forfeited_mean_micros"] = to_cents(sum(sum(b.forfeited.values()) for b in bills) / n)
    return (
        pd.DataFrame(rows),
        pd.DataFrame([total]),
        pd.DataFrame(comp_rows),
        pd.DataFrame(comp_totals),
    )


def provenance(fc: Forecast) -> dict[str, str]:
    """Return what a forecast rests on: its method, its data window and its last data.

    A scenario fitted to a call log names the log's window; any other scenario is its own
    data (assumptions), as of its start (the date its ``funding.lots`` describe).
    """
    sim = fc.scenario.simulation
    start = sim.start.date().isoformat()
    end = fc.scenario.calendar.to_datetime(fc.scenario.horizon_s).date().isoformat()
    window = getattr(sim, "data_window", "") or f"scenario {fc.name} (its assumptions)"
    last = getattr(sim, "last_data", None)
    return {
        "method": (
            f"ccsim simulation of {start} to {end}: {fc.replications} replication(s), "
            f"seed {sim.seed}"
        ),
        "data_window": window,
        "last_data": last.isoformat() if last is not None else start,
    }


def provenance_caption(fc: Forecast) -> str:
    """Return the provenance as one line, for charts and pages."""
    p = provenance(fc)
    return f"Method: {p['method']}. Data: {p['data_window']}, last data {p['last_data']}."


def _with_provenance(frame: pd.DataFrame, fc: Forecast) -> pd.DataFrame:
    out = frame.copy()
    for key, value in provenance(fc).items():
        out[key] = pd.Series([value] * len(out), dtype="str", index=out.index)
    return out


def forecast_tables(fc: Forecast) -> dict[str, pd.DataFrame]:
    """Return every table of a forecast folder by its file name (``docs/tables.md``).

    The four summary tables name the method, the data window and the last data.
    """
    return {
        "forecast": _with_provenance(fc.table, fc),
        "forecast_totals": _with_provenance(fc.totals, fc),
        "forecast_components": _with_provenance(fc.components, fc),
        "forecast_component_totals": _with_provenance(fc.component_totals, fc),
        "monthly": fc.monthly,
        "invoices": fc.invoices,
        "licence_fees": fc.licences,
        "outcomes": fc.outcomes,
    }


def summary_lines(fc: Forecast, folder: Path | None = None) -> list[str]:
    """Return the forecast as text: one line per month (P10 / P50 / P90, mean), to the cent."""
    cur = fc.currency

    def money(v: Any) -> str:
        return f"{money_text(float(v)):>12}"

    lines = [
        f"ccsim forecast: {fc.name}, {fc.replications} replication(s), "
        f"{fc.scenario.funding.mode} funding; invoices per month in {cur}",
        f"  {'month':8} {'P10':>12} {'P50':>12} {'P90':>12} {'mean':>12} {'forfeited':>12}",
    ]
    rows = [*fc.table.to_dict("records"), {**fc.totals.iloc[0].to_dict(), "month": "total"}]
    for r in rows:
        lines.append(
            f"  {r['month']:8} {money(r['p10_micros'])} {money(r['p50_micros'])} "
            f"{money(r['p90_micros'])} {money(r['mean_micros'])} "
            f"{money(r['forfeited_mean_micros'])}"
        )
    if fc.runway is not None:
        from sim.reports.runway import runway_lines

        lines += runway_lines(fc.runway)
    if fc.alerts:
        from sim.reports.alerts import alert_lines

        lines.append("low-balance e-mails: warning before the balance reaches zero (no recharge)")
        lines += alert_lines(fc.alerts, cur)
    if folder is not None:
        lines.append(f"  results: {folder}/")
    return lines


__all__ = [
    "COMPONENT_TITLES",
    "POSTPAID_COMPONENTS",
    "PREPAID_COMPONENTS",
    "Bills",
    "Forecast",
    "bills_of",
    "components_of",
    "forecast",
    "forecast_tables",
    "provenance",
    "provenance_caption",
    "replication_bills",
    "spread",
    "summary_lines",
]

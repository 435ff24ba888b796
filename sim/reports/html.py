"""``report.html``: one self-contained page for a finished run, sweep, forecast or comparison.

The page reads the folder only (its ``manifest.json``, tables and PNG charts), so it can
be rebuilt at any time (``ccsim report RUN_DIR``) and needs nothing from the layers above.
The answer comes first in plain words, then the charts (inline base64 PNG), the key
tables, and the scenario and manifest facts. CSS is inline and nothing refers to the
network. Money is shown to the cent, counts as integers.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from sim.core.errors import InputError
from sim.core.files import read_bytes, read_manifest
from sim.reports.forecast import spread

TEMPLATE = "report.html.j2"
REPORT_NAME = "report.html"
KIND_TEXT = {
    "run": "Simulation run (ccsim run)",
    "sweep": "Settings sweep (ccsim sweep)",
    "recommend": "Recommendation (ccsim recommend)",
    "forecast": "Invoice forecast (ccsim forecast)",
    "compare": "Plan comparison (ccsim compare)",
}
CAPTIONS = {
    "balance": "Communications-credit balance over the horizon (replication 0).",
    "spend": "Spend by service, per week or month (replication 0).",
    "forecast-fan": "Monthly invoices: P10 to P90 across replications, median and mean.",
    "runway": "Share of runs whose balance has reached zero, by date, with and without recharge.",
    "plans": "Cost per user-month by calling plan, with the outage risk.",
    "breakeven": "Cost per user-month against usage: where the plans break even.",
    "frontier": "Outage risk against annual cost for every setting.",
    "balance-bands": "Day-end balance across replications for the picked settings.",
}


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and whether it is a number (right-aligned)."""

    text: str
    num: bool = False


@dataclass(frozen=True)
class Table:
    """A table as shown: title, caption, header and rows of cells."""

    title: str
    caption: str
    header: list[str]
    rows: list[list[Cell]]


def money_text(micros: float | int) -> str:
    """Return micro-units as currency units to the cent (half away from zero), grouped."""
    if pd.isna(micros):
        return ""
    d = (Decimal(round(micros)) / Decimal(1_000_000)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    return f"{d:,.2f}"


def count_text(value: float | int) -> str:
    """Return a count as an integer with thousands separators."""
    return "" if pd.isna(value) else f"{round(float(value)):,d}"


def kind_of(manifest: dict[str, Any]) -> str:
    """Return the folder's kind: run, sweep, recommend, forecast or compare."""
    kind = str(manifest.get("kind") or "run")
    if kind not in KIND_TEXT:
        raise InputError(f"manifest.json: kind {kind!r}: no report page for this kind of folder")
    return kind


def _table(
    frame: pd.DataFrame,
    title: str,
    columns: Sequence[str],
    currency: str,
    caption: str = "",
    max_rows: int = 40,
) -> Table:
    cols = [c for c in columns if c in frame.columns]
    header = []
    for c in cols:
        if c.endswith("_micros"):
            header.append(f"{c[: -len('_micros')].replace('_', ' ')} ({currency})")
        else:
            header.append(c.replace("_", " "))
    rows = []
    for rec in frame[cols].head(max_rows).to_dict("records"):
        row = []
        for c in cols:
            v = rec[c]
            if c.endswith("_micros"):
                row.append(Cell(money_text(v), True))
            elif isinstance(v, bool):
                row.append(Cell("yes" if v else "no"))
            elif isinstance(v, int):
                row.append(Cell(count_text(v), True))
            elif isinstance(v, float):
                text = f"{v:.1%}" if c.startswith("p_") else f"{v:,.1f}"
                row.append(Cell("" if pd.isna(v) else text, True))
            elif isinstance(v, pd.Timestamp):
                row.append(Cell(v.isoformat()))
            else:
                row.append(Cell(str(v)))
        rows.append(row)
    if len(frame) > max_rows:
        caption = f"{caption} First {max_rows} of {len(frame):,d} rows.".strip()
    return Table(title, caption, header, rows)


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def _run_page(folder: Path, m: dict[str, Any], cur: str) -> tuple[list[str], list[Table]]:
    o = _read(folder, "outcomes")
    if o.empty:
        return ["This run folder has no outcomes table."], []
    n = len(o)
    days = float(o["horizon_days"].iloc[0])
    each = f" (mean of {n:,d} replications)" if n > 1 else ""
    lines = [
        f"Over {days:,.0f} days with {count_text(o['users'].iloc[0])} users, calls cost "
        f"{money_text(o['spent_micros'].mean())} {cur}, that is "
        f"{money_text(o['cost_per_user_month_micros'].mean())} {cur} per user-month{each}."
    ]
    if "recharges_requested" in o:
        outages = int(o["outages"].sum())
        lines.append(
            f"The balance reached zero {count_text(o['outages'].mean())} time(s) per replication "
            f"({o['outage_hours'].mean():,.1f} hours at zero, "
            f"{count_text(o['blocked_attempts'].mean())} call attempts refused); "
            f"{o['outage'].mean():.0%} of replications had an outage."
            if outages
            else "The balance never reached zero: no call was refused."
        )
        lines.append(
            f"Auto-recharges: {count_text(o['recharges_settled'].mean())} settled and "
            f"{count_text(o['recharges_declined'].mean())} declined; final balance "
            f"{money_text(o['final_balance_micros'].mean())} {cur}, forfeited "
            f"{money_text(o['forfeited_micros'].mean())} {cur}."
        )
    cols = [
        "replication",
        "calls",
        "spent_micros",
        "cost_per_user_month_micros",
        "outages",
        "outage_hours",
        "blocked_attempts",
        "recharges_settled",
        "recharges_declined",
        "final_balance_micros",
        "min_balance_micros",
        "forfeited_micros",
        "invoices",
    ]
    tables = [_table(o, "Outcomes by replication", cols, cur)]
    pays = _read(folder, "payments")
    if len(pays):
        tables.append(
            _table(
                pays[pays["replication"] == 0],
                "Payments (replication 0)",
                ["payment_id", "source", "amount_micros", "requested_at", "state", "attempts"],
                cur,
            )
        )
    return lines, tables


def _sweep_page(folder: Path, m: dict[str, Any], cur: str) -> tuple[list[str], list[Table]]:
    text = folder / "recommendation.txt"
    lines = [ln for ln in text.read_text().splitlines() if ln.strip()] if text.exists() else []
    s = _read(folder, "settings")
    if not lines and len(s):
        lines = [f"{len(s):,d} settings compared."]
    cols = [
        "variant",
        "setting",
        "replications",
        "p_outage",
        "p_outage_high",
        "annual_cost_micros",
        "recommended",
        "current",
    ]
    if "annual_cost_micros" in s:
        s = s.sort_values("annual_cost_micros")
    return lines, [_table(s, "Settings, cheapest first", cols, cur)] if len(s) else []


def _forecast_page(folder: Path, m: dict[str, Any], cur: str) -> tuple[list[str], list[Table]]:
    table = _read(folder, "forecast")
    totals = _read(folder, "forecast_totals")
    if totals.empty:
        totals = horizon_totals(_read(folder, "monthly"))
    lines = []
    if len(totals):
        t = totals.iloc[0]
        lines.append(
            f"Over the horizon the invoices total {money_text(t['p50_micros'])} {cur} "
            f"(median); 8 in 10 replications fall between {money_text(t['p10_micros'])} and "
            f"{money_text(t['p90_micros'])} {cur}."
        )
    cols = [
        "month",
        "p10_micros",
        "p50_micros",
        "p90_micros",
        "mean_micros",
        "calls_charged_mean_micros",
        "forfeited_mean_micros",
    ]
    caption = ""
    if len(table) and "method" in table.columns:
        r = table.iloc[0]
        caption = f"Method: {r['method']}. Data: {r['data_window']}, last data {r['last_data']}."
    tables = [_table(table, "Invoices by month", cols, cur, caption)] if len(table) else []
    runway = _read(folder, "runway")
    if len(runway):
        cases = runway.to_dict("records")
        for case in cases:
            if case["case"] == "no recharge":
                lines.append(
                    f"Without any recharge the balance reaches zero around {case['p50_date']} "
                    f"(P10 {case['p10_date']}, P90 {case['p90_date']})."
                )
        tables.append(
            _table(
                runway,
                "Runway: when the balance reaches zero",
                ["case", "reach_zero_share", "p10_date", "p50_date", "p90_date"],
                cur,
                f"Method: {cases[0].get('method', '')}. Data: {cases[0].get('data_window', '')}.",
            )
        )
    for name, title in (("runway_lots", "Held lots: forfeits"), ("runway_pools", "Minute pools")):
        frame = _read(folder, name)
        if len(frame):
            tables.append(_table(frame, title, list(frame.columns), cur))
    leads = _read(folder, "alert_leads")
    if len(leads):
        tables.append(
            _table(
                leads,
                "Low-balance e-mails: warning before the balance reaches zero (days)",
                ["policy", "events", "lead_p10_days", "lead_p50_days", "lead_p90_days"],
                cur,
                "E-mails arrive 24-48 h after the balance falls (teams-credits.md §2.3).",
            )
        )
    return lines or ["This forecast folder has no invoices."], tables


def horizon_totals(monthly: pd.DataFrame) -> pd.DataFrame:
    """Return P10/P50/P90/mean of each replication's horizon total (``monthly`` table)."""
    if monthly.empty:
        return pd.DataFrame()
    per_rep = monthly.groupby("replication")["amount_micros"].sum().to_numpy()
    return pd.DataFrame([spread(per_rep)])


def _compare_page(folder: Path, m: dict[str, Any], cur: str) -> tuple[list[str], list[Table]]:
    plans = _read(folder, "plans")
    lines = []
    if len(plans):
        best = plans.sort_values("total_per_user_month_micros").iloc[0]
        lines.append(
            f"Cheapest plan: {best['plan']} at {money_text(best['total_per_user_month_micros'])} "
            f"{cur} per user-month (licences and calls), of {len(plans):,d} plans compared."
        )
    be = m.get("breakeven")
    if isinstance(be, dict) and be.get("answer"):
        lines.append(str(be["answer"]))
    cols = [
        "plan",
        "licences_per_user_month_micros",
        "credits_per_user_month_micros",
        "total_per_user_month_micros",
        "total_mean_micros",
        "p_outage",
    ]
    return lines or ["No plans were compared."], [_table(plans, "Plans", cols, cur)]


PAGES = {
    "run": _run_page,
    "sweep": _sweep_page,
    "recommend": _sweep_page,
    "forecast": _forecast_page,
    "compare": _compare_page,
}


MAX_PLOT_BYTES = 20 * 1024 * 1024
"""Largest plot embedded in a report (the tool's own are well under a megabyte)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _figures(folder: Path) -> list[dict[str, str]]:
    """Return the folder's plots, base64-encoded, with their captions.

    Only the regular PNG files the run wrote are embedded: a symbolic link (which could
    pull any file of the machine into a report meant to be shared), a FIFO or a device
    (which would hang the read), a file too large or one that is not a PNG is refused.
    """
    plots = folder / "plots"
    if plots.is_symlink() or not plots.is_dir():
        if plots.is_symlink():
            raise InputError(f"{plots}: a symbolic link; a report embeds only the run's own plots")
        return []
    out = []
    for png in sorted(plots.glob("*.png")):
        if png.is_symlink():
            raise InputError(f"{png}: a symbolic link; a report embeds only the run's own plots")
        data = read_bytes(png, MAX_PLOT_BYTES, "plot")  # a FileRuleError: one line
        if not data.startswith(_PNG_SIGNATURE):
            raise InputError(f"{png}: not a PNG image; a report embeds only the run's own plots")
        stem = png.stem
        caption = CAPTIONS.get(stem) or stem.replace("-", " ").capitalize() + "."
        out.append({"data": base64.b64encode(data).decode("ascii"), "caption": caption})
    return out


def _facts(m: dict[str, Any]) -> list[tuple[str, str]]:
    facts = []
    sc = m.get("scenario")
    if isinstance(sc, dict):
        for k in ("name", "file", "sha256"):
            if k in sc:
                facts.append((f"scenario {k}", str(sc[k])))
    for key in sorted(m):
        v = m[key]
        if key in ("scenario", "files", "packages", "costs"):
            continue
        if isinstance(v, dict | list):
            v = json.dumps(v, sort_keys=True)
        facts.append((key.replace("_", " "), str(v)))
    packages = m.get("packages")
    if isinstance(packages, dict):
        facts.append(("packages", ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))))
    return facts


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sim.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_report(folder: Path) -> str:
    """Return the HTML text of a finished folder's report page."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise InputError(f"{folder}: no manifest.json: not a finished ccsim folder")
    manifest = read_manifest(path)
    if manifest.get("status") not in (None, "complete"):
        raise InputError(f"{folder}: status {manifest.get('status')!r}: the run is not finished")
    kind = kind_of(manifest)
    cur = str(manifest.get("currency") or _currency_of(folder) or "")
    answer, tables = PAGES[kind](folder, manifest, cur)
    sc = manifest.get("scenario")
    name = sc.get("name") if isinstance(sc, dict) else None
    title = f"{name or folder.name}: {KIND_TEXT[kind].split(' (')[0].lower()}"
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            title=title,
            kind_text=f"{KIND_TEXT[kind]}; money in {cur}" if cur else KIND_TEXT[kind],
            answer=answer,
            figures=_figures(folder),
            tables=tables,
            facts=_facts(manifest),
        )
    )


def _currency_of(folder: Path) -> str | None:
    for name in ("outcomes", "settings", "plans", "forecast"):
        frame = _read(folder, name)
        if "currency" in frame and len(frame):
            return str(frame["currency"].iloc[0])
    return None


def write_report(folder: Path) -> Path:
    """Write ``report.html`` into a finished folder (atomically) and return its path."""
    text = render_report(folder)
    target = folder / REPORT_NAME
    tmp = folder / f".{REPORT_NAME}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


__all__ = ["money_text", "render_report", "write_report"]

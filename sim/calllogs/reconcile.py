"""Reconciling a log's charges: recorded calls rated with the scenario and compared.

``reconcile`` rates the mapped calls with the scenario's plans and rate tables and
compares each with the charge in the log; the difference is always ccsim - log, over the
calls both priced, and the unratable calls (no group, refused by the rating) are counted
and totalled apart. ``reconcile_and_write`` writes the summary, the totals by route, the
problem calls and the mapping into a run folder, typed by their schemas
(``sim.reports.tables``, folder kind ``reconcile``). ``replay_check`` compares a replay's
charges with this rating of the same calls and says why they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calllogs.mapping import MappedCalls
from sim.calllogs.replay import ReplayInfo, _log_manifest
from sim.calllogs.report import ImportReport
from sim.calllogs.traffic_sources import _CT_CODE, _NT_CODE
from sim.core.display import money_text
from sim.core.errors import InputError
from sim.core.units import Calendar, format_money
from sim.engine.results import RunResult
from sim.reports.tables import with_currency, write_typed_table
from sim.scenario.folders import RunFolder
from sim.scenario.loading import LoadedScenario
from sim.telephony.calls import CallBatch
from sim.telephony.rating import (
    Outcome,
    RatingContext,
    Reason,
    Rule,
    rate_batch,
)


@dataclass
class Reconciliation:
    """The log's charges against ccsim's rating of the same calls.

    ``summary``: per call type (and ``all``): calls, matched, differing, unratable; the
    log's and ccsim's totals over the rated calls and their difference (ccsim - log); the
    log's charges of the unratable calls apart; ``by_route``: the rated calls per (call
    type, rule, origin (usage country), destination, number type), to find the rate-table
    row at fault (rows may be keyed by all of them); ``calls``:
    every differing or unratable call.
    """

    summary: pd.DataFrame
    by_route: pd.DataFrame
    calls: pd.DataFrame
    tolerance_micros: int
    currency: str

    @property
    def matched_share(self) -> float:
        """Return the share of all calls whose charges matched."""
        total = self.summary[self.summary["call_type"] == "all"]
        calls = int(total["calls"].iloc[0])
        return float(total["matched"].iloc[0]) / calls if calls else 1.0

    def lines(self) -> list[str]:
        """Return the summary as aligned text lines."""
        cur = self.currency
        head = (
            f"  {'call type':20s} {'calls':>9s} {'matched':>9s} {'differing':>9s} "
            f"{'unratable':>9s} {'log ' + cur:>14s} {'ccsim ' + cur:>14s} {'ccsim - log':>12s}"
        )
        out = [head]
        for r in self.summary.to_dict("records"):
            out.append(
                f"  {r['call_type']:20s} {r['calls']:9,d} {r['matched']:9,d} "
                f"{r['differing']:9,d} {r['unratable']:9,d} "
                f"{money_text(int(r['log_charge_micros'])):>14s} "
                f"{money_text(int(r['ccsim_charge_micros'])):>14s} "
                f"{money_text(int(r['difference_micros'])):>12s}"
            )
        out.append("  (log, ccsim and ccsim - log over the rated calls; unratable calls apart)")
        unratable = self.calls[self.calls["status"] == "unratable"]
        if len(unratable):
            total = money_text(int(unratable["log_charge_micros"].sum()))
            out.append(
                f"  unratable: {len(unratable):,} calls, {total} {cur} in the log, not in the "
                "totals above:"
            )
            for why, n in unratable["reason"].value_counts().items():
                out.append(f"    {n:,}: {why}")
        return out


_STATUS = ("matched", "differing", "unratable")


def reconcile(
    mapped: MappedCalls,
    loaded: LoadedScenario,
    *,
    tolerance_micros: int = 5_000,
    add_connection_charge: bool = False,
) -> Reconciliation:
    """Rate the recorded calls with the scenario and compare them with the log's charges.

    Calls are rated in start order on the scenario's local calendar at their recorded
    dates (pools reset each local month); balances play no part. A call *matches* when
    ccsim's charge is within ``tolerance_micros`` of the log's ``charge`` (plus
    ``connectionCharge`` with ``add_connection_charge``). It is *unratable* when it maps
    to no user group, its currency is not the scenario's, or rating refuses it (no rate
    row, no calling plan or conferencing licence, no Communications Credits licence).
    """
    scenario = loaded.scenario
    if loaded.tariffs is None:
        raise InputError(f"{loaded.path}: reconcile needs rate tables ([tariffs])")
    currency = scenario.simulation.currency
    calls = mapped.calls
    tz = scenario.calendar.time_zone
    if len(calls):
        first_local = calls["start"].min().tz_convert(str(tz))
        cal = Calendar.from_local(first_local.date(), scenario.simulation.time_zone)
    else:
        cal = scenario.calendar
    ctx = RatingContext(
        tenant=scenario.tenant,
        tariffs=loaded.tariffs,
        calendar=cal,
        funding_mode=scenario.funding.mode,
        hard_cap=scenario.postpaid.hard_cap and scenario.funding.mode == "postpaid",
        on_unratable="block",
        headcount_growth_per_month=scenario.traffic.headcount_growth_per_month,
    )
    n = len(calls)
    countries = tuple(sorted(set(calls["usage_country"]) | set(calls["dest_country"]) | {"US"}))
    c_index = {c: i for i, c in enumerate(countries)}
    g_index = {g: i for i, g in enumerate(mapped.groups)}
    start_s = (calls["start"] - pd.Timestamp(cal.start.astimezone(UTC))).dt.total_seconds()
    batch = CallBatch(
        call_id=np.arange(n, dtype=np.int64),
        subscriber_id=calls["subscriber"].to_numpy(np.int64),
        group=np.asarray(calls["group"].map(g_index), dtype=np.int32),
        usage_country=np.asarray(calls["usage_country"].map(c_index), dtype=np.int16),
        dest_country=np.asarray(calls["dest_country"].map(c_index), dtype=np.int16),
        number_type=np.asarray(calls["number_type"].map(_NT_CODE), dtype=np.int8),
        call_type=np.asarray(calls["call_type"].map(_CT_CODE), dtype=np.int8),
        start_s=np.asarray(start_s, dtype=np.float64),
        duration_s=calls["duration_s"].to_numpy(np.float64),
        groups=mapped.groups,
        countries=countries,
    ).sorted_by_start()
    rated = rate_batch(batch, ctx)
    order = batch.call_id  # row of ``calls`` for each rated call
    ccsim = np.zeros(n, np.int64)
    ccsim[order] = rated.amount
    outcome = np.zeros(n, np.int8)
    outcome[order] = rated.outcome
    reason = np.zeros(n, np.int8)
    reason[order] = rated.reason
    rule = np.zeros(n, np.int8)
    rule[order] = rated.rule
    logged = calls["charge_micros"].to_numpy(np.int64).copy()
    if add_connection_charge:
        logged += calls["connection_charge_micros"].to_numpy(np.int64)
    diff = ccsim - logged
    status = np.where(np.abs(diff) <= tolerance_micros, 0, 1).astype(np.int8)
    why = np.full(n, "", dtype=object)
    blocked = outcome == Outcome.BLOCKED
    status[blocked] = 2
    why[blocked] = [f"refused: {Reason(int(r)).name.lower()}" for r in reason[blocked]]
    wrong_currency = (calls["currency"].astype(str).to_numpy() != currency) & (
        calls["currency"].astype(str).to_numpy() != ""
    )
    status[wrong_currency] = 2
    why[wrong_currency] = [
        f"currency {c}, scenario {currency}" for c in calls["currency"][wrong_currency]
    ]
    frame = pd.DataFrame(
        {
            "line": calls["line"].to_numpy(),
            "call_id": calls["call_id"].astype(str).to_numpy(),
            "start": calls["start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "call_type": calls["call_type"].astype(str).to_numpy(),
            "group": calls["group"].astype(str).to_numpy(),
            "usage_country": calls["usage_country"].astype(str).to_numpy(),
            "dest_country": calls["dest_country"].astype(str).to_numpy(),
            "number_type": calls["number_type"].astype(str).to_numpy(),
            "duration_s": calls["duration_s"].to_numpy(),
            "rule": [Rule(int(r)).name.lower() for r in rule],
            "outcome": [Outcome(int(o)).name.lower() for o in outcome],
            "status": [_STATUS[s] for s in status],
            "reason": why,
            "log_charge_micros": logged,
            "ccsim_charge_micros": ccsim,
            "difference_micros": np.where(status == 2, 0, diff),
        }
    )
    unmapped = mapped.unmapped
    if len(unmapped):
        extra = pd.DataFrame(
            {
                "line": unmapped["line"].to_numpy(),
                "call_id": unmapped["call_id"].astype(str).to_numpy(),
                "start": unmapped["start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
                "call_type": unmapped["call_type"].astype(str).to_numpy(),
                "group": "",
                "usage_country": unmapped["usage_country"].astype(str).to_numpy(),
                "dest_country": unmapped["dest_country"].astype(str).to_numpy(),
                "number_type": unmapped["number_type"].astype(str).to_numpy(),
                "duration_s": unmapped["duration_s"].to_numpy(),
                "rule": "",
                "outcome": "",
                "status": "unratable",
                "reason": "no user group or service number",
                "log_charge_micros": unmapped["charge_micros"].to_numpy(np.int64),
                "ccsim_charge_micros": 0,
                "difference_micros": 0,
            }
        )
        frame = pd.concat([frame, extra], ignore_index=True)
    summary = _reconcile_summary(frame)
    rated_rows = frame[frame["status"] != "unratable"]
    by_route = (
        rated_rows.assign(
            matched=rated_rows["status"] == "matched",
            differing=rated_rows["status"] == "differing",
            log_minutes=rated_rows["duration_s"] / 60.0,
        )
        .groupby(["call_type", "rule", "usage_country", "dest_country", "number_type"], sort=True)
        .agg(
            calls=("status", "size"),
            matched=("matched", "sum"),
            differing=("differing", "sum"),
            log_minutes=("log_minutes", "sum"),
            log_charge_micros=("log_charge_micros", "sum"),
            ccsim_charge_micros=("ccsim_charge_micros", "sum"),
            difference_micros=("difference_micros", "sum"),
        )
        .reset_index()
    )
    by_route["log_minutes"] = by_route["log_minutes"].round(1)
    problems = frame[frame["status"] != "matched"].sort_values("line", kind="stable")
    return Reconciliation(
        summary=summary,
        by_route=by_route,
        calls=problems.reset_index(drop=True),
        tolerance_micros=tolerance_micros,
        currency=currency,
    )


def _reconcile_summary(frame: pd.DataFrame) -> pd.DataFrame:
    def block(part: pd.DataFrame, name: str) -> dict[str, Any]:
        rated = part[part["status"] != "unratable"]
        unratable = part[part["status"] == "unratable"]
        diffs = rated["difference_micros"].to_numpy(np.int64)
        log_rated = int(rated["log_charge_micros"].sum())
        ccsim_rated = int(rated["ccsim_charge_micros"].sum())
        return {
            "call_type": name,
            "calls": len(part),
            "matched": int((part["status"] == "matched").sum()),
            "differing": int((part["status"] == "differing").sum()),
            "unratable": int((part["status"] == "unratable").sum()),
            "matched_share": round(float((part["status"] == "matched").mean()), 6)
            if len(part)
            else 1.0,
            "log_charge_micros": log_rated,
            "ccsim_charge_micros": ccsim_rated,
            "difference_micros": ccsim_rated - log_rated,
            "max_abs_difference_micros": int(np.abs(diffs).max()) if len(diffs) else 0,
            "unratable_log_charge_micros": int(unratable["log_charge_micros"].sum()),
        }

    rows = [block(part, str(ct)) for ct, part in frame.groupby("call_type", sort=True)]
    rows.append(block(frame, "all"))
    return pd.DataFrame(rows)


def reconcile_and_write(
    rec: Reconciliation,
    loaded: LoadedScenario,
    mapped: MappedCalls,
    report: ImportReport,
    log: str | Path,
    *,
    out: Path | None = None,
    command: Sequence[str] = (),
    remapped: Sequence[str] = (),
) -> Path:
    """Write a reconciliation folder (summary, by route, problem calls, mapping, bad rows).

    ``remapped`` lists the plan substitutions and group sizes accepted (for the manifest).
    """
    calls = rec.calls.copy()  # the log's UTC start as a local time of the scenario's zone
    calls["start"] = pd.to_datetime(calls["start"], utc=True).dt.tz_convert(
        loaded.scenario.simulation.time_zone
    )
    with RunFolder(out, f"{loaded.name}-reconcile") as folder:
        for name, table in (
            ("reconcile_summary", with_currency(rec.summary, rec.currency)),
            ("reconcile_by_route", with_currency(rec.by_route, rec.currency)),
            ("reconcile_calls", with_currency(calls, rec.currency)),
            ("mapping", mapped.holders),
        ):
            written = write_typed_table(table, folder.staging, name, "reconcile")
            folder.add(*(p.name for p in written))
        report.write_bad_rows(folder.path("bad_rows.csv"))
        final = folder.finish(
            loaded,
            {
                "log": _log_manifest(log, report),
                "tolerance": format_money(rec.tolerance_micros),
                "matched_share": rec.matched_share,
                "difference": "ccsim - log, over the rated calls; unratable calls apart",
                "remapped": list(remapped),
            },
            command,
        )
    return final


def replay_check(result: RunResult, info: ReplayInfo, loaded: LoadedScenario) -> list[str]:
    """Compare a replay's charges with ``reconcile``'s rating of the same calls.

    Return one line: equal, or the two totals and why they differ (calls left out, calls
    moved onto other dates of the scenario's calendar, attempts refused for lack of
    credit, cut-off charges). Bootstrap replays draw other weeks and are not compared.
    """
    if info.mode != "replay" or not len(info.mapped.calls) or loaded.tariffs is None:
        return []
    o = result["outcomes"]
    replayed = round(float(o["charged_micros"].mean()))
    rec = reconcile(info.mapped, loaded)
    total = rec.summary[rec.summary["call_type"] == "all"].iloc[0]
    rated = int(total["ccsim_charge_micros"])
    cur = rec.currency
    n = len(info.mapped.calls)
    if replayed == rated:
        return [
            f"  check: replay charged {money_text(rated)} {cur}, as reconcile rates the "
            f"same {n:,} calls"
        ]
    why = []
    if info.dropped_before:
        why.append(f"{info.dropped_before:,} calls before {info.first_day} left out")
    if info.beyond_horizon:
        why.append(f"{info.beyond_horizon:,} calls beyond the horizon left out")
    if info.shift_days:
        why.append(
            f"calls moved {info.shift_days:+,} days onto the scenario's calendar (pools "
            "reset on other dates)"
        )
    blocked = float(o["blocked_attempts"].mean()) if "blocked_attempts" in o else 0.0
    if blocked:
        why.append(f"{blocked:,.1f} attempts refused for lack of credit (retried or lost)")
    cut = float(o["uncharged_cut_off_micros"].mean()) if "uncharged_cut_off_micros" in o else 0
    if cut:
        why.append("calls cut off at zero balance")
    if not why:
        why.append("no known cause (please report it)")
    diff = money_text(abs(replayed - rated))
    sign = "more" if replayed > rated else "less"
    return [
        f"  check: replay charged {money_text(replayed)} {cur}, {diff} {sign} than "
        f"reconcile's rating of the same {n:,} calls at their recorded dates "
        f"({money_text(rated)} {cur}): {'; '.join(why)}"
    ]


__all__ = [
    "Reconciliation",
    "reconcile",
    "reconcile_and_write",
    "replay_check",
]

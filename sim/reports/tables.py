"""One schema per result table, the conversion to it, and the typed writer.

Every table a command writes is described here: its columns, their types and what they
hold. ``docs/tables.md`` is generated from these schemas (``python -m
sim.reports.table_docs``). The writer (``write_typed_table``) writes

- Parquet with exact types: money as int64 micro-units (``*_micros``), times as
  timezone-aware timestamps, dates as dates, the same schema when the table is empty;
- CSV for people: money as decimal text (the ``_micros`` suffix dropped), times as ISO
  8601 text with their UTC offset, dates as ``YYYY-MM-DD``.

A table with money columns has a ``currency`` column (the billing currency's code).
Both files are written under temporary names and renamed into place.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from sim.core.tables import to_csv_frame
from sim.core.units import MICROS_PER_UNIT
from sim.engine.records import SERVICES
from sim.reports.forecast import POSTPAID_COMPONENTS, PREPAID_COMPONENTS
from sim.scenario.model import Scenario

Kind = Literal["int", "float", "bool", "text", "time", "date", "money", "number"]
"""Column types: ``number`` is a swept setting (float when numeric, else text)."""

KIND_TEXT: dict[str, tuple[str, str, str]] = {
    # kind: (pandas dtype, Parquet type, CSV text)
    "int": ("int64", "int64", "integer"),
    "float": ("float64", "double", "decimal number"),
    "bool": ("bool", "bool", "True / False"),
    "text": ("str", "string", "text"),
    "time": ("datetime64[ns, zone]", "timestamp[ns, tz=zone]", "ISO 8601 with UTC offset"),
    "date": ("object (datetime.date)", "date32", "YYYY-MM-DD"),
    "money": ("int64 micro-units", "int64 micro-units", "decimal, column without _micros"),
    "number": ("float64 (text if not numeric)", "double (string)", "decimal number or text"),
}


@dataclass(frozen=True)
class Column:
    """One column: its name (a regular expression when ``pattern``), type and meaning."""

    name: str
    kind: Kind
    doc: str
    optional: bool = False
    pattern: bool = False

    def matches(self, column: str) -> bool:
        """Return True when ``column`` is this column (or matches its pattern)."""
        return re.fullmatch(self.name, column) is not None if self.pattern else column == self.name


@dataclass(frozen=True)
class TableSchema:
    """A table: where it is written, what one row is, and its columns."""

    folder: str
    name: str
    doc: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        """Return the column ``name`` describes (exact names first), or None."""
        for c in self.columns:
            if not c.pattern and c.name == name:
                return c
        for c in self.columns:
            if c.pattern and c.matches(name):
                return c
        return None


def _c(name: str, kind: Kind, doc: str, optional: bool = False) -> Column:
    return Column(name, kind, doc, optional)


REP = _c("replication", "int", "replication number (0, 1, ...)")
CUR = _c("currency", "text", "billing currency (ISO 4217 code) of every money column")

_OUTCOME_COLUMNS: tuple[Column, ...] = (
    REP,
    CUR,
    _c("scenario", "text", "scenario name"),
    _c("seed", "int", "base seed"),
    _c("horizon_days", "float", "days measured (after any warm-up)"),
    _c("users", "int", "users in every group"),
    _c("service_numbers", "int", "service numbers (auto attendants, call queues)"),
    _c("funding_mode", "text", "prepaid or postpaid"),
    _c("calls", "int", "call attempts drawn, retries included"),
    _c("retries", "int", "repeat attempts of refused calls"),
    _c("charged_micros", "money", "calls rated to credits or the invoice"),
    _c("spent_micros", "money", "charged less what was cut off at zero"),
    _c("cost_per_user_month_micros", "money", "spend per user and month"),
    _c("pending_at_horizon_micros", "money", "payments still pending at the horizon"),
    _c("blocked_attempts", "int", "credit-funded call attempts refused at zero balance"),
    _c("blocked_calls_lost", "int", "refused attempts never retried"),
    _c("blocked_minutes", "float", "minutes of the refused attempts"),
    _c("outage", "bool", "a credit-funded call was refused"),
    _c("outages", "int", "stretches with the balance at or below zero"),
    _c("outage_hours", "float", "hours with the balance at or below zero"),
    *(_c(f"blocked_{s}", "int", f"refused attempts, {s.replace('_', ' ')}") for s in SERVICES),
    *(
        _c(f"blocked_minutes_{s}", "float", f"refused minutes, {s.replace('_', ' ')}")
        for s in SERVICES
    ),
    _c("initial_micros", "money", "initial funds (prepaid)", True),
    _c("purchased_auto_micros", "money", "bought by auto-recharge (prepaid)", True),
    _c("purchased_manual_micros", "money", "bought by admins' top-ups (prepaid)", True),
    _c("consumed_micros", "money", "credits consumed by calls (postpaid: usage)", True),
    _c("forfeited_micros", "money", "expired, unused funds (prepaid)", True),
    _c("uncharged_cut_off_micros", "money", "rated but cut off at zero (prepaid)", True),
    _c("final_balance_micros", "money", "balance at the horizon (prepaid, no warm-up)", True),
    _c("min_balance_micros", "money", "lowest balance (prepaid)", True),
    _c("mean_balance_micros", "money", "exact time-average balance (prepaid)", True),
    _c("recharges_requested", "int", "auto-recharges requested (prepaid)", True),
    _c("recharges_settled", "int", "auto-recharges settled (prepaid)", True),
    _c("recharges_declined", "int", "auto-recharges finally declined (prepaid)", True),
    _c("declined_attempts", "int", "card attempts declined, retries included (prepaid)", True),
    _c("card_charges", "int", "card attempts, settled or declined (prepaid)", True),
    _c("manual_purchases", "int", "admins' top-ups (prepaid)", True),
    _c("invoices", "int", "purchases settled (prepaid) and usage invoices issued", True),
    _c("admin_actions", "int", "admin interventions (prepaid)", True),
    _c("auto_recharge_disabled", "int", "times auto-recharge was switched off (prepaid)", True),
    _c("accrued_at_horizon_micros", "money", "usage not yet invoiced (postpaid)", True),
    _c(
        "usage_invoiced_micros",
        "money",
        "charges billed to the usage invoice after funding.postpaid_from (§10.3)",
        True,
    ),
)

_RUN: tuple[TableSchema, ...] = (
    TableSchema("run", "outcomes", "one row per replication: what happened", _OUTCOME_COLUMNS),
    TableSchema(
        "run",
        "balance",
        "every change of the balance (repayments, which change none, left out)",
        (
            REP,
            CUR,
            _c("t_s", "float", "seconds since the start"),
            _c("time", "time", "local wall-clock time, to the second"),
            _c("cause", "text", "purchase, consume, overshoot, expire, ..."),
            _c("change_micros", "money", "change of the balance"),
            _c("balance_micros", "money", "balance after the change"),
        ),
    ),
    TableSchema(
        "run",
        "balance_daily",
        "one row per local day",
        (
            REP,
            CUR,
            _c("date", "date", "local date"),
            _c("end_s", "float", "seconds since the start at the day's end"),
            _c("opening_micros", "money", "balance at the day's start"),
            _c("min_micros", "money", "lowest balance of the day"),
            _c("closing_micros", "money", "balance at the day's end"),
            _c("pending_micros", "money", "payments pending at the day's end"),
            _c("purchased_micros", "money", "bought during the day"),
            _c("consumed_micros", "money", "consumed by calls during the day"),
            _c("expired_micros", "money", "forfeited during the day"),
            _c("auto_recharge_on", "bool", "auto-recharge enabled at the day's end"),
        ),
    ),
    TableSchema(
        "run",
        "ledger",
        "every ledger entry, in order",
        (
            REP,
            CUR,
            _c("seq", "int", "entry number"),
            _c("t_s", "float", "seconds since the start"),
            _c("time", "time", "local wall-clock time, to the second"),
            _c("kind", "text", "purchase, consume, overshoot, repay, expire"),
            _c("amount_micros", "money", "signed amount of the entry"),
            _c("lot_id", "int", "the lot it touches"),
            _c("lot_amount_micros", "money", "the lot's remaining amount after it"),
            _c("balance_after_micros", "money", "balance after the entry"),
            _c("ref", "text", "what caused it (payment, batch of calls, ...)"),
        ),
    ),
    TableSchema(
        "run",
        "lots",
        "every lot of credits (initial funds and purchases)",
        (
            REP,
            CUR,
            _c("lot_id", "int", "lot number"),
            _c("source", "text", "initial, auto or manual"),
            _c("amount_micros", "money", "amount bought"),
            _c("purchased_at_s", "float", "seconds since the start (negative: before it)"),
            _c("purchased_at", "time", "local time of purchase"),
            _c("expires_at", "time", "local time of expiry (empty: never)"),
            _c("remaining_micros", "money", "unused at the horizon"),
            _c("forfeited_micros", "money", "expired unused"),
        ),
    ),
    TableSchema(
        "run",
        "payments",
        "every payment (auto-recharge or manual top-up)",
        (
            REP,
            CUR,
            _c("payment_id", "int", "payment number"),
            _c("source", "text", "auto or manual"),
            _c("amount_micros", "money", "amount asked"),
            _c("requested_at_s", "float", "seconds since the start"),
            _c("requested_at", "time", "local time of the request"),
            _c("state", "text", "settled, declined or pending"),
            _c("attempts", "int", "card attempts"),
            _c("declines", "int", "attempts declined"),
            _c("completed_at_s", "float", "seconds since the start (empty: pending)"),
        ),
    ),
    TableSchema(
        "run",
        "payment_attempts",
        "every attempt to charge a card",
        (
            REP,
            _c("payment_id", "int", "the payment"),
            _c("attempt", "int", "attempt number (1, 2, ...)"),
            _c("requested_at_s", "float", "seconds since the start"),
            _c("completed_at_s", "float", "seconds since the start"),
            _c("completed_at", "time", "local time of the answer"),
            _c("declined", "bool", "the card declined"),
        ),
    ),
    TableSchema(
        "run",
        "notifications",
        "every e-mail or alert the tenant received",
        (
            REP,
            _c("t_s", "float", "seconds since the start"),
            _c("time", "time", "local wall-clock time, to the second"),
            _c("kind", "text", "low_balance, recharge_failed, balance_zero, ..."),
            _c("detail", "text", "what the message says"),
        ),
    ),
    TableSchema(
        "run",
        "outages",
        "every stretch with the balance at or below zero",
        (
            REP,
            _c("outage", "int", "outage number"),
            _c("start_s", "float", "seconds since the start"),
            _c("start", "time", "local time it began"),
            _c("end_s", "float", "seconds since the start"),
            _c("end", "time", "local time it ended"),
            _c("hours", "float", "length in hours"),
            _c("ongoing_at_horizon", "bool", "still at zero at the horizon"),
            _c("blocked_calls", "int", "credit-funded attempts refused"),
            _c("blocked_minutes", "float", "minutes refused"),
            *(_c(f"blocked_{s}", "int", f"refused, {s.replace('_', ' ')}") for s in SERVICES),
        ),
    ),
    TableSchema(
        "run",
        "calls_summary",
        "local day x call type x funding: calls, minutes, charges",
        (
            REP,
            CUR,
            _c("date", "date", "local date"),
            _c("call_type", "text", "call type"),
            _c(
                "funding",
                "text",
                "what paid: free, pool, pool+charged, charged, blocked_balance, "
                "blocked_rule, cut_off, charged_below_zero",
            ),
            _c("calls", "int", "calls"),
            _c("minutes", "float", "minutes"),
            _c("charged_micros", "money", "charged"),
        ),
    ),
    TableSchema(
        "run",
        "spend_daily",
        "local day x service: spend (days and services with none left out)",
        (
            REP,
            CUR,
            _c("date", "date", "local date"),
            _c("service", "text", "service"),
            _c("charged_micros", "money", "charged"),
        ),
    ),
)

_STATS = (
    _c("p10_micros", "money", "10th percentile over replications, to the cent"),
    _c("p50_micros", "money", "median over replications, to the cent"),
    _c("p90_micros", "money", "90th percentile over replications, to the cent"),
    _c("mean_micros", "money", "mean over replications, to the cent"),
)
_COMPONENTS = tuple(dict.fromkeys((*PREPAID_COMPONENTS, *POSTPAID_COMPONENTS)))
_FORECAST_VALUES = (
    *_STATS,
    *(
        _c(f"{c}_mean_micros", "money", f"mean of {c} (its funding mode)", True)
        for c in _COMPONENTS
    ),
    _c("calls_charged_mean_micros", "money", "mean credits consumed (or usage) by calls"),
    _c("calls_charged_p10_micros", "money", "10th percentile of what calls consumed"),
    _c("calls_charged_p90_micros", "money", "90th percentile of what calls consumed"),
    _c("forfeited_mean_micros", "money", "mean expired funds"),
)
_FEES = (
    _c("month", "text", "calendar month (YYYY-MM)"),
    _c("group", "text", "user group"),
    _c("kind", "text", "plan or conferencing"),
    _c("name", "text", "licence name"),
    _c("country", "text", "usage country"),
    _c("licences", "int", "licences held that month"),
    _c("price_micros", "money", "price per licence and month"),
    _c("fee_micros", "money", "fee for the month (pro rata when partly inside the horizon)"),
)

_PROVENANCE = (
    _c("method", "text", "how the forecast was made (simulation, replications, seed)"),
    _c("data_window", "text", "the data the scenario rests on (a log's window, or itself)"),
    _c("last_data", "text", "date of the last data (ISO 8601)"),
)

_FORECAST: tuple[TableSchema, ...] = (
    TableSchema(
        "forecast",
        "forecast",
        "one row per month: invoices' total across replications",
        (
            CUR,
            _c("month", "text", "month the invoices arrive (YYYY-MM)"),
            *_FORECAST_VALUES,
            *_PROVENANCE,
        ),
    ),
    TableSchema(
        "forecast",
        "forecast_totals",
        "one row: the whole horizon",
        (
            CUR,
            _c("first_month", "text", "first month (YYYY-MM)"),
            _c("last_month", "text", "last month (YYYY-MM)"),
            *_FORECAST_VALUES,
            *_PROVENANCE,
        ),
    ),
    TableSchema(
        "forecast",
        "forecast_components",
        "month x component: invoices across replications",
        (
            CUR,
            _c("month", "text", "month (YYYY-MM)"),
            _c("component", "text", "licences, credits_auto, postpaid_usage, ..."),
            *_STATS,
            *_PROVENANCE,
        ),
    ),
    TableSchema(
        "forecast",
        "forecast_component_totals",
        "one row per component: the whole horizon",
        (CUR, _c("component", "text", "component"), *_STATS, *_PROVENANCE),
    ),
    TableSchema(
        "forecast",
        "monthly",
        "replication x month x component: the amount invoiced",
        (
            REP,
            CUR,
            _c("month", "text", "month (YYYY-MM)"),
            _c("component", "text", "component"),
            _c("amount_micros", "money", "invoiced"),
        ),
    ),
    TableSchema(
        "forecast",
        "invoices",
        "every invoice of every replication",
        (
            REP,
            CUR,
            _c("t_s", "float", "seconds since the start"),
            _c("time", "time", "local time the invoice arrives"),
            _c("month", "text", "month (YYYY-MM)"),
            _c("component", "text", "component"),
            _c("ref", "text", "what it is for"),
            _c("amount_micros", "money", "amount"),
        ),
    ),
    TableSchema("forecast", "licence_fees", "month x group x licence", (CUR, *_FEES)),
    TableSchema("forecast", "outcomes", "as the run table ``outcomes``", _OUTCOME_COLUMNS),
)

_PLAN = _c("plan", "text", "calling plan compared")
_COMPARE: tuple[TableSchema, ...] = (
    TableSchema(
        "compare",
        "plans",
        "one row per plan: costs and outage exposure on the same traffic",
        (
            CUR,
            _PLAN,
            _c("groups", "text", "user groups moved to the plan (comma-separated)"),
            _c("users", "int", "users"),
            _c("user_months", "float", "user-months inside the horizon"),
            _c("licences_micros", "money", "licence fees over the horizon"),
            _c("credits_mean_micros", "money", "mean credits charged"),
            _c("credits_p10_micros", "money", "10th percentile of credits charged"),
            _c("credits_p90_micros", "money", "90th percentile of credits charged"),
            _c("total_mean_micros", "money", "mean licences plus credits"),
            _c("licences_per_user_month_micros", "money", "licences per user-month"),
            _c("credits_per_user_month_micros", "money", "credits per user-month"),
            _c("total_per_user_month_micros", "money", "total per user-month"),
            _c("diff_total_vs_first_micros", "money", "mean paired difference to the first"),
            _c("diff_total_vs_first_se_micros", "money", "its standard error"),
            _c("p_outage", "float", "share of replications with an outage"),
            _c("outage_hours_mean", "float", "mean hours at zero"),
            _c("blocked_attempts_mean", "float", "mean refused attempts"),
            _c("blocked_calls_lost_mean", "float", "mean refused calls never retried"),
            _c("first_attempts_mean", "float", "mean first attempts (the same traffic)"),
            _c("outbound_minutes_per_user_month", "float", "outbound minutes per user-month"),
            _c("purchased_mean_micros", "money", "mean credits bought (prepaid)", True),
            _c("forfeited_mean_micros", "money", "mean funds forfeited (prepaid)", True),
        ),
    ),
    TableSchema(
        "compare",
        "plans_monthly",
        "plan x month: mean costs",
        (
            CUR,
            _PLAN,
            _c("month", "text", "month (YYYY-MM)"),
            _c("users", "int", "users that month"),
            _c("month_share", "float", "share of the month inside the horizon"),
            _c("licences_micros", "money", "licence fees"),
            _c("credits_mean_micros", "money", "mean credits charged"),
            _c("total_mean_micros", "money", "mean total"),
            _c("per_user_micros", "money", "mean total per user"),
            _c("per_user_month_micros", "money", "per user, scaled to a whole month"),
        ),
    ),
    TableSchema(
        "compare",
        "runs",
        "plan x replication: the run's outcomes, first attempts and outbound minutes",
        (
            _PLAN,
            *_OUTCOME_COLUMNS,
            _c("first_attempts", "int", "first attempts (calls less retries)"),
            _c("outbound_minutes", "float", "outbound minutes"),
        ),
    ),
    TableSchema("compare", "licence_fees", "plan x month x group x licence", (CUR, _PLAN, *_FEES)),
    TableSchema(
        "compare",
        "breakeven",
        "plan x traffic level of the break-even search",
        (
            CUR,
            _PLAN,
            _c("calls_per_user_day", "float", "outbound calls per user and day"),
            _c("minutes_per_user_month", "float", "outbound minutes per user-month"),
            _c("licence_per_user_month_micros", "money", "licence per user-month"),
            _c("credits_per_user_month_micros", "money", "mean credits per user-month"),
            _c("cost_per_user_month_micros", "money", "licence plus credits per user-month"),
        ),
    ),
)

_SWEPT = Column(
    r"[A-Za-z_][\w-]*(\.[\w-]+)+",
    "number",
    "each swept setting by its dotted path (e.g. recharge.trigger; money in currency units)",
    pattern=True,
)

_SWEEP: tuple[TableSchema, ...] = (
    TableSchema(
        "sweep",
        "settings",
        "one row per setting (variant) of a sweep or recommendation",
        (
            CUR,
            _c("variant", "int", "setting number"),
            _c("setting", "text", "the swept values, as text"),
            Column(
                r"[A-Za-z_][\w-]*(\.[\w-]+)+",
                "number",
                "each swept setting by its dotted path (e.g. recharge.trigger; "
                "money in currency units)",
                pattern=True,
            ),
            _c("replications", "int", "replications run"),
            _c("p_outage", "float", "share of replications with an outage"),
            _c("p_outage_low", "float", "Wilson interval, low end"),
            _c("p_outage_high", "float", "Wilson interval, high end"),
            Column(r".+_micros", "money", "means of money (cost parts, outcomes)", pattern=True),
            Column(r"mean_.+|diff_.+", "float", "means and paired differences", pattern=True),
            _c("meets_constraints", "bool", "meets the [costs] constraints"),
            _c(
                "feasibility",
                "text",
                "the selection's verdict: feasible, infeasible, dropped on cost (a cheaper "
                "feasible setting beat it first), undecided (the cap stopped the procedure) "
                "or not considered (outside the [costs] constraints)",
                True,
            ),
            _c("wilson_under_target", "bool", "Wilson high end under the target"),
            _c("on_frontier", "bool", "on the Pareto frontier"),
            _c("recommended", "bool", "the recommended setting"),
            _c("current", "bool", "the scenario's own setting"),
            _c("on_grid", "bool", "on the swept grid"),
        ),
    ),
    TableSchema(
        "sweep",
        "bands",
        "setting x local day: day-end balance across replications",
        (
            CUR,
            _c("variant", "int", "setting number"),
            _c("date", "date", "local date whose end is measured"),
            _c("p10_micros", "money", "10th percentile of the day-end balance"),
            _c("p50_micros", "money", "median"),
            _c("p90_micros", "money", "90th percentile"),
            _c("min_micros", "money", "lowest"),
            _c("p_at_or_below_zero", "float", "share of replications at or below zero"),
        ),
    ),
    TableSchema(
        "sweep",
        "variants",
        "one row per setting: its swept values",
        (
            _c("variant", "int", "setting number"),
            _c("setting", "text", "the swept values, as text"),
            _SWEPT,
            _c("baseline", "bool", "the scenario's own setting"),
            _c("on_grid", "bool", "on the swept grid (false: the current setting added)"),
        ),
    ),
    TableSchema(
        "sweep",
        "runs",
        "setting (x future) x replication: the run table ``outcomes`` of each run",
        (
            _c("future", "int", "future number (robust studies)", True),
            _c("variant", "int", "setting number"),
            *_OUTCOME_COLUMNS,
        ),
    ),
    TableSchema(
        "sweep",
        "futures",
        "one row per future of a robust study: the sampled uncertainties",
        (
            _c("future", "int", "future number"),
            Column(
                r"[A-Za-z_][\w-]*(\.[\w-]+)+",
                "float",
                "each uncertain setting by its dotted path (money in currency units)",
                pattern=True,
            ),
        ),
    ),
    TableSchema(
        "sweep",
        "robust",
        "one row per setting: its costs and outage risk across the futures",
        (
            _c("variant", "int", "setting number"),
            _c("setting", "text", "the swept values, as text"),
            _SWEPT,
            _c("futures", "int", "futures run"),
            _c("runs", "int", "runs (futures x replications)"),
            _c("p_outage", "float", "share of runs with an outage"),
            _c("share_meeting_target", "float", "share of futures meeting the outage target"),
            Column(r".+_micros", "money", "annual costs and regrets (means)", pattern=True),
            _c("robust_choice", "bool", "the robust choice"),
            _c("current", "bool", "the scenario's own setting"),
        ),
    ),
    TableSchema(
        "sweep",
        "boxes",
        "PRIM boxes of the futures in which the choice fails: one row per box and input",
        (
            _c("box", "int", "box number (peeling order)"),
            _c("input", "text", "uncertain setting (dotted path)"),
            _c("low", "float", "lower limit of the box"),
            _c("high", "float", "upper limit of the box"),
            _c("coverage", "float", "share of the failing futures inside the box"),
            _c("density", "float", "share of the futures inside the box that fail"),
            _c("mass", "float", "share of all futures inside the box"),
            _c("description", "text", "the box in words"),
        ),
    ),
    TableSchema(
        "sweep",
        "morris",
        "Morris screening (SALib): one row per output and input",
        (
            _c("output", "text", "what is explained (outage, annual cost, forfeits)"),
            _c("input", "text", "uncertain setting (dotted path)"),
            _c("mu", "float", "mean elementary effect"),
            _c("mu_star", "float", "mean absolute elementary effect"),
            _c("mu_star_conf", "float", "its 95 % confidence half-width"),
            _c("sigma", "float", "spread of the elementary effects"),
        ),
    ),
    TableSchema(
        "sweep",
        "sobol",
        "Sobol' indices (SALib): one row per output and input",
        (
            _c("output", "text", "what is explained"),
            _c("input", "text", "uncertain setting (dotted path)"),
            _c("S1", "float", "first-order index"),
            _c("S1_conf", "float", "its 95 % confidence half-width"),
            _c("ST", "float", "total index"),
            _c("ST_conf", "float", "its 95 % confidence half-width"),
        ),
    ),
)

# -- call-log folders: replay, reconcile, back-test -------------------------------------

_MAPPING = TableSchema(
    "replay",
    "mapping",
    "one row per holder of the log (user, or capability and country for calls without a "
    "user): the user group or service number chosen and how",
    (
        _c("holder", "text", "the user's pseudonym, or (no user: LICENCE/COUNTRY)"),
        _c("kind", "text", "user, or service (auto attendant, call queue)"),
        _c("usage_country", "text", "usage country (ISO alpha-2; a user's most frequent)"),
        _c("licence", "text", "capability of its calls (e.g. MCOPSTN1, MCOPSTNPP)"),
        _c("plan", "text", "calling plan its own calls show (domestic, payg, ...; empty: none)"),
        _c("conferencing", "text", "conferencing its meeting calls show (empty: none)"),
        _c("calls", "int", "calls of the log it holds"),
        _c("group", "text", "user group or service number chosen (empty: none, unmapped)"),
        _c(
            "how",
            "text",
            "auto, auto (plan X -> Y), rule PATTERN (--map), or why none was found",
        ),
    ),
)

_REPLAY: tuple[TableSchema, ...] = (
    _MAPPING,
    TableSchema(
        "replay",
        "bootstrap_weeks",
        "replication x week of a block bootstrap (--bootstrap): the recorded week drawn",
        (
            REP,
            _c("week", "int", "week of the run (0 = the one starting at the scenario's start)"),
            _c(
                "recorded_week_start",
                "date",
                "first local date of the recorded week replayed in it (the log's weeks "
                "start on the scenario's start weekday)",
            ),
        ),
    ),
)

_RECONCILE_CUR = _c(
    "currency",
    "text",
    "the scenario's billing currency (ISO 4217 code) of every money column",
)
_RECONCILE_MONEY = (
    _c("log_charge_micros", "money", "the log's charges of the rated calls"),
    _c("ccsim_charge_micros", "money", "ccsim's charges of the same calls"),
    _c("difference_micros", "money", "ccsim - log over the rated calls"),
)
_RECONCILE: tuple[TableSchema, ...] = (
    TableSchema(
        "reconcile",
        "reconcile_summary",
        "one row per call type, and one for all: the log's charges against ccsim's rating",
        (
            _RECONCILE_CUR,
            _c("call_type", "text", "call type (user_out, conf_in, ucap_in, ...), or all"),
            _c("calls", "int", "calls imported from the log (unmapped ones included)"),
            _c("matched", "int", "calls whose two charges agree within --tolerance"),
            _c("differing", "int", "rated calls whose charges differ by more"),
            _c(
                "unratable",
                "int",
                "calls not rated: no holder, another currency, or refused by the rating",
            ),
            _c("matched_share", "float", "matched / calls, to 6 decimals (1 with no calls)"),
            *_RECONCILE_MONEY,
            _c("max_abs_difference_micros", "money", "largest difference of one rated call"),
            _c(
                "unratable_log_charge_micros",
                "money",
                "the log's charges of the unratable calls, apart (in the log's currency "
                "when that is why they are unratable)",
            ),
        ),
    ),
    TableSchema(
        "reconcile",
        "reconcile_by_route",
        "the rated calls per call type, rule, usage country, destination and number type",
        (
            _RECONCILE_CUR,
            _c("call_type", "text", "call type"),
            _c("rule", "text", "ccsim's rating rule (payg_outbound, domestic_plan, ...)"),
            _c("usage_country", "text", "usage country of the holder (ISO alpha-2)"),
            _c("dest_country", "text", "country called (ISO alpha-2)"),
            _c("number_type", "text", "toll, toll_free or premium"),
            _c("calls", "int", "rated calls"),
            _c("matched", "int", "calls whose charges agree within --tolerance"),
            _c("differing", "int", "calls whose charges differ by more"),
            _c("log_minutes", "float", "recorded minutes, to 0.1"),
            *_RECONCILE_MONEY,
        ),
    ),
    TableSchema(
        "reconcile",
        "reconcile_calls",
        "every differing or unratable call, in the log's order",
        (
            _c(
                "currency",
                "text",
                "the scenario's billing currency (ISO 4217 code); a call unratable for its "
                "currency has its log charge in the currency its reason names",
            ),
            _c("line", "int", "line of the log (CSV: the header is line 1; JSON: record number)"),
            _c("call_id", "text", "the log's call id"),
            _c("start", "time", "start of the call, local time (the log records UTC)"),
            _c("call_type", "text", "call type"),
            _c("group", "text", "user group or service number (empty: unmapped)"),
            _c("usage_country", "text", "usage country of the holder (ISO alpha-2)"),
            _c("dest_country", "text", "country called (ISO alpha-2)"),
            _c("number_type", "text", "toll, toll_free or premium"),
            _c("duration_s", "float", "recorded duration in seconds"),
            _c("rule", "text", "ccsim's rating rule (empty: unmapped)"),
            _c(
                "outcome",
                "text",
                "free, pool, pool_charged, charged, blocked, cut_off (empty: unmapped)",
            ),
            _c("status", "text", "differing or unratable"),
            _c("reason", "text", "why it is unratable (empty: differing)"),
            _c(
                "log_charge_micros",
                "money",
                "the log's charge (plus connectionCharge with --add-connection-charge)",
            ),
            _c("ccsim_charge_micros", "money", "ccsim's charge (0 when refused or unmapped)"),
            _c("difference_micros", "money", "ccsim - log (0 when unratable)"),
        ),
    ),
    TableSchema("reconcile", "mapping", _MAPPING.doc, _MAPPING.columns),
)

_BT_CUR = _c(
    "currency",
    "text",
    "the base scenario's billing currency (ISO 4217 code) of every money column",
)
_BT_METHOD = _c("method", "text", "forecasting method: ccsim, seasonal-naive or ets")
_BT_ORIGIN = (
    _c("origin", "int", "rolling origin number (0 = the earliest)"),
    _c("train_start", "date", "first local date of the training window"),
    _c("origin_date", "date", "the origin: first local date of the test window"),
)
_BT_STAMP = (
    _c("data_from", "date", "first local date of the log"),
    _c("data_to", "date", "last local date of the log"),
    _c("last_data", "date", "local date of the log's last call"),
    _c("method_description", "text", "what the method does"),
)
_BT_METRICS = (
    _c("targets", "int", "test weeks scored"),
    _c("coverage_p10_p90", "float", "share of the test weeks inside the P10-P90 band"),
    _c("coverage_p5_p95", "float", "share of the test weeks inside the P5-P95 band"),
    _c("crps_micros", "money", "mean CRPS of the weekly spend (lower is better)"),
    _c("crps_share", "float", "CRPS summed over the weeks / the log's spend (empty: none)"),
    _c("bias_micros", "money", "mean error of the forecast mean (forecast - log)"),
    _c("bias_share", "float", "error summed over the weeks / the log's spend (empty: none)"),
)


def _bt_scores(unit: str, what: str) -> tuple[Column, ...]:
    kind: Kind = "money" if unit == "micros" else "float"
    rounded = "" if unit == "micros" else " (a real number: a mean count)"
    return (
        _c(f"actual_{unit}", "money" if unit == "micros" else "int", what),
        _c(f"mean_{unit}", kind, f"forecast mean{rounded}"),
        *(
            _c(
                f"p{p}_{unit}",
                kind,
                f"forecast {p}th percentile (ensembles: Weibull plotting position; "
                f"seasonal-naive: Normal){rounded}",
            )
            for p in (5, 10, 50, 90, 95)
        ),
        _c(f"crps_{unit}", kind, f"CRPS of the forecast against the actual{rounded}"),
        _c(f"error_{unit}", kind, f"forecast mean - actual{rounded}"),
        _c("in_p10_p90", "bool", "the actual lies in [P10, P90]"),
        _c("in_p5_p95", "bool", "the actual lies in [P5, P95]"),
    )


_BACKTEST: tuple[TableSchema, ...] = (
    TableSchema(
        "backtest",
        "backtest",
        "method x origin: coverage of both bands, mean CRPS and bias of the weekly spend",
        (_BT_CUR, _BT_METHOD, *_BT_ORIGIN, *_BT_METRICS, *_BT_STAMP),
    ),
    TableSchema(
        "backtest",
        "backtest_summary",
        "one row per method: the same over every origin, with Wilson intervals",
        (
            _BT_CUR,
            _BT_METHOD,
            *_BT_METRICS,
            *(
                c
                for band, nominal in (("p10_p90", "0.8"), ("p5_p95", "0.9"))
                for c in (
                    _c(f"coverage_{band}_low", "float", "its 95 % Wilson interval, low end"),
                    _c(f"coverage_{band}_high", "float", "its 95 % Wilson interval, high end"),
                    _c(f"nominal_{band}", "float", f"nominal coverage of the band ({nominal})"),
                )
            ),
            _c(
                "crps_skill",
                "float",
                "1 - CRPS / CRPS of seasonal-naive (> 0: better than it; absent when that "
                "CRPS is 0)",
                True,
            ),
            *_BT_STAMP,
        ),
    ),
    TableSchema(
        "backtest",
        "backtest_targets",
        "method x origin x test week: the week's spend in the log against the forecast",
        (
            _BT_CUR,
            _BT_METHOD,
            *_BT_ORIGIN,
            _c("week", "int", "test week (1, 2, ...)"),
            _c("week_start", "date", "first local date of the test week"),
            _c("series", "text", "what is forecast: total (the week's spend)"),
            *_bt_scores("micros", "the log's charges in the week"),
            *_BT_STAMP,
        ),
    ),
    TableSchema(
        "backtest",
        "backtest_detail",
        "ccsim only, origin x week x series: weekly spend by service and the closing balance, "
        "forecast against a replay of the recorded calls under the fitted scenario",
        (
            _BT_CUR,
            _BT_METHOD,
            *_BT_ORIGIN,
            _c("week", "int", "test week (1, 2, ...; 0: the whole test window)"),
            _c("week_start", "date", "first local date of the week (or of the window)"),
            _c(
                "series",
                "text",
                "spend:SERVICE (a service's weekly spend; left out when none in runs and "
                "replay) or closing_balance (balance at the window's end, prepaid)",
            ),
            *_bt_scores("micros", "the replay's value"),
            *_BT_STAMP,
        ),
    ),
    TableSchema(
        "backtest",
        "backtest_recharges",
        "ccsim only, one row per origin: auto-recharges settled in the test window, "
        "forecast against the replay (counts, not money)",
        (
            _BT_METHOD,
            *_BT_ORIGIN,
            _c("week", "int", "0: the whole test window"),
            _c("week_start", "date", "first local date of the test window"),
            _c("series", "text", "auto_recharges"),
            *_bt_scores("count", "auto-recharges the replay settled in the window"),
            *_BT_STAMP,
        ),
    ),
)

_RUNWAY_PROVENANCE = (
    _c("method", "text", "how the runway was made (simulation, replications per case)"),
    _c("data_window", "text", "the data the state rests on (default: the scenario's start)"),
    _c("last_data", "text", "date of that state (ISO 8601)"),
)
_BEYOND = "local date (YYYY-MM-DD), or beyond horizon"
_RUNWAY: tuple[TableSchema, ...] = (
    TableSchema(
        "forecast",
        "runway",
        "prepaid, one row per case (as configured, no recharge): when the balance reaches "
        "zero, over the runway's horizon (the scenario's, extended to the held lots' expiry)",
        (
            CUR,
            _c("case", "text", "as configured, or no recharge (and admins buy nothing)"),
            _c("replications", "int", "runs of the case"),
            _c("reach_zero_share", "float", "share of runs reaching zero inside the horizon"),
            *(
                c
                for p in (10, 50, 90)
                for c in (
                    _c(f"p{p}_days", "float", f"{p}th percentile of days to zero (empty: beyond)"),
                    _c(f"p{p}_date", "text", f"its {_BEYOND}"),
                )
            ),
            _c("opening_micros", "money", "opening balance (funds held at the start)"),
            *_RUNWAY_PROVENANCE,
        ),
    ),
    TableSchema(
        "forecast",
        "runway_lots",
        "prepaid, one row per lot held at the start: its expiry and what is forfeited "
        "(runs as configured)",
        (
            CUR,
            _c("lot_id", "int", "lot number"),
            _c("purchased", "date", "local date it was bought (on or before the start)"),
            _c("remaining_at_start_micros", "money", "unused at the start"),
            _c("expires", "text", f"expiry, {_BEYOND}"),
            _c("forfeit_share", "float", "share of runs forfeiting part of it (empty: beyond)"),
            _c("forfeited_mean_micros", "money", "mean forfeited at its expiry"),
            _c("forfeited_p90_micros", "money", "90th percentile of what is forfeited"),
            *_RUNWAY_PROVENANCE,
        ),
    ),
    TableSchema(
        "forecast",
        "runway_pools",
        "prepaid, minute pool x local month: when it runs out and calls spill into credits "
        "(runs as configured)",
        (
            _c("pool", "text", "the pool (scope/allowance, e.g. US/domestic)"),
            _c("month", "text", "local month (YYYY-MM)"),
            _c("spill_share", "float", "share of runs in which it runs out that month"),
            *(
                _c(f"p{p}_date", "text", f"{p}th percentile of the day it runs out: {_BEYOND}")
                for p in (10, 50, 90)
            ),
            *_RUNWAY_PROVENANCE,
        ),
    ),
    TableSchema(
        "forecast",
        "alert_leads",
        "prepaid, one row per low-balance alert policy (the scenario's funding.low_balance, "
        "and one suggested for a 3-day P10 lead): its lead time before the balance reaches "
        "zero in the runway's runs without recharge",
        (
            _c("policy", "text", "current or suggested, with its threshold"),
            _c("kind", "text", "low_balance"),
            _c(
                "latency_h",
                "float",
                "hours from the fall below a threshold to the e-mail's arrival",
            ),
            _c("replications", "int", "runs scored"),
            _c("events", "int", "outages over all runs"),
            _c(
                "missed_share",
                "float",
                "share of outages no e-mail warned of in time (empty: none)",
            ),
            *(
                _c(
                    f"lead_p{p}_days",
                    "float",
                    f"{p}th percentile of the lead time, days (empty: none)",
                )
                for p in (10, 50, 90)
            ),
            _c("emails_per_30d", "float", "low-balance e-mails sent per 30 days (all runs)"),
            _c("thresholds", "text", "the thresholds, in currency units (comma-separated)"),
            _c("method", "text", "how the lead times were measured (simulation, replications)"),
            _c("data_window", "text", "the data the state rests on (as the runway)"),
            _c("last_data", "text", "date of that state (ISO 8601)"),
        ),
    ),
)

SCHEMAS: dict[tuple[str, str], TableSchema] = {
    (t.folder, t.name): t
    for t in (*_RUN, *_FORECAST, *_RUNWAY, *_COMPARE, *_SWEEP, *_REPLAY, *_RECONCILE, *_BACKTEST)
}
"""Every table, by (folder kind, table name); folder kinds: run, forecast, compare, sweep,
replay (besides the run tables), reconcile and backtest."""


def schema_of(name: str, folder: str = "run") -> TableSchema:
    """Return the schema of table ``name`` in a folder of kind ``folder``."""
    try:
        return SCHEMAS[(folder, name)]
    except KeyError:
        raise KeyError(f"no schema for table {name!r} in a {folder} folder") from None


# -- conversion --------------------------------------------------------------------------


def _round_half_away(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def _money(series: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(series) and not pd.api.types.is_extension_array_dtype(series):
        return series.astype("int64")
    x = pd.to_numeric(series, errors="raise").astype("float64")
    if x.isna().any():
        out = pd.array(
            [None if math.isnan(v) else int(_round_half_away(np.array(v))) for v in x],
            dtype="Int64",
        )
        return pd.Series(out, index=series.index)
    return pd.Series(_round_half_away(x.to_numpy()).astype(np.int64), index=series.index)


def _number(series: pd.Series) -> pd.Series:
    num = pd.to_numeric(series, errors="coerce")
    text = series.astype("str")
    if bool(num.isna().any()) and not bool((series.isna() | (text == "")).all()):
        return text
    return num.astype("float64")


def conform(frame: pd.DataFrame, name: str, folder: str = "run") -> pd.DataFrame:
    """Return ``frame`` with every column converted to its schema type (order kept).

    Money means become whole micro-units (half away from zero; missing stays missing),
    ISO text times become timestamps, swept settings become numbers. Raises ``KeyError``
    for a column the schema does not know.
    """
    schema = schema_of(name, folder)
    out = frame.copy()
    for col in out.columns:
        c = schema.column(col)
        if c is None:
            raise KeyError(f"{folder} table {name!r}: no column {col!r} in its schema")
        s = out[col]
        if c.kind == "money":
            out[col] = _money(s)
        elif c.kind == "int":
            out[col] = s.astype("int64")
        elif c.kind == "float":
            out[col] = s.astype("float64")
        elif c.kind == "bool":
            out[col] = s.astype("bool")
        elif c.kind == "text":
            out[col] = s.astype("str")
        elif c.kind == "number":
            out[col] = _number(s)
        elif c.kind == "time" and not isinstance(s.dtype, pd.DatetimeTZDtype):
            out[col] = pd.to_datetime(s.replace("", None), utc=True)
        elif c.kind == "date":
            out[col] = pd.Series(
                [None if pd.isna(v) else pd.Timestamp(v).date() for v in s],
                index=s.index,
                dtype="object",
            )
    return out


def problems(frame: pd.DataFrame, name: str, folder: str = "run") -> list[str]:
    """Return how ``frame`` differs from its schema (empty when it matches)."""
    schema = schema_of(name, folder)
    found: list[str] = []
    for spec in schema.columns:
        if not spec.optional and not spec.pattern and spec.name not in frame.columns:
            found.append(f"{name}: column {spec.name!r} missing")
    for col in frame.columns:
        c = schema.column(col)
        if c is None:
            found.append(f"{name}: column {col!r} not in the schema")
            continue
        s = frame[col]
        ok = {
            "money": pd.api.types.is_integer_dtype(s),
            "int": pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s),
            "float": pd.api.types.is_float_dtype(s),
            "bool": pd.api.types.is_bool_dtype(s),
            "text": pd.api.types.is_string_dtype(s) and _all(s, str),
            "time": isinstance(s.dtype, pd.DatetimeTZDtype),
            "date": s.dtype == object and _all(s, date),
            "number": pd.api.types.is_float_dtype(s) or pd.api.types.is_string_dtype(s),
        }[c.kind]
        if not ok:
            found.append(f"{name}: column {col!r} is {s.dtype}, not {c.kind}")
    return found


def _all(series: pd.Series, kind: type) -> bool:
    return all(isinstance(v, kind) for v in series.dropna())


def arrow_schema(frame: pd.DataFrame, name: str, folder: str = "run") -> pa.Schema:
    """Return the Parquet schema of a conformed table (typed even when it is empty)."""
    schema = schema_of(name, folder)
    fields = []
    for col in frame.columns:
        c = schema.column(col)
        assert c is not None
        s = frame[col]
        typ: pa.DataType
        if c.kind in ("money", "int"):
            typ = pa.int64()
        elif c.kind == "float":
            typ = pa.float64()
        elif c.kind == "bool":
            typ = pa.bool_()
        elif c.kind == "text":
            typ = pa.string()
        elif c.kind == "time":
            tz = str(s.dtype.tz) if isinstance(s.dtype, pd.DatetimeTZDtype) else "UTC"
            typ = pa.timestamp("ns", tz=tz)
        elif c.kind == "date":
            typ = pa.date32()
        else:  # number
            typ = pa.float64() if pd.api.types.is_float_dtype(s) else pa.string()
        fields.append(pa.field(col, typ))
    return pa.schema(fields)


def parquet_problems(path: Path, name: str, folder: str = "run") -> list[str]:
    """Return how a Parquet file's types differ from its table's schema."""
    schema = schema_of(name, folder)
    found = []
    expected = {
        "money": "int64",
        "int": "int64",
        "float": "double",
        "bool": "bool",
        "text": "string",
        "date": "date32[day]",
    }
    for f in pq.read_schema(path):
        c = schema.column(f.name)
        if c is None:
            found.append(f"{path.name}: column {f.name!r} not in the schema")
        elif c.kind == "time":
            if not (pa.types.is_timestamp(f.type) and f.type.tz):
                found.append(f"{path.name}: {f.name} is {f.type}, not a timestamp with zone")
        elif c.kind == "number":
            if str(f.type) not in ("double", "string", "large_string"):
                found.append(f"{path.name}: {f.name} is {f.type}")
        elif str(f.type).replace("large_string", "string") != expected[c.kind]:
            found.append(f"{path.name}: {f.name} is {f.type}, not {expected[c.kind]}")
    return found


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the CSV form: money as decimal text (suffix dropped), times as ISO 8601.

    The one conversion every table uses (``sim.core.tables.to_csv_frame``).
    """
    return to_csv_frame(frame)


def _replace_atomic(path: Path, write: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)  # type: ignore[operator]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_typed_table(
    frame: pd.DataFrame, folder: Path, name: str, kind: str = "run"
) -> list[Path]:
    """Conform ``frame`` to its schema and write ``name.parquet`` and ``name.csv`` atomically.

    ``kind``: the folder kind whose schema applies (run, forecast, compare, sweep, replay,
    reconcile, backtest). Returns the two paths.
    """
    typed = conform(frame, name, kind)
    table = pa.Table.from_pandas(
        typed, schema=arrow_schema(typed, name, kind), preserve_index=False
    )
    parquet = folder / f"{name}.parquet"
    csv = folder / f"{name}.csv"
    _replace_atomic(parquet, lambda p: pq.write_table(table, p))
    _replace_atomic(csv, lambda p: csv_frame(typed).to_csv(p, index=False))
    return [parquet, csv]


def with_currency(frame: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Return ``frame`` with a first ``currency`` column if it has money and none yet.

    For tables built without one (back-test, reconcile, runway): every table with
    ``*_micros`` columns names the billing currency they are in.
    """
    if "currency" in frame.columns or not any(str(c).endswith("_micros") for c in frame.columns):
        return frame
    out = frame.copy()
    out.insert(0, "currency", pd.Series([currency] * len(out), dtype="str", index=out.index))
    return out


# -- sweep tables --------------------------------------------------------------------------


def settings_table(summary: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Return a sweep's per-setting summary typed: settings numeric, money in micro-units."""
    out = summary.copy()
    if "currency" not in out:
        out.insert(0, "currency", pd.Series([currency] * len(out), dtype="str", index=out.index))
    return conform(out, "settings", "sweep")


def bands_table(bands: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Return day-end balance bands typed: local dates, money in micro-units, a currency.

    ``bands``: columns ``variant``, ``day`` (0 = the first local day) and ``p10``, ``p50``,
    ``p90``, ``min`` in currency units, ``p_at_or_below_zero``.
    """
    start = scenario.calendar.start.date()
    out = pd.DataFrame(
        {
            "currency": pd.Series([scenario.simulation.currency] * len(bands), dtype="str"),
            "variant": bands["variant"].to_numpy(dtype=np.int64),
            "date": pd.Series(
                [start + timedelta(days=int(d)) for d in bands["day"]], dtype="object"
            ),
        }
    )
    for col in ("p10", "p50", "p90", "min"):
        units = bands[col].to_numpy(dtype=np.float64)
        out[f"{col}_micros"] = _round_half_away(units * MICROS_PER_UNIT).astype(np.int64)
    out["p_at_or_below_zero"] = bands["p_at_or_below_zero"].to_numpy(dtype=np.float64)
    return out


__all__ = [
    "SCHEMAS",
    "Column",
    "TableSchema",
    "arrow_schema",
    "bands_table",
    "conform",
    "csv_frame",
    "parquet_problems",
    "problems",
    "schema_of",
    "settings_table",
    "with_currency",
    "write_typed_table",
]

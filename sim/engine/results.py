"""Tidy result tables of a run, built from the engine's raw records.

Every table is a ``pandas.DataFrame`` with a ``replication`` column. Money columns are
exact integer micro-units (int64) and end in ``_micros``, and a table with money has a
``currency`` column; the writers (``sim.reports.tables``) turn money into decimal strings
in CSV. Times are seconds since the start (``t_s``) plus the local wall-clock time as a
timezone-aware timestamp (``time``, to the second) or the local date (``date``). Every
table has the same columns and dtypes when empty; ``docs/tables.md`` documents them.

Tables: ``ledger`` (every entry), ``balance`` (every change), ``balance_daily``, ``lots``,
``payments``, ``payment_attempts``, ``notifications``, ``outages``, ``calls_summary``,
``spend_daily`` and the one-row ``outcomes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from sim.billing.account import CreditAccount, PaymentState
from sim.billing.ledger import EntryKind, LotSource
from sim.billing.policies import NotificationKind
from sim.core.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, Calendar
from sim.engine.records import FUNDING, SERVICES, RunOutput
from sim.telephony.calls import CALL_TYPES

TABLES: tuple[str, ...] = (
    "outcomes",
    "balance",
    "balance_daily",
    "ledger",
    "lots",
    "payments",
    "payment_attempts",
    "notifications",
    "outages",
    "calls_summary",
    "spend_daily",
)


@dataclass
class RunResult:
    """All tables of one or more replications of a scenario."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @classmethod
    def from_outputs(cls, outputs: Sequence[RunOutput]) -> RunResult:
        """Build every table from the raw records of each replication."""
        return cls.from_tables([tables_of(out) for out in outputs])

    @classmethod
    def from_tables(cls, per_replication: Sequence[dict[str, pd.DataFrame]]) -> RunResult:
        """Stack the tables of several replications (in the order given)."""
        return cls(
            {
                name: pd.concat([t[name] for t in per_replication], ignore_index=True)
                for name in TABLES
            }
        )


MONEY_TABLES: frozenset[str] = frozenset(
    {
        "outcomes",
        "balance",
        "balance_daily",
        "ledger",
        "lots",
        "payments",
        "calls_summary",
        "spend_daily",
    }
)
"""Tables with money columns: they carry the billing currency in a ``currency`` column."""


def local_times(cal: Calendar, t_s: Sequence[float] | np.ndarray) -> pd.DatetimeIndex:
    """Return the local wall-clock times (timezone-aware, to the second) of sim times.

    Infinite or missing instants (a lot that never expires) are ``NaT``.
    """
    secs = np.asarray(t_s, dtype=np.float64).reshape(-1)
    finite = np.isfinite(secs)
    start_ns = pd.Timestamp(cal.start).tz_convert("UTC").value
    ns = np.full(secs.shape, np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    # Whole seconds (toward the past), then nanoseconds: exact for any horizon.
    ns[finite] = start_ns + np.floor(secs[finite]).astype(np.int64) * 1_000_000_000
    utc = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
    return utc.tz_convert(cal.time_zone)


_local = local_times


def tables_of(out: RunOutput) -> dict[str, pd.DataFrame]:
    """Build the tables of one replication."""
    cal = out.scenario.calendar
    rep = out.replication
    tables = {
        "ledger": _ledger(out, cal),
        "lots": _lots(out, cal),
        "payments": _payments(out, cal),
        "payment_attempts": _attempts(out, cal),
        "notifications": _notifications(out, cal),
        "calls_summary": _calls_summary(out, cal),
        "spend_daily": _spend(out, cal),
    }
    tables["balance"] = _balance(out, cal, tables["ledger"])
    tables["balance_daily"] = _balance_daily(out, cal, tables["balance"])
    tables["outages"] = _outages(out, cal, tables["balance"])
    tables["outcomes"] = _outcomes(out, tables)
    currency = out.scenario.simulation.currency
    for name, frame in tables.items():
        if name in MONEY_TABLES and "currency" not in frame:
            frame.insert(0, "currency", pd.Series([currency] * len(frame), dtype="str"))
        frame.insert(0, "replication", np.full(len(frame), rep, dtype=np.int64))
        tables[name] = frame
    return {name: tables[name] for name in TABLES}


def outcomes_of(out: RunOutput) -> pd.DataFrame:
    """Build only the one-row outcomes table of a replication (what sweeps need)."""
    return pd.DataFrame([outcome_row(out)])


def outcome_row(out: RunOutput) -> dict[str, object]:
    """Return the outcomes of a replication as one record (no intermediate tables)."""
    t, b = _balance_path(out)
    intervals = _zero_intervals(out, t, b)
    hours = sum(z - a for a, z in intervals) / SECONDS_PER_HOUR
    row: dict[str, object] = {
        "replication": out.replication,
        "currency": out.scenario.simulation.currency,
    }
    row.update(_outcome_fields(out, len(intervals), hours, b))
    if out.window_s > 0:
        row.update(_window_fields(out, t, b, intervals))
    return row


def _ledger(out: RunOutput, cal: Calendar, with_times: bool = True) -> pd.DataFrame:
    entries = out.account.ledger.entries if out.account is not None else []
    t_s = np.array([e.t_s for e in entries], dtype=np.float64)
    return pd.DataFrame(
        {
            "seq": np.array([e.seq for e in entries], dtype=np.int64),
            "t_s": t_s,
            "time": _local(cal, t_s),
            "kind": pd.Series([e.kind.value for e in entries], dtype="str"),
            "amount_micros": np.array([e.amount for e in entries], dtype=np.int64),
            "lot_id": np.array([e.lot_id for e in entries], dtype=np.int64),
            "lot_amount_micros": np.array([e.lot_amount for e in entries], dtype=np.int64),
            "balance_after_micros": np.array([e.balance_after for e in entries], dtype=np.int64),
            "ref": pd.Series([e.ref for e in entries], dtype="str"),
        }
    )


def _balance(out: RunOutput, cal: Calendar, ledger: pd.DataFrame) -> pd.DataFrame:
    """Every change of the balance (repayments, which change no balance, are left out)."""
    moves = ledger[ledger["kind"] != EntryKind.REPAY.value]
    return pd.DataFrame(
        {
            "t_s": moves["t_s"].to_numpy(),
            "time": pd.DatetimeIndex(moves["time"]),
            "cause": moves["kind"].astype("str").to_numpy(),
            "change_micros": moves["amount_micros"].to_numpy(),
            "balance_micros": moves["balance_after_micros"].to_numpy(),
        }
    )


def _balance_daily(out: RunOutput, cal: Calendar, balance: pd.DataFrame) -> pd.DataFrame:
    rows = []
    t = balance["t_s"].to_numpy()
    b = balance["balance_micros"].to_numpy()
    change = balance["change_micros"].to_numpy()
    cause = balance["cause"].to_numpy()
    opening = 0
    start_s = -np.inf  # the first day also takes the entries before the start
    for rec in out.days:
        inside = (t >= start_s) & (t < rec.end_s)
        day_b = b[inside]
        day_c = change[inside]
        day_cause = cause[inside]
        low = min(opening, int(day_b.min())) if day_b.size else opening
        rows.append(
            {
                "date": _day_date(out, rec.day),
                "end_s": rec.end_s,
                "opening_micros": opening,
                "min_micros": low,
                "closing_micros": rec.balance,
                "pending_micros": rec.pending,
                "purchased_micros": int(day_c[day_cause == "purchase"].sum()),
                "consumed_micros": int(
                    -day_c[(day_cause == "consume") | (day_cause == "overshoot")].sum()
                ),
                "expired_micros": int(-day_c[day_cause == "expire"].sum()),
                "auto_recharge_on": rec.auto_enabled,
            }
        )
        opening = rec.balance
        start_s = rec.end_s
    return pd.DataFrame(rows, columns=_BALANCE_DAILY_COLUMNS).astype(_BALANCE_DAILY_DTYPES)


_BALANCE_DAILY_COLUMNS = [
    "date",
    "end_s",
    "opening_micros",
    "min_micros",
    "closing_micros",
    "pending_micros",
    "purchased_micros",
    "consumed_micros",
    "expired_micros",
    "auto_recharge_on",
]
_BALANCE_DAILY_DTYPES = {
    "end_s": "float64",
    **{c: "int64" for c in _BALANCE_DAILY_COLUMNS if c.endswith("_micros")},
    "auto_recharge_on": "bool",
}


def _lots(out: RunOutput, cal: Calendar) -> pd.DataFrame:
    led = out.account.ledger if out.account is not None else None
    forfeited = (
        {e.lot_id: -e.amount for e in led.entries if e.kind is EntryKind.EXPIRE} if led else {}
    )
    lots = led.lots if led is not None else []
    bought_s = np.array([lot.purchased_at_s for lot in lots], dtype=np.float64)
    return pd.DataFrame(
        {
            "lot_id": np.array([lot.lot_id for lot in lots], dtype=np.int64),
            "source": pd.Series([lot.source.value for lot in lots], dtype="str"),
            "amount_micros": np.array([lot.amount for lot in lots], dtype=np.int64),
            "purchased_at_s": bought_s,
            "purchased_at": _local(cal, bought_s),
            # A lot that never expires has no expiry time (NaT; empty in CSV).
            "expires_at": _local(cal, [lot.expires_at_s for lot in lots]),
            "remaining_micros": np.array([lot.remaining for lot in lots], dtype=np.int64),
            "forfeited_micros": np.array(
                [forfeited.get(lot.lot_id, 0) for lot in lots], dtype=np.int64
            ),
        }
    )


def _payments(out: RunOutput, cal: Calendar) -> pd.DataFrame:
    pays = out.account.payments if out.account is not None else []
    asked_s = np.array([p.requested_at_s for p in pays], dtype=np.float64)
    return pd.DataFrame(
        {
            "payment_id": np.array([p.payment_id for p in pays], dtype=np.int64),
            "source": pd.Series([p.source.value for p in pays], dtype="str"),
            "amount_micros": np.array([p.amount for p in pays], dtype=np.int64),
            "requested_at_s": asked_s,
            "requested_at": _local(cal, asked_s),
            "state": pd.Series([p.state.value for p in pays], dtype="str"),
            "attempts": np.array([p.attempts for p in pays], dtype=np.int64),
            "declines": np.array([p.declines for p in pays], dtype=np.int64),
            "completed_at_s": np.array(
                [np.nan if p.completed_at_s is None else p.completed_at_s for p in pays],
                dtype=np.float64,
            ),
        }
    )


def _attempts(out: RunOutput, cal: Calendar) -> pd.DataFrame:
    rows = []
    for p in out.account.payments if out.account is not None else []:
        for k, (req, done, declined) in enumerate(p.attempt_log, start=1):
            rows.append(
                {
                    "payment_id": p.payment_id,
                    "attempt": k,
                    "requested_at_s": req,
                    "completed_at_s": done,
                    "declined": declined,
                }
            )
    cols = ["payment_id", "attempt", "requested_at_s", "completed_at_s", "declined"]
    frame = pd.DataFrame(rows, columns=cols).astype(
        {
            "payment_id": "int64",
            "attempt": "int64",
            "requested_at_s": "float64",
            "completed_at_s": "float64",
            "declined": "bool",
        }
    )
    frame.insert(4, "completed_at", _local(cal, frame["completed_at_s"].to_numpy()))
    return frame


def _notifications(out: RunOutput, cal: Calendar) -> pd.DataFrame:
    notes = list(out.account.notifications) if out.account is not None else []
    notes += out.pool_alerts
    notes.sort(key=lambda n: n.t_s)
    t_s = np.array([n.t_s for n in notes], dtype=np.float64)
    return pd.DataFrame(
        {
            "t_s": t_s,
            "time": _local(cal, t_s),
            "kind": pd.Series([n.kind.value for n in notes], dtype="str"),
            "detail": pd.Series([n.detail for n in notes], dtype="str"),
        }
    )


def _zero_intervals(
    out: RunOutput, t: Sequence[float], b: Sequence[int]
) -> list[tuple[float, float]]:
    """Stretches of the horizon with the balance at or below zero."""
    horizon = out.scenario.horizon_s
    intervals: list[tuple[float, float]] = []
    if out.account is None:
        return intervals
    # Without initial funds the balance is at zero from the start.
    start = None if out.scenario.funding.opening_balance > 0 else 0.0
    for ti, bi in zip(t, b, strict=True):
        ti = max(float(ti), 0.0)
        if bi <= 0 and start is None:
            start = ti
        elif bi > 0 and start is not None:
            if ti > start:
                intervals.append((start, ti))
            start = None
    if start is not None:
        intervals.append((start, horizon))
    switch_s = out.account.postpaid_from_s
    if switch_s is not None:  # once usage is invoiced, no balance runs out (§10.3)
        intervals = [(a, min(z, switch_s)) for a, z in intervals if a < switch_s]
    return intervals


def _balance_path(out: RunOutput) -> tuple[list[float], list[int]]:
    """Instants and balances after every change (repayments change nothing)."""
    if out.account is None:
        return [], []
    moves = [e for e in out.account.ledger.entries if e.kind is not EntryKind.REPAY]
    return [e.t_s for e in moves], [e.balance_after for e in moves]


def _outages(out: RunOutput, cal: Calendar, balance: pd.DataFrame) -> pd.DataFrame:
    """Stretches with the balance at or below zero, and what was refused in each."""
    intervals = _zero_intervals(out, balance["t_s"].tolist(), balance["balance_micros"].tolist())
    blocked_t = np.array([x.t_s for x in out.blocked])
    blocked_service = np.array([x.service for x in out.blocked], dtype=np.int64)
    blocked_dur = np.array([x.duration_s for x in out.blocked])
    rows = []
    for k, (a, z) in enumerate(intervals):
        inside = (blocked_t >= a) & (blocked_t < z) if blocked_t.size else np.zeros(0, bool)
        row: dict[str, object] = {
            "outage": k,
            "start_s": a,
            "end_s": z,
            "hours": (z - a) / SECONDS_PER_HOUR,
            "ongoing_at_horizon": z >= out.scenario.horizon_s,
            "blocked_calls": int(inside.sum()),
            "blocked_minutes": float(blocked_dur[inside].sum() / 60) if inside.size else 0.0,
        }
        for i, service in enumerate(SERVICES):
            row[f"blocked_{service}"] = int((blocked_service[inside] == i).sum())
        rows.append(row)
    dtypes = {
        "outage": "int64",
        "start_s": "float64",
        "end_s": "float64",
        "hours": "float64",
        "ongoing_at_horizon": "bool",
        "blocked_calls": "int64",
        "blocked_minutes": "float64",
        **{f"blocked_{s}": "int64" for s in SERVICES},
    }
    frame = pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)
    frame.insert(2, "start", _local(cal, frame["start_s"].to_numpy()))
    frame.insert(4, "end", _local(cal, frame["end_s"].to_numpy()))
    return frame


def _calls_summary(out: RunOutput, cal: Calendar) -> pd.DataFrame:
    n_f = len(FUNDING)
    frames = []
    for day, counts, seconds, amounts in out.calls_summary:
        nz = np.flatnonzero(counts)
        if nz.size == 0:
            continue
        day_date = _day_date(out, day)
        frames.append(
            pd.DataFrame(
                {
                    "date": day_date,
                    "call_type": [CALL_TYPES[i // n_f].value for i in nz],
                    "funding": [FUNDING[i % n_f] for i in nz],
                    "calls": counts[nz],
                    "minutes": seconds[nz] / 60.0,
                    "charged_micros": amounts[nz],
                }
            )
        )
    cols = ["date", "call_type", "funding", "calls", "minutes", "charged_micros"]
    dtypes = {"call_type": "str", "funding": "str", "calls": "int64", "minutes": "float64"}
    if not frames:
        return pd.DataFrame(columns=cols).astype({**dtypes, "charged_micros": "int64"})
    return pd.concat(frames, ignore_index=True)[cols].astype({**dtypes, "charged_micros": "int64"})


def _day_date(out: RunOutput, day: int) -> date:
    return out.scenario.calendar.start.date() + timedelta(days=day)


def _spend(out: RunOutput, cal: Calendar) -> pd.DataFrame:
    by_day: dict[int, np.ndarray] = {}
    for day, amounts in out.spend:
        by_day[day] = by_day.get(day, np.zeros(len(SERVICES), np.int64)) + amounts
    rows = []
    for day in sorted(by_day):
        for i, service in enumerate(SERVICES):
            if by_day[day][i]:
                rows.append(
                    {
                        "date": _day_date(out, day),
                        "service": service,
                        "charged_micros": int(by_day[day][i]),
                    }
                )
    return pd.DataFrame(rows, columns=["date", "service", "charged_micros"]).astype(
        {"service": "str", "charged_micros": "int64"}
    )


def _mean_balance(out: RunOutput) -> float:
    """Exact time-average balance over the horizon, in micro-units.

    Every change c at instant t adds c x (horizon - t) to the area under the balance;
    charges count at their own instants (``RunOutput.charge_area``), so the result does
    not depend on how the ledger groups debits. Parts of charges cut off at zero were
    never debited and are added back (``RunOutput.uncharged_area``).
    """
    assert out.account is not None
    horizon = out.scenario.horizon_s
    area = out.uncharged_area + out.invoiced_area - out.charge_area
    for e in out.account.ledger.entries:
        if e.kind in (EntryKind.PURCHASE, EntryKind.EXPIRE):
            area += e.amount * (horizon - max(e.t_s, 0.0))
    return area / horizon


def _outcomes(out: RunOutput, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    outages = tables["outages"]
    hours = float(outages["hours"].sum()) if len(outages) else 0.0
    balances = tables["balance"]["balance_micros"].tolist()
    row = _outcome_fields(out, len(outages), hours, balances)
    if out.window_s > 0:
        t, b = _balance_path(out)
        row.update(_window_fields(out, t, b, _zero_intervals(out, t, b)))
    return pd.DataFrame([row])


def _window_fields(
    out: RunOutput,
    t: Sequence[float],
    b: Sequence[int],
    intervals: Sequence[tuple[float, float]],
) -> dict[str, object]:
    """Return the outcomes measured over the window after a warm-up (``window_s``).

    Counts and money of events at or after the window's start; the balance's minimum and
    exact time average over the window; hours at zero clipped to it. Calls and retries
    are counted from the warm-up's end as the walks drew them.
    """
    w = out.window_s
    sc = out.scenario
    horizon = sc.horizon_s
    span = horizon - w
    users = sum(g.count for g in sc.user_groups)
    months = span / (SECONDS_PER_DAY * 365.25 / 12)
    a0 = out.at_window
    charged = out.charged_total - a0.charged_total
    uncharged = out.uncharged_total - a0.uncharged_total
    blocked = [x for x in out.blocked if x.t_s >= w]
    clipped = [(max(a, w), z) for a, z in intervals if z > w]
    row: dict[str, object] = {
        "horizon_days": span / SECONDS_PER_DAY,
        "calls": out.calls_total - a0.calls_total,
        "retries": out.retries_total - a0.retries_total,
        "charged_micros": charged,
        "spent_micros": charged - uncharged,
        "cost_per_user_month_micros": round((charged - uncharged) / (users * months))
        if users and months
        else 0,
        "blocked_attempts": len(blocked),
        "blocked_calls_lost": sum(1 for x in blocked if not x.retried),
        "blocked_minutes": sum(x.duration_s for x in blocked) / 60.0,
        "outage": bool(len(blocked)),
        "outages": len(clipped),
        "outage_hours": sum(z - a for a, z in clipped) / SECONDS_PER_HOUR,
    }
    for i, service in enumerate(SERVICES):
        row[f"blocked_{service}"] = sum(1 for x in blocked if x.service == i)
        row[f"blocked_minutes_{service}"] = (
            sum(x.duration_s for x in blocked if x.service == i) / 60.0
        )
    acc = out.account
    if acc is None:
        return row
    led = acc.ledger
    by_source = {s: 0 for s in LotSource}
    for lot in led.lots:
        if lot.purchased_at_s >= w:
            by_source[lot.source] += lot.amount
    # One pass over the entries: purchases and forfeits before the window make its
    # opening balance (less the charges debited before it); those inside it add to the
    # balance's area from their instant on.
    purchase, expire, consume = EntryKind.PURCHASE, EntryKind.EXPIRE, EntryKind.CONSUME
    steps_before = 0
    steps_area = 0.0
    consumed = forfeited = 0
    for e in led.entries:
        kind = e.kind
        if kind is purchase or kind is expire:
            if e.t_s < w:
                steps_before += e.amount
            else:
                steps_area += e.amount * (horizon - e.t_s)
                if kind is expire:
                    forfeited -= e.amount
        elif kind is consume and e.t_s >= w:
            consumed -= e.amount
    debited = a0.charged_total - a0.uncharged_total - a0.invoiced_total
    opening = steps_before - debited
    area = float(opening) * span
    area += steps_area
    area -= out.charge_area - a0.charge_area
    area += out.uncharged_area - a0.uncharged_area
    area += out.invoiced_area - a0.invoiced_area
    inside = [bi for ti, bi in zip(t, b, strict=True) if ti >= w]
    pays = [p for p in acc.payments if p.requested_at_s >= w]
    auto = [p for p in pays if p.source is LotSource.AUTO]
    attempts = [a for p in acc.payments for a in p.attempt_log if a[0] >= w]
    row.update(
        {
            "initial_micros": by_source[LotSource.INITIAL],
            "purchased_auto_micros": by_source[LotSource.AUTO],
            "purchased_manual_micros": by_source[LotSource.MANUAL],
            "consumed_micros": consumed,
            "forfeited_micros": forfeited,
            "uncharged_cut_off_micros": uncharged,
            "min_balance_micros": int(min([opening, *inside])),
            "mean_balance_micros": round(area / span),
            "recharges_requested": len(auto),
            "recharges_settled": sum(p.state is PaymentState.SETTLED for p in auto),
            "recharges_declined": sum(p.state is PaymentState.DECLINED for p in auto),
            "declined_attempts": sum(1 for a in attempts if a[2]),
            "card_charges": len(attempts),
            "manual_purchases": sum(1 for p in pays if p.source is LotSource.MANUAL),
            "invoices": sum(
                p.state is PaymentState.SETTLED
                for p in acc.payments
                if p.completed_at_s is not None and p.completed_at_s >= w
            )
            + _usage_invoices(acc, w),
            "admin_actions": sum(1 for a in acc.admin_actions if a >= w),
            "auto_recharge_disabled": sum(
                n.kind is NotificationKind.AUTO_RECHARGE_DISABLED and n.t_s >= w
                for n in acc.notifications
            ),
        }
    )
    if acc.postpaid is not None:  # switched from credits to postpaid (§10.3)
        row["usage_invoiced_micros"] = out.invoiced_total - a0.invoiced_total
        row["accrued_at_horizon_micros"] = acc.postpaid.accrued
    return row


def _usage_invoices(acc: CreditAccount, from_s: float) -> int:
    """Usage invoices issued from ``from_s`` on, after a switch to postpaid (§10.3)."""
    if acc.postpaid is None:
        return 0
    return sum(1 for inv in acc.postpaid.invoices if inv.issued_at_s >= from_s)


def _outcome_fields(
    out: RunOutput, n_outages: int, outage_hours: float, balances: Sequence[int]
) -> dict[str, object]:
    sc = out.scenario
    users = sum(g.count for g in sc.user_groups)
    months = sc.horizon_s / (SECONDS_PER_DAY * 365.25 / 12)
    blocked = out.blocked
    row: dict[str, object] = {
        "scenario": sc.simulation.name,
        "seed": sc.simulation.seed,
        "horizon_days": sc.horizon_s / SECONDS_PER_DAY,
        "users": users,
        "service_numbers": len(sc.service_numbers),
        "funding_mode": sc.funding.mode,
        "calls": out.calls_total,
        "retries": out.retries_total,
        "charged_micros": out.charged_total,
        # What was paid for: charges cut off at zero (funding.at_zero) are not spend.
        "spent_micros": out.charged_total - out.uncharged_total,
        "cost_per_user_month_micros": round(
            (out.charged_total - out.uncharged_total) / (users * months)
        )
        if users and months
        else 0,
        "pending_at_horizon_micros": out.pending_at_horizon,
        "blocked_attempts": len(blocked),
        "blocked_calls_lost": sum(1 for x in blocked if not x.retried),
        "blocked_minutes": sum(x.duration_s for x in blocked) / 60.0,
        # An outage: the balance was at zero and a credit-funded call was refused.
        "outage": bool(len(blocked)),
        "outages": n_outages,
        "outage_hours": outage_hours,
    }
    for i, service in enumerate(SERVICES):
        row[f"blocked_{service}"] = sum(1 for x in blocked if x.service == i)
    for i, service in enumerate(SERVICES):
        row[f"blocked_minutes_{service}"] = (
            sum(x.duration_s for x in blocked if x.service == i) / 60.0
        )
    acc = out.account
    if acc is not None:
        led = acc.ledger
        by_source = {s: 0 for s in LotSource}
        for lot in led.lots:
            by_source[lot.source] += lot.amount
        pays = acc.payments
        auto = [p for p in pays if p.source is LotSource.AUTO]
        opening = sc.funding.opening_balance
        row.update(
            {
                "initial_micros": by_source[LotSource.INITIAL],
                "purchased_auto_micros": by_source[LotSource.AUTO],
                "purchased_manual_micros": by_source[LotSource.MANUAL],
                "consumed_micros": led.consumed_total,
                "forfeited_micros": led.expired_total,
                "uncharged_cut_off_micros": out.uncharged_total,
                "final_balance_micros": led.balance,
                "min_balance_micros": int(min([opening, *balances])),
                "mean_balance_micros": round(_mean_balance(out)),
                "recharges_requested": len(auto),
                "recharges_settled": sum(p.state is PaymentState.SETTLED for p in auto),
                "recharges_declined": sum(p.state is PaymentState.DECLINED for p in auto),
                "declined_attempts": sum(p.declines for p in pays),
                # Every attempt is a charge put to the card, settled or declined.
                "card_charges": sum(p.attempts for p in pays),
                "manual_purchases": sum(1 for p in pays if p.source is LotSource.MANUAL),
                "invoices": sum(p.state is PaymentState.SETTLED for p in pays)
                + _usage_invoices(acc, 0.0),
                "admin_actions": len(acc.admin_actions),
                "auto_recharge_disabled": sum(
                    n.kind is NotificationKind.AUTO_RECHARGE_DISABLED for n in acc.notifications
                ),
            }
        )
        if acc.postpaid is not None:  # switched from credits to postpaid (§10.3)
            row["usage_invoiced_micros"] = out.invoiced_total
            row["accrued_at_horizon_micros"] = acc.postpaid.accrued
    elif out.postpaid is not None:
        row.update(
            {
                "consumed_micros": out.postpaid.consumed_total,
                "invoices": len(out.postpaid.invoices),
                "accrued_at_horizon_micros": out.postpaid.accrued,
            }
        )
    return row

"""Alert policies measured in time: how long before an outage or a forfeit an e-mail arrives.

An alert policy is one or more low-balance thresholds (absolute money, or a share of a
reference amount such as the recharge amount) or an expiry warning (``days_before`` a
lot with a remainder expires). Alerts arrive as e-mails after the documented report
latency: usage reports lag activity by 24 to 48 hours (``teams-credits.md`` §2.3 "Report
latency" and §5 "Processing delays"), so the default latency is the worst case, 48 h.

From each run's ledger (every entry carries the balance after it):

- an **outage** starts when the balance falls from above zero to zero or below;
- a low-balance e-mail is sent when the balance falls below a threshold (the previous
  balance at or above it, as ``funding.low_balance`` does), and arrives ``latency_s``
  later; the **lead time** of an outage is the time from the arrival of the e-mail that
  announced the last fall below a threshold (the highest threshold warning first; only
  falls since the balance last recovered above zero count) to the outage; an e-mail
  that arrives at or after the outage warns of nothing (lead time 0, missed);
- a **forfeit** is a lot expiring with a remainder; an expiry warning is sent
  ``days_before`` its expiry if the lot then still holds more than ``min_remaining``;
  warnings for lots that are used up before they expire are false alarms.

``suggest_threshold`` finds the smallest threshold whose P10 lead time over the outages of
the runs reaches a target (e.g. 3 days), exactly (from the balance paths, no grid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.billing.ledger import EntryKind, LedgerEntry, Lot
from sim.core.errors import InputError
from sim.core.units import MICROS_PER_UNIT, SECONDS_PER_DAY, Micros, format_money, parse_money
from sim.engine import RunOutput

REPORT_LATENCY_S: tuple[float, float] = (24 * 3600.0, 48 * 3600.0)
"""Documented lag of usage reports and their e-mails: 24 to 48 hours (teams-credits.md §2.3, §5)."""
DEFAULT_LATENCY_S = REPORT_LATENCY_S[1]
"""Latency used unless told otherwise: the documented worst case."""
QUANTILE_METHOD: Final = "inverted_cdf"
"""Lead-time quantiles: the smallest value with at least that share at or below it."""


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Low-balance e-mails at one or more thresholds (micro-units), after ``latency_s``."""

    name: str
    thresholds_micros: tuple[int, ...]
    latency_s: float = DEFAULT_LATENCY_S

    def __post_init__(self) -> None:
        if not self.thresholds_micros or min(self.thresholds_micros) <= 0:
            raise InputError(f"alert policy {self.name!r}: thresholds must be > 0")
        if not self.latency_s >= 0:
            raise InputError(f"alert policy {self.name!r}: latency must be >= 0")

    @classmethod
    def parse(
        cls,
        spec: str,
        reference_micros: int | None = None,
        latency_s: float = DEFAULT_LATENCY_S,
        where: str = "--alerts",
    ) -> AlertPolicy:
        """Read ``"100,250"`` (money) or ``"10%,25%"`` (shares of ``reference_micros``)."""
        values: list[int] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            if part.endswith("%"):
                if reference_micros is None or reference_micros <= 0:
                    raise InputError(f"{where} {spec!r}: a share needs a reference amount > 0")
                try:
                    share = float(part[:-1]) / 100
                except ValueError:
                    share = -1.0
                if not 0 < share <= 10:
                    raise InputError(f"{where} {spec!r}: expected a share such as 25%")
                values.append(math.ceil(share * reference_micros))
            else:
                try:
                    values.append(int(parse_money(part)))
                except ValueError as exc:
                    raise InputError(f"{where} {spec!r}: {exc}") from None
        if not values or min(values) <= 0:
            raise InputError(
                f"{where} {spec!r}: expected thresholds > 0 such as 100,250 or 10%,25%"
            )
        return cls(spec, tuple(sorted(set(values))), latency_s)


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """An e-mail ``days_before`` a lot expires while it holds more than ``min_remaining``."""

    name: str
    days_before: float
    min_remaining_micros: int = 0
    latency_s: float = DEFAULT_LATENCY_S


# -- balance paths ----------------------------------------------------------------------


def balance_path(entries: Sequence[LedgerEntry]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return the instants and balances after every entry (repayments change nothing)."""
    moves = [e for e in entries if e.kind is not EntryKind.REPAY]
    t = np.array([e.t_s for e in moves], dtype=np.float64)
    b = np.array([e.balance_after for e in moves], dtype=np.int64)
    return t, b


def outage_starts(t: NDArray[np.float64], b: NDArray[np.int64]) -> list[int]:
    """Return the entry indices where the balance falls from above zero to zero or below."""
    prev = np.concatenate([[0], b[:-1]])
    return [int(i) for i in np.flatnonzero((prev > 0) & (b <= 0))]


def _episode_start(b: NDArray[np.int64], i: int) -> int:
    """Return the first entry of the stretch above zero that ends with outage entry ``i``."""
    below = np.flatnonzero(b[:i] <= 0)
    return int(below[-1]) + 1 if len(below) else 0


def _last_crossing(b: NDArray[np.int64], lo: int, hi: int, threshold: int) -> int | None:
    """Return the last entry in [lo, hi] where the balance falls below ``threshold``."""
    prev = np.concatenate([[0], b[:-1]])
    idx = np.arange(lo, hi + 1)
    hit = idx[(prev[idx] >= threshold) & (b[idx] < threshold)]
    return int(hit[-1]) if len(hit) else None


def outage_leads(
    t: NDArray[np.float64], b: NDArray[np.int64], policy: AlertPolicy
) -> list[dict[str, Any]]:
    """Return one row per outage of a balance path: its instant, the e-mail, lead time."""
    rows = []
    for i in outage_starts(t, b):
        lo = _episode_start(b, i)
        sent = [
            float(t[k])
            for th in policy.thresholds_micros
            if (k := _last_crossing(b, lo, i, th)) is not None
        ]
        first_sent = min(sent) if sent else math.nan
        arrives = first_sent + policy.latency_s if sent else math.nan
        lead = float(t[i]) - arrives if sent else 0.0
        rows.append(
            {
                "event": "outage",
                "event_t_s": float(t[i]),
                "sent_t_s": first_sent,
                "arrives_t_s": arrives,
                "lead_s": max(0.0, lead),
                "missed": bool(not sent or lead <= 0),
            }
        )
    return rows


def expiry_leads(
    entries: Sequence[LedgerEntry], lots: Sequence[Lot], policy: ExpiryPolicy, horizon_s: float
) -> list[dict[str, Any]]:
    """Return one row per lot whose warning falls inside the run, forfeit or not."""
    rows = []
    for lot in lots:
        if not math.isfinite(lot.expires_at_s) or lot.expires_at_s > horizon_s:
            continue
        warn_s = lot.expires_at_s - policy.days_before * SECONDS_PER_DAY
        remaining = int(lot.amount)
        forfeited = 0
        for e in entries:
            if e.lot_id != lot.lot_id or e.kind is EntryKind.PURCHASE:
                continue
            if e.kind is EntryKind.EXPIRE:
                forfeited -= int(e.lot_amount)
            elif e.t_s < warn_s:
                remaining += int(e.lot_amount)
        warned = remaining > policy.min_remaining_micros and warn_s >= 0
        if not forfeited and not warned:
            continue
        lead = lot.expires_at_s - (warn_s + policy.latency_s) if warned else 0.0
        rows.append(
            {
                "event": "forfeit" if forfeited else "no forfeit (false alarm)",
                "event_t_s": lot.expires_at_s,
                "sent_t_s": warn_s if warned else math.nan,
                "arrives_t_s": warn_s + policy.latency_s if warned else math.nan,
                "lead_s": max(0.0, lead) if forfeited else math.nan,
                "missed": bool(forfeited and (not warned or lead <= 0)),
                "lot_id": lot.lot_id,
                "forfeited_micros": forfeited,
            }
        )
    return rows


def alerts_sent(b: NDArray[np.int64], thresholds: Sequence[int]) -> int:
    """Return how many low-balance e-mails a balance path sends (every crossing)."""
    prev = np.concatenate([[0], b[:-1]])
    return int(sum(((prev >= th) & (b < th)).sum() for th in thresholds))


# -- across replications ----------------------------------------------------------------


def score_policy(runs: Sequence[RunOutput], policy: AlertPolicy | ExpiryPolicy) -> pd.DataFrame:
    """Return every event of every run with the lead time the policy gives it."""
    rows = []
    for out in runs:
        if out.account is None:
            continue
        entries = out.account.ledger.entries
        if isinstance(policy, AlertPolicy):
            t, b = balance_path(entries)
            found = outage_leads(t, b, policy)
        else:
            found = expiry_leads(entries, out.account.ledger.lots, policy, out.scenario.horizon_s)
        for r in found:
            rows.append({"replication": out.replication, "policy": policy.name, **r})
    columns = ["replication", "policy", "event", "event_t_s", "sent_t_s", "arrives_t_s",
               "lead_s", "missed"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns if not rows else None)


def lead_summary(
    runs: Sequence[RunOutput], policy: AlertPolicy | ExpiryPolicy, method: str = ""
) -> dict[str, Any]:
    """Return P10/P50/P90 lead time (days), missed share and e-mails per 30 days."""
    events = score_policy(runs, policy)
    real = events[events["event"].isin(["outage", "forfeit"])] if len(events) else events
    lead_d = real["lead_s"].to_numpy(np.float64) / SECONDS_PER_DAY if len(real) else np.zeros(0)
    row: dict[str, Any] = {
        "policy": policy.name,
        "kind": "low_balance" if isinstance(policy, AlertPolicy) else "expiry",
        "latency_h": policy.latency_s / 3600,
        "replications": len(runs),
        "events": len(real),
        "missed_share": float(real["missed"].mean()) if len(real) else math.nan,
    }
    for p in (10, 50, 90):
        row[f"lead_p{p}_days"] = (
            float(np.quantile(lead_d, p / 100, method=QUANTILE_METHOD)) if len(lead_d) else math.nan
        )
    if isinstance(policy, AlertPolicy):
        days = sum(out.scenario.horizon_s for out in runs) / SECONDS_PER_DAY
        sent = sum(
            alerts_sent(balance_path(out.account.ledger.entries)[1], policy.thresholds_micros)
            for out in runs
            if out.account is not None
        )
        row["emails_per_30d"] = 30 * sent / days if days else math.nan
        row["thresholds"] = ", ".join(format_money(v) for v in policy.thresholds_micros)
    else:
        row["false_alarms"] = int((events["event"] == "no forfeit (false alarm)").sum())
        row["thresholds"] = f"{policy.days_before:g} days before expiry"
    row["method"] = method or f"ccsim simulation, {len(runs)} replication(s)"
    return row


def _bounds(t: NDArray[np.float64], b: NDArray[np.int64], i: int, before_s: float) -> tuple[
        float, float]:  # fmt: skip
    """Return (lo, hi): thresholds th with lo < th <= hi warn ``before_s`` ahead of outage i.

    The balance must stay below th after ``t[i] - before_s`` up to the outage (th above every
    balance in that stretch, the one in effect at its start included) and must have been
    at or above th earlier in the episode (so that the e-mail is sent at all).
    """
    lo_i = _episode_start(b, i)
    cut = float(t[i]) - before_s
    inside = np.flatnonzero((t > cut) & (np.arange(len(t)) <= i))
    first_in = int(inside[0]) if len(inside) else i
    at_cut = first_in - 1
    if at_cut < lo_i:
        return math.inf, -math.inf  # the episode starts inside the window: no warning in time
    need_lo = float(b[at_cut : i + 1].max())
    prev = np.concatenate([[0], b[:-1]])
    need_hi = float(prev[lo_i : at_cut + 1].max())  # a balance the crossing starts from
    return need_lo, need_hi


def suggest_threshold(
    runs: Sequence[RunOutput],
    target_lead_s: float = 3 * SECONDS_PER_DAY,
    share: float = 0.90,
    latency_s: float = DEFAULT_LATENCY_S,
    unit_micros: int = MICROS_PER_UNIT,
) -> Micros | None:
    """Return the smallest threshold giving ``share`` of the outages ``target_lead_s``.

    Whole currency units; with ``share`` 0.9 the P10 lead time reaches the target. None
    when the runs have no outage, or when no single threshold reaches the share.
    """
    paths = [balance_path(out.account.ledger.entries) for out in runs if out.account is not None]
    return suggest_from_paths(paths, target_lead_s, share, latency_s, unit_micros)


def suggest_from_paths(
    paths: Sequence[tuple[NDArray[np.float64], NDArray[np.int64]]],
    target_lead_s: float = 3 * SECONDS_PER_DAY,
    share: float = 0.90,
    latency_s: float = DEFAULT_LATENCY_S,
    unit_micros: int = MICROS_PER_UNIT,
) -> Micros | None:
    """``suggest_threshold`` on balance paths (instants, balances after each entry)."""
    bounds = [
        _bounds(t, b, i, target_lead_s + latency_s) for t, b in paths for i in outage_starts(t, b)
    ]
    if not bounds:
        return None
    need = math.ceil(share * len(bounds) - 1e-9)
    for lo, _ in sorted(bounds):
        if not math.isfinite(lo):
            break
        th = (int(lo) // unit_micros + 1) * unit_micros  # strictly above lo, whole units
        if sum(1 for a, c in bounds if a < th <= c) >= need:
            return Micros(th)
    return None


def alert_lines(rows: Sequence[dict[str, Any]], currency: str = "") -> list[str]:
    """Return the lead-time table as text, one line per policy."""
    lines = [
        f"  {'alert policy':28} {'events':>6} {'lead P10':>9} {'P50':>7} {'P90':>7} "
        f"{'missed':>7} {'e-mails/30d':>11}"
    ]
    for r in rows:

        def d(v: float) -> str:
            return "-" if not math.isfinite(v) else f"{v:.1f} d"

        per = r.get("emails_per_30d", math.nan)
        missed = r["missed_share"]
        lines.append(
            f"  {str(r['policy'])[:28]:28} {r['events']:>6} {d(r['lead_p10_days']):>9} "
            f"{d(r['lead_p50_days']):>7} {d(r['lead_p90_days']):>7} "
            f"{'-' if not math.isfinite(missed) else f'{missed:.0%}':>7} "
            f"{'-' if not math.isfinite(per) else f'{per:.1f}':>11}"
        )
    if currency:
        lines.append(
            f"  (thresholds in {currency}; e-mails arrive {REPORT_LATENCY_S[0] / 3600:.0f}-"
            f"{REPORT_LATENCY_S[1] / 3600:.0f} h late, teams-credits.md §2.3/§5)"
        )
    return lines


__all__ = [
    "DEFAULT_LATENCY_S",
    "REPORT_LATENCY_S",
    "AlertPolicy",
    "ExpiryPolicy",
    "alert_lines",
    "alerts_sent",
    "balance_path",
    "expiry_leads",
    "lead_summary",
    "outage_leads",
    "outage_starts",
    "score_policy",
    "suggest_from_paths",
    "suggest_threshold",
]

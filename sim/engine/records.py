"""The engine's tables and data records: what a run produces and what the walks pass around.

The service and funding codes of spend, outage and call summaries (``SERVICES``,
``FUNDING``), the raw records of a replication (``RunOutput``, ``DayRecord``,
``BlockedCall``), the arrays the walks work on (pending charges, one day's rated calls,
the lean walk's charge order) and helpers that take, concatenate and clear rows of a
``RatedBatch``. No process and no clock here.
"""

from __future__ import annotations

from array import array
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import simpy
from numpy.typing import NDArray

from sim.billing.account import CreditAccount, PostpaidAccount
from sim.billing.policies import Notification
from sim.scenario.costs import SERVICES
from sim.scenario.model import Scenario
from sim.telephony.calls import CALL_TYPES, CallBatch
from sim.telephony.rating import Outcome, RatedBatch, Rule

ProcessGenerator = Generator[simpy.Event, Any, None]

# Services that draw on credits, for spend and outage reports (teams-credits.md §1):
# ``sim.scenario.costs.SERVICES``, whose refused calls the costs price by name.
_SERVICE_OF_RULE = np.full(len(Rule), SERVICES.index("other"), dtype=np.int8)
for _rule, _service in (
    (Rule.TOLL_FREE_INBOUND, "toll_free"),
    (Rule.DIAL_OUT_ZONE_A, "dial_out"),
    (Rule.DIAL_OUT_NOT_COVERED, "dial_out"),
    (Rule.DOMESTIC_PLAN, "overage"),
    (Rule.INTERNATIONAL_PLAN, "international"),
    (Rule.INTERNATIONAL_ON_DOMESTIC, "international"),
    (Rule.PAYG_OUTBOUND, "payg"),
    (Rule.PREMIUM_SHARED_COST, "premium"),
    (Rule.CONF_PAY_PER_MINUTE, "conferencing_ppm"),
):
    _SERVICE_OF_RULE[_rule] = SERVICES.index(_service)

# How each call ended up funded, for the calls summary.
FUNDING: tuple[str, ...] = (
    "free",
    "pool",
    "pool+charged",
    "charged",
    "blocked_balance",
    "blocked_rule",
    "cut_off",
    "charged_below_zero",
)
_F_BLOCKED_BALANCE = FUNDING.index("blocked_balance")
_F_BELOW_ZERO = FUNDING.index("charged_below_zero")
_FUNDING_OF_OUTCOME = np.array(
    [
        FUNDING.index(name)
        for name in ("free", "pool", "pool+charged", "charged", "blocked_rule", "cut_off")
    ],
    dtype=np.int8,
)
assert [o.value for o in Outcome] == list(range(6))  # the table above follows Outcome


@dataclass(slots=True)
class BlockedCall:
    """A call attempt refused for want of credit (balance not positive at set-up)."""

    t_s: float
    call_id: int
    call_type: int
    service: int
    duration_s: float
    amount: int
    attempt: int
    retried: bool


@dataclass(slots=True)
class DayRecord:
    """What the daily observer saw at the end of a local day."""

    day: int
    end_s: float
    balance: int
    pending: int
    auto_enabled: bool


@dataclass(frozen=True, slots=True)
class WindowStart:
    """The run's running totals when the measured window opens (after a warm-up)."""

    charged_total: int = 0
    uncharged_total: int = 0
    charge_area: float = 0.0
    uncharged_area: float = 0.0
    invoiced_total: int = 0
    invoiced_area: float = 0.0
    calls_total: int = 0
    retries_total: int = 0


@dataclass(slots=True)
class RunOutput:
    """Raw records of one replication; ``sim.engine.results`` turns them into tables."""

    scenario: Scenario
    replication: int
    account: CreditAccount | None
    postpaid: PostpaidAccount | None
    days: list[DayRecord] = field(default_factory=list)
    """Full runs: the balance at the end of every local day and at the horizon."""
    day_balance: NDArray[np.int64] | None = None
    """Lean runs (sweeps) keep only the balances of ``days``, as one array."""
    blocked: list[BlockedCall] = field(default_factory=list)
    pool_alerts: list[Notification] = field(default_factory=list)
    calls_summary: list[tuple[int, NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]] = (
        field(default_factory=list)
    )
    """Per day: (day, calls, served seconds, charged micro-units), each an array over
    (call type x funding)."""
    spend: list[tuple[int, NDArray[np.int64]]] = field(default_factory=list)
    """Per day: charged micro-units by service (charge instant's day)."""
    charged_total: int = 0
    uncharged_total: int = 0
    charge_area: float = 0.0
    """Sum of charge x (horizon - charge instant), micro-unit seconds: with the ledger's
    other entries it gives the exact time-average balance whatever the debit grouping."""
    uncharged_area: float = 0.0
    """The same sum over the parts of charges that ``funding.at_zero = "cut_off"`` left
    uncharged (``uncharged_tail``): added back, the balance area uses what was debited."""
    uncharged_log: list[tuple[NDArray[np.float64], NDArray[np.int64]]] = field(default_factory=list)
    """Lean runs: (instants, amounts) of the uncharged parts, for the day-end balances."""
    invoiced_total: int = 0
    """After a switch to postpaid (``funding.postpaid_from``, teams-credits.md §10.3): the
    parts of charges billed to the usage invoice once the credit was used up."""
    invoiced_area: float = 0.0
    """As ``uncharged_area``, for the invoiced parts (never debited from credits)."""
    invoiced_log: list[tuple[NDArray[np.float64], NDArray[np.int64]]] = field(default_factory=list)
    """Lean runs: (instants, amounts) of the invoiced parts, for the day-end balances."""
    pending_at_horizon: int = 0
    calls_total: int = 0
    retries_total: int = 0
    wall_s: float = 0.0
    window_s: float = 0.0
    """Where the measured window starts: 0, or the end of the warm-up."""
    at_window: WindowStart = field(default_factory=WindowStart)
    day_ends: NDArray[np.float64] | None = None
    """Lean runs: the end of every local day before the horizon (for ``day_balance``)."""

    def day_balances(self) -> NDArray[np.int64]:
        """Return the balance at the end of every local day and at the horizon."""
        if self.day_balance is not None:
            return self.day_balance
        return np.asarray([d.balance for d in self.days], dtype=np.int64)

    def window_day_balances(self) -> NDArray[np.int64]:
        """Return the day-end balances of the measured window (no warm-up days)."""
        balances = self.day_balances()
        if self.window_s <= 0:
            return balances
        if self.day_balance is not None:
            assert self.day_ends is not None
            ends = np.append(self.day_ends, self.scenario.horizon_s)
        else:
            ends = np.asarray([d.end_s for d in self.days], dtype=np.float64)
        return balances[ends > self.window_s + 1e-6]


@dataclass(slots=True)
class _Charges:
    """Charges not yet posted, sorted by instant: (time, amount, service)."""

    t: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    amount: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    service: NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))

    def merge(
        self, t: NDArray[np.float64], amount: NDArray[np.int64], service: NDArray[np.int8]
    ) -> None:
        if len(t) == 0:
            return
        all_t = np.concatenate([self.t, t])
        order = np.argsort(all_t, kind="stable")  # pending first on ties
        self.t = all_t[order]
        self.amount = np.concatenate([self.amount, amount])[order]
        self.service = np.concatenate([self.service, service])[order]

    def split(self, k: int) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int8]]:
        head = (self.t[:k], self.amount[:k], self.service[:k])
        self.t, self.amount, self.service = self.t[k:], self.amount[k:], self.service[k:]
        return head


@dataclass(slots=True)
class _Day:
    """One local day's rated calls as the walker sees them, in start order."""

    index: int
    start_s: float
    end_s: float
    batch: CallBatch
    rated: RatedBatch
    charge_t: NDArray[np.float64]
    service: NDArray[np.int8]
    funding: NDArray[np.int8]
    attempt: NDArray[np.int64]
    decided: NDArray[np.bool_]
    chargeable: NDArray[np.bool_]
    extra_blocked: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(CALL_TYPES), np.int64)
    )
    pos: int = 0


@dataclass(slots=True)
class _ChargeOrder:
    """A replication's balance-touching calls in charge order, for the fast walk."""

    ct: NDArray[np.float64]  # charge instant
    amt: NDArray[np.int64]
    chk: NDArray[np.bool_]  # needs a positive balance at set-up
    st: NDArray[np.float64]  # start
    svc: NDArray[np.int8]
    dur: NDArray[np.float64]
    served: NDArray[np.float64]
    cid: NDArray[np.int64]
    ctype: NDArray[np.int8]
    attempt: NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _FastStart:
    """What every fast walk of a replication starts from (shared, never written to)."""

    co: _ChargeOrder
    total: int  # calls drawn, balance-touching or not
    cum: NDArray[np.int64]  # running total of the charges
    area: NDArray[np.float64]  # running total of charge x (horizon - charge instant)
    charges_before_day_end: NDArray[np.intp]
    """How many charges come before each of the replication's midnights (``day_ends``)."""
    ct_seq: array[float]  # ``co.ct`` and ``cum`` as Python arrays: a walk's many single
    cum_seq: array[int]  # lookups (bisect, indexing) are several times quicker than on numpy


def uncharged_tail(
    t: NDArray[np.float64], amount: NDArray[np.int64], uncharged: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return which charges of one debit a cut-off left uncharged, and how much of each.

    A debit posts charges (in time order) at once; when the balance runs out part-way the
    last ones go uncharged: the latest fully, and the one that crossed zero in part. Returns
    their row indices (latest first) and uncharged amounts (which add up to ``uncharged``).
    """
    if uncharged <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rev = amount[::-1]
    cum = np.cumsum(rev)
    n = int(np.searchsorted(cum, uncharged, "left")) + 1
    take = rev[:n].astype(np.int64)
    take[-1] -= int(cum[n - 1]) - uncharged
    rows = (len(amount) - 1 - np.arange(n)).astype(np.int64)
    return rows, take


def book_not_debited(
    out: RunOutput,
    t: NDArray[np.float64],
    amount: NDArray[np.int64],
    part: int,
    horizon_s: float,
    kind: Literal["uncharged", "invoiced"],
    lean: bool,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Book the part of one debit's charges that credits did not pay.

    ``uncharged``: cut off at zero (``funding.at_zero = "cut_off"``); ``invoiced``: billed
    to the usage invoice after a switch to postpaid (§10.3). Either way the last charges
    of the debit (``uncharged_tail``) were never debited: their total, their balance area
    and, for lean runs, their (instant, amount) log are recorded. Returns their rows and
    amounts.
    """
    rows, left = uncharged_tail(t, amount, part)
    area = float((left * (horizon_s - t[rows])).sum())
    if kind == "uncharged":
        out.uncharged_total += part
        out.uncharged_area += area
        log = out.uncharged_log
    else:
        out.invoiced_total += part
        out.invoiced_area += area
        log = out.invoiced_log
    if lean:
        log.append((t[rows][::-1], left[::-1]))
    return rows, left


def _posted_total(cum: NDArray[np.int64], n: int) -> int:
    return int(cum[n - 1]) if n else 0


def _retry_ratings(rated: RatedBatch, rows: NDArray[np.int64]) -> RatedBatch:
    """Return the ratings of calls tried again: as first rated.

    Pool and tariff indices are cleared: they index tables of the day of the first try
    (so their tariff terms, ``RatedBatch.rate_per_min`` and the others, read 0).
    """
    r = _take_rated(rated, rows)
    return replace(
        r,
        pool=np.full(len(rows), -1, np.int32),
        tariff_row=np.full(len(rows), -1, np.int64),
    )


def _concat_rated(first: RatedBatch, *more: RatedBatch) -> RatedBatch:
    """Append rows (whose pool and tariff indices are -1, see ``_retry_ratings``)."""
    parts = (first, *more)

    def cat(name: str) -> Any:
        return np.concatenate([getattr(p, name) for p in parts])

    return replace(
        first,
        **{
            name: cat(name)
            for name in (
                "call_id",
                "rule",
                "outcome",
                "reason",
                "pool",
                "pool_s",
                "charged_s",
                "amount",
                "needs_balance_check",
                "served_s",
                "tariff_row",
            )
        },
    )


def _first_undecided(d: _Day) -> int:
    """Index of the first row of the day not yet decided (at or after ``d.pos``)."""
    rest = d.decided[d.pos :]
    i = int(np.argmin(rest)) if rest.size else 0
    return d.pos + i if rest.size and not rest[i] else len(d.decided)


def _is_charged(outcome: NDArray[np.int8]) -> NDArray[np.bool_]:
    return (outcome == Outcome.CHARGED) | (outcome == Outcome.POOL_CHARGED)


def _take_rated(r: RatedBatch, idx: NDArray[np.int64]) -> RatedBatch:
    return replace(
        r,
        call_id=r.call_id[idx],
        rule=r.rule[idx],
        outcome=r.outcome[idx],
        reason=r.reason[idx],
        pool=r.pool[idx],
        pool_s=r.pool_s[idx],
        charged_s=r.charged_s[idx],
        amount=r.amount[idx],
        needs_balance_check=r.needs_balance_check[idx],
        served_s=r.served_s[idx],
        tariff_row=r.tariff_row[idx],
    )


__all__ = [
    "FUNDING",
    "SERVICES",
    "BlockedCall",
    "DayRecord",
    "ProcessGenerator",
    "RunOutput",
    "WindowStart",
]

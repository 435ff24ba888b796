"""The SimPy engine: traffic, rating, the credit account and the calendar, in time order.

The only module that imports SimPy. SimPy schedules what is truly event-driven: payments
completing, lots expiring, admins acting, trigger polls, month boundaries (NCE/MCA
invoices) and the daily observer. Calls travel in batches: each local day's calls are
drawn and rated at once (``sim.traffic``, ``sim.rating``), then the ``call_traffic``
process walks them in time order up to the next scheduled event (``env.peek()``).

Within such a stretch nothing but debits touches the balance, so the balance after each
charge is a prefix sum. ``CreditAccount.reaction_index`` finds the first charge at which
the account would react (an e-mail or a recharge order); the walker posts the charges
before it together (one ledger debit per local hour), stops at that charge's instant,
lets the account react, and goes on. Set-up checks follow from the same sums: a call
that needs credit is refused exactly when it starts at or after the charge that took the
balance to zero, and before the next purchase. The result is the same ledger, to the
micro-unit, as charging every call on its own (``tests/integration`` compares the two).

Pipeline order per day: draw -> rate (pools in start order) -> walk (blocking, charges,
retries). Rating does not depend on the balance (calls that need credit at set-up never
draw a pool), so blocking changes no other call's rating.
"""

from __future__ import annotations

import heapq
import time as wallclock
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

import numpy as np
import simpy
from numpy.typing import NDArray

from sim.billing.account import CreditAccount, PostpaidAccount
from sim.billing.ledger import EntryKind, LedgerError
from sim.billing.policies import Notification, NotificationKind
from sim.core.rng import stream
from sim.core.units import SECONDS_PER_HOUR, Micros
from sim.scenario.model import Scenario
from sim.telephony.calls import CALL_TYPES, CallBatch
from sim.telephony.rating import Outcome, PoolState, RatedBatch, RatingContext, Rule, rate_batch
from sim.telephony.tariffs import TariffBook
from sim.traffic.model import TrafficModel
from sim.traffic.settings import Retry

ProcessGenerator = Generator[simpy.Event, Any, None]

# Services that draw on credits, for spend and outage reports (teams-credits.md §1).
SERVICES: tuple[str, ...] = (
    "toll_free",
    "dial_out",
    "overage",
    "international",
    "payg",
    "premium",
    "conferencing_ppm",
    "other",
)
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


class TrafficSource(Protocol):
    """Where the calls come from: synthetic traffic, or recorded calls to replay.

    Days are local calendar days counted from the scenario's start.
    """

    def day_bounds(self, day_index: int) -> tuple[float, float, date]:
        """Return (start_s, end_s, local date) of local day ``day_index``."""
        ...

    def draw_day(self, day_index: int) -> CallBatch:
        """Return the calls that start on local day ``day_index``, sorted by start."""
        ...


class RatedTraffic:
    """A replication's calls, drawn and rated once, served again to every policy.

    Ratings never depend on the recharge policy (refused calls draw no pool and repeat
    attempts keep their first rating), so a sweep draws and rates each replication's
    traffic once and replays it against every setting: common random numbers, and the
    work of drawing and rating is not repeated. The first run fills the cache.
    """

    def __init__(self) -> None:
        self._days: dict[int, tuple[CallBatch, RatedBatch]] = {}
        self._year: tuple[CallBatch, RatedBatch, int] | None = None
        self.charge_orders: dict[tuple[str, float], _FastStart] = {}
        self.model: TrafficSource | None = None  # the replication's traffic model
        self.day_ends: NDArray[np.float64] | None = None

    def day(self, day: int, world: World) -> tuple[CallBatch, RatedBatch]:
        """Return the day's calls and ratings, drawing and rating them the first time."""
        if day not in self._days:
            self._days[day] = world.draw_and_rate(day)
        return self._days[day]

    def year(self, world: World) -> tuple[CallBatch, RatedBatch, int]:
        """Return the horizon's calls that touch the balance, and the count of all calls.

        Free and pool-covered calls never touch the balance; the lean walk needs only
        the calls that are charged or need credit at set-up.
        """
        if self._year is None:
            batches, ratings, total = [], [], 0
            day = 0
            while world.day_bounds(day)[0] < world.horizon_s:
                batch, rated = self.day(day, world)
                total += len(batch)
                keep = np.flatnonzero(_is_charged(rated.outcome) | rated.needs_balance_check)
                batches.append(batch.take(keep))
                ratings.append(_retry_ratings(rated, keep))
                day += 1
            self._year = (CallBatch.concat(batches), _concat_rated(*ratings), total)
            self.day_ends = np.asarray(
                [world.day_bounds(k)[1] for k in range(day)], dtype=np.float64
            )
            self._days.clear()  # the year's arrays are all a lean walk needs
        return self._year


class EngineError(RuntimeError):
    """A broken invariant at the end of a run: a bug, reported loudly."""


class SimpyScheduler:
    """Run the account's callbacks as SimPy processes at the instants it asks for."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env

    def schedule(self, at_s: float, action: Callable[[float], None]) -> None:
        """Call ``action(now)`` when the clock reaches ``at_s`` (a timeout's callback).

        Same order as a process waiting on that timeout, without a process per action.
        """
        env = self.env
        env.timeout(max(0.0, at_s - env.now)).callbacks.append(lambda _: action(env.now))


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


@dataclass(slots=True)
class RunOutput:
    """Raw records of one replication; ``sim.results`` turns them into tables."""

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
    pending_at_horizon: int = 0
    calls_total: int = 0
    retries_total: int = 0
    wall_s: float = 0.0

    def day_balances(self) -> NDArray[np.int64]:
        """Return the balance at the end of every local day and at the horizon."""
        if self.day_balance is not None:
            return self.day_balance
        return np.asarray([d.balance for d in self.days], dtype=np.int64)


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


class World:
    """Everything one replication needs, wired together."""

    def __init__(
        self,
        scenario: Scenario,
        tariffs: TariffBook | None,
        replication: int,
        progress: Callable[[float], None] | None = None,
        traffic: TrafficSource | None = None,
        rated: RatedTraffic | None = None,
        lean: bool = False,
    ) -> None:
        self.scenario = scenario
        self.replication = replication
        self.rated_traffic = rated
        # Lean: outcomes and day-end balances only (sweeps). The whole horizon is walked
        # at once, stopping only at events; no per-day tables.
        self.lean = lean and rated is not None
        self._charge_log: list[tuple[NDArray[np.float64], NDArray[np.int64]]] = []
        # The fast walk's posted charges: (charge instants, running total, count posted).
        self._posted: tuple[NDArray[np.float64], NDArray[np.int64], int] | None = None
        self.progress = progress
        self.env = simpy.Environment()
        self.calendar = scenario.calendar
        self.horizon_s = scenario.horizon_s
        seed = scenario.simulation.seed
        funding = scenario.funding
        self.prepaid = funding.mode == "prepaid"
        self.account: CreditAccount | None = None
        self.postpaid: PostpaidAccount | None = None
        if self.prepaid:
            self.account = CreditAccount(
                calendar=self.calendar,
                recharge=scenario.recharge,
                payment=scenario.payment,
                admin=scenario.admin,
                scheduler=SimpyScheduler(self.env),
                rng_payments=stream(seed, replication, "payments"),
                rng_admin=stream(seed, replication, "admin"),
                expiry_months=funding.expiry_months,
                low_balance=funding.low_balance,
                allow_overshoot=funding.at_zero == "overshoot",
            )
        else:
            self.postpaid = PostpaidAccount(self.calendar)
        self.output = RunOutput(scenario, replication, self.account, self.postpaid)
        self.traffic: TrafficSource | None = traffic
        self.ctx: RatingContext | None = None
        if traffic is not None or scenario.user_groups or scenario.service_numbers:
            if tariffs is None:
                raise ValueError("a scenario with traffic needs its rate tables")
            self.ctx = RatingContext(
                tenant=scenario.tenant,
                tariffs=tariffs,
                calendar=self.calendar,
                funding_mode=funding.mode,
                hard_cap=scenario.postpaid.hard_cap and not self.prepaid,
                headcount_growth_per_month=scenario.traffic.headcount_growth_per_month,
            )
            if self.traffic is None and rated is not None and rated.model is not None:
                self.traffic = rated.model  # every run of the replication shares one
            if self.traffic is None:
                self.traffic = TrafficModel(
                    scenario.traffic,
                    scenario.population,
                    self.calendar,
                    seed,
                    replication,
                    self.horizon_s,
                )
            if rated is not None and rated.model is None:
                rated.model = self.traffic
        self.rng_retries = stream(seed, replication, "retries")
        self.pool_state = PoolState()
        self.charges = _Charges()
        self._open_day: _Day | None = None
        # Repeat attempts landing on later days: (calls, their first rating, attempt).
        self._later: dict[int, list[tuple[CallBatch, RatedBatch, NDArray[np.int64]]]] = {}

    # -- set-up ------------------------------------------------------------------------
    def start(self) -> None:
        """Fund the account and start the processes."""
        f = self.scenario.funding
        if self.account is not None:
            self.account.start(0.0, f.initial_funds, self.scenario.initial_purchased_at_s())
        if not self.lean:
            self.env.process(daily_observer(self.env, self))
        if self.postpaid is not None:
            self.env.process(month_boundaries(self.env, self))
        if self.traffic is not None:
            if not self.lean:
                walker = call_traffic(self.env, self)
            elif self.account is not None and self.scenario.funding.at_zero == "overshoot":
                walker = fast_traffic(self.env, self)
            else:
                walker = lean_traffic(self.env, self)
            self.env.process(walker)

    def run(self) -> RunOutput:
        """Run to the horizon, check the invariants and return the raw records."""
        t0 = wallclock.perf_counter()
        self.start()
        self.env.run(until=self.horizon_s)
        # SimPy stops before the events due at the horizon: close the last day here.
        if self._open_day is not None and not self.lean:
            self.finish_day(self._open_day)
        if self.lean:
            self._lean_day_balances()
        else:
            self.observe(self.horizon_s)
        self.output.pending_at_horizon = int(self.charges.amount.sum())
        self.check()
        self.output.wall_s = wallclock.perf_counter() - t0
        return self.output

    def check(self) -> None:
        """Check the ledger and the engine's own books; raise ``EngineError``."""
        out = self.output
        if self.account is not None:
            try:
                self.account.invariants()
            except (LedgerError, AssertionError) as exc:
                raise EngineError(f"ledger invariant broken: {exc}") from exc
            led = self.account.ledger
            if led.consumed_total != out.charged_total - out.uncharged_total:
                raise EngineError(
                    f"charges posted ({out.charged_total - out.uncharged_total}) differ from "
                    f"the ledger's consumption ({led.consumed_total})"
                )
        if self.postpaid is not None and self.postpaid.consumed_total != out.charged_total:
            raise EngineError("charges posted differ from the postpaid account's usage")
        if self._posted is None:  # the fast walk keeps no spend by day and service
            spent = sum(int(v.sum()) for _, v in out.spend)
            if spent != out.charged_total:
                raise EngineError("daily spend does not add up to the charges posted")
        elif out.charged_total != _posted_total(self._posted[1], self._posted[2]):
            raise EngineError("charges posted differ from the running total of the charges")

    # -- the day's calls -------------------------------------------------------------
    def day_bounds(self, day: int) -> tuple[float, float]:
        """Return the local day's start and end, clipped to the horizon."""
        assert self.traffic is not None
        start, end, _ = self.traffic.day_bounds(day)
        return start, min(end, self.horizon_s)

    def prepare_day(self, day: int) -> _Day:
        """Draw and rate one day's calls (plus retries carried over to it)."""
        assert self.traffic is not None
        assert self.ctx is not None
        start_s, end_s = self.day_bounds(day)
        if self.rated_traffic is not None:
            batch, rated = self.rated_traffic.day(day, self)
        else:
            batch, rated = self.draw_and_rate(day)
        attempt = np.zeros(len(batch), np.int64)
        for alert in rated.alerts:
            kind = (
                NotificationKind.POOL_80 if alert.threshold_pct == 80 else NotificationKind.POOL_100
            )
            self.output.pool_alerts.append(
                Notification(alert.t_s, kind, f"{alert.pool.label} {alert.month}")
            )
        if self.scenario.funding.charge_at == "start":
            charge_t = batch.start_s.copy()
        else:
            charge_t = batch.start_s + rated.served_s
        self.output.calls_total += len(batch)
        d = _Day(
            index=day,
            start_s=start_s,
            end_s=end_s,
            batch=batch,
            rated=rated,
            charge_t=charge_t,
            service=_SERVICE_OF_RULE[rated.rule],
            funding=_FUNDING_OF_OUTCOME[rated.outcome],
            attempt=attempt,
            decided=np.zeros(len(batch), dtype=bool),
            chargeable=_is_charged(rated.outcome),
        )
        for calls, ratings, attempts in self._later.pop(day, []):
            self._insert(d, calls, ratings, attempts)
        return d

    def draw_and_rate(self, day: int) -> tuple[CallBatch, RatedBatch]:
        """Draw a day's calls (those before the horizon) and rate them in start order."""
        assert self.traffic is not None
        assert self.ctx is not None
        _, end_s = self.day_bounds(day)
        batch = self.traffic.draw_day(day)
        if len(batch) and batch.start_s[-1] >= end_s:  # horizon inside the day
            batch = batch.take(batch.start_s < end_s)
        rated = rate_batch(batch, self.ctx, self.pool_state)
        self.pool_state = rated.state
        return batch, rated

    def _lean_day_balances(self) -> None:
        """Day-end balances of a lean walk: every change before each local midnight.

        Charges were posted in time order, so their running total needs no sort; the
        few purchases and forfeits are added on top.
        """
        acc = self.account
        out = self.output
        if acc is None:
            out.day_balance = np.zeros(0, np.int64)
            return
        acc.has_credit(self.horizon_s)  # forfeit lots due by the horizon
        assert self.rated_traffic is not None
        ends = self.rated_traffic.day_ends
        assert ends is not None
        ends = ends[ends < self.horizon_s]
        steps = [e for e in acc.ledger.entries if e.kind in _STEP_KINDS]
        step_t = np.asarray([e.t_s for e in steps], dtype=np.float64)
        step_level = np.cumsum(np.asarray([e.amount for e in steps], dtype=np.int64))
        k = np.searchsorted(step_t, ends, side="left")
        level = np.where(k > 0, step_level[np.maximum(k - 1, 0)] if len(steps) else 0, 0)
        if self._posted is not None:
            ct, spent, n = self._posted
            ct, spent = ct[:n], spent[:n]
        elif self._charge_log:
            ct = np.concatenate([t for t, _ in self._charge_log])
            spent = np.cumsum(np.concatenate([a for _, a in self._charge_log]))
        else:
            ct, spent = np.zeros(0), np.zeros(0, np.int64)
        if len(ct):
            j = np.searchsorted(ct, ends, side="left")
            level = level - np.where(j > 0, spent[np.maximum(j - 1, 0)], 0)
        out.day_balance = np.append(level.astype(np.int64), np.int64(acc.balance))

    def observe(self, t_s: float) -> None:
        """Record the balance at the end of a local day (or at the horizon)."""
        days = self.output.days
        if days and days[-1].end_s >= t_s:
            return
        acc = self.account
        if acc is not None:
            acc.has_credit(t_s)  # forfeit lots due by now before reading the balance
            record = DayRecord(len(days), t_s, acc.balance, acc.pending, acc.auto_enabled)
        else:
            record = DayRecord(len(days), t_s, 0, 0, False)
        days.append(record)

    def finish_day(self, d: _Day) -> None:
        """Record the day's calls summary by call type and funding."""
        self._open_day = None
        n_f = len(FUNDING)
        key = d.batch.call_type.astype(np.int64) * n_f + d.funding
        size = len(CALL_TYPES) * n_f
        counts = np.bincount(key, minlength=size).astype(np.int64)
        counts[np.arange(len(CALL_TYPES)) * n_f + _F_BLOCKED_BALANCE] += d.extra_blocked
        served = np.where(d.funding == _F_BLOCKED_BALANCE, 0.0, d.rated.served_s)
        seconds = np.bincount(key, weights=served, minlength=size).astype(np.float64)
        charged = np.where(d.funding == _F_BLOCKED_BALANCE, 0, d.rated.amount)
        # Money is summed exactly in integers, one funding cell at a time.
        amounts = np.zeros(size, np.int64)
        np.add.at(amounts, key, charged)
        self.output.calls_summary.append((d.index, counts, seconds, amounts))

    def add_retries(
        self,
        d: _Day,
        rows: NDArray[np.int64],
        at_s: NDArray[np.float64],
        attempts: NDArray[np.int64],
    ) -> None:
        """Queue repeat attempts of blocked calls: later today, or on a later day.

        A repeat attempt keeps the rating of the first: it needs credit at set-up, so it
        draws no pool, and rating it once keeps every call's rating independent of the
        recharge policy (so a sweep can rate the traffic once and replay it).
        """
        keep = at_s < self.horizon_s
        rows, at_s, attempts = rows[keep], at_s[keep], attempts[keep]
        if rows.size == 0:
            return
        calls = replace(d.batch.take(rows), start_s=at_s)
        ratings = _retry_ratings(d.rated, rows)
        today = at_s < d.end_s
        if today.all():
            self._insert(d, calls, ratings, attempts)
            return
        if today.any():
            idx = np.flatnonzero(today)
            self._insert(d, calls.take(idx), _take_rated(ratings, idx), attempts[idx])
        for k in np.flatnonzero(~today).tolist():
            day = self._day_of(float(at_s[k]), d.index)
            one = np.array([k])
            self._later.setdefault(day, []).append(
                (calls.take(one), _take_rated(ratings, one), attempts[one])
            )

    def _day_of(self, t_s: float, from_day: int) -> int:
        assert self.traffic is not None
        day = from_day
        while self.traffic.day_bounds(day)[1] <= t_s:
            day += 1
        return day

    def _insert(
        self, d: _Day, calls: CallBatch, ratings: RatedBatch, attempts: NDArray[np.int64]
    ) -> None:
        """Insert repeat attempts (with their ratings) into a day, in start order."""
        if self.scenario.funding.charge_at == "start":
            charge_t = calls.start_s.copy()
        else:
            charge_t = calls.start_s + ratings.served_s
        batch = CallBatch.concat([d.batch, calls])
        order = np.argsort(batch.start_s, kind="stable")
        d.batch = batch.take(order)
        d.rated = _take_rated(_concat_rated(d.rated, ratings), order)
        d.charge_t = np.concatenate([d.charge_t, charge_t])[order]
        d.service = np.concatenate([d.service, _SERVICE_OF_RULE[ratings.rule]])[order]
        d.funding = np.concatenate([d.funding, _FUNDING_OF_OUTCOME[ratings.outcome]])[order]
        d.attempt = np.concatenate([d.attempt, attempts])[order]
        d.decided = np.concatenate([d.decided, np.zeros(len(calls), bool)])[order]
        d.chargeable = _is_charged(d.rated.outcome)
        d.pos = 0
        d.pos = _first_undecided(d)
        self.output.calls_total += len(calls)
        self.output.retries_total += len(calls)


def _posted_total(cum: NDArray[np.int64], n: int) -> int:
    return int(cum[n - 1]) if n else 0


def _retry_ratings(rated: RatedBatch, rows: NDArray[np.int64]) -> RatedBatch:
    """Return the ratings of calls tried again: as first rated.

    Pool and tariff indices are cleared: they index tables of the day of the first try.
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
                "rate_per_min",
                "connection_fee",
                "increment_s",
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
        rate_per_min=r.rate_per_min[idx],
        connection_fee=r.connection_fee[idx],
        increment_s=r.increment_s[idx],
    )


def daily_observer(env: simpy.Environment, world: World) -> ProcessGenerator:
    """Process: record the balance at the end of every local day."""
    cal = world.calendar
    t = 0.0
    while True:
        t = cal.to_sim(datetime.combine(cal.to_datetime(t).date() + timedelta(days=1), time()))
        if t >= world.horizon_s:
            return  # the engine records the horizon itself
        yield env.timeout(t - env.now)
        world.observe(env.now)


def month_boundaries(env: simpy.Environment, world: World) -> ProcessGenerator:
    """Process: issue each postpaid (NCE/MCA) invoice when its calendar month ends."""
    assert world.postpaid is not None
    for t in world.calendar.month_starts_s(world.horizon_s):
        yield env.timeout(t - env.now)
        invoice = world.postpaid.close_month(env.now)
        world.output.pool_alerts.append(
            Notification(env.now, NotificationKind.INVOICE_ISSUED, f"{invoice.month}")
        )


def call_traffic(env: simpy.Environment, world: World) -> ProcessGenerator:
    """Process: draw, rate and walk each local day's calls in time order."""
    assert world.traffic is not None
    day = 0
    while True:
        start_s, end_s = world.day_bounds(day)
        if start_s >= world.horizon_s:
            break
        d = world.prepare_day(day)
        world._open_day = d
        yield from walk_day(env, world, d)
        world.finish_day(d)
        if world.progress is not None:
            world.progress(min(1.0, end_s / world.horizon_s))
        day += 1


_STEP_KINDS = frozenset({EntryKind.PURCHASE, EntryKind.EXPIRE})
_LEAN_ROWS = 1500


def lean_traffic(env: simpy.Environment, world: World) -> ProcessGenerator:
    """Process: walk the whole horizon's balance-touching calls at once (sweeps)."""
    assert world.rated_traffic is not None
    batch, rated, total = world.rated_traffic.year(world)
    world.output.calls_total += total
    charge_t = batch.start_s.copy()
    if world.scenario.funding.charge_at != "start":
        charge_t = charge_t + rated.served_s
    d = _Day(
        index=0,
        start_s=0.0,
        end_s=world.horizon_s,
        batch=batch,
        rated=rated,
        charge_t=charge_t,
        service=_SERVICE_OF_RULE[rated.rule],
        funding=_FUNDING_OF_OUTCOME[rated.outcome],
        attempt=np.zeros(len(batch), np.int64),
        decided=np.zeros(len(batch), dtype=bool),
        chargeable=_is_charged(rated.outcome),
    )
    yield from walk_day(env, world, d)


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


def _charge_order(world: World) -> _FastStart:
    """Return the replication's charged calls in charge order (cached per charge rule)."""
    cache = world.rated_traffic
    assert cache is not None
    key = (world.scenario.funding.charge_at, world.horizon_s)
    if key not in cache.charge_orders:
        co, total = _build_charge_order(world)
        cache.charge_orders[key] = _FastStart(co, total, *_running_totals(co, world.horizon_s))
    return cache.charge_orders[key]


def _running_totals(
    co: _ChargeOrder, horizon_s: float
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    return np.cumsum(co.amt), np.cumsum(co.amt * (horizon_s - co.ct))


def _build_charge_order(world: World) -> tuple[_ChargeOrder, int]:
    assert world.rated_traffic is not None
    batch, rated, total = world.rated_traffic.year(world)
    keep = np.flatnonzero(_is_charged(rated.outcome))
    start = batch.start_s[keep]
    served = rated.served_s[keep]
    ct = start.copy() if world.scenario.funding.charge_at == "start" else start + served
    order = keep[np.argsort(ct, kind="stable")]
    ct = np.sort(ct, kind="stable")
    return (
        _ChargeOrder(
            ct=ct,
            amt=rated.amount[order].astype(np.int64),
            chk=rated.needs_balance_check[order].copy(),
            st=batch.start_s[order],
            svc=_SERVICE_OF_RULE[rated.rule[order]],
            dur=batch.duration_s[order],
            served=rated.served_s[order],
            cid=batch.call_id[order],
            ctype=batch.call_type[order],
            attempt=np.zeros(len(order), np.int64),
        ),
        total,
    )


def fast_traffic(env: simpy.Environment, world: World) -> ProcessGenerator:
    """Process: the lean walk over a fixed charge order, one pass per event.

    Between events the balance only falls, so the running total of the charges gives
    every reaction by binary search, and each pass posts its charges as one debit
    (their total is a difference of two running totals). Refused calls are taken out of
    the order (and their repeat attempts put in) only while the balance is not positive;
    until the first refusal the walk reads the replication's shared arrays. Used by
    sweeps when every call that needs credit is charged (``refuse_at_zero``, overshoot
    allowed).
    """
    acc = world.account
    assert acc is not None
    out = world.output
    fs = _charge_order(world)
    co, amt, cum, area = fs.co, fs.co.amt, fs.cum, fs.area
    ct = co.ct
    out.calls_total += fs.total
    horizon = world.horizon_s
    dead: NDArray[np.bool_] | None = None  # refused calls; made at the first refusal
    refusing = world.scenario.funding.refuse_at_zero
    k = 0
    while True:
        t = env.now
        t1 = min(env.peek(), horizon)
        j_end = int(ct.searchsorted(t1, "left"))
        base = int(cum[k - 1]) if k else 0
        if refusing and not acc.has_credit(t):
            if dead is None:  # from now on this walk has arrays of its own
                dead = np.zeros(len(amt), dtype=bool)
                amt = amt.copy()
            # Calls that need credit and start from now on are refused, up to the first
            # charge the account reacts to (only a recharge order can happen here).
            rows = np.arange(k, j_end)
            blockable = co.chk[rows] & (co.st[rows] >= t) & ~dead[rows]
            live = ~dead[rows] & ~blockable
            x = np.cumsum(np.where(live, amt[rows], 0))
            stop = j_end
            for v, strict in acc.reaction_thresholds():
                hit = (x > v) if strict else (x >= v)
                hit &= live
                if hit.any():
                    stop = min(stop, k + int(np.argmax(hit)))
            until = float(ct[stop]) if stop < j_end else t1
            # Refuse every call needing credit that starts in [t, until), wherever its
            # charge lies (a call charged at its end may be charged after t1).
            tail = np.arange(k, len(ct))
            refuse = tail[co.chk[tail] & ~dead[tail] & (co.st[tail] >= t) & (co.st[tail] < until)]
            if refuse.size:
                # Repeat attempts start at or after ``until``: they are merged in after
                # ``stop``, so ``k`` and ``stop`` keep pointing at the same charges, and
                # the running total before ``k`` (``base``) is unchanged.
                new_rows = _fast_block(world, co, refuse, until)
                dead[refuse] = True
                amt[refuse] = 0
                if new_rows is not None:
                    co, amt, dead = _fast_insert(co, amt, dead, new_rows)
                    ct = co.ct
                cum, area = _running_totals(replace(co, amt=amt), horizon)
        else:
            stop = j_end
            for v, strict in acc.reaction_thresholds():
                i = int(cum.searchsorted(base + v, "right" if strict else "left"))
                if i < k:
                    i = k
                if dead is not None:
                    while i < j_end and dead[i]:
                        i += 1
                if i < stop:
                    stop = i
        reacts = stop < j_end
        last = stop if reacts else j_end - 1
        if reacts and ct[stop] > env.now:
            yield env.timeout(float(ct[stop]) - env.now)
        if last >= k:
            at = last  # the debit's instant: the run's last charge not refused
            if dead is not None and dead[last]:
                live_rows = np.flatnonzero(~dead[k : last + 1])
                at = k + int(live_rows[-1]) if live_rows.size else -1
            if at >= 0:
                amount = int(cum[last]) - base
                out.charged_total += amount
                out.uncharged_total += acc.charge(float(ct[at]), Micros(amount), "calls").uncharged
            k = last + 1
        if not reacts:
            if t1 >= horizon:
                # Set before the last wait: the run stops before the horizon's events.
                world.charges = _Charges(ct[k:], amt[k:], co.svc[k:])
                out.charge_area = float(area[k - 1]) if k else 0.0
                world._posted = (ct, cum, k)
                if t1 > env.now:
                    yield env.timeout(t1 - env.now)
                return
            yield env.timeout(t1 - env.now)


def _fast_block(
    world: World,
    co: _ChargeOrder,
    rows: NDArray[np.int64],
    until_s: float,
) -> _ChargeOrder | None:
    """Record refused calls (and repeats refused at once); return later repeat attempts."""
    first = [(float(co.st[r]), int(r), int(co.attempt[r])) for r in rows.tolist()]

    def call_of(row: int) -> tuple[int, int, int, float, int]:
        return (
            int(co.cid[row]),
            int(co.ctype[row]),
            int(co.svc[row]),
            float(co.dur[row]),
            int(co.amt[row]),
        )

    later = _refuse(world, first, until_s, call_of)
    if not later:
        return None
    idx = np.asarray([r for r, _, _ in later], np.int64)
    start = np.asarray([s for _, s, _ in later], np.float64)
    at_start = world.scenario.funding.charge_at == "start"
    world.output.calls_total += len(later)
    world.output.retries_total += len(later)
    return _ChargeOrder(
        ct=start if at_start else start + co.served[idx],
        amt=co.amt[idx],
        chk=co.chk[idx],
        st=start,
        svc=co.svc[idx],
        dur=co.dur[idx],
        served=co.served[idx],
        cid=co.cid[idx],
        ctype=co.ctype[idx],
        attempt=np.asarray([a for _, _, a in later], np.int64),
    )


def _fast_insert(
    co: _ChargeOrder, amt: NDArray[np.int64], dead: NDArray[np.bool_], new: _ChargeOrder
) -> tuple[_ChargeOrder, NDArray[np.int64], NDArray[np.bool_]]:
    """Merge repeat attempts into the charge order (stable: existing charges first)."""
    ct = np.concatenate([co.ct, new.ct])
    order = np.argsort(ct, kind="stable")

    def cat(name: str) -> Any:
        return np.concatenate([getattr(co, name), getattr(new, name)])[order]

    merged = _ChargeOrder(**{f.name: cat(f.name) for f in fields(_ChargeOrder)})
    return (
        merged,
        np.concatenate([amt, new.amt])[order],
        np.concatenate([dead, np.zeros(len(new.amt), bool)])[order],
    )


def walk_day(env: simpy.Environment, world: World, d: _Day) -> ProcessGenerator:
    """Walk one day's call starts and everyone's charges up to the end of the day.

    Each pass covers [now, next scheduled event): calls starting there are admitted
    (or, while the balance is not positive, refused if they need credit at set-up), and
    the charges falling there are posted, up to the first one the account reacts to.
    """
    account = world.account
    while True:
        r = d.rated  # retries inserted into the day replace the arrays
        chargeable = d.chargeable
        t = env.now
        t1 = min(env.peek(), d.end_s)
        if world.lean and d.pos + _LEAN_ROWS < len(d.batch):
            # Bound each pass to a few thousand calls: the arrays sorted per pass stay
            # small however far away the next event is.
            t1 = min(t1, float(d.batch.start_s[d.pos + _LEAN_ROWS]))
        hi = int(np.searchsorted(d.batch.start_s, t1, side="left"))
        window = np.arange(d.pos, hi)
        window = window[~d.decided[window]]
        positive = account is None or account.has_credit(t)
        refusing = account is not None and world.scenario.funding.refuse_at_zero
        checked = r.needs_balance_check[window] if refusing else None
        # While the balance is not positive, calls that need credit at set-up are refused
        # until the account reacts (nothing else can add credit before then).
        admissible = window if positive or checked is None else window[~checked]
        charged_rows = admissible[chargeable[admissible]]
        pending = world.charges
        cand_t = np.concatenate([pending.t, d.charge_t[charged_rows]])
        cand_a = np.concatenate([pending.amount, r.amount[charged_rows]])
        cand_s = np.concatenate([pending.service, d.service[charged_rows]])
        owner = np.concatenate([np.full(len(pending.t), -1, np.int64), charged_rows])
        order = np.argsort(cand_t, kind="stable")  # pending first on ties
        cand_t, cand_a, cand_s, owner = cand_t[order], cand_a[order], cand_s[order], owner[order]
        due = int(np.searchsorted(cand_t, t1, side="left"))
        stop = due
        if account is not None and due:
            stop = account.reaction_index(account.balance - np.cumsum(cand_a[:due]))
        reacts = stop < due
        posted = stop + 1 if reacts else due
        until = float(cand_t[stop]) if reacts else t1
        # Decide the calls that start before ``until`` (and those whose charge is posted).
        starts = d.batch.start_s[window]
        early = window[starts < until]
        own = owner[:posted]
        own = own[own >= 0]
        retry_rows, retry_at, retry_attempt = window[:0], np.zeros(0), window[:0]
        if not positive:
            if refusing:
                refuse = early[r.needs_balance_check[early]]
                retry_rows, retry_at, retry_attempt = _block(world, d, refuse, until)
            else:  # they go ahead on credit: a backorder, repaid by the next purchase
                late = np.concatenate([early, own])
                d.funding[late[r.needs_balance_check[late]]] = _F_BELOW_ZERO
        d.decided[early] = True
        d.decided[own] = True
        # Charges not posted now stay pending if their call was admitted.
        rest_owner = owner[posted:]
        keep = rest_owner < 0
        keep[~keep] = d.decided[rest_owner[~keep]]
        world.charges = _Charges(
            cand_t[posted:][keep], cand_a[posted:][keep], cand_s[posted:][keep]
        )
        if retry_rows.size:
            world.add_retries(d, retry_rows, retry_at, retry_attempt)
        if reacts and until > env.now:
            yield env.timeout(until - env.now)
        _post(world, cand_t[:posted], cand_a[:posted], cand_s[:posted], d)
        d.pos = _first_undecided(d)
        if not reacts:
            if t1 >= d.end_s:
                if t1 > env.now:
                    yield env.timeout(t1 - env.now)
                return
            # A zero wait still lets the events due now (scheduled earlier) run first.
            yield env.timeout(t1 - env.now)


def _block(
    world: World, d: _Day, rows: NDArray[np.int64], until_s: float
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Refuse calls for want of credit; return the repeat attempts to queue.

    The balance stays non-positive until ``until_s``, so a caller who tries again before
    then is refused again at once. Attempts are taken in time order (as they happen),
    which fixes the order of the retry draws. Returns (row, start, attempt number) of
    the attempts at or after ``until_s``; the caller queues them
    (``World.add_retries``) once it no longer needs the day's row indices.
    """
    none = (rows[:0], np.zeros(0), np.zeros(0, np.int64))
    if rows.size == 0:
        return none
    d.decided[rows] = True
    d.funding[rows] = _F_BLOCKED_BALANCE
    first = [(float(d.batch.start_s[r]), int(r), int(d.attempt[r])) for r in rows.tolist()]

    def call_of(row: int) -> tuple[int, int, int, float, int]:
        return (
            int(d.batch.call_id[row]),
            int(d.batch.call_type[row]),
            int(d.service[row]),
            float(d.batch.duration_s[row]),
            int(d.rated.amount[row]),
        )

    def repeat(row: int) -> None:  # a repeat refused at once: not a row of the day
        d.extra_blocked[int(d.batch.call_type[row])] += 1

    queued = _refuse(world, first, until_s, call_of, repeat)
    if not queued:
        return none
    q_rows, q_at, q_attempt = zip(*queued, strict=True)
    return (
        np.asarray(q_rows, np.int64),
        np.asarray(q_at, np.float64),
        np.asarray(q_attempt, np.int64),
    )


def _refuse(
    world: World,
    first: list[tuple[float, int, int]],
    until_s: float,
    call_of: Callable[[int], tuple[int, int, int, float, int]],
    on_repeat: Callable[[int], None] | None = None,
) -> list[tuple[int, float, int]]:
    """Refuse calls, and the repeats that come before ``until_s``, in time order.

    ``first`` holds (start, row, attempt number) of the calls refused now; ``call_of(row)``
    gives (call id, call type, service, duration, amount) for the record. The balance
    stays non-positive until ``until_s``, so a caller who tries again before then is
    refused again at once; taking attempts in time order fixes the order of the retry
    draws. Returns (row, start, attempt number) of the repeats at or after ``until_s``
    and before the horizon.
    """
    heap = list(first)
    heapq.heapify(heap)
    own = {row: attempt for _, row, attempt in first}
    retry = world.scenario.traffic.retry
    out = world.output
    later: list[tuple[int, float, int]] = []
    while heap:
        t_s, row, attempt = heapq.heappop(heap)
        go, delay_s = retry_draw(retry, world.rng_retries, attempt)
        call_id, call_type, service, duration_s, amount = call_of(row)
        out.blocked.append(
            BlockedCall(t_s, call_id, call_type, service, duration_s, amount, attempt, go)
        )
        if attempt > own[row]:  # a repeat refused at once is a call attempt of its own
            out.calls_total += 1
            out.retries_total += 1
            if on_repeat is not None:
                on_repeat(row)
        if not go:
            continue
        again_s = t_s + delay_s
        if again_s >= world.horizon_s:
            continue
        if again_s < until_s:
            heapq.heappush(heap, (again_s, row, attempt + 1))
        else:
            later.append((row, again_s, attempt + 1))
    return later


def retry_draw(retry: Retry, rng: np.random.Generator, attempt: int) -> tuple[bool, float]:
    """Decide whether a blocked caller tries again, and after how long.

    Draws one uniform and one delay per blocked attempt, in the order of the blocks,
    whatever the outcome, so that any engine reproduces the same retries.
    """
    if retry.probability <= 0 or retry.max_attempts <= 0:
        return False, 0.0
    u = float(rng.random())
    delay_s = retry.delay.sample(rng)
    return (u < retry.probability and attempt < retry.max_attempts), delay_s


def _post(
    world: World,
    t: NDArray[np.float64],
    amount: NDArray[np.int64],
    service: NDArray[np.int8],
    d: _Day,
) -> None:
    """Post charges to the account: one debit per local hour (the last one exactly)."""
    if len(t) == 0:
        return
    out = world.output
    total = int(amount.sum())
    out.charged_total += total
    if world.lean:
        world._charge_log.append((t, amount))
    out.charge_area += float((amount * (world.horizon_s - t)).sum())  # no BLAS call
    day_spend = np.zeros(len(SERVICES), np.int64)
    np.add.at(day_spend, service, amount)
    out.spend.append((d.index, day_spend))
    mode = world.scenario.simulation.debits
    if mode == "per_call":
        cuts = np.arange(1, len(t))
    elif mode == "per_event":
        cuts = np.zeros(0, np.int64)
    else:
        hour = np.floor((t - d.start_s) / SECONDS_PER_HOUR).astype(np.int64)
        cuts = np.flatnonzero(np.diff(hour)) + 1
    starts = np.concatenate([[0], cuts])
    sums = np.add.reduceat(amount, starts)
    ends = np.concatenate([cuts, [len(t)]]) - 1
    for amt, last in zip(sums.tolist(), ends.tolist(), strict=True):
        at = float(t[last])
        if world.account is not None:
            result = world.account.charge(at, Micros(amt), "calls")
            out.uncharged_total += result.uncharged
        else:
            assert world.postpaid is not None
            world.postpaid.charge(at, Micros(amt), "calls")


def run_replication(
    scenario: Scenario,
    tariffs: TariffBook | None,
    replication: int = 0,
    progress: Callable[[float], None] | None = None,
    traffic: TrafficSource | None = None,
    rated: RatedTraffic | None = None,
    lean: bool = False,
) -> RunOutput:
    """Run one replication of a scenario to its horizon and return its raw records.

    ``traffic`` replaces the scenario's synthetic traffic (for example recorded calls);
    ``rated`` caches the drawn and rated calls across runs of the same replication with
    different policy settings (see ``RatedTraffic``).
    """
    return World(scenario, tariffs, replication, progress, traffic, rated, lean).run()


__all__ = [
    "FUNDING",
    "SERVICES",
    "EngineError",
    "RatedTraffic",
    "RunOutput",
    "TrafficSource",
    "World",
    "run_replication",
]

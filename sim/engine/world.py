"""The world of one replication: account, traffic, rating context and pool state, wired.

``World`` holds everything a replication needs and the bookkeeping the walks share:
drawing and rating a day's calls, queueing repeat attempts, day-end balances, the calls
summary and the end-of-run invariants (``EngineError``). ``RatedTraffic`` caches a
replication's drawn and rated calls for every policy of a sweep; ``TrafficSource`` is
where calls come from; ``SimpyScheduler`` runs the account's callbacks on the SimPy
clock. The processes that move the world forward live in ``full_walk``, ``lean_walk``
and ``replication``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Protocol

import numpy as np
import simpy
from mypy_extensions import mypyc_attr
from numpy.typing import NDArray

from sim.billing.account import CreditAccount, PostpaidAccount
from sim.billing.ledger import EntryKind, LedgerError
from sim.billing.policies import Notification, NotificationKind
from sim.core.rng import stream
from sim.engine.records import (
    _F_BLOCKED_BALANCE,
    _FUNDING_OF_OUTCOME,
    _SERVICE_OF_RULE,
    FUNDING,
    DayRecord,
    RunOutput,
    _Charges,
    _concat_rated,
    _Day,
    _FastStart,
    _first_undecided,
    _is_charged,
    _posted_total,
    _retry_ratings,
    _take_rated,
)
from sim.scenario.model import Scenario
from sim.telephony.calls import CALL_TYPES, CallBatch
from sim.telephony.plans import PoolKey
from sim.telephony.rating import (
    PoolState,
    RatedBatch,
    RatingContext,
    cover_from_pools,
    rate_batch,
    shared_pool_demand,
)
from sim.telephony.tariffs import TariffBook
from sim.traffic.model import DeferredCalls, TrafficModel


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


_CONTEXTS: dict[tuple[object, ...], RatingContext] = {}
"""Rating contexts made lately, by what they are made of (``rating_context``)."""
_MAX_CONTEXTS = 8


def rating_context(scenario: Scenario, tariffs: TariffBook) -> RatingContext:
    """Return the rating context of a scenario: its tenant, rate tables and calendar.

    A context is immutable and its lookup tables (``_RatingCache``: each cell's rule,
    tariff and pool) follow from it alone, so the runs of a sweep, every replication and
    every setting, share one and build the tables once (about 4 ms a replication). The
    rate tables are told apart by identity; the context held keeps them alive.
    """
    mode = scenario.funding.mode
    hard_cap = scenario.postpaid.hard_cap and mode != "prepaid"
    growth = scenario.traffic.headcount_growth_per_month
    key = (scenario.tenant, id(tariffs), scenario.calendar, mode, hard_cap, growth)
    ctx = _CONTEXTS.get(key)
    if ctx is None or ctx.tariffs is not tariffs:
        if len(_CONTEXTS) >= _MAX_CONTEXTS:
            _CONTEXTS.clear()
        ctx = _CONTEXTS[key] = RatingContext(
            tenant=scenario.tenant,
            tariffs=tariffs,
            calendar=scenario.calendar,
            funding_mode=mode,
            hard_cap=hard_cap,
            headcount_growth_per_month=growth,
        )
    return ctx


def traffic_model(scenario: Scenario, replication: int) -> TrafficModel:
    """Return the synthetic traffic of one replication of a scenario."""
    return TrafficModel(
        scenario.traffic,
        scenario.population,
        scenario.calendar,
        scenario.simulation.seed,
        replication,
        scenario.horizon_s,
    )


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
        # What the lean draw did with domestic calls (``World.deferred_calls``).
        self.deferred_calls: dict[str, int] = {}
        self.day_ends: NDArray[np.float64] | None = None
        self.day_counts: NDArray[np.int64] | None = None  # every call drawn, by day

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
            batches, ratings, total, counts = [], [], 0, []
            day = 0
            chunks = isinstance(world.traffic, TrafficModel) and not self._days
            while world.day_bounds(day)[0] < world.horizon_s:
                if chunks:
                    # Rate a chunk of days at once: the same ratings as day by day, since
                    # the pool state carries over either way, with fewer numpy steps.
                    assert isinstance(world.traffic, TrafficModel)
                    last = world.traffic.chunk_of(day)[1]
                    while last > day and world.day_bounds(last)[0] >= world.horizon_s:
                        last -= 1
                    # Free inbound calls, and domestic calls shared pools cover, are counted
                    # only: the lean walk never sees them.
                    batch, rated, counted = world.draw_and_rate_days(day, last, count_free=True)
                    ends = [world.day_bounds(k)[1] for k in range(day, last + 1)]
                    cut = np.searchsorted(batch.start_s, ends, side="left")
                    counts.extend((np.diff(cut, prepend=0) + counted).tolist())
                    total += int(counted.sum())
                else:
                    batch, rated = self.day(day, world)
                    counts.append(len(batch))
                    last = day
                total += len(batch)
                keep = np.flatnonzero(_is_charged(rated.outcome) | rated.needs_balance_check)
                batches.append(batch.take(keep))
                ratings.append(_retry_ratings(rated, keep))
                day = last + 1
            self._year = (CallBatch.concat(batches), _concat_rated(*ratings), total)
            self.deferred_calls = dict(world.deferred_calls)
            self.day_ends = np.asarray(
                [world.day_bounds(k)[1] for k in range(day)], dtype=np.float64
            )
            self.day_counts = np.asarray(counts, dtype=np.int64)
            self._days.clear()  # the year's arrays are all a lean walk needs
        return self._year


def _merged(first: CallBatch, then: CallBatch) -> CallBatch:
    """Return two batches sorted by start as one, ``first``'s rows first on equal starts."""
    if not len(then):
        return first
    joined = CallBatch.concat([first, then])
    return joined.take(np.argsort(joined.start_s, kind="stable"))


@mypyc_attr(native_class=False)  # compiled (sim.core.native), an exception stays a Python class
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


_STEP_KINDS = frozenset({EntryKind.PURCHASE, EntryKind.EXPIRE})


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
        self._posted_shared: _FastStart | None = None  # the order, when no call was refused
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
                lot_lifetime_s=funding.lot_lifetime,
                whole_units=funding.portal_rules,
                low_balance=funding.low_balance,
                allow_overshoot=funding.at_zero == "overshoot",
                postpaid_from_s=scenario.postpaid_from_s(),
            )
        else:
            self.postpaid = PostpaidAccount(self.calendar)
        self.output = RunOutput(scenario, replication, self.account, self.postpaid)
        self.traffic: TrafficSource | None = traffic
        self.ctx: RatingContext | None = None
        if traffic is not None or scenario.user_groups or scenario.service_numbers:
            if tariffs is None:
                raise ValueError("a scenario with traffic needs its rate tables")
            self.ctx = rating_context(scenario, tariffs)
            if self.traffic is None and rated is not None and rated.model is not None:
                self.traffic = rated.model  # every run of the replication shares one
            if self.traffic is None:
                self.traffic = traffic_model(scenario, replication)
            if rated is not None and rated.model is None:
                rated.model = self.traffic
        self.rng_retries = stream(seed, replication, "retries")
        self.pool_state = PoolState()
        # Groups whose domestic calls a lean draw leaves out while shared pools cover
        # them (``draw_and_rate_days``); None until the first lean draw.
        self._deferrable: frozenset[int] | None = None
        # Calls a lean draw counted only (pools covered them), and those it drew in full
        # after all, by why: "rule" (not a shared pool's), "short" (the pools could run
        # short), "short_after" (they did, with the chunk's other calls).
        self.deferred_calls: dict[str, int] = dict.fromkeys(
            ("covered", "rule", "short", "short_after"), 0
        )
        self.charges = _Charges()
        self._open_day: _Day | None = None
        # Repeat attempts landing on later days: (calls, their first rating, attempt).
        self._later: dict[int, list[tuple[CallBatch, RatedBatch, NDArray[np.int64]]]] = {}

    def check(self) -> None:
        """Check the ledger and the engine's own books; raise ``EngineError``."""
        out = self.output
        if self.account is not None:
            try:
                self.account.invariants()
            except (LedgerError, AssertionError) as exc:
                raise EngineError(f"ledger invariant broken: {exc}") from exc
            led = self.account.ledger
            debited = out.charged_total - out.uncharged_total - out.invoiced_total
            if led.consumed_total != debited:
                raise EngineError(
                    f"charges debited ({debited}) differ from the ledger's consumption "
                    f"({led.consumed_total})"
                )
            billed = self.account.postpaid.consumed_total if self.account.postpaid else 0
            if billed != out.invoiced_total:
                raise EngineError(
                    f"charges invoiced after the switch to postpaid ({out.invoiced_total}) "
                    f"differ from the usage account's ({billed})"
                )
        if self.postpaid is not None and self.postpaid.consumed_total != out.charged_total:
            raise EngineError("charges posted differ from the postpaid account's usage")
        if self._posted is None:  # the fast walk keeps no spend by day and service
            spent = sum(int(v.sum()) for _, v in out.spend)
            if spent != out.charged_total - out.uncharged_total:
                raise EngineError("daily spend does not add up to the charges debited")
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

    def draw_and_rate_days(
        self, first: int, last: int, count_free: bool = False
    ) -> tuple[CallBatch, RatedBatch, NDArray[np.int64]]:
        """Draw the calls of days ``first`` to ``last`` (before the horizon), and rate them.

        Returns the calls, their ratings and, by day, the calls counted but not returned.
        ``count_free`` (whole chunks, for lean walks, which need only the calls that touch
        the balance): always-free calls are counted only (``TrafficModel.draw_days``), and
        so are the domestic calls of a chunk that shared pools cover in full with time to
        spare (``shared_pool_demand``, ``cover_from_pools``): their start times and users
        are never drawn. When the pools could run short, or the calls would meet another
        rule, they are drawn in full (``TrafficModel.materialise``) and rated in time
        order with the rest, as without ``count_free``.
        """
        traffic = self.traffic
        ctx = self.ctx
        assert isinstance(traffic, TrafficModel)
        assert ctx is not None
        _, end_s = self.day_bounds(last)
        if self._deferrable is None:
            self._deferrable = frozenset(range(len(traffic.population.group_names)))
        defer = self._deferrable if count_free else frozenset()
        batch = traffic.draw_days(first, last, count_free, defer)
        if len(batch) and batch.start_s[-1] >= end_s:  # horizon inside the last day
            batch = batch.take(batch.start_s < end_s)
        counted = traffic.free_calls(first, last)  # zeros unless counted only
        deferred = traffic.take_deferred(first) if defer else []
        state = self.pool_state
        covered: list[DeferredCalls] = []
        rated_apart: list[DeferredCalls] = []
        demand: dict[PoolKey, int] = {}
        for part in deferred:
            asked = shared_pool_demand(part.timeless, ctx)
            if asked is None:  # not this group's case: its calls are rated as usual
                self._deferrable = self._deferrable - {part.group}
                rated_apart.append(part)
                self._count_deferred("rule", part)
                continue
            covered.append(part)
            for key, seconds in asked.items():
                demand[key] = demand.get(key, 0) + seconds
        month_s = traffic.day_bounds(first)[0]
        after = cover_from_pools(state, demand, ctx, month_s) if covered else state
        if after is None:  # the pools could run short: rate those calls too
            for part in covered:
                self._count_deferred("short", part)
            rated_apart += covered
            covered = []
            after = state
        if rated_apart:
            batch = _merged(batch, traffic.materialise(rated_apart))
        rated = rate_batch(batch, ctx, after)
        # With this chunk's other calls the pools may have run short after all: then rate
        # every call of the chunk, from the state before it.
        no_more = dict.fromkeys(demand, 0)
        if covered and cover_from_pools(rated.state, no_more, ctx, month_s) is None:
            batch = _merged(batch, traffic.materialise(covered))
            rated = rate_batch(batch, ctx, state)
            for part in covered:
                self._count_deferred("short_after", part)
            covered = []
        for part in covered:
            counted = counted + part.per_day
            self._count_deferred("covered", part)
        self.pool_state = rated.state
        return batch, rated, counted

    def _count_deferred(self, why: str, part: DeferredCalls) -> None:
        self.deferred_calls[why] += len(part.timeless)

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
        day_ends = self.rated_traffic.day_ends
        assert day_ends is not None
        ends = day_ends[day_ends < self.horizon_s]
        out.day_ends = ends
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
            shared = self._posted_shared
            if shared is not None:  # a prefix of the shared order: count within it
                j = np.minimum(shared.charges_before_day_end[: len(ends)], len(ct))
            else:
                j = np.searchsorted(ct, ends, side="left")
            level = level - np.where(j > 0, spent[np.maximum(j - 1, 0)], 0)
        # Parts cut off at zero, or invoiced after a switch to postpaid, were never debited.
        for log in (out.uncharged_log, out.invoiced_log):
            if not log:
                continue
            ut = np.concatenate([t for t, _ in log])
            order = np.argsort(ut, kind="stable")
            back = np.cumsum(np.concatenate([a for _, a in log])[order])
            j = np.searchsorted(ut[order], ends, side="left")
            level = level + np.where(j > 0, back[np.maximum(j - 1, 0)], 0)
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


__all__ = [
    "EngineError",
    "RatedTraffic",
    "SimpyScheduler",
    "TrafficSource",
    "World",
]

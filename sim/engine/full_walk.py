"""The full walk: each local day's calls in time order, with every table a run reports.

``call_traffic`` draws and rates one local day at a time (``World.prepare_day``) and
``walk_day`` walks its calls up to the next scheduled event (``env.peek()``). Within
such a stretch nothing but debits touches the balance, so the balance after each charge
is a prefix sum. ``CreditAccount.reaction_index`` finds the first charge at which the
account would react (an e-mail or a recharge order); the walker posts the charges before
it together (``_post``: one ledger debit per local hour), stops at that charge's
instant, lets the account react, and goes on. Set-up checks follow from the same sums: a
call that needs credit is refused exactly when it starts at or after the charge that took
the balance to zero, and before the next purchase (``_block``, ``_refuse``,
``retry_draw``). The result is the same ledger, to the micro-unit, as charging every call
on its own (``tests/integration`` compares the two).

Pipeline order per day: draw -> rate (pools in start order) -> walk (blocking, charges,
retries). Rating does not depend on the balance (calls that need credit at set-up never
draw a pool), so blocking changes no other call's rating. The lean walk
(``sim.engine.lean_walk``) reuses ``walk_day`` and ``_refuse``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np
import simpy
from numpy.typing import NDArray

from sim.core.units import SECONDS_PER_HOUR, Micros
from sim.engine.records import (
    _F_BELOW_ZERO,
    _F_BLOCKED_BALANCE,
    SERVICES,
    BlockedCall,
    ProcessGenerator,
    _Charges,
    _Day,
    _first_undecided,
    book_not_debited,
)
from sim.engine.world import World
from sim.traffic.settings import Retry


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


_LEAN_ROWS = 1500


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
    for first, amt, last in zip(starts.tolist(), sums.tolist(), ends.tolist(), strict=True):
        at = float(t[last])
        if world.account is not None:
            result = world.account.charge(at, Micros(amt), "calls")
            span = slice(first, last + 1)
            if result.uncharged:  # cut off at zero: never paid, not spent
                parts = (t[span], amount[span], result.uncharged, world.horizon_s)
                rows, left = book_not_debited(out, *parts, "uncharged", world.lean)
                np.subtract.at(day_spend, service[rows + first], left)
            if result.invoiced:  # after the switch to postpaid: spent, on the invoice
                parts = (t[span], amount[span], result.invoiced, world.horizon_s)
                book_not_debited(out, *parts, "invoiced", world.lean)
        else:
            assert world.postpaid is not None
            world.postpaid.charge(at, Micros(amt), "calls")
    out.spend.append((d.index, day_spend))


__all__ = [
    "call_traffic",
    "retry_draw",
    "walk_day",
]

"""The lean walks of sweeps: the whole horizon at once, outcomes and day-end balances only.

``lean_traffic`` walks the horizon's balance-touching calls (``RatedTraffic.year``) with
the full walk's ``walk_day``, as one day. ``fast_traffic``, used when every call that
needs credit is charged (``refuse_at_zero``, overshoot allowed), walks a fixed charge
order instead (``_charge_order``, cached per replication and charge rule): between
events the balance only falls, so running totals of the charges give every reaction by
binary search and each pass posts one debit; refused calls leave the order (and their
repeat attempts join it, ``_fast_block``, ``_fast_insert``) only while the balance is not
positive.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from dataclasses import fields, replace
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from sim.core.units import Micros
from sim.engine.full_walk import _refuse, walk_day
from sim.engine.records import (
    _FUNDING_OF_OUTCOME,
    _SERVICE_OF_RULE,
    ProcessGenerator,
    _ChargeOrder,
    _Charges,
    _Day,
    _FastStart,
    _is_charged,
    book_not_debited,
)
from sim.engine.world import World


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


def _charge_order(world: World) -> _FastStart:
    """Return the replication's charged calls in charge order (cached per charge rule)."""
    cache = world.rated_traffic
    assert cache is not None
    key = (world.scenario.funding.charge_at, world.horizon_s)
    if key not in cache.charge_orders:
        co, total = _build_charge_order(world)
        assert cache.day_ends is not None  # set with the year's calls
        before = np.searchsorted(co.ct, cache.day_ends, side="left")
        cum, area = _running_totals(co, world.horizon_s)
        # Copied as one block of memory each: ``tolist`` made an object per charge.
        ct_seq = array("d", co.ct.astype(np.float64, copy=False).tobytes())
        cum_seq = array("q", cum.astype(np.int64, copy=False).tobytes())
        cache.charge_orders[key] = _FastStart(co, total, cum, area, before, ct_seq, cum_seq)
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
    by_ct = np.argsort(ct, kind="stable")
    order, ct = keep[by_ct], ct[by_ct]
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
    # The same as Python arrays, for single lookups, until a refusal changes the order.
    lookups: tuple[array[float], array[int]] | None = (fs.ct_seq, fs.cum_seq)
    out.calls_total += fs.total
    horizon = world.horizon_s
    dead: NDArray[np.bool_] | None = None  # refused calls; made at the first refusal
    refusing = world.scenario.funding.refuse_at_zero
    k = 0
    while True:
        t = env.now
        t1 = min(env.peek(), horizon)
        if lookups is not None:
            j_end = bisect_left(lookups[0], t1)
            base = lookups[1][k - 1] if k else 0
        else:
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
                lookups = None
        else:
            stop = j_end
            thresholds = acc.reaction_thresholds()
            if thresholds:
                # The running totals are integers and never fall, so the threshold with
                # the least value (at a tie the non-strict one, ``False < True``) is
                # crossed first: one search instead of one per threshold.
                v, strict = min(thresholds)
                if lookups is not None:
                    i = (bisect_right if strict else bisect_left)(lookups[1], base + v)
                else:
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
                if lookups is not None:
                    amount, at_s = lookups[1][last] - base, lookups[0][at]
                else:
                    amount, at_s = int(cum[last]) - base, float(ct[at])
                out.charged_total += amount
                result = acc.charge(at_s, Micros(amount), "calls")
                span = slice(k, last + 1)
                if result.uncharged:  # cut off at zero
                    parts = (ct[span], amt[span], result.uncharged, horizon)
                    book_not_debited(out, *parts, "uncharged", True)
                if result.invoiced:  # after the switch to postpaid (§10.3)
                    parts = (ct[span], amt[span], result.invoiced, horizon)
                    book_not_debited(out, *parts, "invoiced", True)
            k = last + 1
        if not reacts:
            if t1 >= horizon:
                # Set before the last wait: the run stops before the horizon's events.
                world.charges = _Charges(ct[k:], amt[k:], co.svc[k:])
                out.charge_area = float(area[k - 1]) if k else 0.0
                if out.window_s > 0:  # the area is kept as running totals, not as it goes
                    iw = int(ct[:k].searchsorted(out.window_s, "left"))
                    out.at_window = replace(
                        out.at_window, charge_area=float(area[iw - 1]) if iw else 0.0
                    )
                world._posted = (ct, cum, k)
                if dead is None:  # still the replication's shared order
                    world._posted_shared = fs
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
    """Merge repeat attempts into the charge order (stable: existing charges first).

    The order is sorted by charge instant, so the repeats (sorted stably among
    themselves) go in after the last charge at or before their instant: the same order
    as a stable sort of both, without sorting the whole order again.
    """
    order = np.argsort(new.ct, kind="stable")
    at = np.searchsorted(co.ct, new.ct[order], side="right")

    def put(old: Any, add: Any) -> Any:
        return np.insert(old, at, add[order])

    merged = _ChargeOrder(
        **{f.name: put(getattr(co, f.name), getattr(new, f.name)) for f in fields(_ChargeOrder)}
    )
    return merged, put(amt, new.amt), put(dead, np.zeros(len(new.amt), bool))


__all__ = [
    "fast_traffic",
    "lean_traffic",
]

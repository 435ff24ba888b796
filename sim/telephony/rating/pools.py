"""Pools: their carried state, their alerts, and the mutable book of the scalar path.

Pools count whole minutes and reset at each calendar month in the scenario's time zone;
alerts fire at 80 % and 100 % of a pool's monthly size (teams-credits.md §3, §5). See
``sim.telephony.rating.scalar`` for how calls draw them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.telephony.plans import LinkKey, PoolKey
from sim.telephony.rating.context import RatingContext, _pool_info

ALERT_THRESHOLDS_PCT = (80, 100)
"""Pool alert thresholds (teams-credits.md §3, §5)."""


@dataclass(frozen=True, slots=True)
class PoolAlert:
    """A pool reached ``threshold_pct`` of its monthly size at ``t_s`` (§3: 80 % and 100 %)."""

    t_s: float
    pool: PoolKey
    month: str
    threshold_pct: int

    def sort_key(self) -> tuple[float, int, PoolKey]:
        """Return the canonical order of alerts: time, threshold, pool."""
        return (self.t_s, self.threshold_pct, self.pool)


@dataclass(frozen=True, slots=True)
class PoolState:
    """Pool usage carried between batches: the current local month and its draws.

    ``used_s`` holds only pools with a positive draw this month; ``closed`` the linked
    (Domestic & International) pairs used up this month; ``last_start_s`` the start of the
    last call rated, so that batches stay in time order; ``spent`` what each subscriber
    with a spend limit (§10.1) has been charged this month, when positive.
    """

    month_start_s: float | None = None
    used_s: Mapping[PoolKey, int] = field(default_factory=dict)
    closed: frozenset[LinkKey] = frozenset()
    last_start_s: float = -math.inf
    spent: Mapping[int, int] = field(default_factory=dict)


class PoolBook:
    """Mutable pool usage for the scalar path; see ``PoolState`` for the carried state."""

    def __init__(self, ctx: RatingContext, state: PoolState | None = None) -> None:
        state = state or PoolState()
        self._ctx = ctx
        self.month_start_s = state.month_start_s
        self.month_end_s = (
            -math.inf
            if state.month_start_s is None
            else ctx.calendar.next_month_start_s(state.month_start_s)
        )
        self.used_s: dict[PoolKey, int] = dict(state.used_s)
        self.closed: set[LinkKey] = set(state.closed)
        self.spent: dict[int, int] = dict(state.spent)
        self.last_start_s = state.last_start_s
        self.alerts: list[PoolAlert] = []

    def roll(self, t_s: float) -> None:
        """Advance to the local month of ``t_s``, resetting every pool at a new month."""
        if t_s < self.last_start_s:
            raise ValueError(
                f"calls must be rated in start order: {t_s} is before {self.last_start_s}"
            )
        self.last_start_s = t_s
        if t_s >= self.month_end_s:
            # Calendar-month reset in local time (§2.3, §3).
            cal = self._ctx.calendar
            month_start_s = cal.month_start_s(t_s)
            self.month_end_s = cal.next_month_start_s(t_s)
            if month_start_s != self.month_start_s:
                self.month_start_s = month_start_s
                self.used_s.clear()
                self.closed.clear()
                self.spent.clear()

    def available_s(self, key: PoolKey) -> int:
        """Return the seconds left in a pool this month."""
        link = self._ctx.tenant.link_of(key)
        if link is not None and link in self.closed:
            return 0
        return max(self._size_s(key) - self.used_s.get(key, 0), 0)

    def _size_s(self, key: PoolKey) -> int:
        assert self.month_start_s is not None, "roll to a month before drawing"
        return _pool_info(self._ctx, key, self._ctx.calendar.month_index(self.month_start_s))[0]

    def draw(self, key: PoolKey, demand_s: int, t_s: float) -> int:
        """Draw up to ``demand_s`` seconds at ``t_s``; return the seconds drawn."""
        before = self.used_s.get(key, 0)
        avail = self.available_s(key)
        drawn = min(demand_s, avail)
        if drawn <= 0:
            return 0
        after = before + drawn
        self.used_s[key] = after
        size = self._size_s(key)
        for pct in ALERT_THRESHOLDS_PCT:
            if before * 100 < pct * size <= after * 100:
                self.alerts.append(
                    PoolAlert(
                        t_s=t_s + (pct * size / 100 - before),
                        pool=key,
                        month=self._ctx.calendar.month_label(t_s),
                        threshold_pct=pct,
                    )
                )
        link = self._ctx.tenant.link_of(key)
        if link is not None and demand_s >= avail:
            # §2.2 "whichever is reached first": using up one pool ends the pair.
            self.closed.add(link)
        return drawn

    def state(self) -> PoolState:
        """Return the carried state (pools with a positive draw only)."""
        return PoolState(
            month_start_s=self.month_start_s,
            used_s={k: v for k, v in sorted(self.used_s.items()) if v > 0},
            closed=frozenset(self.closed),
            last_start_s=self.last_start_s,
            spent={k: v for k, v in sorted(self.spent.items()) if v > 0},
        )


__all__ = [
    "ALERT_THRESHOLDS_PCT",
    "PoolAlert",
    "PoolBook",
    "PoolState",
]

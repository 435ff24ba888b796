"""Mapped recorded calls as ``TrafficSource`` s (``sim.engine``) that feed the engine.

``RecordedTraffic``
    the log itself, each call keeping its local wall-clock time, moved by whole days so
    that the log's first local day is the scenario's first day (optionally moved to the
    same weekday): "what would last year have looked like with trigger X and amount Y?".
``BootstrapTraffic``
    a block bootstrap of whole recorded weeks (weekday-aligned, ``block_weeks`` long),
    drawn with a generator keyed by (seed, replication): synthetic futures that keep the
    log's burstiness, holidays and outliers.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.calllogs.mapping import MappedCalls
from sim.core.errors import InputError
from sim.core.rng import stream
from sim.core.units import SECONDS_PER_DAY, Calendar
from sim.scenario.model import Scenario
from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES, CallBatch

BOOTSTRAP_STREAM = "bootstrap"
"""Name of the ``sim.core.rng`` stream that draws the resampled weeks."""


_CT_CODE = {ct.value: i for i, ct in enumerate(CALL_TYPES)}
_NT_CODE = {nt.value: i for i, nt in enumerate(NUMBER_TYPES)}


class _DayLibrary:
    """Recorded calls grouped by local date, with their local wall-clock time of day."""

    def __init__(self, mapped: MappedCalls, calendar: Calendar) -> None:
        calls = mapped.calls
        self.calendar = calendar
        self.tz = calendar.time_zone
        self.groups = mapped.groups
        countries = sorted(set(calls["usage_country"]) | set(calls["dest_country"]))
        self.countries = tuple(countries)
        c_index = {c: i for i, c in enumerate(countries)}
        g_index = {g: i for i, g in enumerate(self.groups)}
        local = calls["start"].dt.tz_convert(str(self.tz)).dt.tz_localize(None)
        day = local.dt.normalize()
        self.wall_s = (local - day).dt.total_seconds().to_numpy(np.float64)
        day_d = day.to_numpy(dtype="datetime64[D]")
        order = np.lexsort((calls["start"].to_numpy(), day_d))
        self.row = order.astype(np.int64)
        self.day = day_d[order]
        self.wall_s = self.wall_s[order]
        self.group = np.asarray(calls["group"].map(g_index), dtype=np.int32)[order]
        self.subscriber = np.asarray(calls["subscriber"], dtype=np.int64)[order]
        self.usage = np.asarray(calls["usage_country"].map(c_index), dtype=np.int16)[order]
        self.dest = np.asarray(calls["dest_country"].map(c_index), dtype=np.int16)[order]
        self.number_type = np.asarray(calls["number_type"].map(_NT_CODE), dtype=np.int8)[order]
        self.call_type = np.asarray(calls["call_type"].map(_CT_CODE), dtype=np.int8)[order]
        self.duration_s = np.asarray(calls["duration_s"], dtype=np.float64)[order]
        self.start_utc = self.calendar.start.astimezone(UTC)
        if len(self.day):
            self.first = _to_date(self.day[0])
            self.last = _to_date(self.day[-1])
        else:
            self.first = self.last = calendar.start.date()

    def rows_on(self, d: date) -> slice:
        """Return the positions of the calls recorded on local date ``d``."""
        key = np.datetime64(d, "D")
        lo = int(np.searchsorted(self.day, key, side="left"))
        hi = int(np.searchsorted(self.day, key, side="right"))
        return slice(lo, hi)

    def batch(self, rows: slice, target: date, call_id: NDArray[np.int64]) -> CallBatch:
        """Return the calls at ``rows`` moved to local date ``target``, sorted by start."""
        wall = self.wall_s[rows]
        naive = pd.DatetimeIndex(
            np.datetime64(target, "ns") + (wall * 1e9).astype("timedelta64[ns]")
        )
        aware = naive.tz_localize(
            str(self.tz), ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
        )
        start_s = (aware - pd.Timestamp(self.start_utc)).total_seconds().to_numpy(np.float64)
        keep = start_s >= 0
        order = np.argsort(np.where(keep, start_s, np.inf), kind="stable")[: int(keep.sum())]
        return CallBatch(
            call_id=call_id[order],
            subscriber_id=self.subscriber[rows][order],
            group=self.group[rows][order],
            usage_country=self.usage[rows][order],
            dest_country=self.dest[rows][order],
            number_type=self.number_type[rows][order],
            call_type=self.call_type[rows][order],
            start_s=start_s[order],
            duration_s=self.duration_s[rows][order],
            groups=self.groups,
            countries=self.countries,
        )


def _to_date(value: np.datetime64) -> date:
    return date.fromisoformat(str(value.astype("datetime64[D]")))


def _day_bounds(calendar: Calendar, day_index: int) -> tuple[float, float, date]:
    d = calendar.start.date() + timedelta(days=day_index)
    start = calendar.to_sim(datetime(d.year, d.month, d.day))
    nxt = d + timedelta(days=1)
    return start, calendar.to_sim(datetime(nxt.year, nxt.month, nxt.day)), d


def _first_weekday(first: date, weekday: int) -> date:
    return first + timedelta(days=(weekday - first.weekday()) % 7)


class RecordedTraffic:
    """The recorded calls, moved by whole local days onto the scenario's calendar.

    The log's first local date (``first_day``, default: that of its first call; with
    ``align_weekdays`` the first date on the scenario start's weekday) becomes the
    scenario's first day; every call keeps its local time of day and its length. Calls
    before ``first_day`` are left out (``dropped_before``).
    """

    def __init__(
        self,
        mapped: MappedCalls,
        scenario: Scenario,
        *,
        first_day: date | None = None,
        align_weekdays: bool = False,
    ) -> None:
        self.calendar = scenario.calendar
        self.library = _DayLibrary(mapped, self.calendar)
        lib = self.library
        start = self.calendar.start.date()
        first = first_day or lib.first
        if align_weekdays:
            first = _first_weekday(first, start.weekday())
        self.first_day = first
        self.shift_days = (start - first).days
        key = np.datetime64(first, "D")
        self.dropped_before = int(np.searchsorted(lib.day, key, side="left"))
        horizon_days = math.ceil(scenario.horizon_s / SECONDS_PER_DAY)
        last_key = np.datetime64(first + timedelta(days=horizon_days), "D")
        self.beyond_horizon = len(lib.day) - int(np.searchsorted(lib.day, last_key, side="left"))

    def day_bounds(self, day_index: int) -> tuple[float, float, date]:
        """Return (start_s, end_s, local date) of local day ``day_index``."""
        return _day_bounds(self.calendar, day_index)

    def draw_day(self, day_index: int) -> CallBatch:
        """Return the calls recorded on the log day that maps to ``day_index``."""
        target = self.calendar.start.date() + timedelta(days=day_index)
        rows = self.library.rows_on(target - timedelta(days=self.shift_days))
        return self.library.batch(rows, target, self.library.row[rows])


class BootstrapTraffic:
    """A block bootstrap of recorded weeks, for forward scenarios with realistic bursts.

    Recorded weeks start on the scenario start's weekday (the first such date of the log)
    and must be complete. Each block of ``block_weeks`` scenario weeks copies
    ``block_weeks`` consecutive recorded weeks starting at a week drawn uniformly (moving
    blocks); calls keep their weekday and local time of day. The weeks are drawn from the
    ``bootstrap`` stream of ``sim.core.rng``.
    """

    def __init__(
        self,
        mapped: MappedCalls,
        scenario: Scenario,
        *,
        seed: int,
        replication: int,
        block_weeks: int = 1,
        rng: np.random.Generator | None = None,
    ) -> None:
        if block_weeks < 1:
            raise InputError(f"--block-weeks: expected a whole number >= 1, got {block_weeks}")
        self.calendar = scenario.calendar
        self.library = lib = _DayLibrary(mapped, self.calendar)
        start = self.calendar.start.date()
        self.week0 = _first_weekday(lib.first, start.weekday())
        self.recorded_weeks = max(0, ((lib.last - self.week0).days + 1) // 7)
        if self.recorded_weeks < block_weeks:
            raise InputError(
                f"the log holds {self.recorded_weeks} complete week(s) starting on a "
                f"{start.strftime('%A')} (from {lib.first} to {lib.last}); the bootstrap "
                f"needs at least {block_weeks}"
            )
        horizon_days = math.ceil(scenario.horizon_s / SECONDS_PER_DAY) + 1
        n_weeks = math.ceil(horizon_days / 7)
        n_blocks = math.ceil(n_weeks / block_weeks)
        if rng is None:
            rng = stream(seed, replication, BOOTSTRAP_STREAM)
        starts = rng.integers(0, self.recorded_weeks - block_weeks + 1, size=n_blocks)
        weeks = (starts[:, None] + np.arange(block_weeks)[None, :]).reshape(-1)
        self.source_week: NDArray[np.int64] = weeks[:n_weeks].astype(np.int64)
        self._next_id = 0

    def day_bounds(self, day_index: int) -> tuple[float, float, date]:
        """Return (start_s, end_s, local date) of local day ``day_index``."""
        return _day_bounds(self.calendar, day_index)

    def source_date(self, day_index: int) -> date:
        """Return the recorded date whose calls day ``day_index`` repeats."""
        week = int(self.source_week[min(day_index // 7, len(self.source_week) - 1)])
        return self.week0 + timedelta(days=7 * week + day_index % 7)

    def draw_day(self, day_index: int) -> CallBatch:
        """Return the calls of the recorded day drawn for ``day_index``."""
        target = self.calendar.start.date() + timedelta(days=day_index)
        rows = self.library.rows_on(self.source_date(day_index))
        n = rows.stop - rows.start
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        return self.library.batch(rows, target, ids)


__all__ = [
    "BOOTSTRAP_STREAM",
    "BootstrapTraffic",
    "RecordedTraffic",
]

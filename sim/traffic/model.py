"""Drawing synthetic PSTN traffic: users' calls, meetings with PSTN participants, services.

The traffic settings (``sim.traffic.settings``) become one ``CallBatch`` per local day,
drawn with numpy: a non-homogeneous Poisson process per user group, whose hourly
intensity follows an hour-of-week profile, grows month by month, and is shared among
users in proportion to their gamma-distributed rate multipliers (so heavy callers exist).
Splitting a Poisson count by user weights is exact: each user's calls form an independent
Poisson process. A service number may instead have regular arrivals: the k-th call comes
when the expected count since the start reaches k - 1/2, so each hour slot gets its
expected count (fractions carried on) and calls are evenly spaced within it.

Calls are drawn a chunk of days at a time (a calendar month for tenants of up to
``MONTHLY_CHUNK_USERS`` users; else days 1-7, 8-14, 15-21 and 22 to the end of a month;
a day for the largest), vectorised over the chunk's hour slots, and served a day (or a span of
days) at a time. A group with its own ``time_zone`` reads each hour slot's weight at its
own local day and hour; the chunks and months stay the scenario's. Random streams are
keyed by (seed, replication, stream, group, first day of the chunk), never by a policy
setting, so every recharge policy sees the same calls (common random numbers), and never
by the horizon.

Imports the core and telephony only; no SimPy.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from sim.core.rng import stream
from sim.core.units import Calendar
from sim.telephony.calls import (
    BATCH_COLUMNS,
    CALL_TYPES,
    NUMBER_TYPES,
    CallBatch,
    CallType,
    NumberType,
)
from sim.telephony.plans import headcount
from sim.traffic.settings import (
    Calling,
    Destinations,
    GroupTraffic,
    Meetings,
    Population,
    Profile,
    ServiceTraffic,
    Traffic,
)

_DEST_DOMESTIC, _DEST_ZONE_A, _DEST_OTHER, _DEST_PREMIUM = range(4)
_SHARED_COLUMNS = tuple(c for c in BATCH_COLUMNS if c != "call_id")  # numbered when served
_CT = {ct: np.int8(CALL_TYPES.index(ct)) for ct in CALL_TYPES}
_NT = {nt: np.int8(NUMBER_TYPES.index(nt)) for nt in NUMBER_TYPES}


def _merge_sorted(first: CallBatch, then: CallBatch) -> CallBatch:
    """Merge two batches sorted by start, ``first``'s rows first on ties.

    The same rows in the same order as a stable sort of the two joined, with one copy
    of each column and no sort.
    """
    if first.groups != then.groups or first.countries != then.countries:
        merged = CallBatch.concat([first, then])
        return merged.take(np.argsort(merged.start_s, kind="stable"))
    at = np.searchsorted(then.start_s, first.start_s, side="left")
    out = object.__new__(CallBatch)
    for name in BATCH_COLUMNS:
        object.__setattr__(out, name, np.insert(getattr(then, name), at, getattr(first, name)))
    object.__setattr__(out, "groups", then.groups)
    object.__setattr__(out, "countries", then.countries)
    return out


DAILY_CHUNK_USERS = 250_000
"""Above this many users, traffic is drawn (and its streams keyed) a day at a time."""

MONTHLY_CHUNK_USERS = 2_000
"""Up to this many users, traffic is drawn (and its streams keyed) a calendar month at a
time: fewer, larger numpy steps (a 500-user replication is drawn about a quarter faster)
while a month's calls stay a few hundred thousand rows."""


@dataclass(slots=True)
class DeferredCalls:
    """A chunk's domestic calls of one group, drawn but for their start times and users.

    ``timeless`` holds them as a batch whose starts are all the chunk's start and whose
    subscriber is the group's first user: enough to look up what rule and pool each call
    meets when neither depends on the time or the user. ``per_day`` counts them by day of
    the chunk. ``TrafficModel.materialise`` draws the rest, from where the draws stopped.
    """

    group: int
    first_day: int
    timeless: CallBatch
    per_day: NDArray[np.int64]
    rng: np.random.Generator
    slots: NDArray[np.float64]
    counts: NDArray[np.int64]
    n_users: int


@dataclass(slots=True)
class _Parts:
    """Columns of one day's calls, gathered before they become a ``CallBatch``."""

    subscriber: list[NDArray[np.int64]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # calls of each part
    group: list[int] = field(default_factory=list)  # one code per part
    usage: list[int] = field(default_factory=list)  # one code per part
    dest: list[NDArray[np.int16]] = field(default_factory=list)
    number: list[NDArray[np.int8]] = field(default_factory=list)
    ctype: list[NDArray[np.int8]] = field(default_factory=list)
    start: list[NDArray[np.float64]] = field(default_factory=list)
    duration: list[NDArray[np.float64]] = field(default_factory=list)
    free: NDArray[np.int64] | None = None  # calls counted, not drawn, by day of the chunk
    defer: frozenset[int] = frozenset()  # groups whose domestic calls are left for later
    deferred: list[DeferredCalls] = field(default_factory=list)

    def add(
        self,
        subscriber: NDArray[np.int64],
        group: int,
        usage: int,
        dest: NDArray[np.int16] | np.integer[Any] | int,
        number: NDArray[np.int8] | np.integer[Any] | int,
        ctype: NDArray[np.int8] | np.integer[Any] | int,
        start: NDArray[np.float64],
        duration: NDArray[np.float64],
    ) -> None:
        n = len(start)
        if n == 0:
            return
        self.subscriber.append(subscriber.astype(np.int64, copy=False))
        self.counts.append(n)
        self.group.append(group)
        self.usage.append(usage)
        self.dest.append(_column(dest, np.int16, n))
        self.number.append(_column(number, np.int8, n))
        self.ctype.append(_column(ctype, np.int8, n))
        self.start.append(start)
        self.duration.append(duration)


def _column(value: Any, dtype: type[np.generic], n: int) -> Any:
    """Return ``value`` as a column of ``n`` entries (a scalar repeated)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value.astype(dtype, copy=False)
    return np.full(n, value, dtype)


def sorted_uniform_times(
    rng: np.random.Generator,
    slot_starts: NDArray[np.float64],
    counts: NDArray[np.int64],
    slot_s: float,
) -> NDArray[np.float64]:
    """Draw ``counts[j]`` uniform times in each slot, already sorted, in linear time.

    The order statistics of k uniforms are the partial sums of k + 1 exponentials
    divided by their total, so no sort is needed.
    """
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0)
    seg = counts + 1
    cs = np.cumsum(rng.standard_exponential(total + len(counts)))
    ends = np.cumsum(seg) - 1
    before = np.concatenate(([0.0], cs[ends[:-1]]))
    width = cs[ends] - before
    keep = np.ones(len(cs), dtype=bool)
    keep[ends] = False
    slot = np.repeat(np.arange(len(counts)), counts)
    u = (cs[keep] - before[slot]) / width[slot]
    times: NDArray[np.float64] = slot_starts[slot] + u * slot_s
    return times


def choice_cdf(weights: NDArray[np.float64] | tuple[float, ...]) -> NDArray[np.float64]:
    """Return the cumulative table ``choose`` draws from (the one numpy's ``choice`` builds)."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    return cdf


def choose(rng: np.random.Generator, cdf: NDArray[np.float64], n: int) -> NDArray[np.int64]:
    """Draw ``n`` indices by the cumulative table ``cdf``.

    The same numbers, from the same stream, as ``rng.choice(len(cdf), size=n, p=p)``
    (one uniform per draw, searched on the right), without re-validating ``p`` each time.
    """
    index: NDArray[np.int64] = cdf.searchsorted(rng.random(n), side="right").astype(
        np.int64, copy=False
    )
    return index


def _call_types(
    rng: np.random.Generator, calling: Calling, duration: NDArray[np.float64]
) -> NDArray[np.int8]:
    """Draw outbound legs' call types (transfer, forwarding, conference or plain).

    Legs of a type with a duration law of its own get their durations drawn again, after
    the rest (``duration`` is changed in place), so a scenario without such laws draws
    nothing more.
    """
    n = len(duration)
    u = rng.random(n)
    ctype = np.full(n, _CT[CallType.USER_OUT], np.int8)
    if calling.conference_share > 0:
        ctype[u < calling.transfer_share + calling.forward_share + calling.conference_share] = _CT[
            CallType.USER_OUT_CONF
        ]
    ctype[u < calling.transfer_share + calling.forward_share] = _CT[CallType.USER_OUT_FORWARDING]
    ctype[u < calling.transfer_share] = _CT[CallType.USER_OUT_TRANSFER]
    for name in ("user_out_transfer", "user_out_forwarding", "user_out_conf"):
        law = calling.durations.get(name)
        if law is not None:
            mask = ctype == _CT[CallType(name)]
            duration[mask] = law.sample_array(rng, int(np.count_nonzero(mask)))
    return ctype


def alias_table(weights: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Build Walker's alias table for drawing indices in proportion to ``weights``."""
    n = len(weights)
    scaled = np.asarray(weights, dtype=np.float64) * n / float(np.sum(weights))
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, big = small.pop(), large.pop()
        prob[s] = scaled[s]
        alias[s] = big
        scaled[big] -= 1.0 - scaled[s]
        (small if scaled[big] < 1.0 else large).append(big)
    return prob, alias


@dataclass
class _CalendarCache:
    """What a calendar fixes for every replication: day bounds, hour slots, their weights."""

    bounds: dict[int, tuple[float, float, date]] = field(default_factory=dict)
    slots: dict[tuple[int, int, str], tuple[NDArray[np.float64], NDArray[np.float64]]] = field(
        default_factory=dict
    )
    spans: dict[
        tuple[tuple[int, int], int, str], tuple[NDArray[np.float64], NDArray[np.float64]]
    ] = field(default_factory=dict)
    profiles: dict[Profile, int] = field(default_factory=dict)


_CALENDARS: dict[tuple[datetime, str, frozenset[date]], _CalendarCache] = {}
_CALENDARS_KEPT = 4


def _calendar_cache(calendar: Calendar, holidays: frozenset[date]) -> _CalendarCache:
    """Return the cache shared by the models of one calendar (the last few are kept)."""
    key = (calendar.start, calendar.time_zone.key, holidays)
    cache = _CALENDARS.pop(key, None) or _CalendarCache()
    _CALENDARS[key] = cache  # the most recent last
    while len(_CALENDARS) > _CALENDARS_KEPT:
        _CALENDARS.pop(next(iter(_CALENDARS)))
    return cache


class TrafficModel:
    """Draws each local day's calls for one replication.

    Parameters
    ----------
    traffic
        The scenario's traffic settings.
    population
        User groups and service numbers.
    calendar
        The scenario's local calendar.
    seed, replication
        Key the random streams.
    """

    def __init__(
        self,
        traffic: Traffic,
        population: Population,
        calendar: Calendar,
        seed: int,
        replication: int,
        horizon_s: float,
    ) -> None:
        self.traffic = traffic
        self.population = population
        self.calendar = calendar
        self.seed = seed
        self.replication = replication
        countries = set(population.group_countries) | set(population.service_countries)
        for name in population.group_names:
            gt = traffic.groups.get(name)
            if gt is None:
                continue
            for d in (gt.calling.destinations, gt.meetings.dial_out_destinations):
                countries |= set(d.domestic_countries) | set(d.zone_a_countries)
                countries |= set(d.international_countries)
        for name in population.service_names:
            st = traffic.services.get(name)
            if st is not None and st.outbound_per_day > 0:
                d = st.outbound_destinations
                countries |= set(d.domestic_countries) | set(d.zone_a_countries)
                countries |= set(d.international_countries)
        self.countries: tuple[str, ...] = tuple(sorted(countries))
        self._country = {c: i for i, c in enumerate(self.countries)}
        self.groups: tuple[str, ...] = tuple(population.group_names) + tuple(
            population.service_names
        )
        self.holidays = frozenset(traffic.holidays)
        last = calendar.to_datetime(horizon_s).date()
        self.months = self.month_index(last) + 1
        self._multipliers = [self._draw_multipliers(g) for g in range(len(population.group_names))]
        offsets = np.cumsum((0, *self._max_users()))
        self._user_offset = offsets[:-1]
        self._service_offset = int(offsets[-1])
        self._next_call_id = 0
        self.horizon_s = horizon_s
        # Very large tenants draw a day at a time, so a chunk's arrays stay a few hundred
        # MiB (a million users make about 4.4 million calls a day).
        self.daily_chunks = sum(population.group_counts) > DAILY_CHUNK_USERS
        self.monthly_chunks = sum(population.group_counts) <= MONTHLY_CHUNK_USERS
        # Drawing ahead (``draw_ahead``): one thread draws the next chunk while the caller
        # rates and walks this one. Chunks depend only on their own streams, and every
        # chunk is drawn on that one thread, in order, so the calls are the same.
        self._ahead_pool: ThreadPoolExecutor | None = None
        self._ahead: dict[int, Future[CallBatch]] = {}
        self._alias: dict[tuple[int, int], tuple[NDArray[np.float64], NDArray[np.int64]]] = {}
        self._spill: dict[int, CallBatch] = {}  # first day of a chunk -> legs held back
        # (first day of a chunk, free calls counted only) -> its calls
        self._buffers: dict[tuple[int, bool, frozenset[int]], CallBatch] = {}
        # Lean draws (``draw_days(..., count_free=True)``): day -> calls counted, not drawn.
        self._free: dict[int, int] = {}
        # Days, hour slots and their weights depend on the calendar alone: every
        # replication of the scenario (in this process) shares them.
        shared = _calendar_cache(calendar, self.holidays)
        self._span_slots = shared.spans
        self._bounds = shared.bounds
        self._slots = shared.slots
        self._profile_keys = shared.profiles
        self._profile_key: dict[int, int] = {}  # id of a profile of ours -> shared key
        self._zones: dict[str, ZoneInfo] = {}
        self._week_total: dict[int, float] = {}
        self._dest_tables: dict[
            tuple[int, str], tuple[NDArray[np.float64], tuple[NDArray[np.int16], ...]]
        ] = {}
        self._dest_cdfs: dict[tuple[int, str], tuple[NDArray[np.float64] | None, ...]] = {}
        self._other_cdfs: dict[int, NDArray[np.float64]] = {}  # classes but domestic
        # Lean draws with ``defer``: first day of a chunk -> its domestic calls left out.
        self._deferred: dict[int, list[DeferredCalls]] = {}
        # Regular arrivals: per service, the expected count from the start to each day.
        self._expected: dict[int, list[float]] = {}
        # (organiser, leg start) -> meeting number, kept only when asked for (call logs).
        self.conference_of: dict[tuple[int, float], int] | None = None
        self._next_conference = 0

    # -- users -----------------------------------------------------------------------
    def _max_users(self) -> list[int]:
        return [len(m) for m in self._multipliers]

    def _draw_multipliers(self, g: int) -> NDArray[np.float64]:
        name = self.population.group_names[g]
        gt = self.traffic.groups.get(name, GroupTraffic())
        count = self.population.group_counts[g]
        growth = self.traffic.headcount_growth_per_month
        # Enough users for the whole horizon; users join in index order.
        n = count if growth <= 0 else math.ceil(count * (1 + growth) ** self.months)
        cv = gt.calling.rate_cv
        if cv == 0 or n == 0:
            return np.ones(n)
        shape = 1.0 / cv**2
        rng = stream(self.seed, self.replication, "users", g)
        return rng.gamma(shape, 1.0 / shape, size=n)

    def active_users(self, g: int, month_index: int) -> int:
        """Return the number of users of group ``g`` in month ``month_index`` (0 = first)."""
        count = self.population.group_counts[g]
        growth = self.traffic.headcount_growth_per_month
        return min(len(self._multipliers[g]), headcount(count, growth, month_index))

    def usage_factor(self, month_index: int) -> float:
        """Usage growth multiplier during month ``month_index``."""
        return float((1 + self.traffic.usage_growth_per_month) ** month_index)

    # -- calendar --------------------------------------------------------------------
    def day_bounds(self, day_index: int) -> tuple[float, float, date]:
        """Return (start_s, end_s, local date) of local day ``day_index``."""
        bounds = self._bounds.get(day_index)
        if bounds is None:
            first = self.calendar.start.date()
            d = first + timedelta(days=day_index)
            start = self.calendar.to_sim(datetime(d.year, d.month, d.day))
            nxt = d + timedelta(days=1)
            end = self.calendar.to_sim(datetime(nxt.year, nxt.month, nxt.day))
            bounds = self._bounds[day_index] = (start, end, d)
        return bounds

    def month_index(self, d: date) -> int:
        """Calendar months between the start's month and the month of ``d``."""
        s = self.calendar.start
        return (d.year - s.year) * 12 + d.month - s.month

    def hour_slots(
        self, day_index: int, profile: Profile, zone: str = ""
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return each UTC hour slot's start (s) and the profile weight of its local hour.

        A local day has 23, 24 or 25 hour slots around DST changes; each slot takes the
        weight of the local hour it starts in: in the scenario's time zone, or in ``zone``
        (a group's own) at that zone's local date (weekday, holiday) and hour. The arrays
        are shared: do not write to them.
        """
        key = (day_index, self._key_of(profile), zone)
        slots = self._slots.get(key)
        if slots is None:
            slots = self._hour_slots(day_index, profile, zone)
            for array in slots:
                array.setflags(write=False)
            self._slots[key] = slots
        return slots

    def _key_of(self, profile: Profile) -> int:
        """Return the shared cache's key of a profile (equal profiles, one key)."""
        key = self._profile_key.get(id(profile))  # our profiles live as long as we do
        if key is None:
            key = self._profile_keys.setdefault(profile, len(self._profile_keys))
            self._profile_key[id(profile)] = key
        return key

    def _hour_slots(
        self, day_index: int, profile: Profile, zone: str = ""
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        start_s, end_s, d = self.day_bounds(day_index)
        n = round((end_s - start_s) / 3600)
        starts: NDArray[np.float64] = start_s + 3600.0 * np.arange(n, dtype=np.float64)
        if zone and zone != self.calendar.time_zone.key:
            tz = self._zones.get(zone)
            if tz is None:
                tz = self._zones[zone] = ZoneInfo(zone)
            origin = self.calendar.start.astimezone(UTC)
            values = []
            for t in starts.tolist():
                # The middle of the slot: zones offset by half an hour count it once.
                local = (origin + timedelta(seconds=t + 1800.0)).astimezone(tz)
                day_w = profile.day_weights(local.date(), local.date() in self.holidays)
                values.append(day_w[local.hour])
            return starts, np.asarray(values, dtype=np.float64)
        weights = profile.day_weights(d, d in self.holidays)
        if n == 24:
            return starts, np.asarray(weights, dtype=np.float64)
        hours = [self.calendar.to_datetime(float(t)).hour for t in starts]
        return starts, np.asarray([weights[h] for h in hours], dtype=np.float64)

    # -- drawing -----------------------------------------------------------------------
    def chunk_of(self, day_index: int) -> tuple[int, int]:
        """Return the first and last day of the chunk that holds local day ``day_index``.

        Calls are drawn a chunk at a time: the days 1-7, 8-14, 15-21 and 22 to the end of
        each calendar month (the first chunk starts at the start). A chunk never spans
        two months, so head-count and usage growth are constant within it, and chunks are
        fixed by the calendar, so a day's calls do not depend on the horizon. Tenants of
        up to ``MONTHLY_CHUNK_USERS`` users draw a calendar month as one chunk; tenants of
        more than ``DAILY_CHUNK_USERS`` users draw each day as a chunk of its own.
        """
        if self.daily_chunks:
            return day_index, day_index
        _, _, d = self.day_bounds(day_index)
        block = min((d.day - 1) // 7, 3)
        if block < 3 and not self.monthly_chunks:
            first_dom, last_dom = 1 + 7 * block, 7 + 7 * block
        else:  # to the end of the month, from its first day or its 22nd
            nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
            first_dom = 1 if self.monthly_chunks else 22
            last_dom = (nxt - timedelta(days=1)).day
        return max(0, day_index - (d.day - first_dom)), day_index + (last_dom - d.day)

    def draw_day(self, day_index: int) -> CallBatch:
        """Return every call that starts on local day ``day_index``, sorted by start."""
        return self.draw_days(day_index, day_index)

    def draw_days(
        self,
        first_day: int,
        last_day: int,
        count_free: bool = False,
        defer: frozenset[int] = frozenset(),
    ) -> CallBatch:
        """Return every call that starts on local days ``first_day`` to ``last_day``.

        Sorted by start; call ids are numbered in the order calls are returned. Meeting
        participants join a few minutes after the meeting starts, so a meeting just before
        the end of a chunk has legs in the next chunk: those are held back and returned
        with it, provided the earlier chunk was drawn first (draw days in order). A day
        asked for again gets the same calls under new ids.

        ``count_free``: users' inbound calls to their own numbers, always free (§2.1), are
        counted but not drawn (``free_calls`` gives their count by day) in chunks that end
        by the horizon. They are the last draws of their stream, so every other call is
        the same; call ids then number only the calls drawn. For lean walks, which need
        only the calls that touch the balance and the count of all.

        ``defer`` (with ``count_free``, whole chunks only): the domestic outbound calls
        of these groups are left out and kept, drawn but for their times and users, for
        ``take_deferred``; the caller either accounts for them as they are or has them
        drawn in full by ``materialise``. They have a stream of their own, so every
        other call is the same.
        """
        start_s = self.day_bounds(first_day)[0]
        end_s = self.day_bounds(last_day)[1]
        pieces: list[CallBatch] = []
        day = first_day
        while day <= last_day:
            first, last = self.chunk_of(day)
            whole = first >= first_day and last <= last_day
            if defer and count_free and not whole and self.day_bounds(last)[1] <= self.horizon_s:
                raise ValueError(f"defer needs whole chunks: days {first}-{last} (chunk_of)")
            buffer = self._chunk(first, last, count_free, defer)
            lo = int(np.searchsorted(buffer.start_s, start_s, side="left"))
            hi = int(np.searchsorted(buffer.start_s, end_s, side="left"))
            pieces.append(buffer.rows(lo, hi))
            day = last + 1
        batch = pieces[0] if len(pieces) == 1 else CallBatch.concat(pieces)
        n = len(batch)
        ids = np.arange(self._next_call_id, self._next_call_id + n, dtype=np.int64)
        self._next_call_id += n
        object.__setattr__(batch, "call_id", ids)
        return batch

    def take_deferred(self, first_day: int) -> list[DeferredCalls]:
        """Return (and forget) the calls ``draw_days(..., defer=...)`` left out of a chunk."""
        return self._deferred.pop(first_day, [])

    def materialise(self, deferred: list[DeferredCalls]) -> CallBatch:
        """Draw deferred calls' start times and users: the calls a full draw makes.

        Sorted by start, with call ids after every id given so far. Each part's draws go on
        from where its stream stopped, so call this once per part.
        """
        parts = _Parts()
        for part in deferred:
            self._complete(parts, part)
        batch = self._batch(parts)
        n = len(batch)
        ids = np.arange(self._next_call_id, self._next_call_id + n, dtype=np.int64)
        self._next_call_id += n
        object.__setattr__(batch, "call_id", ids)
        return batch

    def free_calls(self, first_day: int, last_day: int) -> NDArray[np.int64]:
        """Return each day's calls counted but not drawn (``count_free``), by day."""
        days = range(first_day, last_day + 1)
        return np.asarray([self._free.get(day, 0) for day in days], dtype=np.int64)

    def _chunk(
        self, first: int, last: int, count_free: bool = False, defer: frozenset[int] = frozenset()
    ) -> CallBatch:
        """Return the calls of a chunk (held-back legs of the chunk before included).

        The last two chunks are kept (the last one when drawing ahead); one asked for again
        after that is drawn again, the same calls from the same streams.
        """
        count_free = count_free and self.day_bounds(last)[1] <= self.horizon_s
        defer = defer if count_free else frozenset()
        key = (first, count_free, defer)
        buffer = self._buffers.get(key)
        if buffer is None:
            if count_free:
                batch = self._draw_chunk(first, last, count_free=True, defer=defer)
            else:
                batch = self._drawn(first, last)
            end_s = self.day_bounds(last)[1]
            # Sorted by start: the legs after the chunk's end are its last rows.
            cut = int(np.searchsorted(batch.start_s, end_s, side="left"))
            if cut < len(batch):
                self._spill[last + 1] = batch.take(np.arange(cut, len(batch)))
                batch = batch.rows(0, cut)
            spill = self._spill.get(first)
            if spill is not None:
                batch = _merge_sorted(spill, batch)
            # Drawing ahead holds the next chunk already: keep only this one then.
            while len(self._buffers) >= (1 if self._ahead_pool is not None else 2):
                self._buffers.pop(next(iter(self._buffers)))
            for column in _SHARED_COLUMNS:  # the days served are views of these
                getattr(batch, column).setflags(write=False)
            buffer = self._buffers[key] = batch
        return buffer

    def draw_ahead(self) -> None:
        """Draw each next chunk on a thread of its own while this one is used.

        Worth it with a core to spare (one replication on a multi-core machine): numpy
        releases the interpreter lock in its bulk steps. Call ``close`` when done.
        """
        if self._ahead_pool is None:
            self._ahead_pool = ThreadPoolExecutor(1, thread_name_prefix="ccsim-draw")

    def close(self) -> None:
        """Stop drawing ahead (chunks under way are finished and dropped)."""
        if self._ahead_pool is not None:
            self._ahead_pool.shutdown(wait=True, cancel_futures=True)
            self._ahead_pool = None
            self._ahead.clear()

    def _drawn(self, first: int, last: int) -> CallBatch:
        """Draw a chunk's calls, or take them from the thread drawing ahead."""
        pool = self._ahead_pool
        if pool is None:
            return self._draw_chunk(first, last)
        future = self._ahead.pop(first, None)
        if future is None:
            future = pool.submit(self._draw_chunk, first, last)
        nxt = last + 1
        if nxt not in self._ahead and self.day_bounds(nxt)[0] < self.horizon_s:
            self._ahead[nxt] = pool.submit(self._draw_chunk, *self.chunk_of(nxt))
        return future.result()

    def _draw_chunk(
        self, first: int, last: int, count_free: bool = False, defer: frozenset[int] = frozenset()
    ) -> CallBatch:
        span = (first, last)
        parts = _Parts(free=np.zeros(last - first + 1, np.int64) if count_free else None)
        parts.defer = defer
        _, _, d = self.day_bounds(first)
        month = self.month_index(d)
        usage = self.usage_factor(month)
        for g, name in enumerate(self.population.group_names):
            gt = self.traffic.groups.get(name)
            if gt is None:
                continue
            n_users = self.active_users(g, month)
            if n_users == 0:
                continue
            weights = self._multipliers[g][:n_users]
            zone = gt.time_zone
            if gt.calling.calls_per_user_day > 0 or gt.calling.inbound_per_user_day > 0:
                rng = stream(self.seed, self.replication, "calling", g, first)
                self._draw_calling(parts, rng, g, gt.calling, weights, usage, span, zone)
            if gt.meetings.per_organiser_week > 0:
                rng = stream(self.seed, self.replication, "meetings", g, first)
                self._draw_meetings(parts, rng, g, gt.meetings, weights, usage, span, zone)
        for k, name in enumerate(self.population.service_names):
            st = self.traffic.services.get(name)
            if st is None:
                continue
            if st.calls_per_day > 0:
                rng = stream(self.seed, self.replication, "services", k, first)
                self._draw_service(parts, rng, k, st, usage, span)
            if st.outbound_per_day > 0:
                # Outbound calls: the service's stream with a third key (1 = outbound), so
                # the inbound calls' draws (keys k, first) stay as they were.
                rng = stream(self.seed, self.replication, "services", k, first, 1)
                self._draw_service_out(parts, rng, k, st, usage, span)
        if parts.free is not None:
            self._free.update(zip(range(first, last + 1), parts.free.tolist(), strict=True))
        if defer:
            self._deferred[first] = parts.deferred
        return self._batch(parts)

    def _arrivals(
        self,
        rng: np.random.Generator,
        profile: Profile,
        per_unit_day: float,
        total_weight: float,
        span: tuple[int, int],
        zone: str = "",
    ) -> NDArray[np.float64]:
        """Draw the arrival times of a chunk of days of a non-homogeneous Poisson process.

        ``per_unit_day`` x ``total_weight`` events per day of an ordinary week, spread
        over its hours by the profile's weights (read in ``zone``, default the scenario's).
        """
        slots, mean = self._slot_means(profile, per_unit_day, total_weight, span, zone)
        counts = rng.poisson(mean)
        return sorted_uniform_times(rng, slots, counts, 3600.0)

    def _slot_means(
        self,
        profile: Profile,
        per_unit_day: float,
        total_weight: float,
        span: tuple[int, int],
        zone: str = "",
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return each hour slot's start and its expected count of events, over days."""
        if span[0] == span[1]:
            slots, w = self.hour_slots(span[0], profile, zone)
        else:
            key = (span, self._key_of(profile), zone)
            both = self._span_slots.get(key)
            if both is None:
                days = [self.hour_slots(day, profile, zone) for day in range(span[0], span[1] + 1)]
                both = (np.concatenate([a for a, _ in days]), np.concatenate([b for _, b in days]))
                for array in both:
                    array.setflags(write=False)
                self._span_slots[key] = both
            slots, w = both
        week_total = self._week_total.get(id(profile))
        if week_total is None:
            week_total = self._week_total[id(profile)] = profile.week_total
        mean: NDArray[np.float64] = per_unit_day * total_weight * 7.0 * w / week_total
        return slots, mean

    def _regular_arrivals(self, k: int, st: ServiceTraffic, day_index: int) -> NDArray[np.float64]:
        """Return one day's arrivals of service ``k`` spaced evenly (no random draws).

        The m-th call (m = 0, 1, ...) comes when the expected count since the start of
        the run reaches m + 1/2. So a slot gets its expected count, rounded, with the
        fraction carried on: the count over any stretch is within one of its mean, and
        within a slot the calls are evenly spaced.
        """
        profile = self.traffic.profile(st.profile)

        def day_edges(day: int, before: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            # Expected count since the start at each slot boundary of the day; the day's
            # last edge is the next day's first, computed the same way (no drift).
            usage = self.usage_factor(self.month_index(self.day_bounds(day)[2]))
            slots, mean = self._slot_means(profile, st.calls_per_day, usage, (day, day))
            edges: NDArray[np.float64] = before + np.concatenate(([0.0], np.cumsum(mean)))
            return slots, edges

        expected = self._expected.setdefault(k, [0.0])  # expected[d]: before day d
        while len(expected) <= day_index:  # the days before this one, once each
            day = len(expected) - 1
            expected.append(float(day_edges(day, expected[day])[1][-1]))
        slots, edges = day_edges(day_index, expected[day_index])
        if len(expected) == day_index + 1:
            expected.append(float(edges[-1]))
        first = np.ceil(edges - 0.5)  # calls numbered m = 0, 1, ... come at m + 1/2
        counts = np.diff(first).astype(np.int64)
        slot = np.repeat(np.arange(len(counts)), counts)
        number = first[0] + np.arange(int(counts.sum()), dtype=np.float64)
        low = edges[:-1][slot]
        offset = (number + 0.5 - low) / (edges[1:][slot] - low)
        times: NDArray[np.float64] = slots[slot] + np.clip(offset, 0.0, 1.0) * 3600.0
        return times

    def _pick_users(
        self, rng: np.random.Generator, g: int, n_users: int, n: int
    ) -> NDArray[np.int64]:
        """Draw ``n`` users among the first ``n_users`` of group ``g``, by their weights."""
        if n == 0:
            return np.zeros(0, np.int64)
        key = (g, n_users)
        table = self._alias.get(key)
        if table is None:
            table = alias_table(self._multipliers[g][:n_users])
            self._alias[key] = table
        prob, alias = table
        i = rng.integers(0, n_users, size=n)
        return np.where(rng.random(n) < prob[i], i, alias[i])

    def _destination_tables(
        self, dest: Destinations, home: str
    ) -> tuple[NDArray[np.float64], tuple[NDArray[np.int16], ...]]:
        """Return the class table and each class's country codes (cached per settings)."""
        key = (id(dest), home)
        tables = self._dest_tables.get(key)
        if tables is None:
            domestic = dest.domestic_countries or (home,)
            zone_a = tuple(c for c in dest.zone_a_countries if c != home) or dest.zone_a_countries
            codes = tuple(
                np.asarray([self._country[c] for c in countries], np.int16)
                for countries in (domestic, zone_a, dest.international_countries)
            )
            tables = self._dest_tables[key] = (choice_cdf(dest.shares), codes)
            # Country weights within a class (None: drawn alike, as without weights).
            cdfs: list[NDArray[np.float64] | None] = []
            for cls, countries in (
                ("domestic", dest.domestic_countries),
                ("zone_a", dest.zone_a_countries),
                ("international", dest.international_countries),
            ):
                w = dest.weights_of(cls)
                if not w or not countries:
                    cdfs.append(None)
                    continue
                kept = [x for c, x in zip(countries, w, strict=True) if c != home]
                if cls == "zone_a" and kept and sum(kept) > 0:
                    w = tuple(kept)
                cdfs.append(choice_cdf(w))
            self._dest_cdfs[key] = tuple(cdfs)
        return tables

    def _destinations(
        self,
        rng: np.random.Generator,
        dest: Destinations,
        home: str,
        n: int,
        domestic: bool | None = None,
    ) -> tuple[NDArray[np.int16], NDArray[np.int8]]:
        """Draw ``n`` calls' destination countries and number types.

        ``domestic``: None draws each call's class by the shares; True makes every call
        domestic; False draws among the other classes, by their shares. A class of one
        country draws no country.
        """
        cdf, tables = self._destination_tables(dest, home)
        cdfs = self._dest_cdfs[(id(dest), home)]
        if domestic is None:
            classes = choose(rng, cdf, n)
        elif domestic:
            classes = np.full(n, _DEST_DOMESTIC, np.int64)
        else:
            other = self._other_cdfs.get(id(dest))
            if other is None:
                other = self._other_cdfs[id(dest)] = choice_cdf(dest.shares[1:])
            classes = choose(rng, other, n) + 1
        numbers = np.full(n, _NT[NumberType.TOLL], np.int8)
        if domestic and len(tables[0]) == 1:  # one country: nothing to draw
            return np.full(n, tables[0][0], np.int16), numbers
        codes = np.empty(n, np.int16)
        for cls, table, weights in zip(
            (_DEST_DOMESTIC, _DEST_ZONE_A, _DEST_OTHER), tables, cdfs, strict=True
        ):
            mask = classes == cls
            k = int(np.count_nonzero(mask))
            if k:
                if len(table) == 1:  # a class of one country draws nothing
                    codes[mask] = table[0]
                elif weights is None or len(weights) != len(table):
                    codes[mask] = table[rng.integers(0, len(table), size=k)]
                else:
                    codes[mask] = table[choose(rng, weights, k)]
        premium = classes == _DEST_PREMIUM
        codes[premium] = self._country[home]
        numbers[premium] = _NT[NumberType.PREMIUM]
        return codes, numbers

    def _possible_destinations(self, dest: Destinations, home: str) -> set[tuple[int, int]]:
        """Return the (country code, number type) pairs ``_destinations`` can draw."""
        tables = self._destination_tables(dest, home)[1]
        cdfs = self._dest_cdfs[(id(dest), home)]
        toll = int(_NT[NumberType.TOLL])
        out: set[tuple[int, int]] = set()
        for share, table, cdf in zip(
            (dest.domestic, dest.zone_a, dest.international), tables, cdfs, strict=True
        ):
            if share <= 0:
                continue
            if cdf is None or len(cdf) != len(table):
                drawn = table.tolist()
            else:  # weighted: a country of weight 0 is never drawn
                chance = np.diff(cdf, prepend=0.0)
                drawn = table[chance > 0].tolist()
            out |= {(int(c), toll) for c in drawn}
        if dest.premium > 0:
            out.add((self._country[home], int(_NT[NumberType.PREMIUM])))
        return out

    def possible_calls(self) -> CallBatch:
        """Return one call of every kind the draws can make (``ccsim validate``).

        A kind is a (group or service number, call type, number type, destination) that
        the settings give a positive chance: the cells the rating looks up, so the rate
        tables can be checked before any call is drawn. Start times are all 0.
        """
        kinds: set[tuple[int, int, int, int, int]] = set()  # group, from, to, number, type
        toll, toll_free = int(_NT[NumberType.TOLL]), int(_NT[NumberType.TOLL_FREE])
        users = self._max_users()
        for g, name in enumerate(self.population.group_names):
            gt = self.traffic.groups.get(name)
            if gt is None or users[g] == 0:
                continue
            home = self.population.group_countries[g]
            hc = self._country[home]
            c = gt.calling
            if c.calls_per_user_day > 0:
                shares = {
                    CallType.USER_OUT: 1 - c.transfer_share - c.forward_share - c.conference_share,
                    CallType.USER_OUT_CONF: c.conference_share,
                    CallType.USER_OUT_FORWARDING: c.forward_share,
                    CallType.USER_OUT_TRANSFER: c.transfer_share,
                }
                types = [int(_CT[t]) for t, share in shares.items() if share > 1e-12]
                for to, number in self._possible_destinations(c.destinations, home):
                    kinds |= {(g, hc, to, number, t) for t in types}
            if c.inbound_per_user_day > 0:
                kinds.add((g, hc, hc, toll, int(_CT[CallType.USER_IN])))
            m = gt.meetings
            if m.per_organiser_week > 0 and m.dial_ins > 0:
                conf_in = int(_CT[CallType.CONF_IN])
                if m.toll_free_share > 0:
                    kinds.add((g, hc, hc, toll_free, conf_in))
                if m.toll_free_share < 1:
                    kinds.add((g, hc, hc, toll, conf_in))
            if m.per_organiser_week > 0 and m.dial_outs > 0:
                for to, number in self._possible_destinations(m.dial_out_destinations, home):
                    kinds.add((g, hc, to, number, int(_CT[CallType.CONF_OUT])))
        n_groups = len(self.population.group_names)
        for k, name in enumerate(self.population.service_names):
            st = self.traffic.services.get(name)
            if st is None:
                continue
            home = self.population.service_countries[k]
            hc = self._country[home]
            if st.calls_per_day > 0:
                number = toll_free if self.population.service_toll_free[k] else toll
                kinds.add((n_groups + k, hc, hc, number, int(_CT[CallType.UCAP_IN])))
            if st.outbound_per_day > 0:
                for to, number in self._possible_destinations(st.outbound_destinations, home):
                    kinds.add((n_groups + k, hc, to, number, int(_CT[CallType.UCAP_OUT])))
        rows = sorted(kinds)
        group = np.asarray([r[0] for r in rows], np.int32)
        first_user = np.append(self._user_offset, self._service_offset).astype(np.int64)
        subscriber = np.where(
            group < n_groups,
            first_user[np.minimum(group, n_groups)],
            self._service_offset + group - n_groups,
        )
        n = len(rows)
        return CallBatch(
            call_id=np.arange(n, dtype=np.int64),
            subscriber_id=subscriber.astype(np.int64),
            group=group,
            usage_country=np.asarray([r[1] for r in rows], np.int16),
            dest_country=np.asarray([r[2] for r in rows], np.int16),
            number_type=np.asarray([r[3] for r in rows], np.int8),
            call_type=np.asarray([r[4] for r in rows], np.int8),
            start_s=np.zeros(n),
            duration_s=np.full(n, 60.0),
            groups=self.groups,
            countries=self.countries,
        )

    def _draw_calling(
        self,
        parts: _Parts,
        rng: np.random.Generator,
        g: int,
        calling: Calling,
        weights: NDArray[np.float64],
        usage: float,
        span: tuple[int, int],
        zone: str = "",
    ) -> None:
        home = self.population.group_countries[g]
        home_code = self._country[home]
        profile = self.traffic.profile(calling.profile)
        total_w = float(weights.sum()) * usage
        # Outbound legs: two independent Poisson processes, split by destination class
        # (a Poisson process thinned by independent marks): the calls to other classes,
        # on the group's stream, and the domestic calls, on a stream of their own.
        if calling.calls_per_user_day > 0:
            slots, mean = self._slot_means(profile, calling.calls_per_user_day, total_w, span, zone)
            share = calling.destinations.domestic
            if share < 1:
                counts = rng.poisson(mean * (1.0 - share))
                start = sorted_uniform_times(rng, slots, counts, 3600.0)
                n = len(start)
                users = self._pick_users(rng, g, len(weights), n)
                duration = calling.duration.sample_array(rng, n)
                dest, number = self._destinations(rng, calling.destinations, home, n, False)
                ctype = _call_types(rng, calling, duration)
                subs = self._user_offset[g] + users
                parts.add(subs, g, home_code, dest, number, ctype, start, duration)
            if share > 0:
                self._draw_domestic(parts, g, calling, slots, mean * share, len(weights), span)
        # Inbound calls to users' regular numbers: always free (§2.1), and the stream's
        # last draws, so a lean draw may count them only.
        if parts.free is not None:
            slots, mean = self._slot_means(
                profile, calling.inbound_per_user_day, total_w, span, zone
            )
            counts = rng.poisson(mean)
            starts = [self.day_bounds(day)[0] for day in range(span[0], span[1] + 1)]
            day = np.searchsorted(np.asarray(starts), slots, side="right") - 1
            parts.free += np.bincount(day, weights=counts, minlength=len(starts)).astype(np.int64)
            return
        start = self._arrivals(rng, profile, calling.inbound_per_user_day, total_w, span, zone)
        n = len(start)
        users = self._pick_users(rng, g, len(weights), n)
        duration = calling.duration_of("user_in").sample_array(rng, n)
        parts.add(
            self._user_offset[g] + users,
            g,
            home_code,
            home_code,
            _NT[NumberType.TOLL],
            _CT[CallType.USER_IN],
            start,
            duration,
        )

    def _draw_domestic(
        self,
        parts: _Parts,
        g: int,
        calling: Calling,
        slots: NDArray[np.float64],
        mean: NDArray[np.float64],
        n_users: int,
        span: tuple[int, int],
    ) -> None:
        """Draw group ``g``'s domestic outbound calls of a chunk, on their own stream.

        Counts, durations, call types and countries come first, then the start times and
        the users: a group in ``parts.defer`` stops before those (``DeferredCalls``).
        """
        rng = stream(self.seed, self.replication, "calling", g, span[0], 1)
        counts = rng.poisson(mean)
        n = int(counts.sum())
        duration = calling.duration.sample_array(rng, n)
        ctype = _call_types(rng, calling, duration)
        home = self.population.group_countries[g]
        dest, _ = self._destinations(rng, calling.destinations, home, n, True)
        code = self._country[home]
        toll = _NT[NumberType.TOLL]
        if g not in parts.defer:
            start = sorted_uniform_times(rng, slots, counts, 3600.0)
            users = self._pick_users(rng, g, n_users, n)
            parts.add(self._user_offset[g] + users, g, code, dest, toll, ctype, start, duration)
            return
        timeless = CallBatch(
            call_id=np.zeros(n, np.int64),
            subscriber_id=np.full(n, self._user_offset[g], np.int64),
            group=np.full(n, g, np.int32),
            usage_country=np.full(n, code, np.int16),
            dest_country=dest,
            number_type=np.full(n, toll, np.int8),
            call_type=ctype,
            start_s=np.full(n, self.day_bounds(span[0])[0]),
            duration_s=duration,
            groups=self.groups,
            countries=self.countries,
        )
        starts = np.asarray([self.day_bounds(day)[0] for day in range(span[0], span[1] + 1)])
        day = np.searchsorted(starts, slots, side="right") - 1
        per_day = np.bincount(day, weights=counts, minlength=len(starts)).astype(np.int64)
        parts.deferred.append(
            DeferredCalls(g, span[0], timeless, per_day, rng, slots, counts, n_users)
        )

    def _complete(self, parts: _Parts, part: DeferredCalls) -> None:
        """Draw the start times and users of deferred calls, and add them to ``parts``."""
        rng = part.rng
        start = sorted_uniform_times(rng, part.slots, part.counts, 3600.0)
        users = self._pick_users(rng, part.group, part.n_users, len(start))
        t = part.timeless
        subs = self._user_offset[part.group] + users
        code = int(t.usage_country[0]) if len(t) else 0
        parts.add(
            subs, part.group, code, t.dest_country, t.number_type, t.call_type, start,
            t.duration_s,
        )  # fmt: skip

    def _draw_meetings(
        self,
        parts: _Parts,
        rng: np.random.Generator,
        g: int,
        meetings: Meetings,
        weights: NDArray[np.float64],
        usage: float,
        span: tuple[int, int],
        zone: str = "",
    ) -> None:
        home = self.population.group_countries[g]
        home_code = self._country[home]
        profile = self.traffic.profile(meetings.profile)
        total_w = float(weights.sum()) * usage
        per_day = meetings.per_organiser_week / 7.0
        m_start = self._arrivals(rng, profile, per_day, total_w, span, zone)
        n = len(m_start)
        organiser = self._user_offset[g] + self._pick_users(rng, g, len(weights), n)
        p = np.asarray(meetings.scheduled_weights) / sum(meetings.scheduled_weights)
        scheduled = np.asarray(meetings.scheduled)[choose(rng, choice_cdf(p), n)]
        if meetings.overrun_cv > 0:
            s2 = math.log1p(meetings.overrun_cv**2)
            factor = rng.lognormal(-s2 / 2, math.sqrt(s2), size=n)
        else:
            factor = np.ones(n)
        m_len = scheduled * factor
        for kind, mean in (("in", meetings.dial_ins), ("out", meetings.dial_outs)):
            per = rng.poisson(mean, size=n) if mean > 0 else np.zeros(n, np.int64)
            k = int(per.sum())
            if k == 0:
                continue
            idx = np.repeat(np.arange(n), per)
            join = np.minimum(rng.exponential(meetings.join_delay, size=k), 0.5 * m_len[idx])
            stay = (m_len[idx] - join) * rng.uniform(0.5, 1.0, size=k)
            leg_law = meetings.leg_durations.get(f"conf_{kind}")
            if leg_law is not None:  # the leg's own law instead of the meeting's length
                stay = leg_law.sample_array(rng, k)
            start = m_start[idx] + join
            order = np.argsort(start, kind="stable")
            idx, join, stay, start = idx[order], join[order], stay[order], start[order]
            if self.conference_of is not None:
                meetings_of_legs = (self._next_conference + idx).tolist()
                legs = zip(organiser[idx].tolist(), start.tolist(), strict=True)
                for key, meeting in zip(legs, meetings_of_legs, strict=True):
                    self.conference_of[key] = meeting
            if kind == "in":
                toll_free = rng.random(k) < meetings.toll_free_share
                number = np.where(toll_free, _NT[NumberType.TOLL_FREE], _NT[NumberType.TOLL])
                parts.add(
                    organiser[idx],
                    g,
                    home_code,
                    home_code,
                    number.astype(np.int8),
                    _CT[CallType.CONF_IN],
                    start,
                    stay,
                )
            else:
                dest, number = self._destinations(rng, meetings.dial_out_destinations, home, k)
                parts.add(
                    organiser[idx], g, home_code, dest, number, _CT[CallType.CONF_OUT], start, stay
                )
        self._next_conference += n

    def _draw_service(
        self,
        parts: _Parts,
        rng: np.random.Generator,
        k: int,
        st: ServiceTraffic,
        usage: float,
        span: tuple[int, int],
    ) -> None:
        country = self._country[self.population.service_countries[k]]
        if st.arrivals == "regular":
            days = range(span[0], span[1] + 1)
            start = np.concatenate([self._regular_arrivals(k, st, day) for day in days])
        else:
            profile = self.traffic.profile(st.profile)
            start = self._arrivals(rng, profile, st.calls_per_day, usage, span)
        n = len(start)
        duration = st.duration.sample_array(rng, n)
        number = (
            _NT[NumberType.TOLL_FREE]
            if self.population.service_toll_free[k]
            else _NT[NumberType.TOLL]
        )
        subs = np.full(n, self._service_offset + k, np.int64)
        group = len(self.population.group_names) + k
        parts.add(subs, group, country, country, number, _CT[CallType.UCAP_IN], start, duration)

    def _draw_service_out(
        self,
        parts: _Parts,
        rng: np.random.Generator,
        k: int,
        st: ServiceTraffic,
        usage: float,
        span: tuple[int, int],
    ) -> None:
        """Draw a service number's outbound calls (``ucap_out``), Poisson by its profile."""
        home = self.population.service_countries[k]
        profile = self.traffic.profile(st.profile)
        start = self._arrivals(rng, profile, st.outbound_per_day, usage, span)
        n = len(start)
        law = st.outbound_duration if st.outbound_duration is not None else st.duration
        duration = law.sample_array(rng, n)
        dest, number = self._destinations(rng, st.outbound_destinations, home, n)
        subs = np.full(n, self._service_offset + k, np.int64)
        group = len(self.population.group_names) + k
        parts.add(
            subs, group, self._country[home], dest, number, _CT[CallType.UCAP_OUT], start, duration
        )

    def _batch(self, parts: _Parts) -> CallBatch:
        cols: dict[str, Any]
        if parts.start:
            start = np.concatenate(parts.start)
            parts.start.clear()
            # Each part is sorted already: a stable sort merges the runs quickly.
            order = np.argsort(start, kind="stable")

            def joined(pieces: list[NDArray[Any]]) -> NDArray[Any]:
                out = np.concatenate(pieces)[order]
                pieces.clear()  # each column's parts go as soon as it is joined
                return out

            cols = {
                "subscriber_id": joined(parts.subscriber),
                "group": np.repeat(np.asarray(parts.group, np.int32), parts.counts)[order],
                "usage_country": np.repeat(np.asarray(parts.usage, np.int16), parts.counts)[order],
                "dest_country": joined(parts.dest),
                "number_type": joined(parts.number),
                "call_type": joined(parts.ctype),
                "start_s": start[order],
                "duration_s": joined(parts.duration),
            }
            del start
        else:
            cols = {
                "subscriber_id": np.zeros(0, np.int64),
                "group": np.zeros(0, np.int32),
                "usage_country": np.zeros(0, np.int16),
                "dest_country": np.zeros(0, np.int16),
                "number_type": np.zeros(0, np.int8),
                "call_type": np.zeros(0, np.int8),
                "start_s": np.zeros(0),
                "duration_s": np.zeros(0),
            }
        call_id = np.zeros(len(cols["start_s"]), dtype=np.int64)  # numbered when returned
        return CallBatch(call_id=call_id, groups=self.groups, countries=self.countries, **cols)


__all__ = ["TrafficModel", "alias_table", "sorted_uniform_times"]

"""Traffic settings of a scenario (``[traffic]``, ``[population]``): validated, frozen.

Hour-of-week profiles, destination shares, calling and meeting behaviour per user group,
service-number traffic and retries of refused calls. ``sim.traffic.model`` draws calls
from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np

from sim.core.distributions import Delay
from sim.core.schema import FieldError, require
from sim.core.units import Seconds, UnitError, load_time_zone
from sim.telephony.calls import (
    CALL_TYPES,
    NUMBER_TYPES,
    check_country,
)

_DEST_DOMESTIC, _DEST_ZONE_A, _DEST_OTHER, _DEST_PREMIUM = range(4)
_CT = {ct: np.int8(CALL_TYPES.index(ct)) for ct in CALL_TYPES}
_NT = {nt: np.int8(NUMBER_TYPES.index(nt)) for nt in NUMBER_TYPES}


HOURS_PER_WEEK = 168

# Default destination lists: a few Zone A countries and a few outside it
# (teams-credits.md §3 lists Zone A).
DEFAULT_ZONE_A = ("GB", "DE", "FR", "CA", "MX", "IN", "JP", "AU", "NL", "ES")
DEFAULT_OTHER = ("AE", "NG", "PH", "VN", "AR", "CL", "KE", "EG")


def _business_day() -> tuple[float, ...]:
    #      0    1    2    3    4    5    6    7    8    9   10   11
    return (
        0.02,
        0.01,
        0.01,
        0.01,
        0.01,
        0.02,
        0.05,
        0.2,
        0.7,
        1.0,
        1.0,
        0.9,
        #  12   13   14   15   16   17   18   19   20   21   22   23
        0.7,
        0.9,
        1.0,
        1.0,
        0.9,
        0.6,
        0.3,
        0.15,
        0.08,
        0.05,
        0.04,
        0.03,
    )


_BUSINESS_WEEKEND = tuple(0.08 * w for w in _business_day())


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""Day names of a profile, Monday first (``date.weekday()`` order)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Relative call intensity by local hour: weekdays, Saturday, Sunday and holidays.

    Each list has 24 non-negative weights. Only ratios matter: a group's
    ``calls_per_user_day`` is the mean over an ordinary week, and the weights spread it
    over the 168 hours of that week. ``monday`` ... ``friday`` give a day its own shape
    (default: ``weekday``). Holidays use ``holiday`` (default: Sunday's).
    """

    weekday: tuple[float, ...] = field(default_factory=_business_day)
    saturday: tuple[float, ...] = _BUSINESS_WEEKEND
    sunday: tuple[float, ...] = _BUSINESS_WEEKEND
    holiday: tuple[float, ...] | None = None
    monday: tuple[float, ...] | None = None
    tuesday: tuple[float, ...] | None = None
    wednesday: tuple[float, ...] | None = None
    thursday: tuple[float, ...] | None = None
    friday: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("weekday", "saturday", "sunday", "holiday", *WEEKDAYS[:5]):
            values = getattr(self, name)
            if values is None:
                continue
            require(len(values) == 24, name, f"needs 24 hourly weights, got {len(values)}")
            require(all(v >= 0 for v in values), name, "weights must be >= 0")
        require(self.week_total > 0, "weekday", "the week's weights must not all be zero")

    @property
    def by_day(self) -> bool:
        """True when some day of Monday to Friday has its own shape."""
        return any(getattr(self, name) is not None for name in WEEKDAYS[:5])

    def weekday_weights(self, wd: int) -> tuple[float, ...]:
        """Return the 24 weights of an ordinary day, ``wd`` = 0 (Monday) to 6 (Sunday)."""
        if wd == 5:
            return self.saturday
        if wd == 6:
            return self.sunday
        own: tuple[float, ...] | None = getattr(self, WEEKDAYS[wd])
        return own if own is not None else self.weekday

    def day_weights(self, day: date, is_holiday: bool) -> tuple[float, ...]:
        """Return the 24 weights of a local date."""
        if is_holiday:
            return self.holiday if self.holiday is not None else self.sunday
        wd = day.weekday()
        if wd < 5 and not self.by_day:
            return self.weekday
        return self.weekday_weights(wd)

    @property
    def week_total(self) -> float:
        """Sum of the weights over an ordinary week."""
        if not self.by_day:
            return 5 * sum(self.weekday) + sum(self.saturday) + sum(self.sunday)
        return sum(sum(self.weekday_weights(wd)) for wd in range(7))


BUILTIN_PROFILES: dict[str, Profile] = {
    "business": Profile(),
    "flat": Profile(weekday=(1.0,) * 24, saturday=(1.0,) * 24, sunday=(1.0,) * 24),
    "contact_centre": Profile(
        weekday=tuple(1.0 if 8 <= h < 20 else 0.05 for h in range(24)),
        saturday=tuple(0.5 if 9 <= h < 17 else 0.02 for h in range(24)),
        sunday=tuple(0.02 for _ in range(24)),
    ),
}


@dataclass(frozen=True, slots=True)
class Destinations:
    """Shares of outbound calls by destination class (they must sum to 1).

    ``domestic``: a country of ``domestic_countries`` (default: the usage country).
    ``zone_a``: Audio Conferencing Zone A countries; ``international``: countries outside
    Zone A; ``premium``: premium-rate numbers in the usage country (for example UK
    shared-cost numbers, teams-credits.md §2.2). Within a class a country is drawn by
    ``domestic_weights``, ``zone_a_weights`` or ``international_weights`` (one
    non-negative weight per country of the list, in its order; empty: all alike).
    """

    domestic: float = 1.0
    zone_a: float = 0.0
    international: float = 0.0
    premium: float = 0.0
    domestic_countries: tuple[str, ...] = ()
    zone_a_countries: tuple[str, ...] = DEFAULT_ZONE_A
    international_countries: tuple[str, ...] = DEFAULT_OTHER
    domestic_weights: tuple[float, ...] = ()
    zone_a_weights: tuple[float, ...] = ()
    international_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        shares = (self.domestic, self.zone_a, self.international, self.premium)
        names = ("domestic", "zone_a", "international", "premium")
        for name, share in zip(names, shares, strict=True):
            require(share >= 0, name, "shares must be >= 0")
        require(
            abs(sum(shares) - 1.0) < 1e-9,
            "domestic",
            f"domestic + zone_a + international + premium must be 1, got {sum(shares):g}",
        )
        for name in ("domestic_countries", "zone_a_countries", "international_countries"):
            for i, code in enumerate(getattr(self, name)):
                try:
                    check_country(code)
                except ValueError as exc:
                    raise FieldError(f"{name}[{i}]", str(exc)) from None
        require(
            self.zone_a == 0 or bool(self.zone_a_countries),
            "zone_a_countries",
            "must not be empty when zone_a > 0",
        )
        require(
            self.international == 0 or bool(self.international_countries),
            "international_countries",
            "must not be empty when international > 0",
        )
        for cls in ("domestic", "zone_a", "international"):
            weights = getattr(self, f"{cls}_weights")
            if not weights:
                continue
            countries = getattr(self, f"{cls}_countries")
            require(
                len(weights) == len(countries),
                f"{cls}_weights",
                f"needs one weight per country of {cls}_countries ({len(countries)}), "
                f"got {len(weights)}",
            )
            require(
                all(w >= 0 for w in weights) and sum(weights) > 0,
                f"{cls}_weights",
                "weights must be >= 0 and not all zero",
            )

    def weights_of(self, cls: str) -> tuple[float, ...]:
        """Return the weights of a class's countries (``()``: all alike)."""
        weights: tuple[float, ...] = getattr(self, f"{cls}_weights")
        return weights

    @property
    def shares(self) -> tuple[float, float, float, float]:
        """Return the four shares in the order domestic, zone A, international, premium."""
        return (self.domestic, self.zone_a, self.international, self.premium)


def _default_call_duration() -> Delay:
    return Delay(kind="lognormal", mean=Seconds(180.0), cv=1.2)


CALLING_DURATION_TYPES = ("user_in", "user_out_transfer", "user_out_forwarding", "user_out_conf")
"""Call types ``calling.durations`` may give their own law (``user_out``: ``duration``)."""


@dataclass(frozen=True, slots=True)
class Calling:
    """One user group's own calls.

    ``calls_per_user_day``: outbound calls per user per day (mean over a week);
    ``inbound_per_user_day``: inbound calls to users' regular numbers (free);
    ``rate_cv``: spread of the users' rates (gamma multiplier with mean 1 and this
    coefficient of variation; 0 = all alike); ``transfer_share``, ``forward_share`` and
    ``conference_share``: shares of outbound legs that are transfers or forwards to PSTN
    numbers, or PSTN participants a user added to a call (``user_out_conf``).
    ``duration`` is the law of every leg unless ``durations`` gives a call type its own:
    keys ``user_in``, ``user_out_transfer``, ``user_out_forwarding``, ``user_out_conf``.
    """

    calls_per_user_day: float = 0.0
    inbound_per_user_day: float = 0.0
    rate_cv: float = 0.0
    profile: str = "business"
    duration: Delay = field(default_factory=_default_call_duration)
    destinations: Destinations = field(default_factory=Destinations)
    transfer_share: float = 0.0
    forward_share: float = 0.0
    conference_share: float = 0.0
    durations: dict[str, Delay] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(self.calls_per_user_day >= 0, "calls_per_user_day", "must be >= 0")
        require(self.inbound_per_user_day >= 0, "inbound_per_user_day", "must be >= 0")
        require(self.rate_cv >= 0, "rate_cv", "must be >= 0")
        for name in ("transfer_share", "forward_share", "conference_share"):
            require(getattr(self, name) >= 0, name, "must be >= 0")
        require(
            self.transfer_share + self.forward_share + self.conference_share <= 1,
            "transfer_share",
            "transfer_share + forward_share + conference_share must lie between 0 and 1",
        )
        allowed = ", ".join(CALLING_DURATION_TYPES)
        for key in self.durations:
            require(
                key in CALLING_DURATION_TYPES,
                f"durations.{key}",
                f"unknown call type (allowed: {allowed})",
            )

    def duration_of(self, call_type: str) -> Delay:
        """Return the duration law of a call type (``duration`` unless overridden)."""
        return self.durations.get(call_type, self.duration)


@dataclass(frozen=True, slots=True)
class Meetings:
    """Meetings organised by a group's users, with PSTN participants.

    Each organiser holds ``per_organiser_week`` meetings a week (Poisson). A meeting is
    scheduled for one of ``scheduled`` lengths (chosen with ``scheduled_weights``) and
    runs that long times a lognormal factor of mean 1 and ``overrun_cv``. PSTN
    participants: ``dial_ins`` per meeting (Poisson), a ``toll_free_share`` of them on
    the toll-free bridge number; ``dial_outs`` per meeting ("call me", Poisson) to
    ``dial_out_destinations``. Participants join within the first minutes and stay for
    a uniform 50-100 % of the rest of the meeting. ``leg_durations`` may instead give
    dial-in (``conf_in``) or dial-out (``conf_out``) legs their own duration law.
    """

    per_organiser_week: float = 0.0
    profile: str = "business"
    scheduled: tuple[Seconds, ...] = (Seconds(1800.0), Seconds(3600.0))
    scheduled_weights: tuple[float, ...] = (0.6, 0.4)
    overrun_cv: float = 0.25
    dial_ins: float = 0.0
    toll_free_share: float = 0.0
    dial_outs: float = 0.0
    join_delay: Seconds = Seconds(120.0)
    dial_out_destinations: Destinations = field(default_factory=Destinations)
    leg_durations: dict[str, Delay] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(self.per_organiser_week >= 0, "per_organiser_week", "must be >= 0")
        for key in self.leg_durations:
            require(
                key in ("conf_in", "conf_out"),
                f"leg_durations.{key}",
                "unknown leg (allowed: conf_in, conf_out)",
            )
        require(len(self.scheduled) > 0, "scheduled", "needs at least one length")
        require(all(s > 0 for s in self.scheduled), "scheduled", "lengths must be > 0")
        require(
            len(self.scheduled_weights) == len(self.scheduled),
            "scheduled_weights",
            "needs one weight per scheduled length",
        )
        require(
            all(w >= 0 for w in self.scheduled_weights) and sum(self.scheduled_weights) > 0,
            "scheduled_weights",
            "weights must be >= 0 and not all zero",
        )
        require(self.overrun_cv >= 0, "overrun_cv", "must be >= 0")
        require(self.dial_ins >= 0, "dial_ins", "must be >= 0")
        require(self.dial_outs >= 0, "dial_outs", "must be >= 0")
        require(0 <= self.toll_free_share <= 1, "toll_free_share", "must lie in [0, 1]")


@dataclass(frozen=True, slots=True)
class GroupTraffic:
    """Traffic of one user group (its head-count and country are in ``[user_groups]``).

    ``time_zone``: IANA zone of the group's profile hours (default ``""``: the scenario's).
    The profile's days and hours are read in this zone; the scenario's local days still
    chunk the calls, and its months carry growth and pools.
    """

    calling: Calling = field(default_factory=Calling)
    meetings: Meetings = field(default_factory=Meetings)
    time_zone: str = ""

    def __post_init__(self) -> None:
        if self.time_zone:
            try:
                load_time_zone(self.time_zone)
            except UnitError as exc:
                raise FieldError("time_zone", str(exc)) from None


def _default_service_duration() -> Delay:
    return Delay(kind="lognormal", mean=Seconds(240.0), cv=1.0)


@dataclass(frozen=True, slots=True)
class ServiceTraffic:
    """Inbound calls to one service number (auto attendant or call queue).

    ``arrivals``: ``poisson`` (calls arrive at random) or ``regular`` (scheduled traffic,
    for queue studies): each hour slot gets its expected count, the fractional parts
    carried on to the next slots so that the long-run rate is exact, spaced evenly.
    ``outbound_per_day``: outbound calls placed by the service number (``ucap_out``,
    Poisson, by the same profile), lasting ``outbound_duration`` (default: ``duration``)
    to ``outbound_destinations``.
    """

    calls_per_day: float = 0.0
    profile: str = "contact_centre"
    duration: Delay = field(default_factory=_default_service_duration)
    arrivals: Literal["poisson", "regular"] = "poisson"
    outbound_per_day: float = 0.0
    outbound_duration: Delay | None = None
    outbound_destinations: Destinations = field(default_factory=Destinations)

    def __post_init__(self) -> None:
        require(self.calls_per_day >= 0, "calls_per_day", "must be >= 0")
        require(self.outbound_per_day >= 0, "outbound_per_day", "must be >= 0")


@dataclass(frozen=True, slots=True)
class Retry:
    """What a caller does when a call is blocked: try again, maybe.

    After a block the caller tries again with ``probability`` after ``delay``, at most
    ``max_attempts`` further times.
    """

    probability: float = 0.0
    delay: Delay = field(default_factory=lambda: Delay(kind="exponential", mean=Seconds(1800.0)))
    max_attempts: int = 2

    def __post_init__(self) -> None:
        require(0 <= self.probability <= 1, "probability", "must lie in [0, 1]")
        require(self.max_attempts >= 0, "max_attempts", "must be >= 0")


@dataclass(frozen=True, slots=True)
class Traffic:
    """All traffic settings of a scenario.

    ``groups`` and ``services`` are keyed by the names used in ``[user_groups]`` and
    ``[service_numbers]``. ``headcount_growth_per_month`` and
    ``usage_growth_per_month`` are relative changes per calendar month (0.01 = +1 %).
    """

    profiles: dict[str, Profile] = field(default_factory=dict)
    groups: dict[str, GroupTraffic] = field(default_factory=dict)
    services: dict[str, ServiceTraffic] = field(default_factory=dict)
    holidays: tuple[date, ...] = ()
    headcount_growth_per_month: float = 0.0
    usage_growth_per_month: float = 0.0
    retry: Retry = field(default_factory=Retry)

    def __post_init__(self) -> None:
        require(self.headcount_growth_per_month > -1, "headcount_growth_per_month", "must be > -1")
        require(self.usage_growth_per_month > -1, "usage_growth_per_month", "must be > -1")
        known = set(BUILTIN_PROFILES) | set(self.profiles)
        allowed = ", ".join(sorted(known))
        for name, g in self.groups.items():
            for part in ("calling", "meetings"):
                profile = getattr(g, part).profile
                require(
                    profile in known,
                    f"groups.{name}.{part}.profile",
                    f"unknown profile {profile!r} (known: {allowed})",
                )
        for name, s in self.services.items():
            require(
                s.profile in known,
                f"services.{name}.profile",
                f"unknown profile {s.profile!r} (known: {allowed})",
            )

    def profile(self, name: str) -> Profile:
        """Return a profile by name (scenario profiles override built-in ones)."""
        return self.profiles.get(name) or BUILTIN_PROFILES[name]


@dataclass(frozen=True, slots=True)
class Population:
    """Who generates traffic: user groups and service numbers, as the model sees them."""

    group_names: tuple[str, ...]
    group_counts: tuple[int, ...]
    group_countries: tuple[str, ...]
    service_names: tuple[str, ...]
    service_countries: tuple[str, ...]
    service_toll_free: tuple[bool, ...]


__all__ = [
    "BUILTIN_PROFILES",
    "CALLING_DURATION_TYPES",
    "DEFAULT_OTHER",
    "DEFAULT_ZONE_A",
    "HOURS_PER_WEEK",
    "WEEKDAYS",
    "Calling",
    "Destinations",
    "GroupTraffic",
    "Meetings",
    "Population",
    "Profile",
    "Retry",
    "ServiceTraffic",
    "Traffic",
]

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
from sim.core.units import Seconds
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


@dataclass(frozen=True, slots=True)
class Profile:
    """Relative call intensity by local hour: weekdays, Saturday, Sunday and holidays.

    Each list has 24 non-negative weights. Only ratios matter: a group's
    ``calls_per_user_day`` is the mean over an ordinary week, and the weights spread it
    over the 168 hours of that week. Holidays use ``holiday`` (default: Sunday's).
    """

    weekday: tuple[float, ...] = field(default_factory=_business_day)
    saturday: tuple[float, ...] = _BUSINESS_WEEKEND
    sunday: tuple[float, ...] = _BUSINESS_WEEKEND
    holiday: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("weekday", "saturday", "sunday", "holiday"):
            values = getattr(self, name)
            if values is None:
                continue
            require(len(values) == 24, name, f"needs 24 hourly weights, got {len(values)}")
            require(all(v >= 0 for v in values), name, "weights must be >= 0")
        week = 5 * sum(self.weekday) + sum(self.saturday) + sum(self.sunday)
        require(week > 0, "weekday", "the week's weights must not all be zero")

    def day_weights(self, day: date, is_holiday: bool) -> tuple[float, ...]:
        """Return the 24 weights of a local date."""
        if is_holiday:
            return self.holiday if self.holiday is not None else self.sunday
        wd = day.weekday()
        return self.weekday if wd < 5 else (self.saturday if wd == 5 else self.sunday)

    @property
    def week_total(self) -> float:
        """Sum of the weights over an ordinary week."""
        return 5 * sum(self.weekday) + sum(self.saturday) + sum(self.sunday)


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
    shared-cost numbers, teams-credits.md §2.2).
    """

    domestic: float = 1.0
    zone_a: float = 0.0
    international: float = 0.0
    premium: float = 0.0
    domestic_countries: tuple[str, ...] = ()
    zone_a_countries: tuple[str, ...] = DEFAULT_ZONE_A
    international_countries: tuple[str, ...] = DEFAULT_OTHER

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

    @property
    def shares(self) -> tuple[float, float, float, float]:
        """Return the four shares in the order domestic, zone A, international, premium."""
        return (self.domestic, self.zone_a, self.international, self.premium)


def _default_call_duration() -> Delay:
    return Delay(kind="lognormal", mean=Seconds(180.0), cv=1.2)


@dataclass(frozen=True, slots=True)
class Calling:
    """One user group's own calls.

    ``calls_per_user_day``: outbound calls per user per day (mean over a week);
    ``inbound_per_user_day``: inbound calls to users' regular numbers (free);
    ``rate_cv``: spread of the users' rates (gamma multiplier with mean 1 and this
    coefficient of variation; 0 = all alike); ``transfer_share`` and ``forward_share``:
    shares of outbound legs that are transfers or forwards to PSTN numbers.
    """

    calls_per_user_day: float = 0.0
    inbound_per_user_day: float = 0.0
    rate_cv: float = 0.0
    profile: str = "business"
    duration: Delay = field(default_factory=_default_call_duration)
    destinations: Destinations = field(default_factory=Destinations)
    transfer_share: float = 0.0
    forward_share: float = 0.0

    def __post_init__(self) -> None:
        require(self.calls_per_user_day >= 0, "calls_per_user_day", "must be >= 0")
        require(self.inbound_per_user_day >= 0, "inbound_per_user_day", "must be >= 0")
        require(self.rate_cv >= 0, "rate_cv", "must be >= 0")
        require(
            0 <= self.transfer_share + self.forward_share <= 1,
            "transfer_share",
            "transfer_share + forward_share must lie between 0 and 1",
        )


@dataclass(frozen=True, slots=True)
class Meetings:
    """Meetings organised by a group's users, with PSTN participants.

    Each organiser holds ``per_organiser_week`` meetings a week (Poisson). A meeting is
    scheduled for one of ``scheduled`` lengths (chosen with ``scheduled_weights``) and
    runs that long times a lognormal factor of mean 1 and ``overrun_cv``. PSTN
    participants: ``dial_ins`` per meeting (Poisson), a ``toll_free_share`` of them on
    the toll-free bridge number; ``dial_outs`` per meeting ("call me", Poisson) to
    ``dial_out_destinations``. Participants join within the first minutes and stay for
    a uniform 50-100 % of the rest of the meeting.
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

    def __post_init__(self) -> None:
        require(self.per_organiser_week >= 0, "per_organiser_week", "must be >= 0")
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
    """Traffic of one user group (its head-count and country are in ``[user_groups]``)."""

    calling: Calling = field(default_factory=Calling)
    meetings: Meetings = field(default_factory=Meetings)


def _default_service_duration() -> Delay:
    return Delay(kind="lognormal", mean=Seconds(240.0), cv=1.0)


@dataclass(frozen=True, slots=True)
class ServiceTraffic:
    """Inbound calls to one service number (auto attendant or call queue).

    ``arrivals``: ``poisson`` (calls arrive at random) or ``regular`` (scheduled traffic,
    for queue studies): each hour slot gets its expected count, the fractional parts
    carried on to the next slots so that the long-run rate is exact, spaced evenly.
    """

    calls_per_day: float = 0.0
    profile: str = "contact_centre"
    duration: Delay = field(default_factory=_default_service_duration)
    arrivals: Literal["poisson", "regular"] = "poisson"

    def __post_init__(self) -> None:
        require(self.calls_per_day >= 0, "calls_per_day", "must be >= 0")


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
    "DEFAULT_OTHER",
    "DEFAULT_ZONE_A",
    "HOURS_PER_WEEK",
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

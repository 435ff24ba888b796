"""The scenario: every input of a simulation, as frozen, validated dataclasses.

The TOML keys are the dataclass field names (no mapping layer). ``Scenario.from_dict``
builds it strictly: unknown keys, wrong types and out-of-range values raise
``ConfigError`` with the dotted path of the key. Cross-section rules (the admin portal's
minimum of 50, postpaid excluding credits) are checked in ``Scenario.__post_init__``.

Imports the pure core only; no SimPy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sim.billing.policies import (
    PORTAL_MINIMUM,
    Admin,
    OpeningLot,
    Payment,
    Postpaid,
    Recharge,
)
from sim.core import limits
from sim.core.codes import currency_error
from sim.core.files import name_error
from sim.core.schema import (
    Check,
    ConfigError,
    FieldError,
    Range,
    Rule,
    build,
    convert,
    require,
)
from sim.core.units import (
    Calendar,
    Micros,
    Seconds,
    UnitError,
    days_before,
    format_duration,
    format_money,
    is_whole_units,
    load_time_zone,
    parse_months,
)
from sim.scenario.costs import Costs
from sim.scenario.rules import MONEY, POSITIVE_MONEY, RULES
from sim.scenario.uncertainties import Uncertainties, check_ends, quote_setting_path
from sim.telephony.plans import ServiceNumber, Tenant, UserGroup, check_unique_names
from sim.telephony.tariffs import TariffFiles
from sim.traffic.settings import Population, Traffic

MAX_WARM_UP_DAYS = 3660
SECONDS_PER_DAY = 86_400


_TENANTS: dict[
    tuple[int, int], tuple[tuple[UserGroup, ...], tuple[ServiceNumber, ...], Tenant]
] = {}
_TENANTS_KEPT = 1024  # a 20 x 20 sweep's variants, twice over


MIN_HORIZON_S = 3600.0
"""The shortest horizon: an hour (a bare ``horizon = 30`` is 30 s, almost surely a slip)."""


def _days_text(days: float) -> str:
    """Write a duration in days for a message: whole days as such, others by their unit."""
    if days == int(days):
        return f"{int(days)} days"
    return format_duration(days * SECONDS_PER_DAY)


@dataclass(frozen=True, slots=True)
class Simulation:
    """Clock, calendar and randomness of a run.

    ``debits``: the ledger records call charges ``hourly`` (one debit per local hour,
    exact at every instant the account reacts), ``per_call`` (one debit per call: an
    exact balance path, at the cost of a larger ledger) or ``per_event`` (one debit per
    stretch between events: the fewest entries, used by sweeps). Balances at every
    event, e-mail and recharge are the same in all three.

    ``horizon``: a fixed duration (``"365d"``) or calendar months (``"1y"``, ``"18mo"``:
    the same local time that many months after ``start``, turned into seconds when the
    file is read, ``calendar_spans``).

    ``warm_up`` (whole days or calendar months, default 0): the engine starts that much earlier and
    discards it: outcomes (and so costs) are measured over ``[start, start + horizon)``,
    with the lots, payments and balance the warm-up left. With 12-month lots a warm-up of
    a year makes expiry, and so forfeits, happen as in steady state.
    """

    start: datetime
    horizon: Seconds
    time_zone: str = "UTC"
    currency: str = "USD"
    seed: int = 0
    replications: int = 1
    name: str = ""
    debits: Literal["hourly", "per_call", "per_event"] = "hourly"
    warm_up: Seconds = Seconds(0.0)

    def __post_init__(self) -> None:
        try:
            load_time_zone(self.time_zone)
        except UnitError as exc:
            raise FieldError("time_zone", str(exc)) from None
        require(self.start.tzinfo is None, "start", "give a local date-time without offset")
        require(
            self.horizon >= MIN_HORIZON_S,
            "horizon",
            f"must be at least 1h, got {format_duration(self.horizon)} (a number without a "
            'unit is seconds: write "30d" for 30 days)',
        )
        error = currency_error(self.currency)
        require(error is None, "currency", error or "")
        error = name_error(self.name)
        require(error is None, "name", error or "")
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        require(self.replications >= 1, "replications", "must be >= 1")
        days = self.warm_up / SECONDS_PER_DAY
        require(
            0 <= days <= MAX_WARM_UP_DAYS and days == int(days),
            "warm_up",
            f"must be a whole number of days from 0 to {MAX_WARM_UP_DAYS}, got {_days_text(days)}",
        )


@dataclass(frozen=True, slots=True)
class Funding:
    """How credits are bought, held and spent.

    ``mode``: ``prepaid`` credits (MOSA) or ``postpaid`` NCE/MCA billing in arrears.
    ``at_zero``: a call in progress when the balance runs out ``overshoot``s below zero
    (repaid by the next lot) or is ``cut_off`` at zero. ``refuse_at_zero``: calls that
    need credit are refused while the balance is not positive (Microsoft's rule); when
    false they go ahead on credit and the next lot repays them (a backorder model for
    studies). ``charge_at``: calls are charged
    at their ``end`` or at their ``start``. ``expiry_months``: lot lifetime (0: never).
    ``portal_rules``: enforce the admin portal's whole-number minimum of 50 (and buy
    top-ups to a target in whole units; without them top-ups are exact).
    ``lot_lifetime``: for studies, lots expire this long after purchase (``"90d"``)
    instead of after ``expiry_months`` (leave that at its default, 12).
    ``lots``: the lots held at the start, ``{amount, remaining, purchased}`` each (bought
    before the start, ``remaining`` of ``amount`` left); the opening balance is the sum of
    the remainders, and each expires by the lifetime rule from its purchase date. Instead
    of ``initial_funds``/``initial_purchased`` (a lot bought at the start is a lot with
    ``purchased`` = the start and nothing spent).
    ``postpaid_from``: the local date-time the tenant moves from credits to postpaid
    (telco pay-as-you-go, teams-credits.md §10.3): auto-recharge and purchases stop, the
    remaining credit is used first, then usage is invoiced monthly in arrears and calls
    are no longer refused for want of credit. Before the start: only the held lots'
    credit is used, then usage is invoiced.
    """

    mode: Literal["prepaid", "postpaid"] = "prepaid"
    initial_funds: Micros = Micros(0)
    initial_purchased: datetime | None = None
    expiry_months: int = 12
    portal_rules: bool = True
    at_zero: Literal["overshoot", "cut_off"] = "overshoot"
    refuse_at_zero: bool = True
    charge_at: Literal["end", "start"] = "end"
    low_balance: Micros | None = None
    lot_lifetime: Seconds | None = None
    lots: tuple[OpeningLot, ...] = ()
    postpaid_from: datetime | None = None

    def __post_init__(self) -> None:
        require(self.initial_funds >= 0, "initial_funds", "must be >= 0")
        require(
            self.postpaid_from is None or self.mode == "prepaid",
            "postpaid_from",
            "applies to prepaid credits only: it is the date a credits tenant moves to "
            "postpaid (a postpaid scenario has switched already; leave it out)",
        )
        require(0 <= self.expiry_months <= 120, "expiry_months", "must be between 0 and 120")
        if self.low_balance is not None:
            require(self.low_balance > 0, "low_balance", "must be > 0")
        require(
            self.refuse_at_zero or self.at_zero == "overshoot",
            "at_zero",
            "must be 'overshoot' when refuse_at_zero = false (calls run on credit)",
        )
        if self.lot_lifetime is not None:
            require(self.lot_lifetime > 0, "lot_lifetime", "must be > 0 (omit it: expiry_months)")
            require(
                self.expiry_months == 12,
                "lot_lifetime",
                f"cannot be combined with expiry_months = {self.expiry_months}: give one "
                "lifetime rule (leave expiry_months at its default, 12)",
            )
        if self.lots:
            require(
                self.initial_funds == 0 and self.initial_purchased is None,
                "lots",
                "cannot be combined with initial_funds or initial_purchased: the lots are "
                "what is held at the start (add a lot purchased at the start instead)",
            )
            require(
                self.mode == "prepaid",
                "lots",
                "must be empty in postpaid mode: NCE/MCA tenants hold no credits",
            )

    @property
    def opening_balance(self) -> Micros:
        """The balance at the start: the initial funds, or the lots' remainders."""
        return Micros(self.initial_funds + sum(lot.remaining for lot in self.lots))


@dataclass(frozen=True, slots=True)
class Sweep:
    """The ``[sweep]`` section: settings to vary and how to judge them.

    ``settings`` maps dotted paths to values: a range ``"start:stop:step"`` (both ends
    included when the step fits) or a comma-separated list. The scenario as written is the
    current setting, against which paired differences are taken (added to the grid and
    marked when it is not on it). ``max_outage`` is the target probability of an outage
    over the horizon. What a setting costs is the ``[costs]`` section's
    (``sim.scenario.costs``). ``warm_up`` is given to every setting whose scenario has none
    of its own, so lots expire inside the measured year as in steady state.

    ``ccsim recommend`` selects with a stated guarantee (``sim.experiments.selection``):
    with probability ``confidence`` it picks the cheapest setting whose outage
    probability is at most ``max_outage``, when that setting is at least ``indifference``
    (currency per year) cheaper than every other; settings within ``tolerance`` of the
    target may count either way (default: half the target). ``replications`` is the first
    stage of every setting, ``refine_replications`` the replications added at each later
    stage to the settings still undecided (0: automatic), ``max_replications`` the cap per
    setting (reaching it ends the procedure without the guarantee, and says so).
    """

    settings: dict[str, str] = field(default_factory=dict)
    replications: int = 40
    refine_replications: int = 0
    max_replications: int = 3000
    batch_size: int = 0
    max_outage: float = 0.01
    warm_up: Seconds = Seconds(365 * 86_400.0)
    indifference: Micros = Micros(10_000_000)
    tolerance: float | None = None
    annual_rate: float | None = None
    """Moved to ``costs.annual_rate``; refused here with a message saying so."""
    confidence: float = 0.95

    @property
    def feasibility_tolerance(self) -> float:
        """The tolerance on the outage target (default: half the target)."""
        return self.tolerance if self.tolerance is not None else self.max_outage / 2

    def __post_init__(self) -> None:
        require(self.replications >= 2, "replications", "must be >= 2")
        require(self.refine_replications >= 0, "refine_replications", "must be >= 0")
        require(self.max_replications >= 2, "max_replications", "must be >= 2")
        require(self.batch_size >= 0, "batch_size", "must be >= 0 (0: automatic)")
        require(0 < self.max_outage < 1, "max_outage", "must lie strictly between 0 and 1")
        require(self.indifference > 0, "indifference", "must be > 0 (currency per year)")
        if self.tolerance is not None:
            require(
                0 < self.tolerance <= self.max_outage,
                "tolerance",
                f"must lie in (0, max_outage = {self.max_outage:g}]",
            )
        days = self.warm_up / SECONDS_PER_DAY
        require(
            0 <= days <= MAX_WARM_UP_DAYS and days == int(days),
            "warm_up",
            f"must be a whole number of days from 0 to {MAX_WARM_UP_DAYS}, got {_days_text(days)}",
        )
        require(
            self.annual_rate is None,
            "annual_rate",
            "has moved to the [costs] section: set costs.annual_rate instead",
        )
        require(0.5 <= self.confidence < 1, "confidence", "must lie in [0.5, 1)")
        for path, text in self.settings.items():
            try:
                expand_values(text)
            except ValueError as exc:
                raise FieldError(f"settings.{path}", str(exc)) from None


def expand_values(text: str) -> list[str]:
    """Expand ``"50:500:50"`` (ends included) or ``"50,100,200"`` into value strings."""
    text = str(text).strip()
    if not text.isascii():  # Decimal() reads other scripts' digits
        raise ValueError(f"expected ASCII digits, got {text[:40]!r}")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f'expected "start:stop:step", got {text!r}')
        try:
            start, stop, step = (Decimal(p.strip()) for p in parts)
        except InvalidOperation:
            raise ValueError(f'expected numbers in "start:stop:step", got {text!r}') from None
        if step <= 0 or stop < start:
            raise ValueError(f"expected step > 0 and stop >= start, got {text!r}")
        n = int((stop - start) / step)
        if n > 10_000:
            raise ValueError(f"{text!r} gives more than 10,000 values")
        return [str(start + k * step) for k in range(n + 1)]
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ValueError(f"expected a range or a list of values, got {text!r}")
    return values


SCENARIO_RULES: dict[tuple[type, str], Rule] = {
    **RULES,
    (Simulation, "horizon"): Range(high=limits.MAX_DURATION_S, unit="duration"),
    (Simulation, "seed"): Range(0, limits.MAX_SEED),
    (Simulation, "replications"): Range(1, limits.MAX_REPLICATIONS),
    (Simulation, "currency"): Check(currency_error),
    (Simulation, "name"): Check(name_error),
    (Funding, "initial_funds"): MONEY,
    (Funding, "low_balance"): POSITIVE_MONEY,
    (Funding, "expiry_months"): Range(high=120),
    (Funding, "lot_lifetime"): Range(high=limits.MAX_DURATION_S, unit="duration"),
    (Sweep, "replications"): Range(high=limits.MAX_SWEEP_REPLICATIONS),
    (Sweep, "refine_replications"): Range(high=limits.MAX_SWEEP_REPLICATIONS),
    (Sweep, "max_replications"): Range(high=limits.MAX_SWEEP_REPLICATIONS),
    (Sweep, "batch_size"): Range(high=limits.MAX_SWEEP_REPLICATIONS),
    (Sweep, "indifference"): POSITIVE_MONEY,
}
"""Every field rule of a scenario (``sim.scenario.rules`` and this module's sections)."""

_DAYS_PER_MONTH = 365.25 / 12


def expected_calls_per_day(scenario: Scenario) -> float:
    """Return an upper estimate of the tenant's calls per day at the end of the run.

    Users times their outbound, inbound and meeting call rates, plus the service numbers'
    calls, grown by ``headcount_growth_per_month`` and ``usage_growth_per_month`` over
    the warm-up and the horizon (growth below zero counts as none).
    """
    t = scenario.traffic
    per_day = 0.0
    for g in scenario.user_groups:
        gt = t.groups.get(g.name)
        if gt is None:
            continue
        c, m = gt.calling, gt.meetings
        meeting_calls = m.per_organiser_week / 7 * (1 + m.dial_ins + m.dial_outs)
        per_day += g.count * (c.calls_per_user_day + c.inbound_per_user_day + meeting_calls)
    per_day += sum(s.calls_per_day for s in t.services.values())
    sim = scenario.simulation
    months = (sim.horizon + sim.warm_up) / SECONDS_PER_DAY / _DAYS_PER_MONTH
    growth = max(0.0, t.headcount_growth_per_month) + max(0.0, t.usage_growth_per_month)
    log_factor = months * math.log1p(growth)
    return math.inf if log_factor > 700 else per_day * math.exp(log_factor)


def _months_at(table: Any, key: str, path: str) -> int | None:
    """Return the calendar months of ``table[key]`` (``"1y"``, ``"18mo"``); None if fixed."""
    if not isinstance(table, Mapping) or key not in table:
        return None
    try:
        return parse_months(table[key])
    except UnitError as exc:
        raise ConfigError(path, str(exc)) from None


@functools.lru_cache(maxsize=64)
def _calendar(start: datetime, time_zone: str) -> Calendar:
    """Calendars are immutable: the runs of a sweep share one, and its cached midnights."""
    return Calendar.from_local(start, time_zone)


def calendar_spans(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return ``data`` with calendar horizons and warm-ups turned into fixed durations.

    ``simulation.horizon = "1y"`` (or ``"18mo"``, ``"1y6mo"``) ends at the same local
    wall-clock time that many calendar months after ``simulation.start``, in
    ``simulation.time_zone``; the day is clamped to the month's end (31 January + 1 month
    is 28 or 29 February). It becomes the seconds between the two instants, so a span
    across a daylight-saving change is an hour shorter or longer than whole days.
    ``simulation.warm_up`` and ``sweep.warm_up`` in calendar units become the whole days
    from that many months before the start's date to it (warm-ups are whole days).
    Fixed durations (``"365d"``) pass through unchanged; ``data`` is not modified.
    """
    if not isinstance(data, Mapping):
        return data  # build names the wrong type
    sim = data.get("simulation")
    sweep = data.get("sweep")
    horizon_m = _months_at(sim, "horizon", "simulation.horizon")
    warm_m = _months_at(sim, "warm_up", "simulation.warm_up")
    sweep_m = _months_at(sweep, "warm_up", "sweep.warm_up")
    if (horizon_m is None and warm_m is None and sweep_m is None) or not isinstance(sim, Mapping):
        return data
    if "start" not in sim:
        return data  # build names the missing key
    start = convert(datetime, sim["start"], "simulation.start")
    if start.tzinfo is not None:
        raise ConfigError("simulation.start", "give a local date-time without offset")
    zone = sim.get("time_zone", "UTC")
    if not isinstance(zone, str):
        return data  # build names the wrong type
    try:
        calendar = Calendar.from_local(start, zone)
    except UnitError as exc:
        raise ConfigError("simulation.time_zone", str(exc)) from None
    out = dict(data)
    new_sim = dict(sim)
    if horizon_m is not None:
        try:
            new_sim["horizon"] = calendar.add_months_s(0.0, horizon_m)
        except (ValueError, OverflowError):
            raise ConfigError(
                "simulation.horizon", f"{sim['horizon']!r} ends after the last allowed date"
            ) from None
    if warm_m is not None:
        new_sim["warm_up"] = float(days_before(start, warm_m) * SECONDS_PER_DAY)
    out["simulation"] = new_sim
    if sweep_m is not None and isinstance(sweep, Mapping):
        out["sweep"] = {**sweep, "warm_up": float(days_before(start, sweep_m) * SECONDS_PER_DAY)}
    return out


@dataclass(frozen=True, slots=True)
class Scenario:
    """A complete set of inputs for one simulation."""

    simulation: Simulation
    funding: Funding = field(default_factory=Funding)
    recharge: Recharge = field(default_factory=Recharge)
    payment: Payment = field(default_factory=Payment)
    admin: Admin = field(default_factory=Admin)
    postpaid: Postpaid = field(default_factory=Postpaid)
    user_groups: tuple[UserGroup, ...] = ()
    service_numbers: tuple[ServiceNumber, ...] = ()
    tariffs: TariffFiles | None = None
    traffic: Traffic = field(default_factory=Traffic)
    sweep: Sweep | None = None
    costs: Costs = field(default_factory=Costs)
    uncertainties: Uncertainties | None = None
    """Distributions over settings (``sim.scenario.uncertainties``): a run ignores them;
    robust studies and sensitivity analyses sample futures from them."""
    _warmed: tuple[Scenario, float] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """``with_warm_up``'s answer, kept: building it validates a scenario, and a sweep asks
    for it once per setting and replication."""

    def __post_init__(self) -> None:
        check_unique_names(self.user_groups, self.service_numbers)
        users = sum(g.count for g in self.user_groups)
        require(
            users <= limits.MAX_USERS,
            "user_groups",
            f"the groups have {users:,} users in all; at most {limits.MAX_USERS:,} are allowed",
        )
        groups = {g.name for g in self.user_groups}
        services = {s.name for s in self.service_numbers}
        for name in self.traffic.groups:
            require(
                name in groups,
                f"traffic.groups.{name}",
                f"no user group is named {name!r} (user groups: {', '.join(sorted(groups))})",
            )
        for name in self.traffic.services:
            require(
                name in services,
                f"traffic.services.{name}",
                f"no service number is named {name!r} "
                f"(service numbers: {', '.join(sorted(services))})",
            )
        needs_tariffs = (
            self.traffic.groups or self.traffic.services or self.user_groups or self.service_numbers
        )
        if needs_tariffs and self.tariffs is None:
            raise FieldError(
                "tariffs",
                "a scenario with user groups, service numbers or traffic needs rate tables "
                "([tariffs])",
            )
        funding = self.funding
        if funding.mode == "postpaid":
            require(
                self.recharge.policy == "none",
                "recharge.policy",
                "must be 'none' in postpaid mode: auto-recharge has to be off for NCE/MCA "
                "billing (teams-credits.md §6)",
            )
            require(
                funding.initial_funds == 0,
                "funding.initial_funds",
                "must be 0 in postpaid mode: NCE/MCA tenants cannot buy credits",
            )
            for i, g in enumerate(self.user_groups):
                require(
                    g.conferencing != "pay_per_minute",
                    f"user_groups[{i}].conferencing",
                    "'pay_per_minute' needs Communications Credits, which postpaid (NCE/MCA) "
                    "tenants cannot buy (teams-credits.md §10.4, §6): use 'standard' or "
                    "funding.mode = 'prepaid'",
                )
        if funding.postpaid_from is not None:
            for i, g in enumerate(self.user_groups):
                require(
                    g.conferencing != "pay_per_minute",
                    f"user_groups[{i}].conferencing",
                    "'pay_per_minute' needs Communications Credits, which end with the "
                    "switch to postpaid in funding.postpaid_from (teams-credits.md §10.4, "
                    "§10.3): use 'standard' or leave funding.postpaid_from out",
                )
        if funding.initial_purchased is not None:
            require(
                funding.initial_purchased <= self.simulation.start,
                "funding.initial_purchased",
                "must be at or before simulation.start",
            )
            require(
                self.simulation.warm_up == 0,
                "funding.initial_purchased",
                "cannot be used with simulation.warm_up (the warm-up buys its own lots; "
                "initial funds are bought at its start)",
            )
        self._check_lots_and_expiry_horizon()
        load = expected_calls_per_day(self)
        require(
            load <= limits.MAX_CALLS_PER_DAY,
            "traffic",
            f"the tenant would place about {load:,.0f} calls a day by the end of the run "
            f"(users x call rates, with growth); at most {limits.MAX_CALLS_PER_DAY:,} "
            "are allowed",
        )
        if funding.portal_rules:
            for path, amount in self._portal_amounts():
                require(
                    amount >= PORTAL_MINIMUM and is_whole_units(amount),
                    path,
                    f"{format_money(amount)} is refused by the admin portal, which accepts "
                    "only whole numbers of at least 50; set funding.portal_rules = false "
                    "to study other values",
                )
        if self.uncertainties is not None:
            # Paths, units and parameters; each setting's unit is filled in from its type.
            levers = tuple(self.sweep.settings) if self.sweep is not None else ()
            try:
                bound = self.uncertainties.bind(Scenario, levers)
            except FieldError as exc:
                raise FieldError(f"uncertainties.{exc.field}", exc.message) from None
            object.__setattr__(self, "uncertainties", bound)

    def _check_lots_and_expiry_horizon(self) -> None:
        """Cross-section rules of ``funding.lots`` and ``recharge.expiry_horizon``."""
        funding = self.funding
        if funding.lots:
            require(
                self.simulation.warm_up == 0,
                "funding.lots",
                "cannot be used with simulation.warm_up: the lots are what is held at "
                "simulation.start, and a warm-up would run before it",
            )
            cal = self.calendar
            start = self.simulation.start
            for i, lot in enumerate(funding.lots):
                path = f"funding.lots[{i}].purchased"
                bought = lot.purchased.isoformat(sep=" ", timespec="minutes")
                require(
                    lot.purchased <= start,
                    path,
                    f"{bought} is after simulation.start ({start.isoformat(sep=' ')}): lots "
                    "held at the start were bought before it",
                )
                bought_s = cal.to_sim(lot.purchased)
                if funding.lot_lifetime is not None:
                    expires_s = bought_s + funding.lot_lifetime
                elif funding.expiry_months > 0:
                    expires_s = cal.add_months_s(bought_s, funding.expiry_months)
                else:
                    continue
                expired = cal.to_datetime(expires_s).replace(tzinfo=None)
                require(
                    expires_s > 0,
                    path,
                    f"the lot bought {bought} expired on "
                    f"{expired.isoformat(sep=' ', timespec='minutes')}, at or before "
                    f"simulation.start ({start.isoformat(sep=' ')}): leave it out (its "
                    "remainder was forfeited before the start)",
                )
        horizon = self.recharge.expiry_horizon
        if horizon is None:
            return
        if funding.lot_lifetime is not None:
            lifetime_s = float(funding.lot_lifetime)
            rule = f"funding.lot_lifetime ({format_duration(funding.lot_lifetime)})"
        elif funding.expiry_months > 0:
            lifetime_s = funding.expiry_months * 28.0 * SECONDS_PER_DAY
            rule = (
                f"{funding.expiry_months} month(s) of funding.expiry_months (at least "
                f"{funding.expiry_months * 28} days)"
            )
        else:
            raise FieldError(
                "recharge.expiry_horizon",
                "lots never expire (funding.expiry_months = 0): leave expiry_horizon out",
            )
        require(
            horizon < lifetime_s,
            "recharge.expiry_horizon",
            f"must be shorter than the lifetime of a lot, {rule}: otherwise every lot "
            "would count as forfeited from its purchase on",
        )

    def _portal_amounts(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        r = self.recharge
        if r.has_trigger:  # a scheduled purchase without a safety net has no trigger
            out.append(("recharge.trigger", r.trigger))
        if r.policy in ("fixed", "multiples", "scheduled"):
            out.append(("recharge.amount", r.amount))
        if r.policy == "target":
            out.append(("recharge.target", r.target))
        if self.admin.top_up > 0:
            out.append(("admin.top_up", self.admin.top_up))
        if self.funding.initial_funds > 0:
            out.append(("funding.initial_funds", self.funding.initial_funds))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build and validate a scenario from parsed TOML; raise ``ConfigError``.

        With ``[uncertainties]``, the scenario is also built with each uncertain setting
        at its lowest, a typical and its highest value (``check_ends``), so that every
        sampled future is a valid scenario.
        """
        try:
            scenario = build(cls, calendar_spans(data), rules=SCENARIO_RULES)
        except ConfigError as exc:
            quoted = quote_setting_path(exc, data)
            if quoted is exc:
                raise
            raise quoted from None
        if scenario.uncertainties is not None:
            check_ends(scenario.uncertainties, data, cls.from_dict)
        return scenario

    @property
    def tenant(self) -> Tenant:
        """The tenant's licences: user groups and service numbers.

        One object per pair of tuples (a sweep's runs of a variant share it): building
        and checking it again for every policy run cost about 1.4 % of the run.
        """
        groups, services = self.user_groups, self.service_numbers
        key = (id(groups), id(services))
        hit = _TENANTS.get(key)
        if hit is not None and hit[0] is groups and hit[1] is services:
            return hit[2]
        tenant = Tenant(user_groups=groups, service_numbers=services)
        if len(_TENANTS) >= _TENANTS_KEPT:
            _TENANTS.pop(next(iter(_TENANTS), key), None)  # the oldest
        _TENANTS[key] = (groups, services, tenant)  # the tuples kept: their ids stay theirs
        return tenant

    @property
    def population(self) -> Population:
        """Who generates traffic, in the order of the scenario file."""
        return Population(
            group_names=tuple(g.name for g in self.user_groups),
            group_counts=tuple(g.count for g in self.user_groups),
            group_countries=tuple(g.usage_country for g in self.user_groups),
            service_names=tuple(s.name for s in self.service_numbers),
            service_countries=tuple(s.country for s in self.service_numbers),
            service_toll_free=tuple(s.number_type == "toll_free" for s in self.service_numbers),
        )

    @property
    def calendar(self) -> Calendar:
        """The local calendar of the scenario (one object per start and zone)."""
        return _calendar(self.simulation.start, self.simulation.time_zone)

    @property
    def horizon_s(self) -> float:
        """Simulated time span in seconds."""
        return float(self.simulation.horizon)

    def with_warm_up(self) -> tuple[Scenario, float]:
        """Return the scenario the engine runs and the instant its measured window starts.

        Without a warm-up: this scenario and 0. With one: the same scenario started
        ``warm_up`` days earlier (local dates) and run to the same end; the measured window
        starts at this scenario's own start (seconds into the longer run).
        """
        sim = self.simulation
        if sim.warm_up <= 0:
            return self, 0.0
        if self._warmed is None:
            object.__setattr__(self, "_warmed", self._build_warm_up())
        assert self._warmed is not None
        return self._warmed

    def _build_warm_up(self) -> tuple[Scenario, float]:
        sim = self.simulation
        start = sim.start - timedelta(days=round(sim.warm_up / SECONDS_PER_DAY))
        early = replace(self, simulation=replace(sim, start=start, warm_up=Seconds(0.0)))
        window_s = early.calendar.to_sim(sim.start)
        longer = replace(
            sim, start=start, warm_up=Seconds(0.0), horizon=Seconds(window_s + sim.horizon)
        )
        return replace(early, simulation=longer), window_s

    def initial_purchased_at_s(self) -> float:
        """Return the simulation time at which the initial funds were bought (<= 0)."""
        if self.funding.initial_purchased is None:
            return 0.0
        return self.calendar.to_sim(self.funding.initial_purchased)

    def postpaid_from_s(self) -> float | None:
        """Return the simulation time of the switch from credits to postpaid, or None."""
        if self.funding.postpaid_from is None:
            return None
        return self.calendar.to_sim(self.funding.postpaid_from)

    def describe(self) -> list[str]:
        """Return a short human-readable summary, one line per topic."""
        sim, f, r, p, a = self.simulation, self.funding, self.recharge, self.payment, self.admin
        cur = sim.currency
        warm = f" after a {format_duration(sim.warm_up)} warm-up" if sim.warm_up else ""
        lines = [
            f"start {sim.start.isoformat(sep=' ')} {sim.time_zone}, horizon "
            f"{format_duration(sim.horizon)}{warm}, seed {sim.seed}, "
            f"{sim.replications} replication(s)",
        ]
        users = sum(g.count for g in self.user_groups)
        if self.user_groups or self.service_numbers:
            groups = ", ".join(
                f"{g.name} ({g.count} x {g.plan}, {g.usage_country})" for g in self.user_groups
            )
            lines.append(
                f"tenant: {users} users in {len(self.user_groups)} group(s)"
                + (f": {groups}" if groups else "")
                + f"; {len(self.service_numbers)} service number(s)"
            )
        if f.mode == "postpaid":
            cap = "hard cap at included minutes" if self.postpaid.hard_cap else "overage billed"
            lines.append(f"funding: postpaid (NCE/MCA), invoiced monthly in arrears; {cap}")
            if self.uncertainties is not None:
                lines.append(self.uncertainties.describe())
            return lines
        expiry = f"{f.expiry_months} months" if f.expiry_months else "never"
        if f.lot_lifetime is not None:
            expiry = format_duration(f.lot_lifetime)
        held = (
            f"{len(f.lots)} lot(s) held, {format_money(f.opening_balance)} {cur}"
            if f.lots
            else f"initial {format_money(f.initial_funds)} {cur}"
        )
        lines.append(
            f"funding: prepaid, {held}, lots expire after {expiry}, at zero: {f.at_zero}, "
            f"charged at call {f.charge_at}"
        )
        if f.postpaid_from is not None:
            lines.append(
                f"switch to postpaid on {f.postpaid_from.isoformat(sep=' ')}: purchases stop, "
                "the credit left is used first, then usage is invoiced monthly (§10.3)"
            )
        if r.policy == "scheduled":
            lines.append(f"scheduled purchases: {format_money(r.amount)} {cur} every {r.interval}")
        if r.policy == "none" or not r.has_trigger:
            lines.append("auto-recharge: off")
        else:
            basis = "balance" if r.basis == "balance" else "balance + pending"
            what = {
                "fixed": f"buy {format_money(r.amount)} {cur}",
                "target": f"top up to {format_money(r.target)} {cur}",
                "multiples": f"buy multiples of {format_money(r.amount)} {cur}",
                "scheduled": f"buy {format_money(r.amount)} {cur} as a safety net",
            }[r.policy]
            when = (
                "after each debit"
                if r.check == "after_debit"
                else f"every {format_duration(r.poll_interval)}"
            )
            lines.append(
                f"auto-recharge: when {basis} {r.compare} {format_money(r.trigger)} {cur}, "
                f"{what}; checked {when}; at most {r.max_in_flight} in flight"
            )
        card = f", card valid through {p.card_expires}" if p.card_expires else ""
        lines.append(
            f"payments: {p.delay.kind} delay (mean {format_duration(p.delay.expected_s)}), "
            f"decline probability {p.decline_probability:g}{card}, {p.max_retries} retries, "
            f"auto-recharge off after {p.disable_after_declines or 'no'} consecutive declines"
        )
        if a.reacts:
            topup = f"top up {format_money(a.top_up)} {cur}" if a.top_up else "no top-up"
            lines.append(
                f"admin: reacts to {', '.join(a.responds_to)} after ~"
                f"{format_duration(round(a.response_delay.expected_s))}: "
                f"{'renews card, ' if a.fixes_card else ''}{topup}"
            )
        else:
            lines.append("admin: never reacts")
        c = self.costs
        lines.append(
            f"costs: card charge {format_money(c.card_charge)} {cur} + {c.card_charge_share:.2%}, "
            f"invoice {format_money(c.invoice)} {cur}, money tied up {c.annual_rate:.1%} a year, "
            f"{format_money(c.outage_hour)} {cur} per hour at zero"
        )
        if self.uncertainties is not None:
            lines.append(self.uncertainties.describe())
        return lines


__all__ = [
    "SCENARIO_RULES",
    "Funding",
    "Micros",
    "Scenario",
    "Simulation",
    "calendar_spans",
    "expected_calls_per_day",
]

"""Rating: a call plus the pool state → pool seconds, charge, funding source, or a refusal.

Two paths with identical results: ``rate_call`` rates one ``Call`` against a mutable
``PoolBook`` (readable, for tests), ``rate_batch`` rates a time-sorted ``CallBatch``
with numpy: rule, tariff and fixed outcome come from lookup tables built once per context
(and batch code tables), and pools are drawn by cumulative sums per (pool, calendar month).

Rules (teams-credits.md; each is a ``Rule`` member citing its section):

- Credits (or, in NCE/MCA postpaid mode, the monthly invoice) pay for exactly: toll-free
  minutes (inbound to toll-free conference and service numbers); dial-out beyond the
  pool or outside Zone A; calling-plan overage; international calls on a domestic plan;
  every outbound minute on PAYG; everything on pay-per-minute conferencing; UK
  shared-cost (premium) numbers.
- Free: inbound calls to regular numbers, toll dial-in on standard conferencing, calls
  covered by a pool, US/Canada dial-out with the unlimited add-on.

Modelling choices:

- Pools are drawn in order of call **start**: a call is rated against the pool state left
  by the calls that started before it (ties: batch order), and draws its whole demand at
  once. Pools count whole minutes (teams-credits.md §5: "the unit used is the minute"):
  a call's pool demand is its duration rounded up to ``pool_increment_s`` (default 60).
- A call that straddles the end of a pool is split: the pool covers ``pool_s`` seconds,
  the rest of the call (``duration_s - pool_s``, rounded up to the tariff's increment) is
  charged. Pools reset at each calendar month in the scenario's time zone.
- A call needs a positive balance at set-up (``needs_balance_check``, prepaid mode only)
  exactly when some part of it is charged from the start: the route is never covered by
  a pool, or its pool was already used up at set-up. A call the pool admits that then
  overruns it has the remainder charged without a balance check. Rating never looks at the
  balance: the engine refuses a call with ``needs_balance_check`` when the balance is not
  positive at ``start_s`` (see ``apply_balance_check``). Such calls draw nothing from any
  pool, so refusing them changes no other call's rating.
- When the remainder cannot be charged (no Communications Credits licence in prepaid
  mode, or the NCE/MCA hard cap), a call the pool admitted is cut off when the pool runs
  out (§2.3: "calls will be disconnected"), and a call charged from the start is refused.
- Every route that may be charged needs a tariff row, whether or not the pool covers the
  call this time, so a missing rate shows up deterministically. By default an unratable
  call raises ``UnratableCallError``; with ``on_unratable="block"`` it is refused with
  reason ``NO_TARIFF``. Never silently free.
- Pool alerts (80 % and 100 %, §3) are stamped at the instant the threshold minute is
  used, taking the crossing call to use its pool seconds from its start at one second per
  second.

Imports the pure core only; no SimPy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from sim.core.units import SECONDS_PER_MINUTE, Calendar, Micros
from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES, Call, CallBatch, CallType, NumberType
from sim.telephony.plans import (
    CALLING_PLANS,
    CONFERENCING,
    DIAL_OUT_ADDON_COUNTRIES,
    NANP_DOMESTIC,
    TENANT_SCOPE,
    Holder,
    LinkKey,
    PoolKey,
    Tenant,
    is_domestic,
    pool_country,
)
from sim.telephony.tariffs import (
    TABLE_NAMES,
    ZONE_A,
    TableName,
    Tariff,
    TariffBook,
    billable_seconds,
)

if TYPE_CHECKING:
    import pandas as pd

FundingMode = Literal["prepaid", "postpaid"]
ALERT_THRESHOLDS_PCT = (80, 100)
"""Pool alert thresholds (teams-credits.md §3, §5)."""


class Rule(IntEnum):
    """The rule that routes a call, each from a section of ``teams-credits.md``."""

    INBOUND_FREE = 0
    """§2.1: incoming minutes to regular numbers are unlimited on every plan."""
    TOLL_FREE_INBOUND = 1
    """§1 (1), §3: all toll-free minutes are charged per minute, positive balance needed."""
    CONF_TOLL_DIAL_IN_FREE = 2
    """§3: toll dial-in: the caller pays their own carrier."""
    CONF_PAY_PER_MINUTE = 3
    """§1: pay-per-minute conferencing charges every dial-in and dial-out."""
    DIAL_OUT_US_CA_ADDON = 4
    """§1: with the unlimited add-on, dial-out to US/CA draws neither pool nor credits."""
    DIAL_OUT_ZONE_A = 5
    """§3: dial-out to non-premium Zone A numbers draws the tenant pool, then credits."""
    DIAL_OUT_NOT_COVERED = 6
    """§3, §1 (2): dial-out outside Zone A (or to premium numbers) is charged throughout."""
    PREMIUM_SHARED_COST = 7
    """§2.2: UK shared-cost numbers are paid per minute from credits only."""
    PAYG_OUTBOUND = 8
    """§1 (5), §2.1: every outbound minute on a Pay-As-You-Go plan is charged."""
    DOMESTIC_PLAN = 9
    """§2.2, §2.3: domestic calls draw the plan's pool; §1 (4): overage is charged."""
    INTERNATIONAL_PLAN = 10
    """§2.2: international calls on Domestic & International draw its 600-minute pool."""
    INTERNATIONAL_ON_DOMESTIC = 11
    """§1 (older wording): any international call on a domestic plan is charged."""
    NO_CALLING_PLAN = 12
    """Outbound call by a holder without a calling plan: refused."""
    NO_CONFERENCING = 13
    """Meeting call organised by a holder without Audio Conferencing: refused."""


class Outcome(IntEnum):
    """How a call ended up funded."""

    FREE = 0
    """Nothing drawn, nothing charged."""
    POOL = 1
    """Covered entirely by a pool."""
    POOL_CHARGED = 2
    """Split: pool first, the rest charged (no set-up balance check)."""
    CHARGED = 3
    """Charged from set-up."""
    BLOCKED = 4
    """Refused at set-up (see ``Reason``)."""
    CUT_OFF = 5
    """Admitted by a pool and disconnected when it ran out (remainder not chargeable)."""


class Reason(IntEnum):
    """Why a call was refused or cut off."""

    NONE = 0
    NO_CREDITS_LICENCE = 1
    """§1: users without a Communications Credits licence cannot use credits."""
    HARD_CAP = 2
    """§6: NCE/MCA with overage off: calls beyond included minutes are refused."""
    NO_CALLING_PLAN = 3
    NO_CONFERENCING = 4
    NO_TARIFF = 5
    """No rate-table row prices the call (``on_unratable="block"``)."""
    INSUFFICIENT_BALANCE = 6
    """§1, §5: credit-funded calls need a positive balance at set-up (engine-applied)."""


class ChargeTo(IntEnum):
    """Who pays the charged amount."""

    NONE = 0
    CREDITS = 1
    INVOICE = 2


_FREE_RULES = frozenset({Rule.INBOUND_FREE, Rule.CONF_TOLL_DIAL_IN_FREE, Rule.DIAL_OUT_US_CA_ADDON})
_POOL_RULES = frozenset({Rule.DIAL_OUT_ZONE_A, Rule.DOMESTIC_PLAN, Rule.INTERNATIONAL_PLAN})
_BLOCK_RULES = {
    Rule.NO_CALLING_PLAN: Reason.NO_CALLING_PLAN,
    Rule.NO_CONFERENCING: Reason.NO_CONFERENCING,
}
_OUTBOUND_TABLE_RULES = frozenset(
    {
        Rule.PREMIUM_SHARED_COST,
        Rule.PAYG_OUTBOUND,
        Rule.DOMESTIC_PLAN,
        Rule.INTERNATIONAL_PLAN,
        Rule.INTERNATIONAL_ON_DOMESTIC,
    }
)
_PLAN_OUT_TYPES = frozenset(
    {
        CallType.USER_OUT,
        CallType.USER_OUT_CONF,
        CallType.USER_OUT_TRANSFER,
        CallType.USER_OUT_FORWARDING,
        CallType.UCAP_OUT,
    }
)
_SERVICE_TYPES = frozenset({CallType.UCAP_IN, CallType.UCAP_OUT})


class UnratableCallError(ValueError):
    """A chargeable call that no rate-table row prices."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call goes before pool state is known: its rule, rate table and pool."""

    rule: Rule
    table: TableName | None = None
    pool: PoolKey | None = None


class _RatingCache:
    """Lookup tables derived from one ``RatingContext``, built lazily, reused by batches.

    ``routes`` holds the ``_Routes`` per (groups, countries) code tables, ``pools`` the
    size and linked pair of each pool key met. All of it follows from the immutable
    context, so a cache pickles as an empty one (see ``__reduce__``).
    """

    __slots__ = ("pools", "routes")

    def __init__(self) -> None:
        self.routes: dict[tuple[tuple[str, ...], tuple[str, ...]], _Routes] = {}
        self.pools: dict[tuple[PoolKey, int], tuple[int, LinkKey | None]] = {}

    def __reduce__(self) -> tuple[type[_RatingCache], tuple[()]]:
        return (_RatingCache, ())


@dataclass(frozen=True, slots=True)
class RatingContext:
    """Everything rating needs besides the calls and the pool state.

    ``funding_mode``: ``prepaid`` charges go to Communications Credits; ``postpaid``
    (NCE/MCA, teams-credits.md §6) to the monthly invoice, or, with ``hard_cap``, calls
    needing a charge are refused. ``pool_increment_s`` must divide 60.
    """

    tenant: Tenant
    tariffs: TariffBook
    calendar: Calendar
    funding_mode: FundingMode = "prepaid"
    hard_cap: bool = False
    pool_increment_s: int = SECONDS_PER_MINUTE
    on_unratable: Literal["raise", "block"] = "raise"
    headcount_growth_per_month: float = 0.0
    """User groups' licences (and so the shared pools) grow by this share a month."""
    _cache: _RatingCache = field(
        default_factory=_RatingCache, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.funding_mode not in ("prepaid", "postpaid"):
            raise ValueError(
                f"funding_mode must be 'prepaid' or 'postpaid', got {self.funding_mode!r}"
            )
        if self.hard_cap and self.funding_mode != "postpaid":
            raise ValueError("hard_cap applies to postpaid (NCE/MCA) funding only")
        if not (0 < self.pool_increment_s <= 60 and 60 % self.pool_increment_s == 0):
            raise ValueError(f"pool_increment_s must divide 60, got {self.pool_increment_s}")
        if self.on_unratable not in ("raise", "block"):
            raise ValueError(f"on_unratable must be 'raise' or 'block', got {self.on_unratable!r}")

    @property
    def charge_to(self) -> ChargeTo:
        """Return who pays charged amounts in this funding mode."""
        return ChargeTo.CREDITS if self.funding_mode == "prepaid" else ChargeTo.INVOICE

    def charge_refusal(self, holder: Holder) -> Reason:
        """Return why ``holder`` cannot be charged, or ``Reason.NONE`` when it can."""
        if self.funding_mode == "postpaid":
            return Reason.HARD_CAP if self.hard_cap else Reason.NONE
        # §1: each user must also hold a Communications Credits licence to draw on credits.
        return Reason.NONE if holder.credits_licence else Reason.NO_CREDITS_LICENCE


@dataclass(frozen=True, slots=True)
class Rating:
    """The rating of one call.

    ``pool_s`` seconds came from ``pool``; ``charged_s`` billable seconds cost ``amount``,
    paid by ``charged_to``; ``served_s`` is how long the call actually ran (0 if refused,
    ``pool_s`` if cut off). ``pool`` is the pool consulted, even if it had nothing left.
    """

    call_id: int
    rule: Rule
    outcome: Outcome
    reason: Reason = Reason.NONE
    pool: PoolKey | None = None
    pool_s: int = 0
    charged_s: int = 0
    amount: Micros = Micros(0)
    charged_to: ChargeTo = ChargeTo.NONE
    needs_balance_check: bool = False
    served_s: float = 0.0
    tariff: Tariff | None = None

    @property
    def billed_s(self) -> int:
        """Return the seconds billed to any source: pool plus charged."""
        return self.pool_s + self.charged_s

    @property
    def funding(self) -> str:
        """Return a short description of the funding source, e.g. ``pool+credits``."""
        parts = []
        if self.pool_s:
            parts.append("pool")
        if self.charged_s or self.amount:
            parts.append(self.charged_to.name.lower())
        if self.outcome in (Outcome.BLOCKED, Outcome.CUT_OFF):
            parts.append(f"{self.outcome.name.lower()}:{self.reason.name.lower()}")
        return "+".join(parts) or "free"


def apply_balance_check(rating: Rating, balance_positive: bool) -> Rating:
    """Refuse a call that needs a positive balance at set-up when there is none.

    The engine calls this (or does the same) with the balance at ``start_s``. The refused
    call drew nothing from any pool, so no other rating changes.
    """
    if not rating.needs_balance_check or balance_positive:
        return rating
    return Rating(
        call_id=rating.call_id,
        rule=rating.rule,
        outcome=Outcome.BLOCKED,
        reason=Reason.INSUFFICIENT_BALANCE,
        pool=rating.pool,
        tariff=rating.tariff,
    )


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
    last call rated, so that batches stay in time order.
    """

    month_start_s: float | None = None
    used_s: Mapping[PoolKey, int] = field(default_factory=dict)
    closed: frozenset[LinkKey] = frozenset()
    last_start_s: float = -math.inf


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
        )


def _check_holder(call_type: CallType, holder: Holder, usage_country: str, call_id: int) -> None:
    if (call_type in _SERVICE_TYPES) != holder.is_service:
        what = "service number" if holder.is_service else "user group"
        raise ValueError(
            f"call {call_id}: call type {call_type.value} cannot belong to {what} {holder.name!r}"
        )
    if usage_country != holder.usage_country:
        raise ValueError(
            f"call {call_id}: usage_country {usage_country} differs from "
            f"{holder.name!r}'s {holder.usage_country}"
        )


def route_call(call: Call, holder: Holder) -> Route:
    """Return the rule, rate table and pool of a call (rule order matches ``rate_batch``).

    ``number_type`` is that of the called number: the tenant's own number for inbound
    calls. Inbound premium numbers are treated as toll numbers.
    """
    ct, nt = call.call_type, call.number_type
    plan, conf = holder.plan, holder.conferencing
    if ct in (CallType.USER_IN, CallType.UCAP_IN):
        if nt is NumberType.TOLL_FREE:
            # §1 (1): all toll-free number usage, auto attendants and call queues included.
            return Route(Rule.TOLL_FREE_INBOUND, "toll_free")
        # §2.1: incoming minutes are unlimited on every plan, PAYG included.
        return Route(Rule.INBOUND_FREE)
    if ct is CallType.CONF_IN:
        if not conf.licensed:
            return Route(Rule.NO_CONFERENCING)
        if conf.metered:
            # §1 pay-per-minute: toll and toll-free dial-in are both charged.
            table: TableName = "toll_free" if nt is NumberType.TOLL_FREE else "dial_in"
            return Route(Rule.CONF_PAY_PER_MINUTE, table)
        if nt is NumberType.TOLL_FREE:
            # §1 (1), §3: toll-free dial-in is charged per minute.
            return Route(Rule.TOLL_FREE_INBOUND, "toll_free")
        # §3: toll dial-in costs the tenant nothing; the caller pays their carrier.
        return Route(Rule.CONF_TOLL_DIAL_IN_FREE)
    if ct is CallType.CONF_OUT:
        if not conf.licensed:
            return Route(Rule.NO_CONFERENCING)
        if conf.metered:
            # §1 pay-per-minute: every dial-out charged; §3: no 60-minute pool.
            return Route(Rule.CONF_PAY_PER_MINUTE, "dial_out")
        if nt is NumberType.PREMIUM:
            # §3: the pool covers non-premium numbers only.
            return Route(Rule.DIAL_OUT_NOT_COVERED, "dial_out")
        if holder.dial_out_us_ca_unlimited and call.dest_country in DIAL_OUT_ADDON_COUNTRIES:
            # §1: the add-on draws neither the Zone A pool nor credits (fair use not modelled).
            return Route(Rule.DIAL_OUT_US_CA_ADDON)
        if call.dest_country in ZONE_A:
            # §3: Zone A dial-out draws the tenant pool, then credits.
            return Route(Rule.DIAL_OUT_ZONE_A, "dial_out", PoolKey(TENANT_SCOPE, conf.allowance()))
        # §3, §1 (2): outside Zone A every dial-out minute is charged.
        return Route(Rule.DIAL_OUT_NOT_COVERED, "dial_out")
    # Outbound calls (user_out*, ucap_out) rated against the holder's calling plan.
    if not plan.outbound:
        return Route(Rule.NO_CALLING_PLAN)
    if nt is NumberType.PREMIUM:
        # §2.2: UK shared-cost numbers only by paying per minute from credits.
        return Route(Rule.PREMIUM_SHARED_COST, "outbound")
    if plan.metered:
        # §1 (5), §2.1: PAYG includes no outbound minutes.
        return Route(Rule.PAYG_OUTBOUND, "outbound")
    # §2.2: US and PR share one pool; §2.3: the pool follows the licence usage location.
    scope = pool_country(call.usage_country)
    if is_domestic(call.usage_country, call.dest_country):
        # §2.3: pooled per country and identical plan, except MCOPSTN8 (per user).
        member = -1 if plan.pooled else call.subscriber_id
        return Route(
            Rule.DOMESTIC_PLAN, "outbound", PoolKey(scope, plan.domestic_allowance(), member)
        )
    if plan.international_min:
        # §2.2: Domestic & International: the 600 international minutes, then overage.
        return Route(
            Rule.INTERNATIONAL_PLAN, "outbound", PoolKey(scope, plan.international_allowance())
        )
    # §1 (older wording): any international number on a Domestic Calling Plan.
    return Route(Rule.INTERNATIONAL_ON_DOMESTIC, "outbound")


def rate_call(call: Call, ctx: RatingContext, book: PoolBook) -> Rating:
    """Rate one call against ``book`` and draw its pool seconds from it.

    Calls must come in start order. The result does not depend on the balance; apply
    ``apply_balance_check`` when ``needs_balance_check`` is set.
    """
    holder = ctx.tenant.holder(call.group)
    _check_holder(call.call_type, holder, call.usage_country, call.call_id)
    book.roll(call.start_s)
    route = route_call(call, holder)
    rule = route.rule
    if rule in _BLOCK_RULES:
        return Rating(call.call_id, rule, Outcome.BLOCKED, _BLOCK_RULES[rule])
    if rule in _FREE_RULES:
        return Rating(call.call_id, rule, Outcome.FREE, served_s=call.duration_s)
    assert route.table is not None
    tariff = ctx.tariffs.table(route.table).find(call.dest_country, call.number_type)
    if tariff is None:
        if ctx.on_unratable == "raise":
            raise UnratableCallError(
                f"call {call.call_id}: no row of the {route.table!r} rate table prices "
                f"{call.dest_country} {call.number_type.value} (rule {rule.name}); "
                "add the country, a zone or a 'default' row"
            )
        return Rating(call.call_id, rule, Outcome.BLOCKED, Reason.NO_TARIFF)
    refusal = ctx.charge_refusal(holder)

    def rated(outcome: Outcome, **fields: Any) -> Rating:
        return Rating(call.call_id, rule, outcome, pool=route.pool, tariff=tariff, **fields)

    if route.pool is not None:
        demand = billable_seconds(call.duration_s, ctx.pool_increment_s)
        if book.available_s(route.pool) > 0:
            pool_s = book.draw(route.pool, demand, call.start_s)
            if pool_s >= demand:
                return rated(Outcome.POOL, pool_s=pool_s, served_s=call.duration_s)
            if refusal is not Reason.NONE:
                # Nothing can pay the remainder: disconnected when the pool runs out (§2.3).
                return rated(Outcome.CUT_OFF, reason=refusal, pool_s=pool_s, served_s=float(pool_s))
            # The pool admitted the call: its overrun is charged without a set-up check.
            charged_s = tariff.billable_seconds(call.duration_s, covered_s=pool_s)
            return rated(
                Outcome.POOL_CHARGED,
                pool_s=pool_s,
                charged_s=charged_s,
                amount=tariff.charge(charged_s),
                charged_to=ctx.charge_to,
                served_s=call.duration_s,
            )
    # Charged from set-up: the route has no pool, or its pool was used up before the call.
    if refusal is not Reason.NONE:
        return rated(Outcome.BLOCKED, reason=refusal)
    charged_s = tariff.billable_seconds(call.duration_s)
    return rated(
        Outcome.CHARGED,
        charged_s=charged_s,
        amount=tariff.charge(charged_s),
        charged_to=ctx.charge_to,
        needs_balance_check=ctx.funding_mode == "prepaid",
        served_s=call.duration_s,
    )


@dataclass(frozen=True, slots=True, eq=False)
class RatedBatch:
    """Ratings of a ``CallBatch``, one row per call in batch order (see ``Rating``).

    ``rule``, ``outcome`` and ``reason`` hold ``Rule``, ``Outcome`` and ``Reason`` values;
    ``pool`` codes into ``pool_keys`` and ``tariff_row`` into ``tariff_rows`` (-1: none).
    ``rate_per_min``, ``connection_fee`` and ``increment_s`` repeat each call's tariff
    (0 when none) so the engine can re-price a call it cuts short. ``state`` is the pool
    state after the batch, to pass to the next one.
    """

    call_id: NDArray[np.int64]
    rule: NDArray[np.int8]
    outcome: NDArray[np.int8]
    reason: NDArray[np.int8]
    pool: NDArray[np.int32]
    pool_s: NDArray[np.int64]
    charged_s: NDArray[np.int64]
    amount: NDArray[np.int64]
    needs_balance_check: NDArray[np.bool_]
    served_s: NDArray[np.float64]
    tariff_row: NDArray[np.int64]
    rate_per_min: NDArray[np.int64]
    connection_fee: NDArray[np.int64]
    increment_s: NDArray[np.int64]
    pool_keys: tuple[PoolKey, ...]
    tariff_rows: tuple[Tariff, ...]
    charged_to: ChargeTo
    alerts: tuple[PoolAlert, ...]
    state: PoolState

    def __len__(self) -> int:
        return len(self.call_id)

    @property
    def total_amount(self) -> Micros:
        """Return the sum of all charged amounts (before any balance check)."""
        return Micros(int(self.amount.sum()))

    def rating(self, i: int) -> Rating:
        """Return row ``i`` as a scalar ``Rating``."""
        pool, row = int(self.pool[i]), int(self.tariff_row[i])
        outcome = Outcome(int(self.outcome[i]))
        charged = outcome in (Outcome.CHARGED, Outcome.POOL_CHARGED)
        return Rating(
            call_id=int(self.call_id[i]),
            rule=Rule(int(self.rule[i])),
            outcome=outcome,
            reason=Reason(int(self.reason[i])),
            pool=self.pool_keys[pool] if pool >= 0 else None,
            pool_s=int(self.pool_s[i]),
            charged_s=int(self.charged_s[i]),
            amount=Micros(int(self.amount[i])),
            charged_to=self.charged_to if charged else ChargeTo.NONE,
            needs_balance_check=bool(self.needs_balance_check[i]),
            served_s=float(self.served_s[i]),
            tariff=self.tariff_rows[row] if row >= 0 else None,
        )

    def to_frame(self) -> pd.DataFrame:
        """Return one row per call with readable rule, outcome, reason and pool labels."""
        import pandas as pd

        def names(values: NDArray[np.int8], enum: type[IntEnum]) -> pd.Categorical[str]:
            return pd.Categorical.from_codes(
                values.astype(np.int64), pd.Index([m.name.lower() for m in enum])
            )

        labels = np.array([k.label for k in self.pool_keys] + [""], dtype=object)
        return pd.DataFrame(
            {
                "call_id": self.call_id,
                "rule": names(self.rule, Rule),
                "outcome": names(self.outcome, Outcome),
                "reason": names(self.reason, Reason),
                "pool": labels[self.pool],
                "pool_s": self.pool_s,
                "charged_s": self.charged_s,
                "amount": self.amount,
                "needs_balance_check": self.needs_balance_check,
                "served_s": self.served_s,
            }
        )


# --- Vectorised path ---------------------------------------------------------------------
#
# Everything about a call except the pool state is a function of its *cell*: the
# (holder, call type, number type, destination) combination of the batch's code tables
# (the holder fixes the usage country). ``_build_routes`` rates every cell once per
# context and code tables with the rules of ``route_call``; ``rate_batch`` then looks the
# calls' cells up, and only calls whose route draws a pool go through ``_draw_pools``.

_CT = {t: i for i, t in enumerate(CALL_TYPES)}
_NT = {t: i for i, t in enumerate(NUMBER_TYPES)}
_PLAN_NAMES = tuple(CALLING_PLANS)
_CONF_NAMES = tuple(CONFERENCING)
_NO_CLOSE = np.iinfo(np.int64).max
_MAX_CACHED_ROUTES = 16
"""Code-table pairs whose ``_Routes`` a context keeps (a traffic model uses one)."""

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def _codes(rules: frozenset[Rule] | Mapping[Rule, Reason]) -> list[int]:
    return [int(r) for r in rules]


def _ceil_to(x: NDArray[np.float64], step: IntArray | int, covered: IntArray | int = 0) -> IntArray:
    """Round ``x - covered`` up to multiples of ``step``, as ``tariffs.billable_seconds``."""
    k = np.subtract(x, covered)
    k /= step
    np.ceil(k, out=k)
    reached = k * step
    reached += covered
    k += reached < x
    out = k.astype(np.int64)
    out *= step
    return out


def _month_starts(cal: Calendar, first_s: float, last_s: float) -> NDArray[np.float64]:
    starts = [cal.month_start_s(first_s)]
    while (nxt := cal.next_month_start_s(starts[-1])) <= last_s:
        starts.append(nxt)
    return np.array(starts, dtype=np.float64)


def _stable_order(keys: NDArray[np.integer[Any]]) -> IntArray:
    """Return the stable argsort of non-negative ``keys``.

    Keys below 2**15 are sorted as int16, which numpy radix-sorts in linear time.
    """
    if len(keys) and int(keys.max()) < 2**15:
        return np.argsort(keys.astype(np.int16), kind="stable")
    return np.argsort(keys, kind="stable")


@dataclass(frozen=True, slots=True, eq=False)
class _Routes:
    """Rule, tariff, static outcome and pool of every cell of a batch's code tables.

    Cell ``((group * n_call_types + call_type) * n_number_types + number_type) *
    n_countries + dest_country`` (see ``cells``). ``outcome`` and ``reason`` are final
    for cells that draw no pool; for pooled cells they hold the outcome of a call the
    pool no longer admits (charged, or blocked from set-up). A table has groups x 27 x
    countries cells: a few thousand for a typical tenant.
    """

    n_countries: int
    holder_country: NDArray[np.int16]
    """Per group: code of the holder's usage country; -1 when not in the code table."""
    refusal: NDArray[np.int8]
    """Per group: ``Reason`` the holder cannot be charged (``Reason.NONE`` if it can)."""
    rule: NDArray[np.int8]
    """The cell's ``Rule``; -1 when the call type does not fit the holder's kind."""
    outcome: NDArray[np.int8]
    reason: NDArray[np.int8]
    unratable: BoolArray | None
    """Chargeable cells that no tariff row prices; None when there are none."""
    tariff_row: IntArray
    """Global row into ``tariff_rows`` of priced cells; -1 otherwise."""
    pool_class: NDArray[np.int32]
    """Code into ``pool_classes`` of priced cells whose route draws a pool; -1 otherwise."""
    per_user: BoolArray | None
    """Pooled cells drawing a per-subscriber pool (MCOPSTN8); None when there are none."""
    pool_classes: tuple[PoolKey, ...]
    """Pools without member, sorted by (allowance, scope) like the batch's ``pool_keys``."""
    tariff_rows: tuple[Tariff, ...]
    row_rate: IntArray
    row_fee: IntArray
    row_increment: IntArray
    """Rate, fee and increment per global tariff row, plus a trailing 0 that row -1 picks."""

    def cells(self, batch: CallBatch) -> IntArray:
        """Return the cell of every call of ``batch`` (built for its code tables)."""
        # int32 arithmetic is cheaper; 2**31 cells would not fit in memory anyway.
        cell = batch.group.astype(np.int32)
        cell *= len(CALL_TYPES)
        cell += batch.call_type
        cell *= len(NUMBER_TYPES)
        cell += batch.number_type
        cell *= self.n_countries
        cell += batch.dest_country
        return cell.astype(np.intp)


def _routes(ctx: RatingContext, batch: CallBatch) -> _Routes:
    """Return the cell tables for the code tables of ``batch``, cached on ``ctx``."""
    cache = ctx._cache.routes
    key = (batch.groups, batch.countries)
    routes = cache.get(key)
    if routes is None:
        if len(cache) >= _MAX_CACHED_ROUTES:
            cache.clear()
        routes = cache[key] = _build_routes(ctx, *key)
    return routes


def _pool_info(ctx: RatingContext, key: PoolKey, month_index: int) -> tuple[int, LinkKey | None]:
    """Return a pool's size in seconds in a month and its linked pair, cached on ``ctx``.

    ``month_index`` counts local months from the start's (it matters only with head-count
    growth).
    """
    growth = ctx.headcount_growth_per_month
    month = month_index if growth else 0
    info = ctx._cache.pools.get((key, month))
    if info is None:
        size = ctx.tenant.pool_size_s(key, month, growth)
        info = ctx._cache.pools[(key, month)] = (size, ctx.tenant.link_of(key))
    return info


def _pool_class(holder: Holder, rule: Rule) -> PoolKey:
    """Return the pool a pooled rule draws for ``holder``, member -1 (see ``route_call``)."""
    if rule is Rule.DIAL_OUT_ZONE_A:
        return PoolKey(TENANT_SCOPE, holder.conferencing.allowance())
    scope = pool_country(holder.usage_country)
    if rule is Rule.DOMESTIC_PLAN:
        return PoolKey(scope, holder.plan.domestic_allowance())
    return PoolKey(scope, holder.plan.international_allowance())


def _build_routes(
    ctx: RatingContext, groups: tuple[str, ...], countries: tuple[str, ...]
) -> _Routes:
    """Rate every cell of the code tables ``groups`` and ``countries`` (see ``_Routes``)."""
    holders = [ctx.tenant.holder(name) for name in groups]
    country_index = {c: i for i, c in enumerate(countries)}
    shape = (len(groups), len(CALL_TYPES), len(NUMBER_TYPES), len(countries))
    g, ct, nt, dc = (axis.ravel() for axis in np.indices(shape, dtype=np.int64))
    holder_country = np.array([country_index.get(x.usage_country, -1) for x in holders], np.int16)
    refusal = np.array([ctx.charge_refusal(x) for x in holders], dtype=np.int8)
    plan = np.array([_PLAN_NAMES.index(x.plan.name) for x in holders], np.int64)[g]
    conf = np.array([_CONF_NAMES.index(x.conferencing.name) for x in holders], np.int64)[g]
    addon = np.array([x.dial_out_us_ca_unlimited for x in holders], dtype=bool)[g]
    service = np.array([x.is_service for x in holders], dtype=bool)[g]
    # A holder whose usage country is not in the table has no valid cells: its calls
    # fail the usage-country check before any lookup, so its -1 code does no harm here.
    uc = holder_country.astype(np.int64)[g]
    rule = _rule_cells(ct, nt, uc, dc, plan, conf, addon, countries)
    rule[np.isin(ct, [_CT[t] for t in _SERVICE_TYPES]) != service] = -1

    # The rate table of each chargeable route, as in ``route_call``.
    code = {name: i for i, name in enumerate(TABLE_NAMES)}
    is_tf = nt == _NT[NumberType.TOLL_FREE]
    ppm = rule == Rule.CONF_PAY_PER_MINUTE
    table = np.full(len(rule), -1, dtype=np.int64)
    table[rule == Rule.TOLL_FREE_INBOUND] = code["toll_free"]
    table[np.isin(rule, _codes(_OUTBOUND_TABLE_RULES))] = code["outbound"]
    table[np.isin(rule, [int(Rule.DIAL_OUT_ZONE_A), int(Rule.DIAL_OUT_NOT_COVERED)])] = code[
        "dial_out"
    ]
    table[ppm & (ct == _CT[CallType.CONF_OUT])] = code["dial_out"]
    table[ppm & (ct == _CT[CallType.CONF_IN]) & is_tf] = code["toll_free"]
    table[ppm & (ct == _CT[CallType.CONF_IN]) & ~is_tf] = code["dial_in"]
    tables = ctx.tariffs.tables()
    rows = tuple(r for t in tables for r in t.rows)
    offsets = np.cumsum([0] + [len(t.rows) for t in tables])
    needed = table >= 0
    row = np.full(len(rule), -1, dtype=np.int64)
    if needed.any():
        grid = np.stack([t.lookup_grid(countries) for t in tables]).astype(np.int64)
        tb = table[needed]
        local = grid[tb, dc[needed], nt[needed]]
        row[needed] = np.where(local >= 0, offsets[tb] + local, -1)
    unratable = needed & (row < 0)
    priced = needed & ~unratable

    # Outcome and reason without a pool (pooled cells: once the pool is used up).
    cell_refusal = refusal[g]
    can_charge = cell_refusal == Reason.NONE
    outcome = np.full(len(rule), Outcome.FREE, dtype=np.int8)
    outcome[priced & can_charge] = Outcome.CHARGED
    outcome[priced & ~can_charge] = Outcome.BLOCKED
    reason = np.where(priced & ~can_charge, cell_refusal, np.int8(Reason.NONE)).astype(np.int8)
    for block_rule, block_reason in _BLOCK_RULES.items():
        hit = rule == block_rule
        outcome[hit] = Outcome.BLOCKED
        reason[hit] = block_reason
    outcome[unratable] = Outcome.BLOCKED
    reason[unratable] = Reason.NO_TARIFF

    # Pools: one class per (holder, pooled rule), numbered in (allowance, scope) order.
    pooled = np.isin(rule, _codes(_POOL_RULES)) & priced
    n_rules = len(Rule)
    pairs = np.unique(g[pooled] * n_rules + rule[pooled]).tolist()
    bases = {p: _pool_class(holders[p // n_rules], Rule(p % n_rules)) for p in pairs}
    pool_classes = tuple(sorted(set(bases.values()), key=lambda k: (k.allowance, k.scope)))
    class_of = np.full(len(groups) * n_rules, -1, dtype=np.int32)
    for p, base in bases.items():
        class_of[p] = pool_classes.index(base)
    pool_class = np.full(len(rule), -1, dtype=np.int32)
    pool_class[pooled] = class_of[g[pooled] * n_rules + rule[pooled]]
    plan_pooled = np.array([CALLING_PLANS[p].pooled for p in _PLAN_NAMES])[plan]
    per_user = pooled & (rule == Rule.DOMESTIC_PLAN) & ~plan_pooled

    return _Routes(
        n_countries=len(countries),
        holder_country=holder_country,
        refusal=refusal,
        rule=rule,
        outcome=outcome,
        reason=reason,
        unratable=unratable if unratable.any() else None,
        tariff_row=row,
        pool_class=pool_class,
        per_user=per_user if per_user.any() else None,
        pool_classes=pool_classes,
        tariff_rows=rows,
        # A trailing zero row prices "no tariff" as 0, so the arrays index without masks.
        row_rate=np.array([r.rate_per_min for r in rows] + [0], dtype=np.int64),
        row_fee=np.array([r.connection_fee for r in rows] + [0], dtype=np.int64),
        row_increment=np.array([r.increment_s for r in rows] + [0], dtype=np.int64),
    )


def _rule_cells(
    ct: IntArray,
    nt: IntArray,
    uc: IntArray,
    dc: IntArray,
    plan: IntArray,
    conf: IntArray,
    addon: BoolArray,
    countries: tuple[str, ...],
) -> NDArray[np.int8]:
    """Return each cell's ``Rule``, with the conditions in ``route_call``'s order."""
    plans = [CALLING_PLANS[p] for p in _PLAN_NAMES]
    confs = [CONFERENCING[c] for c in _CONF_NAMES]
    p_outbound = np.array([p.outbound for p in plans])[plan]
    p_metered = np.array([p.metered for p in plans])[plan]
    p_intl = np.array([p.international_min > 0 for p in plans])[plan]
    no_conf = ~np.array([c.licensed for c in confs])[conf]
    ppm = np.array([c.metered for c in confs])[conf]
    c_nanp = np.array([c in NANP_DOMESTIC for c in countries], dtype=bool)
    zone_a = np.array([c in ZONE_A for c in countries], dtype=bool)[dc]
    addon_dest = np.array([c in DIAL_OUT_ADDON_COUNTRIES for c in countries], dtype=bool)[dc]
    is_tf = nt == _NT[NumberType.TOLL_FREE]
    is_prem = nt == _NT[NumberType.PREMIUM]
    inbound = (ct == _CT[CallType.USER_IN]) | (ct == _CT[CallType.UCAP_IN])
    conf_in = ct == _CT[CallType.CONF_IN]
    conf_out = ct == _CT[CallType.CONF_OUT]
    out = np.isin(ct, [_CT[t] for t in _PLAN_OUT_TYPES])
    domestic = (uc == dc) | (c_nanp[uc] & c_nanp[dc])
    table = [
        (inbound & is_tf, Rule.TOLL_FREE_INBOUND),
        (inbound, Rule.INBOUND_FREE),
        (conf_in & no_conf, Rule.NO_CONFERENCING),
        (conf_in & ppm, Rule.CONF_PAY_PER_MINUTE),
        (conf_in & is_tf, Rule.TOLL_FREE_INBOUND),
        (conf_in, Rule.CONF_TOLL_DIAL_IN_FREE),
        (conf_out & no_conf, Rule.NO_CONFERENCING),
        (conf_out & ppm, Rule.CONF_PAY_PER_MINUTE),
        (conf_out & is_prem, Rule.DIAL_OUT_NOT_COVERED),
        (conf_out & addon & addon_dest, Rule.DIAL_OUT_US_CA_ADDON),
        (conf_out & zone_a, Rule.DIAL_OUT_ZONE_A),
        (conf_out, Rule.DIAL_OUT_NOT_COVERED),
        (out & ~p_outbound, Rule.NO_CALLING_PLAN),
        (out & is_prem, Rule.PREMIUM_SHARED_COST),
        (out & p_metered, Rule.PAYG_OUTBOUND),
        (out & domestic, Rule.DOMESTIC_PLAN),
        (out & p_intl, Rule.INTERNATIONAL_PLAN),
        (out, Rule.INTERNATIONAL_ON_DOMESTIC),
    ]
    rule = np.select([c for c, _ in table], [np.int8(r) for _, r in table], np.int8(-1))
    return rule.astype(np.int8)


def _check_holders(
    batch: CallBatch, routes: _Routes, rule: NDArray[np.int8], ctx: RatingContext
) -> None:
    """Raise ValueError (see ``_check_holder``) at the first call not fitting its holder."""
    bad = (rule < 0) | (routes.holder_country.take(batch.group) != batch.usage_country)
    if bad.any():
        call = batch.call(int(np.argmax(bad)))
        _check_holder(
            call.call_type, ctx.tenant.holder(call.group), call.usage_country, call.call_id
        )


@dataclass(frozen=True, slots=True)
class _Draws:
    """Pool drawdown of a batch.

    ``pool`` and ``pool_s`` have a row per call. ``pos`` lists the positions of the
    pooled calls in draw order (by pool and month, then call order); ``avail_s`` (the
    seconds left in the call's pool at its set-up), ``demand_s`` and ``drawn_s`` follow it.
    """

    pool: NDArray[np.int32]
    pool_s: IntArray
    pos: IntArray
    avail_s: IntArray
    demand_s: IntArray
    drawn_s: IntArray
    keys: tuple[PoolKey, ...]
    alerts: tuple[PoolAlert, ...]
    state: PoolState


def _pool_identities(
    batch: CallBatch, pidx: IntArray, pool_class: NDArray[np.int32], cell: IntArray, routes: _Routes
) -> tuple[tuple[PoolKey, ...], NDArray[np.integer[Any]]]:
    """Return the pools the calls at ``pidx`` draw, sorted, and each call's code into them.

    Keys sort by (allowance, scope, member): by class, then member (-1: shared).
    """
    if routes.per_user is not None:
        per_user = routes.per_user[cell[pidx]]
        if per_user.any():
            member = np.where(per_user, batch.subscriber_id[pidx], -1)
            members, m_code = np.unique(member, return_inverse=True)
            n_members = len(members)
            ident = pool_class.astype(np.int64) * n_members + m_code
            id_uniq, id_code = np.unique(ident, return_inverse=True)
            keys = tuple(
                PoolKey(base.scope, base.allowance, int(members[u % n_members]))
                for u in id_uniq.tolist()
                for base in [routes.pool_classes[u // n_members]]
            )
            return keys, id_code
    # Shared pools only: one per class; mark the classes present instead of sorting.
    present = np.bincount(pool_class, minlength=len(routes.pool_classes)) > 0
    keys = tuple(k for k, p in zip(routes.pool_classes, present.tolist(), strict=True) if p)
    if len(keys) == len(present):
        return keys, pool_class
    return keys, (np.cumsum(present) - 1)[pool_class]


def _draw_pools(
    batch: CallBatch,
    pidx: IntArray,
    pool_class: NDArray[np.int32],
    cell: IntArray,
    routes: _Routes,
    ctx: RatingContext,
    state: PoolState,
) -> _Draws:
    """Draw pools in call order by cumulative sums per (pool, month); see ``PoolBook``.

    ``pidx`` holds the positions of the calls that draw a pool, ``pool_class`` their
    ``_Routes.pool_class``. Each (pool, month) group is a run of the calls sorted by group;
    per-group values are spread over their runs with ``np.repeat``.
    """
    n = len(batch)
    cal = ctx.calendar
    pool_s = np.zeros(n, dtype=np.int64)
    pool_code = np.full(n, -1, dtype=np.int32)
    pos = avail = d = draw = np.zeros(0, dtype=np.int64)
    if n == 0:
        return _Draws(pool_code, pool_s, pos, avail, d, draw, (), (), state)
    start = batch.start_s
    months = _month_starts(cal, float(start[0]), float(start[-1]))
    last_month = len(months) - 1
    same_month = state.month_start_s == months[last_month]
    used_out = dict(state.used_s) if same_month else {}
    closed_out = set(state.closed) if same_month else set()
    keys: tuple[PoolKey, ...] = ()
    alerts: list[PoolAlert] = []
    if len(pidx):
        keys, id_code = _pool_identities(batch, pidx, pool_class, cell, routes)
        pool_code[pidx] = id_code
        info = [_pool_info(ctx, k, 0) for k in keys]
        key_size = np.array([size for size, _ in info], dtype=np.int64)
        links = [link for _, link in info]
        link_names = sorted({lk for lk in links if lk is not None})
        key_link = np.array([link_names.index(lk) if lk else -1 for lk in links], np.int64)

        # (pool, month) groups, each in call order (stable sort).
        n_months = len(months)
        group_key = id_code
        if n_months > 1:
            month = np.searchsorted(months, start[pidx], "right") - 1
            group_key = id_code.astype(np.int64) * n_months + month
        pos = pidx[_stable_order(group_key)]  # batch position of each sorted call
        counts = np.bincount(group_key)
        g_val = np.flatnonzero(counts)
        counts = counts[g_val]
        g_end = np.cumsum(counts) - 1
        g_start = g_end - counts + 1
        g_key, g_month = g_val // n_months, g_val % n_months
        g_size = key_size[g_key]
        if ctx.headcount_growth_per_month:  # licences, and so pools, grow month by month
            month_index = [cal.month_index(float(m)) for m in months]
            g_size = np.array(
                [
                    _pool_info(ctx, keys[k], month_index[m])[0]
                    for k, m in zip(g_key.tolist(), g_month.tolist(), strict=True)
                ],
                dtype=np.int64,
            )
        g_link = key_link[g_key]
        # Usage carried in from earlier batches counts in the state's own month only.
        g_used0 = np.zeros(len(g_val), dtype=np.int64)
        g_closed0 = np.zeros(len(g_val), dtype=bool)
        if state.month_start_s is not None:
            for gi in np.flatnonzero(months[g_month] == state.month_start_s).tolist():
                g_used0[gi] = state.used_s.get(keys[g_key[gi]], 0)
                lk = links[g_key[gi]]
                g_closed0[gi] = lk is not None and lk in state.closed

        # Seconds left at each call: size - carried usage - what earlier calls asked for.
        d = _ceil_to(batch.duration_s[pos], ctx.pool_increment_s)
        excl = np.cumsum(d) - d
        avail = np.repeat(g_size - g_used0 + excl[g_start], counts) - excl
        np.maximum(avail, 0, out=avail)
        if g_closed0.any():
            avail[np.repeat(g_closed0, counts)] = 0

        # §2.2 "whichever is reached first": the first call to use up either linked pool
        # closes both for the rest of the month.
        close_at = np.full(max(len(link_names), 1) * n_months, _NO_CLOSE, dtype=np.int64)
        if (g_link >= 0).any():
            linked = np.repeat(g_link >= 0, counts)
            lm = np.repeat(np.where(g_link >= 0, g_link * n_months + g_month, 0), counts)
            exhausts = linked & (avail > 0) & (d >= avail)
            np.minimum.at(close_at, lm[exhausts], pos[exhausts])
            avail[linked & (pos > close_at[lm])] = 0

        draw = np.minimum(d, avail)
        pool_s[pos] = draw
        # Usage after each call: carried + drawn by the group's calls up to it.
        used_after = np.cumsum(draw)
        g_base = g_used0 - (used_after[g_start] - draw[g_start])
        used_after += np.repeat(g_base, counts)
        g_total = used_after[g_end]

        # Alerts at 80 % and 100 % (§3), stamped when the threshold minute is used: usage
        # never decreases within a group, so the first call reaching it crosses it.
        for pct in ALERT_THRESHOLDS_PCT:
            threshold = pct * g_size
            crossed = (g_used0 * 100 < threshold) & (threshold <= g_total * 100) & (g_size > 0)
            for gi in np.flatnonzero(crossed).tolist():
                thr = int(threshold[gi])
                lo, hi = int(g_start[gi]), int(g_end[gi]) + 1
                j = lo + int(np.searchsorted(used_after[lo:hi], -(-thr // 100)))
                t0 = float(start[pos[j]])
                alerts.append(
                    PoolAlert(
                        t_s=t0 + (thr / 100 - int(used_after[j] - draw[j])),
                        pool=keys[g_key[gi]],
                        month=cal.month_label(t0),
                        threshold_pct=pct,
                    )
                )
        # Carry the last month's usage and closures into the state for the next batch.
        for gi in np.flatnonzero(g_month == last_month).tolist():
            key, total = keys[g_key[gi]], int(g_total[gi])
            if total > 0:
                used_out[key] = total
            lk = links[g_key[gi]]
            if lk is not None and (
                g_closed0[gi] or close_at[g_link[gi] * n_months + g_month[gi]] != _NO_CLOSE
            ):
                closed_out.add(lk)
    new_state = PoolState(
        month_start_s=float(months[last_month]),
        used_s={k: used_out[k] for k in sorted(used_out)},
        closed=frozenset(closed_out),
        last_start_s=float(start[-1]),
    )
    alerts.sort(key=PoolAlert.sort_key)
    return _Draws(pool_code, pool_s, pos, avail, d, draw, keys, tuple(alerts), new_state)


def rate_batch(batch: CallBatch, ctx: RatingContext, state: PoolState | None = None) -> RatedBatch:
    """Rate a time-sorted batch with numpy; row by row the same as ``rate_call``.

    ``state`` is the pool state left by earlier batches (fresh pools when None); the
    result's ``state`` continues from this batch. The batch must be sorted by ``start_s``
    (``CallBatch.sorted_by_start``); calls with equal starts draw pools in batch order.

    Rules, tariffs and the outcome of calls that draw no pool are looked up per cell
    (``_Routes``, built once per context and code tables); only pooled calls are drawn.
    """
    state = state or PoolState()
    if not batch.is_time_sorted():
        raise ValueError("rate_batch needs a batch sorted by start_s (use sorted_by_start())")
    if len(batch) and batch.start_s[0] < state.last_start_s:
        raise ValueError(
            f"calls must be rated in start order: batch starts at {batch.start_s[0]}, "
            f"before the last rated call at {state.last_start_s}"
        )
    routes = _routes(ctx, batch)
    cell = routes.cells(batch)
    rule = routes.rule[cell]
    _check_holders(batch, routes, rule, ctx)
    if routes.unratable is not None and ctx.on_unratable == "raise":
        unratable = routes.unratable[cell]
        if unratable.any():
            idx = np.flatnonzero(unratable)
            shown = "; ".join(
                f"call {c.call_id}: {c.dest_country} {c.number_type.value} "
                f"({Rule(int(rule[i])).name})"
                for i in idx[:3].tolist()
                for c in [batch.call(i)]
            )
            raise UnratableCallError(
                f"{len(idx)} call(s) priced by no rate-table row, e.g. {shown}; "
                "add the country, a zone or a 'default' row"
            )
    outcome = routes.outcome[cell]
    reason = routes.reason[cell]
    pool_class = routes.pool_class[cell]
    pidx = np.flatnonzero(pool_class >= 0)
    dr = _draw_pools(batch, pidx, pool_class[pidx], cell, routes, ctx, state)

    cut = dr.pos[:0]
    if len(dr.pos):
        # A call its pool admits is covered, split (pool, then charged) or cut off.
        admitted = dr.avail_s > 0
        split = admitted & (dr.drawn_s < dr.demand_s)
        outcome[dr.pos[admitted]] = Outcome.POOL
        outcome[dr.pos[split]] = Outcome.POOL_CHARGED
        if routes.refusal.any():
            refusal = routes.refusal.take(batch.group[dr.pos])
            cut_off = split & (refusal != Reason.NONE)
            cut = dr.pos[cut_off]
            outcome[cut] = Outcome.CUT_OFF
            reason[dr.pos[admitted]] = Reason.NONE
            reason[cut] = refusal[cut_off]

    dur = batch.duration_s
    tariff_row = routes.tariff_row[cell]
    rate = routes.row_rate[tariff_row]
    fee = routes.row_fee[tariff_row]
    increment = routes.row_increment[tariff_row]
    from_setup = outcome == Outcome.CHARGED  # charged from set-up
    charged = np.flatnonzero(from_setup | (outcome == Outcome.POOL_CHARGED))
    billable = _ceil_to(dur[charged], increment[charged], dr.pool_s[charged])
    charged_s = np.zeros(len(batch), dtype=np.int64)
    charged_s[charged] = billable
    # Money rule of sim.tariffs: fee + ceil(billable_s * rate / 60) micro-units.
    amount = np.zeros(len(batch), dtype=np.int64)
    amount[charged] = np.where(
        billable > 0, fee[charged] + -(-billable * rate[charged] // SECONDS_PER_MINUTE), 0
    )
    # Prepaid: a call charged from set-up needs a positive balance (see the module notes).
    needs_check = from_setup if ctx.funding_mode == "prepaid" else np.zeros_like(from_setup)
    served = np.where(outcome == Outcome.BLOCKED, 0.0, dur)
    served[cut] = dr.pool_s[cut]
    return RatedBatch(
        call_id=batch.call_id.copy(),
        rule=rule,
        outcome=outcome,
        reason=reason,
        pool=dr.pool,
        pool_s=dr.pool_s,
        charged_s=charged_s,
        amount=amount,
        needs_balance_check=needs_check,
        served_s=served,
        tariff_row=tariff_row,
        rate_per_min=rate,
        connection_fee=fee,
        increment_s=increment,
        pool_keys=dr.keys,
        tariff_rows=routes.tariff_rows,
        charged_to=ctx.charge_to,
        alerts=dr.alerts,
        state=dr.state,
    )


__all__ = [
    "ALERT_THRESHOLDS_PCT",
    "ChargeTo",
    "FundingMode",
    "Outcome",
    "PoolAlert",
    "PoolBook",
    "PoolState",
    "RatedBatch",
    "Rating",
    "RatingContext",
    "Reason",
    "Route",
    "Rule",
    "UnratableCallError",
    "apply_balance_check",
    "rate_batch",
    "rate_call",
    "route_call",
]

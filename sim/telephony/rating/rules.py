"""The rules that route a call, and the outcomes, reasons and payers rating reports.

``route_call`` gives a call's ``Route`` (its ``Rule``, rate table and pool) before the
pool state is known; the rule tables group the rules for both rating paths.

Rules (teams-credits.md; each is a ``Rule`` member citing its section):

- Credits (or, in NCE/MCA postpaid mode, the monthly invoice) pay for exactly: toll-free
  minutes (inbound to toll-free conference and service numbers); dial-out beyond the
  pool or outside Zone A; calling-plan overage; international calls on a domestic plan;
  every outbound minute on PAYG; everything on pay-per-minute conferencing; UK
  shared-cost (premium) numbers.
- Free: inbound calls to regular numbers, toll dial-in on standard conferencing, calls
  covered by a pool, US/Canada dial-out with the unlimited add-on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from sim.telephony.calls import Call, CallType, NumberType
from sim.telephony.plans import (
    DIAL_OUT_ADDON_COUNTRIES,
    TENANT_SCOPE,
    Holder,
    PoolKey,
    is_domestic,
    pool_country,
)
from sim.telephony.tariffs import ZONE_A, TableName


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
    RESOURCE_ACCOUNT_NEEDS_PAYG = 14
    """§10.2: from 1 Nov 2025 a resource account's outbound call on a Calling Plan other
    than Pay-As-You-Go fails: refused (never drawn from a domestic pool)."""


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
    NO_PAYG_PLAN = 7
    """§10.2: a resource account's outbound call from 1 Nov 2025 without a PAYG plan."""
    SPEND_LIMIT = 8
    """§10.1: the user's monthly PSTN spend limit (``CallingSpendUserLimit``) is reached."""


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
    Rule.RESOURCE_ACCOUNT_NEEDS_PAYG: Reason.NO_PAYG_PLAN,
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


def needs_payg(call_type: CallType, holder: Holder) -> bool:
    """Return True for a resource account's outbound call on a plan with included minutes.

    From ``RESOURCE_ACCOUNT_PAYG_FROM`` such calls are refused (§10.2).
    """
    return call_type is CallType.UCAP_OUT and holder.is_service and holder.plan.has_pools


def route_call(call: Call, holder: Holder, payg_only_from_s: float = math.inf) -> Route:
    """Return the rule, rate table and pool of a call (rule order matches ``rate_batch``).

    ``number_type`` is that of the called number: the tenant's own number for inbound
    calls. Inbound premium numbers are treated as toll numbers. ``payg_only_from_s``:
    the instant from which resource accounts' outbound calls need PAYG (§10.2).
    """
    ct, nt = call.call_type, call.number_type
    plan, conf = holder.plan, holder.conferencing
    if needs_payg(ct, holder) and call.start_s >= payg_only_from_s:
        # §10.2: from 1 Nov 2025 only a PAYG Calling Plan places these calls.
        return Route(Rule.RESOURCE_ACCOUNT_NEEDS_PAYG)
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


__all__ = [
    "ChargeTo",
    "Outcome",
    "Reason",
    "Route",
    "Rule",
    "UnratableCallError",
    "needs_payg",
    "route_call",
]

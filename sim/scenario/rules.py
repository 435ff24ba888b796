"""Ranges and code lists of single scenario settings (``sim.core.schema.Rules``).

``sim.core.schema`` bounds every value by its type; these rules narrow single fields of
the sections defined outside this subpackage (policies, the tenant, traffic, costs) to
what the engine can run and what makes sense: shares in [0, 1], call rates per user and
day at most 1,000, at most a million users, ISO country codes, known plans. Each is
checked before the section's own rules, so an error names the exact field and the
allowed range. ``sim.scenario.model`` adds the rules of its own sections.

Imports ``sim.core``, ``sim.billing``, ``sim.telephony``, ``sim.traffic`` and
``sim.scenario.costs``; not ``sim.scenario.model``.
"""

from __future__ import annotations

from sim.billing.policies import Admin, OpeningLot, Payment, Recharge
from sim.core import limits
from sim.core.codes import country_error
from sim.core.distributions import Delay
from sim.core.schema import Check, OneOf, Range, Rule
from sim.scenario.costs import SERVICES, Costs, RefusedCallCosts
from sim.telephony.plans import CALLING_PLANS, CONFERENCING, ServiceNumber, UserGroup
from sim.telephony.tariffs import MAX_SCALE, TariffFiles
from sim.traffic.settings import (
    Calling,
    Destinations,
    Meetings,
    Profile,
    Retry,
    ServiceTraffic,
    Traffic,
)

MONEY = Range(high=limits.MAX_MONEY_MICROS, unit="money")
"""An amount of money: at most 10^9 currency units (each section says whether > 0 or >= 0)."""
POSITIVE_MONEY = MONEY
SHARE = Range(0.0, 1.0)
"""A probability or a share."""
POSITIVE_DURATION = Range(high=limits.MAX_DURATION_S, unit="duration")
AT_LEAST_A_SECOND = Range(1.0, limits.MAX_DURATION_S, unit="duration")
COUNTRY = Check(country_error)
"""An ISO 3166-1 alpha-2 country code."""
USERS = Range(high=limits.MAX_USERS)
WEIGHT = Range(0.0, 1e6)
GROWTH = Range(high=1.0)
"""A relative change per month: at most +100 % (the section refuses -100 % or less)."""

RULES: dict[tuple[type, str], Rule] = {
    (OpeningLot, "amount"): POSITIVE_MONEY,
    (OpeningLot, "remaining"): MONEY,
    (Recharge, "trigger"): MONEY,
    (Recharge, "amount"): MONEY,
    (Recharge, "target"): MONEY,
    (Recharge, "max_in_flight"): Range(high=1_000),
    (Recharge, "poll_interval"): AT_LEAST_A_SECOND,
    (Recharge, "expiry_horizon"): POSITIVE_DURATION,
    (Delay, "cv"): Range(high=100.0),
    (Payment, "decline_probability"): SHARE,
    (Payment, "max_retries"): Range(high=100),
    (Payment, "retry_after"): AT_LEAST_A_SECOND,
    (Payment, "retry_backoff"): Range(high=100.0),
    (Payment, "disable_after_declines"): Range(high=1_000),
    (Admin, "top_up"): MONEY,
    (UserGroup, "count"): USERS,
    (UserGroup, "usage_country"): COUNTRY,
    (UserGroup, "plan"): OneOf(tuple(CALLING_PLANS), "plan"),
    (UserGroup, "conferencing"): OneOf(tuple(CONFERENCING), "conferencing licence"),
    (UserGroup, "conferencing_assigned"): USERS,
    (UserGroup, "conferencing_purchased"): USERS,
    (UserGroup, "spend_limit"): POSITIVE_MONEY,
    (ServiceNumber, "country"): COUNTRY,
    (ServiceNumber, "plan"): OneOf(tuple(CALLING_PLANS), "plan"),
    (TariffFiles, "scale"): Range(high=MAX_SCALE),
    (Profile, "weekday"): WEIGHT,
    (Profile, "saturday"): WEIGHT,
    (Profile, "sunday"): WEIGHT,
    (Profile, "holiday"): WEIGHT,
    (Destinations, "domestic"): SHARE,
    (Destinations, "zone_a"): SHARE,
    (Destinations, "international"): SHARE,
    (Destinations, "premium"): SHARE,
    (Destinations, "domestic_countries"): COUNTRY,
    (Destinations, "zone_a_countries"): COUNTRY,
    (Destinations, "international_countries"): COUNTRY,
    (Calling, "calls_per_user_day"): Range(high=limits.MAX_PER_USER_DAY),
    (Calling, "inbound_per_user_day"): Range(high=limits.MAX_PER_USER_DAY),
    (Calling, "rate_cv"): Range(high=100.0),
    (Calling, "transfer_share"): SHARE,
    (Calling, "forward_share"): SHARE,
    (Meetings, "per_organiser_week"): Range(high=1_000.0),
    (Meetings, "scheduled"): POSITIVE_DURATION,
    (Meetings, "scheduled_weights"): WEIGHT,
    (Meetings, "overrun_cv"): Range(high=100.0),
    (Meetings, "dial_ins"): Range(high=1_000.0),
    (Meetings, "dial_outs"): Range(high=1_000.0),
    (Meetings, "toll_free_share"): SHARE,
    (ServiceTraffic, "calls_per_day"): Range(high=limits.MAX_SERVICE_CALLS_PER_DAY),
    (Traffic, "headcount_growth_per_month"): GROWTH,
    (Traffic, "usage_growth_per_month"): GROWTH,
    (Retry, "probability"): SHARE,
    (Retry, "max_attempts"): Range(high=100),
    (Costs, "card_charge"): MONEY,
    (Costs, "invoice"): MONEY,
    (Costs, "outage_hour"): MONEY,
    (Costs, "min_amount"): POSITIVE_MONEY,
    (Costs, "max_recharges_per_month"): Range(high=1e6),
}
for _name in SERVICES:
    RULES[(RefusedCallCosts, _name)] = MONEY

__all__ = ["COUNTRY", "MONEY", "POSITIVE_MONEY", "RULES", "SHARE"]

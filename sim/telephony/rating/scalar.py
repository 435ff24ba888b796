"""Rating one call: ``rate_call`` against a ``PoolBook``, and the set-up balance check.

The readable path (for tests); ``sim.telephony.rating.vectorised`` gives the same
results for a whole batch.

Modelling choices (both paths):

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
- A user group's monthly spend limit (§10.1, ``UserGroup.spend_limit``) counts what each
  of its users' outbound calls (``user_out*``) are charged, credits or invoice, in order
  of call start, each call's whole charge at once (like pool draws). A call that starts
  once the month's spend has reached the limit cannot be charged: refused if charged
  from set-up, cut off when its pool runs out (reason ``SPEND_LIMIT``); the call that
  crosses the limit runs to its end. A charged call later refused for lack of balance
  still counts (the rating does not see the balance). Calls covered by a pool count 0.
- Pool alerts (80 % and 100 %, §3) are stamped at the instant the threshold minute is
  used, taking the crossing call to use its pool seconds from its start at one second per
  second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.core.units import Micros
from sim.telephony.calls import OUTBOUND_USER_TYPES, Call
from sim.telephony.plans import PoolKey
from sim.telephony.rating.context import RatingContext
from sim.telephony.rating.pools import PoolBook
from sim.telephony.rating.rules import (
    _BLOCK_RULES,
    _FREE_RULES,
    ChargeTo,
    Outcome,
    Reason,
    Rule,
    UnratableCallError,
    _check_holder,
    route_call,
)
from sim.telephony.tariffs import Tariff, billable_seconds


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


def rate_call(call: Call, ctx: RatingContext, book: PoolBook) -> Rating:
    """Rate one call against ``book`` and draw its pool seconds from it.

    Calls must come in start order. The result does not depend on the balance; apply
    ``apply_balance_check`` when ``needs_balance_check`` is set.
    """
    holder = ctx.tenant.holder(call.group)
    _check_holder(call.call_type, holder, call.usage_country, call.call_id)
    book.roll(call.start_s)
    route = route_call(call, holder, ctx.payg_only_from_s)
    rule = route.rule
    if rule in _BLOCK_RULES:
        return Rating(call.call_id, rule, Outcome.BLOCKED, _BLOCK_RULES[rule])
    if rule in _FREE_RULES:
        return Rating(call.call_id, rule, Outcome.FREE, served_s=call.duration_s)
    assert route.table is not None
    tariff = ctx.tariffs.table(route.table).find(
        call.dest_country, call.number_type, call.usage_country, call.call_type
    )
    if tariff is None:
        if ctx.on_unratable == "raise":
            raise UnratableCallError(
                f"call {call.call_id}: no row of the {route.table!r} rate table prices "
                f"{call.dest_country} {call.number_type.value} (rule {rule.name}); "
                "add the country, a zone or a 'default' row"
            )
        return Rating(call.call_id, rule, Outcome.BLOCKED, Reason.NO_TARIFF)
    refusal = ctx.charge_refusal(holder)
    limited = holder.spend_limit is not None and call.call_type in OUTBOUND_USER_TYPES
    if limited and refusal is Reason.NONE:
        # §10.1: once the user's spend this month reaches the limit, nothing is charged.
        assert holder.spend_limit is not None
        if book.spent.get(call.subscriber_id, 0) >= holder.spend_limit:
            refusal = Reason.SPEND_LIMIT

    def spend(rating: Rating) -> Rating:
        if limited and rating.amount:
            book.spent[call.subscriber_id] = book.spent.get(call.subscriber_id, 0) + rating.amount
        return rating

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
            return spend(
                rated(
                    Outcome.POOL_CHARGED,
                    pool_s=pool_s,
                    charged_s=charged_s,
                    amount=tariff.charge(charged_s),
                    charged_to=ctx.charge_to,
                    served_s=call.duration_s,
                )
            )
    # Charged from set-up: the route has no pool, or its pool was used up before the call.
    if refusal is not Reason.NONE:
        return rated(Outcome.BLOCKED, reason=refusal)
    charged_s = tariff.billable_seconds(call.duration_s)
    return spend(
        rated(
            Outcome.CHARGED,
            charged_s=charged_s,
            amount=tariff.charge(charged_s),
            charged_to=ctx.charge_to,
            needs_balance_check=ctx.funding_mode == "prepaid",
            served_s=call.duration_s,
        )
    )


__all__ = [
    "Rating",
    "apply_balance_check",
    "rate_call",
]

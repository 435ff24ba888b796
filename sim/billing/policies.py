"""Recharge, payment and admin policies: the organisation's settings as small objects.

- ``Recharge``: when to buy credits and how much (none, Microsoft's fixed trigger +
  amount, top-up to a target, the amount added as many times as needed, or the amount
  bought on a schedule). The trigger compares ``<`` or ``<=`` against the balance or the
  balance plus pending recharges (the inventory position), less what expires within
  ``expiry_horizon``, with at most ``max_in_flight`` recharges outstanding, checked after
  each debit or polled every ``poll_interval``.
- ``Payment``: a card charge is requested, then settled or declined after a delay; a
  decline probability, a card expiry date after which every charge is declined, retries
  with back-off, and auto-recharge switched off after N consecutive declines.
- ``Admin``: how an admin reacts to e-mails (a manual top-up after a response delay).
- ``Postpaid``: NCE/MCA billing in arrears instead of prepaid credits.
- ``OpeningLot``: a lot the tenant already holds at the start (``funding.lots``).

Sources: ``teams-credits.md`` §4 (trigger and amount; portal minimum of 50 and whole
numbers; funding by a one-time amount or by auto-recharge, which scheduled purchases
model for admins who buy by hand), §5 (auto-recharge fires below the trigger and adds a
fixed amount; one invoice per recharge; e-mails on success, failure and zero balance;
funds expire 12 months after their purchase date, which the expiry horizon anticipates
and lots held at the start keep), §6 (NCE/MCA postpaid), §9 (lots with purchase dates).

Imports ``sim.core.units``, ``sim.core.schema`` and ``sim.core.distributions``; no SimPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from sim.core.distributions import Delay
from sim.core.schema import require
from sim.core.units import MICROS_PER_UNIT, Micros, Seconds, UnitError, format_money, parse_duration

PORTAL_MINIMUM = Micros(50 * MICROS_PER_UNIT)
"""The admin portal accepts only whole-number trigger and amounts of at least 50
(``teams-credits.md`` §4, issue #462)."""


class NotificationKind(StrEnum):
    """E-mails the service sends to admins (``teams-credits.md`` §5 and §3)."""

    RECHARGE_SUCCEEDED = "recharge_succeeded"
    RECHARGE_FAILED = "recharge_failed"
    BALANCE_ZERO = "balance_zero"
    LOW_BALANCE = "low_balance"
    AUTO_RECHARGE_DISABLED = "auto_recharge_disabled"
    POOL_80 = "pool_80"
    POOL_100 = "pool_100"
    INVOICE_ISSUED = "invoice_issued"


@dataclass(frozen=True, slots=True)
class Notification:
    """One e-mail to the admins."""

    t_s: float
    kind: NotificationKind
    detail: str = ""


RechargeKind = Literal["none", "fixed", "target", "multiples", "scheduled"]


@dataclass(frozen=True, slots=True)
class Recharge:
    """Auto-recharge settings.

    ``fixed`` (Microsoft's): when the basis falls below ``trigger``, buy ``amount``.
    ``target``: when below ``trigger``, buy up to ``target`` (whole units under the
    portal rules, else to the micro-unit: the account is told which).
    ``multiples``: buy ``amount`` as many times as needed to get back above ``trigger``.
    ``scheduled``: buy ``amount`` every ``interval`` from the start on (the first at the
    start), as admins who buy by hand do: ``"month"`` is each calendar month on the
    start's day of the month, local time, clamped to the month's end (like lot expiry),
    or a duration such as ``"2w"``. Each is a card payment like an auto-recharge. With
    ``trigger`` > 0 the balance trigger also buys ``amount`` as a safety net.
    ``none``: no auto-recharge (funding by hand only).

    ``expiry_horizon`` (default off): the trigger looks at the basis less the remainders
    of the lots that expire within this horizon, as if they were already forfeited, so
    a recharge is also due when the soonest-expiring lots that still hold funds are about
    to take the balance below the trigger (``target`` then tops up what will be left).
    """

    policy: RechargeKind = "fixed"
    trigger: Micros = Micros(50 * MICROS_PER_UNIT)
    amount: Micros = Micros(100 * MICROS_PER_UNIT)
    target: Micros = Micros(0)
    compare: Literal["<", "<="] = "<"
    basis: Literal["balance", "position"] = "balance"
    max_in_flight: int = 1
    check: Literal["after_debit", "poll"] = "after_debit"
    poll_interval: Seconds = Seconds(3600.0)
    interval: str = "month"
    expiry_horizon: Seconds | None = None

    def __post_init__(self) -> None:
        require(self.trigger >= 0, "trigger", "must be >= 0")
        require(self.max_in_flight >= 1, "max_in_flight", "must be >= 1")
        require(self.poll_interval > 0, "poll_interval", "must be > 0")
        if self.policy in ("fixed", "multiples", "scheduled"):
            require(self.amount > 0, "amount", f"must be > 0 for policy {self.policy!r}")
        if self.policy == "target":
            require(
                self.target > self.trigger,
                "target",
                f"must be above the trigger ({format_money(self.trigger)})",
            )
        if self.interval != "month":
            try:
                seconds = parse_duration(self.interval)
            except UnitError:
                seconds = Seconds(0.0)
            require(
                seconds > 0,
                "interval",
                f'must be "month" or a duration > 0 such as "2w" or "30d", got {self.interval!r}',
            )
        if self.expiry_horizon is not None:
            require(self.expiry_horizon > 0, "expiry_horizon", "must be > 0 (omit it: off)")
            require(
                self.has_trigger,
                "expiry_horizon",
                "needs a balance trigger: policy 'fixed', 'target' or 'multiples', or "
                "'scheduled' with trigger > 0",
            )

    @property
    def enabled(self) -> bool:
        """Return True unless the policy is ``none``."""
        return self.policy != "none"

    @property
    def has_trigger(self) -> bool:
        """Return True when a balance trigger orders recharges (``scheduled``: trigger > 0)."""
        return self.policy != "none" and (self.policy != "scheduled" or self.trigger > 0)

    @property
    def interval_s(self) -> float | None:
        """The schedule's period in seconds, or None for calendar months."""
        return None if self.interval == "month" else float(parse_duration(self.interval))

    def is_triggered(self, balance: int, pending: int, expiring: int = 0) -> bool:
        """Return True when the trigger condition holds.

        ``expiring`` is what the lots expiring within ``expiry_horizon`` still hold: the
        basis is compared as if it were already forfeited.
        """
        if not self.enabled:
            return False
        value = (balance + pending if self.basis == "position" else balance) - expiring
        hit = value < self.trigger if self.compare == "<" else value <= self.trigger
        return hit and (self.policy != "scheduled" or self.trigger > 0)

    def order_amount(
        self,
        balance: int,
        pending: int,
        in_flight: int,
        expiring: int = 0,
        whole_units: bool = True,
    ) -> Micros:
        """Return the amount to buy now, or 0 when no recharge is due.

        ``whole_units``: a top-up to ``target`` is rounded up to a whole currency unit (the
        portal takes whole numbers only, ``teams-credits.md`` §4); else it is exact.
        """
        if in_flight >= self.max_in_flight or not self.is_triggered(balance, pending, expiring):
            return Micros(0)
        value = (balance + pending if self.basis == "position" else balance) - expiring
        if self.policy == "target":
            gap = self.target - value
            if not whole_units:
                return Micros(max(gap, 1))
            whole = -(-gap // MICROS_PER_UNIT)  # round up to a whole unit
            return Micros(max(whole, 1) * MICROS_PER_UNIT)
        if self.policy == "multiples":
            # The least k >= 1 with value + k * amount no longer triggering.
            need = self.trigger - value + (1 if self.compare == "<=" else 0)
            k = max(1, -(-need // self.amount))
            return Micros(k * self.amount)
        return self.amount  # fixed, and the safety net of scheduled


@dataclass(frozen=True, slots=True)
class Payment:
    """How card charges behave.

    Each attempt settles or is declined after ``delay``. It is declined when the attempt
    is made after ``card_expires`` (the card is valid through that local date), or else
    with ``decline_probability``. A declined attempt is retried after ``retry_after``
    times ``retry_backoff`` to the power of the retry number, up to ``max_retries``
    times. After ``disable_after_declines`` consecutive declined attempts, auto-recharge
    is switched off (0: never). Credit is usable only once a payment settles.
    """

    delay: Delay = field(default_factory=Delay)
    decline_probability: float = 0.0
    card_expires: date | None = None
    max_retries: int = 0
    retry_after: Seconds = Seconds(3600.0)
    retry_backoff: float = 2.0
    disable_after_declines: int = 3

    def __post_init__(self) -> None:
        require(
            0.0 <= self.decline_probability <= 1.0,
            "decline_probability",
            f"must be between 0 and 1, got {self.decline_probability}",
        )
        require(self.max_retries >= 0, "max_retries", "must be >= 0")
        require(self.retry_after > 0, "retry_after", "must be > 0")
        require(self.retry_backoff >= 1.0, "retry_backoff", "must be >= 1")
        require(self.disable_after_declines >= 0, "disable_after_declines", "must be >= 0")

    def retry_delay_s(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        return float(self.retry_after * self.retry_backoff ** (retry_number - 1))


AdminTrigger = Literal["recharge_failed", "balance_zero", "low_balance", "auto_recharge_disabled"]


@dataclass(frozen=True, slots=True)
class Admin:
    """How admins react to e-mails.

    After an e-mail of a kind in ``responds_to``, the admin acts after
    ``response_delay`` (one response at a time): if ``fixes_card``, the card is renewed
    and auto-recharge switched back on; then, if ``top_up`` > 0, a manual purchase of
    ``top_up`` is made (a card payment like any other). An empty ``responds_to`` means
    the admin never reacts.
    """

    responds_to: tuple[AdminTrigger, ...] = ("recharge_failed", "balance_zero")
    response_delay: Delay = field(
        default_factory=lambda: Delay(kind="lognormal", mean=Seconds(8 * 3600.0), cv=1.0)
    )
    top_up: Micros = Micros(0)
    fixes_card: bool = True

    def __post_init__(self) -> None:
        require(self.top_up >= 0, "top_up", "must be >= 0")
        require(len(set(self.responds_to)) == len(self.responds_to), "responds_to", "duplicates")

    @property
    def reacts(self) -> bool:
        """Return True when the admin ever does something."""
        return bool(self.responds_to) and (self.top_up > 0 or self.fixes_card)


@dataclass(frozen=True, slots=True)
class Postpaid:
    """NCE/MCA settings: usage billed monthly in arrears (``teams-credits.md`` §6).

    ``hard_cap`` (default true, Microsoft's default for NCE/MCA tenants, §6 and §10.3):
    without the pay-as-you-go (overage) toggle the included minutes are a hard cap, so
    calls that would be charged are refused until the next billing period. ``false``:
    overage switched on, every charge goes to the monthly invoice (ccsim's default
    before; set it to keep that behaviour).
    """

    hard_cap: bool = True


@dataclass(frozen=True, slots=True)
class OpeningLot:
    """A lot the tenant holds at the start (``funding.lots``): part of a purchase history.

    ``amount`` was bought at ``purchased`` (local time, before the start), and
    ``remaining`` of it is left at the start. It expires by the lifetime rule from its
    purchase date, like any lot (``teams-credits.md`` §5: 12 months after the purchase
    date); what was spent before the start is not part of the run.
    """

    amount: Micros
    remaining: Micros
    purchased: datetime

    def __post_init__(self) -> None:
        require(self.amount > 0, "amount", "must be > 0")
        require(
            0 < self.remaining <= self.amount,
            "remaining",
            f"must be > 0 and at most the amount ({format_money(self.amount)}), got "
            f"{format_money(self.remaining)} (leave out lots with nothing left)",
        )
        require(
            self.purchased.tzinfo is None,
            "purchased",
            "give a local date or date-time without offset",
        )

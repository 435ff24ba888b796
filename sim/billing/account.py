"""The organisation's credit account: ledger, auto-recharge, payments, e-mails, admins.

``CreditAccount`` is an event-driven state machine with no clock of its own: the caller
(the SimPy engine, or ``HeapScheduler`` in tests) tells it the time of each debit, and the
account asks a ``Scheduler`` to call it back at the instants it needs (a payment
completing, a lot expiring, an admin acting, a trigger poll, a scheduled purchase, a lot
coming within the expiry horizon). The same account therefore runs under SimPy and in
plain unit tests, with identical results.

``PostpaidAccount`` is the NCE/MCA alternative: no credits, usage invoiced monthly in
arrears.

Imports the pure core only (units, distributions, ledger, policies); no SimPy.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sim.billing.ledger import DebitResult, Ledger, LotSource
from sim.billing.policies import (
    Admin,
    Notification,
    NotificationKind,
    OpeningLot,
    Payment,
    Recharge,
)
from sim.core.units import Calendar, Micros, format_money

Action = Callable[[float], None]
_TWO_DAYS_S = 2 * 86_400.0


class Scheduler(Protocol):
    """Something that calls ``action(t_s)`` back at simulation time ``at_s``."""

    def schedule(self, at_s: float, action: Action) -> None:
        """Arrange for ``action(at_s)`` to run at ``at_s`` (never before the present)."""


class HeapScheduler:
    """A minimal scheduler for running an account without SimPy.

    Actions run in (time, order of scheduling) order, as SimPy runs same-time events.
    """

    def __init__(self) -> None:
        self.now_s = 0.0
        self._heap: list[tuple[float, int, Action]] = []
        self._order = itertools.count()

    def schedule(self, at_s: float, action: Action) -> None:
        """Queue ``action`` for ``at_s`` (clamped to the present)."""
        heapq.heappush(self._heap, (max(at_s, self.now_s), next(self._order), action))

    def next_s(self) -> float | None:
        """Time of the next queued action, if any."""
        return self._heap[0][0] if self._heap else None

    def run_until(self, t_s: float) -> None:
        """Run every action due at or before ``t_s``, then set the clock to ``t_s``."""
        while self._heap and self._heap[0][0] <= t_s:
            at_s, _, action = heapq.heappop(self._heap)
            self.now_s = at_s
            action(at_s)
        self.now_s = max(self.now_s, t_s)


class PaymentState(StrEnum):
    """States of a card payment: requested, then settled or declined (after retries)."""

    REQUESTED = "requested"
    SETTLED = "settled"
    DECLINED = "declined"


@dataclass(slots=True)
class PaymentRecord:
    """One purchase paid by card, with its attempts."""

    payment_id: int
    source: LotSource
    amount: Micros
    requested_at_s: float
    state: PaymentState = PaymentState.REQUESTED
    attempts: int = 0
    declines: int = 0
    completed_at_s: float | None = None
    attempt_log: list[tuple[float, float, bool]] = field(default_factory=list)
    """(requested_at_s, completed_at_s, declined) for every attempt."""


class CreditAccount:
    """A prepaid communications-credit balance with auto-recharge and admins.

    Parameters
    ----------
    calendar
        Local calendar of the scenario (card expiry, 12-month lot expiry).
    recharge, payment, admin
        The organisation's settings.
    scheduler
        Calls the account back at the instants it asks for.
    rng_payments, rng_admin
        Random streams for payment delays and declines, and admin response delays.
    expiry_months
        Lifetime of a lot in calendar months (0: never expires).
    lot_lifetime_s
        Lifetime of a lot in seconds instead (None: ``expiry_months``).
    whole_units
        Top-ups to a target are rounded up to whole currency units (the portal's rule);
        when False they are exact to the micro-unit.
    low_balance
        Send a low-balance e-mail when the balance falls below this (None: never).
    allow_overshoot
        A charge larger than the balance takes it below zero (the call ran on); when
        False the charge stops at zero (the call is cut off).
    postpaid_from_s
        The instant the tenant moves from credits to postpaid (teams-credits.md §10.3),
        or None. From then on auto-recharge, scheduled purchases, payment retries and
        admins' top-ups stop; the remaining credit is used first (lots still expire) and
        the rest of every charge accrues to a monthly usage invoice (``postpaid``); calls
        are never refused for want of credit. A negative balance at the switch (a call
        that ran on past zero) stays owed on the credit balance.
    """

    def __init__(
        self,
        *,
        calendar: Calendar,
        recharge: Recharge,
        payment: Payment,
        admin: Admin,
        scheduler: Scheduler,
        rng_payments: np.random.Generator,
        rng_admin: np.random.Generator,
        expiry_months: int = 12,
        lot_lifetime_s: float | None = None,
        whole_units: bool = True,
        low_balance: Micros | None = None,
        allow_overshoot: bool = True,
        postpaid_from_s: float | None = None,
    ) -> None:
        self.calendar = calendar
        self.recharge = recharge
        self.payment = payment
        self.admin = admin
        self.scheduler = scheduler
        self.rng_payments = rng_payments
        self.rng_admin = rng_admin
        self.low_balance = low_balance
        self.allow_overshoot = allow_overshoot
        self.ledger = Ledger(calendar, expiry_months, lot_lifetime_s)
        self.whole_units = whole_units
        self.notifications: list[Notification] = []
        self.payments: list[PaymentRecord] = []
        self.auto_enabled = recharge.enabled
        self.card_renewed = False
        self.pending: Micros = Micros(0)
        self.in_flight = 0
        self.consecutive_declines = 0
        self.admin_pending = False
        self.admin_actions: list[float] = []
        self._card_void_s: float | None = None  # about when the card stops working
        self._started = False
        self._trigger_on = recharge.has_trigger
        # Expiry horizon: lots expiring at or before the bound count as forfeited for the
        # trigger. The bound moves only at events (a lot's check at expiry - horizon, a
        # purchase already inside the horizon, a poll), so debits never move it.
        self._horizon_s = recharge.expiry_horizon
        self._expiry_bound_s = float("-inf")
        self._expiry_armed_s: float | None = None  # the soonest expiry event due
        self._schedule_anchor_s = 0.0
        self._schedule_step_s = recharge.interval_s
        self.postpaid_from_s = postpaid_from_s
        self.switched = False
        self.postpaid: PostpaidAccount | None = None
        if postpaid_from_s is not None:
            self.postpaid = PostpaidAccount(calendar, start_s=max(postpaid_from_s, 0.0))

    # -- set-up ----------------------------------------------------------------------
    def start(
        self,
        t_s: float = 0.0,
        initial_funds: Micros = Micros(0),
        initial_purchased_at_s: float | None = None,
        lots: Sequence[OpeningLot] = (),
    ) -> None:
        """Post the opening lots and start the schedule and polling; call once, at the start.

        ``lots`` are held at the start: each enters the ledger at its purchase instant
        with what is left of it (in purchase order) and expires by the lifetime rule
        from that instant. ``initial_funds`` is one more lot, bought at
        ``initial_purchased_at_s`` (default: the start).
        """
        if self._started:
            raise RuntimeError("account already started")
        self._started = True
        held = sorted(
            ((self.calendar.to_sim(h.purchased), h) for h in lots), key=lambda pair: pair[0]
        )
        for bought_s, h in held:
            ref = f"held at the start: {format_money(h.amount)} bought"
            spent = Micros(h.amount - h.remaining)
            lot = self.ledger.purchase(bought_s, h.remaining, LotSource.INITIAL, ref, spent)
            self._watch_expiry(t_s, lot.expires_at_s)
        if initial_funds > 0:
            bought = t_s if initial_purchased_at_s is None else initial_purchased_at_s
            lot = self.ledger.purchase(bought, initial_funds, LotSource.INITIAL, "initial funds")
            self._watch_expiry(t_s, lot.expires_at_s)
        if held or initial_funds > 0:
            self.ledger.expire_due(t_s)
        if self.postpaid_from_s is not None:
            if self.postpaid_from_s <= t_s:
                self._switch(t_s)  # switched before the start: only held lots are left
            else:
                self.scheduler.schedule(self.postpaid_from_s, self._expire)
        if self.switched:
            return
        if self.recharge.policy == "scheduled":
            self._schedule_anchor_s = t_s
            self._buy_on_schedule(0, t_s)
        if self.recharge.check == "poll" and self.recharge.enabled:
            self.scheduler.schedule(t_s, self._poll)
        else:
            self._after_change(t_s, previous=self.ledger.balance)

    # -- views -----------------------------------------------------------------------
    @property
    def balance(self) -> Micros:
        """Settled balance (may be negative after an overshoot)."""
        return self.ledger.balance

    @property
    def position(self) -> Micros:
        """Balance plus payments requested but not yet settled."""
        return Micros(self.ledger.balance + self.pending)

    def has_credit(self, t_s: float) -> bool:
        """Return True when credit-funded calls may start at ``t_s`` (balance > 0).

        After the switch to postpaid (§10.3) they always may: usage is invoiced.
        """
        self._expire(t_s)
        return self.switched or self.ledger.balance > 0

    def reaction_thresholds(self) -> list[tuple[int, bool]]:
        """Return the debit totals at which the account would react, from now on.

        Each pair ``(v, strict)`` says: after a run of debits totalling ``x`` (with no
        other event in between), the account reacts (an e-mail or a recharge order) at
        the first debit with ``x > v`` when ``strict``, else ``x >= v``. These mirror
        what ``charge`` does after each debit.
        """
        out: list[tuple[int, bool]] = []
        balance = self.ledger.balance
        if balance > 0:
            out.append((balance, False))  # balance_zero: balance - x <= 0
        low = self.low_balance
        if low is not None and balance >= low:
            out.append((balance - low, True))  # low_balance: balance - x < low
        r = self.recharge
        if (
            r.check == "after_debit"
            and self.auto_enabled
            and self.in_flight < r.max_in_flight
            and self._trigger_on
        ):
            value = balance + self.pending if r.basis == "position" else balance
            v, strict = value - r.trigger, r.compare == "<"
            if self._horizon_s is not None:
                # Debits draw the expiring lots first, so after x the trigger sees
                # value - max(expiring, x): it reacts at once when the expiring funds
                # alone cross, else exactly where it would without the horizon.
                expiring = self.ledger.expiring_by(self._expiry_bound_s)
                if expiring > v if strict else expiring >= v:
                    v = min(v, -1)
            out.append((v, strict))  # trigger: value - x < trigger
        return out

    def reaction_index(self, balances_after: NDArray[np.int64]) -> int:
        """Return the first of a run of debits at which the account would react.

        ``balances_after`` are the balances after each debit of a run with no other event
        in between (so never increasing). Returns ``len(balances_after)`` when none would
        react. The batched engine posts the debits before that index together, which is
        then exactly the same as posting them one by one.
        """
        n = len(balances_after)
        debited = self.ledger.balance - balances_after
        first = n
        for v, strict in self.reaction_thresholds():
            first = min(first, _first(debited > v if strict else debited >= v, n))
        return first

    # -- operations ------------------------------------------------------------------
    def charge(self, t_s: float, amount: Micros, ref: str = "") -> DebitResult:
        """Debit a charge at ``t_s``; then e-mails and the trigger check follow.

        After the switch to postpaid the credit left is used first and the rest accrues
        to the usage invoice (``DebitResult.invoiced``).
        """
        self._expire(t_s)
        previous = self.ledger.balance
        if not self.switched:
            result = self.ledger.debit(t_s, amount, allow_overshoot=self.allow_overshoot, ref=ref)
            self._after_change(t_s, previous)
            return result
        assert self.postpaid is not None
        credit = Micros(min(amount, max(previous, 0)))
        drawn = self.ledger.debit(t_s, credit, ref=ref).drawn if credit else Micros(0)
        invoiced = Micros(amount - drawn)
        if invoiced:
            self.postpaid.charge(t_s, invoiced, ref)
        self._after_change(t_s, previous)
        return DebitResult(drawn=drawn, overshoot=Micros(0), uncharged=Micros(0), invoiced=invoiced)

    def buy_manual(self, t_s: float, amount: Micros) -> PaymentRecord:
        """Request a manual purchase (paid by card like any other)."""
        return self._request(t_s, amount, LotSource.MANUAL)

    # -- internals -------------------------------------------------------------------
    def _expire(self, t_s: float) -> None:
        if not self.switched and self.postpaid_from_s is not None and t_s >= self.postpaid_from_s:
            self._switch(self.postpaid_from_s)
        previous = self.ledger.balance
        if self.ledger.expire_due(t_s):
            self._after_change(t_s, previous)

    def _watch_expiry(self, t_s: float, expires_at_s: float) -> None:
        if expires_at_s == float("inf"):
            return
        self._arm_expiry(expires_at_s)
        horizon = self._horizon_s
        if horizon is None:
            return
        check_at = expires_at_s - horizon
        if check_at <= t_s:  # inside the horizon already
            self._expiry_bound_s = max(self._expiry_bound_s, expires_at_s)
        elif self.recharge.check == "after_debit":  # polls look ahead themselves
            self.scheduler.schedule(check_at, lambda now: self._expiry_check(now, expires_at_s))

    def _arm_expiry(self, at_s: float) -> None:
        """Have an expiry event due at ``at_s`` unless one is due sooner.

        Only the soonest-expiring lot with funds needs an event: when it fires, the next
        is armed (``_expiry_due``). A lot spent before its expiry then costs no event,
        and every forfeit still happens at its own instant.
        """
        armed = self._expiry_armed_s
        if armed is None or at_s < armed:
            self._expiry_armed_s = at_s
            self.scheduler.schedule(at_s, self._expiry_due)

    def _expiry_due(self, t_s: float) -> None:
        armed = self._expiry_armed_s
        if armed is not None and armed <= t_s:
            self._expiry_armed_s = None
        self._expire(t_s)
        nxt = self.ledger.next_expiry_s()
        if nxt is not None:
            self._arm_expiry(nxt)

    def _expiry_check(self, t_s: float, expires_at_s: float) -> None:
        """Count a lot that comes within the expiry horizon as forfeited for the trigger."""
        self._expire(t_s)
        self._expiry_bound_s = max(self._expiry_bound_s, expires_at_s)
        self._consider_recharge(t_s)

    def _switch(self, t_s: float) -> None:
        """Move to postpaid (§10.3): auto-recharge off; the credit left is used first."""
        self.switched = True
        self.auto_enabled = False
        self._trigger_on = False

    def _schedule_s(self, k: int) -> float:
        """Instant of the ``k``-th scheduled purchase (0: the start)."""
        if self._schedule_step_s is None:  # calendar months, like lot expiry
            return self.calendar.add_months_s(self._schedule_anchor_s, k)
        return self._schedule_anchor_s + k * self._schedule_step_s

    def _buy_on_schedule(self, k: int, t_s: float) -> None:
        self._expire(t_s)
        if self.switched:
            return  # purchases end with the switch to postpaid
        if self.auto_enabled:  # switched off after declines, like auto-recharge
            self._request(t_s, self.recharge.amount, LotSource.AUTO)
        self.scheduler.schedule(
            self._schedule_s(k + 1), lambda now: self._buy_on_schedule(k + 1, now)
        )

    def _after_change(self, t_s: float, previous: int) -> None:
        balance = self.ledger.balance
        if previous > 0 >= balance:
            self._notify(t_s, NotificationKind.BALANCE_ZERO, format_money(balance))
        if self.low_balance is not None and previous >= self.low_balance > balance:
            self._notify(t_s, NotificationKind.LOW_BALANCE, format_money(balance))
        if self.recharge.check == "after_debit":
            self._consider_recharge(t_s)

    def _poll(self, t_s: float) -> None:
        self._expire(t_s)
        if self.switched:
            return
        if self._horizon_s is not None:
            self._expiry_bound_s = max(self._expiry_bound_s, t_s + self._horizon_s)
        self._consider_recharge(t_s)
        self.scheduler.schedule(t_s + self.recharge.poll_interval, self._poll)

    def _consider_recharge(self, t_s: float) -> None:
        if not self.auto_enabled:
            return
        bound = self._expiry_bound_s
        expiring = 0 if self._horizon_s is None else self.ledger.expiring_by(bound)
        amount = self.recharge.order_amount(
            self.ledger.balance, self.pending, self.in_flight, expiring, self.whole_units
        )
        if amount > 0:
            self._request(t_s, amount, LotSource.AUTO)

    def _request(self, t_s: float, amount: Micros, source: LotSource) -> PaymentRecord:
        record = PaymentRecord(len(self.payments), source, amount, t_s)
        self.payments.append(record)
        self.pending = Micros(self.pending + amount)
        if source is LotSource.AUTO:
            self.in_flight += 1
        self._attempt(t_s, record)
        return record

    def _card_expired(self, t_s: float) -> bool:
        expires = self.payment.card_expires
        if expires is None or self.card_renewed:
            return False
        # Far from the card's last local midnight the answer needs no time-zone lookup.
        if self._card_void_s is None:
            end = datetime.combine(expires + timedelta(days=1), time())
            self._card_void_s = self.calendar.to_sim(end)
        if abs(t_s - self._card_void_s) > _TWO_DAYS_S:
            return t_s > self._card_void_s
        return self.calendar.to_datetime(t_s).date() > expires

    def _attempt(self, t_s: float, record: PaymentRecord) -> None:
        # Each attempt uses the same draws whatever the outcome (a delay, then one
        # uniform), so the payment stream stays aligned across settings.
        delay_s = self.payment.delay.sample(self.rng_payments)
        u = float(self.rng_payments.random())
        record.attempts += 1
        declined = self._card_expired(t_s) or u < self.payment.decline_probability
        requested_at = t_s

        def complete(now_s: float) -> None:
            record.attempt_log.append((requested_at, now_s, declined))
            self._complete(now_s, record, declined)

        self.scheduler.schedule(t_s + delay_s, complete)

    def _complete(self, t_s: float, record: PaymentRecord, declined: bool) -> None:
        self._expire(t_s)
        if declined:
            record.declines += 1
            self.consecutive_declines += 1
            self._notify(
                t_s,
                NotificationKind.RECHARGE_FAILED,
                f"payment {record.payment_id}: {format_money(record.amount)} declined",
            )
            limit = self.payment.disable_after_declines
            if limit and self.consecutive_declines >= limit and self.auto_enabled:
                self.auto_enabled = False
                self._notify(
                    t_s,
                    NotificationKind.AUTO_RECHARGE_DISABLED,
                    f"after {self.consecutive_declines} declined payments",
                )
            if record.attempts <= self.payment.max_retries and not self.switched:
                retry_at = t_s + self.payment.retry_delay_s(record.attempts)
                self.scheduler.schedule(retry_at, lambda now: self._attempt(now, record))
                return
            record.state = PaymentState.DECLINED
            record.completed_at_s = t_s
            self._settle_books(record)
            # No immediate re-check: the next debit or poll asks again, so a dead card
            # cannot loop at one instant.
            return
        record.state = PaymentState.SETTLED
        record.completed_at_s = t_s
        self.consecutive_declines = 0
        self._settle_books(record)
        previous = self.ledger.balance
        ref = f"payment {record.payment_id}"
        lot = self.ledger.purchase(t_s, record.amount, record.source, ref)
        self._watch_expiry(t_s, lot.expires_at_s)
        self._notify(
            t_s,
            NotificationKind.RECHARGE_SUCCEEDED,
            f"payment {record.payment_id}: {format_money(record.amount)} added",
        )
        self._after_change(t_s, previous)

    def _settle_books(self, record: PaymentRecord) -> None:
        self.pending = Micros(self.pending - record.amount)
        if record.source is LotSource.AUTO:
            self.in_flight -= 1

    def _notify(self, t_s: float, kind: NotificationKind, detail: str) -> None:
        self.notifications.append(Notification(t_s, kind, detail))
        if self.admin.reacts and kind.value in self.admin.responds_to and not self.admin_pending:
            self.admin_pending = True
            delay_s = self.admin.response_delay.sample(self.rng_admin)
            self.scheduler.schedule(t_s + delay_s, self._admin_acts)

    def _admin_acts(self, t_s: float) -> None:
        self.admin_pending = False
        self._expire(t_s)
        if self.switched:
            return  # nothing to buy or fix once usage is invoiced
        self.admin_actions.append(t_s)
        if self.admin.fixes_card:
            self.card_renewed = True
            self.consecutive_declines = 0
            if self.recharge.enabled:
                self.auto_enabled = True
        if self.admin.top_up > 0:
            self._request(t_s, self.admin.top_up, LotSource.MANUAL)
        self._consider_recharge(t_s)

    # -- checks ----------------------------------------------------------------------
    def invariants(self) -> None:
        """Check the ledger and the payment books; raise on any breach."""
        self.ledger.invariants()
        open_payments = [p for p in self.payments if p.state is PaymentState.REQUESTED]
        if self.pending != sum(p.amount for p in open_payments):
            raise AssertionError("pending != sum of open payments")
        settled = sum(p.amount for p in self.payments if p.state is PaymentState.SETTLED)
        bought = sum(lot.amount for lot in self.ledger.lots if lot.source is not LotSource.INITIAL)
        if settled != bought:
            raise AssertionError("settled payments differ from purchased lots")


def _first(mask: NDArray[np.bool_], n: int) -> int:
    """Index of the first True in ``mask``, or ``n``."""
    if n == 0:
        return 0
    i = int(np.argmax(mask))
    return i if mask[i] else n


@dataclass(frozen=True, slots=True)
class Invoice:
    """One postpaid invoice: a calendar month's usage, issued after the month ends."""

    month: str
    issued_at_s: float
    amount: Micros


class PostpaidAccount:
    """NCE/MCA billing: usage accumulates and is invoiced monthly in arrears.

    There is no balance to run out (``teams-credits.md`` §6); whether calls beyond the
    included minutes are refused (hard cap) is decided by rating.
    """

    def __init__(self, calendar: Calendar, start_s: float = 0.0) -> None:
        self.calendar = calendar
        self.start_s = start_s
        """Usage accrues from here (0, or the switch from credits, §10.3)."""
        self.invoices: list[Invoice] = []
        self.accrued: Micros = Micros(0)
        self.consumed_total: Micros = Micros(0)
        self._month = calendar.month_label(start_s)

    def has_credit(self, t_s: float) -> bool:
        """Postpaid usage is never blocked for want of funds."""
        return True

    def charge(self, t_s: float, amount: Micros, ref: str = "") -> Micros:
        """Accrue a charge to the current month's invoice."""
        if amount < 0:
            raise ValueError("a charge must be >= 0")
        self.accrued = Micros(self.accrued + amount)
        self.consumed_total = Micros(self.consumed_total + amount)
        return amount

    def close_month(self, t_s: float) -> Invoice:
        """Issue the invoice for the month that ends at ``t_s`` and start the next."""
        invoice = Invoice(self._month, t_s, self.accrued)
        self.invoices.append(invoice)
        self.accrued = Micros(0)
        self._month = self.calendar.month_label(t_s)
        return invoice

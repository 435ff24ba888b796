"""The communications-credit ledger: purchase lots, spending order, expiry, overshoot.

Rules (``teams-credits.md`` §5 and §9):

- every purchase (initial, manual or automatic) is its own lot, never merged;
- a lot expires a fixed number of calendar months (12) after its purchase instant, in the
  scenario's local time, the day clamped to the month's end (or, for studies, a fixed
  duration after it); from that instant it cannot be spent, and its unused remainder is
  forfeited as an ``expire`` entry;
- a lot held at the start (a purchase history) enters with what is left of it, at its
  purchase instant, and keeps that instant's expiry;
- lots are spent soonest-expiry first (with equal lifetimes this is first-in first-out);
  a debit spanning several lots records one ``consume`` entry per lot;
- a debit larger than the balance may overshoot below zero (a call already in progress);
  the shortfall is an ``overshoot`` entry, and the next lot repays it first (``repay``).

All amounts are integer micro-units. Entries are append-only and carry the balance after
each. ``Ledger.invariants()`` replays the entries and checks every rule above.

Imports only ``sim.core.units``; no SimPy.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from mypy_extensions import mypyc_attr

from sim.core.units import Calendar, Micros


class LotSource(StrEnum):
    """How a lot was bought."""

    INITIAL = "initial"
    MANUAL = "manual"
    AUTO = "auto"


class EntryKind(StrEnum):
    """Kinds of ledger entries."""

    PURCHASE = "purchase"  # a settled purchase adds a lot (+)
    CONSUME = "consume"  # a charge drawn from one lot (-)
    OVERSHOOT = "overshoot"  # a charge beyond the balance: debt below zero (-)
    REPAY = "repay"  # a new lot pays back the debt (balance unchanged)
    EXPIRE = "expire"  # a lot's remainder forfeited at its expiry instant (-)


CLOCK_TOLERANCE_S = 1e-6
"""Instants closer than this are the same instant: the simulation clock adds float
delays, so an event and a charge meant for one instant can differ in the last bit."""


@mypyc_attr(native_class=False)  # compiled (sim.core.native), an exception stays a Python class
class LedgerError(RuntimeError):
    """A ledger rule was broken: a bug, never bad input."""


@dataclass(slots=True)
class Lot:
    """One purchase of credits and what is left of it."""

    lot_id: int
    amount: Micros
    purchased_at_s: float
    expires_at_s: float
    source: LotSource
    remaining: Micros
    spent_before: Micros = Micros(0)
    """Of a lot held at the start: what was spent of the purchase before the start
    (``amount`` is what the run received: the purchase less this)."""

    def is_usable(self, t_s: float) -> bool:
        """Return True when the lot has funds and has not expired at ``t_s``."""
        return self.remaining > 0 and t_s < self.expires_at_s


class LedgerEntry(NamedTuple):
    """One movement of money (immutable; a named tuple, quick to make: a run posts many).

    ``amount`` is the signed change of the balance (debits < 0); ``lot_amount`` is the
    signed change of lot ``lot_id`` (a repayment moves money out of a lot without
    changing the balance). ``lot_id`` is -1 for an overshoot, which touches no lot.
    """

    seq: int
    t_s: float
    kind: EntryKind
    amount: Micros
    lot_id: int
    lot_amount: Micros
    balance_after: Micros
    ref: str = ""


class DebitResult(NamedTuple):
    """What a debit did: drawn from lots, charged below zero, and left uncharged.

    ``invoiced``: after a switch to postpaid (teams-credits.md §10.3), the part billed to
    the usage invoice because the credit was used up (the account sets it; never the
    ledger).
    """

    drawn: Micros
    overshoot: Micros
    uncharged: Micros
    invoiced: Micros = Micros(0)

    @property
    def charged(self) -> Micros:
        """Amount actually charged (drawn plus overshoot)."""
        return Micros(self.drawn + self.overshoot)


class Ledger:
    """Prepaid credit balance kept as lots and an append-only list of entries.

    Operations must be called in non-decreasing time order. Lots that expire up to the
    time of an operation are forfeited first, each at its own expiry instant.

    Parameters
    ----------
    calendar
        Maps the simulation clock to local time for the calendar-month expiry.
    expiry_months
        Lifetime of a lot in calendar months; 0 means lots never expire.
    lifetime_s
        Lifetime of a lot in seconds instead of months (None: months).
    """

    def __init__(
        self, calendar: Calendar, expiry_months: int = 12, lifetime_s: float | None = None
    ) -> None:
        if expiry_months < 0:
            raise ValueError("expiry_months must be >= 0")
        if lifetime_s is not None and not lifetime_s > 0:
            raise ValueError("lifetime_s must be > 0")
        self.calendar = calendar
        self.expiry_months = expiry_months
        self.lifetime_s = lifetime_s
        self.lots: list[Lot] = []
        self.entries: list[LedgerEntry] = []
        self._open: list[Lot] = []  # lots with remaining > 0, sorted by (expiry, id)
        self._open_keys: list[tuple[float, int]] = []
        self.balance: Micros = Micros(0)
        self.debt: Micros = Micros(0)
        self.now_s: float = float("-inf")
        self.purchased_total: Micros = Micros(0)
        self.consumed_total: Micros = Micros(0)
        self.expired_total: Micros = Micros(0)

    # -- views ---------------------------------------------------------------------
    @property
    def usable_balance(self) -> Micros:
        """Funds in usable lots (not counting debt)."""
        return Micros(sum(lot.remaining for lot in self._open))

    def next_expiry_s(self) -> float | None:
        """Expiry instant of the soonest-expiring lot that still holds funds."""
        return self._open[0].expires_at_s if self._open else None

    def expiring_by(self, bound_s: float) -> Micros:
        """Funds in the lots that expire at or before ``bound_s`` (spent first)."""
        total = 0
        for lot in self._open:
            if lot.expires_at_s > bound_s:
                break
            total += lot.remaining
        return Micros(total)

    def expires_at(self, purchased_at_s: float) -> float:
        """Expiry instant of a lot bought at ``purchased_at_s``."""
        if self.lifetime_s is not None:
            return purchased_at_s + self.lifetime_s
        if self.expiry_months == 0:
            return float("inf")
        return self.calendar.add_months_s(purchased_at_s, self.expiry_months)

    # -- operations ----------------------------------------------------------------
    def purchase(
        self,
        t_s: float,
        amount: Micros,
        source: LotSource,
        ref: str = "",
        spent_before: Micros = Micros(0),
    ) -> Lot:
        """Add a settled purchase as a new lot; repay any overshoot from it first.

        ``spent_before``: of a lot held at the start, what was spent before it (recorded on
        the lot only; ``amount`` is what is left and enters the ledger).
        """
        if amount <= 0:
            raise LedgerError(f"a purchase must be > 0, got {amount}")
        if spent_before < 0:
            raise LedgerError(f"spent_before must be >= 0, got {spent_before}")
        self.expire_due(t_s)
        lot = Lot(
            lot_id=len(self.lots),
            amount=amount,
            purchased_at_s=t_s,
            expires_at_s=self.expires_at(t_s),
            source=source,
            remaining=amount,
            spent_before=spent_before,
        )
        self.lots.append(lot)
        self.purchased_total = Micros(self.purchased_total + amount)
        self.balance = Micros(self.balance + amount)
        self._post(t_s, EntryKind.PURCHASE, amount, lot.lot_id, amount, ref)
        if self.debt > 0:
            repaid = Micros(min(self.debt, amount))
            lot.remaining = Micros(lot.remaining - repaid)
            self.debt = Micros(self.debt - repaid)
            self._post(t_s, EntryKind.REPAY, Micros(0), lot.lot_id, Micros(-repaid), ref)
        if lot.remaining > 0 and lot.expires_at_s > t_s:
            self._insert_open(lot)
        return lot

    def debit(
        self, t_s: float, amount: Micros, *, allow_overshoot: bool = True, ref: str = ""
    ) -> DebitResult:
        """Charge ``amount`` at ``t_s``, soonest-expiring lot first.

        Without ``allow_overshoot`` the charge stops at zero and the rest is returned as
        ``uncharged`` (a call cut off when the credit runs out).
        """
        if amount < 0:
            raise LedgerError(f"a debit must be >= 0, got {amount}")
        self.expire_due(t_s)
        left = amount
        while left > 0 and self._open:
            lot = self._open[0]
            take = Micros(min(lot.remaining, left))
            lot.remaining = Micros(lot.remaining - take)
            left = Micros(left - take)
            self.balance = Micros(self.balance - take)
            self._post(t_s, EntryKind.CONSUME, Micros(-take), lot.lot_id, Micros(-take), ref)
            if lot.remaining == 0:
                self._pop_open(0)
        drawn = Micros(amount - left)
        overshoot = Micros(0)
        if left > 0 and allow_overshoot:
            overshoot = left
            left = Micros(0)
            self.debt = Micros(self.debt + overshoot)
            self.balance = Micros(self.balance - overshoot)
            self._post(t_s, EntryKind.OVERSHOOT, Micros(-overshoot), -1, Micros(0), ref)
        self.consumed_total = Micros(self.consumed_total + drawn + overshoot)
        return DebitResult(drawn=drawn, overshoot=overshoot, uncharged=left)

    def expire_due(self, t_s: float) -> list[LedgerEntry]:
        """Forfeit every lot whose expiry instant is at or before ``t_s``."""
        if t_s < self.now_s - CLOCK_TOLERANCE_S:
            raise LedgerError(f"time went backwards: {t_s} < {self.now_s}")
        if not self._open or self._open[0].expires_at_s > t_s:  # the usual case: nothing due
            if t_s > self.now_s:
                self.now_s = t_s
            return []
        posted: list[LedgerEntry] = []
        while self._open and self._open[0].expires_at_s <= t_s:
            lot = self._open[0]
            self._pop_open(0)
            forfeited = lot.remaining
            lot.remaining = Micros(0)
            self.balance = Micros(self.balance - forfeited)
            self.expired_total = Micros(self.expired_total + forfeited)
            posted.append(
                self._post(
                    lot.expires_at_s,
                    EntryKind.EXPIRE,
                    Micros(-forfeited),
                    lot.lot_id,
                    Micros(-forfeited),
                    "expiry",
                )
            )
        self.now_s = max(self.now_s, t_s)
        return posted

    # -- internals -----------------------------------------------------------------
    def _post(
        self,
        t_s: float,
        kind: EntryKind,
        amount: Micros,
        lot_id: int,
        lot_amount: Micros,
        ref: str,
    ) -> LedgerEntry:
        if t_s > self.now_s:
            self.now_s = t_s
        # At the clock at least: instants a rounding error apart keep their order.
        entry = LedgerEntry(
            len(self.entries), self.now_s, kind, amount, lot_id, lot_amount, self.balance, ref
        )
        self.entries.append(entry)
        return entry

    def _insert_open(self, lot: Lot) -> None:
        key = (lot.expires_at_s, lot.lot_id)
        i = bisect.bisect(self._open_keys, key)
        self._open_keys.insert(i, key)
        self._open.insert(i, lot)

    def _pop_open(self, i: int) -> None:
        del self._open_keys[i]
        del self._open[i]

    # -- checks --------------------------------------------------------------------
    def invariants(self) -> None:
        """Replay every entry and check the ledger's rules; raise ``LedgerError``."""
        check_entries(self.entries, self.lots)
        if self.balance != self.purchased_total - self.consumed_total - self.expired_total:
            raise LedgerError("conservation broken: purchased - consumed - expired != balance")
        if self.balance != sum(lot.remaining for lot in self.lots) - self.debt:
            raise LedgerError("balance != lots remaining - debt")
        if self.debt > 0 and any(lot.remaining > 0 for lot in self.lots):
            raise LedgerError("debt outstanding while a lot still holds funds")


def check_entries(entries: Sequence[LedgerEntry], lots: Sequence[Lot]) -> None:
    """Check a ledger's entries against its lots; raise ``LedgerError`` on any breach.

    Checked: sequence numbers and time order; the balance chain; each lot's movements
    (never negative, matching its final remainder); spending order (every draw from a
    lot happens while no usable lot expiring sooner holds funds); nothing drawn from a
    lot at or after its expiry; forfeiture exactly at the expiry instant; repayment only
    of outstanding debt; conservation of the totals.
    """
    remaining = {lot.lot_id: 0 for lot in lots}
    funded: set[int] = set()  # lots whose remainder is > 0 (few at any time)
    by_id = {lot.lot_id: lot for lot in lots}
    balance = 0
    debt = 0
    last_t = float("-inf")
    purchased = consumed = expired = 0
    overshoot, purchase, consume = EntryKind.OVERSHOOT, EntryKind.PURCHASE, EntryKind.CONSUME
    repay, expire = EntryKind.REPAY, EntryKind.EXPIRE
    for i, e in enumerate(entries):
        if e.seq != i:
            raise LedgerError(f"entry {i}: sequence number {e.seq}")
        if e.t_s < last_t:
            raise LedgerError(f"entry {i}: time {e.t_s} before {last_t}")
        last_t = e.t_s
        balance += e.amount
        if e.balance_after != balance:
            raise LedgerError(f"entry {i}: balance_after {e.balance_after} != {balance}")
        if e.kind is overshoot:
            if e.amount >= 0 or e.lot_id != -1:
                raise LedgerError(f"entry {i}: malformed overshoot")
            if any(by_id[k].expires_at_s > e.t_s for k in funded):
                raise LedgerError(f"entry {i}: overshoot while a usable lot held funds")
            debt -= e.amount
            consumed -= e.amount
            continue
        lot = by_id.get(e.lot_id)
        if lot is None:
            raise LedgerError(f"entry {i}: unknown lot {e.lot_id}")
        if e.kind is purchase:
            if e.amount <= 0 or e.lot_amount != e.amount or e.amount != lot.amount:
                raise LedgerError(f"entry {i}: malformed purchase")
            purchased += e.amount
        elif e.kind is consume:
            if e.amount >= 0 or e.lot_amount != e.amount:
                raise LedgerError(f"entry {i}: malformed consume")
            if e.t_s >= lot.expires_at_s:
                raise LedgerError(f"entry {i}: drew from lot {lot.lot_id} after its expiry")
            # Only another funded lot can expire sooner (usually the lot drawn is alone).
            if len(funded) > 1 or (funded and lot.lot_id not in funded):
                mine = (lot.expires_at_s, lot.lot_id)
                sooner = [
                    k
                    for k in funded
                    if e.t_s < by_id[k].expires_at_s and (by_id[k].expires_at_s, k) < mine
                ]
                if sooner:
                    raise LedgerError(
                        f"entry {i}: drew from lot {lot.lot_id} while lot {min(sooner)} "
                        "expires sooner and holds funds"
                    )
            consumed -= e.amount
        elif e.kind is repay:
            if e.amount != 0 or e.lot_amount >= 0 or -e.lot_amount > debt:
                raise LedgerError(f"entry {i}: malformed repayment")
            debt += e.lot_amount
        elif e.kind is expire:
            if abs(e.t_s - lot.expires_at_s) > CLOCK_TOLERANCE_S:
                raise LedgerError(f"entry {i}: lot {lot.lot_id} forfeited off its expiry instant")
            if e.amount != e.lot_amount or -e.amount != remaining[lot.lot_id]:
                raise LedgerError(f"entry {i}: forfeited amount differs from the remainder")
            expired -= e.amount
        left = remaining[lot.lot_id] + e.lot_amount
        remaining[lot.lot_id] = left
        if left < 0:
            raise LedgerError(f"entry {i}: lot {lot.lot_id} went negative")
        if left > 0:
            funded.add(lot.lot_id)
        else:
            funded.discard(lot.lot_id)
    for lot in lots:
        if remaining[lot.lot_id] != lot.remaining:
            raise LedgerError(f"lot {lot.lot_id}: entries leave {remaining[lot.lot_id]}")
    if balance != purchased - consumed - expired:
        raise LedgerError("conservation broken in the entries")

"""Ledger rules: lots, spending order, expiry, overshoot (teams-credits.md §5, §9)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from sim.billing.ledger import EntryKind, Ledger, LedgerError, LotSource
from sim.core.units import Calendar, parse_money

DAY = 86400.0


def m(text: str) -> int:
    return parse_money(text)


@pytest.fixture
def cal() -> Calendar:
    return Calendar.from_local(date(2026, 1, 1), "America/New_York")


def kinds(ledger: Ledger) -> list[str]:
    return [e.kind.value for e in ledger.entries]


def test_each_purchase_is_its_own_lot(cal):
    led = Ledger(cal)
    led.purchase(0, m("100"), LotSource.INITIAL)
    led.purchase(10, m("100"), LotSource.AUTO)
    assert [lot.amount for lot in led.lots] == [m("100"), m("100")]
    assert led.balance == m("200")
    led.invariants()


def test_debit_spanning_lots_records_one_entry_per_lot_oldest_first(cal):
    led = Ledger(cal)
    led.purchase(0, m("30"), LotSource.INITIAL)
    led.purchase(5, m("50"), LotSource.MANUAL)
    led.purchase(6, m("50"), LotSource.AUTO)
    led.debit(10, m("100"))
    consumes = [e for e in led.entries if e.kind is EntryKind.CONSUME]
    assert [(e.lot_id, e.amount) for e in consumes] == [(0, -m("30")), (1, -m("50")), (2, -m("20"))]
    assert led.balance == m("30")
    led.invariants()


def test_spending_order_is_soonest_expiry_not_purchase_order(cal):
    # A lot bought before the start (older) expires sooner and is spent first.
    led = Ledger(cal)
    led.purchase(-100 * DAY, m("40"), LotSource.INITIAL)
    led.purchase(0, m("40"), LotSource.MANUAL)
    led.debit(1, m("10"))
    assert led.entries[-1].lot_id == 0
    led.invariants()


def test_expiry_is_twelve_calendar_months_local_31_march(cal):
    led = Ledger(cal)
    bought = cal.to_sim(datetime(2026, 3, 31, 14, 0))
    lot = led.purchase(bought, m("100"), LotSource.MANUAL)
    expiry = cal.to_datetime(lot.expires_at_s)
    assert (expiry.year, expiry.month, expiry.day, expiry.hour) == (2027, 3, 31, 14)


def test_expiry_29_february_clamps_to_28_february():
    cal = Calendar.from_local(date(2024, 1, 1), "UTC")
    led = Ledger(cal)
    lot = led.purchase(cal.to_sim(datetime(2024, 2, 29)), m("60"), LotSource.MANUAL)
    assert cal.to_datetime(lot.expires_at_s).date() == date(2025, 2, 28)


def test_lot_unusable_from_the_expiry_instant(cal):
    led = Ledger(cal)
    lot = led.purchase(0, m("100"), LotSource.INITIAL)
    led.debit(lot.expires_at_s - 1e-3, m("1"))
    assert led.balance == m("99")
    result = led.debit(lot.expires_at_s, m("1"))
    assert result.drawn == 0
    assert result.overshoot == m("1")
    expire = [e for e in led.entries if e.kind is EntryKind.EXPIRE]
    assert len(expire) == 1
    assert expire[0].t_s == lot.expires_at_s
    assert expire[0].amount == -m("99")
    assert led.expired_total == m("99")
    led.invariants()


def test_expiry_forfeits_only_the_remainder_and_posts_at_its_instant(cal):
    led = Ledger(cal)
    a = led.purchase(0, m("100"), LotSource.INITIAL)
    led.debit(DAY, m("70"))
    led.purchase(30 * DAY, m("100"), LotSource.AUTO)
    posted = led.expire_due(400 * DAY)
    assert next((e.lot_id, e.amount, e.t_s) for e in posted) == (0, -m("30"), a.expires_at_s)
    assert led.balance == 0
    assert kinds(led).count("expire") == 2
    led.invariants()


def test_never_expiring_lots(cal):
    led = Ledger(cal, expiry_months=0)
    led.purchase(0, m("5"), LotSource.INITIAL)
    assert led.expire_due(10_000 * DAY) == []
    assert led.balance == m("5")


def test_overshoot_below_zero_is_repaid_first_by_next_lot(cal):
    led = Ledger(cal)
    led.purchase(0, m("10"), LotSource.INITIAL)
    res = led.debit(1, m("12.50"))
    assert (res.drawn, res.overshoot, res.uncharged) == (m("10"), m("2.50"), 0)
    assert led.balance == -m("2.50")
    lot = led.purchase(2, m("100"), LotSource.AUTO)
    assert led.balance == m("97.50")
    assert lot.remaining == m("97.50")
    assert led.debt == 0
    assert kinds(led)[-2:] == ["purchase", "repay"]
    led.invariants()


def test_debt_larger_than_a_lot_is_repaid_over_several_lots(cal):
    led = Ledger(cal, expiry_months=0)
    led.debit(0, m("75"))
    led.purchase(1, m("50"), LotSource.AUTO)
    assert led.balance == -m("25")
    assert led.debt == m("25")
    led.purchase(2, m("50"), LotSource.AUTO)
    assert led.balance == m("25")
    assert led.debt == 0
    led.invariants()


def test_cut_off_at_zero_leaves_the_rest_uncharged(cal):
    led = Ledger(cal)
    led.purchase(0, m("10"), LotSource.INITIAL)
    res = led.debit(1, m("12"), allow_overshoot=False)
    assert (res.drawn, res.overshoot, res.uncharged) == (m("10"), 0, m("2"))
    assert led.balance == 0
    led.invariants()


def test_conservation_and_balance_after_chain(cal):
    led = Ledger(cal)
    led.purchase(0, m("200"), LotSource.INITIAL)
    for i in range(50):
        led.debit(i * DAY, m("3.333333"))
    led.purchase(60 * DAY, m("50"), LotSource.AUTO)
    led.expire_due(800 * DAY)
    assert led.balance == led.purchased_total - led.consumed_total - led.expired_total
    running = 0
    for e in led.entries:
        running += e.amount
        assert e.balance_after == running
    led.invariants()


def test_time_must_not_go_backwards(cal):
    led = Ledger(cal)
    led.purchase(10, m("1"), LotSource.INITIAL)
    with pytest.raises(LedgerError, match="backwards"):
        led.debit(5, m("1"))


def test_invariants_catch_tampering(cal):
    led = Ledger(cal)
    led.purchase(0, m("100"), LotSource.INITIAL)
    led.purchase(1, m("100"), LotSource.AUTO)
    led.debit(2, m("10"))
    # Pretend the debit came from the newer lot: spending order is broken.
    bad = led.entries[-1]
    led.entries[-1] = type(bad)(**{**{f: getattr(bad, f) for f in bad.__slots__}, "lot_id": 1})
    led.lots[0].remaining = m("100")
    led.lots[1].remaining = m("90")
    with pytest.raises(LedgerError, match="expires sooner"):
        led.invariants()


def test_invalid_amounts_are_bugs(cal):
    led = Ledger(cal)
    with pytest.raises(LedgerError):
        led.purchase(0, 0, LotSource.MANUAL)
    with pytest.raises(LedgerError):
        led.debit(0, -1)

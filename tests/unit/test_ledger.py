"""Ledger rules: lots, spending order, expiry, overshoot (teams-credits.md §5, §9)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from sim.billing.account import CreditAccount, HeapScheduler
from sim.billing.ledger import EntryKind, Ledger, LedgerError, LotSource
from sim.billing.policies import Admin, OpeningLot, Payment, Recharge
from sim.core.schema import ConfigError
from sim.core.units import Calendar, parse_money
from sim.scenario.model import Scenario

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
    led.entries[-1] = bad._replace(lot_id=1)
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


# -- Lot lifetime as a duration; lots held at the start ------------------------------


def test_lot_lifetime_as_a_duration(cal):
    led = Ledger(cal, lifetime_s=90 * DAY)
    lot = led.purchase(5.0, m("100"), LotSource.MANUAL)
    assert lot.expires_at_s == 5.0 + 90 * DAY
    led.debit(DAY, m("30"))
    assert led.expire_due(5.0 + 90 * DAY)[0].amount == -m("70")
    led.invariants()
    with pytest.raises(ValueError, match="lifetime_s"):
        Ledger(cal, lifetime_s=0)


def test_expiring_by_sums_the_soonest_expiring_lots(cal):
    led = Ledger(cal, lifetime_s=10 * DAY)
    led.purchase(0, m("100"), LotSource.INITIAL)
    led.purchase(DAY, m("50"), LotSource.AUTO)
    led.purchase(2 * DAY, m("20"), LotSource.AUTO)
    assert led.expiring_by(-1.0) == 0
    assert led.expiring_by(10 * DAY) == m("100")
    assert led.expiring_by(11 * DAY) == m("150")
    led.debit(3 * DAY, m("120"))  # the soonest lot first, then the next
    assert led.expiring_by(11 * DAY) == m("30")
    assert led.expiring_by(float("inf")) == m("50")


def held_account(lots, expiry_months=12, lot_lifetime_s=None, start=date(2026, 1, 1)):
    sched = HeapScheduler()
    calendar = Calendar.from_local(start, "Europe/Berlin")
    acc = CreditAccount(
        calendar=calendar,
        recharge=Recharge(policy="none"),
        payment=Payment(),
        admin=Admin(responds_to=()),
        scheduler=sched,
        rng_payments=np.random.default_rng(0),
        rng_admin=np.random.default_rng(1),
        expiry_months=expiry_months,
        lot_lifetime_s=lot_lifetime_s,
    )
    acc.start(0.0, lots=lots)
    return acc, sched, calendar


def test_lots_held_at_the_start_keep_their_purchase_dates_and_expire_from_them():
    lots = [
        OpeningLot(m("500"), m("120"), datetime(2025, 11, 3, 10)),
        OpeningLot(m("200"), m("200"), datetime(2025, 3, 31)),
        OpeningLot(m("80.50"), m("0.000001"), datetime(2025, 12, 24)),
    ]
    acc, sched, calendar = held_account(lots)
    led = acc.ledger
    assert acc.balance == m("320.000001")
    # Posted in purchase order, each at its purchase instant, with what is left of it.
    bought = [calendar.to_datetime(lot.purchased_at_s).replace(tzinfo=None) for lot in led.lots]
    assert bought == [datetime(2025, 3, 31), datetime(2025, 11, 3, 10), datetime(2025, 12, 24)]
    assert [lot.amount for lot in led.lots] == [m("200"), m("120"), m("0.000001")]
    assert [lot.spent_before for lot in led.lots] == [0, m("380"), m("80.499999")]
    assert {lot.source for lot in led.lots} == {LotSource.INITIAL}
    expires = [calendar.to_datetime(lot.expires_at_s).replace(tzinfo=None) for lot in led.lots]
    assert expires == [datetime(2026, 3, 31), datetime(2026, 11, 3, 10), datetime(2026, 12, 24)]
    # Soonest expiry first: the March lot is spent before the others.
    acc.charge(DAY, m("150"))
    assert [lot.remaining for lot in led.lots] == [m("50"), m("120"), m("0.000001")]
    sched.run_until(calendar.to_sim(datetime(2027, 1, 1)))
    acc.has_credit(calendar.to_sim(datetime(2027, 1, 1)))
    assert led.expired_total == m("170.000001")
    assert led.balance == led.purchased_total - led.consumed_total - led.expired_total == 0
    acc.invariants()


def test_lots_held_at_the_start_follow_a_duration_lifetime():
    acc, _, calendar = held_account(
        [OpeningLot(m("100"), m("60"), datetime(2025, 12, 1))], lot_lifetime_s=90 * DAY
    )
    lot = acc.ledger.lots[0]
    assert lot.expires_at_s == calendar.to_sim(datetime(2025, 12, 1)) + 90 * DAY
    assert acc.ledger.next_expiry_s() == lot.expires_at_s


def funding_error(funding, start="2026-01-01T00:00:00", **sections) -> str:
    data = {"simulation": {"start": start, "horizon": "30d"}, "funding": funding, **sections}
    with pytest.raises(ConfigError) as exc:
        Scenario.from_dict(data)
    return str(exc.value)


def lot(amount="100", remaining="50", purchased="2025-06-01"):
    return {"amount": amount, "remaining": remaining, "purchased": purchased}


@pytest.mark.parametrize(
    ("funding", "path", "fragment"),
    [
        ({"lots": [lot(), lot(remaining="150")]}, "funding.lots[1].remaining", "at most"),
        ({"lots": [lot(remaining="0")]}, "funding.lots[0].remaining", "must be > 0"),
        ({"lots": [lot(amount="-1")]}, "funding.lots[0].amount", "must be > 0"),
        ({"lots": [lot(purchased="soon")]}, "funding.lots[0].purchased", "date"),
        ({"lots": [{"amount": "1"}]}, "funding.lots[0].remaining", "missing required key"),
        (
            {"lots": [lot(), lot(), lot(purchased="2024-12-31")]},
            "funding.lots[2].purchased",
            "expired on 2025-12-31 00:00, at or before simulation.start",
        ),
        (
            {"lots": [lot(purchased="2025-12-01")], "lot_lifetime": "30d"},
            "funding.lots[0].purchased",
            "expired on 2025-12-31",
        ),
        ({"lots": [lot(purchased="2026-01-02")]}, "funding.lots[0].purchased", "after"),
        ({"lots": [lot()], "initial_funds": "100"}, "funding.lots", "initial_funds"),
        ({"lots": [lot()], "mode": "postpaid"}, "funding.lots", "postpaid"),
        ({"lot_lifetime": "90d", "expiry_months": 6}, "funding.lot_lifetime", "expiry_months"),
        ({"lot_lifetime": "0s"}, "funding.lot_lifetime", "> 0"),
    ],
)
def test_funding_lots_and_lifetime_errors_name_the_field(funding, path, fragment):
    message = funding_error(funding)
    assert message.startswith(f"{path}: "), message
    assert fragment in message


def test_funding_lots_load_and_give_the_opening_balance():
    s = Scenario.from_dict(
        {
            "simulation": {"start": "2026-01-01T00:00:00", "horizon": "30d"},
            "funding": {
                "lots": [lot(), lot("500", "499.99", "2025-12-31T23:00:00")],
                "lot_lifetime": "400d",
                "portal_rules": True,  # history is not checked against today's portal
            },
        }
    )
    assert s.funding.opening_balance == m("549.99")
    assert s.funding.lots[1].purchased == datetime(2025, 12, 31, 23)
    assert s.funding.lot_lifetime == 400 * DAY

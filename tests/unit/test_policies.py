"""Recharge rules, payments, e-mails and admins (teams-credits.md §4, §5, §6)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from sim.billing.account import CreditAccount, HeapScheduler, PaymentState, PostpaidAccount
from sim.billing.ledger import EntryKind, LotSource
from sim.billing.policies import Admin, NotificationKind, Payment, Recharge
from sim.core.distributions import Delay
from sim.core.schema import ConfigError, FieldError
from sim.core.units import Calendar, parse_money
from sim.scenario.model import Scenario

HOUR = 3600.0
DAY = 86400.0
NO_ADMIN = Admin(responds_to=())


def m(text: str) -> int:
    return parse_money(text)


# -- Recharge.order_amount ----------------------------------------------------------


def test_fixed_fires_strictly_below_trigger_by_default():
    r = Recharge(trigger=m("100"), amount=m("250"))
    assert r.order_amount(m("99.99"), 0, 0) == m("250")
    assert r.order_amount(m("100"), 0, 0) == 0


def test_fixed_at_or_below():
    r = Recharge(trigger=m("100"), amount=m("250"), compare="<=")
    assert r.order_amount(m("100"), 0, 0) == m("250")
    assert r.order_amount(m("100.01"), 0, 0) == 0


def test_position_basis_counts_pending():
    r = Recharge(trigger=m("100"), amount=m("250"), basis="position", max_in_flight=5)
    assert r.order_amount(m("10"), m("250"), 1) == 0
    assert r.order_amount(m("10"), m("50"), 1) == m("250")


def test_in_flight_limit():
    r = Recharge(trigger=m("100"), amount=m("250"), max_in_flight=2)
    assert r.order_amount(m("10"), 0, 1) == m("250")
    assert r.order_amount(m("10"), 0, 2) == 0


def test_top_up_to_target_rounds_up_to_whole_units():
    r = Recharge(policy="target", trigger=m("100"), target=m("500"))
    assert r.order_amount(m("99.50"), 0, 0) == m("401")
    assert r.order_amount(m("-20"), 0, 0) == m("520")


@pytest.mark.parametrize(
    ("balance", "compare", "expected"),
    [
        ("99", "<", "50"),
        ("0", "<", "100"),
        ("-1", "<", "150"),
        ("50", "<=", "100"),
        ("0", "<=", "150"),
    ],
)
def test_multiples_get_back_above_trigger(balance, compare, expected):
    r = Recharge(policy="multiples", trigger=m("100"), amount=m("50"), compare=compare)
    got = r.order_amount(m(balance), 0, 0)
    assert got == m(expected)
    assert not r.is_triggered(m(balance) + got, 0)


def test_none_never_fires():
    assert Recharge(policy="none").order_amount(-(10**12), 0, 0) == 0


def test_retry_backoff():
    p = Payment(retry_after=HOUR, retry_backoff=2.0)
    assert [p.retry_delay_s(k) for k in (1, 2, 3)] == [HOUR, 2 * HOUR, 4 * HOUR]


# -- CreditAccount ------------------------------------------------------------------


def make(
    recharge=None,
    payment=None,
    admin=NO_ADMIN,
    initial="500",
    low_balance=None,
    expiry_months=12,
    allow_overshoot=True,
    seed=1,
):
    sched = HeapScheduler()
    cal = Calendar.from_local(date(2026, 1, 1), "UTC")
    acc = CreditAccount(
        calendar=cal,
        recharge=recharge or Recharge(trigger=m("100"), amount=m("250")),
        payment=payment or Payment(delay=Delay.fixed(600)),
        admin=admin,
        scheduler=sched,
        rng_payments=np.random.default_rng(seed),
        rng_admin=np.random.default_rng(seed + 1),
        expiry_months=expiry_months,
        low_balance=None if low_balance is None else m(low_balance),
        allow_overshoot=allow_overshoot,
    )
    acc.start(0.0, m(initial))
    return acc, sched


def charge(acc, sched, t, amount):
    sched.run_until(t)
    return acc.charge(t, m(amount))


def test_recharge_fires_after_the_debit_that_crosses_and_settles_after_delay():
    acc, sched = make()
    charge(acc, sched, 10, "399.99")
    assert acc.payments == []
    charge(acc, sched, 20, "0.02")  # 99.99 < 100
    assert len(acc.payments) == 1
    assert acc.payments[0].requested_at_s == 20
    assert acc.balance == m("99.99")
    assert acc.position == m("349.99")
    sched.run_until(619)
    assert acc.balance == m("99.99")  # not usable before it settles
    sched.run_until(620)
    assert acc.balance == m("349.99")
    assert acc.payments[0].state is PaymentState.SETTLED
    assert acc.ledger.lots[-1].source is LotSource.AUTO
    assert [n.kind for n in acc.notifications] == [NotificationKind.RECHARGE_SUCCEEDED]
    acc.invariants()


def test_one_recharge_in_flight():
    acc, sched = make()
    charge(acc, sched, 10, "450")
    charge(acc, sched, 11, "10")
    charge(acc, sched, 12, "10")
    assert len(acc.payments) == 1


def test_several_in_flight_when_allowed():
    acc, sched = make(recharge=Recharge(trigger=m("100"), amount=m("250"), max_in_flight=3))
    for k in range(5):
        charge(acc, sched, 10 + k, "410" if k == 0 else "1")
    assert len(acc.payments) == 3


def test_polling_checks_only_at_poll_instants():
    acc, sched = make(
        recharge=Recharge(trigger=m("100"), amount=m("250"), check="poll", poll_interval=6 * HOUR)
    )
    charge(acc, sched, 60, "450")
    assert acc.payments == []
    sched.run_until(6 * HOUR)
    assert len(acc.payments) == 1
    assert acc.payments[0].requested_at_s == 6 * HOUR


def test_declined_payment_never_adds_credit_and_retries_with_backoff():
    pay = Payment(
        delay=Delay.fixed(60),
        decline_probability=1.0,
        max_retries=2,
        retry_after=HOUR,
        retry_backoff=3.0,
        disable_after_declines=0,
    )
    acc, sched = make(payment=pay)
    charge(acc, sched, 0, "450")
    sched.run_until(30 * DAY)
    rec = acc.payments[0]
    assert rec.state is PaymentState.DECLINED
    assert rec.attempts == 3
    # attempt at 0 completes at 60; retry at 60+1h completes +60; retry after 3h more.
    completed = [c for _, c, _ in rec.attempt_log]
    assert completed == [60, 60 + HOUR + 60, 60 + HOUR + 60 + 3 * HOUR + 60]
    assert acc.balance == m("50")
    assert len(acc.ledger.lots) == 1
    assert [n.kind for n in acc.notifications].count(NotificationKind.RECHARGE_FAILED) == 3
    acc.invariants()


def test_auto_recharge_switched_off_after_consecutive_declines():
    pay = Payment(delay=Delay.fixed(60), decline_probability=1.0, disable_after_declines=3)
    acc, sched = make(payment=pay)
    t = 0.0
    for _ in range(10):
        charge(acc, sched, t, "450" if t == 0 else "1")
        t += HOUR
    kinds = [n.kind for n in acc.notifications]
    assert kinds.count(NotificationKind.RECHARGE_FAILED) == 3
    assert NotificationKind.AUTO_RECHARGE_DISABLED in kinds
    assert not acc.auto_enabled
    assert len(acc.payments) == 3


def test_card_expiry_declines_every_charge_after_the_date():
    pay = Payment(delay=Delay.fixed(60), card_expires=date(2026, 1, 10), disable_after_declines=0)
    acc, sched = make(payment=pay)
    charge(acc, sched, 5 * DAY, "450")  # 9 Jan: still valid
    sched.run_until(6 * DAY)
    assert acc.payments[0].state is PaymentState.SETTLED
    charge(acc, sched, 10 * DAY, "250")  # 11 Jan: expired
    sched.run_until(11 * DAY)
    assert acc.payments[1].state is PaymentState.DECLINED


def test_admin_renews_card_and_tops_up_after_a_failure():
    pay = Payment(delay=Delay.fixed(60), card_expires=date(2026, 1, 1), disable_after_declines=1)
    admin = Admin(
        responds_to=("recharge_failed",),
        response_delay=Delay.fixed(8 * HOUR),
        top_up=m("500"),
        fixes_card=True,
    )
    acc, sched = make(payment=pay, admin=admin)
    charge(acc, sched, DAY, "450")
    sched.run_until(DAY + 60)
    assert not acc.auto_enabled
    sched.run_until(DAY + 60 + 8 * HOUR + 60)
    assert acc.admin_actions == [DAY + 60 + 8 * HOUR]
    assert acc.auto_enabled
    sources = [p.source for p in acc.payments]
    assert LotSource.MANUAL in sources
    # Card renewed: the manual payment and the renewed auto-recharge both settle.
    assert all(p.state is PaymentState.SETTLED for p in acc.payments[1:])
    assert acc.balance == m("50") + m("500") + m("250")
    acc.invariants()


def test_admin_that_never_reacts():
    pay = Payment(delay=Delay.fixed(60), decline_probability=1.0)
    acc, sched = make(payment=pay, admin=Admin(responds_to=()))
    charge(acc, sched, 0, "450")
    sched.run_until(100 * DAY)
    assert acc.admin_actions == []


def test_balance_zero_and_low_balance_emails():
    acc, sched = make(recharge=Recharge(policy="none"), low_balance="100", initial="150")
    charge(acc, sched, 1, "40")
    charge(acc, sched, 2, "20")  # 90 < 100: low balance
    charge(acc, sched, 3, "100")  # -10: zero reached
    kinds = [n.kind for n in acc.notifications]
    assert kinds == [NotificationKind.LOW_BALANCE, NotificationKind.BALANCE_ZERO]
    assert not acc.has_credit(4)


def test_expiry_can_trigger_a_recharge():
    acc, sched = make(initial="500")
    expiry = acc.ledger.lots[0].expires_at_s
    sched.run_until(expiry)
    assert acc.ledger.expired_total == m("500")
    assert len(acc.payments) == 1
    assert acc.payments[0].requested_at_s == expiry
    assert any(n.kind is NotificationKind.BALANCE_ZERO for n in acc.notifications)


def test_only_the_soonest_lot_with_funds_waits_on_an_expiry_event():
    """Lots spent before they expire cost no event; a forfeit still comes at its instant."""
    acc, sched = make(initial="500", low_balance="50")
    for day in range(1, 200):  # 10 a day: a recharge of 250 every 25 days or so
        charge(acc, sched, day * 86_400.0, "10")
    spent = [lot for lot in acc.ledger.lots if lot.remaining == 0]
    assert len(spent) >= 6
    waiting = [e for e in sched._heap if getattr(e[2], "__name__", "") == "_expiry_due"]
    assert len(waiting) == 1  # the initial lot's event, armed at the start
    acc.recharge = Recharge(policy="none")  # spending stops: what is left expires
    holders = [lot for lot in acc.ledger.lots if lot.remaining > 0]
    left = {lot.lot_id: lot.remaining for lot in holders}
    assert len(holders) == 2  # the last two recharges share the balance
    last = max(lot.expires_at_s for lot in holders)
    sched.run_until(last - 1)
    assert acc.ledger.expired_total == left[holders[0].lot_id]
    sched.run_until(last)
    forfeits = [e for e in acc.ledger.entries if e.kind is EntryKind.EXPIRE]
    assert [(e.t_s, e.lot_id, -e.amount) for e in forfeits] == [
        (lot.expires_at_s, lot.lot_id, left[lot.lot_id]) for lot in holders
    ]
    zero = [n for n in acc.notifications if n.kind is NotificationKind.BALANCE_ZERO]
    assert zero[-1].t_s == last
    acc.invariants()


def test_cut_off_mode_never_goes_negative():
    acc, sched = make(recharge=Recharge(policy="none"), initial="50", allow_overshoot=False)
    res = charge(acc, sched, 1, "70")
    assert res.uncharged == m("20")
    assert acc.balance == 0


def test_same_seed_same_payments():
    pay = Payment(
        delay=Delay(kind="exponential", mean=600),
        decline_probability=0.3,
        max_retries=1,
        disable_after_declines=0,
    )

    def run(seed):
        acc, sched = make(payment=pay, seed=seed)
        for k in range(200):
            charge(acc, sched, k * HOUR, "20")
        return [(p.state, p.completed_at_s) for p in acc.payments]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_postpaid_invoices_monthly_in_arrears():
    cal = Calendar.from_local(date(2026, 1, 1), "UTC")
    acc = PostpaidAccount(cal)
    assert acc.has_credit(0)
    acc.charge(DAY, m("12.30"))
    acc.charge(20 * DAY, m("7.70"))
    inv = acc.close_month(cal.next_month_start_s(0))
    assert (inv.month, inv.amount) == ("2026-01", m("20"))
    acc.charge(40 * DAY, m("1"))
    inv2 = acc.close_month(cal.next_month_start_s(40 * DAY))
    assert (inv2.month, inv2.amount) == ("2026-02", m("1"))


# -- Scheduled purchases, the expiry horizon, exact top-ups --------------------------


def sched_make(recharge, start=date(2026, 1, 31), tz="Europe/Paris", **kw):
    """An account on a local calendar (scheduled purchases follow it)."""
    sched = HeapScheduler()
    cal = Calendar.from_local(start, tz)
    acc = CreditAccount(
        calendar=cal,
        recharge=recharge,
        payment=kw.pop("payment", Payment(delay=Delay.fixed(600))),
        admin=kw.pop("admin", NO_ADMIN),
        scheduler=sched,
        rng_payments=np.random.default_rng(1),
        rng_admin=np.random.default_rng(2),
        **kw,
    )
    return acc, sched, cal


def test_scheduled_purchases_each_calendar_month_on_the_start_day_clamped():
    r = Recharge(policy="scheduled", trigger=0, amount=m("300"))
    acc, sched, cal = sched_make(r)
    acc.start(0.0)
    sched.run_until(cal.to_sim(datetime(2026, 5, 1)))
    asked = [cal.to_datetime(p.requested_at_s).replace(tzinfo=None) for p in acc.payments]
    # 31 January, then the month's last day when it is shorter, as lot expiry does.
    assert asked == [datetime(2026, 1, 31), datetime(2026, 2, 28), datetime(2026, 3, 31),
                     datetime(2026, 4, 30)]  # fmt: skip
    assert {p.source for p in acc.payments} == {LotSource.AUTO}
    assert all(p.state is PaymentState.SETTLED for p in acc.payments)
    assert acc.balance == 4 * m("300")
    acc.invariants()


def test_scheduled_purchases_every_duration_and_no_trigger_without_one():
    r = Recharge(policy="scheduled", trigger=0, amount=m("50"), interval="2w")
    acc, sched, _ = sched_make(r)
    acc.start(0.0)
    sched.run_until(DAY)
    acc.charge(DAY, m("80"))  # below zero: no safety net (trigger 0)
    sched.run_until(40 * DAY)
    assert [p.requested_at_s for p in acc.payments] == [0.0, 14 * DAY, 28 * DAY]
    assert acc.reaction_thresholds() == [(acc.balance, False)]  # only the zero e-mail


def test_scheduled_with_a_trigger_buys_as_a_safety_net_too():
    r = Recharge(policy="scheduled", trigger=m("100"), amount=m("200"), interval="1w")
    acc, sched, _ = sched_make(r)
    acc.start(0.0, m("500"))
    sched.run_until(DAY)
    assert len(acc.payments) == 1  # the one due at the start
    acc.charge(DAY, m("550"))  # 150 < 100? no
    assert len(acc.payments) == 1
    acc.charge(DAY + 1, m("60"))  # 90 < 100: the safety net
    assert [p.requested_at_s for p in acc.payments] == [0.0, DAY + 1]
    assert acc.payments[1].amount == m("200")


def test_scheduled_purchases_stop_while_auto_recharge_is_switched_off():
    pay = Payment(delay=Delay.fixed(60), decline_probability=1.0, disable_after_declines=1)
    r = Recharge(policy="scheduled", trigger=0, amount=m("50"), interval="1d")
    acc, sched, _ = sched_make(r, payment=pay)
    acc.start(0.0)
    sched.run_until(5 * DAY)
    assert len(acc.payments) == 1
    assert not acc.auto_enabled
    assert acc.payments[0].state is PaymentState.DECLINED


def test_recharge_settings_of_the_new_policies_are_checked():
    with pytest.raises(FieldError, match=r'^interval: must be "month" or a duration'):
        Recharge(policy="scheduled", interval="monthly")
    with pytest.raises(FieldError, match=r"^amount: must be > 0"):
        Recharge(policy="scheduled", amount=0)
    with pytest.raises(FieldError, match=r"^expiry_horizon: needs a balance trigger"):
        Recharge(policy="scheduled", trigger=0, expiry_horizon=30 * DAY)
    with pytest.raises(FieldError, match=r"^expiry_horizon: must be > 0"):
        Recharge(expiry_horizon=0)
    assert Recharge(policy="scheduled", interval="2w").interval_s == 14 * DAY
    assert Recharge(policy="scheduled").interval_s is None
    assert not Recharge(policy="scheduled", trigger=0).is_triggered(-m("1"), 0)
    assert Recharge(policy="scheduled", trigger=m("10")).order_amount(m("5"), 0, 0) == m("100")


def test_top_up_to_target_is_exact_without_the_portal_rules():
    r = Recharge(policy="target", trigger=m("100"), target=m("500"))
    assert r.order_amount(m("99.50"), 0, 0, whole_units=False) == m("400.50")
    assert r.order_amount(m("99.999999"), 0, 0, whole_units=False) == m("400.000001")
    assert r.order_amount(m("99.50"), 0, 0, whole_units=True) == m("401")
    acc, sched = make(recharge=r, initial="500")
    acc.whole_units = False
    charge(acc, sched, 1, "400.25")
    assert acc.payments[0].amount == m("400.25")


def test_expiring_funds_count_as_forfeited_for_the_trigger():
    r = Recharge(trigger=m("100"), amount=m("250"), expiry_horizon=30 * DAY)
    assert r.order_amount(m("300"), 0, 0) == 0
    assert r.order_amount(m("300"), 0, 0, expiring=m("250")) == m("250")
    t = Recharge(policy="target", trigger=m("100"), target=m("500"), expiry_horizon=DAY)
    assert t.order_amount(m("300"), 0, 0, expiring=m("250"), whole_units=False) == m("450")


def test_expiry_horizon_orders_a_recharge_before_the_lot_expires():
    r = Recharge(trigger=m("100"), amount=m("250"), expiry_horizon=30 * DAY)
    acc, sched, _ = sched_make(r, start=date(2026, 1, 1), tz="UTC")
    acc.start(0.0, m("500"))
    expiry = acc.ledger.lots[0].expires_at_s
    sched.run_until(expiry - 30 * DAY - 1)
    assert acc.payments == []
    sched.run_until(expiry - 30 * DAY)
    assert [p.requested_at_s for p in acc.payments] == [expiry - 30 * DAY]
    sched.run_until(expiry)
    # The new lot settled long before; the old one is forfeited and nothing else is due.
    assert acc.ledger.expired_total == m("500")
    assert acc.balance == m("250")
    assert len(acc.payments) == 1
    acc.invariants()


def test_expiry_horizon_buys_nothing_while_the_rest_stays_above_the_trigger():
    r = Recharge(trigger=m("100"), amount=m("250"), expiry_horizon=10 * DAY)
    acc, sched, _ = sched_make(r, start=date(2026, 1, 1), tz="UTC", expiry_months=1)
    acc.start(0.0, m("300"))
    sched.run_until(5 * DAY)
    acc.buy_manual(5 * DAY, m("150"))
    sched.run_until(25 * DAY)  # the 300 expires within 10 days; 150 stays after it
    assert [p.source for p in acc.payments] == [LotSource.MANUAL]
    # Spending draws the expiring lot first, so what stays after it does not move ...
    acc.charge(25 * DAY, m("200"))
    acc.charge(25 * DAY + 1, m("100"))
    assert len(acc.payments) == 1
    # ... until the spending reaches it.
    acc.charge(25 * DAY + 2, m("50"))
    assert len(acc.payments) == 1
    acc.charge(25 * DAY + 3, m("0.01"))
    assert [p.requested_at_s for p in acc.payments[1:]] == [25 * DAY + 3]
    acc.invariants()


def test_expiry_horizon_in_poll_mode_looks_ahead_at_each_poll():
    r = Recharge(
        trigger=m("100"), amount=m("250"), expiry_horizon=DAY, check="poll", poll_interval=DAY
    )
    acc, sched, _ = sched_make(r, start=date(2026, 1, 1), tz="UTC", lot_lifetime_s=10.5 * DAY)
    acc.start(0.0, m("500"))
    sched.run_until(20 * DAY)
    # The lot expires at 10.5 days: the poll at day 10 sees it within the horizon.
    assert acc.payments[0].requested_at_s == 10 * DAY


@pytest.mark.parametrize("seed", range(8))
def test_reaction_thresholds_predict_every_reaction_with_an_expiry_horizon(seed):
    """The walks stop where ``reaction_thresholds`` says: check it against ``charge``."""
    rng = np.random.default_rng(seed)
    policy = ["fixed", "target", "multiples", "scheduled"][seed % 4]
    r = Recharge(
        policy=policy,
        trigger=m("100"),
        amount=m("400"),
        target=m("900"),
        compare="<=" if seed % 3 else "<",
        basis="position" if seed % 2 else "balance",
        max_in_flight=1 + seed % 2,
        interval="5d",
        expiry_horizon=float(rng.integers(2, 12)) * DAY,
    )
    pay = Payment(
        delay=Delay(kind="exponential", mean=6 * HOUR),
        decline_probability=0.3,
        max_retries=1,
        disable_after_declines=0,
    )
    acc, sched, _ = sched_make(
        r, start=date(2026, 1, 1), tz="UTC", payment=pay, lot_lifetime_s=15 * DAY,
        low_balance=m("150"),
    )  # fmt: skip
    acc.start(0.0, m("300"))
    # Debits at random instants (about 24 a day, of up to 3 units), walked as the engine
    # walks them: each run up to the next scheduled event, posted until the first
    # reaction; then the events due by then run.
    times = np.cumsum(rng.exponential(HOUR, size=3000))
    amounts = rng.integers(0, 3 * 10**6, size=len(times))
    k = 0
    seen = 0
    while k < len(times):
        nxt = sched.next_s()
        end = len(times) if nxt is None else int(np.searchsorted(times, nxt, side="left"))
        run = amounts[k:end]
        predicted = acc.reaction_index(acc.balance - np.cumsum(run))
        reacted = len(run)
        for i in range(len(run)):
            before = (len(acc.payments), len(acc.notifications))
            acc.charge(float(times[k + i]), int(run[i]))
            if (len(acc.payments), len(acc.notifications)) != before:
                reacted = i
                break
        assert reacted == predicted
        seen += reacted < len(run)
        k += min(reacted + 1, len(run))
        if k < len(times):
            sched.run_until(float(times[k]) if reacted == len(run) else float(times[k - 1]))
    assert seen > 0
    acc.invariants()


# -- The scenario's checks of these settings ----------------------------------------


def scenario_error(**sections) -> str:
    data = {"simulation": {"start": "2026-01-01T00:00:00", "horizon": "30d"}, **sections}
    with pytest.raises(ConfigError) as exc:
        Scenario.from_dict(data)
    return str(exc.value)


def test_scheduled_purchases_follow_the_portal_rules_without_needing_a_trigger():
    s = Scenario.from_dict(
        {
            "simulation": {"start": "2026-01-01T00:00:00", "horizon": "30d"},
            "recharge": {"policy": "scheduled", "trigger": "0", "amount": "500", "interval": "2w"},
        }
    )
    assert s.recharge.interval_s == 14 * DAY
    assert "scheduled purchases: 500.00 USD every 2w" in s.describe()
    message = scenario_error(recharge={"policy": "scheduled", "trigger": "0", "amount": "75.5"})
    assert message.startswith("recharge.amount: 75.50 is refused by the admin portal")
    message = scenario_error(recharge={"policy": "scheduled", "trigger": "20"})
    assert message.startswith("recharge.trigger: 20.00 is refused")
    message = scenario_error(recharge={"policy": "scheduled", "interval": "fortnight"})
    assert message.startswith('recharge.interval: must be "month" or a duration')


@pytest.mark.parametrize(
    ("funding", "horizon", "fragment"),
    [
        ({"expiry_months": 0}, "30d", "lots never expire"),
        ({"expiry_months": 1}, "28d", "shorter than the lifetime of a lot"),
        ({"lot_lifetime": "10d"}, "10d", "funding.lot_lifetime (10d)"),
    ],
)
def test_expiry_horizon_must_be_shorter_than_the_lot_lifetime(funding, horizon, fragment):
    message = scenario_error(funding=funding, recharge={"expiry_horizon": horizon})
    assert message.startswith("recharge.expiry_horizon: "), message
    assert fragment in message

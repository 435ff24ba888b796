"""Property tests: random purchases, debits and clock moves against a naive oracle."""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.billing.account import CreditAccount, HeapScheduler, PaymentState
from sim.billing.ledger import EntryKind, Ledger, LotSource
from sim.billing.policies import Admin, Payment, Recharge
from sim.core.distributions import Delay
from sim.core.units import Calendar

DAY = 86400.0
CAL = Calendar.from_local(date(2024, 1, 1), "Europe/Berlin")

amounts = st.integers(min_value=1, max_value=500_000_000)
ops = st.lists(
    st.tuples(
        st.sampled_from(["purchase", "debit", "debit", "advance"]),
        st.floats(min_value=0, max_value=120 * DAY, allow_nan=False),  # time step
        amounts,
        st.booleans(),  # overshoot allowed
    ),
    max_size=60,
)


class Oracle:
    """Naive reference: lots as [expiry, id, remaining]; spend by sorted expiry."""

    def __init__(self) -> None:
        self.lots: list[list[float]] = []
        self.debt = 0
        self.forfeited = 0

    def expire(self, t: float) -> None:
        for lot in self.lots:
            if lot[0] <= t and lot[2] > 0:
                self.forfeited += lot[2]
                lot[2] = 0

    def purchase(self, t: float, amount: int, expiry: float) -> None:
        self.expire(t)
        repay = min(self.debt, amount)
        self.debt -= repay
        self.lots.append([expiry, len(self.lots), amount - repay])

    def debit(self, t: float, amount: int, overshoot: bool) -> None:
        self.expire(t)
        for lot in sorted(self.lots):
            take = min(lot[2], amount)
            lot[2] -= take
            amount -= take
        if overshoot:
            self.debt += amount

    @property
    def balance(self) -> int:
        return int(sum(lot[2] for lot in self.lots)) - self.debt


@settings(max_examples=300, deadline=None)
@given(ops=ops, months=st.sampled_from([0, 1, 12]))
def test_ledger_matches_oracle_and_invariants(ops, months):
    led = Ledger(CAL, expiry_months=months)
    oracle = Oracle()
    t = -30 * DAY
    for kind, step, amount, overshoot in ops:
        t += step
        if kind == "purchase":
            lot = led.purchase(t, amount, LotSource.MANUAL)
            oracle.purchase(t, amount, lot.expires_at_s)
        elif kind == "debit":
            led.expire_due(t)
            before = led.balance
            res = led.debit(t, amount, allow_overshoot=overshoot)
            oracle.debit(t, amount, overshoot)
            assert res.drawn + res.overshoot + res.uncharged == amount
            assert led.balance == before - res.charged
            if not overshoot:
                assert res.overshoot == 0
        else:
            led.expire_due(t)
            oracle.expire(t)
        assert led.balance == oracle.balance
        assert [lot.remaining for lot in led.lots] == [int(x[2]) for x in oracle.lots]
        assert all(lot.remaining >= 0 for lot in led.lots)
    assert led.expired_total == oracle.forfeited
    # Conservation to the micro-unit.
    assert led.purchased_total - led.consumed_total - led.expired_total == led.balance
    led.invariants()
    # Forfeiture happens exactly at the expiry instant of its lot.
    for e in led.entries:
        if e.kind is EntryKind.EXPIRE:
            assert e.t_s == led.lots[e.lot_id].expires_at_s


@settings(max_examples=150, deadline=None)
@given(
    charges=st.lists(st.tuples(st.floats(0, 5 * DAY), amounts), min_size=1, max_size=80),
    decline=st.sampled_from([0.0, 0.3, 1.0]),
    basis=st.sampled_from(["balance", "position"]),
    compare=st.sampled_from(["<", "<="]),
    policy=st.sampled_from(["fixed", "target", "multiples", "none"]),
    in_flight=st.integers(1, 3),
    check=st.sampled_from(["after_debit", "poll"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_account_conserves_money_and_declines_never_add_credit(
    charges, decline, basis, compare, policy, in_flight, check, seed
):
    sched = HeapScheduler()
    acc = CreditAccount(
        calendar=CAL,
        recharge=Recharge(
            policy=policy,
            trigger=100_000_000,
            amount=250_000_000,
            target=400_000_000,
            compare=compare,
            basis=basis,
            max_in_flight=in_flight,
            check=check,
            poll_interval=3600.0,
        ),
        payment=Payment(
            delay=Delay(kind="exponential", mean=900.0),
            decline_probability=decline,
            max_retries=1,
            disable_after_declines=2,
        ),
        admin=Admin(
            responds_to=("recharge_failed",), response_delay=Delay.fixed(7200.0), top_up=50_000_000
        ),
        scheduler=sched,
        rng_payments=np.random.default_rng(seed),
        rng_admin=np.random.default_rng(seed + 1),
        expiry_months=1,
    )
    acc.start(0.0, 300_000_000)
    t = 0.0
    for step, amount in charges:
        t += step
        sched.run_until(t)
        acc.charge(t, amount)
    sched.run_until(t + 90 * DAY)
    acc.invariants()
    led = acc.ledger
    settled = [p for p in acc.payments if p.state is PaymentState.SETTLED]
    declined = [p for p in acc.payments if p.state is PaymentState.DECLINED]
    assert led.purchased_total == 300_000_000 + sum(p.amount for p in settled)
    assert len(led.lots) == 1 + len(settled)
    if decline == 1.0:
        # Every attempt is declined: nothing but the initial lot ever arrives.
        assert settled == []
        assert len(led.lots) == 1
    for p in declined:
        assert p.declines == p.attempts
    assert led.balance == led.purchased_total - led.consumed_total - led.expired_total

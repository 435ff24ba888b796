"""Alert lead times on deterministic ledgers, computed by hand."""

from __future__ import annotations

import pytest

from sim.billing.ledger import Ledger, LotSource
from sim.core.errors import InputError
from sim.core.units import SECONDS_PER_DAY, Calendar, Micros
from sim.reports.alerts import (
    DEFAULT_LATENCY_S,
    AlertPolicy,
    ExpiryPolicy,
    balance_path,
    expiry_leads,
    outage_leads,
    suggest_from_paths,
)

DAY = SECONDS_PER_DAY
UNIT = 1_000_000


def _ledger(lifetime_s: float | None = None) -> Ledger:
    return Ledger(Calendar.from_local(__import__("datetime").date(2026, 1, 5), "UTC"), 12,
                  lifetime_s)  # fmt: skip


def _ten_days() -> Ledger:
    """100 bought at 0, then 10 spent at the end of each of days 1..10: zero on day 10."""
    led = _ledger()
    led.purchase(0.0, Micros(100 * UNIT), LotSource.INITIAL)
    for k in range(1, 11):
        led.debit(k * DAY, Micros(10 * UNIT))
    return led


def test_latency_default_is_the_documented_worst_case() -> None:
    assert DEFAULT_LATENCY_S == 48 * 3600.0  # teams-credits.md §2.3, §5: 24 to 48 hours


def test_outage_lead_time_by_hand() -> None:
    t, b = balance_path(_ten_days().entries)
    # Thresholds 30 and 50: 50 is crossed on day 6 (50 -> 40), 30 on day 8 (30 -> 20).
    # The first e-mail (day 6) arrives 48 h later, on day 8; the outage is on day 10.
    rows = outage_leads(t, b, AlertPolicy("30,50", (30 * UNIT, 50 * UNIT)))
    assert len(rows) == 1
    assert rows[0]["event_t_s"] == 10 * DAY
    assert rows[0]["sent_t_s"] == 6 * DAY
    assert rows[0]["lead_s"] == 2 * DAY
    assert not rows[0]["missed"]
    # At 15 the e-mail (day 9) arrives on day 11, after the outage: missed.
    late = outage_leads(t, b, AlertPolicy("15", (15 * UNIT,)))[0]
    assert late["lead_s"] == 0.0
    assert late["missed"]
    # With a 24 h latency the 15 e-mail arrives on day 10 itself: still no warning.
    same = outage_leads(t, b, AlertPolicy("15", (15 * UNIT,), latency_s=DAY))[0]
    assert same["missed"]


def test_suggested_threshold_by_hand() -> None:
    t, b = balance_path(_ten_days().entries)
    # 3 days ahead with 48 h latency: sent by day 5, when the balance falls to 50; the
    # balance must then be below the threshold: the smallest whole threshold is 51.
    th = suggest_from_paths([(t, b)], target_lead_s=3 * DAY)
    assert th == 51 * UNIT
    lead = outage_leads(t, b, AlertPolicy("51", (int(th),)))[0]["lead_s"]
    assert lead == 3 * DAY
    assert outage_leads(t, b, AlertPolicy("50", (50 * UNIT,)))[0]["lead_s"] == 2 * DAY
    # A recharge that came back above zero starts a new episode: e-mails before it do not
    # count for the next outage.
    assert suggest_from_paths([], 3 * DAY) is None


def test_forfeit_warning_by_hand() -> None:
    led = _ledger(lifetime_s=30 * DAY)
    led.purchase(0.0, Micros(100 * UNIT), LotSource.INITIAL)
    led.purchase(0.0, Micros(10 * UNIT), LotSource.MANUAL)
    led.debit(5 * DAY, Micros(40 * UNIT))
    led.debit(6 * DAY, Micros(70 * UNIT))  # empties the first lot and the second
    led.purchase(10 * DAY, Micros(50 * UNIT), LotSource.MANUAL)  # expires on day 40
    led.expire_due(45 * DAY)
    policy = ExpiryPolicy("7 days", days_before=7)
    rows = expiry_leads(led.entries, led.lots, policy, horizon_s=45 * DAY)
    # Lots 0 and 1 are used up before their warning (day 23): no e-mail, no forfeit. Lot 2
    # expires on day 40 with 50 left: warned on day 33, arriving day 35: 5 days ahead.
    assert len(rows) == 1
    assert rows[0]["event"] == "forfeit"
    assert rows[0]["lot_id"] == 2
    assert rows[0]["forfeited_micros"] == 50 * UNIT
    assert rows[0]["lead_s"] == 5 * DAY


def test_policy_parsing() -> None:
    p = AlertPolicy.parse("10%,25%", reference_micros=200 * UNIT)
    assert p.thresholds_micros == (20 * UNIT, 50 * UNIT)
    assert AlertPolicy.parse("100, 50").thresholds_micros == (50 * UNIT, 100 * UNIT)
    with pytest.raises(InputError, match="reference amount"):
        AlertPolicy.parse("10%")
    with pytest.raises(InputError, match="thresholds > 0"):
        AlertPolicy.parse("0")

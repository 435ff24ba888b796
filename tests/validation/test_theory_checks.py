"""Validation against closed forms (theory.md §1-§5), at 99.9 % confidence.

Each test configures the simulator, through ordinary scenario settings, into a case with
an exact answer and checks that the answer lies inside the interval of the simulated
estimate. Seeds are fixed, so the outcome is deterministic; with correct code each check
would fail by chance about once in a thousand seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.validation.checks import (
    billed_minutes_checks,
    in_progress_checks,
    lost_sales_checks,
    rq_backorder_checks,
    time_to_zero_checks,
)

pytestmark = pytest.mark.slow


def assert_all_within(checks):
    bad = [c for c in checks if not c.ok]
    assert not bad, "\n".join(
        f"{c.quantity} ({c.parameters}): theory {c.theory:.5g} outside "
        f"[{c.low:.5g}, {c.high:.5g}], simulated {c.simulated:.5g}"
        for c in bad
    )


@pytest.mark.parametrize(("r", "q"), [(2, 4), (0, 6), (5, 3)])
def test_rq_backorders_hadley_whitin(r, q):
    assert_all_within(rq_backorder_checks(r, q, replications=16, horizon_h=1000.0))


@pytest.mark.parametrize(("r", "q"), [(1, 4), (3, 5)])
def test_lost_sales_one_order_outstanding(r, q):
    assert_all_within(lost_sales_checks(r, q, replications=16, horizon_h=1000.0))


def test_time_to_zero_without_recharge():
    assert_all_within(time_to_zero_checks(replications=300))


def test_billed_minutes_are_geometric():
    assert_all_within(billed_minutes_checks())


def test_calls_in_progress_are_poisson():
    assert_all_within(in_progress_checks())


def test_checks_can_fail():
    # The same comparison against a wrong answer (a tenth more) must fail: the intervals
    # are tight enough to catch a simulator that is off by that much.
    checks = rq_backorder_checks(2, 4, replications=16, horizon_h=1000.0)
    fill = checks[0]
    assert not (fill.low <= fill.theory * 1.1 <= fill.high)


def test_ratio_interval_covers_the_share_over_replications():
    # Bursty refusals: blocks come in clumps, so a per-call (binomial) interval would be
    # far too narrow; the ratio interval over replications must cover the true share.
    from sim.validation.checks import ratio_interval

    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(200):
        demand = rng.poisson(2000, 20)
        clumps = rng.poisson(demand * 0.01 / 10)  # 1 % lost, in clumps of 10
        lost = clumps * 10
        _, low, high = ratio_interval(lost.astype(float), demand.astype(float), 0.95)
        covered += low <= 0.01 <= high
    assert covered >= 180  # ~95 % nominal; a per-call Wilson interval covers far less

"""The closed forms themselves, against brute-force sums and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.validation.theory import (
    RQBackorders,
    RQLostSales,
    b1,
    b2,
    geometric_billed_minutes_mean,
    lognormal_params,
    wilson_interval,
)


@pytest.mark.parametrize(("x", "theta"), [(0, 2.0), (3, 2.0), (5, 4.5), (12, 3.0)])
def test_loss_functions_match_brute_force(x, theta):
    k = np.arange(0, 200)
    p = stats.poisson.pmf(k, theta)
    assert b1(x, theta) == pytest.approx(float((np.maximum(k - x, 0) * p).sum()), rel=1e-10)
    brute_b2 = float((0.5 * np.maximum(k - x, 0) * np.maximum(k - x - 1, 0) * p).sum())
    assert b2(x, theta) == pytest.approx(brute_b2, rel=1e-9, abs=1e-12)


def test_rq_limits():
    # A huge reorder point never runs out; r = -1 with Q = 1 is base stock 0.
    assert RQBackorders(1.0, 2.0, 30, 5).fill_rate == pytest.approx(1.0)
    assert RQBackorders(1.0, 2.0, 4, 3).order_rate == pytest.approx(1 / 3)
    # Base stock 1 (r = 0, Q = 1): met at once iff no lead-time demand.
    assert RQBackorders(1.0, 2.0, 0, 1).fill_rate == pytest.approx(math.exp(-2.0))
    # Base stock 0: nothing on hand, every unit of lead-time demand is backordered.
    base0 = RQBackorders(1.0, 2.0, -1, 1)
    assert base0.fill_rate == pytest.approx(0.0, abs=1e-12)
    assert base0.mean_backorders == pytest.approx(2.0)


def test_lost_sales_share():
    m = RQLostSales(rate=1.0, lead=3.0, r=2, q=5)
    assert m.lost_share == pytest.approx(b1(2, 3.0) / (5 + b1(2, 3.0)))
    with pytest.raises(ValueError, match="r < q"):
        RQLostSales(1.0, 1.0, 5, 5)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(10, 100, confidence=0.95)
    assert (lo, hi) == pytest.approx((0.0552, 0.1744), abs=1e-4)
    lo, hi = wilson_interval(0, 50, confidence=0.95)
    assert lo == pytest.approx(0.0, abs=1e-12)
    assert hi == pytest.approx(0.0713, abs=1e-4)


def test_geometric_and_lognormal():
    assert geometric_billed_minutes_mean(60.0) == pytest.approx(1 / (1 - math.exp(-1)))
    mu, sigma = lognormal_params(100.0, 0.5)
    assert math.exp(mu + sigma**2 / 2) == pytest.approx(100.0)

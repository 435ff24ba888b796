"""Closed-form results the simulator must reproduce (``theory.md``), and Monte Carlo checks.

A prepaid balance with auto-recharge is an inventory system: the balance is stock, calls
are demand, the trigger is a reorder point, the recharge amount an order quantity and the
payment delay a lead time. These functions give the exact answers for the special cases
the validation tests and ``ccsim validate-theory`` configure the simulator into.

Pure functions of numbers (scipy for the Poisson law); no simulation here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats


def b1(x: int, theta: float) -> float:
    """Return E[(X - x)+] for X ~ Poisson(theta) (Hadley & Whitin's first-order loss)."""
    sf = float(stats.poisson.sf(x, theta))
    pmf = float(stats.poisson.pmf(x, theta))
    return (theta - x) * sf + theta * pmf


def b2(x: int, theta: float) -> float:
    """Return E[(X - x)(X - x - 1)]/2 over X > x for X ~ Poisson(theta) (second-order loss)."""
    sf = float(stats.poisson.sf(x, theta))
    pmf = float(stats.poisson.pmf(x, theta))
    return 0.5 * (((x - theta) ** 2 + x) * sf - theta * (x - theta) * pmf)


@dataclass(frozen=True, slots=True)
class RQBackorders:
    """(r, Q) with unit Poisson demand, constant lead time and backorders (theory.md §1).

    Parameters: demand rate ``rate`` per unit time, lead time ``lead``, reorder point
    ``r`` on the inventory position (order when position <= r), order size ``q``.
    """

    rate: float
    lead: float
    r: int
    q: int

    @property
    def theta(self) -> float:
        """Mean lead-time demand."""
        return self.rate * self.lead

    @property
    def fill_rate(self) -> float:
        """Share of demand met at once from stock."""
        return 1.0 - (b1(self.r, self.theta) - b1(self.r + self.q, self.theta)) / self.q

    @property
    def mean_backorders(self) -> float:
        """Time-average number of units backordered."""
        return (b2(self.r, self.theta) - b2(self.r + self.q, self.theta)) / self.q

    @property
    def order_rate(self) -> float:
        """Orders per unit time."""
        return self.rate / self.q


@dataclass(frozen=True, slots=True)
class RQLostSales:
    """The same with lost sales and at most one order outstanding (theory.md §2).

    Order when the balance (on hand) <= r, with r < q; demand arriving at zero is lost.
    """

    rate: float
    lead: float
    r: int
    q: int

    def __post_init__(self) -> None:
        if not 0 <= self.r < self.q:
            raise ValueError("the lost-sales formula needs 0 <= r < q")

    @property
    def lost_per_cycle(self) -> float:
        """Expected demand lost per order cycle: B1(r)."""
        return b1(self.r, self.rate * self.lead)

    @property
    def lost_share(self) -> float:
        """Share of demand lost."""
        return self.lost_per_cycle / (self.q + self.lost_per_cycle)

    @property
    def order_rate(self) -> float:
        """Orders per unit time."""
        return self.rate / (self.q + self.lost_per_cycle)


def time_to_zero_mean(balance: float, rate: float, mean_charge: float) -> float:
    """Return E[time to zero] with no recharge (theory.md §4).

    Poisson calls at ``rate``, each charging Exp(mean ``mean_charge``): the number of
    calls that empty ``balance`` is 1 + Poisson(balance / mean_charge).
    """
    return (1.0 + balance / mean_charge) / rate


def calls_to_zero_mean(balance: float, mean_charge: float) -> float:
    """Return the mean number of calls that empty the balance (1 + u / mu)."""
    return 1.0 + balance / mean_charge


def geometric_billed_minutes_mean(mean_duration_s: float) -> float:
    """Return E[billed minutes] for Exp durations rounded up to whole minutes (§5)."""
    return 1.0 / (1.0 - math.exp(-60.0 / mean_duration_s))


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """Return (mu, sigma) of a lognormal with this mean and coefficient of variation."""
    sigma2 = math.log1p(cv**2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def wilson_interval(k: int, n: int, confidence: float = 0.999) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion with k events in n trials."""
    if n <= 0:
        raise ValueError("n must be > 0")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    # Clamp rounding noise: the bounds of a proportion lie in [0, 1] and bracket p.
    return max(0.0, min(p, (centre - half) / denom)), min(1.0, max(p, (centre + half) / denom))


def z_interval(mean: float, se: float, confidence: float = 0.999) -> tuple[float, float]:
    """Return mean -/+ z * se for a two-sided interval at ``confidence``."""
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return mean - z * se, mean + z * se

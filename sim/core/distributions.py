"""Delay distributions used by payments, admin responses and retries.

A ``Delay`` is scenario data (``{kind = "lognormal", mean = "8h", cv = 1.0}``) with a
``sample(rng)`` method; the random generator is always passed in.

Imports only ``sim.core.units`` and ``sim.core.schema``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sim.core.schema import require
from sim.core.units import Seconds

DelayKind = Literal["constant", "exponential", "lognormal", "uniform", "empirical"]


@dataclass(frozen=True, slots=True)
class Delay:
    """A non-negative random delay in seconds.

    ``constant``: always ``mean``. ``exponential``: mean ``mean``. ``lognormal``: mean
    ``mean`` and coefficient of variation ``cv`` (sigma^2 = ln(1 + cv^2),
    mu = ln(mean) - sigma^2 / 2). ``uniform``: between ``low`` and ``high``.
    ``empirical``: one of ``values`` (durations), equally likely.
    """

    kind: DelayKind = "constant"
    mean: Seconds = Seconds(0.0)
    cv: float = 1.0
    low: Seconds = Seconds(0.0)
    high: Seconds = Seconds(0.0)
    values: tuple[Seconds, ...] = ()
    # The lognormal's mu and sigma, worked out once (``sample`` is called per payment).
    _mu: float = field(default=0.0, init=False, repr=False, compare=False)
    _sigma: float = field(default=0.0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind == "empirical":
            require(len(self.values) > 0, "values", "an empirical distribution needs values")
        require(self.cv > 0, "cv", f"must be > 0, got {self.cv}")
        if self.kind == "uniform":
            require(self.high >= self.low, "high", "must be >= low")
        if self.kind in ("exponential", "lognormal"):
            require(self.mean > 0, "mean", f"must be > 0 for a {self.kind} delay")
        if self.kind == "lognormal":
            sigma2 = math.log1p(self.cv**2)
            object.__setattr__(self, "_mu", math.log(self.mean) - sigma2 / 2)
            object.__setattr__(self, "_sigma", math.sqrt(sigma2))

    @classmethod
    def fixed(cls, seconds: float) -> Delay:
        """Return a constant delay."""
        return cls(kind="constant", mean=Seconds(seconds))

    @property
    def expected_s(self) -> float:
        """Mean of the distribution in seconds."""
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        if self.kind == "empirical":
            return float(np.mean(self.values))
        return float(self.mean)

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one delay in seconds.

        A constant delay draws nothing from ``rng``, so switching a delay to constant
        does not shift the other draws of the same stream by accident: every kind
        except ``constant`` uses exactly one draw.
        """
        if self.kind == "constant":
            return float(self.mean)
        if self.kind == "exponential":
            return float(rng.exponential(self.mean))
        if self.kind == "lognormal":
            return float(rng.lognormal(self._mu, self._sigma))
        if self.kind == "empirical":
            return float(self.values[int(rng.integers(len(self.values)))])
        return float(rng.uniform(self.low, self.high))

    def sample_array(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        """Draw ``n`` values in seconds at once."""
        if self.kind == "constant":
            return np.full(n, float(self.mean))
        if self.kind == "exponential":
            return rng.exponential(self.mean, size=n)
        if self.kind == "lognormal":
            return rng.lognormal(self._mu, self._sigma, size=n)
        if self.kind == "empirical":
            table = np.asarray(self.values, dtype=np.float64)
            return table[rng.integers(0, len(table), size=n)]
        return rng.uniform(self.low, self.high, size=n)

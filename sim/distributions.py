"""Delay distributions used by payments, admin responses and retries.

A ``Delay`` is scenario data (``{kind = "lognormal", mean = "8h", cv = 1.0}``) with a
``sample(rng)`` method; the random generator is always passed in.

Imports only ``sim.units`` and ``sim.schema``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.schema import require
from sim.units import Seconds

DelayKind = Literal["constant", "exponential", "lognormal", "uniform"]


@dataclass(frozen=True, slots=True)
class Delay:
    """A non-negative random delay in seconds.

    ``constant``: always ``mean``. ``exponential``: mean ``mean``. ``lognormal``: mean
    ``mean`` and coefficient of variation ``cv`` (sigma^2 = ln(1 + cv^2),
    mu = ln(mean) - sigma^2 / 2). ``uniform``: between ``low`` and ``high``.
    """

    kind: DelayKind = "constant"
    mean: Seconds = Seconds(0.0)
    cv: float = 1.0
    low: Seconds = Seconds(0.0)
    high: Seconds = Seconds(0.0)

    def __post_init__(self) -> None:
        require(self.cv > 0, "cv", f"must be > 0, got {self.cv}")
        if self.kind == "uniform":
            require(self.high >= self.low, "high", "must be >= low")
        if self.kind in ("exponential", "lognormal"):
            require(self.mean > 0, "mean", f"must be > 0 for a {self.kind} delay")

    @classmethod
    def fixed(cls, seconds: float) -> Delay:
        """Return a constant delay."""
        return cls(kind="constant", mean=Seconds(seconds))

    @property
    def expected_s(self) -> float:
        """Mean of the distribution in seconds."""
        if self.kind == "uniform":
            return (self.low + self.high) / 2
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
            sigma2 = math.log1p(self.cv**2)
            mu = math.log(self.mean) - sigma2 / 2
            return float(rng.lognormal(mu, math.sqrt(sigma2)))
        return float(rng.uniform(self.low, self.high))

"""What a tenant's funding costs it in a year: the ``[costs]`` section and the cost model.

A recharge setting is judged by every cost it brings, per year of the measured window:

- **card charges**: ``card_charge`` for every charge attempted on the card (declines
  included: each is handled), plus ``card_charge_share`` of every amount settled (a card
  fee, for example a corporate card's foreign-transaction fee);
- **invoices**: ``invoice`` for every purchase booked (Microsoft issues one invoice per
  credit purchase, ``teams-credits.md`` §5);
- **money tied up**: ``annual_rate`` x the time-average balance;
- **forfeited funds**: every unit that expired unspent (§5), at face value;
- **outages**: ``outage_hour`` for every hour at or below zero, and ``refused_call`` for
  every credit-funded call refused, by service (toll-free callers who cannot get through,
  meeting dial-out, international calls...).

Defaults, and where they come from (replace them with the finance team's own figures):
``card_charge`` 0 and ``card_charge_share`` 0 (Microsoft charges the card the amount and
documents no surcharge, §4-§5); ``invoice`` 5.00 (an assumption of the order of published
benchmarks of the cost to process one accounts-payable invoice, commonly quoted between
about 2 and 15 USD); ``annual_rate`` 5 % (a cost of capital); outage costs 0 (by default
the outage target of ``[sweep]``, ``max_outage``, is the guard against outages, not a
price).

Optional constraints: ``max_recharges_per_month`` (the mean over the window) and
``min_amount`` (a setting buying less is not considered).

No SimPy; reads the outcome columns of ``sim.engine.results`` by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from sim.core.schema import require
from sim.core.units import MICROS_PER_UNIT, Micros

DAYS_PER_YEAR = 365.25

SERVICES: tuple[str, ...] = (
    "toll_free",
    "dial_out",
    "overage",
    "international",
    "payg",
    "premium",
    "conferencing_ppm",
    "other",
)
"""The services that draw on credits (teams-credits.md §1), in the order of the engine's
service codes: spend, refused calls and their costs are reported by these names."""

COMPONENTS: tuple[str, ...] = (
    "card_charges",
    "invoices",
    "tied_up",
    "forfeited",
    "outage_hours",
    "refused_calls",
)
"""The cost components, in the order tables show them."""

COMPONENT_TITLES: dict[str, str] = {
    "card_charges": "card charges",
    "invoices": "invoices",
    "tied_up": "money tied up",
    "forfeited": "forfeited funds",
    "outage_hours": "hours at zero",
    "refused_calls": "refused calls",
}


@dataclass(frozen=True, slots=True)
class RefusedCallCosts:
    """Cost of one refused credit-funded call, by service (``[costs.refused_call]``)."""

    toll_free: Micros = Micros(0)
    dial_out: Micros = Micros(0)
    overage: Micros = Micros(0)
    international: Micros = Micros(0)
    payg: Micros = Micros(0)
    premium: Micros = Micros(0)
    conferencing_ppm: Micros = Micros(0)
    other: Micros = Micros(0)

    def __post_init__(self) -> None:
        for f in fields(self):
            require(getattr(self, f.name) >= 0, f.name, "must be >= 0")


@dataclass(frozen=True, slots=True)
class Costs:
    """The ``[costs]`` section: every cost of funding, per event, and two constraints."""

    card_charge: Micros = Micros(0)
    card_charge_share: float = 0.0
    invoice: Micros = Micros(5 * MICROS_PER_UNIT)
    annual_rate: float = 0.05
    outage_hour: Micros = Micros(0)
    refused_call: RefusedCallCosts = field(default_factory=RefusedCallCosts)
    max_recharges_per_month: float | None = None
    min_amount: Micros | None = None

    def __post_init__(self) -> None:
        require(self.card_charge >= 0, "card_charge", "must be >= 0")
        require(0 <= self.card_charge_share < 1, "card_charge_share", "must lie in [0, 1)")
        require(self.invoice >= 0, "invoice", "must be >= 0")
        require(0 <= self.annual_rate < 1, "annual_rate", "must lie in [0, 1)")
        require(self.outage_hour >= 0, "outage_hour", "must be >= 0")
        if self.max_recharges_per_month is not None:
            require(self.max_recharges_per_month > 0, "max_recharges_per_month", "must be > 0")
        if self.min_amount is not None:
            require(self.min_amount > 0, "min_amount", "must be > 0")


def _column(runs: pd.DataFrame, name: str) -> np.ndarray:
    if name not in runs:
        return np.zeros(len(runs))
    return runs[name].to_numpy(dtype=np.float64)


def annual_costs(runs: pd.DataFrame, costs: Costs) -> pd.DataFrame:
    """Return each run's cost components per year, in micro-units (floats: means follow).

    ``runs`` has one row per run with the outcome columns of ``sim.engine.results``;
    ``horizon_days`` is the measured window. Columns ``cost_<component>_micros`` and
    ``annual_cost_micros`` (their sum), in the order of ``runs``.
    """
    days = _column(runs, "horizon_days")
    per_year = np.divide(DAYS_PER_YEAR, days, out=np.zeros_like(days), where=days > 0)
    attempts = _column(runs, "card_charges")
    if "card_charges" not in runs:  # older run tables: requested + manual, plus declines
        attempts = _column(runs, "recharges_requested") + _column(runs, "manual_purchases")
    settled = _column(runs, "purchased_auto_micros") + _column(runs, "purchased_manual_micros")
    refused = np.zeros(len(runs))
    for service in SERVICES:
        refused += _column(runs, f"blocked_{service}") * float(getattr(costs.refused_call, service))
    parts = {
        "card_charges": attempts * float(costs.card_charge) + costs.card_charge_share * settled,
        "invoices": _column(runs, "invoices") * float(costs.invoice),
        "tied_up": costs.annual_rate * _column(runs, "mean_balance_micros"),
        "forfeited": _column(runs, "forfeited_micros"),
        "outage_hours": _column(runs, "outage_hours") * float(costs.outage_hour),
        "refused_calls": refused,
    }
    # Money tied up is already a yearly rate on the mean balance; the others are totals
    # over the window and scale to a year.
    out = pd.DataFrame(index=runs.index)
    total = np.zeros(len(runs))
    for name in COMPONENTS:
        value = parts[name] if name == "tied_up" else parts[name] * per_year
        out[f"cost_{name}_micros"] = value
        total += value
    out["annual_cost_micros"] = total
    return out


__all__ = [
    "COMPONENTS",
    "COMPONENT_TITLES",
    "DAYS_PER_YEAR",
    "Costs",
    "RefusedCallCosts",
    "annual_costs",
]

"""Whether the rate tables price every kind of call a scenario's traffic can make.

``ccsim validate`` asks this before any call is drawn: one call of every kind the
traffic model can make (``TrafficModel.possible_calls``: group or service number, call
type, number type, destination), looked up in the cell tables the rating itself uses
(``unpriced_calls``). Without it a run would stop at the first such call it rates.
"""

from __future__ import annotations

from sim.scenario.model import Scenario
from sim.telephony.rating import RatingContext
from sim.telephony.rating.vectorised import unpriced_calls
from sim.telephony.tariffs import TariffBook
from sim.traffic.model import TrafficModel


def unpriced_call_kinds(scenario: Scenario, tariffs: TariffBook | None) -> list[str]:
    """Describe each kind of call the traffic can make that no rate-table row prices."""
    if tariffs is None or not (scenario.user_groups or scenario.service_numbers):
        return []
    funding = scenario.funding
    ctx = RatingContext(
        tenant=scenario.tenant,
        tariffs=tariffs,
        calendar=scenario.calendar,
        funding_mode=funding.mode,
        hard_cap=scenario.postpaid.hard_cap and funding.mode != "prepaid",
        headcount_growth_per_month=scenario.traffic.headcount_growth_per_month,
    )
    model = TrafficModel(
        scenario.traffic,
        scenario.population,
        scenario.calendar,
        scenario.simulation.seed,
        0,
        scenario.horizon_s,
    )
    return unpriced_calls(model.possible_calls(), ctx)


__all__ = ["unpriced_call_kinds"]

"""Whether the rate tables price every kind of call a scenario's traffic can make.

``ccsim validate`` asks this before any call is drawn: one call of every kind the
traffic model can make (``TrafficModel.possible_calls``: group or service number, call
type, number type, destination), looked up in the cell tables the rating itself uses
(``unpriced_calls``). Without it a run would stop at the first such call it rates.
"""

from __future__ import annotations

from sim.engine.world import rating_context, traffic_model
from sim.scenario.model import Scenario
from sim.telephony.rating.vectorised import unpriced_calls
from sim.telephony.tariffs import TariffBook


def unpriced_call_kinds(scenario: Scenario, tariffs: TariffBook | None) -> list[str]:
    """Describe each kind of call the traffic can make that no rate-table row prices."""
    if tariffs is None or not (scenario.user_groups or scenario.service_numbers):
        return []
    model = traffic_model(scenario, 0)
    return unpriced_calls(model.possible_calls(), rating_context(scenario, tariffs))


__all__ = ["unpriced_call_kinds"]

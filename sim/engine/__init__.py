"""Engine: the discrete-event simulation of one replication, and its result tables.

The only subpackage that imports SimPy. It wires the account, the traffic and the rating
into SimPy processes and owns the order of events; ``results`` turns a run's output into
tidy tables.

May import: ``sim.core``, ``sim.telephony``, ``sim.billing``, ``sim.traffic``,
``sim.scenario``, and SimPy.
"""

from sim.engine.replication import (
    FUNDING,
    SERVICES,
    RatedTraffic,
    RunOutput,
    SimpyScheduler,
    retry_draw,
    run_replication,
)

__all__ = [
    "FUNDING",
    "SERVICES",
    "RatedTraffic",
    "RunOutput",
    "SimpyScheduler",
    "retry_draw",
    "run_replication",
]

"""Engine: the discrete-event simulation of one replication, and its result tables.

The only subpackage that imports SimPy. It wires the account, the traffic and the rating
into SimPy processes and owns the order of events. Modules, in dependency order:
``records`` (tables and data records), ``world`` (one replication's state, wired),
``full_walk`` (each day's calls in time order), ``lean_walk`` (the walks of sweeps),
``replication`` (the calendar processes and ``run_replication``); ``results`` turns a
run's output into tidy tables; ``coverage`` says whether the rate tables price every kind
of call the traffic can make (``ccsim validate``).

May import: ``sim.core``, ``sim.telephony``, ``sim.billing``, ``sim.traffic``,
``sim.scenario``, and SimPy.
"""

from sim.core.native import prefer_fresh_source

# A compiled module older than its source is not used (``sim.core.native``).
prefer_fresh_source(__name__, __path__[0])

# isort: split
from sim.engine.records import FUNDING, SERVICES, RunOutput  # noqa: E402 (after the guard)

# isort: split
from sim.engine.world import RatedTraffic, SimpyScheduler  # noqa: E402 (after the guard)

# isort: split
from sim.engine.full_walk import retry_draw  # noqa: E402 (after the guard)

# isort: split
from sim.engine.replication import fewer_collections, run_replication  # noqa: E402 (after the guard)

__all__ = [
    "FUNDING",
    "SERVICES",
    "RatedTraffic",
    "RunOutput",
    "SimpyScheduler",
    "fewer_collections",
    "retry_draw",
    "run_replication",
]

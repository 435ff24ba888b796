"""Rating: a call plus the pool state → pool seconds, charge, funding source, or a refusal.

Two paths with identical results: ``rate_call`` rates one ``Call`` against a mutable
``PoolBook`` (readable, for tests), ``rate_batch`` rates a time-sorted ``CallBatch``
with numpy. Modules, in dependency order: ``rules`` (routes, rules, outcomes),
``context`` (``RatingContext``), ``pools``, ``scalar`` (one call, and the modelling
notes), ``vectorised`` (batches). Imports the pure core only; no SimPy.
"""

from sim.telephony.rating.rules import (
    ChargeTo,
    Outcome,
    Reason,
    Route,
    Rule,
    UnratableCallError,
    route_call,
)

# isort: split
from sim.telephony.rating.context import FundingMode, RatingContext

# isort: split
from sim.telephony.rating.pools import ALERT_THRESHOLDS_PCT, PoolAlert, PoolBook, PoolState

# isort: split
from sim.telephony.rating.scalar import Rating, apply_balance_check, rate_call

# isort: split
from sim.telephony.rating.vectorised import (
    RatedBatch,
    cover_from_pools,
    rate_batch,
    shared_pool_demand,
)

__all__ = [
    "ALERT_THRESHOLDS_PCT",
    "ChargeTo",
    "FundingMode",
    "Outcome",
    "PoolAlert",
    "PoolBook",
    "PoolState",
    "RatedBatch",
    "Rating",
    "RatingContext",
    "Reason",
    "Route",
    "Rule",
    "UnratableCallError",
    "apply_balance_check",
    "cover_from_pools",
    "rate_batch",
    "rate_call",
    "route_call",
    "shared_pool_demand",
]

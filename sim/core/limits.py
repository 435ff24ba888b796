"""The largest values a scenario may hold: every number and date is bounded.

``sim.core.schema`` refuses any value outside these ranges before a dataclass sees it,
so whatever ``ccsim validate`` accepts, ``ccsim run`` can run: money stays far inside
signed 64-bit micro-units even when summed, times stay inside what Python's ``datetime``
and pandas' nanosecond timestamps (1677-09-21 .. 2262-04-11) can hold, and seeds fit the
``int64`` columns of result tables. ``docs/errors.md`` lists them. Tighter ranges of
single settings (counts, rates, replications) are in ``sim.scenario.rules``.

Imports nothing from the rest of the package.
"""

from __future__ import annotations

from datetime import date, datetime

MICROS_PER_UNIT = 1_000_000
MAX_MONEY_UNITS = 1_000_000_000
"""Largest amount of money in a scenario: 10^9 currency units (10^15 micro-units), so
sums of thousands of amounts stay far inside the signed 64-bit range (9.2 x 10^18)."""
MAX_MONEY_MICROS = MAX_MONEY_UNITS * MICROS_PER_UNIT

SECONDS_PER_DAY = 86_400
MAX_HORIZON_DAYS = 36_525
"""Longest horizon (and any duration): 100 years of 365.25 days."""
MAX_DURATION_S = float(MAX_HORIZON_DAYS * SECONDS_PER_DAY)

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2150, 12, 31)
"""Dates and date-times lie in [1900-01-01, 2150-12-31]: a start there plus the longest
horizon (100 years) ends before 2262, the last day of nanosecond timestamps."""
MIN_DATETIME = datetime(MIN_DATE.year, MIN_DATE.month, MIN_DATE.day)
MAX_DATETIME = datetime(MAX_DATE.year, MAX_DATE.month, MAX_DATE.day, 23, 59, 59)

MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
"""Whole numbers fit a signed 64-bit integer (table columns, numpy)."""
MAX_SEED = MAX_INT
"""Seeds: 0 .. 2^63 - 1 (numpy's SeedSequence takes any, result tables keep int64)."""

MAX_FLOAT = 1e12
"""Any real number in a scenario lies in [-10^12, 10^12] (and is finite)."""

MAX_REPLICATIONS = 100_000
"""Most replications of one run (``simulation.replications``, ``--replications``)."""
MAX_SWEEP_REPLICATIONS = 1_000_000
"""Most replications per setting of a sweep or recommendation (``sweep.*``)."""
MAX_WORKERS = 1_024
"""Most worker processes (``--workers``)."""

MAX_USERS = 1_000_000
"""Most users of a tenant (the sum of ``user_groups[].count``)."""
MAX_CALLS_PER_DAY = 20_000_000
"""Most expected calls per day of a whole tenant (users x rates plus service numbers)."""
MAX_PER_USER_DAY = 1_000.0
"""Highest call rate per user and day (outbound, inbound)."""
MAX_SERVICE_CALLS_PER_DAY = 1_000_000.0
"""Highest call rate of one service number per day."""

MAX_SCENARIO_BYTES = 1 << 20
"""Largest scenario file: 1 MiB."""
MAX_TABLE_BYTES = 16 << 20
"""Largest rate table (tariff CSV) or licence price list: 16 MiB."""

__all__ = [
    "MAX_CALLS_PER_DAY",
    "MAX_DATE",
    "MAX_DATETIME",
    "MAX_DURATION_S",
    "MAX_FLOAT",
    "MAX_HORIZON_DAYS",
    "MAX_INT",
    "MAX_MONEY_MICROS",
    "MAX_MONEY_UNITS",
    "MAX_PER_USER_DAY",
    "MAX_REPLICATIONS",
    "MAX_SCENARIO_BYTES",
    "MAX_SEED",
    "MAX_SERVICE_CALLS_PER_DAY",
    "MAX_SWEEP_REPLICATIONS",
    "MAX_TABLE_BYTES",
    "MAX_USERS",
    "MAX_WORKERS",
    "MIN_DATE",
    "MIN_DATETIME",
    "MIN_INT",
]

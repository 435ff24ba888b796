"""The rating context: everything rating needs besides the calls and the pool state.

``RatingContext`` (tenant, rate tables, calendar, funding mode) and what follows from it
once and is cached on it: pool sizes and links (``_pool_info``) and the vectorised
path's per-cell lookup tables (``_Routes``, built in ``sim.telephony.rating.vectorised``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sim.core.units import SECONDS_PER_MINUTE, Calendar
from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES, CallBatch
from sim.telephony.plans import RESOURCE_ACCOUNT_PAYG_FROM, Holder, LinkKey, PoolKey, Tenant
from sim.telephony.rating.rules import ChargeTo, Reason
from sim.telephony.tariffs import Tariff, TariffBook

FundingMode = Literal["prepaid", "postpaid"]


IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class _RatingCache:
    """Lookup tables derived from one ``RatingContext``, built lazily, reused by batches.

    ``routes`` holds the ``_Routes`` per (groups, countries) code tables, ``pools`` the
    size and linked pair of each pool key met. All of it follows from the immutable
    context, so a cache pickles as an empty one (see ``__reduce__``).
    """

    __slots__ = ("pools", "routes")

    def __init__(self) -> None:
        self.routes: dict[tuple[tuple[str, ...], tuple[str, ...]], _Routes] = {}
        self.pools: dict[tuple[PoolKey, int], tuple[int, LinkKey | None]] = {}

    def __reduce__(self) -> tuple[type[_RatingCache], tuple[()]]:
        return (_RatingCache, ())


@dataclass(frozen=True, slots=True)
class RatingContext:
    """Everything rating needs besides the calls and the pool state.

    ``funding_mode``: ``prepaid`` charges go to Communications Credits; ``postpaid``
    (NCE/MCA, teams-credits.md §6) to the monthly invoice, or, with ``hard_cap``, calls
    needing a charge are refused. ``pool_increment_s`` must divide 60.
    """

    tenant: Tenant
    tariffs: TariffBook
    calendar: Calendar
    funding_mode: FundingMode = "prepaid"
    hard_cap: bool = False
    pool_increment_s: int = SECONDS_PER_MINUTE
    on_unratable: Literal["raise", "block"] = "raise"
    headcount_growth_per_month: float = 0.0
    """User groups' licences (and so the shared pools) grow by this share a month."""
    _cache: _RatingCache = field(
        default_factory=_RatingCache, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.funding_mode not in ("prepaid", "postpaid"):
            raise ValueError(
                f"funding_mode must be 'prepaid' or 'postpaid', got {self.funding_mode!r}"
            )
        if self.hard_cap and self.funding_mode != "postpaid":
            raise ValueError("hard_cap applies to postpaid (NCE/MCA) funding only")
        if not (0 < self.pool_increment_s <= 60 and 60 % self.pool_increment_s == 0):
            raise ValueError(f"pool_increment_s must divide 60, got {self.pool_increment_s}")
        if self.on_unratable not in ("raise", "block"):
            raise ValueError(f"on_unratable must be 'raise' or 'block', got {self.on_unratable!r}")

    @property
    def charge_to(self) -> ChargeTo:
        """Return who pays charged amounts in this funding mode."""
        return ChargeTo.CREDITS if self.funding_mode == "prepaid" else ChargeTo.INVOICE

    @property
    def payg_only_from_s(self) -> float:
        """The instant from which resource accounts' outbound calls need PAYG (§10.2)."""
        return self.calendar.to_sim(RESOURCE_ACCOUNT_PAYG_FROM)

    def charge_refusal(self, holder: Holder) -> Reason:
        """Return why ``holder`` cannot be charged, or ``Reason.NONE`` when it can."""
        if self.funding_mode == "postpaid":
            return Reason.HARD_CAP if self.hard_cap else Reason.NONE
        # §1: each user must also hold a Communications Credits licence to draw on credits.
        return Reason.NONE if holder.credits_licence else Reason.NO_CREDITS_LICENCE


@dataclass(frozen=True, slots=True, eq=False)
class _Routes:
    """Rule, tariff, static outcome and pool of every cell of a batch's code tables.

    Cell ``((group * n_call_types + call_type) * n_number_types + number_type) *
    n_countries + dest_country`` (see ``cells``). ``outcome`` and ``reason`` are final
    for cells that draw no pool; for pooled cells they hold the outcome of a call the
    pool no longer admits (charged, or blocked from set-up). A table has groups x 27 x
    countries cells: a few thousand for a typical tenant.
    """

    n_countries: int
    holder_country: NDArray[np.int16]
    """Per group: code of the holder's usage country; -1 when not in the code table."""
    refusal: NDArray[np.int8]
    """Per group: ``Reason`` the holder cannot be charged (``Reason.NONE`` if it can)."""
    rule: NDArray[np.int8]
    """The cell's ``Rule``; -1 when the call type does not fit the holder's kind."""
    outcome: NDArray[np.int8]
    reason: NDArray[np.int8]
    unratable: BoolArray | None
    """Chargeable cells that no tariff row prices; None when there are none."""
    tariff_row: IntArray
    """Global row into ``tariff_rows`` of priced cells; -1 otherwise."""
    pool_class: NDArray[np.int32]
    """Code into ``pool_classes`` of priced cells whose route draws a pool; -1 otherwise."""
    per_user: BoolArray | None
    """Pooled cells drawing a per-subscriber pool (MCOPSTN8); None when there are none."""
    spend_limited: BoolArray | None
    """Cells of outbound user calls whose group has a spend limit (§10.1); None if none."""
    spend_limit: IntArray
    """Per group: the monthly spend limit per user in micro-units; -1 when none."""
    needs_payg: BoolArray | None
    """Cells of resource accounts' outbound calls on a plan with included minutes, refused
    from ``RESOURCE_ACCOUNT_PAYG_FROM`` (§10.2); None when there are none."""
    pool_classes: tuple[PoolKey, ...]
    """Pools without member, sorted by (allowance, scope) like the batch's ``pool_keys``."""
    tariff_rows: tuple[Tariff, ...]
    row_rate: IntArray
    row_fee: IntArray
    row_increment: IntArray
    """Rate, fee and increment per global tariff row, plus a trailing 0 that row -1 picks."""

    def cells(self, batch: CallBatch) -> IntArray:
        """Return the cell of every call of ``batch`` (built for its code tables)."""
        # int32 arithmetic is cheaper; 2**31 cells would not fit in memory anyway.
        cell = batch.group.astype(np.int32)
        cell *= len(CALL_TYPES)
        cell += batch.call_type
        cell *= len(NUMBER_TYPES)
        cell += batch.number_type
        cell *= self.n_countries
        cell += batch.dest_country
        return cell.astype(np.intp)


def _pool_info(ctx: RatingContext, key: PoolKey, month_index: int) -> tuple[int, LinkKey | None]:
    """Return a pool's size in seconds in a month and its linked pair, cached on ``ctx``.

    ``month_index`` counts local months from the start's (it matters only with head-count
    growth).
    """
    growth = ctx.headcount_growth_per_month
    month = month_index if growth else 0
    info = ctx._cache.pools.get((key, month))
    if info is None:
        size = ctx.tenant.pool_size_s(key, month, growth)
        info = ctx._cache.pools[(key, month)] = (size, ctx.tenant.link_of(key))
    return info


__all__ = [
    "BoolArray",
    "FundingMode",
    "IntArray",
    "RatingContext",
]

"""The vectorised path: ``rate_batch`` rates a time-sorted ``CallBatch`` with numpy.

Row by row the same as ``rate_call`` (modelling notes in ``sim.telephony.rating.scalar``),
returned as a ``RatedBatch``. Everything about a call except the pool state is a
function of its *cell*: the (holder, call type, number type, destination) combination of
the batch's code tables (the holder fixes the usage country). ``_build_routes`` rates
every cell once per context and code tables with the rules of ``route_call``;
``rate_batch`` then looks the calls' cells up, and only calls whose route draws a pool
go through ``_draw_pools``, by cumulative sums per (pool, calendar month).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sim.core.units import SECONDS_PER_MINUTE, Calendar, Micros
from sim.telephony.calls import (
    CALL_TYPES,
    NUMBER_TYPES,
    OUTBOUND_USER_TYPES,
    CallBatch,
    CallType,
    NumberType,
)
from sim.telephony.plans import (
    CALLING_PLANS,
    CONFERENCING,
    DIAL_OUT_ADDON_COUNTRIES,
    NANP_DOMESTIC,
    TENANT_SCOPE,
    Holder,
    PoolKey,
    pool_country,
)
from sim.telephony.rating.context import (
    BoolArray,
    IntArray,
    RatingContext,
    _pool_info,
    _Routes,
)
from sim.telephony.rating.pools import ALERT_THRESHOLDS_PCT, PoolAlert, PoolState
from sim.telephony.rating.rules import (
    _BLOCK_RULES,
    _OUTBOUND_TABLE_RULES,
    _PLAN_OUT_TYPES,
    _POOL_RULES,
    _SERVICE_TYPES,
    ChargeTo,
    Outcome,
    Reason,
    Rule,
    UnratableCallError,
    _check_holder,
)
from sim.telephony.rating.scalar import Rating
from sim.telephony.tariffs import TABLE_NAMES, ZONE_A, Tariff, TariffTable

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True, eq=False)
class RatedBatch:
    """Ratings of a ``CallBatch``, one row per call in batch order (see ``Rating``).

    ``rule``, ``outcome`` and ``reason`` hold ``Rule``, ``Outcome`` and ``Reason`` values;
    ``pool`` codes into ``pool_keys`` and ``tariff_row`` into ``tariff_rows`` (-1: none).
    ``rate_per_min``, ``connection_fee`` and ``increment_s`` give each call's tariff terms
    (0 when none), looked up from ``row_rate``, ``row_fee`` and ``row_increment`` (one
    entry per tariff row and a last 0 for -1) rather than stored per call: at a million
    users that is about 100 MiB less for each day's calls. ``state`` is the pool state
    after the batch, to pass to the next one.
    """

    call_id: NDArray[np.int64]
    rule: NDArray[np.int8]
    outcome: NDArray[np.int8]
    reason: NDArray[np.int8]
    pool: NDArray[np.int32]
    pool_s: NDArray[np.int64]
    charged_s: NDArray[np.int64]
    amount: NDArray[np.int64]
    needs_balance_check: NDArray[np.bool_]
    served_s: NDArray[np.float64]
    tariff_row: NDArray[np.int64]
    pool_keys: tuple[PoolKey, ...]
    tariff_rows: tuple[Tariff, ...]
    row_rate: NDArray[np.int64]
    row_fee: NDArray[np.int64]
    row_increment: NDArray[np.int64]
    charged_to: ChargeTo
    alerts: tuple[PoolAlert, ...]
    state: PoolState

    def __len__(self) -> int:
        return len(self.call_id)

    @property
    def rate_per_min(self) -> NDArray[np.int64]:
        """Each call's rate in micro-units a minute (0: no tariff)."""
        return self.row_rate[self.tariff_row]

    @property
    def connection_fee(self) -> NDArray[np.int64]:
        """Each call's connection fee in micro-units (0: no tariff)."""
        return self.row_fee[self.tariff_row]

    @property
    def increment_s(self) -> NDArray[np.int64]:
        """Each call's billing increment in seconds (0: no tariff)."""
        return self.row_increment[self.tariff_row]

    @property
    def total_amount(self) -> Micros:
        """Return the sum of all charged amounts (before any balance check)."""
        return Micros(int(self.amount.sum()))

    def rating(self, i: int) -> Rating:
        """Return row ``i`` as a scalar ``Rating``."""
        pool, row = int(self.pool[i]), int(self.tariff_row[i])
        outcome = Outcome(int(self.outcome[i]))
        charged = outcome in (Outcome.CHARGED, Outcome.POOL_CHARGED)
        return Rating(
            call_id=int(self.call_id[i]),
            rule=Rule(int(self.rule[i])),
            outcome=outcome,
            reason=Reason(int(self.reason[i])),
            pool=self.pool_keys[pool] if pool >= 0 else None,
            pool_s=int(self.pool_s[i]),
            charged_s=int(self.charged_s[i]),
            amount=Micros(int(self.amount[i])),
            charged_to=self.charged_to if charged else ChargeTo.NONE,
            needs_balance_check=bool(self.needs_balance_check[i]),
            served_s=float(self.served_s[i]),
            tariff=self.tariff_rows[row] if row >= 0 else None,
        )

    def to_frame(self) -> pd.DataFrame:
        """Return one row per call with readable rule, outcome, reason and pool labels."""
        import pandas as pd

        def names(values: NDArray[np.int8], enum: type[IntEnum]) -> pd.Categorical[str]:
            return pd.Categorical.from_codes(
                values.astype(np.int64), pd.Index([m.name.lower() for m in enum])
            )

        labels = np.array([k.label for k in self.pool_keys] + [""], dtype=object)
        return pd.DataFrame(
            {
                "call_id": self.call_id,
                "rule": names(self.rule, Rule),
                "outcome": names(self.outcome, Outcome),
                "reason": names(self.reason, Reason),
                "pool": labels[self.pool],
                "pool_s": self.pool_s,
                "charged_s": self.charged_s,
                "amount": self.amount,
                "needs_balance_check": self.needs_balance_check,
                "served_s": self.served_s,
            }
        )


_CT = {t: i for i, t in enumerate(CALL_TYPES)}
_NT = {t: i for i, t in enumerate(NUMBER_TYPES)}
_PLAN_NAMES = tuple(CALLING_PLANS)
_CONF_NAMES = tuple(CONFERENCING)
_NO_CLOSE = np.iinfo(np.int64).max
_MAX_CACHED_ROUTES = 16
"""Code-table pairs whose ``_Routes`` a context keeps (a traffic model uses one)."""


def _codes(rules: frozenset[Rule] | Mapping[Rule, Reason]) -> list[int]:
    return [int(r) for r in rules]


def _ceil_to(x: NDArray[np.float64], step: IntArray | int, covered: IntArray | int = 0) -> IntArray:
    """Round ``x - covered`` up to multiples of ``step``, as ``tariffs.billable_seconds``."""
    k = np.subtract(x, covered)
    k /= step
    np.ceil(k, out=k)
    reached = k * step
    reached += covered
    k += reached < x
    out = k.astype(np.int64)
    out *= step
    return out


def _month_starts(cal: Calendar, first_s: float, last_s: float) -> NDArray[np.float64]:
    starts = [cal.month_start_s(first_s)]
    while (nxt := cal.next_month_start_s(starts[-1])) <= last_s:
        starts.append(nxt)
    return np.array(starts, dtype=np.float64)


def _stable_order(keys: NDArray[np.integer[Any]]) -> IntArray:
    """Return the stable argsort of non-negative ``keys``.

    Keys below 2**15 are sorted as int16, which numpy radix-sorts in linear time.
    """
    if len(keys) and int(keys.max()) < 2**15:
        return np.argsort(keys.astype(np.int16), kind="stable")
    return np.argsort(keys, kind="stable")


def _routes(ctx: RatingContext, batch: CallBatch) -> _Routes:
    """Return the cell tables for the code tables of ``batch``, cached on ``ctx``."""
    cache = ctx._cache.routes
    key = (batch.groups, batch.countries)
    routes = cache.get(key)
    if routes is None:
        if len(cache) >= _MAX_CACHED_ROUTES:
            cache.clear()
        routes = cache[key] = _build_routes(ctx, *key)
    return routes


def _pool_class(holder: Holder, rule: Rule) -> PoolKey:
    """Return the pool a pooled rule draws for ``holder``, member -1 (see ``route_call``)."""
    if rule is Rule.DIAL_OUT_ZONE_A:
        return PoolKey(TENANT_SCOPE, holder.conferencing.allowance())
    scope = pool_country(holder.usage_country)
    if rule is Rule.DOMESTIC_PLAN:
        return PoolKey(scope, holder.plan.domestic_allowance())
    return PoolKey(scope, holder.plan.international_allowance())


def _build_routes(
    ctx: RatingContext, groups: tuple[str, ...], countries: tuple[str, ...]
) -> _Routes:
    """Rate every cell of the code tables ``groups`` and ``countries`` (see ``_Routes``)."""
    holders = [ctx.tenant.holder(name) for name in groups]
    country_index = {c: i for i, c in enumerate(countries)}
    shape = (len(groups), len(CALL_TYPES), len(NUMBER_TYPES), len(countries))
    g, ct, nt, dc = (axis.ravel() for axis in np.indices(shape, dtype=np.int64))
    holder_country = np.array([country_index.get(x.usage_country, -1) for x in holders], np.int16)
    refusal = np.array([ctx.charge_refusal(x) for x in holders], dtype=np.int8)
    plan = np.array([_PLAN_NAMES.index(x.plan.name) for x in holders], np.int64)[g]
    conf = np.array([_CONF_NAMES.index(x.conferencing.name) for x in holders], np.int64)[g]
    addon = np.array([x.dial_out_us_ca_unlimited for x in holders], dtype=bool)[g]
    service = np.array([x.is_service for x in holders], dtype=bool)[g]
    # A holder whose usage country is not in the table has no valid cells: its calls
    # fail the usage-country check before any lookup, so its -1 code does no harm here.
    uc = holder_country.astype(np.int64)[g]
    rule = _rule_cells(ct, nt, uc, dc, plan, conf, addon, countries)
    rule[np.isin(ct, [_CT[t] for t in _SERVICE_TYPES]) != service] = -1

    # The rate table of each chargeable route, as in ``route_call``.
    code = {name: i for i, name in enumerate(TABLE_NAMES)}
    is_tf = nt == _NT[NumberType.TOLL_FREE]
    ppm = rule == Rule.CONF_PAY_PER_MINUTE
    table = np.full(len(rule), -1, dtype=np.int64)
    table[rule == Rule.TOLL_FREE_INBOUND] = code["toll_free"]
    table[np.isin(rule, _codes(_OUTBOUND_TABLE_RULES))] = code["outbound"]
    table[np.isin(rule, [int(Rule.DIAL_OUT_ZONE_A), int(Rule.DIAL_OUT_NOT_COVERED)])] = code[
        "dial_out"
    ]
    table[ppm & (ct == _CT[CallType.CONF_OUT])] = code["dial_out"]
    table[ppm & (ct == _CT[CallType.CONF_IN]) & is_tf] = code["toll_free"]
    table[ppm & (ct == _CT[CallType.CONF_IN]) & ~is_tf] = code["dial_in"]
    tables = ctx.tariffs.tables()
    rows = tuple(r for t in tables for r in t.rows)
    offsets = np.cumsum([0] + [len(t.rows) for t in tables])
    needed = table >= 0
    row = np.full(len(rule), -1, dtype=np.int64)
    if needed.any():
        cells = (g[needed], ct[needed], nt[needed], dc[needed], table[needed])
        row[needed] = _tariff_rows(tables, offsets, holders, countries, *cells)
    unratable = needed & (row < 0)
    priced = needed & ~unratable

    # Outcome and reason without a pool (pooled cells: once the pool is used up).
    cell_refusal = refusal[g]
    can_charge = cell_refusal == Reason.NONE
    outcome = np.full(len(rule), Outcome.FREE, dtype=np.int8)
    outcome[priced & can_charge] = Outcome.CHARGED
    outcome[priced & ~can_charge] = Outcome.BLOCKED
    reason = np.where(priced & ~can_charge, cell_refusal, np.int8(Reason.NONE)).astype(np.int8)
    for block_rule, block_reason in _BLOCK_RULES.items():
        hit = rule == block_rule
        outcome[hit] = Outcome.BLOCKED
        reason[hit] = block_reason
    outcome[unratable] = Outcome.BLOCKED
    reason[unratable] = Reason.NO_TARIFF

    # Pools: one class per (holder, pooled rule), numbered in (allowance, scope) order.
    pooled = np.isin(rule, _codes(_POOL_RULES)) & priced
    n_rules = len(Rule)
    pairs = np.unique(g[pooled] * n_rules + rule[pooled]).tolist()
    bases = {p: _pool_class(holders[p // n_rules], Rule(p % n_rules)) for p in pairs}
    pool_classes = tuple(sorted(set(bases.values()), key=lambda k: (k.allowance, k.scope)))
    class_of = np.full(len(groups) * n_rules, -1, dtype=np.int32)
    for p, base in bases.items():
        class_of[p] = pool_classes.index(base)
    pool_class = np.full(len(rule), -1, dtype=np.int32)
    pool_class[pooled] = class_of[g[pooled] * n_rules + rule[pooled]]
    plan_pooled = np.array([CALLING_PLANS[p].pooled for p in _PLAN_NAMES])[plan]
    per_user = pooled & (rule == Rule.DOMESTIC_PLAN) & ~plan_pooled
    plan_has_pools = np.array([CALLING_PLANS[p].has_pools for p in _PLAN_NAMES])[plan]
    needs_payg = service & (ct == _CT[CallType.UCAP_OUT]) & plan_has_pools & (rule >= 0)
    spend_limit = np.array(
        [-1 if x.spend_limit is None else x.spend_limit for x in holders], dtype=np.int64
    )
    user_out = np.isin(ct, [_CT[t] for t in OUTBOUND_USER_TYPES])
    spend_limited = user_out & (spend_limit[g] >= 0) & priced

    return _Routes(
        n_countries=len(countries),
        holder_country=holder_country,
        refusal=refusal,
        rule=rule,
        outcome=outcome,
        reason=reason,
        unratable=unratable if unratable.any() else None,
        tariff_row=row,
        pool_class=pool_class,
        per_user=per_user if per_user.any() else None,
        needs_payg=needs_payg if needs_payg.any() else None,
        spend_limited=spend_limited if spend_limited.any() else None,
        spend_limit=spend_limit,
        pool_classes=pool_classes,
        tariff_rows=rows,
        # A trailing zero row prices "no tariff" as 0, so the arrays index without masks.
        row_rate=np.array([r.rate_per_min for r in rows] + [0], dtype=np.int64),
        row_fee=np.array([r.connection_fee for r in rows] + [0], dtype=np.int64),
        row_increment=np.array([r.increment_s for r in rows] + [0], dtype=np.int64),
    )


def _tariff_rows(
    tables: tuple[TariffTable, ...],
    offsets: IntArray,
    holders: list[Holder],
    countries: tuple[str, ...],
    g: IntArray,
    ct: IntArray,
    nt: IntArray,
    dc: IntArray,
    tb: IntArray,
) -> IntArray:
    """Return the global tariff row of each cell (-1: none), as ``rate_call`` finds it.

    ``g``, ``ct``, ``nt``, ``dc`` and ``tb`` (the rate table's code) list the cells.

    The origin is the holder's usage country. A table keyed by neither origin nor call
    type is looked up per (destination, number type) only; others per distinct
    (holder, call type, number type, destination) of the needed cells.
    """
    local = np.full(len(tb), -1, dtype=np.int64)
    for code, t in enumerate(tables):
        in_table = tb == code
        if not in_table.any():
            continue
        if not (t.by_origin or t.by_call_type):
            grid = t.lookup_grid(countries).astype(np.int64)
            local[in_table] = grid[dc[in_table], nt[in_table]]
            continue
        key = (g[in_table] * len(CALL_TYPES) + ct[in_table]) * len(NUMBER_TYPES) + nt[in_table]
        key = key * len(countries) + dc[in_table]
        uniq, inverse = np.unique(key, return_inverse=True)
        found = np.empty(len(uniq), dtype=np.int64)
        for i, k in enumerate(uniq.tolist()):
            rest, d = divmod(k, len(countries))
            rest, n = divmod(rest, len(NUMBER_TYPES))
            grp, c = divmod(rest, len(CALL_TYPES))
            found[i] = t.find_index(
                countries[d], NUMBER_TYPES[n], holders[grp].usage_country, CALL_TYPES[c]
            )
        local[in_table] = found[inverse]
    return np.where(local >= 0, offsets[tb] + local, -1)


def _rule_cells(
    ct: IntArray,
    nt: IntArray,
    uc: IntArray,
    dc: IntArray,
    plan: IntArray,
    conf: IntArray,
    addon: BoolArray,
    countries: tuple[str, ...],
) -> NDArray[np.int8]:
    """Return each cell's ``Rule``, with the conditions in ``route_call``'s order."""
    plans = [CALLING_PLANS[p] for p in _PLAN_NAMES]
    confs = [CONFERENCING[c] for c in _CONF_NAMES]
    p_outbound = np.array([p.outbound for p in plans])[plan]
    p_metered = np.array([p.metered for p in plans])[plan]
    p_intl = np.array([p.international_min > 0 for p in plans])[plan]
    no_conf = ~np.array([c.licensed for c in confs])[conf]
    ppm = np.array([c.metered for c in confs])[conf]
    c_nanp = np.array([c in NANP_DOMESTIC for c in countries], dtype=bool)
    zone_a = np.array([c in ZONE_A for c in countries], dtype=bool)[dc]
    addon_dest = np.array([c in DIAL_OUT_ADDON_COUNTRIES for c in countries], dtype=bool)[dc]
    is_tf = nt == _NT[NumberType.TOLL_FREE]
    is_prem = nt == _NT[NumberType.PREMIUM]
    inbound = (ct == _CT[CallType.USER_IN]) | (ct == _CT[CallType.UCAP_IN])
    conf_in = ct == _CT[CallType.CONF_IN]
    conf_out = ct == _CT[CallType.CONF_OUT]
    out = np.isin(ct, [_CT[t] for t in _PLAN_OUT_TYPES])
    domestic = (uc == dc) | (c_nanp[uc] & c_nanp[dc])
    table = [
        (inbound & is_tf, Rule.TOLL_FREE_INBOUND),
        (inbound, Rule.INBOUND_FREE),
        (conf_in & no_conf, Rule.NO_CONFERENCING),
        (conf_in & ppm, Rule.CONF_PAY_PER_MINUTE),
        (conf_in & is_tf, Rule.TOLL_FREE_INBOUND),
        (conf_in, Rule.CONF_TOLL_DIAL_IN_FREE),
        (conf_out & no_conf, Rule.NO_CONFERENCING),
        (conf_out & ppm, Rule.CONF_PAY_PER_MINUTE),
        (conf_out & is_prem, Rule.DIAL_OUT_NOT_COVERED),
        (conf_out & addon & addon_dest, Rule.DIAL_OUT_US_CA_ADDON),
        (conf_out & zone_a, Rule.DIAL_OUT_ZONE_A),
        (conf_out, Rule.DIAL_OUT_NOT_COVERED),
        (out & ~p_outbound, Rule.NO_CALLING_PLAN),
        (out & is_prem, Rule.PREMIUM_SHARED_COST),
        (out & p_metered, Rule.PAYG_OUTBOUND),
        (out & domestic, Rule.DOMESTIC_PLAN),
        (out & p_intl, Rule.INTERNATIONAL_PLAN),
        (out, Rule.INTERNATIONAL_ON_DOMESTIC),
    ]
    rule = np.select([c for c, _ in table], [np.int8(r) for _, r in table], np.int8(-1))
    return rule.astype(np.int8)


def _check_holders(
    batch: CallBatch, routes: _Routes, rule: NDArray[np.int8], ctx: RatingContext
) -> None:
    """Raise ValueError (see ``_check_holder``) at the first call not fitting its holder."""
    bad = (rule < 0) | (routes.holder_country.take(batch.group) != batch.usage_country)
    if bad.any():
        call = batch.call(int(np.argmax(bad)))
        _check_holder(
            call.call_type, ctx.tenant.holder(call.group), call.usage_country, call.call_id
        )


@dataclass(frozen=True, slots=True)
class _Draws:
    """Pool drawdown of a batch.

    ``pool`` and ``pool_s`` have a row per call. ``pos`` lists the positions of the
    pooled calls in draw order (by pool and month, then call order); ``avail_s`` (the
    seconds left in the call's pool at its set-up), ``demand_s`` and ``drawn_s`` follow it.
    """

    pool: NDArray[np.int32]
    pool_s: IntArray
    pos: IntArray
    avail_s: IntArray
    demand_s: IntArray
    drawn_s: IntArray
    keys: tuple[PoolKey, ...]
    alerts: tuple[PoolAlert, ...]
    state: PoolState


def _pool_identities(
    batch: CallBatch, pidx: IntArray, pool_class: NDArray[np.int32], cell: IntArray, routes: _Routes
) -> tuple[tuple[PoolKey, ...], NDArray[np.integer[Any]]]:
    """Return the pools the calls at ``pidx`` draw, sorted, and each call's code into them.

    Keys sort by (allowance, scope, member): by class, then member (-1: shared).
    """
    if routes.per_user is not None:
        per_user = routes.per_user[cell[pidx]]
        if per_user.any():
            member = np.where(per_user, batch.subscriber_id[pidx], -1)
            members, m_code = np.unique(member, return_inverse=True)
            n_members = len(members)
            ident = pool_class.astype(np.int64) * n_members + m_code
            id_uniq, id_code = np.unique(ident, return_inverse=True)
            keys = tuple(
                PoolKey(base.scope, base.allowance, int(members[u % n_members]))
                for u in id_uniq.tolist()
                for base in [routes.pool_classes[u // n_members]]
            )
            return keys, id_code
    # Shared pools only: one per class; mark the classes present instead of sorting.
    present = np.bincount(pool_class, minlength=len(routes.pool_classes)) > 0
    keys = tuple(k for k, p in zip(routes.pool_classes, present.tolist(), strict=True) if p)
    if len(keys) == len(present):
        return keys, pool_class
    return keys, (np.cumsum(present) - 1)[pool_class]


def _draw_pools(
    batch: CallBatch,
    pidx: IntArray,
    pool_class: NDArray[np.int32],
    cell: IntArray,
    routes: _Routes,
    ctx: RatingContext,
    state: PoolState,
) -> _Draws:
    """Draw pools in call order by cumulative sums per (pool, month); see ``PoolBook``.

    ``pidx`` holds the positions of the calls that draw a pool, ``pool_class`` their
    ``_Routes.pool_class``. Each (pool, month) group is a run of the calls sorted by group;
    per-group values are spread over their runs with ``np.repeat``.
    """
    n = len(batch)
    cal = ctx.calendar
    pool_s = np.zeros(n, dtype=np.int64)
    pool_code = np.full(n, -1, dtype=np.int32)
    pos = avail = d = draw = np.zeros(0, dtype=np.int64)
    if n == 0:
        return _Draws(pool_code, pool_s, pos, avail, d, draw, (), (), state)
    start = batch.start_s
    months = _month_starts(cal, float(start[0]), float(start[-1]))
    last_month = len(months) - 1
    same_month = state.month_start_s == months[last_month]
    used_out = dict(state.used_s) if same_month else {}
    closed_out = set(state.closed) if same_month else set()
    keys: tuple[PoolKey, ...] = ()
    alerts: list[PoolAlert] = []
    if len(pidx):
        keys, id_code = _pool_identities(batch, pidx, pool_class, cell, routes)
        pool_code[pidx] = id_code
        info = [_pool_info(ctx, k, 0) for k in keys]
        key_size = np.array([size for size, _ in info], dtype=np.int64)
        links = [link for _, link in info]
        link_names = sorted({lk for lk in links if lk is not None})
        key_link = np.array([link_names.index(lk) if lk else -1 for lk in links], np.int64)

        # (pool, month) groups, each in call order (stable sort).
        n_months = len(months)
        group_key = id_code
        if n_months > 1:
            month = np.searchsorted(months, start[pidx], "right") - 1
            group_key = id_code.astype(np.int64) * n_months + month
        pos = pidx[_stable_order(group_key)]  # batch position of each sorted call
        counts = np.bincount(group_key)
        g_val = np.flatnonzero(counts)
        counts = counts[g_val]
        g_end = np.cumsum(counts) - 1
        g_start = g_end - counts + 1
        g_key, g_month = g_val // n_months, g_val % n_months
        g_size = key_size[g_key]
        if ctx.headcount_growth_per_month:  # licences, and so pools, grow month by month
            month_index = [cal.month_index(float(m)) for m in months]
            g_size = np.array(
                [
                    _pool_info(ctx, keys[k], month_index[m])[0]
                    for k, m in zip(g_key.tolist(), g_month.tolist(), strict=True)
                ],
                dtype=np.int64,
            )
        g_link = key_link[g_key]
        # Usage carried in from earlier batches counts in the state's own month only.
        g_used0 = np.zeros(len(g_val), dtype=np.int64)
        g_closed0 = np.zeros(len(g_val), dtype=bool)
        if state.month_start_s is not None:
            for gi in np.flatnonzero(months[g_month] == state.month_start_s).tolist():
                g_used0[gi] = state.used_s.get(keys[g_key[gi]], 0)
                lk = links[g_key[gi]]
                g_closed0[gi] = lk is not None and lk in state.closed

        # Seconds left at each call: size - carried usage - what earlier calls asked for.
        d = _ceil_to(batch.duration_s[pos], ctx.pool_increment_s)
        excl = np.cumsum(d) - d
        avail = np.repeat(g_size - g_used0 + excl[g_start], counts) - excl
        np.maximum(avail, 0, out=avail)
        if g_closed0.any():
            avail[np.repeat(g_closed0, counts)] = 0

        # §2.2 "whichever is reached first": the first call to use up either linked pool
        # closes both for the rest of the month.
        close_at = np.full(max(len(link_names), 1) * n_months, _NO_CLOSE, dtype=np.int64)
        if (g_link >= 0).any():
            linked = np.repeat(g_link >= 0, counts)
            lm = np.repeat(np.where(g_link >= 0, g_link * n_months + g_month, 0), counts)
            exhausts = linked & (avail > 0) & (d >= avail)
            np.minimum.at(close_at, lm[exhausts], pos[exhausts])
            avail[linked & (pos > close_at[lm])] = 0

        draw = np.minimum(d, avail)
        pool_s[pos] = draw
        # Usage after each call: carried + drawn by the group's calls up to it.
        used_after = np.cumsum(draw)
        g_base = g_used0 - (used_after[g_start] - draw[g_start])
        used_after += np.repeat(g_base, counts)
        g_total = used_after[g_end]

        # Alerts at 80 % and 100 % (§3), stamped when the threshold minute is used: usage
        # never decreases within a group, so the first call reaching it crosses it.
        for pct in ALERT_THRESHOLDS_PCT:
            threshold = pct * g_size
            crossed = (g_used0 * 100 < threshold) & (threshold <= g_total * 100) & (g_size > 0)
            for gi in np.flatnonzero(crossed).tolist():
                thr = int(threshold[gi])
                lo, hi = int(g_start[gi]), int(g_end[gi]) + 1
                j = lo + int(np.searchsorted(used_after[lo:hi], -(-thr // 100)))
                t0 = float(start[pos[j]])
                alerts.append(
                    PoolAlert(
                        t_s=t0 + (thr / 100 - int(used_after[j] - draw[j])),
                        pool=keys[g_key[gi]],
                        month=cal.month_label(t0),
                        threshold_pct=pct,
                    )
                )
        # Carry the last month's usage and closures into the state for the next batch.
        for gi in np.flatnonzero(g_month == last_month).tolist():
            key, total = keys[g_key[gi]], int(g_total[gi])
            if total > 0:
                used_out[key] = total
            lk = links[g_key[gi]]
            if lk is not None and (
                g_closed0[gi] or close_at[g_link[gi] * n_months + g_month[gi]] != _NO_CLOSE
            ):
                closed_out.add(lk)
    new_state = PoolState(
        month_start_s=float(months[last_month]),
        used_s={k: used_out[k] for k in sorted(used_out)},
        closed=frozenset(closed_out),
        last_start_s=float(start[-1]),
    )
    alerts.sort(key=PoolAlert.sort_key)
    return _Draws(pool_code, pool_s, pos, avail, d, draw, keys, tuple(alerts), new_state)


def _spend_limits(
    batch: CallBatch,
    ctx: RatingContext,
    routes: _Routes,
    limited: BoolArray,
    outcome: NDArray[np.int8],
    reason: NDArray[np.int8],
    amount: IntArray,
    state: PoolState,
) -> tuple[IntArray, dict[int, int]]:
    """Refuse the charged calls that start once their user's monthly spend is reached.

    §10.1, as ``rate_call`` (see the modelling notes): per (subscriber, local month), the
    spend before a call is what earlier calls were charged, plus what ``state`` carries
    for its month. Refusing a call leaves the spend where it was, so every later call of
    that user and month is refused too, and the sums over all candidates give exactly the
    spend of the admitted ones. That needs each subscriber in one group (one limit), as
    the traffic model and the call-log mapping number them. Changes ``outcome``,
    ``reason`` and ``amount`` in place; returns the positions cut off (admitted by a pool)
    and the spend carried on.
    """
    charged = (outcome == Outcome.CHARGED) | (outcome == Outcome.POOL_CHARGED)
    idx = np.flatnonzero(limited & charged)
    carried_month = state.month_start_s
    if not len(idx):
        months = _month_starts(ctx.calendar, float(batch.start_s[0]), float(batch.start_s[-1]))
        keep = carried_month == months[-1]
        return idx, dict(state.spent) if keep else {}
    start = batch.start_s
    months = _month_starts(ctx.calendar, float(start[0]), float(start[-1]))
    month = np.searchsorted(months, start[idx], "right") - 1
    sub = batch.subscriber_id[idx]
    order = np.lexsort((idx, month, sub))
    idx, month, sub = idx[order], month[order], sub[order]
    a = amount[idx]
    new_group = np.ones(len(idx), dtype=bool)
    new_group[1:] = (sub[1:] != sub[:-1]) | (month[1:] != month[:-1])
    g_start = np.flatnonzero(new_group)
    counts = np.diff(np.append(g_start, len(idx)))
    csum = np.cumsum(a)
    excl = csum - a
    before = excl - np.repeat(excl[g_start], counts)
    carried = np.zeros(len(g_start), dtype=np.int64)
    if carried_month is not None and state.spent:
        in_carried = months[month[g_start]] == carried_month
        for gi in np.flatnonzero(in_carried).tolist():
            carried[gi] = state.spent.get(int(sub[g_start[gi]]), 0)
    before += np.repeat(carried, counts)
    limit = routes.spend_limit.take(batch.group[idx])
    refused = before >= limit
    pos = idx[refused]
    split = outcome[pos] == Outcome.POOL_CHARGED
    outcome[pos] = np.where(split, np.int8(Outcome.CUT_OFF), np.int8(Outcome.BLOCKED))
    reason[pos] = Reason.SPEND_LIMIT
    amount[pos] = 0
    admitted = np.where(refused, 0, a)
    totals = np.add.reduceat(admitted, g_start) + carried
    spent: dict[int, int] = {}
    if carried_month == months[-1]:
        spent.update(state.spent)
    last = month[g_start] == len(months) - 1
    for gi in np.flatnonzero(last).tolist():
        spent[int(sub[g_start[gi]])] = int(totals[gi])
    spent = {k: v for k, v in sorted(spent.items()) if v > 0}
    return pos[split], spent


def unpriced_calls(batch: CallBatch, ctx: RatingContext) -> list[str]:
    """Describe the calls of ``batch`` that no rate-table row prices, one text each.

    The cell tables are ``rate_batch``'s, so this is exactly the set of calls that make
    it raise ``UnratableCallError``, except resource accounts' outbound calls, which may
    be refused for want of a PAYG plan instead (§10.2). For ``ccsim validate``, on one
    call of each kind the traffic makes (``TrafficModel.possible_calls``).
    """
    routes = _routes(ctx, batch)
    if routes.unratable is None:
        return []
    cell = routes.cells(batch)
    bad = routes.unratable[cell]
    if routes.needs_payg is not None:
        bad &= ~routes.needs_payg[cell]
    rule = routes.rule[cell]
    out = []
    for i in np.flatnonzero(bad).tolist():
        c = batch.call(i)
        out.append(
            f"{c.group} {c.call_type.value} to {c.dest_country} {c.number_type.value} "
            f"({Rule(int(rule[i])).name})"
        )
    return out


def rate_batch(batch: CallBatch, ctx: RatingContext, state: PoolState | None = None) -> RatedBatch:
    """Rate a time-sorted batch with numpy; row by row the same as ``rate_call``.

    ``state`` is the pool state left by earlier batches (fresh pools when None); the
    result's ``state`` continues from this batch. The batch must be sorted by ``start_s``
    (``CallBatch.sorted_by_start``); calls with equal starts draw pools in batch order.

    Rules, tariffs and the outcome of calls that draw no pool are looked up per cell
    (``_Routes``, built once per context and code tables); only pooled calls are drawn.
    """
    state = state or PoolState()
    if not batch.is_time_sorted():
        raise ValueError("rate_batch needs a batch sorted by start_s (use sorted_by_start())")
    if len(batch) and batch.start_s[0] < state.last_start_s:
        raise ValueError(
            f"calls must be rated in start order: batch starts at {batch.start_s[0]}, "
            f"before the last rated call at {state.last_start_s}"
        )
    routes = _routes(ctx, batch)
    cell = routes.cells(batch)
    rule = routes.rule[cell]
    _check_holders(batch, routes, rule, ctx)
    late = None
    if routes.needs_payg is not None:
        # §10.2: resource accounts' outbound calls need PAYG from 1 Nov 2025.
        late = routes.needs_payg[cell] & (batch.start_s >= ctx.payg_only_from_s)
        late = late if late.any() else None
    if routes.unratable is not None and ctx.on_unratable == "raise":
        unratable = routes.unratable[cell]
        if late is not None:
            unratable &= ~late
        if unratable.any():
            idx = np.flatnonzero(unratable)
            shown = "; ".join(
                f"call {c.call_id}: {c.dest_country} {c.number_type.value} "
                f"({Rule(int(rule[i])).name})"
                for i in idx[:3].tolist()
                for c in [batch.call(i)]
            )
            raise UnratableCallError(
                f"{len(idx)} call(s) priced by no rate-table row, e.g. {shown}; "
                "add the country, a zone or a 'default' row"
            )
    outcome = routes.outcome[cell]
    reason = routes.reason[cell]
    pool_class = routes.pool_class[cell]
    tariff_row = routes.tariff_row[cell]
    if late is not None:
        rule[late] = Rule.RESOURCE_ACCOUNT_NEEDS_PAYG
        outcome[late] = Outcome.BLOCKED
        reason[late] = Reason.NO_PAYG_PLAN
        pool_class[late] = -1
        tariff_row[late] = -1
    pidx = np.flatnonzero(pool_class >= 0)
    dr = _draw_pools(batch, pidx, pool_class[pidx], cell, routes, ctx, state)

    cut = dr.pos[:0]
    if len(dr.pos):
        # A call its pool admits is covered, split (pool, then charged) or cut off.
        admitted = dr.avail_s > 0
        split = admitted & (dr.drawn_s < dr.demand_s)
        outcome[dr.pos[admitted]] = Outcome.POOL
        outcome[dr.pos[split]] = Outcome.POOL_CHARGED
        if routes.refusal.any():
            refusal = routes.refusal.take(batch.group[dr.pos])
            cut_off = split & (refusal != Reason.NONE)
            cut = dr.pos[cut_off]
            outcome[cut] = Outcome.CUT_OFF
            reason[dr.pos[admitted]] = Reason.NONE
            reason[cut] = refusal[cut_off]

    dur = batch.duration_s
    from_setup = outcome == Outcome.CHARGED  # charged from set-up
    charged = np.flatnonzero(from_setup | (outcome == Outcome.POOL_CHARGED))
    row = tariff_row[charged]  # tariff terms of the charged calls only
    billable = _ceil_to(dur[charged], routes.row_increment[row], dr.pool_s[charged])
    charged_s = np.zeros(len(batch), dtype=np.int64)
    charged_s[charged] = billable
    # Money rule of sim.telephony.tariffs: fee + ceil(billable_s * rate / 60) micro-units.
    amount = np.zeros(len(batch), dtype=np.int64)
    amount[charged] = np.where(
        billable > 0,
        routes.row_fee[row] + -(-billable * routes.row_rate[row] // SECONDS_PER_MINUTE),
        0,
    )
    # The monthly spend of §10.1 carries over a batch without spend-limited calls too.
    same_month = dr.state.month_start_s == state.month_start_s
    state_out = replace(dr.state, spent=dict(state.spent) if same_month else {})
    if routes.spend_limited is not None and len(batch):
        limited = routes.spend_limited[cell] & (routes.refusal.take(batch.group) == Reason.NONE)
        more_cut, spent = _spend_limits(batch, ctx, routes, limited, outcome, reason, amount, state)
        charged_s[outcome == Outcome.BLOCKED] = 0
        charged_s[more_cut] = 0
        cut = np.concatenate([cut, more_cut])
        from_setup = outcome == Outcome.CHARGED
        state_out = replace(dr.state, spent=spent)
    # Prepaid: a call charged from set-up needs a positive balance (see the module notes).
    needs_check = from_setup if ctx.funding_mode == "prepaid" else np.zeros_like(from_setup)
    served = np.where(outcome == Outcome.BLOCKED, 0.0, dur)
    served[cut] = dr.pool_s[cut]
    return RatedBatch(
        call_id=batch.call_id,  # the batch's own ids (never written to)
        rule=rule,
        outcome=outcome,
        reason=reason,
        pool=dr.pool,
        pool_s=dr.pool_s,
        charged_s=charged_s,
        amount=amount,
        needs_balance_check=needs_check,
        served_s=served,
        tariff_row=tariff_row,
        pool_keys=dr.keys,
        tariff_rows=routes.tariff_rows,
        row_rate=routes.row_rate,
        row_fee=routes.row_fee,
        row_increment=routes.row_increment,
        charged_to=ctx.charge_to,
        alerts=dr.alerts,
        state=state_out,
    )


def shared_pool_demand(batch: CallBatch, ctx: RatingContext) -> dict[PoolKey, int] | None:
    """Return what the calls ask of their pools, when each would draw a shared pool only.

    Seconds per pool, each call rounded up to the pool increment as ``rate_batch`` does.
    None when some call draws no pool, or a pool per user or linked to another (§2.2),
    or is refused, unratable or otherwise checked by ``rate_batch``: those calls must
    be rated. Neither the calls' times nor their users are read, so a batch of calls
    drawn but for those (``TrafficModel.draw_days(..., defer=...)``) may be asked.
    """
    if not len(batch):
        return {}
    routes = _routes(ctx, batch)
    cell = routes.cells(batch)
    # Calls of a cell meet the same rule: check each cell once, and sum demand per cell.
    n_cells = len(routes.rule)
    present = np.flatnonzero(np.bincount(cell, minlength=n_cells))
    if (routes.holder_country.take(batch.group) != batch.usage_country).any():
        return None
    if (routes.rule[present] < 0).any():
        return None
    for flags in (routes.needs_payg, routes.per_user):
        if flags is not None and flags[present].any():
            return None
    unratable = routes.unratable
    if unratable is not None and ctx.on_unratable == "raise" and unratable[present].any():
        return None
    pool_class = routes.pool_class[present]
    if (pool_class < 0).any():
        return None
    demand = _ceil_to(batch.duration_s, ctx.pool_increment_s)
    # Whole seconds, summed as float64: exact below 2**53 s (285 million years).
    per_cell = np.bincount(cell, weights=demand, minlength=n_cells)[present]
    asked: dict[PoolKey, int] = {}
    for c, seconds in zip(pool_class.tolist(), per_cell.tolist(), strict=True):
        key = routes.pool_classes[c]
        if ctx.tenant.link_of(key) is not None:
            return None
        asked[key] = asked.get(key, 0) + int(seconds)
    return asked


def cover_from_pools(
    state: PoolState, demand: Mapping[PoolKey, int], ctx: RatingContext, t_s: float
) -> PoolState | None:
    """Return the pool state after calls of ``t_s``'s local month ask ``demand`` of it.

    Only when every pool asked is left with time to spare (usage after them strictly
    below its size): then every one of those calls is covered in full whatever their
    order, and calls drawing the same pools later in the month see the same usage as
    had all of them been rated in time order. None otherwise. Alerts (§3) are not
    raised: the caller must not need them (lean walks do not).
    """
    month_start = ctx.calendar.month_start_s(t_s)
    same = state.month_start_s == month_start
    used = dict(state.used_s) if same else {}
    month_index = ctx.calendar.month_index(month_start)
    for key, asked in demand.items():
        size, link = _pool_info(ctx, key, month_index)
        after = used.get(key, 0) + asked
        if link is not None or after >= size:
            return None
        if after > 0:
            used[key] = after
    return PoolState(
        month_start_s=month_start,
        used_s={k: used[k] for k in sorted(used)},
        closed=state.closed if same else frozenset(),
        last_start_s=state.last_start_s,
        spent=state.spent if same else {},
    )


__all__ = [
    "RatedBatch",
    "cover_from_pools",
    "rate_batch",
    "shared_pool_demand",
    "unpriced_calls",
]

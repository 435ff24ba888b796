"""Plans and licences as data, the tenant's licence holders, and its minute pools.

The catalogue holds the documented allowances (teams-credits.md §2, §3); the scenario
pieces ``UserGroup``, ``ServiceNumber`` and ``Tenant`` say who holds which licence; the
tenant derives the size of every minute pool from them. Pool *drawdown* is in
``sim.telephony.rating``.

Readings of the sources, made here once:

- Pools are keyed by (pool country, allowance). The pool country is the licence usage
  location, with Puerto Rico folded into the United States (§2.2: US and PR users share
  one pool). Only identical plans pool together (§2.3).
- A call is domestic when it stays in the usage country, or goes between the US (with
  PR) and Canada (§2.2: US↔CA calls count as domestic). Everything else is international.
- Domestic & International ("international" here): "3000 domestic OR 600 international,
  whichever is reached first in the calendar month" (§2.2, the US, UK and German pages)
  is read literally: the plan's two pools are *linked*; once either runs out, both are
  used up for the rest of the month. The Canada page says no such thing: it gives 3000
  domestic minutes and 600 international (§2.2), so in Canada (``UNLINKED_COUNTRIES``)
  the two pools are independent, each used up on its own. The minute-pools report shows
  the two as separate pools (§2.2), so each has its own key.
- Allowances by usage country follow the country pages (§2.2): 3000 domestic minutes in
  US/CA/PR, 1200 elsewhere (UK and EU included, although the licence table says 3000 for
  UK under MCOPSTN2).
- Audio Conferencing dial-out: 60 minutes per *assigned* licence (not purchased) per
  month, one tenant-wide pool whatever the organiser's location (§3); the complimentary
  900-minute pool (RU/KR/TW) is a separate pool of its own kind.
- Service numbers (auto attendants, call queues) are resource accounts: they belong to
  their own "group", rate inbound toll-free minutes to credits and place outbound calls
  (``ucap_out``) on their own calling plan, PAYG by default. Each counts as one licence in
  its plan's pool. From 1 Nov 2025 (``RESOURCE_ACCOUNT_PAYG_FROM``, §10.2) their outbound
  calls need PAYG: on any other plan they are refused, so they are charged per minute and
  never drawn from a domestic pool.

Imports ``sim.core.units``, ``sim.core.schema`` and ``sim.telephony.calls`` only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sim.core.schema import FieldError, require
from sim.core.units import SECONDS_PER_MINUTE, Micros
from sim.telephony.calls import check_country

NANP_DOMESTIC = frozenset({"US", "PR", "CA"})
"""Usage countries whose domestic area is US + PR + CA (§2.2)."""
TENANT_SCOPE = "tenant"
"""Scope of the tenant-wide conferencing dial-out pools (§3)."""
DIAL_OUT_ADDON_CODE = "MCOMEETADD_DIALOUT_US"
DIAL_OUT_ADDON_COUNTRIES = frozenset({"US", "CA"})
"""Destinations the unlimited US/Canada dial-out add-on covers (§1)."""
RESOURCE_ACCOUNT_PAYG_FROM = datetime(2025, 11, 1)
"""From this local instant, resource accounts' outbound PSTN calls need a Pay-As-You-Go
Calling Plan; on any other Calling Plan they fail (teams-credits.md §10.2, MC1123835)."""
UNLINKED_COUNTRIES = frozenset({"CA"})
"""Pool countries where Domestic & International's two pools are not linked: the Canada
page lists 3000 domestic and 600 international minutes without "whichever first" (§2.2)."""
CREDITS_LICENCE_CODES = ("MCOPSTNC", "MCOPSTNPP")
"""Communications Credits: SKU string and usage-report capability code (§1)."""


@dataclass(frozen=True, slots=True)
class CallingPlan:
    """A Teams Calling Plan: included outbound minutes per user per calendar month.

    ``international_min`` > 0 means international calls draw a pool of their own;
    0 means international calls on this plan are charged (domestic plans, §1).
    ``linked``: the domestic and international pools end together (see module notes).
    ``metered``: no included minutes, every outbound minute charged (PAYG).
    """

    name: str
    title: str
    licence_codes: tuple[str, ...]
    domestic_min_nanp: int = 0
    domestic_min_other: int = 0
    international_min: int = 0
    pooled: bool = True
    linked: bool = False
    metered: bool = False
    outbound: bool = True
    source: str = ""

    def domestic_min(self, usage_country: str) -> int:
        """Return the included domestic minutes per user per month in a usage country."""
        if usage_country in NANP_DOMESTIC:
            return self.domestic_min_nanp
        return self.domestic_min_other

    def domestic_allowance(self) -> str:
        """Return the allowance name of the domestic pool."""
        return f"{self.name}:domestic" if self.international_min else self.name

    def international_allowance(self) -> str:
        """Return the allowance name of the international pool."""
        return f"{self.name}:international"

    @property
    def has_pools(self) -> bool:
        """Return True when the plan includes minutes."""
        return self.outbound and not self.metered


CALLING_PLANS: Mapping[str, CallingPlan] = {
    p.name: p
    for p in (
        # teams-credits.md §2.2: 3000 min US/CA/PR, 1200 UK/EU/others, pooled per country (§2.3).
        CallingPlan(
            "domestic",
            "Domestic Calling Plan",
            ("MCOPSTN1", "MCOPSTN1BR", "MCOPSTN1MX"),
            3000,
            1200,
            source="§2.2",
        ),
        # §2.2: the 240- and 120-minute domestic plans (MCOPSTN6, MCOPSTN5), pooled.
        CallingPlan(
            "domestic_240",
            "Domestic Calling Plan (240 min)",
            ("MCOPSTN6",),
            240,
            240,
            source="§2.2",
        ),
        CallingPlan(
            "domestic_120",
            "Domestic Calling Plan (120 min)",
            ("MCOPSTN5",),
            120,
            120,
            source="§2.2",
        ),
        # §2.2/§2.3: MCOPSTN8 is 120 min per user and NOT pooled across users.
        CallingPlan(
            "domestic_120_unpooled",
            "Domestic Calling Plan (120 min per user, not pooled)",
            ("MCOPSTN8",),
            120,
            120,
            pooled=False,
            source="§2.2, §2.3",
        ),
        # §2.2: US 3000 domestic OR 600 international, UK/DE/EU 1200 OR 600, whichever
        # first (linked); CA 3000 + 600, independent (UNLINKED_COUNTRIES).
        CallingPlan(
            "international",
            "Domestic and International Calling Plan",
            ("MCOPSTN2", "MCOPSTN2BR", "MCOPSTN2MX", "MCOPSTN9"),
            3000,
            1200,
            600,
            linked=True,
            source="§2.2",
        ),
        # §2.1: PAYG has no included outbound minutes; every outbound minute is charged.
        CallingPlan("payg", "Pay-As-You-Go Calling Plan", (), metered=True, source="§2.1, §1"),
        # No Microsoft calling plan (conferencing-only users): no outbound PSTN calling.
        CallingPlan("none", "No Calling Plan", (), outbound=False),
    )
}


@dataclass(frozen=True, slots=True)
class ConferencingLicence:
    """An Audio Conferencing licence kind and its dial-out pool per assigned licence."""

    name: str
    title: str
    licence_code: str | None
    dial_out_min_per_assigned: int = 0
    metered: bool = False
    """Pay-per-minute: every dial-in (toll and toll-free) and dial-out is charged (§1)."""
    countries: frozenset[str] | None = None
    """Usage countries where this kind is sold; None for everywhere."""
    source: str = ""

    @property
    def licensed(self) -> bool:
        """Return True for an actual conferencing licence."""
        return self.name != "none"

    def allowance(self) -> str:
        """Return the allowance name of this kind's tenant-wide dial-out pool."""
        return f"conferencing:{self.name}"


CONFERENCING: Mapping[str, ConferencingLicence] = {
    c.name: c
    for c in (
        ConferencingLicence("none", "No Audio Conferencing", None),
        # §3: 60 dial-out minutes per assigned licence per month to Zone A, pooled tenant-wide.
        ConferencingLicence("standard", "Audio Conferencing", "MCOMEETADD", 60, source="§3"),
        # §1: pay-per-minute conferencing: every dial-in and dial-out charged; no 60-min pool.
        ConferencingLicence(
            "pay_per_minute",
            "Audio Conferencing pay-per-minute",
            "MCOMEETACPEA",
            metered=True,
            source="§1",
        ),
        # §3: complimentary dial-out, 900 min per user per month to Zone A, RU/KR/TW only.
        ConferencingLicence(
            "complimentary",
            "Audio Conferencing with complimentary dial-out",
            "MCOMEETADD",
            900,
            countries=frozenset({"RU", "KR", "TW"}),
            source="§3",
        ),
    )
}


def pool_country(usage_country: str) -> str:
    """Return the country whose pool a usage location draws: PR shares the US pool (§2.2)."""
    return "US" if usage_country == "PR" else usage_country


def is_domestic(usage_country: str, dest_country: str) -> bool:
    """Return True when a call counts as domestic for a calling plan (§2.2: US↔CA)."""
    if usage_country in NANP_DOMESTIC:
        return dest_country in NANP_DOMESTIC
    return dest_country == usage_country


def _allowed(names: Sequence[str]) -> str:
    return ", ".join(sorted(names))


MAX_LABEL_CHARS = 100
_FORMULA_STARTS = ("=", "+", "-", "@")


def _check_label(name: str, field: str = "name") -> None:
    """Check a group's or service's name, shown in tables, CSV, charts and error lines.

    No control characters (a newline would break one-line messages), and no leading
    ``=``, ``+``, ``-`` or ``@``, which a spreadsheet reads as a formula in a CSV cell.
    """
    require(bool(name.strip()), field, "must not be empty")
    require(len(name) <= MAX_LABEL_CHARS, field, f"must be at most {MAX_LABEL_CHARS} characters")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    require(bad is None, field, f"must not contain control characters, got {name[:40]!r}")
    require(
        not name.startswith(_FORMULA_STARTS),
        field,
        f"must not start with {' '.join(_FORMULA_STARTS)} (read as a formula in a "
        f"spreadsheet), got {name[:40]!r}",
    )


def _check_plan(plan: str, field_name: str) -> None:
    require(
        plan in CALLING_PLANS,
        field_name,
        f"unknown plan {plan!r} (allowed plans: {_allowed(list(CALLING_PLANS))})",
    )


def _check_country(code: str, field_name: str) -> None:
    try:
        check_country(code)
    except ValueError as exc:
        raise FieldError(field_name, str(exc)) from None


@dataclass(frozen=True, slots=True)
class UserGroup:
    """Users sharing a usage location and a licence set.

    ``conferencing_assigned`` is the number of Audio Conferencing licences assigned to
    the group's users (default: every user); ``conferencing_purchased`` the number
    bought (default: as assigned). Only assigned licences size the dial-out pool (§3).
    """

    name: str
    count: int
    usage_country: str
    plan: str
    conferencing: str = "none"
    conferencing_assigned: int | None = None
    conferencing_purchased: int | None = None
    credits_licence: bool = True
    dial_out_us_ca_unlimited: bool = False
    spend_limit: Micros | None = None
    """The Teams calling policy's ``CallingSpendUserLimit`` (§10.1): what each user may
    spend a calendar month on outgoing PSTN calls (PAYG minutes, overage, international
    and premium calls); once reached, the user's calls that would be charged are refused
    until the next month. None: no limit (``EnableSpendLimits`` off)."""

    def __post_init__(self) -> None:
        _check_label(self.name)
        if self.spend_limit is not None:
            require(self.spend_limit > 0, "spend_limit", "must be > 0 (omit it: no limit)")
        require(self.count >= 0, "count", f"must be >= 0, got {self.count}")
        _check_country(self.usage_country, "usage_country")
        _check_plan(self.plan, "plan")
        require(
            self.conferencing in CONFERENCING,
            "conferencing",
            f"unknown conferencing licence {self.conferencing!r} "
            f"(allowed: {_allowed(list(CONFERENCING))})",
        )
        kind = CONFERENCING[self.conferencing]
        if kind.countries is not None:
            require(
                self.usage_country in kind.countries,
                "conferencing",
                f"{self.conferencing!r} is sold only in {_allowed(list(kind.countries))}, "
                f"not in {self.usage_country}",
            )
        if not kind.licensed:
            for name in ("conferencing_assigned", "conferencing_purchased"):
                require(
                    not getattr(self, name),
                    name,
                    "needs a conferencing licence (set conferencing)",
                )
        assigned = self.assigned_conferencing
        require(
            0 <= assigned <= self.count,
            "conferencing_assigned",
            f"must be between 0 and count ({self.count}), got {assigned}",
        )
        require(
            self.purchased_conferencing >= assigned,
            "conferencing_purchased",
            f"must be >= the {assigned} assigned licences, got {self.purchased_conferencing}",
        )
        if self.dial_out_us_ca_unlimited:
            require(
                self.conferencing in ("standard", "complimentary"),
                "dial_out_us_ca_unlimited",
                "the US/Canada dial-out add-on needs standard Audio Conferencing "
                f"(conferencing = 'standard'), got {self.conferencing!r}",
            )

    @property
    def assigned_conferencing(self) -> int:
        """Return the number of assigned conferencing licences."""
        if not CONFERENCING[self.conferencing].licensed:
            return 0
        return self.count if self.conferencing_assigned is None else self.conferencing_assigned

    @property
    def purchased_conferencing(self) -> int:
        """Return the number of purchased conferencing licences."""
        if self.conferencing_purchased is None:
            return self.assigned_conferencing
        return self.conferencing_purchased


@dataclass(frozen=True, slots=True)
class ServiceNumber:
    """An auto attendant or call queue with its own (toll or toll-free) number."""

    name: str
    kind: Literal["auto_attendant", "call_queue"]
    number_type: Literal["toll", "toll_free"]
    country: str
    plan: str = "payg"
    """Calling plan of the resource account, for its outbound calls (``ucap_out``)."""
    credits_licence: bool = True

    def __post_init__(self) -> None:
        _check_label(self.name)
        _check_country(self.country, "country")
        _check_plan(self.plan, "plan")


@dataclass(frozen=True, slots=True)
class Holder:
    """The licences behind a call: one user group or one service number."""

    name: str
    is_service: bool
    usage_country: str
    plan: CallingPlan
    conferencing: ConferencingLicence
    credits_licence: bool
    dial_out_us_ca_unlimited: bool
    count: int
    conferencing_assigned: int
    spend_limit: int | None = None
    """Monthly PSTN spend limit per user in micro-units (§10.1); None: none."""


@dataclass(frozen=True, slots=True, order=True)
class PoolKey:
    """Identity of a minute pool (without its month).

    ``scope`` is the pool country (``US`` also for PR) or ``tenant`` for conferencing;
    ``allowance`` names plan and part (``domestic``, ``international:international``,
    ``conferencing:standard``); ``member`` is the subscriber id of a per-user pool
    (MCOPSTN8), -1 for a shared pool.
    """

    scope: str
    allowance: str
    member: int = -1

    @property
    def label(self) -> str:
        """Return a readable name such as ``US/domestic`` or ``GB/domestic_120_unpooled#7``."""
        base = f"{self.scope}/{self.allowance}"
        return base if self.member < 0 else f"{base}#{self.member}"


LinkKey = tuple[str, str, int]
"""(scope, plan name, member) of a linked pair of pools (Domestic & International)."""


def check_unique_names(
    user_groups: Sequence[UserGroup], service_numbers: Sequence[ServiceNumber]
) -> None:
    """Raise ``FieldError`` at the first group or service number reusing a name."""
    seen: dict[str, str] = {}
    entries = [("user_groups", g.name) for g in user_groups]
    entries += [("service_numbers", s.name) for s in service_numbers]
    counters = {"user_groups": 0, "service_numbers": 0}
    for section, name in entries:
        where = f"{section}[{counters[section]}]"
        counters[section] += 1
        if name in seen:
            raise FieldError(f"{where}.name", f"duplicate name {name!r} (also {seen[name]})")
        seen[name] = where


@dataclass(frozen=True, slots=True)
class _TenantIndex:
    holders: dict[str, Holder]
    sizes_min: dict[PoolKey, int]
    member_min: dict[tuple[str, str], int]
    # What makes each shared pool: (licences, minutes per licence, grows with head-count).
    parts: dict[PoolKey, list[tuple[int, int, bool]]]


def headcount(count: int, growth_per_month: float, month_index: int) -> int:
    """Return a group's users (and licences) in month ``month_index`` (0: the start's).

    Head-count grows by ``growth_per_month`` a month, compounded and rounded, exactly as
    the traffic model grows its active users.
    """
    return round(count * (1 + growth_per_month) ** month_index)


@dataclass(frozen=True)
class Tenant:
    """The tenant's licence holders and the minute pools they make.

    Call ``group`` names refer to ``UserGroup.name`` or ``ServiceNumber.name``. (No
    ``slots``: the derived lookups live outside the dataclass fields, so ``to_plain`` and
    equality see only the two configured tuples.)
    """

    user_groups: tuple[UserGroup, ...] = ()
    service_numbers: tuple[ServiceNumber, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_groups", tuple(self.user_groups))
        object.__setattr__(self, "service_numbers", tuple(self.service_numbers))
        check_unique_names(self.user_groups, self.service_numbers)
        holders: dict[str, Holder] = {}
        for g in self.user_groups:
            holders[g.name] = Holder(
                name=g.name,
                is_service=False,
                usage_country=g.usage_country,
                plan=CALLING_PLANS[g.plan],
                conferencing=CONFERENCING[g.conferencing],
                credits_licence=g.credits_licence,
                dial_out_us_ca_unlimited=g.dial_out_us_ca_unlimited,
                count=g.count,
                conferencing_assigned=g.assigned_conferencing,
                spend_limit=g.spend_limit,
            )
        for s in self.service_numbers:
            holders[s.name] = Holder(
                name=s.name,
                is_service=True,
                usage_country=s.country,
                plan=CALLING_PLANS[s.plan],
                conferencing=CONFERENCING["none"],
                credits_licence=s.credits_licence,
                dial_out_us_ca_unlimited=False,
                count=1,
                conferencing_assigned=0,
            )
        sizes: dict[PoolKey, int] = {}
        member_min: dict[tuple[str, str], int] = {}
        parts: dict[PoolKey, list[tuple[int, int, bool]]] = {}

        def add(key: PoolKey, licences: int, minutes: int, grows: bool) -> None:
            sizes[key] = sizes.get(key, 0) + licences * minutes
            parts.setdefault(key, []).append((licences, minutes, grows))

        for h in holders.values():
            plan, scope = h.plan, pool_country(h.usage_country)
            if plan.has_pools:
                dom = plan.domestic_min(scope)
                if plan.pooled:
                    # §2.3: users in the same country with the same plan share one pool.
                    add(PoolKey(scope, plan.domestic_allowance()), h.count, dom, not h.is_service)
                else:
                    # §2.3: MCOPSTN8 is per user, not pooled.
                    member_min[(scope, plan.domestic_allowance())] = dom
                if plan.international_min:
                    key = PoolKey(scope, plan.international_allowance())
                    add(key, h.count, plan.international_min, not h.is_service)
            conf = h.conferencing
            if conf.dial_out_min_per_assigned:
                # §3: the dial-out pool counts assigned licences, tenant-wide.
                key = PoolKey(TENANT_SCOPE, conf.allowance())
                per = conf.dial_out_min_per_assigned
                add(key, h.conferencing_assigned, per, not h.is_service)
        # Kept in the instance dict, outside the dataclass fields (see the class docstring).
        self.__dict__["_index"] = _TenantIndex(holders, sizes, member_min, parts)

    @property
    def _ix(self) -> _TenantIndex:
        index: _TenantIndex = self.__dict__["_index"]
        return index

    @property
    def holders(self) -> Mapping[str, Holder]:
        """Return the licence holders by name (user groups, then service numbers)."""
        return self._ix.holders

    def holder(self, name: str) -> Holder:
        """Return the holder called ``name``; raise ValueError naming the known ones."""
        try:
            return self._ix.holders[name]
        except KeyError:
            known = _allowed(list(self._ix.holders))
            raise ValueError(
                f"unknown user group or service number {name!r} (known: {known})"
            ) from None

    def pool_sizes_min(self) -> Mapping[PoolKey, int]:
        """Return the monthly size in minutes of every shared pool."""
        return dict(self._ix.sizes_min)

    def pool_size_s(self, key: PoolKey, month_index: int = 0, growth_per_month: float = 0.0) -> int:
        """Return the monthly size of a pool in seconds (0 for an unknown pool).

        Shared pools count the licences held that month: with head-count growth, user
        groups' licences grow month by month (``headcount``); service numbers' do not.
        """
        if key.member >= 0:
            minutes = self._ix.member_min.get((key.scope, key.allowance), 0)
        elif growth_per_month == 0 or month_index == 0:
            minutes = self._ix.sizes_min.get(key, 0)
        else:
            minutes = sum(
                (headcount(n, growth_per_month, month_index) if grows else n) * per
                for n, per, grows in self._ix.parts.get(key, ())
            )
        return minutes * SECONDS_PER_MINUTE

    def link_of(self, key: PoolKey) -> LinkKey | None:
        """Return the linked pair a pool belongs to, or None for a stand-alone pool."""
        plan_name = key.allowance.split(":", 1)[0]
        plan = CALLING_PLANS.get(plan_name)
        if plan is None or not plan.linked or key.scope == TENANT_SCOPE:
            return None
        if key.scope in UNLINKED_COUNTRIES:
            return None  # §2.2: Canada's 3000 + 600 minutes are not "whichever first"
        return (key.scope, plan_name, key.member)


__all__ = [
    "CALLING_PLANS",
    "CONFERENCING",
    "CREDITS_LICENCE_CODES",
    "DIAL_OUT_ADDON_CODE",
    "DIAL_OUT_ADDON_COUNTRIES",
    "NANP_DOMESTIC",
    "RESOURCE_ACCOUNT_PAYG_FROM",
    "TENANT_SCOPE",
    "UNLINKED_COUNTRIES",
    "CallingPlan",
    "ConferencingLicence",
    "Holder",
    "LinkKey",
    "PoolKey",
    "ServiceNumber",
    "Tenant",
    "UserGroup",
    "check_unique_names",
    "headcount",
    "is_domestic",
    "pool_country",
]

"""Recorded calls mapped to the scenario's licence holders (user groups, service numbers).

Automatically, a user goes to a group of its usage country whose calling plan matches the
user's plan capability (``MCOPSTN1`` -> ``domestic``, Communications Credits only ->
``payg``) and, as a tie-break, whose conferencing matches; each auto attendant or call
queue to a service number of its country. Explicit rules (``CAPABILITY/COUNTRY=GROUP``
with ``*`` wildcards, or ``user:PSEUDONYM=GROUP``; ``parse_mapping``) come first. A call
takes its holder's usage country (``map_calls``); ``require_mapped`` refuses calls left
unmapped unless they may be left out.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.calllogs.codes import CONFERENCING_OF_CAPABILITY, PLAN_OF_CAPABILITY
from sim.calllogs.users import user_licences
from sim.core.errors import InputError
from sim.scenario.model import Scenario

_SERVICE_TYPES = ("ucap_in", "ucap_out")


@dataclass(frozen=True, slots=True)
class MappingRule:
    """``pattern=group``: ``CAPABILITY/COUNTRY`` (``*`` wildcards) or ``user:PSEUDONYM``."""

    pattern: str
    group: str

    def matches(self, user: str, licence: str, country: str) -> bool:
        """Return True when the rule applies to a user (or a call without one)."""
        if self.pattern.startswith("user:"):
            return bool(user) and self.pattern[5:] == user
        return fnmatch.fnmatchcase(f"{licence}/{country}", self.pattern.upper())


def parse_mapping(
    specs: Sequence[str], scenario: Scenario, where: str = "--map"
) -> list[MappingRule]:
    """Read ``PATTERN=GROUP`` rules; the group must be a user group or service number."""
    names = [g.name for g in scenario.user_groups] + [s.name for s in scenario.service_numbers]
    rules = []
    for spec in specs:
        pattern, sep, group = spec.partition("=")
        pattern, group = pattern.strip(), group.strip()
        if not sep or not pattern or not group:
            raise InputError(
                f"{where} {spec!r}: expected PATTERN=GROUP such as MCOPSTN1/US=us-staff, "
                "*/GB=uk-sales or user:u-0123456789abcdef=us-staff"
            )
        if "/" not in pattern and not pattern.startswith("user:"):
            pattern = f"{pattern}/*"
        if group not in names:
            raise InputError(
                f"{where} {spec!r}: no user group or service number is named {group!r} "
                f"(known: {', '.join(names)})"
            )
        rules.append(MappingRule(pattern, group))
    return rules


@dataclass
class MappedCalls:
    """Recorded calls with their holder: ``group`` and ``subscriber`` per call.

    ``calls`` keeps the rows that could be mapped (usage country set to the holder's);
    ``unmapped`` the others; ``holders`` one row per user (or per capability and country
    for calls without a user) with the group chosen and how.
    """

    calls: pd.DataFrame
    unmapped: pd.DataFrame
    holders: pd.DataFrame
    groups: tuple[str, ...]
    relocated: int = 0
    """Calls whose usage country differs from their holder's (explicit rules only)."""


def _choose(
    scenario: Scenario,
    service: bool,
    country: str,
    plan: str,
    conferencing: str,
    toll_free: bool,
) -> tuple[str, str]:
    """Return (group, how) for a user or service of the log, or ("", why not)."""
    if service:
        svcs = [s for s in scenario.service_numbers if s.country == country]
        if not svcs:
            return "", f"no service number in {country}"
        best = sorted(
            enumerate(svcs),
            key=lambda e: (-int((e[1].number_type == "toll_free") == toll_free), e[0]),
        )
        return best[0][1].name, "auto"
    groups = [g for g in scenario.user_groups if g.usage_country == country]
    if not groups:
        return "", f"no user group in {country}"
    scored = sorted(
        enumerate(groups),
        key=lambda e: (
            -(
                2 * int(bool(plan) and e[1].plan == plan)
                + int(bool(conferencing) and e[1].conferencing == conferencing)
            ),
            e[0],
        ),
    )
    g = scored[0][1]
    how = "auto" if (not plan or g.plan == plan) else f"auto (plan {plan} -> {g.plan})"
    return g.name, how


def map_calls(
    calls: pd.DataFrame, scenario: Scenario, rules: Sequence[MappingRule] = ()
) -> MappedCalls:
    """Map each recorded call to a user group or service number of ``scenario``."""
    users = user_licences(calls)
    ct = calls["call_type"].astype(str)
    is_service_call = ct.isin(_SERVICE_TYPES).to_numpy()
    toll_free_share = (
        calls.assign(tf=(calls["number_type"] == "toll_free") & ct.eq("ucap_in"))
        .groupby("user")["tf"]
        .mean()
    )
    holder_rows: list[dict[str, Any]] = []
    group_of_user: dict[str, str] = {}
    for u in users.to_dict("records"):
        user, licence, country = str(u["user"]), str(u["licence"]), str(u["usage_country"])
        chosen_group, how = "", ""
        for rule in rules:
            if rule.matches(user, licence, country):
                chosen_group, how = rule.group, f"rule {rule.pattern}"
                break
        if not chosen_group:
            chosen_group, how = _choose(
                scenario,
                bool(u["service"]),
                country,
                str(u["plan"]),
                str(u["conferencing"]),
                float(toll_free_share.get(user, 0.0)) > 0.5,
            )
        group_of_user[user] = chosen_group
        holder_rows.append(
            {
                "holder": user,
                "kind": "service" if u["service"] else "user",
                "usage_country": country,
                "licence": licence,
                "plan": u["plan"],
                "conferencing": u["conferencing"],
                "calls": int(u["calls"]),
                "group": chosen_group,
                "how": how,
            }
        )
    group: NDArray[np.object_] = np.asarray(
        calls["user"].astype(str).map(group_of_user).fillna(""), dtype=object
    )
    # Calls without a user: by their own capability, country and kind.
    nouser = np.flatnonzero(calls["user"].astype(str).to_numpy() == "")
    if len(nouser):
        sub = calls.iloc[nouser]
        keys = pd.DataFrame(
            {
                "licence": sub["licence"].astype(str).to_numpy(),
                "country": sub["usage_country"].astype(str).to_numpy(),
                "service": is_service_call[nouser],
                "conf": sub["call_type"].astype(str).str.startswith("conf_").to_numpy(),
                "tf": (sub["number_type"] == "toll_free").to_numpy(),
            }
        )
        chosen: dict[tuple[Any, ...], str] = {}
        for key_, part in keys.groupby(list(keys.columns), sort=True):
            key = tuple(key_)
            lic, country, service, conf, tf = (str(key[0]), str(key[1]), *key[2:])
            g, how = "", ""
            for rule in rules:
                if not rule.pattern.startswith("user:") and rule.matches("", lic, country):
                    g, how = rule.group, f"rule {rule.pattern}"
                    break
            if not g:
                plan = "" if conf else PLAN_OF_CAPABILITY.get(lic, "")
                conferencing = CONFERENCING_OF_CAPABILITY.get(lic, "") if conf else ""
                g, how = _choose(scenario, bool(service), country, plan, conferencing, bool(tf))
            chosen[key] = g
            holder_rows.append(
                {
                    "holder": f"(no user: {lic or '-'}/{country})",
                    "kind": "service" if service else "user",
                    "usage_country": country,
                    "licence": lic,
                    "plan": "",
                    "conferencing": "",
                    "calls": len(part),
                    "group": g,
                    "how": how,
                }
            )
        group[nouser] = [chosen[tuple(r)] for r in keys.itertuples(index=False, name=None)]
    # A user group cannot take bot calls, nor a service number user calls.
    services = {s.name for s in scenario.service_numbers}
    is_service_group = np.array([g in services for g in group], dtype=bool)
    wrong_kind = (group != "") & (is_service_group != is_service_call)
    if wrong_kind.any():
        i = int(np.flatnonzero(wrong_kind)[0])
        what = "service number" if is_service_group[i] else "user group"
        raise InputError(
            f"--map: {calls['call_type'].iloc[i]} calls of {calls['user'].iloc[i] or 'a holder'} "
            f"were mapped to {what} {group[i]!r}; auto attendant and call queue calls "
            "(ucap_*) belong to service numbers, all others to user groups"
        )
    mapped = np.asarray(group != "", dtype=bool)
    country_of = {g.name: g.usage_country for g in scenario.user_groups}
    country_of.update({s.name: s.country for s in scenario.service_numbers})
    out = pd.DataFrame(calls.loc[mapped]).copy()
    out["group"] = group[mapped].astype(str)
    holder_country = out["group"].map(country_of)
    relocated = int((holder_country != out["usage_country"]).sum())
    out["usage_country"] = holder_country.astype(str)
    # One subscriber per user (and per holder for calls without one), stable.
    ident = out["group"] + "\x00" + out["user"].astype(str)
    out["subscriber"] = pd.factorize(ident, sort=True)[0].astype(np.int64)
    names = tuple(g.name for g in scenario.user_groups) + tuple(
        s.name for s in scenario.service_numbers
    )
    return MappedCalls(
        calls=out.reset_index(drop=True),
        unmapped=pd.DataFrame(calls.loc[~mapped]).reset_index(drop=True),
        holders=pd.DataFrame(holder_rows),
        groups=names,
        relocated=relocated,
    )


def require_mapped(mapped: MappedCalls, log: str, allow_unmapped: bool) -> None:
    """Raise ``InputError`` naming the unmapped holders unless they may be left out."""
    if not len(mapped.unmapped) or allow_unmapped:
        return
    h = mapped.holders[mapped.holders["group"] == ""]
    keys = sorted(
        {f"{r['licence'] or '-'}/{r['usage_country']} ({r['how']})" for r in h.to_dict("records")}
    )
    raise InputError(
        f"{log}: {len(mapped.unmapped):,} calls of {len(h):,} holders match no user group or "
        f"service number of the scenario: {', '.join(keys[:5])}; add --map "
        "CAPABILITY/COUNTRY=GROUP, or --skip-unmapped to leave them out"
    )


__all__ = [
    "MappedCalls",
    "MappingRule",
    "map_calls",
    "parse_mapping",
    "require_mapped",
]

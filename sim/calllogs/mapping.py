"""Recorded calls mapped to the scenario's licence holders (user groups, service numbers).

Automatically, a user goes to a group of its usage country whose calling plan matches the
user's plan capability (``MCOPSTN1`` -> ``domestic``, Communications Credits only ->
``payg``) and, as a tie-break, whose conferencing matches; each auto attendant or call
queue to a service number of its country. Explicit rules (``CAPABILITY/COUNTRY=GROUP``
with ``*`` wildcards, or ``user:PSEUDONYM=GROUP``; ``parse_mapping``) come first. A call
takes its holder's usage country (``map_calls``); ``require_mapped`` refuses calls left
unmapped unless they may be left out. ``--map FILE`` reads rules from a file
(``read_mapping_file``: ``PATTERN=GROUP`` lines, or a ``mapping.csv`` of an earlier
replay).

Nothing is remapped silently: ``find_remapping`` lists the users priced on another plan
than their log shows and the groups whose head count differs from the users of the log;
``require_faithful`` refuses them unless allowed (``--map`` or ``--allow-remap``), and
``with_log_headcounts`` then sizes each group to the users the log has, so that pools,
licences and per-user figures count the users actually in the log.
"""

from __future__ import annotations

import csv
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.calllogs.codes import CONFERENCING_OF_CAPABILITY, PLAN_OF_CAPABILITY
from sim.calllogs.users import user_licences
from sim.core.errors import InputError
from sim.core.files import FileRuleError, read_text
from sim.core.schema import ConfigError, to_plain
from sim.core.units import shown
from sim.scenario.loading import LoadedScenario
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
        return fnmatch.fnmatchcase(f"{licence}/{country}".upper(), self.pattern.upper())


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
                f"{where} {shown(spec)}: expected PATTERN=GROUP such as MCOPSTN1/US=us-staff, "
                "*/GB=uk-sales or user:u-0123456789abcdef=us-staff"
            )
        if "/" not in pattern and not pattern.startswith("user:"):
            pattern = f"{pattern}/*"
        if group not in names:
            raise InputError(
                f"{where} {shown(spec)}: no user group or service number is named {shown(group)} "
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


MAX_MAPPING_FILE_BYTES = 256 << 20  # a mapping.csv has a row per user: a million fit


def read_mapping_file(path: str | Path) -> list[str]:
    """Read ``PATTERN=GROUP`` rules from a file: one per line (``#`` comments), or CSV.

    A CSV file with ``holder`` and ``group`` columns (the ``mapping.csv`` of a replay or
    reconcile run) gives ``user:HOLDER=GROUP`` for each user and ``CAPABILITY/COUNTRY=
    GROUP`` for the holders without a user; rows with an empty group are left out.
    """
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        raise InputError(f"--map {p}: no such file (expected PATTERN=GROUP or a file)")
    try:  # a regular UTF-8 file of at most the cap (sim.core.files), else one line
        text = read_text(p, MAX_MAPPING_FILE_BYTES, "mapping file")
    except FileRuleError as exc:
        raise InputError(f"--map {exc}") from None
    lines = text.splitlines()
    first = lines[0] if lines else ""
    header = [h.strip().lower() for h in next(csv.reader([first]), [])]
    if "holder" in header and "group" in header:
        specs = []
        h, g = header.index("holder"), header.index("group")
        for n, row in enumerate(csv.reader(lines[1:]), start=2):
            if not row or len(row) <= max(h, g):
                if row:
                    raise InputError(f"--map {p}: line {n}: expected the columns of line 1")
                continue
            holder, group = row[h].strip(), row[g].strip()
            if not group:
                continue
            if holder.startswith("(no user: ") and holder.endswith(")"):
                lic, _, country = holder[10:-1].partition("/")
                specs.append(f"{'*' if lic == '-' else lic}/{country}={group}")
            else:
                specs.append(f"user:{holder}={group}")
        return specs
    specs = []
    for line in lines:
        rule = line.split("#", 1)[0].strip()
        if rule:
            specs.append(rule)
    return specs


def mapping_specs(values: Sequence[str]) -> list[str]:
    """Expand ``--map`` values: ``PATTERN=GROUP`` as is, anything else a file of rules."""
    out: list[str] = []
    for v in values:
        if "=" in v:
            out.append(v)
        else:
            out.extend(read_mapping_file(v))
    return out


@dataclass
class Remapping:
    """What mapping a log onto a scenario changes: plans substituted, head counts differing.

    ``substitutions``: (group, plan of the log, plan of the group, users); ``headcounts``:
    group -> (users in the log, count in the scenario) for every user group where they
    differ.
    """

    substitutions: list[tuple[str, str, str, int]] = field(default_factory=list)
    headcounts: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.substitutions or self.headcounts)

    def items(self) -> list[str]:
        """Return each change in words."""
        out = [
            f"{n:,} users of plan {was} priced as {now} in {g}"
            for g, was, now, n in self.substitutions
        ]
        out += [
            f"{g} has {log:,} users in the log and {count:,} in the scenario"
            for g, (log, count) in self.headcounts.items()
        ]
        return out

    def lines(self) -> list[str]:
        """Return the changes as console lines."""
        out = [f"  remapped: {item}" for item in self.items()]
        if self.headcounts:
            sized = ", ".join(f"{g} {c:,} -> {n:,}" for g, (n, c) in self.headcounts.items())
            out.append(f"  group sizes follow the log: {sized} users")
        return out


def find_remapping(mapped: MappedCalls, scenario: Scenario) -> Remapping:
    """Return the plan substitutions and head-count mismatches of a mapping."""
    h = mapped.holders
    rem = Remapping()
    if not len(h):
        return rem
    users = h[(h["kind"] == "user") & ~h["holder"].astype(str).str.startswith("(no user")]
    plan_of = {g.name: g.plan for g in scenario.user_groups}
    subs = users[
        (users["group"] != "")
        & (users["plan"].astype(str) != "")
        & (users["plan"].astype(str) != users["group"].map(plan_of).fillna(""))
    ]
    for (g, was), part in subs.groupby(["group", "plan"], sort=True):
        rem.substitutions.append((str(g), str(was), plan_of.get(str(g), ""), len(part)))
    counts = users[users["group"] != ""].groupby("group").size()
    for g in scenario.user_groups:
        n = int(counts.get(g.name, 0))
        if n != g.count:
            rem.headcounts[g.name] = (n, g.count)
    return rem


def require_faithful(rem: Remapping, log: str, allowed: bool) -> None:
    """Raise ``InputError`` (one line) for a remapping unless it is allowed."""
    if not rem or allowed:
        return
    items = rem.items()
    more = f" and {len(items) - 3} more" if len(items) > 3 else ""
    raise InputError(
        f"{log}: the scenario does not fit the log: {'; '.join(items[:3])}{more}; give "
        "--map FILE (or PATTERN=GROUP) to map the users yourself, or --allow-remap to accept "
        "(group sizes then follow the log)"
    )


def with_log_headcounts(loaded: LoadedScenario, rem: Remapping) -> LoadedScenario:
    """Return the scenario with each mismatched group sized to the users of the log."""
    if not rem.headcounts:
        return loaded
    plain = to_plain(loaded.scenario)
    for g in plain.get("user_groups", []):
        if g["name"] in rem.headcounts:
            n = rem.headcounts[g["name"]][0]
            g["count"] = n
            for key in ("conferencing_assigned", "conferencing_purchased"):
                if g.get(key) is not None and g[key] > n:
                    g[key] = n
    try:
        scenario = Scenario.from_dict(plain)
    except ConfigError as exc:
        raise InputError(f"{loaded.path}: with the group sizes of the log: {exc}") from None
    return LoadedScenario(
        path=loaded.path, scenario=scenario, sha256=loaded.sha256, tariffs=loaded.tariffs
    )


__all__ = [
    "MappedCalls",
    "MappingRule",
    "Remapping",
    "find_remapping",
    "map_calls",
    "mapping_specs",
    "parse_mapping",
    "read_mapping_file",
    "require_faithful",
    "require_mapped",
    "with_log_headcounts",
]

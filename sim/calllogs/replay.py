"""Recorded calls as traffic: replay a log, bootstrap its weeks, reconcile its charges.

Recorded calls (a normalised call table, ``sim.calllogs``) are first *mapped* to the
scenario's licence holders (``map_calls``): each user to a user group, each auto
attendant or call queue number to a service number. Automatically, a user goes to a group
of its usage country whose calling plan matches the user's plan capability (``MCOPSTN1``
-> ``domestic``, Communications Credits only -> ``payg``) and, as a tie-break, whose
conferencing matches; explicit rules (``CAPABILITY/COUNTRY=GROUP`` with ``*`` wildcards,
or ``user:PSEUDONYM=GROUP``) come first. A call takes its holder's usage country.

Two ``TrafficSource`` s (``sim.engine``) feed them to the engine:

``RecordedTraffic``
    the log itself, each call keeping its local wall-clock time, moved by whole days so
    that the log's first local day is the scenario's first day (optionally moved to the
    same weekday): "what would last year have looked like with trigger X and amount Y?".
``BootstrapTraffic``
    a block bootstrap of whole recorded weeks (weekday-aligned, ``block_weeks`` long),
    drawn with a generator keyed by (seed, replication): synthetic futures that keep the
    log's burstiness, holidays and outliers.

``reconcile`` rates the recorded calls with the scenario's plans and rate tables and
compares each with the charge in the log. ``replay_and_write`` and
``reconcile_and_write`` write run folders the way ``ccsim run`` does (``sim.io``).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.calllogs.reader import (
    CONFERENCING_OF_CAPABILITY,
    PLAN_OF_CAPABILITY,
    ImportReport,
    file_sha256,
    user_licences,
)
from sim.core.errors import InputError
from sim.core.rng import stream
from sim.core.schema import ConfigError, to_plain
from sim.core.units import SECONDS_PER_DAY, Calendar, format_money, parse_money
from sim.engine import run_replication
from sim.engine.results import TABLES, RunResult, tables_of
from sim.scenario.folders import RunFolder, scenario_identity
from sim.scenario.loading import LoadedScenario
from sim.scenario.model import Scenario
from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES, CallBatch
from sim.telephony.rating import (
    Outcome,
    RatingContext,
    Reason,
    Rule,
    UnratableCallError,
    rate_batch,
)

BOOTSTRAP_STREAM = "bootstrap"
"""Name of the ``sim.rng`` stream that draws the resampled weeks."""

_CT_CODE = {ct.value: i for i, ct in enumerate(CALL_TYPES)}
_NT_CODE = {nt.value: i for i, nt in enumerate(NUMBER_TYPES)}
_SERVICE_TYPES = ("ucap_in", "ucap_out")


# -- mapping calls to licence holders ---------------------------------------------------------


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


# -- traffic sources -------------------------------------------------------------------------


class _DayLibrary:
    """Recorded calls grouped by local date, with their local wall-clock time of day."""

    def __init__(self, mapped: MappedCalls, calendar: Calendar) -> None:
        calls = mapped.calls
        self.calendar = calendar
        self.tz = calendar.time_zone
        self.groups = mapped.groups
        countries = sorted(set(calls["usage_country"]) | set(calls["dest_country"]))
        self.countries = tuple(countries)
        c_index = {c: i for i, c in enumerate(countries)}
        g_index = {g: i for i, g in enumerate(self.groups)}
        local = calls["start"].dt.tz_convert(str(self.tz)).dt.tz_localize(None)
        day = local.dt.normalize()
        self.wall_s = (local - day).dt.total_seconds().to_numpy(np.float64)
        day_d = day.to_numpy(dtype="datetime64[D]")
        order = np.lexsort((calls["start"].to_numpy(), day_d))
        self.row = order.astype(np.int64)
        self.day = day_d[order]
        self.wall_s = self.wall_s[order]
        self.group = np.asarray(calls["group"].map(g_index), dtype=np.int32)[order]
        self.subscriber = np.asarray(calls["subscriber"], dtype=np.int64)[order]
        self.usage = np.asarray(calls["usage_country"].map(c_index), dtype=np.int16)[order]
        self.dest = np.asarray(calls["dest_country"].map(c_index), dtype=np.int16)[order]
        self.number_type = np.asarray(calls["number_type"].map(_NT_CODE), dtype=np.int8)[order]
        self.call_type = np.asarray(calls["call_type"].map(_CT_CODE), dtype=np.int8)[order]
        self.duration_s = np.asarray(calls["duration_s"], dtype=np.float64)[order]
        self.start_utc = self.calendar.start.astimezone(UTC)
        if len(self.day):
            self.first = _to_date(self.day[0])
            self.last = _to_date(self.day[-1])
        else:
            self.first = self.last = calendar.start.date()

    def rows_on(self, d: date) -> slice:
        """Return the positions of the calls recorded on local date ``d``."""
        key = np.datetime64(d, "D")
        lo = int(np.searchsorted(self.day, key, side="left"))
        hi = int(np.searchsorted(self.day, key, side="right"))
        return slice(lo, hi)

    def batch(self, rows: slice, target: date, call_id: NDArray[np.int64]) -> CallBatch:
        """Return the calls at ``rows`` moved to local date ``target``, sorted by start."""
        wall = self.wall_s[rows]
        naive = pd.DatetimeIndex(
            np.datetime64(target, "ns") + (wall * 1e9).astype("timedelta64[ns]")
        )
        aware = naive.tz_localize(
            str(self.tz), ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
        )
        start_s = (aware - pd.Timestamp(self.start_utc)).total_seconds().to_numpy(np.float64)
        keep = start_s >= 0
        order = np.argsort(np.where(keep, start_s, np.inf), kind="stable")[: int(keep.sum())]
        return CallBatch(
            call_id=call_id[order],
            subscriber_id=self.subscriber[rows][order],
            group=self.group[rows][order],
            usage_country=self.usage[rows][order],
            dest_country=self.dest[rows][order],
            number_type=self.number_type[rows][order],
            call_type=self.call_type[rows][order],
            start_s=start_s[order],
            duration_s=self.duration_s[rows][order],
            groups=self.groups,
            countries=self.countries,
        )


def _to_date(value: np.datetime64) -> date:
    return date.fromisoformat(str(value.astype("datetime64[D]")))


def _day_bounds(calendar: Calendar, day_index: int) -> tuple[float, float, date]:
    d = calendar.start.date() + timedelta(days=day_index)
    start = calendar.to_sim(datetime(d.year, d.month, d.day))
    nxt = d + timedelta(days=1)
    return start, calendar.to_sim(datetime(nxt.year, nxt.month, nxt.day)), d


def _first_weekday(first: date, weekday: int) -> date:
    return first + timedelta(days=(weekday - first.weekday()) % 7)


class RecordedTraffic:
    """The recorded calls, moved by whole local days onto the scenario's calendar.

    The log's first local date (``first_day``, default: that of its first call; with
    ``align_weekdays`` the first date on the scenario start's weekday) becomes the
    scenario's first day; every call keeps its local time of day and its length. Calls
    before ``first_day`` are left out (``dropped_before``).
    """

    def __init__(
        self,
        mapped: MappedCalls,
        scenario: Scenario,
        *,
        first_day: date | None = None,
        align_weekdays: bool = False,
    ) -> None:
        self.calendar = scenario.calendar
        self.library = _DayLibrary(mapped, self.calendar)
        lib = self.library
        start = self.calendar.start.date()
        first = first_day or lib.first
        if align_weekdays:
            first = _first_weekday(first, start.weekday())
        self.first_day = first
        self.shift_days = (start - first).days
        key = np.datetime64(first, "D")
        self.dropped_before = int(np.searchsorted(lib.day, key, side="left"))
        horizon_days = math.ceil(scenario.horizon_s / SECONDS_PER_DAY)
        last_key = np.datetime64(first + timedelta(days=horizon_days), "D")
        self.beyond_horizon = len(lib.day) - int(np.searchsorted(lib.day, last_key, side="left"))

    def day_bounds(self, day_index: int) -> tuple[float, float, date]:
        """Return (start_s, end_s, local date) of local day ``day_index``."""
        return _day_bounds(self.calendar, day_index)

    def draw_day(self, day_index: int) -> CallBatch:
        """Return the calls recorded on the log day that maps to ``day_index``."""
        target = self.calendar.start.date() + timedelta(days=day_index)
        rows = self.library.rows_on(target - timedelta(days=self.shift_days))
        return self.library.batch(rows, target, self.library.row[rows])


class BootstrapTraffic:
    """A block bootstrap of recorded weeks, for forward scenarios with realistic bursts.

    Recorded weeks start on the scenario start's weekday (the first such date of the log)
    and must be complete. Each block of ``block_weeks`` scenario weeks copies
    ``block_weeks`` consecutive recorded weeks starting at a week drawn uniformly (moving
    blocks); calls keep their weekday and local time of day. The weeks are drawn from the
    ``bootstrap`` stream of ``sim.rng``.
    """

    def __init__(
        self,
        mapped: MappedCalls,
        scenario: Scenario,
        *,
        seed: int,
        replication: int,
        block_weeks: int = 1,
        rng: np.random.Generator | None = None,
    ) -> None:
        if block_weeks < 1:
            raise InputError(f"--block-weeks: expected a whole number >= 1, got {block_weeks}")
        self.calendar = scenario.calendar
        self.library = lib = _DayLibrary(mapped, self.calendar)
        start = self.calendar.start.date()
        self.week0 = _first_weekday(lib.first, start.weekday())
        self.recorded_weeks = max(0, ((lib.last - self.week0).days + 1) // 7)
        if self.recorded_weeks < block_weeks:
            raise InputError(
                f"the log holds {self.recorded_weeks} complete week(s) starting on a "
                f"{start.strftime('%A')} (from {lib.first} to {lib.last}); the bootstrap "
                f"needs at least {block_weeks}"
            )
        horizon_days = math.ceil(scenario.horizon_s / SECONDS_PER_DAY) + 1
        n_weeks = math.ceil(horizon_days / 7)
        n_blocks = math.ceil(n_weeks / block_weeks)
        if rng is None:
            rng = stream(seed, replication, BOOTSTRAP_STREAM)
        starts = rng.integers(0, self.recorded_weeks - block_weeks + 1, size=n_blocks)
        weeks = (starts[:, None] + np.arange(block_weeks)[None, :]).reshape(-1)
        self.source_week: NDArray[np.int64] = weeks[:n_weeks].astype(np.int64)
        self._next_id = 0

    def day_bounds(self, day_index: int) -> tuple[float, float, date]:
        """Return (start_s, end_s, local date) of local day ``day_index``."""
        return _day_bounds(self.calendar, day_index)

    def source_date(self, day_index: int) -> date:
        """Return the recorded date whose calls day ``day_index`` repeats."""
        week = int(self.source_week[min(day_index // 7, len(self.source_week) - 1)])
        return self.week0 + timedelta(days=7 * week + day_index % 7)

    def draw_day(self, day_index: int) -> CallBatch:
        """Return the calls of the recorded day drawn for ``day_index``."""
        target = self.calendar.start.date() + timedelta(days=day_index)
        rows = self.library.rows_on(self.source_date(day_index))
        n = rows.stop - rows.start
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        return self.library.batch(rows, target, ids)


# -- scenario overrides ---------------------------------------------------------------------


def with_recharge(
    loaded: LoadedScenario, trigger: str | None = None, amount: str | None = None
) -> LoadedScenario:
    """Return the scenario with another recharge trigger and/or amount, re-validated."""
    if trigger is None and amount is None:
        return loaded
    if loaded.scenario.recharge.policy == "none":
        raise InputError(
            f"{loaded.path}: recharge.policy is 'none': --trigger and --amount need "
            "auto-recharge (policy fixed, target or multiples)"
        )
    plain = to_plain(loaded.scenario)
    recharge = plain.setdefault("recharge", {})
    for key, value in (("trigger", trigger), ("amount", amount)):
        if value is None:
            continue
        try:
            parse_money(value)
        except ValueError as exc:
            raise InputError(f"--{key}: {exc}") from None
        recharge[key] = value
    try:
        scenario = Scenario.from_dict(plain)
    except ConfigError as exc:
        raise InputError(f"{loaded.path}: with the overrides given: {exc}") from None
    return LoadedScenario(
        path=loaded.path, scenario=scenario, sha256=loaded.sha256, tariffs=loaded.tariffs
    )


# -- replay ----------------------------------------------------------------------------------


@dataclass
class ReplayInfo:
    """What a replay used: the log, the mapping, and what it left out."""

    log: str
    report: ImportReport
    mapped: MappedCalls
    mode: Literal["replay", "bootstrap"]
    first_day: date | None = None
    dropped_before: int = 0
    beyond_horizon: int = 0
    source_weeks: list[list[str]] = field(default_factory=list)
    currency: str = ""
    log_days: int = 0
    horizon_days: int = 0

    def lines(self) -> list[str]:
        """Return a short summary of the traffic used."""
        m = self.mapped
        out = [
            f"  traffic: {len(m.calls):,} recorded calls of {self.log} "
            + (
                f"replayed from {self.first_day} onwards"
                if self.mode == "replay"
                else "resampled by whole weeks (block bootstrap)"
            )
        ]
        if len(m.unmapped):
            out.append(f"  left out: {len(m.unmapped):,} calls matching no group (--skip-unmapped)")
        if self.dropped_before:
            out.append(f"  left out: {self.dropped_before:,} calls before {self.first_day}")
        if self.beyond_horizon:
            out.append(f"  left out: {self.beyond_horizon:,} calls beyond the horizon")
        if m.relocated:
            out.append(f"  {m.relocated:,} calls took their group's usage country (--map)")
        if self.mode == "replay" and self.log_days < self.horizon_days:
            out.append(
                f"  note: the log covers {self.log_days} days of the {self.horizon_days}-day "
                "horizon; later days have no calls (--bootstrap resamples weeks instead)"
            )
        others = sorted(set(self.report.currencies) - {self.currency, ""})
        if others:
            out.append(
                f"  note: the log's charges are in {', '.join(others)}; the scenario rates "
                f"in {self.currency}"
            )
        return out


def replay_and_write(
    loaded: LoadedScenario,
    mapped: MappedCalls,
    report: ImportReport,
    log: str | Path,
    *,
    mode: Literal["replay", "bootstrap"] = "replay",
    replications: int | None = None,
    seed: int | None = None,
    out: Path | None = None,
    plots: bool = True,
    show_progress: bool = True,
    first_day: date | None = None,
    align_weekdays: bool = False,
    block_weeks: int = 1,
    command: Sequence[str] = (),
) -> tuple[Path, RunResult, ReplayInfo]:
    """Run the scenario on recorded traffic and write a run folder like ``ccsim run``.

    ``replay``: every replication sees the same recorded calls (payment delays and
    declines still vary); ``bootstrap``: each replication draws its own weeks.
    """
    from sim.core.progress import share_bar

    scenario = loaded.scenario
    if seed is not None:
        from sim.experiments.replications import with_seed

        scenario = with_seed(scenario, seed)
        loaded = LoadedScenario(loaded.path, scenario, loaded.sha256, loaded.tariffs)
    n = replications or scenario.simulation.replications
    seed_used = scenario.simulation.seed
    info = ReplayInfo(str(log), report, mapped, mode, currency=scenario.simulation.currency)
    info.horizon_days = math.ceil(scenario.horizon_s / SECONDS_PER_DAY)
    if mode == "replay":
        source0 = RecordedTraffic(
            mapped, scenario, first_day=first_day, align_weekdays=align_weekdays
        )
        info.log_days = (source0.library.last - source0.first_day).days + 1
        info.first_day = source0.first_day
        info.dropped_before = source0.dropped_before
        info.beyond_horizon = source0.beyond_horizon

    def source_for(rep: int) -> RecordedTraffic | BootstrapTraffic:
        if mode == "replay":
            return source0
        src = BootstrapTraffic(
            mapped, scenario, seed=seed_used, replication=rep, block_weeks=block_weeks
        )
        info.source_weeks.append(
            [str(src.week0 + timedelta(weeks=int(w))) for w in src.source_week]
        )
        return src

    with RunFolder(out, f"{loaded.name}-{mode}") as folder:
        per_rep = []
        bar, progress = share_bar(f"{loaded.name}: {mode} x {n}", show_progress, n)
        with bar:
            for rep in range(n):
                progress.next()
                try:
                    output = run_replication(
                        scenario, loaded.tariffs, rep, progress, traffic=source_for(rep)
                    )
                except UnratableCallError as exc:
                    raise InputError(f"{loaded.path}: rate tables: {exc}") from None
                per_rep.append(tables_of(output))
        result = RunResult.from_tables(per_rep)
        for name in TABLES:
            folder.table(result[name], name)
        folder.table(mapped.holders, "mapping")
        if report.bad_rows:
            report.bad_rows_frame().to_csv(folder.path("bad_rows.csv"), index=False)
        if mode == "bootstrap":
            weeks = pd.DataFrame(
                [
                    {"replication": r, "week": w, "recorded_week_start": s}
                    for r, starts in enumerate(info.source_weeks)
                    for w, s in enumerate(starts)
                ]
            )
            folder.table(weeks, "bootstrap_weeks")
        if plots:
            from sim.reports.plots import plot_balance, plot_spend

            plot_balance(result.tables, scenario, folder.path("plots/balance.png"))
            plot_spend(result.tables, scenario, folder.path("plots/spend.png"))
        final = folder.finish(
            loaded,
            {
                "scenario": {**scenario_identity(loaded), "recharge": to_plain(scenario.recharge)},
                "mode": mode,
                "log": _log_manifest(log, report),
                "mapping": {
                    "calls": len(mapped.calls),
                    "unmapped_calls": len(mapped.unmapped),
                    "relocated_calls": mapped.relocated,
                },
                "first_day": str(info.first_day) if info.first_day else None,
                "dropped_before_first_day": info.dropped_before,
                "beyond_horizon": info.beyond_horizon,
                "block_weeks": block_weeks if mode == "bootstrap" else None,
                "replications": n,
            },
            command,
        )
    return final, result, info


def _log_manifest(log: str | Path, report: ImportReport) -> dict[str, Any]:
    p = Path(log)
    return {
        "file": str(p),
        "sha256": file_sha256(p) if p.is_file() else None,
        "format": report.format,
        "rows": report.rows,
        "imported": report.imported,
        "bad": report.bad,
        "skipped": report.skipped,
        "bad_by_reason": dict(report.bad_by_reason),
        "skipped_by_reason": dict(report.skipped_by_reason),
        "first_start": report.first_start.isoformat() if report.first_start else None,
        "last_start": report.last_start.isoformat() if report.last_start else None,
    }


# -- reconcile -------------------------------------------------------------------------------


@dataclass
class Reconciliation:
    """The log's charges against ccsim's rating of the same calls.

    ``summary``: per call type (and ``all``): calls, matched, differing, unratable, the
    log's and ccsim's totals and their difference; ``by_route``: the rated calls per
    (call type, rule, destination, number type), to find the rate-table row at fault;
    ``calls``: every differing or unratable call.
    """

    summary: pd.DataFrame
    by_route: pd.DataFrame
    calls: pd.DataFrame
    tolerance_micros: int
    currency: str

    @property
    def matched_share(self) -> float:
        """Return the share of all calls whose charges matched."""
        total = self.summary[self.summary["call_type"] == "all"]
        calls = int(total["calls"].iloc[0])
        return float(total["matched"].iloc[0]) / calls if calls else 1.0

    def lines(self) -> list[str]:
        """Return the summary as aligned text lines."""
        cur = self.currency
        head = (
            f"  {'call type':20s} {'calls':>9s} {'matched':>9s} {'differing':>9s} "
            f"{'unratable':>9s} {'log ' + cur:>14s} {'ccsim ' + cur:>14s} {'difference':>12s}"
        )
        out = [head]
        for r in self.summary.to_dict("records"):
            out.append(
                f"  {r['call_type']:20s} {r['calls']:9,d} {r['matched']:9,d} "
                f"{r['differing']:9,d} {r['unratable']:9,d} "
                f"{format_money(int(r['log_charge_micros'])):>14s} "
                f"{format_money(int(r['ccsim_charge_micros'])):>14s} "
                f"{format_money(int(r['difference_micros'])):>12s}"
            )
        return out


_STATUS = ("matched", "differing", "unratable")


def reconcile(
    mapped: MappedCalls,
    loaded: LoadedScenario,
    *,
    tolerance_micros: int = 5_000,
    add_connection_charge: bool = False,
) -> Reconciliation:
    """Rate the recorded calls with the scenario and compare them with the log's charges.

    Calls are rated in start order on the scenario's local calendar at their recorded
    dates (pools reset each local month); balances play no part. A call *matches* when
    ccsim's charge is within ``tolerance_micros`` of the log's ``charge`` (plus
    ``connectionCharge`` with ``add_connection_charge``). It is *unratable* when it maps
    to no user group, its currency is not the scenario's, or rating refuses it (no rate
    row, no calling plan or conferencing licence, no Communications Credits licence).
    """
    scenario = loaded.scenario
    if loaded.tariffs is None:
        raise InputError(f"{loaded.path}: reconcile needs rate tables ([tariffs])")
    currency = scenario.simulation.currency
    calls = mapped.calls
    tz = scenario.calendar.time_zone
    if len(calls):
        first_local = calls["start"].min().tz_convert(str(tz))
        cal = Calendar.from_local(first_local.date(), scenario.simulation.time_zone)
    else:
        cal = scenario.calendar
    ctx = RatingContext(
        tenant=scenario.tenant,
        tariffs=loaded.tariffs,
        calendar=cal,
        funding_mode=scenario.funding.mode,
        hard_cap=scenario.postpaid.hard_cap and scenario.funding.mode == "postpaid",
        on_unratable="block",
    )
    n = len(calls)
    countries = tuple(sorted(set(calls["usage_country"]) | set(calls["dest_country"]) | {"US"}))
    c_index = {c: i for i, c in enumerate(countries)}
    g_index = {g: i for i, g in enumerate(mapped.groups)}
    start_s = (calls["start"] - pd.Timestamp(cal.start.astimezone(UTC))).dt.total_seconds()
    batch = CallBatch(
        call_id=np.arange(n, dtype=np.int64),
        subscriber_id=calls["subscriber"].to_numpy(np.int64),
        group=np.asarray(calls["group"].map(g_index), dtype=np.int32),
        usage_country=np.asarray(calls["usage_country"].map(c_index), dtype=np.int16),
        dest_country=np.asarray(calls["dest_country"].map(c_index), dtype=np.int16),
        number_type=np.asarray(calls["number_type"].map(_NT_CODE), dtype=np.int8),
        call_type=np.asarray(calls["call_type"].map(_CT_CODE), dtype=np.int8),
        start_s=np.asarray(start_s, dtype=np.float64),
        duration_s=calls["duration_s"].to_numpy(np.float64),
        groups=mapped.groups,
        countries=countries,
    ).sorted_by_start()
    rated = rate_batch(batch, ctx)
    order = batch.call_id  # row of ``calls`` for each rated call
    ccsim = np.zeros(n, np.int64)
    ccsim[order] = rated.amount
    outcome = np.zeros(n, np.int8)
    outcome[order] = rated.outcome
    reason = np.zeros(n, np.int8)
    reason[order] = rated.reason
    rule = np.zeros(n, np.int8)
    rule[order] = rated.rule
    logged = calls["charge_micros"].to_numpy(np.int64).copy()
    if add_connection_charge:
        logged += calls["connection_charge_micros"].to_numpy(np.int64)
    diff = ccsim - logged
    status = np.where(np.abs(diff) <= tolerance_micros, 0, 1).astype(np.int8)
    why = np.full(n, "", dtype=object)
    blocked = outcome == Outcome.BLOCKED
    status[blocked] = 2
    why[blocked] = [f"refused: {Reason(int(r)).name.lower()}" for r in reason[blocked]]
    wrong_currency = (calls["currency"].astype(str).to_numpy() != currency) & (
        calls["currency"].astype(str).to_numpy() != ""
    )
    status[wrong_currency] = 2
    why[wrong_currency] = [
        f"currency {c}, scenario {currency}" for c in calls["currency"][wrong_currency]
    ]
    frame = pd.DataFrame(
        {
            "line": calls["line"].to_numpy(),
            "call_id": calls["call_id"].astype(str).to_numpy(),
            "start": calls["start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "call_type": calls["call_type"].astype(str).to_numpy(),
            "group": calls["group"].astype(str).to_numpy(),
            "usage_country": calls["usage_country"].astype(str).to_numpy(),
            "dest_country": calls["dest_country"].astype(str).to_numpy(),
            "number_type": calls["number_type"].astype(str).to_numpy(),
            "duration_s": calls["duration_s"].to_numpy(),
            "rule": [Rule(int(r)).name.lower() for r in rule],
            "outcome": [Outcome(int(o)).name.lower() for o in outcome],
            "status": [_STATUS[s] for s in status],
            "reason": why,
            "log_charge_micros": logged,
            "ccsim_charge_micros": ccsim,
            "difference_micros": np.where(status == 2, 0, diff),
        }
    )
    unmapped = mapped.unmapped
    if len(unmapped):
        extra = pd.DataFrame(
            {
                "line": unmapped["line"].to_numpy(),
                "call_id": unmapped["call_id"].astype(str).to_numpy(),
                "start": unmapped["start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
                "call_type": unmapped["call_type"].astype(str).to_numpy(),
                "group": "",
                "usage_country": unmapped["usage_country"].astype(str).to_numpy(),
                "dest_country": unmapped["dest_country"].astype(str).to_numpy(),
                "number_type": unmapped["number_type"].astype(str).to_numpy(),
                "duration_s": unmapped["duration_s"].to_numpy(),
                "rule": "",
                "outcome": "",
                "status": "unratable",
                "reason": "no user group or service number",
                "log_charge_micros": unmapped["charge_micros"].to_numpy(np.int64),
                "ccsim_charge_micros": 0,
                "difference_micros": 0,
            }
        )
        frame = pd.concat([frame, extra], ignore_index=True)
    summary = _reconcile_summary(frame)
    rated_rows = frame[frame["status"] != "unratable"]
    by_route = (
        rated_rows.assign(
            matched=rated_rows["status"] == "matched",
            differing=rated_rows["status"] == "differing",
            log_minutes=rated_rows["duration_s"] / 60.0,
        )
        .groupby(["call_type", "rule", "dest_country", "number_type"], sort=True)
        .agg(
            calls=("status", "size"),
            matched=("matched", "sum"),
            differing=("differing", "sum"),
            log_minutes=("log_minutes", "sum"),
            log_charge_micros=("log_charge_micros", "sum"),
            ccsim_charge_micros=("ccsim_charge_micros", "sum"),
            difference_micros=("difference_micros", "sum"),
        )
        .reset_index()
    )
    by_route["log_minutes"] = by_route["log_minutes"].round(1)
    problems = frame[frame["status"] != "matched"].sort_values("line", kind="stable")
    return Reconciliation(
        summary=summary,
        by_route=by_route,
        calls=problems.reset_index(drop=True),
        tolerance_micros=tolerance_micros,
        currency=currency,
    )


def _reconcile_summary(frame: pd.DataFrame) -> pd.DataFrame:
    def block(part: pd.DataFrame, name: str) -> dict[str, Any]:
        rated = part[part["status"] != "unratable"]
        diffs = rated["difference_micros"].to_numpy(np.int64)
        return {
            "call_type": name,
            "calls": len(part),
            "matched": int((part["status"] == "matched").sum()),
            "differing": int((part["status"] == "differing").sum()),
            "unratable": int((part["status"] == "unratable").sum()),
            "matched_share": round(float((part["status"] == "matched").mean()), 6)
            if len(part)
            else 1.0,
            "log_charge_micros": int(part["log_charge_micros"].sum()),
            "ccsim_charge_micros": int(rated["ccsim_charge_micros"].sum()),
            "difference_micros": int(diffs.sum()),
            "max_abs_difference_micros": int(np.abs(diffs).max()) if len(diffs) else 0,
        }

    rows = [block(part, str(ct)) for ct, part in frame.groupby("call_type", sort=True)]
    rows.append(block(frame, "all"))
    return pd.DataFrame(rows)


def reconcile_and_write(
    rec: Reconciliation,
    loaded: LoadedScenario,
    mapped: MappedCalls,
    report: ImportReport,
    log: str | Path,
    *,
    out: Path | None = None,
    command: Sequence[str] = (),
) -> Path:
    """Write a reconciliation folder (summary, by route, problem calls, mapping)."""
    with RunFolder(out, f"{loaded.name}-reconcile") as folder:
        for name, table in (
            ("reconcile_summary", rec.summary),
            ("reconcile_by_route", rec.by_route),
            ("reconcile_calls", rec.calls),
            ("mapping", mapped.holders),
        ):
            folder.table(table, name)
        if report.bad_rows:
            report.bad_rows_frame().to_csv(folder.path("bad_rows.csv"), index=False)
        final = folder.finish(
            loaded,
            {
                "log": _log_manifest(log, report),
                "tolerance": format_money(rec.tolerance_micros),
                "matched_share": rec.matched_share,
            },
            command,
        )
    return final


__all__ = [
    "BOOTSTRAP_STREAM",
    "BootstrapTraffic",
    "MappedCalls",
    "MappingRule",
    "Reconciliation",
    "RecordedTraffic",
    "ReplayInfo",
    "map_calls",
    "parse_mapping",
    "reconcile",
    "reconcile_and_write",
    "replay_and_write",
    "require_mapped",
    "with_recharge",
]

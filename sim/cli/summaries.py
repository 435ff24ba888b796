"""The ``--json`` summaries of the commands: one JSON object each, on standard output.

Every object has ``command`` and, where the command writes one, ``folder`` (the run
folder) and ``currency``. Money is an exact decimal string (``sim.core.display.money_json``)
under the table's column name without its ``_micros`` suffix (``spent_micros`` becomes
``spent``); counts are integers; means over replications are numbers (money means
rounded to the micro-unit); shares are numbers from 0 to 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.display import dump_json, money_json, plain

MICROS_SUFFIX = "_micros"


def emit(summary: Mapping[str, Any]) -> None:
    """Print ``summary`` as one JSON object on standard output."""
    dump_json(summary, sys.stdout)


def record(row: Mapping[Any, Any], drop: Iterable[str] = ()) -> dict[str, Any]:
    """Return one table row for JSON: ``*_micros`` columns as decimal strings."""
    skip = set(drop)
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = str(key)
        if name in skip:
            continue
        value = plain(value)
        if name.endswith(MICROS_SUFFIX):
            out[name[: -len(MICROS_SUFFIX)]] = None if value is None else money_json(value)
        else:
            out[name] = value
    return out


def records(table: pd.DataFrame, drop: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Return every row of ``table`` as ``record`` does."""
    drop = tuple(drop)
    return [record(r, drop) for r in table.to_dict("records")]


def means(table: pd.DataFrame) -> dict[str, Any]:
    """Return the mean of every numeric column (money as decimal strings, shares 0-1)."""
    out: dict[str, Any] = {}
    for name in table.columns:
        column = table[name]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            continue
        if name in ("replication", "seed"):
            continue
        mean = float(column.astype(float).mean())
        if str(name).endswith(MICROS_SUFFIX):
            out[str(name)[: -len(MICROS_SUFFIX)]] = money_json(mean)
        else:
            out[str(name)] = mean
    return out


def run_summary(loaded: Any, result: Any, folder: Path) -> dict[str, Any]:
    """Return the ``ccsim run`` summary: per-replication outcomes and their means."""
    sc = loaded.scenario
    sim = sc.simulation
    o = result["outcomes"]
    cal = sc.calendar
    return {
        "command": "run",
        "scenario": loaded.name,
        "folder": str(folder),
        "currency": sim.currency,
        "seed": int(o["seed"].iloc[0]),
        "replications": len(o),
        "funding_mode": sc.funding.mode,
        "start": cal.to_datetime(0.0).isoformat(),
        "end": cal.to_datetime(sc.horizon_s).isoformat(),
        "time_zone": sim.time_zone,
        "horizon_s": sc.horizon_s,
        "warm_up_s": float(sim.warm_up),
        "users": int(o["users"].iloc[0]),
        "mean": means(o),
        "outcomes": records(o, drop=("currency", "scenario")),
    }


def sweep_summary(
    command: str, loaded: Any, result: Any, rec: Any, grid: Any, executor: Any, folder: Path
) -> dict[str, Any]:
    """Return the ``ccsim sweep``/``recommend`` summary: every setting, the one chosen, the text."""
    labels = {v.variant: v.label for v in grid.variants}
    settings = records(rec.summary)
    for row in settings:
        row["label"] = labels.get(row.get("variant"), "")
    chosen = None if rec.chosen is None else int(rec.chosen)
    return {
        "command": command,
        "scenario": loaded.name,
        "folder": str(folder),
        "currency": loaded.scenario.simulation.currency,
        "settings": len(grid.variants),
        "runs": len(result.runs),
        "executor": executor.kind,
        "workers": int(executor.workers),
        "chosen": chosen,
        "chosen_label": None if chosen is None else labels.get(chosen),
        "current": int(grid.baseline),
        "text": list(rec.text),
        "summary": settings,
    }


def robust_summary(loaded: Any, result: Any, executor: Any, folder: Path) -> dict[str, Any]:
    """Return the ``ccsim recommend --robust`` summary."""
    labels = {v.variant: v.label for v in result.variants}
    settings = records(result.summary)
    for row in settings:
        row["label"] = labels.get(row.get("variant"), "")
    chosen = None if result.chosen is None else int(result.chosen)
    return {
        "command": "recommend",
        "robust": True,
        "scenario": loaded.name,
        "folder": str(folder),
        "currency": loaded.scenario.simulation.currency,
        "settings": len(result.variants),
        "futures": len(result.futures),
        "runs": len(result.runs),
        "executor": executor.kind,
        "workers": int(executor.workers),
        "chosen": chosen,
        "chosen_label": None if chosen is None else labels.get(chosen),
        "current": int(result.baseline),
        "text": list(result.text),
        "summary": settings,
    }


def forecast_summary(fc: Any, folder: Path) -> dict[str, Any]:
    """Return the ``ccsim forecast`` summary: the monthly invoice table and its total."""
    return {
        "command": "forecast",
        "scenario": fc.name,
        "folder": str(folder),
        "currency": fc.currency,
        "replications": int(fc.replications),
        "funding_mode": fc.scenario.funding.mode,
        "months": records(fc.table),
        "total": records(fc.totals)[0] if len(fc.totals) else None,
    }


def compare_summary(cmp: Any, folder: Path) -> dict[str, Any]:
    """Return the ``ccsim compare`` summary: per plan per user-month, and the break-even."""
    be = cmp.breakeven
    breakeven = None
    if be is not None:
        breakeven = {
            "plans": list(be.plans),
            "group": be.group,
            "country": be.country,
            "minutes_per_user_month": be.minutes,
            "calls_per_user_day": be.calls_per_user_day,
            "cost_per_user_month": None if be.cost_micros is None else money_json(be.cost_micros),
            "current_minutes_per_user_month": be.current_minutes,
            "note": be.note,
        }
    return {
        "command": "compare",
        "scenario": cmp.name,
        "folder": str(folder),
        "currency": cmp.currency,
        "replications": int(cmp.replications),
        "plans": list(cmp.plans),
        "groups": list(cmp.groups),
        "identical_traffic": bool(cmp.identical_traffic),
        "summary": records(cmp.summary),
        "breakeven": breakeven,
    }


__all__ = [
    "compare_summary",
    "emit",
    "forecast_summary",
    "means",
    "record",
    "records",
    "robust_summary",
    "run_summary",
    "sweep_summary",
]

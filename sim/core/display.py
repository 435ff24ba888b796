"""How the ``ccsim`` console shows numbers: one style for every command.

Console text (people read it):

- money to the cent, rounded half away from zero, with its currency: ``9.51 USD``
  (``money_text``); no thousands separator, so it pastes into a spreadsheet as a number;
- counts as whole numbers with thousands separators: ``652,874`` (``count_text``);
- a mean of counts over several replications with one decimal: ``19.5``
  (``mean_text``); ``tally_text`` picks between the two by the number of replications;
- shares as percentages: ``5%``, ``0.25%`` (``percent_text``).

Machine-readable summaries (``--json``): money as an exact decimal string of the
micro-units (``money_json``: ``"9.512852"``, a mean rounded to the micro-unit), with a
``currency`` field beside it; counts as JSON integers; ``dump_json`` writes one object.

This module imports only ``sim.core.units``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from sim.core.units import MICROS_PER_UNIT, format_money

MICROS_PER_CENT = MICROS_PER_UNIT // 100


def round_to_cents(micros: float) -> int:
    """Return ``micros`` rounded to whole cents (half away from zero), still in micros.

    A mean (a float) is first rounded to the micro-unit, then to the cent.
    """
    whole = abs(round(micros))
    cents, rest = divmod(whole, MICROS_PER_CENT)
    if 2 * rest >= MICROS_PER_CENT:
        cents += 1
    return -cents * MICROS_PER_CENT if micros < 0 else cents * MICROS_PER_CENT


def money_text(micros: float | None, currency: str | None = None) -> str:
    """Write an amount in micro-units to the cent: ``"9.51 USD"`` (``"-"`` if unknown)."""
    if micros is None or (isinstance(micros, float) and not math.isfinite(micros)):
        return "-"
    shown = format_money(round_to_cents(micros), 2)
    return f"{shown} {currency}" if currency else shown


def count_text(n: float) -> str:
    """Write a count as a whole number with thousands separators: ``"652,874"``."""
    if isinstance(n, float) and not math.isfinite(n):
        return "-"
    return f"{round(n):,}"


def mean_text(x: float) -> str:
    """Write a mean of counts with one decimal: ``"19.5"``."""
    if not math.isfinite(x):
        return "-"
    return f"{x:,.1f}"


def tally_text(values: Iterable[float]) -> str:
    """Return a count for one replication (``"20"``), the mean with one decimal for several."""
    items = [float(v) for v in values]
    if not items:
        return "-"
    if len(items) == 1:
        return count_text(items[0])
    return mean_text(sum(items) / len(items))


def percent_text(share: float, places: int = 0) -> str:
    """Write a share as a percentage: ``percent_text(0.05)`` is ``"5%"``."""
    if not math.isfinite(share):
        return "-"
    return f"{share * 100:.{places}f}%"


def hours_text(hours: float) -> str:
    """Write a time span in hours with one decimal: ``"3.5 h"``."""
    return f"{hours:,.1f} h" if math.isfinite(hours) else "-"


def money_json(micros: float | None) -> str | None:
    """Return an amount as an exact decimal string (``"9.512852"``); a mean to the micro."""
    if micros is None or (isinstance(micros, float) and not math.isfinite(micros)):
        return None
    return format_money(round(micros), 2)


def plain(value: Any) -> Any:
    """Turn numpy scalars, timestamps, paths and containers into JSON-ready values."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str | bytes | bool | int) or value is None:
        return value
    if hasattr(value, "isoformat"):  # date, datetime, pandas Timestamp (NaT: unknown)
        text = value.isoformat()
        return None if text == "NaT" else text
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dump_json(summary: Mapping[str, Any], out: TextIO) -> None:
    """Write ``summary`` as one JSON object (and a newline) to ``out``."""
    json.dump(plain(summary), out, indent=2, ensure_ascii=False, allow_nan=False)
    out.write("\n")


__all__ = [
    "MICROS_PER_CENT",
    "count_text",
    "dump_json",
    "hours_text",
    "mean_text",
    "money_json",
    "money_text",
    "percent_text",
    "plain",
    "round_to_cents",
    "tally_text",
]

"""Tables on disk: Parquet with exact integer money, CSV with decimal strings."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.units import format_money, round_half_away

MONEY_SUFFIX = "_micros"


def to_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with every ``*_micros`` column as a decimal string (suffix dropped).

    Means (floats) are rounded to the micro-unit, half away from zero; a missing value
    (NaN, None) stays empty. Zoned timestamps become ISO 8601 text with their offset.
    Columns keep their order, so a CSV reads in the order of its Parquet twin.
    """
    out = frame.copy()
    renamed: dict[str, str] = {}
    for col in list(out.columns):
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = ["" if pd.isna(v) else v.isoformat() for v in out[col]]
        elif col.endswith(MONEY_SUFFIX):
            out[col] = _money_texts(out[col])
            renamed[col] = col[: -len(MONEY_SUFFIX)]
    clash = [name for name in renamed.values() if name in out.columns]
    return out.drop(columns=clash).rename(columns=renamed)


def _money_texts(column: pd.Series) -> list[str]:
    """Return ``_money_text`` of every value, each distinct amount formatted once."""
    missing = column.isna().to_numpy()
    kind = column.dtype.kind
    if kind in "iu" or (kind == "f" and not missing.all()):
        if kind == "f":
            x = column.to_numpy(dtype=np.float64, na_value=0.0)
            if np.abs(x).max(initial=0.0) < 2.0**62:
                x = np.copysign(np.floor(np.abs(x) + 0.5), x)  # half away from zero
                return _texts_of(x.astype(np.int64), missing)
        elif kind == "i" or column.max() < 2**63:
            return _texts_of(column.to_numpy(dtype=np.int64, na_value=0), missing)
    return [_money_text(v) for v in column]


def _texts_of(micros: np.ndarray, missing: np.ndarray) -> list[str]:
    values, where = np.unique(micros, return_inverse=True)
    texts = np.array([format_money(v) for v in values.tolist()] + [""], dtype=object)
    where[missing] = len(values)
    return list(texts[where].tolist())


def _money_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int | np.integer):
        return format_money(int(value))
    x = float(value)  # type: ignore[arg-type]
    if math.isnan(x):
        return ""
    return format_money(round_half_away(x))


def write_table(frame: pd.DataFrame, folder: Path, name: str) -> list[Path]:
    """Write ``name.parquet`` (exact integer money) and ``name.csv`` (decimal strings)."""
    parquet = folder / f"{name}.parquet"
    csv = folder / f"{name}.csv"
    frame.to_parquet(parquet, index=False)
    to_csv_frame(frame).to_csv(csv, index=False)
    return [parquet, csv]


__all__ = ["MONEY_SUFFIX", "to_csv_frame", "write_table"]

"""Tables on disk: Parquet with exact integer money, CSV with decimal strings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.core.units import format_money

MONEY_SUFFIX = "_micros"


def to_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with every ``*_micros`` column as a decimal string (suffix dropped)."""
    out = frame.copy()
    for col in list(out.columns):
        if col.endswith(MONEY_SUFFIX):
            out[col[: -len(MONEY_SUFFIX)]] = [format_money(int(v)) for v in out[col]]
            out = out.drop(columns=col)
    return out


def write_table(frame: pd.DataFrame, folder: Path, name: str) -> list[Path]:
    """Write ``name.parquet`` (exact integer money) and ``name.csv`` (decimal strings)."""
    parquet = folder / f"{name}.parquet"
    csv = folder / f"{name}.csv"
    frame.to_parquet(parquet, index=False)
    to_csv_frame(frame).to_csv(csv, index=False)
    return [parquet, csv]


__all__ = ["MONEY_SUFFIX", "to_csv_frame", "write_table"]

"""Write a run's trades, orders, fills and equity as CSV and its statistics as JSON into one folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError
from tradeforge.report.frames import equity_frame, fills_frame, orders_frame, trades_frame
from tradeforge.report.jsonify import to_json_value
from tradeforge.report.paths import ensure_folder
from tradeforge.sim.result import Result

FILE_NAMES = {
    "trades": "trades.csv",
    "orders": "orders.csv",
    "fills": "fills.csv",
    "equity": "equity.csv",
    "stats": "stats.json",
}


def iso_strings(times: pd.Series | pd.DatetimeIndex) -> list[str]:
    """UTC datetimes -> ISO 8601 text ending in Z (sub-second digits only when present); NaT -> ''."""
    index = pd.DatetimeIndex(times)
    missing = np.asarray(index.isna())
    ns = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)
    whole = ns.astype("datetime64[ns]").astype("datetime64[s]")
    text = np.char.add(np.datetime_as_string(whole, unit="s"), "Z").astype(object)
    fractional = np.flatnonzero((ns % 1_000_000_000 != 0) & ~missing)
    for i in fractional:
        text[i] = iso(int(ns[i]))
    text[missing] = ""
    return [str(item) for item in text]


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of frame with datetimes as ISO 8601 UTC text and durations as pandas text (empty when missing)."""
    out = frame.copy()
    for column in out.columns:
        dtype = out[column].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            out[column] = iso_strings(out[column])
        elif pd.api.types.is_timedelta64_dtype(dtype):
            out[column] = [("" if pd.isna(value) else str(value)) for value in out[column]]
    if isinstance(out.index, pd.DatetimeIndex):
        name = out.index.name
        out.index = pd.Index(iso_strings(out.index), name=name)
    return out


def stats_document(result: Result) -> dict[str, Any]:
    """result.stats made JSON-safe, plus "strategies": {name: {params, initial_capital, stats}}."""
    if "strategies" in result.stats:
        raise ConfigError(
            'result.stats has a key "strategies", which stats.json reserves for the per-strategy section; '
            "rename that statistic"
        )
    document: dict[str, Any] = {str(key): to_json_value(value) for key, value in result.stats.items()}
    document["strategies"] = {
        name: {
            "params": to_json_value(strategy.params),
            "initial_capital": to_json_value(strategy.initial_capital),
            "stats": to_json_value(strategy.stats),
        }
        for name, strategy in result.strategies.items()
    }
    return document


def write_exports(result: Result, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write trades.csv, orders.csv, fills.csv, equity.csv and stats.json into `folder` (created if missing).

    Returns {"trades": path, "orders": ..., "fills": ..., "equity": ..., "stats": ...}. Times in the CSVs are
    ISO 8601 UTC ("2024-01-02T15:30:00Z"); missing values are empty cells. Raises ConfigError when `folder`
    is an existing file or cannot be created or written.
    """
    target = ensure_folder(folder)
    paths = {key: target / name for key, name in FILE_NAMES.items()}
    frames = {
        "trades": (trades_frame(result), False),
        "orders": (orders_frame(result), False),
        "fills": (fills_frame(result), False),
        "equity": (equity_frame(result), True),
    }
    for key, (frame, with_index) in frames.items():
        csv_ready(frame).to_csv(paths[key], index=with_index, lineterminator="\n")
    text = json.dumps(stats_document(result), indent=2, allow_nan=False, ensure_ascii=False)
    paths["stats"].write_text(text + "\n", encoding="utf-8")
    return paths

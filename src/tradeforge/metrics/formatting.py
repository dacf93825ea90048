"""Turn a compute_stats() result into JSON-ready values or printable rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError

JsonValue = str | float | int | None


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float | np.floating) and math.isnan(value))


def _jsonable(key: str, value: Any) -> JsonValue:
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return value
    raise ConfigError(
        f"stats value {key!r} has unsupported type {type(value).__name__}; stats_to_jsonable accepts the "
        "output of compute_stats (Timestamps, Timedeltas, ints, floats)"
    )


def stats_to_jsonable(stats: Mapping[str, Any]) -> dict[str, JsonValue]:
    """Stats as plain JSON values, in the same key order.

    - Start/End (Timestamps) -> ISO 8601 strings with offset, e.g. "2004-08-19T00:00:00+00:00".
    - Durations (Timedeltas) -> the string Backtesting.py prints, e.g. "3116 days 00:00:00".
    - Non-finite numbers (NaN, ±inf) and NaT -> None (strict JSON has no NaN/Infinity).
    - ints stay ints, floats stay floats.
    """
    return {key: _jsonable(key, value) for key, value in stats.items()}


def _text(value: Any) -> str:
    if _is_missing(value):
        return "--"
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return str(value)
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return str(number)
        return f"{number:.5f}"
    return str(value)


def format_stats(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, text) rows for a table: floats with 5 decimals like Backtesting.py's repr, missing as "--"."""
    return [(key, _text(value)) for key, value in stats.items()]

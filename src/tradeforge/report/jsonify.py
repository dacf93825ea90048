"""Convert stats and parameters to JSON-safe values: Timestamps -> ISO 8601 UTC text, Timedeltas -> text,
NaN and infinities -> null, numpy scalars and arrays -> Python numbers and lists."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.clock import iso


def timestamp_text(value: pd.Timestamp | datetime | np.datetime64) -> str | None:
    """ISO 8601 UTC with a trailing Z; naive values are taken as UTC; NaT -> None."""
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return iso(int(stamp.as_unit("ns").value))


def timedelta_text(value: pd.Timedelta | timedelta | np.timedelta64) -> str | None:
    """pandas' text form, e.g. '3 days 04:00:00'; NaT -> None."""
    delta = pd.Timedelta(value)
    return None if pd.isna(delta) else str(delta)


def to_json_value(value: Any) -> Any:
    """A value json.dumps(..., allow_nan=False) accepts. Unknown objects become their str()."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (pd.Timestamp, datetime, np.datetime64)):
        return timestamp_text(value)
    if isinstance(value, (pd.Timedelta, timedelta, np.timedelta64)):
        return timedelta_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_json_value(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series, pd.Index)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
        return [to_json_value(item) for item in items]
    return str(value)

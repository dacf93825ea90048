"""Display text for statistics and table cells, in the style of Backtesting.py's stats printout."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

DECIMALS = 5


def format_float(value: float, decimals: int = DECIMALS) -> str:
    """Up to `decimals` decimals, trailing zeros dropped but one kept.

    12.3456789 -> '12.34568', 3.0 -> '3.0', NaN -> 'NaN'.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0")
        if text.endswith("."):
            text += "0"
    return "0.0" if text in ("-0.0", "-0") else text


def format_value(value: Any) -> str:
    """Text of one statistic or cell: floats via format_float, times and durations as pandas prints them."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format_float(float(value))
    if isinstance(value, (pd.Timestamp, datetime, np.datetime64)):
        stamp = pd.Timestamp(value)
        return "" if pd.isna(stamp) else str(stamp)
    if isinstance(value, (pd.Timedelta, timedelta, np.timedelta64)):
        delta = pd.Timedelta(value)
        return "" if pd.isna(delta) else str(delta)
    return str(value)

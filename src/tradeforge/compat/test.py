"""Backtesting.py's ``backtesting.test``: its sample data and SMA, so that ``from tradeforge.compat.test import SMA,
GOOG`` replaces ``from backtesting.test import SMA, GOOG``.

GOOG (daily, 2004-2013), EURUSD (hourly, April 2017 - February 2018) and BTCUSD (monthly, 2012-2024) are the same
bars as Backtesting.py's, from tradeforge's bundled samples (BTCUSD's volume is stored to 4 decimals, so it can
differ from Backtesting.py's by up to 5e-5), in its layout: columns Open, High, Low, Close, Volume and a tz-naive
DatetimeIndex. They are read on first use.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.data import load_sample_frame

_SAMPLES = {
    "GOOG": "daily NASDAQ:GOOG (Google/Alphabet) stock prices, 2004 to 2013",
    "EURUSD": "hourly EUR/USD forex data, April 2017 to February 2018",
    "BTCUSD": "monthly BTC/USD index data, 2012 through 2024",
}
_INT_VOLUME = ("GOOG", "EURUSD")  # Backtesting.py's files hold whole volumes there


@cache
def _sample(name: str) -> pd.DataFrame:
    frame = load_sample_frame(name).rename(columns=str.capitalize)
    index = pd.DatetimeIndex(frame.index).tz_localize(None)
    unit = pd.to_datetime(["2000-01-01"]).unit  # what pandas.read_csv gives Backtesting.py's files (us from pandas 3)
    frame.index = index.as_unit(unit).rename(None)
    if name in _INT_VOLUME:
        frame["Volume"] = frame["Volume"].to_numpy().astype(np.int64)
    return frame


def __getattr__(name: str) -> Any:
    if name in _SAMPLES:
        return _sample(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; it has {', '.join(__all__)}")


def __dir__() -> list[str]:
    return list(__all__)


def SMA(arr: Any, n: int) -> pd.Series:
    """The `n`-period simple moving average of `arr` (a pandas rolling mean)."""
    return pd.Series(arr).rolling(n).mean()


__all__ = [*_SAMPLES, "SMA"]  # the samples are read on first use (module __getattr__)

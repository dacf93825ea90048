"""Checked Python entries to the indicator kernels: x is 1-D (n_bars,) or 2-D (n_bars, k); window is an int or a
sequence of m ints (k == m, or either is 1). The result is 2-D (n_bars, max(k, m)), one column per window, except
that a 1-D x with an int window gives a 1-D result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.fast import _validate as v
from tradeforge.fast import indicators as ind
from tradeforge.fast.errors import FastInputError

FloatArray = npt.NDArray[np.float64]
Window = int | Sequence[int] | npt.NDArray[np.integer[Any]]


def _run(kernel: Callable[..., FloatArray], name: str, x: Any, window: Window, minimum: int, *extra: Any) -> FloatArray:
    arr = v.float_array(name, x, allow_nan=True)
    wins = v.windows("window", window, minimum)
    k, m = arr.shape[1], wins.shape[0]
    if k != m and k != 1 and m != 1:
        raise FastInputError(f"{name} has {k} columns and there are {m} windows: give one window per column, or one")
    out = kernel(arr, wins, *extra)
    return out[:, 0] if np.ndim(x) == 1 and np.ndim(window) == 0 else out


def sma(x: Any, window: Window) -> FloatArray:
    """Simple moving average (TA-Lib SMA)."""
    return _run(ind.sma_nb, "x", x, window, 1)


def ema(x: Any, window: Window) -> FloatArray:
    """Exponential moving average (TA-Lib EMA, seeded with the first window's SMA)."""
    return _run(ind.ema_nb, "x", x, window, 1)


def rsi(x: Any, window: Window) -> FloatArray:
    """Relative strength index (TA-Lib RSI)."""
    return _run(ind.rsi_nb, "x", x, window, 2)


def rolling_min(x: Any, window: Window) -> FloatArray:
    """Lowest value of the last `window` bars (pandas rolling(window).min())."""
    return _run(ind.rolling_min_nb, "x", x, window, 1)


def rolling_max(x: Any, window: Window) -> FloatArray:
    """Highest value of the last `window` bars (pandas rolling(window).max())."""
    return _run(ind.rolling_max_nb, "x", x, window, 1)


def rolling_std(x: Any, window: Window, ddof: int = 1) -> FloatArray:
    """Standard deviation of the last `window` bars (pandas rolling(window).std(ddof=ddof))."""
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise FastInputError(f"ddof must be a non-negative integer (1: sample std, 0: population), got {ddof!r}")
    return _run(ind.rolling_std_nb, "x", x, window, int(ddof) + 1, int(ddof))


def atr(high: Any, low: Any, close: Any, window: Window) -> FloatArray:
    """Average true range (TA-Lib ATR)."""
    h = v.float_array("high", high, allow_nan=True)
    lo = v.float_array("low", low, allow_nan=True)
    c = v.float_array("close", close, allow_nan=True)
    if not h.shape == lo.shape == c.shape:
        raise FastInputError(f"high {h.shape}, low {lo.shape} and close {c.shape} must have one shape")
    wins = v.windows("window", window, 1)
    k, m = c.shape[1], wins.shape[0]
    if k != m and k != 1 and m != 1:
        raise FastInputError(f"the prices have {k} columns and there are {m} windows: give one window per column")
    out = ind.atr_nb(h, lo, c, wins)
    return out[:, 0] if np.ndim(close) == 1 and np.ndim(window) == 0 else out

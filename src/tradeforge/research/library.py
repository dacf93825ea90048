"""Built-in signal functions for sweeps and walk-forward runs (``tradeforge sweep -s NAME``). Each takes the bars
and one array per parameter and returns Signals with one column per combination; indicators come from the
fast path's 2-D kernels (equal to TA-Lib's), computed once per distinct window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge import fast
from tradeforge.core.errors import ConfigError
from tradeforge.fast.cross import crossings as fast_crossings
from tradeforge.research.signals import Bars, Signals

BoolArray = npt.NDArray[np.bool_]


def _by_window(compute: Callable[[npt.NDArray[np.int64]], np.ndarray], windows: Any) -> np.ndarray:
    """compute(unique windows) -> 2-D; expanded to one column per combination."""
    w = np.asarray(windows, dtype=np.int64).reshape(-1)
    unique, inverse = np.unique(w, return_inverse=True)
    return compute(unique)[:, inverse]


def crossed_above(a: np.ndarray, b: np.ndarray) -> BoolArray:
    """True at bars where a ends above b after being at or below it on the bar before (NaN never crosses)."""
    above = a > b
    below_before = np.zeros_like(above)
    below_before[1:] = a[:-1] <= b[:-1]
    return above & below_before


def _distinct(windows: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    w = np.asarray(windows, dtype=np.int64).reshape(-1)
    unique, inverse = np.unique(w, return_inverse=True)
    return unique, inverse.astype(np.int64)


def sma_cross(bars: Bars, fast: Any = 10, slow: Any = 20) -> Signals:
    """Always in the market: long when SMA(fast) crosses above SMA(slow), short when it crosses below (the
    bundled event-engine strategy SmaCross, and Backtesting.py's classic example)."""
    fw, fi = _distinct(fast)
    sw, si = _distinct(slow)
    up, down = fast_crossings(_sma(bars.close, fw), _sma(bars.close, sw), fi, si)
    return Signals(entries=up, exits=down, short_entries=down, short_exits=up)


def ema_cross_long(bars: Bars, fast: Any = 12, slow: Any = 26) -> Signals:
    """Long only: in while EMA(fast) is above EMA(slow), entering and leaving on the crosses."""
    fw, fi = _distinct(fast)
    sw, si = _distinct(slow)
    up, down = fast_crossings(fast_ema(bars.close, fw), fast_ema(bars.close, sw), fi, si)
    return Signals(entries=up, exits=down)


def rsi_reversion(bars: Bars, window: Any = 14, lower: Any = 30.0, upper: Any = 70.0) -> Signals:
    """Long only: buy when RSI(window) crosses up through ``lower``, sell when it crosses down through ``upper``."""
    r = _by_window(lambda w: fast.rsi(bars.close, w), window)
    lo = np.asarray(lower, dtype=np.float64).reshape(1, -1)
    hi = np.asarray(upper, dtype=np.float64).reshape(1, -1)
    if np.any(lo >= hi):
        raise ConfigError("rsi_reversion needs lower < upper for every combination (add a constraint)")
    return Signals(
        entries=crossed_above(r, np.broadcast_to(lo, r.shape)), exits=crossed_above(np.broadcast_to(hi, r.shape), r)
    )


def breakout(bars: Bars, window: Any = 20) -> Signals:
    """Donchian breakout, long and short: long when the close exceeds the highest high of the previous
    ``window`` bars, short when it falls below their lowest low."""
    hh = _by_window(lambda w: _shift(fast.rolling_max(bars.high, w)), window)
    ll = _by_window(lambda w: _shift(fast.rolling_min(bars.low, w)), window)
    close = bars.close[:, None]
    up = close > hh
    down = close < ll
    return Signals(entries=up, exits=down, short_entries=down, short_exits=up)


def _sma(close: np.ndarray, windows: np.ndarray) -> np.ndarray:
    return np.asarray(fast.sma(close, windows)).reshape(close.shape[0], -1)


def fast_ema(close: np.ndarray, windows: np.ndarray) -> np.ndarray:
    return np.asarray(fast.ema(close, windows)).reshape(close.shape[0], -1)


def _shift(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x).reshape(x.shape[0], -1)
    out = np.full_like(x, np.nan)
    out[1:] = x[:-1]
    return out


SIGNALS: dict[str, Callable[..., Signals]] = {
    "sma_cross": sma_cross,
    "ema_cross_long": ema_cross_long,
    "rsi_reversion": rsi_reversion,
    "breakout": breakout,
}

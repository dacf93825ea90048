"""2-D indicator kernels: one output column per window, so a parameter grid never leaves numba.

Every ``*_nb`` kernel takes its input as a 2-D float array (n_bars, k) and a 1-D int array of m windows, with
k == m, k == 1 (one input shared by every window) or m == 1 (one window for every input column), and returns a
(n_bars, max(k, m)) float array (Fortran order: each column is contiguous). Warm-up bars are NaN.

Values follow TA-Lib where TA-Lib has the indicator, including its seeding conventions and its handling of
leading NaNs (skipped: the warm-up starts at the first value that is not NaN):
- SMA: a running sum, TA-Lib's order of additions and subtractions;
- EMA: seeded with the SMA of the first `window` values, then ``prev + (x - prev) * 2 / (window + 1)``;
- RSI: Wilder's smoothing seeded with plain means of the first `window` gains and losses; 0 when both averages
  are below 1e-8 (TA-Lib's zero test); first value at index `window`;
- ATR: the mean of the first `window` true ranges (from bar 1), then Wilder's smoothing; window 1 is the true range.
Rolling min, max and std follow pandas' ``rolling(window)`` (NaN unless the whole window has values); the std is
computed accurately (ddof=1 by default: within ~1e-11 relative of an extended-precision two-pass reference),
where pandas' online update drifts (by ~1e-8 of the price level on the bundled data, 1e-4 relative and more on
near-flat windows); a window of identical values has std exactly 0, as in pandas.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_TA_EPSILON = 1e-8  # TA-Lib's TA_IS_ZERO threshold


@njit(cache=True)
def _n_out(k: int, m: int) -> int:
    return k if k > m else m


@njit(cache=True)
def _first_valid(x: FloatArray) -> int:
    n = int(x.shape[0])
    for i in range(n):
        if not np.isnan(x[i]):
            return i
    return n


@njit(cache=True)
def _sma_col(x: FloatArray, w: int, out: FloatArray) -> None:
    n = x.shape[0]
    b = _first_valid(x)
    start = b + w - 1
    if start >= n:
        return
    total = 0.0
    trailing = b
    i = b
    while i < start:
        total += x[i]
        i += 1
    while i < n:
        total += x[i]
        tmp = total
        total -= x[trailing]
        trailing += 1
        out[i] = tmp / w
        i += 1


@njit(cache=True)
def sma_nb(x: FloatArray, windows: IntArray) -> FloatArray:
    """Simple moving average (TA-Lib SMA)."""
    n, k = x.shape
    m = windows.shape[0]
    c = _n_out(k, m)
    out = np.full((c, n), np.nan)
    for j in range(c):
        _sma_col(x[:, j if k > 1 else 0], windows[j if m > 1 else 0], out[j])
    return out.T


@njit(cache=True)
def _ema_col(x: FloatArray, w: int, out: FloatArray) -> None:
    n = x.shape[0]
    b = _first_valid(x)
    start = b + w - 1
    if start >= n:
        return
    k = 2.0 / (w + 1)
    total = 0.0
    for i in range(b, b + w):
        total += x[i]
    prev = total / w
    out[start] = prev
    for i in range(start + 1, n):
        prev = (x[i] - prev) * k + prev
        out[i] = prev


@njit(cache=True)
def ema_nb(x: FloatArray, windows: IntArray) -> FloatArray:
    """Exponential moving average (TA-Lib EMA: seeded with the first window's SMA)."""
    n, k = x.shape
    m = windows.shape[0]
    c = _n_out(k, m)
    out = np.full((c, n), np.nan)
    for j in range(c):
        _ema_col(x[:, j if k > 1 else 0], windows[j if m > 1 else 0], out[j])
    return out.T


@njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    if -_TA_EPSILON < total < _TA_EPSILON:
        return 0.0
    return 100.0 * (gain / total)


@njit(cache=True)
def _rsi_col(x: FloatArray, w: int, out: FloatArray) -> None:
    n = x.shape[0]
    b = _first_valid(x)
    start = b + w
    if start >= n:
        return
    prev = x[b]
    gain = 0.0
    loss = 0.0
    for i in range(b + 1, start + 1):
        diff = x[i] - prev
        prev = x[i]
        if diff < 0:
            loss -= diff
        else:
            gain += diff
    loss /= w
    gain /= w
    out[start] = _rsi_value(gain, loss)
    for i in range(start + 1, n):
        diff = x[i] - prev
        prev = x[i]
        loss *= w - 1
        gain *= w - 1
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        loss /= w
        gain /= w
        out[i] = _rsi_value(gain, loss)


@njit(cache=True)
def rsi_nb(x: FloatArray, windows: IntArray) -> FloatArray:
    """Relative strength index (TA-Lib RSI, Wilder's smoothing). Windows >= 2."""
    n, k = x.shape
    m = windows.shape[0]
    c = _n_out(k, m)
    out = np.full((c, n), np.nan)
    for j in range(c):
        _rsi_col(x[:, j if k > 1 else 0], windows[j if m > 1 else 0], out[j])
    return out.T


@njit(cache=True)
def _true_range(h: float, lo: float, prev_close: float) -> float:
    greatest = h - lo
    up = abs(prev_close - h)
    if up > greatest:
        greatest = up
    down = abs(prev_close - lo)
    if down > greatest:
        greatest = down
    return greatest


@njit(cache=True)
def _atr_col(h: FloatArray, lo: FloatArray, c: FloatArray, w: int, out: FloatArray) -> None:
    n = c.shape[0]
    b = n
    for i in range(n):
        if not (np.isnan(h[i]) or np.isnan(lo[i]) or np.isnan(c[i])):
            b = i
            break
    start = b + w
    if start >= n:
        return
    if w == 1:
        for i in range(start, n):
            out[i] = _true_range(h[i], lo[i], c[i - 1])
        return
    total = 0.0
    for i in range(b + 1, start + 1):
        total += _true_range(h[i], lo[i], c[i - 1])
    prev = total / w
    out[start] = prev
    for i in range(start + 1, n):
        prev *= w - 1
        prev += _true_range(h[i], lo[i], c[i - 1])
        prev /= w
        out[i] = prev


@njit(cache=True)
def atr_nb(high: FloatArray, low: FloatArray, close: FloatArray, windows: IntArray) -> FloatArray:
    """Average true range (TA-Lib ATR). high, low and close have the same shape (n_bars, k)."""
    n, k = close.shape
    m = windows.shape[0]
    c = _n_out(k, m)
    out = np.full((c, n), np.nan)
    for j in range(c):
        col = j if k > 1 else 0
        _atr_col(high[:, col], low[:, col], close[:, col], windows[j if m > 1 else 0], out[j])
    return out.T


@njit(cache=True)
def _rolling_extreme_col(x: FloatArray, w: int, out: FloatArray, is_max: bool) -> None:
    """Monotonic deque of indices; NaN while the window holds a NaN (pandas with min_periods=window)."""
    n = x.shape[0]
    dq = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    last_nan = -1
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            last_nan = i
            head = 0
            tail = 0
        else:
            while tail > head:
                u = x[dq[tail - 1]]
                if (u <= v) if is_max else (u >= v):
                    tail -= 1
                else:
                    break
            dq[tail] = i
            tail += 1
            while dq[head] <= i - w:
                head += 1
        if i >= w - 1 and last_nan <= i - w:
            out[i] = x[dq[head]]


@njit(cache=True)
def rolling_min_nb(x: FloatArray, windows: IntArray) -> FloatArray:
    """Rolling minimum over the last `window` bars (pandas rolling(window).min(), TA-Lib MIN)."""
    n, k = x.shape
    m = windows.shape[0]
    c = _n_out(k, m)
    out = np.full((c, n), np.nan)
    for j in range(c):
        _rolling_extreme_col(x[:, j if k > 1 else 0], windows[j if m > 1 else 0], out[j], False)
    return out.T


@njit(cache=True)
def rolling_max_nb(x: FloatArray, windows: IntArray) -> FloatArray:
    """Rolling maximum over the last `window` bars (pandas rolling(window).max(), TA-Lib MAX)."""
    n, k = x.shape
    m = windows.shape[0]
    c = _n_out(k, m)
    out = np.full((c, n), np.nan)
    for j in range(c):
        _rolling_extreme_col(x[:, j if k > 1 else 0], windows[j if m > 1 else 0], out[j], True)
    return out.T


@njit(cache=True)
def _std_sums(x: FloatArray, first: int, w: int) -> tuple[float, float, float]:
    """Centre (the exact mean) and sums of deviations and squared deviations of x[first:first + w]."""
    total = 0.0
    for j in range(first, first + w):
        total += x[j]
    centre = total / w
    s1 = 0.0
    s2 = 0.0
    for j in range(first, first + w):
        d = x[j] - centre
        s1 += d
        s2 += d * d
    return centre, s1, s2


@njit(cache=True)
def _std_col(x: FloatArray, w: int, ddof: int, out: FloatArray) -> None:
    """Running sums of deviations from a centre; the centre is reset to the window's exact mean (two passes)
    every `w` bars and whenever cancellation could cost more than ~1e-10 relative, so near-flat windows are
    exact too. A window of identical values gives exactly 0."""
    n = x.shape[0]
    if w <= ddof:
        return
    limit = 1e-10 / (4.0 * w * 2.220446049250313e-16)  # largest safe ratio of the sum of squares to M2
    centre = 0.0
    s1 = 0.0
    s2 = 0.0
    since = w  # bars since the sums were rebuilt; >= w forces a rebuild
    last_nan = -1
    same = 0  # length of the run of identical values ending at i
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            last_nan = i
            same = 0
            since = w
            continue
        same = same + 1 if i > 0 and v == x[i - 1] else 1
        if i < w - 1 or last_nan > i - w:
            continue
        if same >= w:
            out[i] = 0.0
            since = w
            continue
        if since >= w:
            centre, s1, s2 = _std_sums(x, i - w + 1, w)
            since = 0
        else:
            d_in = v - centre
            d_out = x[i - w] - centre
            s1 += d_in - d_out
            s2 += d_in * d_in - d_out * d_out
            since += 1
        m2 = s2 - s1 * s1 / w
        if since > 0 and not m2 * limit >= s2:
            centre, s1, s2 = _std_sums(x, i - w + 1, w)
            since = 0
            m2 = s2 - s1 * s1 / w
        out[i] = math.sqrt(m2 / (w - ddof)) if m2 > 0.0 else 0.0


@njit(cache=True)
def rolling_std_nb(x: FloatArray, windows: IntArray, ddof: int = 1) -> FloatArray:
    """Rolling standard deviation (pandas rolling(window).std(ddof)); NaN when window <= ddof."""
    n, k = x.shape
    m = windows.shape[0]
    c = _n_out(k, m)
    out = np.full((c, n), np.nan)
    for j in range(c):
        _std_col(x[:, j if k > 1 else 0], windows[j if m > 1 else 0], ddof, out[j])
    return out.T

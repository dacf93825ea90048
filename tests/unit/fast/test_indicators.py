"""The 2-D indicator kernels against TA-Lib (SMA, EMA, RSI, ATR, MIN, MAX) and pandas (rolling min/max/std) on the
bundled real data, over a grid of windows in one call, and with one window per input column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from tradeforge import fast
from tradeforge.data import load_sample
from tradeforge.fast.errors import FastInputError, FastTypeError

SAMPLES = ["GOOG", "BTC-PERP", "ETH-BTC", "EURUSD"]
WINDOWS = [2, 3, 5, 14, 20, 50, 200]
RTOL = 1e-9


@pytest.fixture(scope="module", params=SAMPLES)
def bars(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    series = load_sample(request.param)
    return series.slice(0, 20_000) if len(series) > 20_000 else series


def assert_same(ours: np.ndarray, reference: np.ndarray) -> None:
    """NaN exactly where the reference has NaN (the warm-up), equal to 1e-9 relative elsewhere."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_allclose(ours, reference, rtol=RTOL, atol=0)


@pytest.mark.parametrize(
    ("ours", "theirs", "minimum"),
    [
        (fast.sma, talib.SMA, 1),
        (fast.ema, talib.EMA, 1),
        (fast.rsi, talib.RSI, 2),
        (fast.rolling_min, talib.MIN, 2),
        (fast.rolling_max, talib.MAX, 2),
    ],
    ids=["sma", "ema", "rsi", "min", "max"],
)
def test_talib_indicators_over_a_window_grid(bars, ours, theirs, minimum) -> None:  # type: ignore[no-untyped-def]
    windows = [w for w in [1, *WINDOWS] if w >= minimum]
    grid = ours(bars.close, windows)
    assert grid.shape == (len(bars), len(windows))
    assert grid.flags.f_contiguous  # each column contiguous, ready for the simulation kernel
    for j, w in enumerate(windows):
        assert_same(grid[:, j], theirs(bars.close, timeperiod=w))


def test_atr_over_a_window_grid(bars) -> None:  # type: ignore[no-untyped-def]
    windows = [1, *WINDOWS]
    grid = fast.atr(bars.high, bars.low, bars.close, windows)
    for j, w in enumerate(windows):
        assert_same(grid[:, j], talib.ATR(bars.high, bars.low, bars.close, timeperiod=w))


@pytest.mark.parametrize("name", ["min", "max"])
def test_rolling_extremes_equal_pandas(bars, name: str) -> None:  # type: ignore[no-untyped-def]
    func = fast.rolling_min if name == "min" else fast.rolling_max
    grid = func(bars.low if name == "min" else bars.high, WINDOWS)
    for j, w in enumerate(WINDOWS):
        rolling = pd.Series(bars.low if name == "min" else bars.high).rolling(w)
        assert_same(grid[:, j], getattr(rolling, name)().to_numpy())


def _exact_std(x: np.ndarray, w: int, ddof: int) -> np.ndarray:
    """Two passes per window in extended precision: the reference both pandas and the kernel approximate."""
    out = np.full(x.shape[0], np.nan)
    windows = sliding_window_view(x.astype(np.longdouble), w)
    dev = windows - windows.mean(axis=1, keepdims=True)
    out[w - 1 :] = np.sqrt((dev * dev).sum(axis=1) / (w - ddof)).astype(np.float64)
    return out


@pytest.mark.parametrize("ddof", [1, 0])
def test_rolling_std_is_accurate_and_equals_pandas_within_its_drift(bars, ddof: int) -> None:  # type: ignore[no-untyped-def]
    grid = fast.rolling_std(bars.close, WINDOWS, ddof=ddof)
    scale = float(np.median(bars.close))
    for j, w in enumerate(WINDOWS):
        exact = _exact_std(bars.close, w, ddof)
        flat = exact == 0.0
        assert (grid[flat, j] == 0.0).all()  # windows of identical prices: exactly 0, as pandas says
        assert_same(np.where(flat, 1.0, grid[:, j]), np.where(flat, 1.0, exact))
        # pandas' online update drifts on near-flat windows (up to ~1e-8 of the price level on this data)
        theirs = pd.Series(bars.close).rolling(w).std(ddof=ddof).to_numpy()
        np.testing.assert_array_equal(np.isnan(grid[:, j]), np.isnan(theirs))
        np.testing.assert_allclose(grid[:, j], theirs, rtol=1e-6, atol=1e-7 * scale)


def test_one_window_per_column() -> None:
    """A 2-D input with k columns and k windows: column j uses window j (k == m); one window broadcasts."""
    closes = np.column_stack([load_sample(s).close[:2000] for s in ["GOOG", "EURUSD", "ETH-BTC"]])
    windows = [5, 20, 50]
    for ours, theirs in ((fast.sma, talib.SMA), (fast.ema, talib.EMA), (fast.rsi, talib.RSI)):
        grid = ours(closes, windows)
        for j, w in enumerate(windows):
            assert_same(grid[:, j], theirs(closes[:, j], timeperiod=w))
        shared = ours(closes, 14)
        for j in range(3):
            assert_same(shared[:, j], theirs(closes[:, j], timeperiod=14))


def test_leading_nans_are_skipped_like_talib() -> None:
    x = load_sample("GOOG").close[:300].copy()
    x[:7] = np.nan
    for ours, theirs in ((fast.sma, talib.SMA), (fast.ema, talib.EMA), (fast.rsi, talib.RSI)):
        assert_same(ours(x, 10), theirs(x, timeperiod=10))
    x[100] = np.nan  # a hole: pandas rolling windows holding it are NaN
    for ours, name in ((fast.rolling_min, "min"), (fast.rolling_max, "max"), (fast.rolling_std, "std")):
        assert_same(ours(x, 10), getattr(pd.Series(x).rolling(10), name)().to_numpy())


def test_one_dimensional_input_and_int_window_give_one_dimension() -> None:
    x = load_sample("GOOG").close
    assert fast.sma(x, 10).shape == (len(x),)
    assert fast.sma(x, [10]).shape == (len(x), 1)
    assert fast.sma(x[:, None], 10).shape == (len(x), 1)


def test_bad_windows_and_inputs_are_clear_errors() -> None:
    x = load_sample("GOOG").close
    with pytest.raises(FastInputError, match="window must be >= 2"):
        fast.rsi(x, 1)
    with pytest.raises(FastTypeError, match="integer"):
        fast.sma(x, 2.5)
    with pytest.raises(FastInputError, match="one window per column"):
        fast.sma(np.column_stack([x, x, x]), [2, 3])
    with pytest.raises(FastTypeError, match="numbers"):
        fast.sma(x.astype(str), 5)
    with pytest.raises(FastInputError, match="one shape"):
        fast.atr(x, x[:-1], x, 5)

"""Labels on real bars: buy/sell/hold over a horizon with a fee-covering threshold, triple-barrier labels against
a plain loop, meta-labels from a fast-path backtest's trades, the spans each label uses, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_MINUTE
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import load_sample
from tradeforge.ml.labels import (
    BOTH,
    LOWER,
    UPPER,
    VERTICAL,
    horizon_labels,
    meta_labels,
    meta_labels_from_trades,
    round_trip_threshold,
    triple_barrier_labels,
)


@pytest.fixture(scope="module")
def btc() -> BarSeries:
    return load_sample("BTC-PERP")


# ---------------------------------------------------------------------------------------- horizon
def test_horizon_labels_buy_only_what_pays_the_round_trip_fees(btc: BarSeries) -> None:
    h = 15
    labels = horizon_labels(btc, h, fee_rate=0.001)
    c = pd.Series(btc.close)
    forward = (c.shift(-h) / c - 1).to_numpy()
    expected = np.where(forward > 0.002, 1, np.where(forward < -0.002, -1, 0))
    n = len(btc)
    assert labels.labelled[: n - h].all() and not labels.labelled[n - h :].any()
    np.testing.assert_array_equal(labels.label[: n - h], expected[: n - h])
    np.testing.assert_array_equal(labels.label[n - h :], 0)
    assert np.isnan(labels.as_float()[n - h :]).all()
    np.testing.assert_array_equal(labels.start, np.arange(n))
    np.testing.assert_array_equal(labels.end[: n - h], np.arange(n - h) + h)
    np.testing.assert_array_equal(labels.end[n - h :], -1)
    # every "buy" would have paid for entering and leaving at 0.1% each
    assert (labels.ret[labels.label == 1] > 0.002).all()
    counts = labels.counts()
    assert counts[1] > 1000 and counts[-1] > 1000 and counts[0] > counts[1]
    # without fees and margin, more bars are worth trading; a margin makes fewer
    assert horizon_labels(btc, h, fee_rate=0.0).counts()[0] < counts[0]
    with_margin = horizon_labels(btc, h, fee_rate=0.001, margin=0.003)
    assert with_margin.counts()[0] > counts[0]
    assert (with_margin.ret[with_margin.label == -1] < -0.005).all()


def test_labels_frame_has_nullable_classes_and_times(btc: BarSeries) -> None:
    frame = horizon_labels(btc.slice(0, 100), 10).to_frame()
    assert str(frame.index.tz) == "UTC" and frame.index[0] == pd.Timestamp("2021-12-31 23:01", tz="UTC")
    assert frame["label"].isna().sum() == 10 and str(frame["label"].dtype) == "Int8"
    assert frame["end"].iloc[0] == 10


# ---------------------------------------------------------------------------------- triple barrier
def barrier_loop(
    path_high: np.ndarray, path_low: np.ndarray, c: np.ndarray, up: np.ndarray, down: np.ndarray, h: int
) -> tuple[np.ndarray, np.ndarray]:
    """A plain per-bar loop: (end, barrier) with -1 / VERTICAL where nothing was hit."""
    n = c.shape[0]
    end = np.full(n, -1)
    which = np.zeros(n, dtype=np.int8)
    for t in range(n - 1):
        for j in range(t + 1, min(n, t + h + 1)):
            over, under = path_high[j] >= up[t], path_low[j] <= down[t]
            if over or under:
                end[t] = j
                which[t] = BOTH if over and under else (UPPER if over else LOWER)
                break
    return end, which


def test_fixed_triple_barriers_match_a_plain_loop(btc: BarSeries) -> None:
    bars = btc.slice(0, 4000)
    h = 30
    labels = triple_barrier_labels(bars, h, upper=0.003, lower=0.002, volatility=None)
    c = bars.close
    np.testing.assert_allclose(labels.upper, c * 1.003)
    end, which = barrier_loop(c, c, c, labels.upper, labels.lower, h)
    hit = end >= 0
    np.testing.assert_array_equal(labels.end[hit], end[hit])
    np.testing.assert_array_equal(labels.barrier[hit], which[hit])
    vertical = ~hit & (np.arange(len(c)) + h < len(c))
    np.testing.assert_array_equal(labels.end[vertical], np.flatnonzero(vertical) + h)
    assert (labels.barrier[vertical] == VERTICAL).all()
    np.testing.assert_array_equal(labels.labelled, hit | vertical)
    assert (labels.label[labels.barrier == UPPER] == 1).all() and (labels.label[labels.barrier == LOWER] == -1).all()
    assert (labels.ret[labels.barrier == UPPER] >= 0.003).all()
    # at the vertical barrier: buy/sell only beyond the round-trip fees
    v_ret = labels.ret[vertical]
    np.testing.assert_array_equal(labels.label[vertical], np.where(v_ret > 0.002, 1, np.where(v_ret < -0.002, -1, 0)))
    assert {UPPER, LOWER, VERTICAL} <= set(np.unique(labels.barrier[labels.labelled]).tolist())
    assert (labels.end[labels.labelled] <= np.flatnonzero(labels.labelled) + h).all()


def test_volatility_barriers_use_only_past_returns(btc: BarSeries) -> None:
    bars = btc.slice(5000, 9000)
    h, w = 20, 50
    labels = triple_barrier_labels(bars, h, upper=2.0, lower=1.0, vol_window=w)
    c = pd.Series(bars.close)
    sigma = (c / c.shift(1) - 1).rolling(w).std(ddof=0).to_numpy()  # up to and including bar t
    np.testing.assert_allclose(labels.upper[w:], bars.close[w:] * (1 + 2.0 * sigma[w:] * np.sqrt(h)), rtol=1e-9)
    np.testing.assert_allclose(labels.lower[w:], bars.close[w:] * (1 - 1.0 * sigma[w:] * np.sqrt(h)), rtol=1e-9)
    assert not labels.labelled[:w].any() and labels.labelled[w : len(c) - h].all()
    end, which = barrier_loop(bars.close, bars.close, bars.close, labels.upper, labels.lower, h)
    hit = (end >= 0) & labels.labelled
    np.testing.assert_array_equal(labels.end[hit], end[hit])
    np.testing.assert_array_equal(labels.barrier[hit], which[hit])
    # a twice wider upper barrier is reached less often than the lower one
    assert (labels.barrier == LOWER).sum() > (labels.barrier == UPPER).sum()


def test_intrabar_barriers_use_highs_and_lows_and_flag_a_bar_that_reaches_both() -> None:
    ts = np.arange(6, dtype=np.int64) * NS_PER_MINUTE
    close = np.array([100.0, 100.5, 100.0, 100.0, 100.0, 100.0])
    high = np.array([100.0, 101.5, 100.5, 100.0, 103.0, 100.0])
    low = np.array([100.0, 100.0, 99.5, 97.0, 97.0, 100.0])
    bars = BarSeries.from_arrays("X", NS_PER_MINUTE, ts, close, high, low, close, np.ones(6))
    labels = triple_barrier_labels(bars, 4, upper=0.01, lower=0.02, volatility=None, intrabar=True)
    assert (labels.barrier[0], labels.end[0], labels.label[0]) == (UPPER, 1, 1)  # high 101.5 >= 101
    assert labels.ret[0] == pytest.approx(0.01)  # the barrier's own return
    assert (labels.barrier[2], labels.end[2], labels.label[2]) == (LOWER, 3, -1)  # low 97 <= 98
    assert (labels.barrier[3], labels.end[3], labels.label[3]) == (BOTH, 4, 0)  # 103 and 97 in one bar
    closes_only = triple_barrier_labels(bars, 4, upper=0.01, lower=0.02, volatility=None)
    assert closes_only.barrier[0] == VERTICAL and closes_only.end[0] == 4
    no_upper = triple_barrier_labels(bars, 4, upper=None, lower=0.02, volatility=None, intrabar=True)
    assert no_upper.barrier[0] == LOWER and not (no_upper.barrier == UPPER).any()


# -------------------------------------------------------------------------------------- meta-labels
def test_meta_labels_from_a_fast_backtest_mark_the_trades_that_paid_their_fees(btc: BarSeries) -> None:
    from tradeforge.fast import simulate

    bars = btc.slice(0, 10_000)
    fast, slow = talib.SMA(bars.close, 20), talib.SMA(bars.close, 80)
    up = (fast > slow) & (np.roll(fast, 1) <= np.roll(slow, 1))
    down = (fast < slow) & (np.roll(fast, 1) >= np.roll(slow, 1))
    result = simulate(bars.open, bars.high, bars.low, bars.close, up, down, down, up, fees=0.001, lot_size=0)
    trades = result.trades
    labels = meta_labels_from_trades(trades, bars)
    closed = trades["exit_idx"] >= 0
    assert len(labels) == len(trades) > 100 and (~closed).sum() == 1
    np.testing.assert_array_equal(labels.labelled, closed)
    np.testing.assert_array_equal(labels.label[closed], (trades["pnl"][closed] > 0).astype(np.int8))
    np.testing.assert_array_equal(labels.start, trades["entry_idx"] - 1)  # decided on the bar before the fill
    assert up[labels.start[labels.side == 1]].all() and down[labels.start[labels.side == -1]].all()
    np.testing.assert_array_equal(labels.end[closed], trades["exit_idx"][closed])
    np.testing.assert_array_equal(labels.ts, bars.ts[labels.start])
    assert 0 < labels.label.sum() < closed.sum()  # some trades paid their fees, many did not
    stricter = meta_labels_from_trades(trades, bars, min_return=0.005)
    assert stricter.label.sum() < labels.label.sum()


def test_meta_labels_from_entry_and_exit_bars_charge_fees_both_ways(btc: BarSeries) -> None:
    bars = btc.slice(0, 1000)
    c = bars.close
    entry, exit_ = np.array([10, 200, 500, 900]), np.array([50, 260, 560, -1])
    side = np.array([1, -1, 1, 1])
    labels = meta_labels(bars, entry, side, exit_, fee_rate=0.0005)
    for k in range(3):
        ratio = c[exit_[k]] / c[entry[k]]
        net = side[k] * (ratio - 1) - 0.0005 * (1 + ratio)
        assert labels.ret[k] == pytest.approx(net, rel=1e-12)
        assert labels.label[k] == int(net > 0)
    assert not labels.labelled[3] and labels.end[3] == -1
    gross = meta_labels(bars, entry, side, exit_, fee_rate=0.0)
    assert (gross.ret[:3] > labels.ret[:3]).all()
    frame = labels.to_frame()
    assert list(frame.columns) == ["label", "start", "end", "ret", "side", "entry_idx", "exit_idx"]


# ----------------------------------------------------------------------------------------- bad input
def test_bad_label_settings_are_clear_errors(btc: BarSeries) -> None:
    bars = btc.slice(0, 100)
    with pytest.raises(ConfigError, match="horizon must be a whole number of bars >= 1"):
        horizon_labels(bars, 0)
    with pytest.raises(ConfigError, match="leaves no labelled bar"):
        horizon_labels(bars, 100)
    with pytest.raises(ConfigError, match="fee_rate must be a fraction"):
        horizon_labels(bars, 5, fee_rate=-0.001)
    with pytest.raises(ConfigError, match="vol_window=200 is longer"):
        triple_barrier_labels(bars, 5, vol_window=200)
    with pytest.raises(ConfigError, match="upper barrier must be > 0"):
        triple_barrier_labels(bars, 5, upper=0.0, volatility=None)
    with pytest.raises(ConfigError, match="exits at bar 3, before its entry"):
        meta_labels(bars, [5], [1], [3])
    with pytest.raises(ConfigError, match="side must hold one value per trade"):
        meta_labels(bars, [5], [2], [9])
    with pytest.raises(ConfigError, match="lack fields"):
        meta_labels_from_trades(np.zeros(3, dtype=[("entry_idx", "i8")]), bars)
    two_columns = np.zeros(2, dtype=[("column", "i8"), ("entry_idx", "i8"), ("exit_idx", "i8"), ("side", "i8"),
                                     ("return", "f8")])  # fmt: skip
    two_columns["column"] = [0, 1]
    two_columns["entry_idx"] = [3, 4]
    two_columns["exit_idx"] = [6, 7]
    two_columns["side"] = 1
    with pytest.raises(ConfigError, match="2 columns: choose one"):
        meta_labels_from_trades(two_columns, bars)
    assert len(meta_labels_from_trades(two_columns, bars, column=1)) == 1
    assert round_trip_threshold(0.001, 0.0005) == pytest.approx(0.0025)
    close = bars.close.copy()
    close[7] = 0.0
    broken = BarSeries(bars.symbol, bars.timeframe, bars.ts, bars.open, bars.high, bars.low, close, bars.volume)
    with pytest.raises(DataError, match="not positive at row 7"):
        horizon_labels(broken, 5)

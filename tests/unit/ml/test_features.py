"""Feature blocks on real bars: values against independent computations, warm-up, higher-time-frame alignment
against the engine's Resampler, bar-by-bar streaming equal to the batch to the last bit, and bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import talib

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_MINUTE
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.events import Bar
from tradeforge.core.series import Resampler, Stream
from tradeforge.data import load_sample
from tradeforge.ml.features import (
    ADX,
    ATR,
    MACD,
    RSI,
    Bollinger,
    Factors,
    FeatureSet,
    HigherTimeframe,
    Returns,
    TAFunction,
    Volume,
    default_feature_set,
)


@pytest.fixture(scope="module")
def btc() -> BarSeries:
    return load_sample("BTC-PERP")


def close_frame(bars: BarSeries) -> pd.DataFrame:
    return pd.DataFrame({"high": bars.high, "low": bars.low, "close": bars.close, "volume": bars.volume})


# ------------------------------------------------------------------------------------ stream == batch
def test_streaming_45k_bars_equals_the_batch_bit_for_bit(btc: BarSeries) -> None:
    features = default_feature_set(higher_timeframes=("1h",), base="1m")
    batch = features.compute(btc)
    rows = features.stream().extend(btc)
    assert batch.shape == (45_031, len(features.columns))
    np.testing.assert_array_equal(rows, batch.to_numpy())  # NaN where NaN, every other value identical
    assert np.isfinite(batch.to_numpy()[features.warmup :]).all()


@pytest.mark.parametrize("name", ["TRX-BTC", "ETH-BTC", "XLM-BTC"])
def test_streaming_equals_batch_on_5m_pairs_with_gaps_and_tiny_prices(name: str) -> None:
    bars = load_sample(name)  # TRX-BTC has gaps; XLM-BTC trades at ~3e-5 BTC
    features = default_feature_set(datasetinputs=3, granularity=2, higher_timeframes=("1h", "4h"), base="5m")
    batch = features.compute_array(bars)
    stream = features.stream()
    for i in range(len(bars)):
        bar = Bar(name, int(bars.ts[i]), *(float(getattr(bars, c)[i]) for c in ("open", "high", "low", "close")),
                  float(bars.volume[i]), bars.timeframe)  # fmt: skip
        np.testing.assert_array_equal(stream.update(bar), batch[i])
    assert np.isfinite(batch[-1]).all()


def test_every_block_starts_exactly_at_its_warmup(btc: BarSeries) -> None:
    bars = btc.slice(0, 3000)
    blocks = [Returns(5), Returns(3, step=4), Factors(), RSI(), MACD(), ATR(), Bollinger(), ADX(), Volume(),
              TAFunction("CCI", {"timeperiod": 14})]  # fmt: skip
    expected = {"Returns": [5, 12], "Factors": [100], "RSI": [14], "MACD": [33], "ATR": [14], "Bollinger": [19],
                "ADX": [27], "Volume": [19], "TAFunction": [13]}  # fmt: skip
    seen: dict[str, list[int]] = {}
    for block in blocks:
        values = block.compute(bars)
        complete = np.flatnonzero(~np.isnan(values).any(axis=1))
        assert complete[0] == block.warmup, block
        assert complete.size == len(bars) - block.warmup  # no NaN after the warm-up
        seen.setdefault(type(block).__name__, []).append(block.warmup)
    assert seen == expected


# ------------------------------------------------------------------------------- values, independently
def test_returns_are_the_last_n_moves_at_the_granularity(btc: BarSeries) -> None:
    bars = btc.slice(0, 2000)
    out = pd.DataFrame(Returns(4, step=3).compute(bars), columns=Returns(4, step=3).columns)
    assert list(out.columns) == ["ret3_1", "ret3_2", "ret3_3", "ret3_4"]
    c = pd.Series(bars.close)
    for k in range(1, 5):
        expected = (c / c.shift(3) - 1).shift(3 * (k - 1))
        np.testing.assert_array_equal(out[f"ret3_{k}"].to_numpy(), expected.to_numpy())
    t = 500  # by hand: the latest move ends at bar t, the 4th one ends 9 bars earlier
    assert out["ret3_1"][t] == bars.close[t] / bars.close[t - 3] - 1
    assert out["ret3_4"][t] == bars.close[t - 9] / bars.close[t - 12] - 1


def test_factors_match_pandas_and_a_least_squares_fit(btc: BarSeries) -> None:
    bars = btc.slice(10_000, 14_000)
    block = Factors((10, 50))
    out = pd.DataFrame(block.compute(bars), columns=block.columns)
    f = close_frame(bars)
    for w in (10, 50):
        rng = (f.high.rolling(w).max() - f.low.rolling(w).min()) / f.close
        np.testing.assert_allclose(out[f"range_{w}"], rng, rtol=1e-12)
        trend = f.close.diff(w) / f.close.diff().abs().rolling(w).sum()
        np.testing.assert_allclose(out[f"trend_{w}"], trend, rtol=1e-9, atol=1e-12)
        for t in (w - 1, 777, 2500, len(bars) - 1):
            slope = np.polyfit(np.arange(w), bars.close[t - w + 1 : t + 1], 1)[0]
            assert out[f"slope_{w}"][t] == pytest.approx(slope / bars.close[t], rel=1e-7, abs=1e-12)
    assert out["trend_50"].abs().max() <= 1.0
    assert np.isnan(out["trend_10"][9]) and not np.isnan(out["range_10"][9])


def test_trendiness_is_one_on_a_straight_rise_and_zero_when_flat() -> None:
    n = 40
    ts = np.arange(n, dtype=np.int64) * NS_PER_MINUTE
    rise = np.linspace(100.0, 139.0, n)
    flat = np.full(n, 100.0)
    for close, trend, slope in ((rise, 1.0, 1.0), (flat, 0.0, 0.0)):
        bars = BarSeries.from_arrays("X", NS_PER_MINUTE, ts, close, close, close, close, np.ones(n))
        out = pd.DataFrame(Factors((10,)).compute(bars), columns=Factors((10,)).columns)
        assert out["trend_10"].iloc[-1] == pytest.approx(trend)
        assert out["slope_10"].iloc[-1] * close[-1] == pytest.approx(slope)


def test_indicators_are_talib_scaled_by_the_close(btc: BarSeries) -> None:
    bars = btc.slice(0, 5000)
    c, h, low, v = bars.close, bars.high, bars.low, bars.volume
    fs = FeatureSet([RSI(), MACD(), ATR(), Bollinger(), ADX(), Volume()])
    out = fs.compute(bars)
    np.testing.assert_array_equal(out["rsi_14"], talib.RSI(c, 14))
    hist = talib.MACD(c, 12, 26, 9)[2]
    np.testing.assert_array_equal(out["macd_hist_12_26_9"], hist / c)
    np.testing.assert_array_equal(out["atr_14"], talib.ATR(h, low, c, 14) / c)
    np.testing.assert_array_equal(out["adx_14"], talib.ADX(h, low, c, 14))
    # Bollinger and volume against pandas (population standard deviation), not TA-Lib
    f = close_frame(bars)
    mean, std = f.close.rolling(20).mean(), f.close.rolling(20).std(ddof=0)
    np.testing.assert_allclose(out["bb_pctb_20"], (f.close - (mean - 2 * std)) / (4 * std), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out["bb_width_20"], 4 * std / mean, rtol=1e-6)
    vmean, vstd = f.volume.rolling(20).mean(), f.volume.rolling(20).std(ddof=0)
    np.testing.assert_allclose(out["vol_z_20"], (f.volume - vmean) / vstd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out["rel_vol_20"], v / vmean, rtol=1e-9)
    assert out["rsi_14"].between(0, 100).iloc[14:].all()


def test_a_generic_talib_function_streams_too(btc: BarSeries) -> None:
    bars = btc.slice(0, 1500)
    fs = FeatureSet([TAFunction("STOCH"), TAFunction("EMA", {"timeperiod": 30}, scale="close")])
    assert fs.columns == ["stoch_slowk_5_3_0_3_0", "stoch_slowd_5_3_0_3_0", "ema_30"]
    out = fs.compute_array(bars)
    np.testing.assert_array_equal(out[:, 2], talib.EMA(bars.close, 30) / bars.close)
    np.testing.assert_array_equal(fs.stream().extend(bars), out)


# -------------------------------------------------------------------------------- higher time frames
def resampler_reveals(bars: BarSeries, tf: int) -> tuple[np.ndarray, Stream]:
    """The engine's own Resampler: how many higher bars are visible after each base bar."""
    base = Stream(bars.symbol, bars.timeframe)
    target = Stream(bars.symbol, tf)
    base.children.append(Resampler(base, target))
    visible = np.empty(len(bars), dtype=np.int64)
    for i in range(len(bars)):
        base.append_bar(int(bars.ts[i]), bars.open[i], bars.high[i], bars.low[i], bars.close[i], bars.volume[i])
        base.reveal(i)
        visible[i] = target.length
    return visible, target


@pytest.mark.parametrize(("name", "tf"), [("BTC-PERP", "1h"), ("TRX-BTC", "1h"), ("TRX-BTC", "4h")])
def test_higher_time_frame_values_appear_when_the_engine_reveals_the_bar(name: str, tf: str) -> None:
    bars = load_sample(name)
    if name == "BTC-PERP":
        bars = bars.slice(0, 12_000)
    block = HigherTimeframe(tf, [Returns(1)], base=bars.timeframe)
    out = block.compute(bars)[:, 0]
    visible, target = resampler_reveals(bars, block.tf_ns)
    closes = target.column("close")
    expected = np.full(len(bars), np.nan)
    k = visible - 1  # the latest revealed higher bar
    ok = k >= 1
    expected[ok] = closes[k[ok]] / closes[k[ok] - 1] - 1
    np.testing.assert_array_equal(out, expected)
    # and the value changes only at bars where a period has just closed
    prev, cur = out[:-1], out[1:]
    changed = ~((prev == cur) | (np.isnan(prev) & np.isnan(cur)))
    assert changed.sum() > 100
    assert np.all(np.diff(visible)[changed] == 1)


def test_higher_time_frame_rsi_matches_pandas_resampling_and_as_of_alignment(btc: BarSeries) -> None:
    bars = btc.slice(0, 20_000)
    out = FeatureSet([HigherTimeframe("1h", [RSI()], base="1m")]).compute(bars)
    minute = pd.Series(bars.close, index=pd.to_datetime(bars.ts, utc=True))
    hourly = minute.resample("1h", label="left", closed="left").last().dropna()
    rsi = pd.Series(talib.RSI(hourly.to_numpy(), 14), index=hourly.index + pd.Timedelta("1h"))  # known at close
    expected = rsi.reindex(minute.index + pd.Timedelta("1m"), method="ffill")  # a 1m bar is known at its close
    np.testing.assert_array_equal(out["1h_rsi_14"].to_numpy(), expected.to_numpy())
    assert out["1h_rsi_14"].notna().sum() > 15_000


# ----------------------------------------------------------------------------------------- bad input
def test_a_window_longer_than_the_data_is_a_clear_error(btc: BarSeries) -> None:
    with pytest.raises(ConfigError, match=r"needs more than 100 bars .* has only 80"):
        FeatureSet([Factors()]).compute(btc.slice(0, 80))
    with pytest.raises(ConfigError, match=r"need more than 14 closed 1h bars .* make 13"):
        FeatureSet([HigherTimeframe("1h", [RSI()], base="1m")]).compute(btc.slice(0, 13 * 60))


def test_nan_in_the_bars_is_a_clear_error(btc: BarSeries) -> None:
    bars = btc.slice(0, 500)
    close = bars.close.copy()
    close[321] = np.nan
    broken = replace(bars, close=close)
    with pytest.raises(DataError, match=r"close is NaN or infinite at row 321 \(2022-01-01T04:22:00Z\)"):
        default_feature_set().compute(broken)
    stream = FeatureSet([RSI()]).stream()
    good = Bar("BTC-PERP", int(bars.ts[0]), 1.0, 2.0, 0.5, 1.5, 10.0, bars.timeframe)
    stream.update(good)
    with pytest.raises(DataError, match="NaN"):
        stream.update(Bar("BTC-PERP", int(bars.ts[1]), 1.0, 2.0, 0.5, float("nan"), 10.0, bars.timeframe))
    with pytest.raises(DataError, match="does not come after"):
        stream.update(good)


def test_bad_settings_are_clear_errors(btc: BarSeries) -> None:
    with pytest.raises(ConfigError, match="Returns n"):
        Returns(0)
    with pytest.raises(ConfigError, match="factor window"):
        Factors((1, 10))
    with pytest.raises(ConfigError, match=r"fast .* must be shorter than slow"):
        MACD(26, 12)
    with pytest.raises(ConfigError, match="no function 'NOPE'"):
        TAFunction("NOPE")
    with pytest.raises(ConfigError, match=r"appear twice"):
        FeatureSet([RSI(), RSI()])
    with pytest.raises(ConfigError, match="whole multiple"):
        HigherTimeframe("90s", [RSI()], base="1m")
    with pytest.raises(ConfigError, match="built for 5m bars"):
        FeatureSet([HigherTimeframe("1h", [RSI()], base="5m")]).compute(btc)
    with pytest.raises(ConfigError, match="need base="):
        default_feature_set(higher_timeframes=("1h",))
    stream = FeatureSet([HigherTimeframe("1h", [RSI()], base="5m")]).stream()
    with pytest.raises(ConfigError, match="computes on 5m bars"):
        stream.update(Bar("BTC-PERP", int(btc.ts[0]), 1.0, 2.0, 0.5, 1.5, 10.0, btc.timeframe))

"""Resampling against an independent pandas computation, the incomplete-last-bar flag, and exchange sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.data import load_sample
from tradeforge.data.resample import Session, resample


def pandas_resample(series: BarSeries, rule: str, origin: str = "epoch") -> pd.DataFrame:
    frame = pd.DataFrame(
        {"open": series.open, "high": series.high, "low": series.low, "close": series.close, "volume": series.volume},
        index=pd.to_datetime(series.ts, utc=True),
    )
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return frame.resample(rule, label="left", closed="left", origin=origin).agg(agg).dropna()


@pytest.mark.parametrize(
    ("name", "timeframe", "rule"),
    [("BTC-PERP", "1h", "1h"), ("BTC-PERP", "4h", "4h"), ("ETH-BTC", "1d", "1D"), ("BTC-PERP", "15m", "15min")],
)
def test_matches_pandas(name: str, timeframe: str, rule: str) -> None:
    series = load_sample(name)
    out = resample(series, timeframe).bars
    expected = pandas_resample(series, rule)
    np.testing.assert_array_equal(out.ts, expected.index.as_unit("ns").asi8)
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(out, col), expected[col].to_numpy())
    np.testing.assert_allclose(out.volume, expected["volume"].to_numpy(), rtol=1e-12)


def test_weeks_start_on_monday() -> None:
    series = load_sample("ETH-BTC")
    out = resample(series, "1w").bars
    weekdays = pd.to_datetime(out.ts, utc=True).dayofweek
    assert set(weekdays) == {0}
    expected = pandas_resample(series, "W-MON", origin="epoch")  # pandas labels W-MON bins by their end: compare values
    assert out.high.max() == expected["high"].max() and len(out) in (len(expected), len(expected) + 1)


def test_incomplete_last_bar_is_flagged() -> None:
    series = load_sample("BTC-PERP")
    full = resample(series, "1h")
    minutes = (int(series.ts[-1]) + series.timeframe) % 3_600_000_000_000
    assert full.last_complete == (minutes == 0)
    cut = BarSeries.from_arrays(
        series.symbol, series.timeframe, series.ts[:90], series.open[:90], series.high[:90], series.low[:90],
        series.close[:90], series.volume[:90],
    )  # fmt: skip
    part = resample(cut, "1h")
    assert not part.last_complete or (int(cut.ts[-1]) + cut.timeframe) % 3_600_000_000_000 == 0
    later = resample(cut, "1h", now=int(part.bars.ts[-1]) + 3_600_000_000_000)
    assert later.last_complete


def _new_york_minutes() -> BarSeries:
    # two days of 1-minute bars around the US switch to daylight saving (2024-03-10), 24 hours a day
    start = pd.Timestamp("2024-03-08 00:00", tz="UTC").value
    n = 4 * 1440
    ts = start + np.arange(n, dtype=np.int64) * 60_000_000_000
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.0005
    low = np.minimum(open_, close) * 0.9995
    return BarSeries.from_arrays("SPY", 60_000_000_000, ts, open_, high, low, close, np.ones(n))


def test_daily_bars_follow_the_exchange_session_and_time_zone() -> None:
    series = _new_york_minutes()
    session = Session("America/New_York", "09:30", "16:00")
    out = resample(series, "1d", session=session).bars
    opens = pd.to_datetime(out.ts, utc=True).tz_convert("America/New_York")
    assert [t.strftime("%H:%M") for t in opens] == ["09:30"] * len(out)  # 14:30 UTC before DST, 13:30 after
    assert {t.strftime("%H:%M") for t in pd.to_datetime(out.ts, utc=True)} == {"14:30", "13:30"}
    frame = pd.DataFrame(
        {"high": series.high, "low": series.low, "close": series.close, "volume": series.volume},
        index=pd.to_datetime(series.ts, utc=True).tz_convert("America/New_York"),
    ).between_time("09:30", "15:59")
    by_day = frame.groupby(frame.index.date).agg({"high": "max", "low": "min", "close": "last", "volume": "sum"})
    np.testing.assert_array_equal(out.high, by_day["high"].to_numpy())
    np.testing.assert_array_equal(out.close, by_day["close"].to_numpy())
    np.testing.assert_array_equal(out.volume, by_day["volume"].to_numpy())  # 390 regular minutes a day
    assert set(out.volume) == {390.0}
    extended = resample(series, "1d", session=session, include_extended=True).bars
    assert extended.volume.sum() > out.volume.sum()


def test_bad_requests() -> None:
    series = load_sample("BTC-PERP")
    with pytest.raises(ConfigError, match="longer"):
        resample(series, "1m")
    with pytest.raises(ConfigError, match="whole multiple"):
        resample(load_sample("ETH-BTC"), "7m")
    with pytest.raises(ConfigError, match="time zone"):
        resample(series, "1d", session=Session("Mars/Olympus", "09:30", "16:00"))
    with pytest.raises(ConfigError, match="session"):
        resample(series, "1h", session=Session("UTC"))

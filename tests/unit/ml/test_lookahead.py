"""The look-ahead check on real bars: planted leaks (one bar ahead, a centred window, a full-history
normalisation, a higher time frame shown before its period closed, a peeking signal) are reported by column with
where they start; the default feature set and honest signals pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, LookAheadError
from tradeforge.data import load_sample, resample
from tradeforge.ml.features import RSI, FeatureSet, HigherTimeframe, Returns, default_feature_set
from tradeforge.ml.lookahead import check_lookahead


@pytest.fixture(scope="module")
def btc() -> BarSeries:
    return load_sample("BTC-PERP")


def closes(bars: BarSeries) -> pd.Series:
    return pd.Series(bars.close, index=pd.to_datetime(bars.ts, utc=True))


def test_the_full_default_feature_set_is_clean(btc: BarSeries) -> None:
    features = default_feature_set(higher_timeframes=("1h",), base="1m")
    report = check_lookahead(features, btc)
    assert report.clean, report.summary()
    assert report.leaks == () and len(report.columns) == len(features.columns) == 43
    assert len(report.points) >= 20 and report.points[-3:] == (45_028, 45_029, 45_030)
    assert report.points[0] == features.warmup + 6
    report.raise_if_leaking()  # nothing to raise
    assert "no look-ahead found" in report.summary()


def test_a_feature_one_bar_ahead_is_reported_by_name(btc: BarSeries) -> None:
    honest = FeatureSet([Returns(3), RSI()])

    def planted(bars: BarSeries) -> pd.DataFrame:
        frame = honest.compute(bars)
        c = closes(bars)
        frame["next_close"] = c.shift(-1) / c - 1  # peeks one bar ahead
        return frame

    report = check_lookahead(planted, btc)
    assert not report.clean and report.leaking_columns == ["next_close"]
    leak = report.leaks[0]
    first_cut = report.points[0]
    assert leak.first_bar == first_cut - 1 and leak.truncated_at == first_cut  # the last bar of the first run
    assert np.isnan(leak.truncated_value) and np.isfinite(leak.full_value) and leak.difference == np.inf
    assert leak.mismatches == len(report.points)  # every run's last bar
    assert leak.first_time == "2022-01-04T02:03:00Z"
    with pytest.raises(LookAheadError, match="next_close: differs from bar 4502"):
        report.raise_if_leaking()


def test_a_centred_rolling_mean_is_caught(btc: BarSeries) -> None:
    def centred(bars: BarSeries) -> pd.DataFrame:
        c = closes(bars)
        return pd.DataFrame({"trailing": c.rolling(21).mean() / c, "centred": c.rolling(21, center=True).mean() / c})

    report = check_lookahead(centred, btc, rows=20)
    assert report.leaking_columns == ["centred"]
    assert report.leaks[0].first_bar == report.points[0] - 10  # the window reaches 10 bars ahead
    # 10 rows per run, fewer where the full run's own last 10 values are NaN too
    assert 10 * (len(report.points) - 6) <= report.leaks[0].mismatches < 10 * len(report.points)


def test_normalising_with_the_whole_history_is_caught_with_its_size(btc: BarSeries) -> None:
    def zscore(bars: BarSeries) -> np.ndarray:
        return (bars.close - bars.close.mean()) / bars.close.std()  # uses the mean of bars not yet seen

    report = check_lookahead(zscore, btc, points=10, tail=0)
    assert report.leaking_columns == ["value"]
    leak = report.leaks[0]
    assert np.isfinite(leak.difference) and leak.difference > 0.01  # a real difference, not a NaN
    assert leak.max_difference >= leak.difference


def test_a_higher_time_frame_shown_before_its_period_closed_is_caught(btc: BarSeries) -> None:
    def early_hourly(bars: BarSeries) -> pd.DataFrame:
        hourly = resample(bars, "1h").bars  # the last hour may still be forming
        close = pd.Series(hourly.close, index=pd.to_datetime(hourly.ts, utc=True))
        aligned = close.reindex(pd.to_datetime(bars.ts, utc=True), method="ffill")  # visible from the hour's open
        return pd.DataFrame({"hour_close": aligned / closes(bars)})

    bars = btc.slice(0, 20_000)
    assert not check_lookahead(early_hourly, bars).clean
    honest = FeatureSet([Returns(2), *default_feature_set(higher_timeframes=("1h",), base="1m").blocks[-1:]])
    assert check_lookahead(honest, bars).clean


class OneBarEarly(HigherTimeframe):
    """A planted off-by-one: each hour shown at its last minute's open instead of its close."""

    def _higher(self, bars: BarSeries) -> tuple[BarSeries, np.ndarray]:
        higher, visible_from = super()._higher(bars)
        return higher, np.maximum(visible_from - 1, 0)


def test_a_higher_time_frame_one_base_bar_early_is_caught(btc: BarSeries) -> None:
    bars = btc.slice(0, 20_000)
    blocks = [Returns(1), RSI()]
    assert check_lookahead(FeatureSet([HigherTimeframe("1h", blocks, base="1m")]), bars).clean
    report = check_lookahead(FeatureSet([OneBarEarly("1h", blocks, base="1m")]), bars)
    assert report.leaking_columns == ["1h_ret_1", "1h_rsi_14"]
    assert all(leak.truncated_at == leak.first_bar + 1 for leak in report.leaks)  # the hour's last minute


def test_signals_are_checked_too(btc: BarSeries) -> None:
    bars = btc.slice(0, 15_000)

    def crossing(bars: BarSeries, ahead: int) -> pd.Series:
        c = closes(bars)
        fast, slow = c.rolling(10).mean(), c.rolling(40).mean()
        signal = (fast > slow) & (fast.shift(1) <= slow.shift(1))
        return signal.shift(-ahead, fill_value=False).rename("entry")  # ahead=1 trades a bar early

    assert check_lookahead(lambda b: crossing(b, 0), bars, rows=50).clean
    report = check_lookahead(lambda b: crossing(b, 1), bars)
    assert report.leaking_columns == ["entry"]
    # a sparse signal is caught by the cuts that end the data on a bar where it fires, not by luck
    only_events = check_lookahead(lambda b: crossing(b, 1), bars, points=2, tail=0)
    assert only_events.leaking_columns == ["entry"]
    leak = only_events.leaks[0]
    assert leak.full_value == 1.0 and leak.truncated_value == 0.0 and leak.truncated_at == leak.first_bar + 1
    assert check_lookahead(lambda b: crossing(b, 1), bars, points=2, tail=0, events=0).clean  # blind without them


def test_bad_check_settings_are_clear_errors(btc: BarSeries) -> None:
    bars = btc.slice(0, 300)
    with pytest.raises(ConfigError, match="starts at 1265 bars but the series has 300"):
        check_lookahead(default_feature_set(higher_timeframes=("1h",), base="1m"), bars)
    with pytest.raises(ConfigError, match="one row per bar"):
        check_lookahead(lambda b: np.zeros(3), bars)
    with pytest.raises(ConfigError, match="points must be"):
        check_lookahead(lambda b: b.close, bars, points=0)
    with pytest.raises(ConfigError, match="failed on the first 50 bars"):
        check_lookahead(FeatureSet([RSI(60)]), bars, start=50)

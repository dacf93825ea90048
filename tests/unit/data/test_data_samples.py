"""The bundled real samples: registry, loaders, facts from /work/shared/data/README.md, instruments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, iso
from tradeforge.core.errors import ConfigError
from tradeforge.data import (
    SampleInfo,
    list_samples,
    load_group,
    load_sample,
    load_sample_frame,
    sample_instrument,
    sample_path,
)

# name: (group, timeframe label, bars, first bar, last bar) as in the shared data README's table
README = {
    "GOOG": ("stocks-1d", "1d", 2148, "2004-08-19T00:00:00Z", "2013-03-01T00:00:00Z"),
    "AAPL": ("stocks-1d", "1d", 754, "2012-01-03T00:00:00Z", "2014-12-31T00:00:00Z"),
    "IBM": ("stocks-1d", "1d", 754, "2012-01-03T00:00:00Z", "2014-12-31T00:00:00Z"),
    "KO": ("stocks-1d", "1d", 754, "2012-01-03T00:00:00Z", "2014-12-31T00:00:00Z"),
    "MSFT": ("stocks-1d", "1d", 754, "2012-01-03T00:00:00Z", "2014-12-31T00:00:00Z"),
    "BTC-PERP": ("crypto-1m", "1m", 45031, "2021-12-31T23:01:00Z", "2022-02-01T05:31:00Z"),
    "ADA-BTC": ("crypto-5m", "5m", 5720, "2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z"),
    "DASH-BTC": ("crypto-5m", "5m", 5758, "2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z"),
    "ETC-BTC": ("crypto-5m", "5m", 5759, "2018-01-10T04:55:00Z", "2018-01-30T04:45:00Z"),
    "ETH-BTC": ("crypto-5m", "5m", 5760, "2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z"),
    "LTC-BTC": ("crypto-5m", "5m", 5760, "2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z"),
    "NXT-BTC": ("crypto-5m", "5m", 5760, "2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z"),
    "TRX-BTC": ("crypto-5m", "5m", 5754, "2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z"),
    "XLM-BTC": ("crypto-5m", "5m", 5760, "2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z"),
    "XMR-BTC": ("crypto-5m", "5m", 5758, "2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z"),
    "ZEC-BTC": ("crypto-5m", "5m", 5757, "2018-01-10T04:55:00Z", "2018-01-30T04:45:00Z"),
    "6EH4": ("futures-1m", "1m", 29996, "2024-01-01T23:01:00Z", "2024-01-31T23:59:00Z"),
    "EURUSD": ("fx-1h", "1h", 5000, "2017-04-19T09:00:00Z", "2018-02-07T15:00:00Z"),
    "BTCUSD": ("crypto-1mo", "1mo", 156, "2012-01-31T00:00:00Z", "2024-12-31T00:00:00Z"),
}
TIMEFRAME_NS = {"1d": NS_PER_DAY, "1m": NS_PER_MINUTE, "5m": 5 * NS_PER_MINUTE, "1h": NS_PER_HOUR}
TIMEFRAME_NS["1mo"] = 30 * NS_PER_DAY
PAIRS = [
    "ADA-BTC",
    "DASH-BTC",
    "ETC-BTC",
    "ETH-BTC",
    "LTC-BTC",
    "NXT-BTC",
    "TRX-BTC",
    "XLM-BTC",
    "XMR-BTC",
    "ZEC-BTC",
]


def test_list_samples_has_all_19_in_registry_order() -> None:
    infos = list_samples()
    assert len(infos) == 19
    assert [i.name for i in infos] == list(README)
    assert all(isinstance(i, SampleInfo) for i in infos)


@pytest.mark.parametrize("name", list(README))
def test_sample_info_matches_readme(name: str) -> None:
    info = {i.name: i for i in list_samples()}[name]
    group, label, bars, first, last = README[name]
    assert (info.group, info.timeframe, info.bars, info.first, info.last) == (group, label, bars, first, last)
    assert info.path == sample_path(name)
    assert info.path.name == f"{name}.csv.gz"
    assert info.path.is_file()
    assert info.description


@pytest.mark.parametrize("name", list(README))
def test_every_sample_loads_with_readme_facts(name: str) -> None:
    _group, label, bars, first, last = README[name]
    series = load_sample(name)
    assert isinstance(series, BarSeries)
    assert series.symbol == name
    assert len(series) == bars
    assert iso(int(series.ts[0])) == first
    assert iso(int(series.ts[-1])) == last
    assert series.timeframe == TIMEFRAME_NS[label]
    assert series.ts.dtype == np.int64 and series.close.dtype == np.float64
    assert np.all(np.diff(series.ts) > 0)


def test_goog_first_and_last_bar_values() -> None:
    goog = load_sample("GOOG")
    assert goog.open[0] == 100.0
    assert goog.high[0] == 104.06
    assert goog.low[0] == 95.96
    assert goog.close[0] == 100.34
    assert goog.volume[0] == 22351900.0
    assert goog.close[1] == 108.31


def test_first_rows_of_other_samples() -> None:
    assert load_sample("BTC-PERP").close[0] == 46377.0
    assert load_sample("ETH-BTC").high[0] == 0.0994766
    assert load_sample("6EH4").open[0] == 1.1076
    assert load_sample("EURUSD").close[0] == 1.07219
    assert load_sample("BTCUSD").close[-1] == 93381.0


def test_names_are_case_insensitive() -> None:
    assert np.array_equal(load_sample("goog").close, load_sample("GOOG").close)
    assert load_sample(" eth-btc ").symbol == "ETH-BTC"
    assert sample_instrument("6eh4").symbol == "6EH4"
    assert sample_path("btc-perp") == sample_path("BTC-PERP")


def test_unknown_sample_error_lists_the_names() -> None:
    with pytest.raises(ConfigError) as err:
        load_sample("DOGE")
    message = str(err.value)
    assert "'DOGE'" in message
    for name in README:
        assert name in message
    for call in (sample_instrument, sample_path, load_sample_frame):
        with pytest.raises(ConfigError, match="available samples: GOOG, AAPL"):
            call("nope")


def test_load_sample_frame_shape_and_index() -> None:
    frame = load_sample_frame("GOOG")
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "timestamp"
    assert str(frame.index.tz) == "UTC"
    assert frame.index.dtype == "datetime64[ns, UTC]"
    assert len(frame) == 2148
    assert frame.index[0] == pd.Timestamp("2004-08-19", tz="UTC")
    assert frame["close"].iloc[0] == 100.34
    assert np.array_equal(frame.index.asi8, load_sample("GOOG").ts)


def test_load_group_crypto_5m_is_the_ten_pairs() -> None:
    pairs = load_group("crypto-5m")
    assert list(pairs) == PAIRS
    assert {name: len(s) for name, s in pairs.items()} == {name: README[name][2] for name in PAIRS}
    assert all(s.timeframe == 5 * NS_PER_MINUTE for s in pairs.values())
    assert list(load_group("STOCKS-1D")) == ["GOOG", "AAPL", "IBM", "KO", "MSFT"]
    assert [i.name for i in list_samples("crypto-5m")] == PAIRS


def test_unknown_group_error_lists_groups() -> None:
    with pytest.raises(ConfigError, match=r"unknown sample group 'crypto-1s'.*crypto-5m.*futures-1m"):
        load_group("crypto-1s")
    with pytest.raises(ConfigError, match="available groups"):
        list_samples("bonds")


def test_instruments() -> None:
    goog = sample_instrument("GOOG")
    assert (goog.symbol, goog.tick_size, goog.lot_size, goog.quote_currency) == ("GOOG", 0.01, 1.0, "USD")
    perp = sample_instrument("BTC-PERP")
    assert (perp.tick_size, perp.lot_size, perp.quote_currency) == (1.0, 0.001, "USD")
    eth = sample_instrument("ETH-BTC")
    assert (eth.tick_size, eth.lot_size, eth.quote_currency) == (1e-8, 0.001, "BTC")
    assert all(sample_instrument(p).quote_currency == "BTC" for p in PAIRS)
    future = sample_instrument("6EH4")
    assert (future.tick_size, future.lot_size, future.multiplier) == (0.00005, 1.0, 125_000.0)
    fx = sample_instrument("EURUSD")
    assert (fx.tick_size, fx.lot_size, fx.quote_currency, fx.multiplier) == (1e-5, 1.0, "USD", 1.0)
    assert all(sample_instrument(name).symbol == name for name in README)


@pytest.mark.parametrize("name", ["GOOG", "ETH-BTC", "ADA-BTC", "6EH4", "EURUSD", "BTCUSD"])
def test_prices_lie_on_the_instrument_tick(name: str) -> None:
    series = load_sample(name)
    tick = sample_instrument(name).tick_size
    prices = np.concatenate([series.open, series.high, series.low, series.close])
    steps = prices / tick
    assert np.max(np.abs(steps - np.round(steps))) < 1e-6


def test_btc_perp_prices_are_whole_dollars_but_for_a_few() -> None:
    # hence tick 1.0 (the venue's), not a finer tick fitted to 41 odd quarter/eighth-dollar prices
    series = load_sample("BTC-PERP")
    prices = np.concatenate([series.open, series.high, series.low, series.close])
    assert np.count_nonzero(prices != np.round(prices)) == 41

"""Data named as 'source:SYMBOL@tf' (bar store), a bundled sample, or a file path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.data import BarStore, StoreRef, load_bars, load_sample, parse_store_ref, resample, write_bars


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("binance:BTC/USDT@1h", StoreRef("binance", "BTC/USDT", "1h")),
        ("yahoo:AAPL@1d", StoreRef("yahoo", "AAPL", "1d")),
        ("gate.io:ETH_USDT", StoreRef("gate.io", "ETH_USDT", None)),
        ("yahoo:^GSPC@1w", StoreRef("yahoo", "^GSPC", "1w")),
        ("GOOG", None),
        ("data/GOOG.csv", None),
        ("C:/bars/GOOG.csv", None),
        ("C:\\bars\\GOOG.csv", None),
    ],
)
def test_parse_store_ref(text: str, expected: StoreRef | None) -> None:
    assert parse_store_ref(text) == expected
    if expected is not None:
        assert str(expected) == text


def test_unknown_timeframe_in_a_name_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="7q"):
        parse_store_ref("binance:BTC/USDT@7q")


@pytest.fixture
def store(tmp_path: Path) -> BarStore:
    s = BarStore(tmp_path / "store")
    btc = load_sample("BTC-PERP")
    s.write("ftx", btc)
    s.write("ftx", resample(btc, "1h").bars)
    s.write("binance", load_sample("ETH-BTC"))
    return s


def test_store_names_read_the_store(store: BarStore) -> None:
    hourly = load_bars("ftx:BTC-PERP@1h", store=store)
    assert hourly.timeframe == 3_600_000_000_000
    assert np.array_equal(hourly.close, resample(load_sample("BTC-PERP"), "1h").bars.close)
    only = load_bars("binance:ETH-BTC", store=store)  # one time frame stored: '@5m' may be left out
    assert np.array_equal(only.ts, load_sample("ETH-BTC").ts)


def test_store_name_with_a_range(store: BarStore) -> None:
    part = load_bars("ftx:BTC-PERP@1m", store=store, start="2022-01-10", end="2022-01-11")
    assert len(part) == 1440
    assert part.ts[0] == np.datetime64("2022-01-10T00:00", "ns").astype(np.int64)


def test_ambiguous_or_missing_store_series(store: BarStore) -> None:
    with pytest.raises(
        ConfigError, match=r"stored in several time frames \(1m, 1h\); name one, e\.g\. ftx:BTC-PERP@1m"
    ):
        load_bars("ftx:BTC-PERP", store=store)
    with pytest.raises(ConfigError, match="nothing stored for kraken:XBT/USD"):
        load_bars("kraken:XBT/USD", store=store)
    with pytest.raises(ConfigError, match="no store was given"):
        load_bars("ftx:BTC-PERP@1m")


def test_samples_and_files(tmp_path: Path) -> None:
    goog = load_sample("GOOG")
    assert np.array_equal(load_bars("goog").close, goog.close)
    path = write_bars(goog, tmp_path / "mine.parquet")
    assert np.array_equal(load_bars(str(path)).close, goog.close)
    cut = load_bars("GOOG", start="2010-01-01", end="2011-01-01")
    assert len(cut) == 252


def test_unknown_name_says_what_names_can_be(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_bars("NOPE")
    message = str(err.value)
    assert "'NOPE' is not a bundled sample" in message
    assert "binance:BTC/USDT@1h" in message
    assert "GOOG" in message
    with pytest.raises(ConfigError, match="does not exist"):
        load_bars(str(tmp_path / "missing.csv"))

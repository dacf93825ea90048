"""read_bars / write_bars / frame_to_series / series_to_frame on well-formed input: values and round trips."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tradeforge.core.bars import COLUMNS, BarSeries
from tradeforge.core.clock import NS_PER_DAY, NS_PER_MINUTE
from tradeforge.core.errors import DataError
from tradeforge.data import (
    default_symbol,
    frame_to_series,
    load_sample,
    read_bars,
    sample_path,
    series_to_frame,
    write_bars,
)

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
FIVE_MIN = 5 * NS_PER_MINUTE


def same(a: BarSeries, b: BarSeries) -> bool:
    """Bit-exact equality of every column (also tells -0.0 from 0.0 and compares NaN payloads)."""
    return all(getattr(a, c).tobytes() == getattr(b, c).tobytes() for c in ("ts", *COLUMNS))


def random_series(n: int = 500, seed: int = 7) -> BarSeries:
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-9, 9, n).astype(np.float64)
    low = rng.random(n) * scale
    high = low + rng.random(n) * scale
    open_ = low + (high - low) * rng.random(n)
    close = low + (high - low) * rng.random(n)
    volume = rng.random(n) * 1e6
    ts = T0 + np.arange(n, dtype=np.int64) * FIVE_MIN + rng.integers(0, 1000, n)  # odd nanoseconds too
    return BarSeries.from_arrays("RND", FIVE_MIN, ts, open_, high, low, close, volume)


def test_reads_the_bundled_gzip_csv_directly() -> None:
    series = read_bars(sample_path("ETH-BTC"))
    assert series.symbol == "ETH-BTC"
    assert series.timeframe == FIVE_MIN
    assert len(series) == 5760
    assert series.open[0] == 0.0984


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".pq"])
def test_round_trip_is_bit_exact(tmp_path: Path, suffix: str) -> None:
    original = random_series()
    path = write_bars(original, tmp_path / f"RND{suffix}")
    back = read_bars(path, timeframe="5m")
    assert same(back, original)
    assert back.symbol == "RND"
    assert back.timeframe == FIVE_MIN


@pytest.mark.parametrize("suffix", [".csv.gz", ".parquet"])
def test_round_trip_of_a_real_sample(tmp_path: Path, suffix: str) -> None:
    original = load_sample("BTC-PERP")
    back = read_bars(write_bars(original, tmp_path / f"perp{suffix}"))
    assert same(back, original)
    assert back.timeframe == NS_PER_MINUTE


def test_parquet_keeps_symbol_and_timeframe(tmp_path: Path) -> None:
    original = load_sample("BTCUSD")
    back = read_bars(write_bars(original, tmp_path / "anything.parquet"))
    assert (back.symbol, back.timeframe) == ("BTCUSD", 30 * NS_PER_DAY)
    assert read_bars(tmp_path / "anything.parquet", symbol="X").symbol == "X"


def test_written_csv_text(tmp_path: Path) -> None:
    series = load_sample("GOOG").slice(0, 2)
    path = write_bars(series, tmp_path / "GOOG.csv")
    assert path.read_text().splitlines() == [
        "timestamp,open,high,low,close,volume",
        "2004-08-19T00:00:00Z,100.0,104.06,95.96,100.34,22351900.0",
        "2004-08-20T00:00:00Z,101.01,109.08,100.5,108.31,11428600.0",
    ]
    gz = write_bars(series, tmp_path / "GOOG.csv.gz")
    assert gzip.decompress(gz.read_bytes()).decode() == path.read_text()


def test_symbol_defaults_to_file_stem(tmp_path: Path) -> None:
    series = load_sample("ETH-BTC").slice(0, 10)
    assert read_bars(write_bars(series, tmp_path / "ETH-BTC.csv.gz")).symbol == "ETH-BTC"
    assert read_bars(write_bars(series, tmp_path / "my.data.csv")).symbol == "my.data"
    assert read_bars(tmp_path / "my.data.csv", symbol="ETHBTC").symbol == "ETHBTC"
    assert default_symbol("a/b/ADA-BTC.PQ") == "ADA-BTC"


def test_case_insensitive_columns_other_time_names_extra_columns_no_volume(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "Date,Open,HIGH,Low,Close,Adj Close\n2012-01-03,1,2,0.5,1.5,9\n2012-01-04,1.5,2.5,1,2,9\n2012-01-06,2,3,1,2,9\n"
    )
    series = read_bars(path, tz="UTC")
    assert series.ts.tolist() == [
        1_325_548_800_000_000_000,
        1_325_548_800_000_000_000 + NS_PER_DAY,
        1_325_548_800_000_000_000 + 3 * NS_PER_DAY,
    ]
    assert series.timeframe == NS_PER_DAY
    assert series.close.tolist() == [1.5, 2.0, 2.0]
    assert series.volume.tolist() == [0.0, 0.0, 0.0]


def test_timestamps_with_and_without_zone(tmp_path: Path) -> None:
    path = tmp_path / "z.csv"
    rows = [
        "2024-01-01T00:00:00Z",
        "2024-01-01 00:05:00",
        "2024-01-01T01:10:00+01:00",
        "2024-01-01T00:15:00.5",
    ]
    path.write_text("time,open,high,low,close\n" + "".join(f"{t},1,1,1,1\n" for t in rows))
    with pytest.raises(DataError, match=r"'2024-01-01 00:05:00' at row 1 \(line 3\) has no time zone; pass tz='UTC'"):
        read_bars(path, timeframe="5m")  # naive times are never guessed
    series = read_bars(path, timeframe="5m", tz="UTC")
    assert series.ts.tolist() == [T0, T0 + FIVE_MIN, T0 + 2 * FIVE_MIN, T0 + 3 * FIVE_MIN + 500_000_000]


@pytest.mark.parametrize(("unit", "scale"), [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)])
def test_epoch_integers_detected_by_magnitude(tmp_path: Path, unit: str, scale: int) -> None:
    stamps = [(T0 + i * FIVE_MIN) // scale for i in range(4)]
    path = tmp_path / f"epoch_{unit}.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "".join(f"{t},1,2,1,2,3\n" for t in stamps))
    series = read_bars(path)
    assert series.ts.tolist() == [T0 + i * FIVE_MIN for i in range(4)]
    assert series.timeframe == FIVE_MIN


def test_parquet_with_datetime_index_and_epoch_column(tmp_path: Path) -> None:
    frame = series_to_frame(load_sample("ETH-BTC"))
    frame.to_parquet(tmp_path / "indexed.parquet")
    from_index = read_bars(tmp_path / "indexed.parquet")
    assert from_index.symbol == "indexed"
    assert same(from_index, load_sample("ETH-BTC"))
    seconds = frame.reset_index()
    seconds["timestamp"] = seconds["timestamp"].astype("int64") // 1_000_000_000
    pq.write_table(pa.Table.from_pandas(seconds, preserve_index=False), tmp_path / "seconds.parquet")
    assert read_bars(tmp_path / "seconds.parquet").ts.tolist() == load_sample("ETH-BTC").ts.tolist()


def test_frame_round_trip_and_time_zones() -> None:
    original = load_sample("6EH4")
    frame = series_to_frame(original)
    assert same(frame_to_series(frame, "6EH4", "1m"), original)
    shifted = frame.tz_convert("America/New_York")
    shifted.columns = [c.upper() for c in shifted.columns]
    back = frame_to_series(shifted, "6EH4")
    assert same(back, original)
    assert back.timeframe == NS_PER_MINUTE
    naive = frame.reset_index()
    naive["timestamp"] = naive["timestamp"].dt.tz_localize(None)
    assert frame_to_series(naive, "6EH4", NS_PER_MINUTE, tz="UTC").ts.tolist() == original.ts.tolist()


def test_time_column_wins_over_a_datetime_index() -> None:
    frame = series_to_frame(load_sample("KO"))
    frame["Date"] = pd.DatetimeIndex(frame.index).tz_convert(None)
    frame.index = frame.index + pd.Timedelta(hours=1)
    assert frame_to_series(frame, "KO", tz="UTC").ts.tolist() == load_sample("KO").ts.tolist()


def test_series_to_frame_copies() -> None:
    series = load_sample("KO")
    frame = series_to_frame(series)
    frame.iloc[0, 0] = -1.0
    assert series.open[0] == 35.075001
    assert isinstance(frame, pd.DataFrame)

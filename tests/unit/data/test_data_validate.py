"""Validation reports, --repair, Feather files and column-name mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import check_file, check_series, frame_to_series, load_sample, read_bars, write_bars

HEADER = "timestamp,open,high,low,close,volume\n"


def row(minute: int, close: float = 1.5) -> str:
    return f"2024-01-01T00:{minute:02d}:00Z,1,2,0.5,{close},10\n"


def test_repair_sorts_and_drops_identical_duplicates_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "messy.csv"
    path.write_text(HEADER + row(0) + row(2) + row(1) + row(2) + row(3) + row(3) + row(4))
    with pytest.raises(DataError):
        read_bars(path)
    series, check = check_file(path, repair=True)
    minutes = ((series.ts - series.ts[0]) // 60_000_000_000).tolist()
    assert minutes == [0, 1, 2, 3, 4]
    assert check.repairs[0] == "sorted the bars by time (2 of 7 rows were out of order)"
    assert check.repairs[1].startswith("dropped 2 duplicate row(s) identical to the bar before them")
    assert "2024-01-01T00:02:00Z" in check.repairs[1]
    assert "line" in check.repairs[1]
    assert path.read_text().count("\n") == 8  # the file itself is not changed


def test_repair_refuses_two_different_bars_at_one_time(tmp_path: Path) -> None:
    path = tmp_path / "conflict.csv"
    path.write_text(HEADER + row(0) + row(1) + row(1, close=1.75))
    with pytest.raises(DataError) as err:
        check_file(path, repair=True)
    message = str(err.value)
    assert "two different bars at 2024-01-01T00:01:00Z" in message
    assert "row 1 (line 3) and row 2 (line 4)" in message
    assert "delete the wrong row" in message


def test_repair_does_not_fix_nan_or_inverted_bars(tmp_path: Path) -> None:
    path = tmp_path / "nan.csv"
    path.write_text(HEADER + row(1) + row(0).replace("1.5", "NaN"))
    with pytest.raises(DataError, match="close is NaN or infinite"):
        check_file(path, repair=True)


def test_clean_file_has_no_repairs_and_reports_gaps(tmp_path: Path) -> None:
    path = tmp_path / "gappy.csv"
    path.write_text(HEADER + row(0) + row(1) + row(5) + row(6) + row(9))
    _, check = check_file(path, repair=True)
    assert check.repairs == []
    assert check.bars == 5
    assert [g.missing_bars for g in check.gaps] == [3, 2]
    assert check.missing_bars == 5
    assert check.largest_gap is not None and check.largest_gap.missing_bars == 3
    text = "\n".join(check.lines())
    assert "gaps: 2 hole(s), 5 bar(s) missing in all" in text
    assert "3 bar(s) missing between 2024-01-01T00:01:00Z and 2024-01-01T00:05:00Z" in text
    assert "never filled" in text


def test_stock_weekends_hidden_with_min_missing() -> None:
    goog = load_sample("GOOG")
    every = check_series(goog)
    long_breaks = check_series(goog, min_missing=3)
    assert len(every.gaps) > 400  # every weekend is a 2-bar hole in daily bars
    assert 0 < len(long_breaks.gaps) < 100
    assert all(g.missing_bars >= 3 for g in long_breaks.gaps)


@pytest.mark.parametrize("suffix", [".feather", ".arrow"])
def test_feather_round_trip_is_bit_identical(tmp_path: Path, suffix: str) -> None:
    eth = load_sample("ETH-BTC")
    path = write_bars(eth, tmp_path / f"ETH-BTC{suffix}")
    back = read_bars(path, timeframe="5m")
    assert back.symbol == "ETH-BTC"
    for col in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(back, col), getattr(eth, col)), col


def test_feather_written_by_pandas_with_a_datetime_index(tmp_path: Path) -> None:
    index = pd.date_range("2024-03-01", periods=4, freq="1h", tz="UTC", name="Date")
    frame = pd.DataFrame(
        {"Open": [1.0, 2, 3, 4], "High": [2.0, 3, 4, 5], "Low": [0.5, 1, 2, 3], "Close": [1.5, 2.5, 3.5, 4.5]},
        index=index,
    )
    path = tmp_path / "x.feather"
    frame.reset_index().to_feather(path)
    series = read_bars(path)
    assert series.close.tolist() == [1.5, 2.5, 3.5, 4.5]
    assert series.volume.tolist() == [0.0] * 4
    assert series.timeframe == 3_600_000_000_000


def test_not_a_feather_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.feather"
    path.write_bytes(b"this is not arrow")
    with pytest.raises(DataError, match="cannot read it as Feather"):
        read_bars(path)


def test_column_mapping_renames_and_wins_over_a_same_named_column(tmp_path: Path) -> None:
    path = tmp_path / "yahoo.csv"
    path.write_text(
        "Day,Open,High,Low,Close,Adj Close,Shares\n"
        "2024-01-02,10,11,9,10.5,10.25,100\n"
        "2024-01-03,10.5,12,10,11,11.5,200\n"
    )
    mapping = {"Day": "timestamp", "Adj Close": "close", "Shares": "volume"}
    series = read_bars(path, tz="America/New_York", columns=mapping)
    assert series.close.tolist() == [10.25, 11.5]  # the mapped column, not 'Close'
    assert series.volume.tolist() == [100.0, 200.0]
    assert series.ts.tolist()[0] == pd.Timestamp("2024-01-02", tz="America/New_York").value


def test_column_mapping_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("When,o,h,l,c\n2024-01-01T00:00:00Z,1,2,0.5,1.5\n2024-01-01T00:01:00Z,1,2,0.5,1.5\n")
    with pytest.raises(ConfigError, match="'Missing', which is not a column \\(found: When, o, h, l, c\\)"):
        read_bars(path, columns={"Missing": "timestamp"})
    with pytest.raises(ConfigError, match="the target must be one of timestamp, open, high, low, close, volume"):
        read_bars(path, columns={"When": "time_stamp"})
    with pytest.raises(ConfigError, match="two columns to 'open'"):
        read_bars(path, columns={"o": "open", "h": "open"})
    good = read_bars(path, columns={"When": "timestamp", "o": "open", "h": "high", "l": "low", "c": "close"})
    assert good.high.tolist() == [2.0, 2.0]


def test_frame_to_series_maps_an_index_name() -> None:
    frame = pd.DataFrame(
        {"o": [1.0, 2.0], "h": [2.0, 3.0], "l": [0.5, 1.0], "c": [1.5, 2.5]},
        index=pd.Index([1_704_067_200, 1_704_067_260], name="epoch"),
    )
    series = frame_to_series(
        frame, "X", columns={"epoch": "timestamp", "o": "open", "h": "high", "l": "low", "c": "close"}
    )
    assert series.ts.tolist() == [1_704_067_200 * 10**9, 1_704_067_260 * 10**9]
    assert series.timeframe == 60 * 10**9

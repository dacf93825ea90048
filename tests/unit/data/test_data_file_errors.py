"""Bad files give DataError/ConfigError messages naming the file, the row (and line) and the timestamp."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import frame_to_series, load_sample, read_bars, write_bars

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"


def csv(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def error_of(path: Path, kind: type[Exception] = DataError) -> str:
    with pytest.raises(kind) as err:
        read_bars(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    return message


def test_unsorted(tmp_path: Path) -> None:
    rows = GOOD + GOOD.replace("00:00:00", "00:10:00") + GOOD.replace("00:00:00", "00:05:00")
    message = error_of(csv(tmp_path, "unsorted.csv", HEADER + rows))
    assert "row 2 (line 4)" in message
    assert "2024-01-01T00:05:00Z" in message
    assert "unsorted" in message
    assert "sort the bars" in message


def test_duplicate(tmp_path: Path) -> None:
    second = GOOD.replace("00:00:00", "00:05:00")
    message = error_of(csv(tmp_path, "dup.csv", HEADER + GOOD + second + second))
    assert re.search(r"row 2 \(line 4\) \(2024-01-01T00:05:00Z\) is duplicate", message), message


@pytest.mark.parametrize("cell", ["", "NaN", "nan", "inf"])
def test_nan_or_empty_price(tmp_path: Path, cell: str) -> None:
    bad = f"2024-01-01T00:05:00Z,1,2,0.5,{cell},10\n"
    message = error_of(csv(tmp_path, "nan.csv", HEADER + GOOD + bad))
    assert "close is NaN or infinite at row 1 (line 3) (2024-01-01T00:05:00Z)" in message


def test_high_below_low(tmp_path: Path) -> None:
    bad = "2024-01-01T00:05:00Z,1,0.4,0.5,0.45,10\n"
    message = error_of(csv(tmp_path, "hl.csv", HEADER + GOOD + bad))
    assert "high 0.4 < low 0.5 at row 1 (line 3) (2024-01-01T00:05:00Z)" in message


def test_close_outside_range_and_negative_volume(tmp_path: Path) -> None:
    outside = "2024-01-01T00:05:00Z,1,2,0.5,2.5,10\n"
    assert "lies outside" in error_of(csv(tmp_path, "out.csv", HEADER + GOOD + outside))
    negative = "2024-01-01T00:05:00Z,1,2,0.5,1,-3\n"
    assert "negative volume -3.0 at row 1 (line 3)" in error_of(csv(tmp_path, "neg.csv", HEADER + GOOD + negative))


def test_missing_column_lists_found_and_needed(tmp_path: Path) -> None:
    message = error_of(csv(tmp_path, "miss.csv", "Date,Open,High,Close\n2024-01-01,1,2,1\n"))
    assert "missing column(s): low" in message
    assert "Found: Date, Open, High, Close" in message
    assert "open, high, low, close" in message
    no_time = error_of(csv(tmp_path, "notime.csv", "when,open,high,low,close\n1,1,1,1,1\n"))
    assert "missing column(s): a time column (timestamp, datetime, date or time)" in no_time


def test_two_time_columns(tmp_path: Path) -> None:
    message = error_of(csv(tmp_path, "two.csv", "date,time,open,high,low,close\n2024-01-01,10:00,1,1,1,1\n"))
    assert "several time columns (date, time)" in message


def test_non_numeric_cell_names_row_column_and_time(tmp_path: Path) -> None:
    bad = "2024-01-01T00:05:00Z,1,2,abc,1.5,10\n"
    message = error_of(csv(tmp_path, "text.csv", HEADER + GOOD + bad))
    assert "column low holds 'abc' at row 1 (line 3) (time 2024-01-01T00:05:00Z)" in message
    assert "not a number" in message


def test_unreadable_timestamp_and_empty_timestamp(tmp_path: Path) -> None:
    message = error_of(csv(tmp_path, "when.csv", HEADER + GOOD + "yesterday,1,2,0.5,1.5,10\n"))
    assert "cannot read timestamp 'yesterday' at row 1 (line 3)" in message
    assert "ISO 8601" in message
    empty = error_of(csv(tmp_path, "blank.csv", HEADER + GOOD + ",1,2,0.5,1.5,10\n"))
    assert "timestamp is empty at row 1 (line 3)" in empty


def test_epoch_ms_duplicate_is_reported_with_its_time(tmp_path: Path) -> None:
    body = "Time,Open,High,Low,Close\n1704067200000,1,2,1,1\n1704067500000,1,2,1,1\n1704067500000,1,2,1,1\n"
    message = error_of(csv(tmp_path, "ms.csv", body))
    assert "row 2 (line 4) (2024-01-01T00:05:00Z) is duplicate" in message


def test_epoch_ms_unsorted(tmp_path: Path) -> None:
    body = "timestamp,open,high,low,close\n1704067500000,1,2,1,1\n1704067200000,1,2,1,1\n"
    message = error_of(csv(tmp_path, "ms_unsorted.csv", body))
    assert "row 1 (line 3) (2024-01-01T00:00:00Z) is unsorted" in message


def test_header_only_and_empty_file(tmp_path: Path) -> None:
    assert "no bars" in error_of(csv(tmp_path, "header.csv", HEADER))
    assert "cannot read it as CSV" in error_of(csv(tmp_path, "empty.csv", ""))


def test_corrupt_gzip_and_parquet(tmp_path: Path) -> None:
    assert "cannot read it as CSV" in error_of(csv(tmp_path, "broken.csv.gz", "not gzip"))
    assert "cannot read it as Parquet" in error_of(csv(tmp_path, "broken.parquet", "not parquet"))


def test_missing_file_and_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.csv does not exist"):
        read_bars(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match=r"unsupported file type; use one of \.csv\.gz, \.csv, \.parquet, \.pq"):
        read_bars(csv(tmp_path, "bars.xlsx", "x"))
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        read_bars(folder)


def test_single_bar_needs_a_timeframe(tmp_path: Path) -> None:
    path = csv(tmp_path, "one.csv", HEADER + GOOD)
    with pytest.raises(ConfigError, match=r"cannot infer the time frame.*pass timeframe="):
        read_bars(path)
    assert len(read_bars(path, timeframe="1h")) == 1


def test_bad_timeframe_argument(tmp_path: Path) -> None:
    path = csv(tmp_path, "tf.csv", HEADER + GOOD)
    with pytest.raises(ConfigError, match="cannot read time frame"):
        read_bars(path, timeframe="5 parsecs")
    with pytest.raises(ConfigError, match="positive"):
        read_bars(path, timeframe=0)


def test_write_into_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; create it first"):
        write_bars(load_sample("KO"), tmp_path / "no" / "KO.csv")
    with pytest.raises(ConfigError, match="unsupported file type"):
        write_bars(load_sample("KO"), tmp_path / "KO.json")


def test_frame_errors_say_dataframe() -> None:
    frame = pd.DataFrame({"timestamp": ["2024-01-01", "2024-01-01"], "open": [1, 1], "high": [1, 1]})
    with pytest.raises(DataError, match=r"^DataFrame: missing column"):
        frame_to_series(frame, "X", "1d", tz="UTC")
    frame["low"] = 1.0
    frame["close"] = pd.Series([1.0, "x"], dtype=object)
    with pytest.raises(DataError, match=r"^DataFrame: column close holds 'x' at row 1 \(time 2024-01-01\)"):
        frame_to_series(frame, "X", "1d", tz="UTC")
    frame["close"] = 1.0
    with pytest.raises(DataError, match=r"^DataFrame: X: timestamp at row 1 \(2024-01-01T00:00:00Z\) is duplicate"):
        frame_to_series(frame, "X", "1d", tz="UTC")

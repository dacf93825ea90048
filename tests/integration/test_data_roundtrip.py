"""Every bundled market-data file (the recorded data set: crypto 1m/5m/1mo, futures 1m, FX 1h, stocks 1d)
imports, validates, stores and reads back bit-identical; 1m resamples to 1h and 5m to 1d exactly as an
independent pandas computation says; bad files fail with their own error and leave the store as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import BarStore, list_samples, read_bars, resample, sample_path
from tradeforge.service import data as service

SAMPLES = [s.name for s in list_samples()]
FIELDS = ("open", "high", "low", "close", "volume")


def pandas_bars(path: Path) -> pd.DataFrame:
    """The file read by pandas alone (correctly rounded floats), indexed by UTC time."""
    frame = pd.read_csv(path, float_precision="round_trip")
    frame.columns = [c.lower() for c in frame.columns]
    index = pd.to_datetime(frame.pop("timestamp"), utc=True, format="ISO8601")
    frame.index = pd.DatetimeIndex(index).as_unit("ns")
    return frame.astype(np.float64)


def pandas_resample(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    agg = frame.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return agg.dropna(subset=["open"])  # periods without any bar are gaps, never filled


def test_the_bundled_set_covers_every_kind_of_recorded_data() -> None:
    groups = {s.group for s in list_samples()}
    assert groups >= {"crypto-1m", "crypto-5m", "crypto-1mo", "futures-1m", "fx-1h", "stocks-1d"}
    assert len(SAMPLES) == 19


@pytest.mark.parametrize("name", SAMPLES)
def test_import_validate_store_read_back_bit_identical(tmp_path: Path, name: str) -> None:
    path = sample_path(name)
    store = BarStore(tmp_path / "store")
    done = service.import_file(store, path, source="recorded")
    assert done.written == done.check.bars > 0
    stored = store.read("recorded", name, done.check.timeframe)
    direct = read_bars(path)
    independent = pandas_bars(path)
    assert stored.symbol == name
    assert np.array_equal(stored.ts, direct.ts)
    assert np.array_equal(stored.ts, independent.index.asi8)
    for col in FIELDS:
        values = getattr(stored, col)
        assert values.dtype == np.float64
        assert np.array_equal(values, getattr(direct, col)), col
        assert np.array_equal(values, independent[col].to_numpy()), col  # bit for bit, not approximately
    again = service.import_file(store, path, source="recorded")  # importing twice adds nothing
    assert again.written == 0
    assert len(store.read("recorded", name, done.check.timeframe)) == len(stored)


MINUTE = [s.name for s in list_samples() if s.timeframe == "1m"]
FIVE = [s.name for s in list_samples() if s.timeframe == "5m"]


@pytest.mark.parametrize(("name", "source_tf", "rule", "target"), [
    *[(n, "1m", "1h", "1h") for n in MINUTE],
    *[(n, "5m", "1D", "1d") for n in FIVE],
])  # fmt: skip
def test_resample_matches_pandas(tmp_path: Path, name: str, source_tf: str, rule: str, target: str) -> None:
    path = sample_path(name)
    expected = pandas_resample(pandas_bars(path), rule)
    got = resample(read_bars(path), target).bars
    assert np.array_equal(got.ts, expected.index.asi8)
    for col in FIELDS:
        np.testing.assert_allclose(getattr(got, col), expected[col].to_numpy(), rtol=1e-12, atol=0, err_msg=col)
    # through the store and the command's use case: the unfinished last period is left out
    store = BarStore(tmp_path / "store")
    service.import_file(store, path, source="recorded")
    out = service.resample_stored(store, f"recorded:{name}@{source_tf}", target)
    stored = store.read("recorded", name, target)
    last_open = expected.index[-1].value
    last_done = (
        last_open + pd.Timedelta(rule).value
        <= read_bars(path).ts[-1] + pd.Timedelta(source_tf.replace("m", "min")).value
    )
    keep = len(expected) if last_done else len(expected) - 1
    assert out.dropped_incomplete is (not last_done)
    assert np.array_equal(stored.ts, expected.index.asi8[:keep])
    assert np.array_equal(stored.close, expected["close"].to_numpy()[:keep])


HEADER = "timestamp,open,high,low,close,volume\n"
ROWS = [f"2022-01-31T10:{m:02d}:00Z,100,101,99,100.5,3\n" for m in range(3)]
NAIVE = HEADER + ROWS[0].replace("Z,", ",")
BAD_FILES = {
    "unsorted": (HEADER + ROWS[0] + ROWS[2] + ROWS[1], DataError, "unsorted"),
    "duplicate": (HEADER + ROWS[0] + ROWS[1] + ROWS[1], DataError, "is duplicate"),
    "nan": (
        HEADER + ROWS[0] + ROWS[1].replace("100.5", "NaN"),
        DataError,
        "close is NaN or infinite at row 1 (line 3)",
    ),
    "high_below_low": (HEADER + ROWS[0] + ROWS[1].replace("101,99", "98,99"), DataError, "high 98.0 < low 99.0"),
    "wrong_columns": ("time,price,qty\n2022-01-31T10:00:00Z,1,2\n", DataError, "missing column(s): open, high"),
    "naive_unknown_zone": (NAIVE, DataError, "cannot place the timestamp values in time zone 'Mars/Olympus'"),
    "header_only": (HEADER, DataError, "no bars"),
    "empty_file": ("", DataError, "cannot read it as CSV"),
}


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_fails_with_its_own_error_and_leaves_the_store_as_it_was(tmp_path: Path, case: str) -> None:
    store = BarStore(tmp_path / "store")
    service.import_file(store, sample_path("BTC-PERP"), source="ftx", symbol="BTC-PERP")
    service.import_file(store, sample_path("BTC-PERP"), source="ftx", symbol="BAD")
    before = snapshot(store.root)
    body, kind, phrase = BAD_FILES[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(body)
    tz = "Mars/Olympus" if case == "naive_unknown_zone" else None
    with pytest.raises(kind) as err:
        service.import_file(store, path, source="ftx", symbol="BAD", timeframe="1m", tz=tz)
    message = str(err.value)
    assert phrase in message, message
    assert message.startswith(str(path)) or str(path) in message, message
    assert snapshot(store.root) == before


def test_each_bad_file_has_a_distinct_message(tmp_path: Path) -> None:
    messages = set()
    for case, (body, _, _) in BAD_FILES.items():
        path = tmp_path / f"{case}.csv"
        path.write_text(body)
        with pytest.raises((DataError, ConfigError)) as err:
            read_bars(path, timeframe="1m", tz="Mars/Olympus" if case == "naive_unknown_zone" else None)
        messages.add(str(err.value).replace(str(path), ""))
    assert len(messages) == len(BAD_FILES)

"""Bars on disk: read and write CSV (optionally gzip), Parquet and Feather files, validated into BarSeries."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from tradeforge.core.bars import COLUMNS, BarSeries
from tradeforge.core.clock import NS_PER_SECOND, format_timeframe
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.frames import Origin, convert_frame
from tradeforge.data.timeframes import MONTH_NS

CSV_SUFFIXES = (".csv.gz", ".csv")
PARQUET_SUFFIXES = (".parquet", ".pq")
FEATHER_SUFFIXES = (".feather", ".arrow")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES + FEATHER_SUFFIXES
_META_SYMBOL = b"tradeforge.symbol"
_META_TIMEFRAME = b"tradeforge.timeframe_ns"
_CSV_READ_ERRORS = (
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    EOFError,
    zlib.error,
    OSError,
)


def read_bars(
    path: str | PathLike[str],
    *,
    symbol: str | None = None,
    timeframe: str | int | None = None,
    tz: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> BarSeries:
    """Read one symbol's bars from a .csv, .csv.gz, .parquet, .pq, .feather or .arrow file into a validated
    BarSeries.

    Columns are matched case-insensitively: a time column (timestamp, datetime, date or time; in Parquet and
    Feather also a DatetimeIndex), open, high, low, close and optionally volume (zeros when absent); others are
    ignored. ``columns`` maps other names to these ({'Date': 'timestamp', 'Adj Close': 'close'}; a mapped
    column wins over one that already reads as the same name).
    Times may be ISO 8601 strings with a zone (2024-01-31T23:59:00Z, +01:00), naive ones only with ``tz`` (the
    zone they were recorded in, e.g. 'UTC' or 'America/New_York'; without it they are an error), or epoch integers
    whose unit is told by magnitude: seconds (< 1e11), milliseconds (< 1e14), microseconds (< 1e17), else
    nanoseconds. ``symbol`` defaults to the file name without its suffix ('ETH-BTC.csv.gz' -> 'ETH-BTC');
    ``timeframe`` ('5m', '1d', '1mo' or ns) defaults to what a file written by ``write_bars`` recorded, else
    to the most common step between consecutive timestamps (see ``infer_timeframe``).

    Raises ConfigError for a missing file or an unsupported suffix and DataError, starting with the path, for
    content that cannot be read or does not validate (rows are counted from 0; CSV messages give the line).
    To sort and drop duplicate rows instead of failing, use ``tradeforge.data.check_file(path, repair=True)``.
    """
    return load_file(path, symbol=symbol, timeframe=timeframe, tz=tz, columns=columns)


def load_file(
    path: str | PathLike[str],
    *,
    symbol: str | None = None,
    timeframe: str | int | None = None,
    tz: str | None = None,
    columns: Mapping[str, str] | None = None,
    repairs: list[str] | None = None,
) -> BarSeries:
    """read_bars, and with a ``repairs`` list: sort rows and drop identical duplicates, noting what changed."""
    file = Path(path)
    kind = _kind(file)
    if not file.is_file():
        where = "is a directory, not a file" if file.is_dir() else "does not exist"
        raise ConfigError(f"bar file {file} {where} (looked in {file.resolve().parent}); check the path")
    if kind == "csv":
        frame = _read_csv(file)
        origin = Origin(str(file), first_line=2)
        stored_symbol, stored_tf = None, None
    elif kind == "feather":
        frame = _read_feather(file)
        origin = Origin(str(file))
        stored_symbol, stored_tf = None, None
    else:
        frame, stored_symbol, stored_tf = _read_parquet(file)
        origin = Origin(str(file))
    name = symbol if symbol is not None else stored_symbol or default_symbol(file)
    if not name:
        raise ConfigError(f"{file}: the symbol is empty; pass symbol='...'")
    tf = timeframe if timeframe is not None else stored_tf
    return convert_frame(frame, name, tf, origin, tz=tz, columns=columns, repairs=repairs)


def write_bars(series: BarSeries, path: str | PathLike[str]) -> Path:
    """Write bars to .csv, .csv.gz (gzip), .parquet or .pq; read_bars gives back the same floats bit for bit.

    CSV: header timestamp,open,high,low,close,volume with ISO 8601 UTC times ending in Z. Parquet: a UTC
    nanosecond timestamp column plus float64 columns, and the symbol and time frame in the file metadata.
    Feather (.feather, .arrow): the same columns as Parquet.
    Returns the path written. The folder must exist.
    """
    file = Path(path)
    kind = _kind(file)
    if not file.parent.is_dir():
        raise ConfigError(f"cannot write {file}: folder {file.parent} does not exist; create it first")
    if kind == "csv":
        _write_csv(series, file)
    elif kind == "feather":
        feather.write_feather(_arrow_table(series), file)
    else:
        _write_parquet(series, file)
    return file


def default_symbol(path: str | PathLike[str]) -> str:
    """The file name without its bar-file suffix: 'data/ETH-BTC.csv.gz' -> 'ETH-BTC'."""
    name = Path(path).name
    for suffix in SUPPORTED_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def _kind(file: Path) -> str:
    name = file.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(FEATHER_SUFFIXES):
        return "feather"
    raise ConfigError(
        f"cannot read bars from {file}: unsupported file type; use one of {', '.join(SUPPORTED_SUFFIXES)}"
    )


def _read_csv(file: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(file, dtype=str, skipinitialspace=True)
    except _CSV_READ_ERRORS as exc:
        raise DataError(
            f"{file}: cannot read it as CSV ({type(exc).__name__}: {exc}); expected a comma-separated "
            "text file (gzip-compressed if it ends in .gz) with a header row"
        ) from exc


def _read_parquet(file: Path) -> tuple[pd.DataFrame, str | None, int | None]:
    try:
        table = pq.read_table(file)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"{file}: cannot read it as Parquet ({type(exc).__name__}: {exc}); is it really a Parquet file?"
        ) from exc
    meta = table.schema.metadata or {}
    symbol = meta[_META_SYMBOL].decode() if _META_SYMBOL in meta else None
    timeframe = int(meta[_META_TIMEFRAME].decode()) if _META_TIMEFRAME in meta else None
    return table.to_pandas(), symbol, timeframe


def _read_feather(file: Path) -> pd.DataFrame:
    try:
        frame: pd.DataFrame = feather.read_table(file).to_pandas()
        return frame
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"{file}: cannot read it as Feather/Arrow IPC ({type(exc).__name__}: {exc}); is it really a Feather file?"
        ) from exc


def _iso_times(ts: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    stamps: npt.NDArray[np.datetime64] = ts.astype("datetime64[ns]")
    if np.any(ts % NS_PER_SECOND):
        return np.datetime_as_string(stamps, unit="ns", timezone="UTC")
    return np.datetime_as_string(stamps, unit="s", timezone="UTC")


def _write_csv(series: BarSeries, file: Path) -> None:
    data: dict[str, object] = {"timestamp": _iso_times(series.ts)}
    for col in COLUMNS:
        # repr() is the shortest text that parses back to the same float64
        data[col] = [repr(float(v)) for v in getattr(series, col)]
    pd.DataFrame(data).to_csv(file, index=False, lineterminator="\n")


def _arrow_table(series: BarSeries) -> pa.Table:
    arrays = {"timestamp": pa.array(series.ts, type=pa.int64()).cast(pa.timestamp("ns", tz="UTC"))}
    for col in COLUMNS:
        arrays[col] = pa.array(np.asarray(getattr(series, col), dtype=np.float64), type=pa.float64())
    return pa.table(arrays)


def _write_parquet(series: BarSeries, file: Path) -> None:
    label = "1mo" if series.timeframe == MONTH_NS else format_timeframe(series.timeframe)
    metadata = {
        _META_SYMBOL: series.symbol.encode(),
        _META_TIMEFRAME: str(series.timeframe).encode(),
        b"tradeforge.timeframe": label.encode(),
    }
    pq.write_table(_arrow_table(series).replace_schema_metadata(metadata), file)

"""pandas <-> BarSeries: find the columns, turn times into int64 ns UTC and cells into float64, validate."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.bars import COLUMNS, BarSeries
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.timeframes import infer_timeframe, timeframe_ns

TIME_COLUMNS = ("timestamp", "datetime", "date", "time")
PRICE_COLUMNS = ("open", "high", "low", "close")
TARGET_COLUMNS = ("timestamp", *PRICE_COLUMNS, "volume")
_SECONDS_BELOW = 1e11  # epoch magnitudes: seconds < 1e11 (year 5138) <= ms < 1e14 <= us < 1e17 <= ns
_MS_BELOW = 1e14
_US_BELOW = 1e17
_ROW = re.compile(r"\brow (\d+)\b")
_INT64_MAX = int(np.iinfo(np.int64).max)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the bars come from, for messages: a file path or 'DataFrame'; first_line maps rows to lines."""

    source: str
    first_line: int | None = None

    def row(self, i: int) -> str:
        return f"row {i} (line {i + self.first_line})" if self.first_line is not None else f"row {i}"

    def with_lines(self, message: str) -> str:
        """'... at row 5 (...)' -> '... at row 5 (line 7) (...)' when rows map to file lines."""
        if self.first_line is None:
            return message
        return _ROW.sub(lambda match: self.row(int(match.group(1))), message)


def frame_to_series(
    df: pd.DataFrame,
    symbol: str,
    timeframe: str | int | None = None,
    *,
    tz: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> BarSeries:
    """A DataFrame of bars -> a validated BarSeries.

    The time is a DatetimeIndex or a column named timestamp, datetime, date or time; open, high, low and close
    are required, volume is optional (zeros); names are matched case-insensitively and other columns are
    ignored. Times may be datetimes, ISO 8601 strings or epoch integers (see ``read_bars``); times without a
    zone need ``tz`` (e.g. 'UTC', 'America/New_York'): they are an error otherwise, never a guess.
    ``timeframe`` ('5m', '1d', '1mo' or ns) is inferred from the timestamps when None. ``columns`` maps the
    frame's own names to tradeforge's ({'Date': 'timestamp', 'Adj Close': 'close'}); see ``read_bars``.
    """
    return convert_frame(df, symbol, timeframe, Origin("DataFrame"), tz=tz, columns=columns)


def series_to_frame(series: BarSeries) -> pd.DataFrame:
    """BarSeries -> DataFrame with a tz-aware UTC DatetimeIndex named 'timestamp' and float64 columns
    open, high, low, close, volume (copies of the arrays)."""
    index = pd.DatetimeIndex(np.array(series.ts, dtype="datetime64[ns]"), name="timestamp").tz_localize("UTC")
    data = {col: np.array(getattr(series, col), dtype=np.float64) for col in COLUMNS}
    return pd.DataFrame(data, index=index)


def convert_frame(
    df: pd.DataFrame,
    symbol: str,
    timeframe: str | int | None,
    origin: Origin,
    *,
    tz: str | None = None,
    columns: Mapping[str, str] | None = None,
    repairs: list[str] | None = None,
) -> BarSeries:
    """The shared conversion behind frame_to_series and read_bars; messages start with origin.source.

    With ``repairs`` (a list), rows out of time order are sorted and rows identical to the bar before them at
    the same time are dropped, and what was changed is appended to the list as sentences. Two different bars
    at one time are never repaired (nobody can tell which is right): that stays an error.
    """
    frame = _time_index_as_column(_rename(df, columns, origin) if columns else df)
    names = _column_map(frame, origin)
    time_name = _time_column(names, origin)
    raw_time = frame[names[time_name]]
    ts = _to_ns(raw_time, time_name, origin, tz)
    prices = {col: _to_float(frame[names[col]], col, raw_time, origin) for col in PRICE_COLUMNS}
    volume = _to_float(frame[names["volume"]], "volume", raw_time, origin) if "volume" in names else None
    if repairs is not None:
        ts, prices, volume = _repair(ts, prices, volume, origin, repairs)
    tf_ns = timeframe_ns(timeframe) if timeframe is not None else 1
    try:
        series = BarSeries.from_arrays(
            symbol, tf_ns, ts, prices["open"], prices["high"], prices["low"], prices["close"], volume
        )
    except DataError as exc:
        raise DataError(f"{origin.source}: {origin.with_lines(str(exc))}") from exc
    if timeframe is None:
        series = replace(series, timeframe=timeframe_ns(infer_timeframe(series.ts, source=origin.source)))
    return series


def _rename(df: pd.DataFrame, columns: Mapping[str, str], origin: Origin) -> pd.DataFrame:
    """Apply a user's {their name: ours} mapping; a mapped column wins over another that reads the same."""
    found = {str(c): c for c in df.columns}
    index_name = str(df.index.name) if df.index.name is not None else None
    targets: dict[str, str] = {}
    for theirs, ours in columns.items():
        key = str(ours).strip().lower()
        if key not in TARGET_COLUMNS:
            raise ConfigError(
                f"{origin.source}: column mapping {theirs!r} -> {ours!r}: the target must be one of "
                f"{', '.join(TARGET_COLUMNS)}"
            )
        if str(theirs) not in found and str(theirs) != index_name:
            have = ", ".join(found) or "no columns"
            raise ConfigError(
                f"{origin.source}: column mapping names {theirs!r}, which is not a column (found: {have}); "
                "names in the mapping are case-sensitive"
            )
        if key in targets.values():
            raise ConfigError(f"{origin.source}: column mapping sends two columns to {key!r}; map only one")
        targets[str(theirs)] = key
    if index_name is not None and index_name in targets:
        df = df.reset_index()
        found = {str(c): c for c in df.columns}
    mapped = set(targets.values())
    shadowed = [c for name, c in found.items() if name not in targets and name.strip().lower() in mapped]
    out = df.drop(columns=shadowed).rename(columns={found[k]: v for k, v in targets.items()})
    return out


def _repair(
    ts: npt.NDArray[np.int64],
    prices: dict[str, npt.NDArray[np.float64]],
    volume: npt.NDArray[np.float64] | None,
    origin: Origin,
    repairs: list[str],
) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]], npt.NDArray[np.float64] | None]:
    n = ts.size
    order = np.argsort(ts, kind="stable")
    moved = int(np.count_nonzero(order != np.arange(n)))
    if moved:
        ts = ts[order]
        prices = {k: v[order] for k, v in prices.items()}
        volume = volume[order] if volume is not None else None
        repairs.append(f"sorted the bars by time ({moved} of {n} rows were out of order)")
    later = np.flatnonzero(np.diff(ts) == 0) + 1
    if later.size == 0:
        return ts, prices, volume
    values = [*prices.values()] + ([volume] if volume is not None else [])
    stack = np.column_stack(values)
    same = (stack[later] == stack[later - 1]) | (np.isnan(stack[later]) & np.isnan(stack[later - 1]))
    differ = np.flatnonzero(~same.all(axis=1))
    if differ.size:
        j = int(later[differ[0]])
        first, second = int(order[j - 1]), int(order[j])
        raise DataError(
            f"{origin.source}: two different bars at {iso(int(ts[j]))} ({origin.row(first)} and "
            f"{origin.row(second)}); repair only drops identical duplicates because it cannot tell which bar is "
            "right: delete the wrong row yourself"
        )
    keep = np.ones(n, dtype=bool)
    keep[later] = False
    repairs.append(
        f"dropped {later.size} duplicate row(s) identical to the bar before them (the first at "
        f"{iso(int(ts[later[0]]))}, {origin.row(int(order[later[0]]))})"
    )
    return ts[keep], {k: v[keep] for k, v in prices.items()}, volume[keep] if volume is not None else None


def _time_index_as_column(df: pd.DataFrame) -> pd.DataFrame:
    """Move a DatetimeIndex (or an index named like a time column) into a column, unless one exists."""
    index = df.index
    if any(str(col).strip().lower() in TIME_COLUMNS for col in df.columns):
        return df
    named_time = isinstance(index.name, str) and index.name.strip().lower() in TIME_COLUMNS
    if isinstance(index, pd.DatetimeIndex) or named_time:
        return df.reset_index(names=index.name if named_time else "timestamp")
    return df


def _column_map(frame: pd.DataFrame, origin: Origin) -> dict[str, object]:
    names: dict[str, object] = {}
    for original in frame.columns:
        key = str(original).strip().lower()
        if key in names:
            raise DataError(
                f"{origin.source}: columns {names[key]!r} and {original!r} both read as {key!r}; keep only one of them"
            )
        names[key] = original
    return names


def _time_column(names: dict[str, object], origin: Origin) -> str:
    found_times = [name for name in TIME_COLUMNS if name in names]
    missing = [col for col in PRICE_COLUMNS if col not in names]
    if not found_times or missing:
        what = ([] if found_times else ["a time column (timestamp, datetime, date or time)"]) + missing
        found = ", ".join(str(c) for c in names.values()) or "no columns"
        raise DataError(
            f"{origin.source}: missing column(s): {', '.join(what)}. Found: {found}. Needed: a time "
            "column (timestamp/date/datetime/time, or a DatetimeIndex) and open, high, low, close (volume "
            "optional); names are case-insensitive, rename the columns to match"
        )
    if len(found_times) > 1:
        raise DataError(
            f"{origin.source}: several time columns ({', '.join(found_times)}); keep one, or combine "
            "date and time into a single 'timestamp' column"
        )
    return found_times[0]


def _first_missing(values: pd.Series, name: str, origin: Origin) -> None:
    missing = np.flatnonzero(values.isna().to_numpy())
    if missing.size:
        raise DataError(
            f"{origin.source}: {name} is empty at {origin.row(int(missing[0]))}; every bar needs a time, "
            "fill it in or drop the row"
        )


def _to_ns(values: pd.Series, name: str, origin: Origin, tz: str | None = None) -> npt.NDArray[np.int64]:
    """Times -> int64 ns UTC: datetimes and ISO strings (naive ones in zone tz, an error without it), epoch
    numbers (UTC by definition; unit by magnitude)."""
    _first_missing(values, name, origin)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        return _datetimes_to_ns(pd.DatetimeIndex(values), name, origin, tz)
    if pd.api.types.is_bool_dtype(values.dtype):
        raise DataError(f"{origin.source}: {name} holds true/false values; it must hold times")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _epoch_to_ns(values.to_numpy(), name, origin)
    numbers = pd.to_numeric(values, errors="coerce")
    if not numbers.isna().any():
        return _epoch_to_ns(numbers.to_numpy(), name, origin)
    text = values.astype(str).str.strip()
    readable = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(readable.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{origin.source}: cannot read {name} {values.iloc[i]!r} at {origin.row(i)}; write ISO 8601 "
            "(2024-01-31T23:59:00Z) or epoch seconds/milliseconds/nanoseconds, the same way in every row"
        )
    zoned = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).to_numpy()
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if zoned.any():
        parsed[zoned] = pd.to_datetime(text[zoned], utc=True, format="ISO8601", errors="coerce")
    if not zoned.all():
        first = int(np.flatnonzero(~zoned)[0])
        if tz is None:
            raise DataError(
                f"{origin.source}: {name} {values.iloc[first]!r} at {origin.row(first)} has no time zone; pass "
                "tz='UTC' if the times are UTC, or the zone they were recorded in (e.g. tz='America/New_York'): "
                "naive times are never guessed"
            )
        local = pd.to_datetime(text[~zoned], format="ISO8601", errors="coerce")
        try:
            placed = pd.DatetimeIndex(local).tz_localize(tz, ambiguous="raise", nonexistent="raise")
        except (ValueError, TypeError, KeyError) as exc:
            raise DataError(f"{origin.source}: cannot place the {name} values in time zone {tz!r}: {exc}") from exc
        parsed[~zoned] = placed.tz_convert("UTC")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{origin.source}: cannot read {name} {values.iloc[i]!r} at {origin.row(i)}; write ISO 8601 "
            "(2024-01-31T23:59:00Z) or epoch seconds/milliseconds/nanoseconds, the same way in every row"
        )
    return _datetimes_to_ns(pd.DatetimeIndex(parsed), name, origin, tz)


def _datetimes_to_ns(
    index: pd.DatetimeIndex, name: str, origin: Origin, tz: str | None = None
) -> npt.NDArray[np.int64]:
    if index.tz is None:
        if tz is None:
            raise DataError(
                f"{origin.source}: the {name} values have no time zone (first: {index[0]}); pass tz='UTC' if they "
                "are UTC, or the zone they were recorded in (e.g. tz='America/New_York'): naive times are never "
                "guessed"
            )
        try:
            index = index.tz_localize(tz, ambiguous="raise", nonexistent="raise")
        except (ValueError, TypeError, KeyError) as exc:  # unknown zone, or a time that does not exist / repeats
            raise DataError(f"{origin.source}: cannot place the {name} values in time zone {tz!r}: {exc}") from exc
    utc = index.tz_convert("UTC")
    try:
        return np.asarray(utc.as_unit("ns").asi8, dtype=np.int64)
    except pd.errors.OutOfBoundsDatetime as exc:
        raise DataError(f"{origin.source}: {name} values must lie between the years 1678 and 2261 ({exc})") from exc


def _epoch_to_ns(numbers: npt.NDArray[np.generic], name: str, origin: Origin) -> npt.NDArray[np.int64]:
    values = np.asarray(numbers)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    as_float = values.astype(np.float64)
    nonfinite = np.flatnonzero(~np.isfinite(as_float))
    if nonfinite.size:
        raise DataError(f"{origin.source}: {name} is not a finite number at {origin.row(int(nonfinite[0]))}")
    biggest = float(np.abs(as_float).max())
    if biggest < _SECONDS_BELOW:
        unit = 1_000_000_000
    elif biggest < _MS_BELOW:
        unit = 1_000_000
    elif biggest < _US_BELOW:
        unit = 1_000
    else:
        unit = 1
    if biggest * unit >= _INT64_MAX:
        raise DataError(
            f"{origin.source}: {name} epoch value {biggest:.0f} is past the year 2261; "
            "use epoch seconds, milliseconds or nanoseconds"
        )
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64) * np.int64(unit)
    if np.all(as_float == np.floor(as_float)):
        return as_float.astype(np.int64) * np.int64(unit)
    # fractional epochs keep float precision only (about a microsecond for epoch seconds)
    return np.round(as_float * unit).astype(np.int64)


def _to_float(values: pd.Series, name: str, times: pd.Series, origin: Origin) -> npt.NDArray[np.float64]:
    """Cells -> float64 with Python's correctly rounded parsing; empty cells become NaN (validate reports
    them); the first cell that is not a number raises DataError naming row, time and column."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    cells = values.to_numpy(dtype=object, na_value=np.nan)
    try:
        return np.asarray(cells, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        for i, cell in enumerate(cells):
            try:
                float(cell)
            except (ValueError, TypeError):
                raise DataError(
                    f"{origin.source}: column {name} holds {cell!r} at {origin.row(i)} "
                    f"(time {times.iloc[i]}), which is not a number; fix or remove that cell"
                ) from exc
        raise DataError(f"{origin.source}: column {name} cannot be read as numbers: {exc}") from exc

"""Look-ahead check: recompute features (or signals) on history cut short at many points and compare.

A value at bar t that uses only bars up to t comes out the same whether the data ends at t or goes on for years.
One that peeks ahead (a shift(-1), a centred window, a label leaking into a feature, a resample that shows a
period before it closed) changes when the future is cut off. `check_lookahead` runs the computation on the first
m bars for about 20 values of m spread over the history plus the last few, compares the last rows of each run
with the full run's rows at the same bars, and reports every column that differs: where it first differs and by
how much.

    report = check_lookahead(feature_set, bars)
    assert report.clean, report.summary()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError, DataError, LookAheadError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Leak:
    """One column that changed when later bars were removed. first_bar: the earliest bar (index in the full
    series) where it differed; truncated_at: how many bars the run that showed it had; values there in the full
    and the truncated run; difference: |full - truncated| there (inf when only one is NaN); max_difference over
    every compared row; mismatches: how many compared values differed."""

    column: str
    first_bar: int
    first_time: str
    truncated_at: int
    full_value: float
    truncated_value: float
    difference: float
    max_difference: float
    mismatches: int

    def describe(self) -> str:
        return (
            f"{self.column}: differs from bar {self.first_bar} ({self.first_time}) when the data ends at bar "
            f"{self.truncated_at - 1}: {self.full_value!r} with the full history, {self.truncated_value!r} "
            f"without the later bars (|diff| {self.difference:.3g}, max {self.max_difference:.3g}, "
            f"{self.mismatches} values differ)"
        )


@dataclass(frozen=True)
class LookaheadReport:
    """The result of check_lookahead: clean, or the leaking columns (in column order)."""

    clean: bool
    leaks: tuple[Leak, ...]
    columns: tuple[str, ...]
    points: tuple[int, ...]
    rows: int

    @property
    def leaking_columns(self) -> list[str]:
        return [leak.column for leak in self.leaks]

    def summary(self) -> str:
        head = (
            f"{len(self.columns)} columns recomputed on {len(self.points)} truncated histories "
            f"({self.points[0]}..{self.points[-1]} bars), last {self.rows} rows of each compared: "
        )
        if self.clean:
            return head + "no look-ahead found"
        lines = [head + f"{len(self.leaks)} column(s) use later bars"]
        lines += ["  " + leak.describe() for leak in self.leaks]
        return "\n".join(lines)

    def raise_if_leaking(self) -> None:
        """Raise LookAheadError (with the summary) unless the report is clean."""
        if not self.clean:
            raise LookAheadError(self.summary())


Computation = Callable[[BarSeries], Any]


def check_lookahead(
    compute: Any,
    series: BarSeries,
    *,
    points: int = 20,
    tail: int = 3,
    events: int = 10,
    rows: int = 5,
    start: int | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> LookaheadReport:
    """Recompute `compute` on series[:m] for `points` values of m spread from `start` to the end, the last `tail`
    bars cut one by one, and up to `events` cuts per sparse column (one that changes on fewer than half of the bars,
    such as a signal) that end the data on a bar where that column changes, so a signal firing a bar early is caught
    on the bar it fires. Each run's last `rows` rows are compared with the full run's values at the same bars
    (equal when both are NaN, or within rtol/atol).

    compute: a FeatureSet (anything with .compute(series)) or a function series -> DataFrame, Series or array
    (features or signals; booleans count as 0/1). Rows are matched by timestamp when the result has a
    DatetimeIndex, else by position (row i = bar i). start defaults to the feature set's warm-up + rows, or a
    tenth of the history for a plain function."""
    fn: Computation = compute.compute if hasattr(compute, "compute") else compute
    if not callable(fn):
        raise ConfigError("compute must be a FeatureSet or a function taking bars and returning features/signals")
    n = len(series)
    for name, value, low in (("points", points, 1), ("tail", tail, 0), ("events", events, 0), ("rows", rows, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
    if start is None:
        warmup = getattr(compute, "warmup", None)
        start = int(warmup) + rows + 1 if isinstance(warmup, int) else max(rows + 1, n // 10)
    if not 1 <= start < n:
        raise ConfigError(f"the check starts at {start} bars but the series has {n}: give a longer series or start=")
    full_values, columns, full_pos = _table(fn(series), series, "the full history")
    full_row = np.full(n, -1, dtype=np.int64)
    full_row[full_pos] = np.arange(full_pos.shape[0])
    cuts = np.unique(
        np.r_[
            np.linspace(start, n - 1, points).round().astype(np.int64),
            n - np.arange(1, tail + 1),
            _event_cuts(full_values, full_pos, start, events),
        ]
    ).astype(np.int64)
    cuts = cuts[(cuts >= start) & (cuts < n)]
    first: dict[str, tuple[int, int, float, float, float]] = {}  # column -> (bar, cut, full, truncated, diff)
    worst = dict.fromkeys(columns, 0.0)
    count = dict.fromkeys(columns, 0)
    for m in cuts.tolist():
        try:
            result = fn(series.slice(0, m))
        except (ConfigError, DataError) as exc:
            raise ConfigError(f"the computation failed on the first {m} bars ({exc}); pass a later start=") from exc
        values, cols, pos = _table(result, series.slice(0, m), f"the first {m} bars")
        if cols != columns:
            raise ConfigError(f"the computation returned columns {cols} on the first {m} bars but {columns} in full")
        last = pos >= m - rows
        pos, values = pos[last], values[last]
        have = full_row[pos] >= 0
        full = np.full(values.shape, np.nan)
        full[have] = full_values[full_row[pos[have]]]
        both_nan = np.isnan(full) & np.isnan(values)
        with np.errstate(invalid="ignore"):
            close = np.isclose(full, values, rtol=rtol, atol=atol)
            diff = np.where(np.isnan(full) ^ np.isnan(values), np.inf, np.abs(full - values))
        differs = ~(both_nan | close)
        missing = ~have
        differs[missing] = True  # a row the full run does not have at all
        diff[missing] = np.inf
        for j in np.flatnonzero(differs.any(axis=0)).tolist():
            col = columns[j]
            rows_j = np.flatnonzero(differs[:, j])
            count[col] += int(rows_j.size)
            worst[col] = max(worst[col], float(np.nanmax(diff[rows_j, j])))
            r = int(rows_j[0])
            bar = int(pos[r])
            if col not in first or bar < first[col][0]:
                first[col] = (bar, m, float(full[r, j]), float(values[r, j]), float(diff[r, j]))
    leaks = tuple(
        Leak(col, bar, iso(int(series.ts[bar])), cut, fv, tv, d, worst[col], count[col])
        for col in columns
        if col in first
        for bar, cut, fv, tv, d in [first[col]]
    )
    return LookaheadReport(not leaks, leaks, tuple(columns), tuple(cuts.tolist()), rows)


def _event_cuts(values: FloatArray, pos: IntArray, start: int, events: int) -> IntArray:
    """Per column that changes on fewer than half of the bars (signals, higher-time-frame values), up to `events`
    cuts (bar counts) that end the data on a bar where its value changes; columns that change on most bars are
    covered by the evenly spread cuts already."""
    if events == 0 or values.shape[0] < 2:
        return np.empty(0, dtype=np.int64)
    prev, cur = values[:-1], values[1:]
    changed = ~((prev == cur) | (np.isnan(prev) & np.isnan(cur)))
    cuts = []
    for j in range(values.shape[1]):
        if changed[:, j].sum() >= changed.shape[0] / 2:
            continue
        bars = pos[1:][changed[:, j]]
        bars = bars[bars + 1 >= start]
        if bars.size:
            picks = np.unique(np.linspace(0, bars.size - 1, min(events, bars.size)).round().astype(np.int64))
            cuts.append(bars[picks] + 1)
    return np.concatenate(cuts) if cuts else np.empty(0, dtype=np.int64)


def _table(result: Any, bars: BarSeries, what: str) -> tuple[FloatArray, list[str], IntArray]:
    """A computation's result as (values 2-D float, column names, bar position of each row)."""
    if isinstance(result, pd.Series):
        result = result.to_frame(name=str(result.name) if result.name is not None else "value")
    if isinstance(result, pd.DataFrame):
        values = result.to_numpy(dtype=np.float64, na_value=np.nan)
        columns = [str(c) for c in result.columns]
        if isinstance(result.index, pd.DatetimeIndex):
            index = result.index if result.index.tz is not None else result.index.tz_localize("UTC")
            stamps = index.tz_convert("UTC").as_unit("ns").asi8
            pos = np.searchsorted(bars.ts, stamps)
            if np.any(pos >= len(bars)) or not np.array_equal(bars.ts[np.minimum(pos, len(bars) - 1)], stamps):
                raise ConfigError(f"the result on {what} has rows at times that are not bar open times")
            return values, columns, pos.astype(np.int64)
        if len(result) != len(bars):
            raise ConfigError(
                f"the result on {what} has {len(result)} rows for {len(bars)} bars and no DatetimeIndex: return "
                "one row per bar or index the rows by bar time"
            )
        return values, columns, np.arange(len(bars), dtype=np.int64)
    arr = np.asarray(result)
    if arr.ndim not in (1, 2) or arr.shape[0] != len(bars):
        raise ConfigError(
            f"the result on {what} has shape {arr.shape}: return a DataFrame, a Series or an array with one row "
            f"per bar ({len(bars)})"
        )
    values = arr.astype(np.float64).reshape(arr.shape[0], -1)
    columns = ["value"] if arr.ndim == 1 else [f"col_{j}" for j in range(values.shape[1])]
    return values, columns, np.arange(len(bars), dtype=np.int64)

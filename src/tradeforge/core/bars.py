"""BarSeries: the columns of one symbol's bars as numpy arrays, validated once at the edge of the core."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradeforge.core.clock import iso
from tradeforge.core.errors import DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    """Bars of one symbol at one time frame. ts: bar open times, int64 ns UTC, strictly increasing."""

    symbol: str
    timeframe: int
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def from_arrays(
        cls,
        symbol: str,
        timeframe: int,
        ts: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike | None = None,
        *,
        validate: bool = True,
    ) -> BarSeries:
        ts_arr = np.ascontiguousarray(ts, dtype=np.int64)
        cols = [np.ascontiguousarray(c, dtype=np.float64) for c in (open, high, low, close)]
        vol = (
            np.zeros(ts_arr.shape[0], dtype=np.float64)
            if volume is None
            else np.ascontiguousarray(volume, dtype=np.float64)
        )
        series = cls(symbol, int(timeframe), ts_arr, cols[0], cols[1], cols[2], cols[3], vol)
        if validate:
            series.validate()
        return series

    def validate(self) -> None:
        """Raise DataError naming the first bad row: lengths, order, duplicates, NaN, high < low, o/c outside."""
        n = len(self)
        name = self.symbol
        if self.timeframe <= 0:
            raise DataError(f"{name}: the time frame must be positive, got {self.timeframe} ns")
        for col in COLUMNS:
            if getattr(self, col).shape != (n,):
                raise DataError(f"{name}: column {col} has {getattr(self, col).shape} values for {n} timestamps")
        if n == 0:
            raise DataError(f"{name}: no bars: the series is empty")
        steps = np.diff(self.ts)
        bad = np.flatnonzero(steps <= 0)
        if bad.size:
            i = int(bad[0]) + 1
            kind = "duplicate" if steps[bad[0]] == 0 else "unsorted (earlier than the row before)"
            raise DataError(
                f"{name}: timestamp at row {i} ({iso(int(self.ts[i]))}) is {kind}; "
                "sort the bars by time and drop duplicates"
            )
        for col in COLUMNS:
            values = getattr(self, col)
            nonfinite = np.flatnonzero(~np.isfinite(values))
            if nonfinite.size:
                i = int(nonfinite[0])
                raise DataError(
                    f"{name}: {col} is NaN or infinite at row {i} ({iso(int(self.ts[i]))}); fill or drop that bar"
                )
        inverted = np.flatnonzero(self.high < self.low)
        if inverted.size:
            i = int(inverted[0])
            raise DataError(f"{name}: high {self.high[i]} < low {self.low[i]} at row {i} ({iso(int(self.ts[i]))})")
        outside = np.flatnonzero(
            (self.open > self.high) | (self.open < self.low) | (self.close > self.high) | (self.close < self.low)
        )
        if outside.size:
            i = int(outside[0])
            raise DataError(
                f"{name}: open {self.open[i]} or close {self.close[i]} lies outside [low {self.low[i]}, "
                f"high {self.high[i]}] at row {i} ({iso(int(self.ts[i]))})"
            )
        negative = np.flatnonzero(self.volume < 0)
        if negative.size:
            i = int(negative[0])
            raise DataError(f"{name}: negative volume {self.volume[i]} at row {i} ({iso(int(self.ts[i]))})")

    def slice(self, start: int, stop: int) -> BarSeries:
        return BarSeries(
            self.symbol,
            self.timeframe,
            self.ts[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )

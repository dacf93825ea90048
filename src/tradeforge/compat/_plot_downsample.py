"""Bucketing for compat.plot: what is DRAWN is reduced with numpy (reduceat / bincount), never what is computed.

A bucket is a run of consecutive bars; bucket i holds rows starts[i] .. ends[i]. Every reduction here is one
vectorised pass over the full arrays, so a million bars take milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Candidate higher time frames for the superimposed OHLC, with their approximate length in seconds.
SUPERIMPOSE_RULES: tuple[tuple[str, float], ...] = (
    ("h", 3_600.0),
    ("D", 86_400.0),
    ("W", 7 * 86_400.0),
    ("ME", 30.4 * 86_400.0),
    ("QE", 91.3 * 86_400.0),
    ("YE", 365.25 * 86_400.0),
)
SUPERIMPOSE_MIN_RATIO = 5  # a superimposed candle should span at least this many drawn candles


@dataclass(frozen=True)
class Buckets:
    """Consecutive runs of `n` bars; `rule` is the pandas offset when they were cut by time."""

    starts: IntArray
    n: int
    rule: str | None = None

    @property
    def ends(self) -> IntArray:
        return np.append(self.starts[1:] - 1, self.n - 1).astype(np.int64)

    @property
    def count(self) -> int:
        return int(self.starts.shape[0])

    @property
    def downsampled(self) -> bool:
        return self.count < self.n

    @property
    def factor(self) -> float:
        """Average bars per bucket (1.0 when nothing was merged)."""
        return self.n / max(self.count, 1)


def every_bar(n: int) -> Buckets:
    return Buckets(np.arange(n, dtype=np.int64), n)


def by_count(n: int, max_points: int) -> Buckets:
    """Equal runs of ceil(n / max_points) bars, so there are at most max_points buckets."""
    size = max(1, math.ceil(n / max(1, max_points)))
    return Buckets(np.arange(0, n, size, dtype=np.int64), n)


def by_time(index: pd.DatetimeIndex, rule: str) -> Buckets:
    """One bucket per non-empty period of the pandas offset `rule` ("W", "1h", "ME", ...)."""
    positions = pd.Series(np.arange(len(index), dtype=np.float64), index=index)
    try:
        firsts = positions.resample(rule).min()
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{rule!r} is not a pandas offset alias usable for resampling ({exc}); use e.g. '1h', 'D', 'W' or 'ME'"
        ) from exc
    starts = np.unique(firsts.dropna().to_numpy(dtype=np.float64).astype(np.int64))
    return Buckets(starts, len(index), rule)


def first(values: FloatArray, buckets: Buckets) -> FloatArray:
    return values[buckets.starts]


def last(values: FloatArray, buckets: Buckets) -> FloatArray:
    return values[buckets.ends]


def high(values: FloatArray, buckets: Buckets) -> FloatArray:
    """Per-bucket maximum, NaN ignored (NaN only when the whole bucket is NaN)."""
    if not buckets.downsampled:
        return values
    return np.fmax.reduceat(values, buckets.starts)


def low(values: FloatArray, buckets: Buckets) -> FloatArray:
    if not buckets.downsampled:
        return values
    return np.fmin.reduceat(values, buckets.starts)


def total(values: FloatArray, buckets: Buckets) -> FloatArray:
    if not buckets.downsampled:
        return values
    return np.add.reduceat(np.nan_to_num(values, nan=0.0), buckets.starts)


def last_valid(values: FloatArray, buckets: Buckets) -> FloatArray:
    """Per-bucket last finite value (NaN when the bucket has none), so sparse signals survive downsampling."""
    if not buckets.downsampled:
        return values
    positions = np.where(np.isfinite(values), np.arange(buckets.n, dtype=np.int64), -1)
    at = np.maximum.reduceat(positions, buckets.starts)
    out = np.full(buckets.count, np.nan)
    found = at >= buckets.starts
    out[found] = values[at[found]]
    return out


@dataclass(frozen=True)
class OHLCBuckets:
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray | None


def ohlc(
    o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray | None, buckets: Buckets
) -> OHLCBuckets:
    """First open, highest high, lowest low, last close and summed volume of each bucket."""
    return OHLCBuckets(
        first(o, buckets),
        high(h, buckets),
        low(lo, buckets),
        last(c, buckets),
        None if v is None else total(v, buckets),
    )


@dataclass(frozen=True)
class TradeMarks:
    """Trades to draw: one row per trade, or per group of trades closed in the same bucket (count > 1)."""

    entry_bar: IntArray
    exit_bar: IntArray
    entry_price: FloatArray
    exit_price: FloatArray
    size: FloatArray
    return_pct: FloatArray  # fraction, like Backtesting.py's ReturnPct
    pnl: FloatArray
    count: IntArray
    number: IntArray  # 1-based trade number (first trade of the group when aggregated)

    def __len__(self) -> int:
        return int(self.exit_bar.shape[0])

    @classmethod
    def empty(cls) -> TradeMarks:
        no_int, no_float = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return cls(no_int, no_int, no_float, no_float, no_float, no_float, no_float, no_int, no_int)

    def subset(self, mask: npt.NDArray[np.bool_]) -> TradeMarks:
        return replace(self, **{f.name: getattr(self, f.name)[mask] for f in fields(self)})


def aggregate_trades(trades: TradeMarks, buckets: Buckets) -> TradeMarks:
    """Merge the trades that exit in the same bucket: summed size and P&L, |size|-weighted return, mean
    entry/exit bar and price."""
    group = np.searchsorted(buckets.starts, trades.exit_bar, side="right") - 1
    counts = np.bincount(group, minlength=buckets.count)
    keep = np.flatnonzero(counts)
    n = counts[keep].astype(np.float64)

    def summed(values: npt.NDArray[np.float64] | npt.NDArray[np.int64]) -> FloatArray:
        sums = np.bincount(group, weights=values.astype(np.float64), minlength=buckets.count)
        return np.asarray(sums[keep], dtype=np.float64)

    weight = summed(np.abs(trades.size))
    weighted = summed(np.abs(trades.size) * trades.return_pct)
    mean_return = summed(trades.return_pct) / n
    return_pct = np.divide(weighted, weight, out=mean_return, where=weight > 0)
    first_number = np.full(buckets.count, np.iinfo(np.int64).max)
    np.minimum.at(first_number, group, trades.number)
    return TradeMarks(
        entry_bar=np.rint(summed(trades.entry_bar) / n).astype(np.int64),
        exit_bar=np.rint(summed(trades.exit_bar) / n).astype(np.int64),
        entry_price=summed(trades.entry_price) / n,
        exit_price=summed(trades.exit_price) / n,
        size=summed(trades.size),
        return_pct=return_pct,
        pnl=summed(trades.pnl),
        count=counts[keep].astype(np.int64),
        number=first_number[keep],
    )


def auto_superimpose_rule(spacing_seconds: float) -> str | None:
    """The shortest higher time frame whose candles span at least SUPERIMPOSE_MIN_RATIO drawn candles."""
    for rule, seconds in SUPERIMPOSE_RULES:
        if seconds >= SUPERIMPOSE_MIN_RATIO * spacing_seconds:
            return rule
    return None


def median_spacing(x: FloatArray) -> float:
    """Median distance between consecutive x values (0.0 for fewer than two)."""
    if x.shape[0] < 2:
        return 0.0
    return float(np.median(np.diff(x)))


def longest_drawdown(equity: FloatArray) -> tuple[int, int] | None:
    """(last peak, first bar back at that peak or the last bar) of the longest stretch under water; None if none."""
    bars = np.arange(equity.shape[0])
    at_peak = equity >= np.fmax.accumulate(equity)
    last_peak = np.maximum.accumulate(np.where(at_peak, bars, 0))
    under = bars - last_peak
    end = int(np.argmax(under))
    if under[end] == 0:
        return None
    return int(last_peak[end]), min(end + 1, equity.shape[0] - 1)

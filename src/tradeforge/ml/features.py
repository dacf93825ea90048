"""Feature sets: named blocks of features computed over a history at once, or bar by bar with identical values.

    from tradeforge.ml.features import FeatureSet, Returns, Factors, RSI, MACD, HigherTimeframe
    features = FeatureSet([Returns(5), Factors(), RSI(), MACD(), HigherTimeframe("1h", [RSI()], base="1m")])
    frame = features.compute(bars)          # DataFrame: one row per bar, NaN during warm-up
    live = features.stream()
    row = live.update(bar)                  # the same values, one closed bar at a time

Every value at bar t uses bars up to and including t only (checked by tradeforge.ml.lookahead.check_lookahead).
The blocks: Returns (pytrader's last N price moves), Factors (range, trendiness and slope over 10/20/30/50/100
bars), RSI, MACD, ATR, Bollinger, ADX, Volume, TAFunction (any TA-Lib function) and HigherTimeframe (any of those
on a higher time frame, aligned without look-ahead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import format_timeframe, iso
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.events import Bar
from tradeforge.ml.features_base import BlockStream, FeatureBlock, FloatArray, TAStream, check_bars
from tradeforge.ml.features_htf import HigherTimeframe
from tradeforge.ml.features_price import DEFAULT_WINDOWS, Factors, Returns
from tradeforge.ml.features_ta import ADX, ATR, MACD, RSI, Bollinger, TABlock, TAFunction, Volume


class FeatureSet:
    """An ordered list of feature blocks whose columns are computed together."""

    def __init__(self, blocks: Iterable[FeatureBlock]) -> None:
        self.blocks: tuple[FeatureBlock, ...] = tuple(blocks)
        if not self.blocks:
            raise ConfigError("a feature set needs at least one block, e.g. FeatureSet([Returns(5), RSI()])")
        for block in self.blocks:
            if not isinstance(block, FeatureBlock):
                raise ConfigError(f"{block!r} is not a feature block (Returns, Factors, RSI, ... or HigherTimeframe)")
        names = self.columns
        repeated = sorted({c for c in names if names.count(c) > 1})
        if repeated:
            raise ConfigError(f"feature columns {repeated} appear twice: remove the duplicate block or change it")

    def __repr__(self) -> str:
        return f"FeatureSet([{', '.join(repr(b) for b in self.blocks)}])"

    def __add__(self, other: FeatureSet) -> FeatureSet:
        return FeatureSet(self.blocks + other.blocks)

    @property
    def columns(self) -> list[str]:
        return [c for block in self.blocks for c in block.columns]

    @property
    def warmup(self) -> int:
        """Index of the first bar with every column defined (on data without gaps): bars needed before it."""
        return max(block.warmup for block in self.blocks)

    def compute_array(self, series: BarSeries) -> FloatArray:
        """The features as a float array (len(series), len(columns)); see compute()."""
        check_bars(series)
        for block in self.blocks:
            block.check(series)
        return np.column_stack([block.compute(series) for block in self.blocks])

    def compute(self, series: BarSeries) -> pd.DataFrame:
        """The features of every bar: index = bar open time (UTC), one column per feature, NaN during warm-up.

        Raises DataError for NaN or unsorted bars and ConfigError when a window is longer than the data."""
        values = self.compute_array(series)
        index = pd.DatetimeIndex(np.asarray(series.ts, dtype="datetime64[ns]"), name="timestamp").tz_localize("UTC")
        return pd.DataFrame(values, index=index, columns=self.columns)

    def stream(self) -> FeatureStream:
        """A fresh bar-by-bar computation of this set (see FeatureStream)."""
        return FeatureStream(self)


class FeatureStream:
    """A feature set fed one closed bar at a time; each update returns that bar's feature row, equal to the row
    FeatureSet.compute gives for the same bar over the same history (NaN during warm-up)."""

    def __init__(self, feature_set: FeatureSet) -> None:
        self.feature_set = feature_set
        self.columns = feature_set.columns
        self._streams: list[BlockStream] = [block.stream() for block in feature_set.blocks]
        bases = {b.base_ns for b in feature_set.blocks if isinstance(b, HigherTimeframe)}
        if len(bases) > 1:
            raise ConfigError("the higher-time-frame blocks of one feature set must share one base time frame")
        self._timeframe: int | None = next(iter(bases), None)
        self._last_ts: int | None = None
        self.n_bars = 0

    def update(self, bar: Bar) -> FloatArray:
        """Feed the next closed bar; returns its feature row (in the order of `columns`)."""
        bar.validate()
        if self._last_ts is not None and bar.ts <= self._last_ts:
            raise DataError(
                f"bar {bar.symbol} at {iso(bar.ts)} does not come after the previous one ({iso(self._last_ts)}): "
                "feed closed bars in time order, each once"
            )
        if self._timeframe is None:
            self._timeframe = bar.timeframe
        elif bar.timeframe != self._timeframe:
            raise ConfigError(
                f"bar {bar.symbol} at {iso(bar.ts)} is a {format_timeframe(bar.timeframe)} bar but this feature "
                f"stream computes on {format_timeframe(self._timeframe)} bars"
            )
        self._last_ts = bar.ts
        self.n_bars += 1
        row: list[float] = []
        for s in self._streams:
            row.extend(s.update(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume))
        return np.array(row, dtype=np.float64)

    def extend(self, series: BarSeries) -> FloatArray:
        """Feed every bar of `series` in order; returns their rows as an array (len(series), len(columns))."""
        check_bars(series)
        out = np.empty((len(series), len(self.columns)))
        cols = [series.ts.tolist(), *(getattr(series, c).tolist() for c in ("open", "high", "low", "close"))]
        volume = series.volume.tolist()
        for i, (ts, o, h, low, c) in enumerate(zip(*cols, strict=True)):
            out[i] = self.update(Bar(series.symbol, ts, o, h, low, c, volume[i], series.timeframe))
        return out


def default_feature_set(
    *,
    datasetinputs: int = 5,
    granularity: int = 1,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    higher_timeframes: Sequence[str] = (),
    base: str | int | None = None,
) -> FeatureSet:
    """The default features: pytrader's last `datasetinputs` moves of `granularity` bars, the seed's factors,
    RSI, MACD, ATR, Bollinger %B and width, ADX with +DI/-DI, volume z-score and relative volume; and for each
    of `higher_timeframes` (e.g. ("1h",), which needs `base`, the time frame of the bars) the last 3 moves,
    range/trend/slope over 10 and 20 bars, RSI and ATR of that time frame."""
    blocks: list[FeatureBlock] = [
        Returns(datasetinputs, granularity),
        Factors(tuple(windows)),
        RSI(),
        MACD(),
        ATR(),
        Bollinger(),
        ADX(),
        Volume(),
    ]
    if higher_timeframes:
        if base is None:
            raise ConfigError("higher-time-frame features need base=, the time frame of the bars (e.g. base='1m')")
        for tf in higher_timeframes:
            inner = (Returns(3), Factors((10, 20)), RSI(), ATR())
            blocks.append(HigherTimeframe(tf, inner, base=base))
    return FeatureSet(blocks)


__all__ = [
    "ADX",
    "ATR",
    "DEFAULT_WINDOWS",
    "MACD",
    "RSI",
    "BlockStream",
    "Bollinger",
    "Factors",
    "FeatureBlock",
    "FeatureSet",
    "FeatureStream",
    "HigherTimeframe",
    "Returns",
    "TABlock",
    "TAFunction",
    "TAStream",
    "Volume",
    "default_feature_set",
]

"""Features inside the event engine, for ML strategies: a FeatureSet declared as one indicator with self.I.

Declared this way the features obey the engine's rules in every mode. In a backtest (complete arrays) the set is
computed once over the whole history and the engine probes it on shorter histories, so a feature that peeks at
later bars is refused with a LookAheadError before the first bar. When bars arrive one at a time (replay, paper,
live), the engine asks for the values over the bars that have arrived, one more each time; the indicator then feeds
just the new bar to a FeatureStream, whose values equal the batch ones to the last bit (tradeforge.ml.features), so
a strategy trades the same in both. Either way a strategy only reads the rows of bars that have closed.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, LookAheadError
from tradeforge.core.events import Bar
from tradeforge.core.series import BarView, Series
from tradeforge.core.strategy import Strategy
from tradeforge.ml.features import FeatureSet, FeatureStream

FloatArray = npt.NDArray[np.float64]


class FeatureIndicator:
    """`feature_set` as an engine indicator: f(ts, open, high, low, close, volume) -> one array per column.

    Called on a history it has not seen grow, it computes the set in one pass; called on the history it saw last
    plus one bar, it only feeds that bar to its FeatureStream (O(1) per bar instead of O(history))."""

    def __init__(self, feature_set: FeatureSet, symbol: str, timeframe: int) -> None:
        self.feature_set = feature_set
        self.symbol = symbol
        self.timeframe = timeframe
        self.__name__ = "features"
        self._width = len(feature_set.columns)
        self._stream: FeatureStream | None = None
        self._buf = np.empty((self._width, 0), dtype=np.float64)
        self._n = 0
        self._last_ts = 0

    def __call__(self, ts: Any, o: Any, h: Any, low: Any, c: Any, v: Any) -> tuple[FloatArray, ...]:
        n = len(ts)
        if n == 0:  # the engine asks, before any bar, how many outputs there are
            return tuple(np.empty(0) for _ in range(self._width))
        if n == self._n + 1 and (self._n == 0 or int(ts[n - 2]) == self._last_ts):
            return self._append(ts, o, h, low, c, v)
        bars = BarSeries.from_arrays(self.symbol, self.timeframe, ts, o, h, low, c, v, validate=False)
        values = self.feature_set.compute_array(bars)
        return tuple(np.ascontiguousarray(values[:, j]) for j in range(self._width))

    def _append(self, ts: Any, o: Any, h: Any, low: Any, c: Any, v: Any) -> tuple[FloatArray, ...]:
        k = self._n
        if self._stream is None:
            self._stream = self.feature_set.stream()
        bar = Bar(
            self.symbol, int(ts[k]), float(o[k]), float(h[k]), float(low[k]), float(c[k]), float(v[k]), self.timeframe
        )
        row = self._stream.update(bar)
        if k == self._buf.shape[1]:
            bigger = np.empty((self._width, max(64, 2 * k)), dtype=np.float64)
            bigger[:, :k] = self._buf[:, :k]
            self._buf = bigger
        self._buf[:, k] = row
        self._n = k + 1
        self._last_ts = bar.ts
        return tuple(self._buf[j, : k + 1] for j in range(self._width))


class FeatureRows:
    """The feature rows and bars of one symbol as a strategy sees them: only bars that have closed."""

    def __init__(self, strategy: Strategy, feature_set: FeatureSet, view: BarView) -> None:
        self.feature_set = feature_set
        self.view = view
        d = view
        indicator = FeatureIndicator(feature_set, d.symbol, d.timeframe)
        try:
            out = strategy.I(indicator, d.ts, d.open, d.high, d.low, d.close, d.volume, name=f"features {d.symbol}")
        except LookAheadError as exc:  # name the column: the engine only knows the output's position
            found = re.search(r"\(output (\d+)\)", str(exc))
            column = feature_set.columns[int(found.group(1))] if found else "?"
            raise LookAheadError(f"feature column {column!r} of {feature_set!r}: {exc}") from exc
        self.series: list[Series] = list(out) if isinstance(out, tuple) else [out]
        self._columns = (d.ts, d.open, d.high, d.low, d.close, d.volume)

    def __len__(self) -> int:
        """How many bars have closed."""
        return len(self.view)

    @property
    def columns(self) -> list[str]:
        return self.feature_set.columns

    def latest(self) -> FloatArray:
        """The row of the last closed bar."""
        return np.array([s[-1] for s in self.series], dtype=np.float64)

    def row(self, i: int) -> FloatArray:
        if not 0 <= i < len(self):
            raise ConfigError(f"bar {i} has not closed yet ({len(self)} bars so far)")
        return np.array([s[i] for s in self.series], dtype=np.float64)

    def rows(self, start: int, stop: int) -> FloatArray:
        """Rows of bars start..stop-1, shape (stop - start, columns); stop may not pass the last closed bar."""
        self._check(start, stop)
        values = np.array([s[start:stop] for s in self.series], dtype=np.float64)
        return values.T.reshape(stop - start, len(self.series))

    def bars(self, start: int, stop: int) -> BarSeries:
        """Bars start..stop-1 as a BarSeries."""
        self._check(start, stop)
        ts, o, h, low, c, v = (np.asarray(col[start:stop]) for col in self._columns)
        return BarSeries.from_arrays(self.view.symbol, self.view.timeframe, ts, o, h, low, c, v, validate=False)

    def _check(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= len(self):
            raise ConfigError(f"bars {start}..{stop - 1} are not all closed ({len(self)} bars so far)")

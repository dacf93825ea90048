"""Features of a higher time frame (1h bars under 1m bars), aligned without look-ahead.

The higher-time-frame bar of period [P, P + tf) is built from the base bars inside it and becomes visible at the
first base bar whose close time (open + base time frame) is >= P + tf: the base bar where that period ends, or,
when the data has a gap there, the first base bar after it. This is the rule of tradeforge.core's Resampler, so a
strategy sees in replay what the features saw in research. Until a period closes, base bars carry the values of
the last closed one; before any has closed, NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import format_timeframe, period_start
from tradeforge.core.errors import ConfigError
from tradeforge.data.resample import resample
from tradeforge.data.timeframes import timeframe_ns
from tradeforge.ml.features_base import NAN, BlockStream, FeatureBlock, FloatArray


@dataclass(frozen=True, eq=False)
class HigherTimeframe(FeatureBlock):
    """Blocks computed on bars of `timeframe` built from `base` bars, e.g.
    HigherTimeframe("1h", (RSI(), Factors((10, 20))), base="1m"). Columns get `prefix` (default "1h_")."""

    timeframe: str | int
    blocks: Sequence[FeatureBlock]
    base: str | int
    prefix: str | None = None
    tf_ns: int = field(init=False)
    base_ns: int = field(init=False)

    def __post_init__(self) -> None:
        tf, base = timeframe_ns(self.timeframe), timeframe_ns(self.base)
        if tf <= base or tf % base:
            raise ConfigError(
                f"a higher time frame must be a whole multiple of the base time frame and longer: "
                f"{format_timeframe(tf)} over {format_timeframe(base)} bars is not"
            )
        blocks = tuple(self.blocks)
        if not blocks or not all(isinstance(b, FeatureBlock) for b in blocks):
            raise ConfigError("HigherTimeframe needs at least one feature block, e.g. (RSI(), Factors((10, 20)))")
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "tf_ns", tf)
        object.__setattr__(self, "base_ns", base)
        if self.prefix is None:
            object.__setattr__(self, "prefix", f"{format_timeframe(tf)}_")
        names = [c for b in blocks for c in b.columns]
        if len(set(names)) != len(names):
            raise ConfigError(f"the blocks of the {format_timeframe(tf)} features repeat a column: {names}")

    def __repr__(self) -> str:
        inner = ", ".join(repr(b) for b in self.blocks)
        return f"HigherTimeframe({format_timeframe(self.tf_ns)}, [{inner}], base={format_timeframe(self.base_ns)})"

    @property
    def ratio(self) -> int:
        """Base bars per higher-time-frame bar."""
        return self.tf_ns // self.base_ns

    @property
    def inner_warmup(self) -> int:
        return max(b.warmup for b in self.blocks)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"{self.prefix}{c}" for b in self.blocks for c in b.columns)

    @property
    def warmup(self) -> int:
        """First complete base row when the data starts at a period boundary and has no gaps (the last base bar
        of the higher bar at index inner_warmup); data starting mid-period gets there sooner, gaps later."""
        return (self.inner_warmup + 1) * self.ratio - 1

    def check(self, bars: BarSeries) -> None:
        if bars.timeframe != self.base_ns:
            raise ConfigError(
                f"the {format_timeframe(self.tf_ns)} features were built for {format_timeframe(self.base_ns)} bars "
                f"but {bars.symbol} has {format_timeframe(bars.timeframe)} bars: build them with "
                f"base={format_timeframe(bars.timeframe)!r}"
            )
        _, visible_from = self._higher(bars)
        closed = int(np.count_nonzero(visible_from < len(bars)))
        if closed <= self.inner_warmup:
            raise ConfigError(
                f"the {format_timeframe(self.tf_ns)} features need more than {self.inner_warmup} closed "
                f"{format_timeframe(self.tf_ns)} bars but the {len(bars)} bars of {bars.symbol} make {closed}: "
                "load more history or use shorter windows"
            )

    def _higher(self, bars: BarSeries) -> tuple[BarSeries, np.ndarray]:
        """The higher bars (volume summed bar by bar, as the stream does) and, for each, the index of the base
        bar from which it is visible (len(bars) when its period has not closed within the data)."""
        res = resample(bars, self.tf_ns).bars
        segment = np.searchsorted(res.ts, bars.ts, side="right") - 1
        bounds = np.r_[np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]]), len(bars)]
        volumes = bars.volume.tolist()
        volume = np.empty(len(res))
        for k in range(len(res)):
            total = 0.0
            for x in volumes[bounds[k] : bounds[k + 1]]:
                total += x
            volume[k] = total
        higher = BarSeries(bars.symbol, self.tf_ns, res.ts, res.open, res.high, res.low, res.close, volume)
        visible_from = np.searchsorted(bars.ts + bars.timeframe, res.ts + self.tf_ns, side="left")
        return higher, visible_from

    def compute(self, bars: BarSeries) -> FloatArray:
        higher, visible_from = self._higher(bars)
        inner = np.column_stack([b.compute(higher) for b in self.blocks])
        n = len(bars)
        k = np.searchsorted(visible_from, np.arange(n), side="right") - 1
        out = np.full((n, inner.shape[1]), np.nan)
        seen = k >= 0
        out[seen] = inner[k[seen]]
        return out

    def stream(self) -> BlockStream:
        return _HigherStream(self)


class _HigherStream(BlockStream):
    """Builds the higher bar from base bars like core.series.Resampler and feeds it to the inner blocks' streams
    when its period closes."""

    __slots__ = ("_base", "_c", "_h", "_inner", "_low", "_o", "_period", "_row", "_tf", "_v")

    def __init__(self, block: HigherTimeframe) -> None:
        self._tf = block.tf_ns
        self._base = block.base_ns
        self._inner = [b.stream() for b in block.blocks]
        self._row: list[float] = [NAN] * len(block.columns)
        self._period = -1
        self._o = self._h = self._low = self._c = self._v = NAN

    def update(self, ts: int, o: float, h: float, low: float, c: float, v: float) -> Sequence[float]:
        period = period_start(ts, self._tf)
        if self._period >= 0 and period != self._period:
            self._emit()  # a gap: the old period ended without a bar at its end
        if self._period != period:
            self._period = period
            self._o, self._h, self._low, self._c = o, h, low, c
            self._v = 0.0
        else:
            self._h = max(self._h, h)
            self._low = min(self._low, low)
            self._c = c
        self._v += v
        if ts + self._base >= period + self._tf:
            self._emit()
        return self._row

    def _emit(self) -> None:
        row: list[float] = []
        for inner in self._inner:
            row.extend(inner.update(self._period, self._o, self._h, self._low, self._c, self._v))
        self._row = row
        self._period = -1

"""Price features from the seeds: pytrader's last N price moves ("datasetinputs" at a "granularity") and the
event engine's factors over 10/20/30/50/100 bars (range, trendiness, slope of the least-squares line)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.ml.features_base import NAN, BlockStream, FeatureBlock, FloatArray, TAStream, positive_int, ta_batch


@dataclass(frozen=True)
class Returns(FeatureBlock):
    """pytrader's inputs: the `n` most recent price moves, each over `step` bars ("granularity").

    Column ret_k (k = 1..n; ret{step}_k when step > 1) is the simple return of the close over the k-th most
    recent move: close[t - (k-1)*step] / close[t - k*step] - 1. So ret_1 is the latest move, ending at the bar
    itself. The first complete row is at bar n * step.
    """

    n: int = 5
    step: int = 1

    def __post_init__(self) -> None:
        positive_int("Returns n (datasetinputs)", self.n)
        positive_int("Returns step (granularity)", self.step)

    @property
    def columns(self) -> tuple[str, ...]:
        stem = "ret" if self.step == 1 else f"ret{self.step}"
        return tuple(f"{stem}_{k}" for k in range(1, self.n + 1))

    @property
    def warmup(self) -> int:
        return self.n * self.step

    def compute(self, bars: BarSeries) -> FloatArray:
        c = bars.close
        g = self.step
        moves = np.full(c.shape[0], np.nan)
        moves[g:] = c[g:] / c[:-g] - 1.0
        out = np.full((c.shape[0], self.n), np.nan)
        for k in range(self.n):
            lag = k * g
            out[lag:, k] = moves[: c.shape[0] - lag]
        return out

    def stream(self) -> BlockStream:
        return _ReturnsStream(self.n, self.step)


class _ReturnsStream(BlockStream):
    __slots__ = ("_closes", "_moves", "_n", "_step")

    def __init__(self, n: int, step: int) -> None:
        self._n = n
        self._step = step
        self._closes: deque[float] = deque(maxlen=step + 1)
        self._moves: deque[float] = deque(maxlen=(n - 1) * step + 1)  # newest first

    def update(self, ts: int, o: float, h: float, low: float, c: float, v: float) -> Sequence[float]:
        closes = self._closes
        closes.append(c)
        move = c / closes[0] - 1.0 if len(closes) > self._step else NAN
        moves = self._moves
        moves.appendleft(move)
        return [moves[k * self._step] if k * self._step < len(moves) else NAN for k in range(self._n)]


DEFAULT_WINDOWS = (10, 20, 30, 50, 100)


@dataclass(frozen=True)
class Factors(FeatureBlock):
    """The event-engine seed's factors over the last w bars, for each w in `windows` (default 10/20/30/50/100).

    range_w: (highest high - lowest low of the last w bars, this one included) / close: how wide the market
        swung, as a fraction of the price.
    trend_w: Kaufman's efficiency ratio, signed: (close - close w bars ago) / (sum of the w absolute
        close-to-close moves in between). +1 is a straight rise, -1 a straight fall, near 0 a market that went
        back and forth; 0 when nothing moved.
    slope_w: slope of the least-squares line through the last w closes against the bar number, divided by
        the close: the fitted change per bar as a fraction of the price (0.001 = +0.1% per bar).

    range_w and slope_w start at bar w - 1, trend_w (w moves need w + 1 closes) at bar w.
    """

    windows: tuple[int, ...] = field(default=DEFAULT_WINDOWS)

    def __post_init__(self) -> None:
        if not self.windows:
            raise ConfigError("Factors needs at least one window, e.g. windows=(10, 20, 30, 50, 100)")
        for w in self.windows:
            positive_int("a factor window", w, minimum=2)
        if len(set(self.windows)) != len(self.windows):
            raise ConfigError(f"Factors windows repeat: {self.windows}; give each window once")
        object.__setattr__(self, "windows", tuple(int(w) for w in self.windows))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"{kind}_{w}" for w in self.windows for kind in ("range", "trend", "slope"))

    @property
    def warmup(self) -> int:
        return max(self.windows)

    def compute(self, bars: BarSeries) -> FloatArray:
        h, low, c = bars.high, bars.low, bars.close
        n = c.shape[0]
        moves = np.full(n, np.nan)
        moves[1:] = np.abs(c[1:] - c[:-1])
        out = np.empty((n, 3 * len(self.windows)))
        for j, w in enumerate(self.windows):
            (hi,) = ta_batch("MAX", [h], {"timeperiod": w})
            (lo,) = ta_batch("MIN", [low], {"timeperiod": w})
            (path,) = ta_batch("SUM", [moves], {"timeperiod": w})
            (slope,) = ta_batch("LINEARREG_SLOPE", [c], {"timeperiod": w})
            net = np.full(n, np.nan)
            net[w:] = c[w:] - c[:-w]
            trend = np.zeros(n)
            np.divide(net, path, out=trend, where=path > 0.0)
            trend[np.isnan(path) | np.isnan(net)] = np.nan
            out[:, 3 * j] = (hi - lo) / c
            out[:, 3 * j + 1] = trend
            out[:, 3 * j + 2] = slope / c
        return out

    def stream(self) -> BlockStream:
        return _FactorsStream(self.windows)


class _FactorsStream(BlockStream):
    __slots__ = ("_closes", "_handles", "_windows")

    def __init__(self, windows: tuple[int, ...]) -> None:
        self._windows = windows
        self._closes: deque[float] = deque(maxlen=max(windows) + 1)
        self._handles = [
            (
                TAStream("MAX", {"timeperiod": w}, 1),
                TAStream("MIN", {"timeperiod": w}, 1),
                TAStream("SUM", {"timeperiod": w}, 1),
                TAStream("LINEARREG_SLOPE", {"timeperiod": w}, 1),
            )
            for w in windows
        ]

    def update(self, ts: int, o: float, h: float, low: float, c: float, v: float) -> Sequence[float]:
        closes = self._closes
        closes.append(c)
        move = abs(c - closes[-2]) if len(closes) > 1 else NAN
        out: list[float] = []
        for w, (hmax, lmin, hsum, hslope) in zip(self._windows, self._handles, strict=True):
            (hi,) = hmax.update(h)
            (lo,) = lmin.update(low)
            (path,) = hsum.update(move)
            (slope,) = hslope.update(c)
            net = c - closes[-1 - w] if len(closes) > w else NAN
            if path != path or net != net:  # NaN
                trend = NAN
            else:
                trend = net / path if path > 0.0 else 0.0
            out += [(hi - lo) / c, trend, slope / c]
        return out

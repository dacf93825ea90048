"""The tape: real bars replayed on a simulated clock, and the candles binance would serve from them.

The clock stands at a bar boundary. With ``cursor = c``, bars ``0 .. c-1`` have closed and bar ``c`` has just
opened: the time is ``ts[c]`` and the price is ``open[c]``. The REST klines endpoint serves closed candles only;
the websocket serves the forming candle too (at the opening instant it is open = high = low = close, volume 0).
Candles of a longer interval are aggregated from the base bars on the fly (a bucket is closed once its end has
passed); the interval must be a whole multiple of the bars' time frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradeforge.core.bars import BarSeries
from tradeforge.live.simulator.errors import ApiError, SimulatorError

MS_PER_UNIT = (("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000))
BINANCE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w")


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle: open time and close time (inclusive, ms, like binance's kline 't' and 'T') and OHLCV."""

    open_ms: int
    close_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    bars: int  # base bars aggregated into it (0 for a candle that has only just opened)


def interval_ms(interval: str) -> int:
    """'1m' -> 60000. Raises ApiError -1120 (binance's 'Invalid interval.') for anything binance does not list."""
    if interval not in BINANCE_INTERVALS:
        raise ApiError(400, -1120, "Invalid interval.")
    return int(interval[:-1]) * dict(MS_PER_UNIT)[interval[-1]]


class Tape:
    """Bars of one market as int ms / float arrays, plus the cursor of the simulated clock."""

    def __init__(self, bars: BarSeries, start: int) -> None:
        n = len(bars)
        if n < 2:
            raise SimulatorError(f"the simulator needs at least 2 bars to replay, {bars.symbol} has {n}")
        if not 1 <= start < n:
            raise SimulatorError(
                f"start={start} is outside [1, {n - 1}]: it is the index of the first bar that has not closed yet "
                f"({bars.symbol} has {n} bars; bars before it are history the klines endpoint serves)"
            )
        if bars.timeframe % 1_000_000:
            raise SimulatorError(f"the bars' time frame ({bars.timeframe} ns) is not a whole number of milliseconds")
        self.ts: npt.NDArray[np.int64] = bars.ts // 1_000_000
        self.open = bars.open
        self.high = bars.high
        self.low = bars.low
        self.close = bars.close
        self.volume = bars.volume
        self.base_ms = bars.timeframe // 1_000_000
        self.cursor = start

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def exhausted(self) -> bool:
        return self.cursor >= len(self)

    @property
    def now_ms(self) -> int:
        """The simulated time: the open of the forming bar (or the end of the last bar once all have closed)."""
        if self.exhausted:
            return int(self.ts[-1]) + self.base_ms
        return int(self.ts[self.cursor])

    @property
    def price(self) -> float:
        """The last price: the forming bar's open (the last close once the data is exhausted)."""
        return float(self.close[-1]) if self.exhausted else float(self.open[self.cursor])

    def check_interval(self, interval: str) -> int:
        ms = interval_ms(interval)
        if ms % self.base_ms:
            raise ApiError(
                400,
                -1120,
                f"Invalid interval. (the simulator replays {self.base_ms // 1000}s bars: "
                "use an interval that is a whole multiple of them)",
            )
        return ms

    # -------------------------------------------------------------------------------------------------- REST
    def closed(self, interval: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[Candle]:
        """Closed candles, oldest first, like GET /api/v3/klines: open time in [start, end], at most `limit`;
        without a start, the latest `limit` candles that have closed by now (and open at or before end)."""
        ims = self.check_interval(interval)
        now = self.now_ms
        lo = 0
        if start_ms is not None:
            bucket0 = start_ms if start_ms % ims == 0 else (start_ms // ims + 1) * ims
            lo = int(np.searchsorted(self.ts, bucket0, side="left"))
        upper = now if end_ms is None else min(now, (end_ms // ims + 1) * ims)
        hi = min(int(np.searchsorted(self.ts, upper, side="left")), self.cursor)
        per = ims // self.base_ms  # at most this many base bars per candle
        if start_ms is None:
            # far enough back for `limit` candles (fewer only where the data has gaps), from a candle's start
            lo = max(0, hi - (limit + 1) * per)
            lo = int(np.searchsorted(self.ts, self.ts[lo] // ims * ims, side="left")) if lo < hi else hi
        elif lo + limit * per < hi:
            # no need to aggregate the whole history for one page: stop at a candle's start
            hi = int(np.searchsorted(self.ts, self.ts[lo + limit * per] // ims * ims, side="left"))
        candles = [c for c in self._aggregate(lo, hi, ims) if c.close_ms < now]
        if end_ms is not None:
            candles = [c for c in candles if c.open_ms <= end_ms]
        return candles[:limit] if start_ms is not None else candles[-limit:]

    def _aggregate(self, lo: int, hi: int, ims: int) -> list[Candle]:
        if hi <= lo:
            return []
        ts = self.ts[lo:hi]
        buckets = ts // ims * ims
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        ends = np.r_[starts[1:], ts.shape[0]]
        high = np.maximum.reduceat(self.high[lo:hi], starts)
        low = np.minimum.reduceat(self.low[lo:hi], starts)
        vol = np.add.reduceat(self.volume[lo:hi], starts)
        out = []
        for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
            b = int(buckets[s])
            out.append(
                Candle(
                    b,
                    b + ims - 1,
                    float(self.open[lo + s]),
                    float(high[k]),
                    float(low[k]),
                    float(self.close[lo + e - 1]),
                    float(vol[k]),
                    int(e - s),
                )
            )
        return out

    def last_day(self) -> Candle:
        """The rolling 24 hours up to now (closed bars plus the forming bar's opening tick), for the ticker."""
        now, price = self.now_ms, self.price
        lo = int(np.searchsorted(self.ts, now - 86_400_000, side="left"))
        hi = self.cursor
        if hi <= lo:
            return Candle(now, now, price, price, price, price, 0.0, 0)
        high = max(float(self.high[lo:hi].max()), price)
        low = min(float(self.low[lo:hi].min()), price)
        volume = float(self.volume[lo:hi].sum())
        return Candle(int(self.ts[lo]), now, float(self.open[lo]), high, low, price, volume, hi - lo)

    # ------------------------------------------------------------------------------------------------ stream
    def forming(self, ims: int) -> Candle | None:
        """The candle of `ims` that is forming now: its closed base bars plus the forming bar's opening tick."""
        if self.exhausted:
            return None
        now = self.now_ms
        bucket = now // ims * ims
        lo = int(np.searchsorted(self.ts, bucket, side="left"))
        price = self.price
        done = self._aggregate(lo, self.cursor, ims)
        if not done:
            return Candle(bucket, bucket + ims - 1, price, price, price, price, 0.0, 0)
        c = done[-1]
        return Candle(c.open_ms, c.close_ms, c.open, max(c.high, price), min(c.low, price), price, c.volume, c.bars)

    def closed_between(self, ims: int, before_ms: int, after_ms: int) -> list[Candle]:
        """Candles of `ims` whose end passed while the clock moved from before_ms to after_ms."""
        first = before_ms // ims * ims
        lo = int(np.searchsorted(self.ts, first, side="left"))
        return [c for c in self._aggregate(lo, self.cursor, ims) if before_ms <= c.close_ms < after_ms]

"""Bar feeds for the live runner: closed bars of one symbol, from an exchange (ccxt) or from known bars (tests).

A feed answers two questions. ``history(since, until)``: the closed bars with since <= ts < until (REST; used for
the warm-up and to fill gaps). ``watch(after)``: an async iterator of batches of closed bars newer than ``after``,
as they close. A feed may repeat a bar or skip some (a dropped connection): the runner drops bars it has seen and
fills a gap with ``history``. A bar is closed once its end (ts + time frame) has passed: a feed never yields the
candle that is still forming.

``CcxtFeed`` uses ccxt.pro's ``watch_ohlcv`` as the signal that a candle has closed (a later one has started) and
then takes the closed candles from the exchange's REST klines, which hold their final values; when the stream is
missing, quiet or broken it polls REST as the clock passes each bar's close. A stream that keeps failing is given
up for REST polling, with a log line saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import format_timeframe, iso, parse_timeframe
from tradeforge.core.errors import ConfigError, DataError, GatewayError
from tradeforge.core.events import Bar
from tradeforge.core.ports import Clock

log = logging.getLogger("tradeforge.live.feed")
NS_PER_MS = 1_000_000


class FeedError(GatewayError):
    """A feed failed for good (after its retries), or its exchange answered something unusable."""


class BarFeed(Protocol):
    """Closed bars of one symbol at one time frame (ns)."""

    symbol: str
    timeframe: int

    async def history(self, since: int, until: int | None = None) -> list[Bar]:
        """The closed bars with since <= ts < until (until None: up to now), oldest first, no duplicates."""
        ...

    def watch(self, after: int) -> AsyncIterator[list[Bar]]:
        """Batches of closed bars newer than `after` as they close. Bars may repeat or be missing: the runner
        drops repeats and fills gaps with history()."""
        ...

    async def close(self) -> None: ...


def bars_of(series: BarSeries) -> list[Bar]:
    """The bars of a series as events."""
    tf = series.timeframe
    return [
        Bar(series.symbol, int(t), float(o), float(h), float(lo), float(c), float(v), tf)
        for t, o, h, lo, c, v in zip(
            series.ts.tolist(),
            series.open.tolist(),
            series.high.tolist(),
            series.low.tolist(),
            series.close.tolist(),
            series.volume.tolist(),
            strict=True,
        )
    ]


def series_of(bars: Sequence[Bar]) -> BarSeries:
    """Bars of one symbol (sorted, no duplicates) as a BarSeries."""
    if not bars:
        raise DataError("series_of() needs at least one bar")
    first = bars[0]
    return BarSeries.from_arrays(
        first.symbol,
        first.timeframe,
        [b.ts for b in bars],
        [b.open for b in bars],
        [b.high for b in bars],
        [b.low for b in bars],
        [b.close for b in bars],
        [b.volume for b in bars],
    )


# ------------------------------------------------------------------------------------------------------- ccxt
def _ccxt() -> Any:
    try:
        import ccxt
    except ImportError as exc:  # pragma: no cover - ccxt is a dependency
        raise ConfigError("live feeds need the ccxt package: pip install ccxt") from exc
    return ccxt


class CcxtFeed:
    """Closed candles of one market of a ccxt async exchange (``ccxt.pro.<id>`` for the websocket stream, or
    ``ccxt.async_support.<id>`` for REST only).

    stream: use watch_ohlcv (default: when the exchange has it). poll_interval: seconds between looks at the clock
    (and REST polls once a bar should have closed). Temporary REST errors (network, time-out, rate limit,
    unavailable) are retried ``max_retries`` times with exponential backoff from ``backoff`` seconds, then raise
    FeedError; ``max_stream_failures`` stream errors in a row switch to REST polling. The exchange is not closed
    by the feed: whoever made it closes it.
    """

    def __init__(
        self,
        exchange: Any,
        symbol: str,
        timeframe: str,
        *,
        clock: Clock,
        stream: bool | None = None,
        poll_interval: float = 1.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_stream_failures: int = 5,
        page_limit: int = 500,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if poll_interval <= 0:
            raise ConfigError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        if max_retries < 0 or backoff < 0 or max_stream_failures < 1 or page_limit < 1:
            raise ConfigError(
                "max_retries and backoff must be >= 0, max_stream_failures and page_limit >= 1; got "
                f"{max_retries}, {backoff}, {max_stream_failures}, {page_limit}"
            )
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe_text = timeframe
        self.timeframe = parse_timeframe(timeframe)
        self.clock = clock
        has = getattr(exchange, "has", {}) or {}
        self.stream = bool(has.get("watchOHLCV")) if stream is None else stream
        if self.stream and not has.get("watchOHLCV"):
            raise ConfigError(
                f"{getattr(exchange, 'id', exchange)} has no websocket candles (watch_ohlcv): use a ccxt.pro exchange "
                "or stream=False for REST polling"
            )
        self.poll_interval = poll_interval
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_stream_failures = max_stream_failures
        self.page_limit = page_limit
        self._sleep = sleep
        self.name = f"{getattr(exchange, 'id', 'exchange')} {symbol} {format_timeframe(self.timeframe)}"

    def __repr__(self) -> str:
        return f"CcxtFeed({self.name!r}, stream={self.stream})"

    # ---------------------------------------------------------------------------------------------- history
    async def history(self, since: int, until: int | None = None) -> list[Bar]:
        tf = self.timeframe
        now = self.clock.now()
        end = now if until is None else min(int(until), now)
        cursor = int(since)
        out: list[Bar] = []
        while cursor < end:
            since_ms = -(-cursor // NS_PER_MS)
            rows = await self._call(
                self.exchange.fetch_ohlcv, self.symbol, self.timeframe_text, since_ms, self.page_limit
            )
            if not rows:
                break
            newest = cursor
            for row in sorted(rows, key=lambda r: r[0]):
                bar = self._bar(row)
                newest = max(newest, bar.ts)
                if bar.ts < cursor or bar.ts >= end or bar.ts + tf > now:
                    continue  # before the page asked for, past `until`, or still forming
                if out and bar.ts <= out[-1].ts:
                    continue
                out.append(bar)
            if newest + tf <= cursor:  # the exchange ignored `since`: stop rather than loop
                break
            cursor = newest + tf
        return out

    def _bar(self, row: Any) -> Bar:
        try:
            ts = int(row[0]) * NS_PER_MS
            o, h, low, c = (float(x) for x in row[1:5])
            v = float(row[5]) if len(row) > 5 and row[5] is not None else 0.0
        except (TypeError, ValueError, IndexError) as exc:
            raise FeedError(
                f"{self.name}: unexpected candle {row!r} (want [ms, open, high, low, close, volume])"
            ) from exc
        bar = Bar(self.symbol, ts, o, h, low, c, v, self.timeframe)
        bar.validate()
        return bar

    async def _call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        ccxt = _ccxt()
        temporary = (ccxt.NetworkError, ccxt.ExchangeNotAvailable)
        attempt = 0
        while True:
            try:
                return await fn(*args)
            except temporary as exc:
                if attempt >= self.max_retries:
                    raise FeedError(
                        f"{self.name}: fetching candles still failed after {attempt + 1} attempts "
                        f"({type(exc).__name__}: {exc}); check the connection to the exchange and start again"
                    ) from exc
                wait = self.backoff * 2**attempt
                log.warning("%s: %s: %s; retrying in %.2f s", self.name, type(exc).__name__, exc, wait)
                await self._sleep(wait)
                attempt += 1
            except ccxt.BaseError as exc:
                raise FeedError(f"{self.name}: fetching candles failed: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------------------------------------ watch
    async def watch(self, after: int) -> AsyncIterator[list[Bar]]:
        tf = self.timeframe
        last = int(after)
        signal = _StreamSignal()
        streamer: asyncio.Task[None] | None = None
        if self.stream:
            streamer = asyncio.get_running_loop().create_task(self._stream(signal), name=f"stream {self.name}")
        try:
            while True:
                if streamer is not None and streamer.done():
                    streamer.result()  # re-raises what ended it; a clean end means: poll from now on
                    streamer = None
                if streamer is not None:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that comes as the
                    # stream's signal fires, and the runner, stopping, would wait for this generator forever
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_interval):
                            await signal.wait()
                else:
                    await self._sleep(self.poll_interval)
                newest, broken = signal.take()
                due = self.clock.now() >= last + 2 * tf  # by the clock, the bar after `last` has closed
                started = newest is not None and newest > last + tf  # a later candle has started on the stream
                if not (due or started or broken):
                    continue
                bars = await self.history(last + tf)
                if bars:
                    last = bars[-1].ts
                    yield bars
        finally:
            if streamer is not None:
                streamer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await streamer

    async def _stream(self, signal: _StreamSignal) -> None:
        """Wake the watch loop whenever the stream says something; reconnect after errors; after
        max_stream_failures errors in a row, end (the watch loop then polls REST)."""
        ccxt = _ccxt()
        failures = 0
        while True:
            try:
                rows = await self.exchange.watch_ohlcv(self.symbol, self.timeframe_text)
            except (ccxt.NetworkError, ccxt.ExchangeNotAvailable) as exc:
                failures += 1
                signal.broke()  # catch up over REST: bars may have closed while the connection was down
                if failures >= self.max_stream_failures:
                    log.warning(
                        "%s: the candle stream failed %d times in a row (%s: %s): polling REST every %.2f s instead",
                        self.name,
                        failures,
                        type(exc).__name__,
                        exc,
                        self.poll_interval,
                    )
                    return
                wait = self.backoff * 2 ** min(failures - 1, 6)
                log.warning(
                    "%s: the candle stream dropped (%s: %s); reconnecting in %.2f s, missed bars come over REST",
                    self.name,
                    type(exc).__name__,
                    exc,
                    wait,
                )
                await self._sleep(wait)
                continue
            failures = 0
            newest = max((int(r[0]) for r in rows), default=None) if rows else None
            signal.saw(None if newest is None else newest * NS_PER_MS)

    async def close(self) -> None:
        return None


class _StreamSignal:
    """What the stream task tells the watch loop: the newest candle open time seen, and whether it broke."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._newest: int | None = None
        self._broken = False

    def saw(self, newest: int | None) -> None:
        if newest is not None and (self._newest is None or newest > self._newest):
            self._newest = newest
        self._event.set()

    def broke(self) -> None:
        self._broken = True
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()

    def take(self) -> tuple[int | None, bool]:
        self._event.clear()
        broken, self._broken = self._broken, False
        return self._newest, broken


# ----------------------------------------------------------------------------------------------------- replay
class ReplayFeed:
    """Known bars served as a live feed would serve them, for tests and rehearsals.

    history() gives the bars that have closed by the clock. watch() yields, every `interval` seconds, the bars that
    have closed since the last batch (auto=True), and whatever was handed to push() as a stream would deliver it:
    duplicates, gaps and all. With `end_ts`, watch() ends once the clock has passed that time and every bar up to
    it was yielded (a feed that runs out of data); otherwise it goes on until cancelled.
    """

    def __init__(
        self,
        bars: BarSeries,
        clock: Clock,
        *,
        interval: float = 0.002,
        auto: bool = True,
        end_ts: int | None = None,
    ) -> None:
        if interval <= 0:
            raise ConfigError(f"interval must be > 0 seconds, got {interval!r}")
        self.series = bars
        self.bars = bars_of(bars)
        self.symbol = bars.symbol
        self.timeframe = bars.timeframe
        self.clock = clock
        self.interval = interval
        self.auto = auto
        self.end_ts = end_ts
        self.history_calls: list[tuple[int, int | None]] = []
        self._pushed: list[list[Bar]] = []

    def push(self, bars: Sequence[Bar]) -> None:
        """Deliver these bars on the stream next (as is: no check that they have closed)."""
        self._pushed.append(list(bars))

    def _closed(self, since: int, until: int | None) -> list[Bar]:
        now = self.clock.now()
        tf = self.timeframe
        return [b for b in self.bars if b.ts >= since and (until is None or b.ts < until) and b.ts + tf <= now]

    async def history(self, since: int, until: int | None = None) -> list[Bar]:
        self.history_calls.append((since, until))
        return self._closed(since, until)

    async def watch(self, after: int) -> AsyncIterator[list[Bar]]:
        last = int(after)
        while True:
            while self._pushed:
                batch = self._pushed.pop(0)
                if batch:
                    last = max(last, batch[-1].ts)
                    yield batch
            if self.auto:
                fresh = self._closed(last + 1, None)
                if fresh:
                    last = fresh[-1].ts
                    yield fresh
            ended = self.end_ts is not None and not self._pushed and self.clock.now() >= self.end_ts
            if ended and (not self.auto or not self._closed(last + 1, None)):
                return
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        return None


def describe_bars(bars: Sequence[Bar]) -> str:
    """'3 bars 2024-01-01T00:00:00Z .. 2024-01-01T00:02:00Z' for log lines."""
    if not bars:
        return "no bars"
    return f"{len(bars)} bar{'s' if len(bars) != 1 else ''} {iso(bars[0].ts)} .. {iso(bars[-1].ts)}"

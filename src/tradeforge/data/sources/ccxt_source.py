"""Bars from any exchange ccxt supports: paginated fetch_ohlcv, complete bars only, retries, clear errors.

ccxt is imported lazily, so the rest of tradeforge works without it installed.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.sources.base import BadSymbolError, DataSourceError, Progress, TemporaryDataSourceError

NS_PER_MS = 1_000_000
DEFAULT_LIMIT = 500
"""Candles per request when ccxt does not say what the exchange allows."""

T = TypeVar("T")
Row = tuple[int, float, float, float, float, float]


def _ccxt() -> Any:
    try:
        import ccxt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("the ccxt data source needs the ccxt package: pip install ccxt") from exc
    return ccxt


def _wall_clock_ns() -> int:
    return time.time_ns()


def _close(word: str, options: list[str] | Any, n: int = 5) -> list[str]:
    return difflib.get_close_matches(word, [str(o) for o in options], n=n, cutoff=0.5)


def _hint(matches: list[str]) -> str:
    return f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


def make_exchange(exchange_id: str, config: dict[str, Any] | None = None) -> Any:
    """The ccxt exchange object for an id such as 'binance' (rate limiting on). Unknown id -> ConfigError."""
    ccxt = _ccxt()
    if exchange_id not in ccxt.exchanges:
        raise ConfigError(
            f"ccxt does not know the exchange {exchange_id!r}{_hint(_close(exchange_id.lower(), ccxt.exchanges))} "
            f"(ccxt {ccxt.__version__} supports {len(ccxt.exchanges)} exchanges, listed in ccxt.exchanges)"
        )
    return getattr(ccxt, exchange_id)({"enableRateLimit": True, **(config or {})})


class CcxtSource:
    """A `BarSource` over one ccxt exchange.

    ``fetch(symbol, timeframe, since, until)`` returns the complete bars with ``since <= ts < until`` (ns UTC;
    until defaults to now), downloading page by page with the exchange's own candle limit. A bar is complete once
    its close time (open + time frame) is not after ``now()``; the still-open last candle is dropped. Network,
    timeout, rate-limit and availability errors are retried ``max_retries`` times with exponential backoff
    (``backoff * 2**attempt`` seconds), then raise TemporaryDataSourceError carrying the bars fetched so far in
    ``.partial``. To resume after the last stored bar, pass ``since=last_ts + 1``. An empty page is followed
    by a look at the next window of ``limit`` bars (exchanges that page by time window answer a trading halt
    with empty pages); after ``max_empty_pages`` empty pages in a row the download ends there.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        exchange: Any = None,
        max_retries: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], int] = _wall_clock_ns,
        limit: int | None = None,
        config: dict[str, Any] | None = None,
        max_empty_pages: int = 100,
    ) -> None:
        if max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {max_retries}")
        if backoff < 0:
            raise ConfigError(f"backoff must be 0 or more seconds, got {backoff}")
        if max_empty_pages < 0:
            raise ConfigError(f"max_empty_pages must be 0 or more, got {max_empty_pages}")
        if limit is not None and limit <= 0:
            raise ConfigError(f"limit must be a positive number of candles per request, got {limit}")
        self.exchange = make_exchange(exchange_id, config) if exchange is None else exchange
        self.name = str(getattr(self.exchange, "id", exchange_id))
        self.max_retries = max_retries
        self.backoff = backoff
        self._sleep = sleep
        self._now = now
        self._limit = limit
        self.max_empty_pages = max_empty_pages

    def __repr__(self) -> str:
        return f"CcxtSource({self.name!r})"

    # -- the interface -------------------------------------------------------------------------------------------

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        since: int,
        until: int | None = None,
        *,
        progress: Progress | None = None,
    ) -> BarSeries:
        """All complete bars with ``since <= ts < until`` as one BarSeries (DataError if there are none)."""
        pages: list[BarSeries] = []
        count = 0
        try:
            for page in self.pages(symbol, timeframe, since, until):
                pages.append(page)
                count += len(page)
                if progress is not None:
                    progress(count, int(page.ts[-1]))
        except DataSourceError as exc:
            if pages and exc.partial is None:
                exc.partial = _concat(pages)
            raise
        if not pages:
            end = "now" if until is None else iso(until)
            raise DataError(f"{self.name}: no complete {timeframe} bars of {symbol} from {iso(since)} to {end}")
        return _concat(pages)

    def pages(self, symbol: str, timeframe: str, since: int, until: int | None = None) -> Iterator[BarSeries]:
        """The bars of `fetch`, one BarSeries per non-empty page, so a caller can store each as it arrives."""
        ex = self.exchange
        self._call(ex.load_markets, what="loading the markets")
        self._check_symbol(symbol)
        tf_ns = self._check_timeframe(timeframe)
        limit = self._page_limit(symbol)
        monthly = timeframe.endswith("M") or timeframe.endswith("y")
        now = int(self._now())
        end = now if until is None else min(int(until), now)
        cursor = int(since)
        last_ts: int | None = None
        empty = 0
        while cursor < end:
            since_ms = -(-cursor // NS_PER_MS)  # ceil: never ask for a candle before `cursor`
            raw = self._call(ex.fetch_ohlcv, symbol, timeframe, since_ms, limit, what=f"fetching {symbol} {timeframe}")
            if not raw:
                # exchanges that page by time window (kucoin, gate, ...) answer a window inside a trading halt
                # with nothing: look at the next window, up to max_empty_pages empty ones in a row
                empty += 1
                if monthly or empty > self.max_empty_pages:
                    return
                cursor += limit * tf_ns
                continue
            empty = 0
            rows = sorted((_row(r, self.name) for r in raw), key=lambda r: r[0])
            newest = rows[-1][0]
            keep = [
                r
                for r in rows
                if r[0] >= cursor and r[0] < end and r[0] + tf_ns <= now and (last_ts is None or r[0] > last_ts)
            ]
            keep = _dedupe(keep)
            if keep:
                last_ts = keep[-1][0]
                yield _series(symbol, tf_ns, keep)
            step = NS_PER_MS if monthly else tf_ns
            following = newest + step
            if following <= cursor:  # the exchange ignored `since`: stop rather than loop forever
                return
            cursor = following

    # -- helpers -------------------------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any, what: str) -> T:
        ccxt = _ccxt()
        retryable = (
            ccxt.NetworkError,
            ccxt.RequestTimeout,
            ccxt.DDoSProtection,
            ccxt.RateLimitExceeded,
            ccxt.ExchangeNotAvailable,
        )
        attempt = 0
        while True:
            try:
                return fn(*args)
            except retryable as exc:
                if attempt >= self.max_retries:
                    raise TemporaryDataSourceError(
                        f"{self.name}: {what} still failed after {attempt + 1} attempts "
                        f"({type(exc).__name__}: {exc}); try again later"
                    ) from exc
                self._sleep(self.backoff * 2**attempt)
                attempt += 1
            except ccxt.BadSymbol as exc:
                symbol = str(args[0]) if args else "?"
                raise self._bad_symbol(symbol, f"the exchange refused it: {exc}") from exc
            except ccxt.BaseError as exc:
                raise DataSourceError(f"{self.name}: {what} failed: {type(exc).__name__}: {exc}") from exc

    def _bad_symbol(self, symbol: str, why: str) -> BadSymbolError:
        known = list(getattr(self.exchange, "symbols", None) or [])
        matches = _close(symbol, known) or _close(symbol.upper(), known)
        return BadSymbolError(
            f"{self.name}: unknown symbol {symbol!r} ({why}){_hint(matches)}", symbol=symbol, suggestions=matches
        )

    def _check_symbol(self, symbol: str) -> None:
        markets = getattr(self.exchange, "markets", None) or {}
        if symbol not in markets:
            raise self._bad_symbol(symbol, f"not among the {len(markets)} markets of {self.name}")

    def _check_timeframe(self, timeframe: str) -> int:
        ex = self.exchange
        if not ex.has.get("fetchOHLCV"):
            raise ConfigError(f"{self.name} does not provide candles (ccxt has no fetchOHLCV for it)")
        frames = ex.timeframes or {}
        if frames and timeframe not in frames:
            raise ConfigError(
                f"{self.name} does not support the time frame {timeframe!r}; it supports {', '.join(frames)}"
            )
        try:
            seconds = ex.parse_timeframe(timeframe)
        except Exception as exc:  # ccxt raises NotSupported or a bare Exception depending on the unit
            raise ConfigError(f"cannot read time frame {timeframe!r}: {exc}") from exc
        return round(float(seconds) * 1_000_000_000)

    def _page_limit(self, symbol: str) -> int:
        if self._limit is not None:
            return self._limit
        market = self.exchange.markets.get(symbol) or {}
        features = getattr(self.exchange, "features", None) or {}
        kind = market.get("type") or "spot"
        section = features.get(kind) or {}
        if kind in ("swap", "future") and isinstance(section, dict):
            section = section.get(market.get("subType") or "linear") or {}
        limit = ((section or {}).get("fetchOHLCV") or {}).get("limit")
        return int(limit) if isinstance(limit, int | float) and limit > 0 else DEFAULT_LIMIT


def _row(raw: Any, source: str) -> Row:
    try:
        ts = int(raw[0]) * NS_PER_MS
        o, h, low, c = (float(x) for x in raw[1:5])
        v = float(raw[5]) if len(raw) > 5 and raw[5] is not None else 0.0
    except (TypeError, ValueError, IndexError) as exc:
        raise DataSourceError(
            f"{source}: unexpected candle {raw!r} (want [ms, open, high, low, close, volume])"
        ) from exc
    return ts, o, h, low, c, v


def _dedupe(rows: list[Row]) -> list[Row]:
    out: list[Row] = []
    for r in rows:
        if not out or r[0] > out[-1][0]:
            out.append(r)
    return out


def _series(symbol: str, tf_ns: int, rows: list[Row]) -> BarSeries:
    cols = list(zip(*rows, strict=True))
    return BarSeries.from_arrays(symbol, tf_ns, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5])


def _concat(pages: list[BarSeries]) -> BarSeries:
    if len(pages) == 1:
        return pages[0]
    first = pages[0]
    return BarSeries.from_arrays(
        first.symbol,
        first.timeframe,
        np.concatenate([p.ts for p in pages]),
        np.concatenate([p.open for p in pages]),
        np.concatenate([p.high for p in pages]),
        np.concatenate([p.low for p in pages]),
        np.concatenate([p.close for p in pages]),
        np.concatenate([p.volume for p in pages]),
    )

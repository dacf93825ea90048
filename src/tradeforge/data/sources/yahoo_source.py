"""Bars from Yahoo Finance through the yfinance library: daily and intraday, adjusted or raw, exchange time zone kept.

yfinance is imported lazily, so the rest of tradeforge works without it installed.

Daily and weekly bars are labelled by the exchange's session day: a 1d bar's ts is that day's midnight in the
exchange's time zone, converted to ns UTC (e.g. 2024-01-02 for a New York stock -> 2024-01-02T05:00:00Z). The
exchange time zone of the last fetch is kept in ``last_timezone`` and per symbol in ``symbol_timezone(symbol)``.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.sources.base import BadSymbolError, DataSourceError, Progress, TemporaryDataSourceError

NS_PER_S = 1_000_000_000
DAY_NS = 86_400 * NS_PER_S

INTERVALS: dict[str, tuple[str, int]] = {
    "1m": ("1m", 60 * NS_PER_S),
    "5m": ("5m", 300 * NS_PER_S),
    "15m": ("15m", 900 * NS_PER_S),
    "30m": ("30m", 1800 * NS_PER_S),
    "1h": ("1h", 3600 * NS_PER_S),
    "1d": ("1d", DAY_NS),
    "1w": ("1wk", 7 * DAY_NS),
}
"""tradeforge time frame -> (Yahoo interval, bar length in ns)."""

LOOKBACK_DAYS = {"1m": 30, "5m": 60, "15m": 60, "30m": 60, "1h": 730}
"""How far back Yahoo serves each intraday time frame."""
WINDOW_DAYS = {"1m": 7, "5m": 59, "15m": 59, "30m": 59, "1h": 365}
"""The longest span Yahoo serves in one intraday request; longer ranges are fetched window by window."""

_config_lock = threading.Lock()


def _yf() -> Any:
    try:
        import yfinance
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("the Yahoo data source needs the yfinance package: pip install yfinance") from exc
    return yfinance


class YahooSource:
    """A `BarSource` over Yahoo Finance (through yfinance's own request and parsing code).

    ``fetch(symbol, timeframe, since, until)`` returns the complete bars with ``since <= ts < until`` (ns UTC).
    Time frames: 1m, 5m, 15m, 30m, 1h, 1d, 1w; intraday ones only within Yahoo's history limits (1m: 30 days,
    5m-30m: 60 days, 1h: 730 days), else ConfigError. ``adjusted`` scales OHLC by Yahoo's adjusted close
    (splits and dividends). Rows with NaN prices (Yahoo's holiday rows) are dropped with a warning. Rate limits
    (HTTP 429), server errors and network timeouts are retried ``max_retries`` times with ``backoff * 2**attempt``
    seconds between tries, then raise TemporaryDataSourceError; an unknown symbol raises BadSymbolError.
    ``session`` is handed to yfinance (a curl_cffi or requests Session; yfinance makes its own when None).
    """

    name = "yahoo"

    def __init__(
        self,
        *,
        adjusted: bool = True,
        session: Any = None,
        max_retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], int] = time.time_ns,
        timeout: float = 10.0,
    ) -> None:
        if max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {max_retries}")
        if backoff < 0:
            raise ConfigError(f"backoff must be 0 or more seconds, got {backoff}")
        self.adjusted = adjusted
        self.session = session
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self._sleep = sleep
        self._now = now
        self._timezones: dict[str, str] = {}
        self.last_timezone: str | None = None
        """The exchange time zone (IANA name) of the symbol of the last successful fetch."""
        self.last_dropped = 0
        """How many NaN rows the last fetch dropped."""

    def __repr__(self) -> str:
        return f"YahooSource(adjusted={self.adjusted})"

    def symbol_timezone(self, symbol: str) -> str | None:
        """The exchange time zone Yahoo reported for `symbol` on a previous fetch (None before any)."""
        return self._timezones.get(symbol)

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
        interval, tf_ns = self._check_timeframe(timeframe)
        now = int(self._now())
        end = now if until is None else min(int(until), now)
        since = int(since)
        self._check_history_limit(timeframe, since, now)
        window = WINDOW_DAYS.get(timeframe, 0) * DAY_NS or max(end - since, 1)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        dropped = 0
        count = 0
        start = since
        while start < end:
            stop = min(start + window, end)
            try:
                ts, ohlcv, nan_rows = self._fetch_window(symbol, interval, start, stop)
            except DataSourceError as exc:
                if parts and exc.partial is None:
                    exc.partial = _series(symbol, tf_ns, parts)
                raise
            dropped += nan_rows
            keep = (ts >= start) & (ts < stop) & (ts + tf_ns <= now)
            if parts:
                keep &= ts > parts[-1][0][-1]
            if keep.any():
                parts.append((ts[keep], ohlcv[keep]))
                count += int(keep.sum())
                if progress is not None:
                    progress(count, int(parts[-1][0][-1]))
            start = stop
        self.last_dropped = dropped
        if dropped:
            warnings.warn(
                f"{self.name}: dropped {dropped} {timeframe} rows of {symbol} with missing (NaN) prices "
                "(Yahoo returns such rows for holidays and halts)",
                stacklevel=2,
            )
        if not parts:
            raise DataError(f"{self.name}: no complete {timeframe} bars of {symbol} from {iso(since)} to {iso(end)}")
        return _series(symbol, tf_ns, parts)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _check_timeframe(self, timeframe: str) -> tuple[str, int]:
        if timeframe not in INTERVALS:
            raise ConfigError(
                f"{self.name} does not support the time frame {timeframe!r}; it supports {', '.join(INTERVALS)}"
            )
        return INTERVALS[timeframe]

    def _check_history_limit(self, timeframe: str, since: int, now: int) -> None:
        days = LOOKBACK_DAYS.get(timeframe)
        if days is not None and since < now - days * DAY_NS:
            raise ConfigError(
                f"{self.name}: Yahoo serves {timeframe} bars only for the last {days} days; {iso(since)} is earlier "
                f"(the earliest allowed is {iso(now - days * DAY_NS)}); use a longer time frame for older history"
            )

    def _fetch_window(self, symbol: str, interval: str, start: int, stop: int) -> tuple[Any, Any, int]:
        """(ts ns UTC, [n, 5] OHLCV, NaN rows dropped) for one request window, retried on temporary failures."""
        attempt = 0
        while True:
            try:
                df, tz = self._history(symbol, interval, start, stop)
                break
            except _Temporary as exc:
                if attempt >= self.max_retries:
                    raise TemporaryDataSourceError(
                        f"{self.name}: fetching {symbol} {interval} still failed after {attempt + 1} attempts "
                        f"({exc}); try again later"
                    ) from exc.__cause__
                self._sleep(self.backoff * 2**attempt)
                attempt += 1
        self._timezones[symbol] = tz
        self.last_timezone = tz
        if df.empty:
            return np.empty(0, dtype=np.int64), np.empty((0, 5)), 0
        ohlcv = df[["Open", "High", "Low", "Close", "Volume"]].to_numpy(dtype=np.float64)
        ts = df.index.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)
        nan = np.isnan(ohlcv[:, :4]).any(axis=1)
        order = np.argsort(ts[~nan], kind="stable")
        return ts[~nan][order], ohlcv[~nan][order], int(nan.sum())

    def _history(self, symbol: str, interval: str, start: int, stop: int) -> tuple[Any, str]:
        yf = _yf()
        import pandas as pd

        ticker = yf.Ticker(symbol, session=self.session)
        with _config_lock:  # yfinance swallows errors into logs unless told otherwise; its config is global
            saved = yf.config.debug.hide_exceptions
            yf.config.debug.hide_exceptions = False
            try:
                df = ticker.history(
                    start=pd.Timestamp(start // NS_PER_S, unit="s", tz="UTC"),
                    end=pd.Timestamp(-(-stop // NS_PER_S), unit="s", tz="UTC"),
                    interval=interval,
                    auto_adjust=self.adjusted,
                    actions=False,
                    keepna=True,
                    repair=False,
                    prepost=False,
                    timeout=self.timeout,
                )
            except Exception as exc:
                raise self._translate(symbol, exc) from exc
            finally:
                yf.config.debug.hide_exceptions = saved
        meta = ticker.history_metadata or {}
        tz = str(meta.get("exchangeTimezoneName") or getattr(df.index, "tz", None) or "UTC")
        return df, tz

    def _translate(self, symbol: str, exc: Exception) -> Exception:
        yf = _yf()
        exceptions = yf.exceptions
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, exceptions.YFRateLimitError):
            return _Temporary(f"rate limited: {text}")
        if isinstance(exc, exceptions.YFTzMissingError | exceptions.YFPricesMissingError):
            reason = str(exc).lower()
            if isinstance(exc, exceptions.YFTzMissingError) or "delisted" in reason or "not found" in reason:
                return BadSymbolError(f"{self.name}: unknown symbol {symbol!r} ({exc})", symbol=symbol)
            return DataSourceError(f"{self.name}: {text}")
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:  # yfinance's fallback lookups (quoteSummary) answer 404 for a symbol Yahoo lacks
            return BadSymbolError(f"{self.name}: unknown symbol {symbol!r} (Yahoo answered 404: {exc})", symbol=symbol)
        if status == 429 or (isinstance(status, int) and status >= 500):
            return _Temporary(f"HTTP {status}: {text}")
        if isinstance(exc, json.JSONDecodeError | exceptions.YFDataException):
            # Yahoo answers 5xx and maintenance pages with HTML, not chart JSON
            return _Temporary(f"Yahoo did not answer with chart data (server error or maintenance): {text}")
        if _is_network_error(exc):
            return _Temporary(f"network error: {text}")
        return DataSourceError(f"{self.name}: fetching {symbol} failed: {text}")


class _Temporary(Exception):
    """A failure worth retrying (internal)."""


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"Timeout", "ConnectTimeout", "ReadTimeout", "ConnectionError", "ChunkedEncodingError"})


def _series(symbol: str, tf_ns: int, parts: list[tuple[Any, Any]]) -> BarSeries:
    ts = np.concatenate([p[0] for p in parts])
    v = np.concatenate([p[1] for p in parts])
    return BarSeries.from_arrays(symbol, tf_ns, ts, v[:, 0], v[:, 1], v[:, 2], v[:, 3], v[:, 4])

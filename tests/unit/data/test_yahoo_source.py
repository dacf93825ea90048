"""YahooSource against yfinance's real request, cookie/crumb and parsing code, served offline on 127.0.0.1.

What is real: yfinance (Ticker.history, its YfData cookie/crumb handshake and cookie-strategy fallback, its chart
parsing, time-zone handling and auto_adjust) and HTTP over a real socket. What is faked: Yahoo itself, by a tiny
HTTP server on 127.0.0.1 serving hand-written v8 chart JSON (and the crumb endpoints). yfinance hard-codes
``https://query1/query2.finance.yahoo.com``, ``https://fc.yahoo.com`` and ``https://guce.yahoo.com`` URLs, so the
test hands it a ``requests.Session`` (a session type yfinance supports) whose ``request`` rewrites those Yahoo hosts
to ``http://127.0.0.1:<port>`` and refuses any other host; ``socket.connect`` is also patched to refuse every
non-local address. yfinance's on-disk tz/cookie caches are replaced by in-memory dummies and its YfData singleton is
reset per test, so no state leaks between tests or to the user's cache directory.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import numpy as np
import pytest

yf = pytest.importorskip("yfinance")
import requests  # noqa: E402  (a yfinance dependency)

from tradeforge.core.errors import ConfigError  # noqa: E402
from tradeforge.data.sources import BadSymbolError, BarSource, TemporaryDataSourceError  # noqa: E402
from tradeforge.data.sources.yahoo_source import YahooSource  # noqa: E402

S = 1_000_000_000
DAY = 86_400
JAN2_OPEN = 1_704_205_800  # 2024-01-02T14:30:00Z = 09:30 New York
JAN2_NY_MIDNIGHT = 1_704_171_600  # 2024-01-02T05:00:00Z = 00:00 New York
JAN1 = 1_704_067_200  # 2024-01-01T00:00:00Z
YAHOO_HOSTS = {"query1.finance.yahoo.com", "query2.finance.yahoo.com", "fc.yahoo.com", "guce.yahoo.com"}
CRUMB = "fixedCrumb123"


@dataclass
class Chart:
    """One symbol's bars as Yahoo serves them (None = NaN, as on holidays)."""

    granularity: str
    timestamps: list[int]
    open: list[float | None]
    high: list[float | None]
    low: list[float | None]
    close: list[float | None]
    volume: list[int | None]
    adjclose: list[float | None]
    trading_periods: list[list[dict[str, Any]]] | None = None

    def payload(self, symbol: str, query: dict[str, str]) -> dict[str, Any]:
        lo, hi = int(query.get("period1", 0)), int(query.get("period2", 2**40))
        keep = [i for i, t in enumerate(self.timestamps) if lo <= t < hi]

        def pick(col: list[Any]) -> list[Any]:
            return [col[i] for i in keep]

        meta: dict[str, Any] = {
            "currency": "USD",
            "symbol": symbol,
            "exchangeName": "NMS",
            "instrumentType": "EQUITY",
            "firstTradeDate": 345479400,
            "regularMarketTime": JAN2_OPEN,
            "gmtoffset": -18000,
            "timezone": "EST",
            "exchangeTimezoneName": "America/New_York",
            "priceHint": 2,
            "dataGranularity": self.granularity,
            "range": "",
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        }
        if self.trading_periods is not None:
            meta["tradingPeriods"] = self.trading_periods
        indicators: dict[str, Any] = {
            "quote": [
                {
                    "open": pick(self.open),
                    "high": pick(self.high),
                    "low": pick(self.low),
                    "close": pick(self.close),
                    "volume": pick(self.volume),
                }
            ]
        }
        if self.granularity in ("1d", "1wk"):
            indicators["adjclose"] = [{"adjclose": pick(self.adjclose)}]
        return {
            "chart": {
                "result": [{"meta": meta, "timestamp": pick(self.timestamps), "indicators": indicators}],
                "error": None,
            }
        }


def daily_chart() -> Chart:
    """Jan 2-8 2024, five sessions; Jan 4 is a NaN row. adjclose = close / 2, so adjusted prices are exact halves."""
    ts = [JAN2_OPEN + d * DAY for d in (0, 1, 2, 3, 6)]
    o = [100.0, 101.0, None, 103.0, 104.0]
    c = [101.0, 102.0, None, 104.0, 105.0]
    return Chart(
        "1d",
        ts,
        o,
        [None if x is None else x + 2 for x in o],
        [None if x is None else x - 1 for x in o],
        c,
        [1000, 2000, None, 4000, 5000],
        [None if x is None else x / 2 for x in c],
    )


def intraday_chart() -> Chart:
    """Four 5m bars from 2024-01-02 09:30 New York, inside the regular session."""
    ts = [JAN2_OPEN + 300 * i for i in range(4)]
    o: list[float | None] = [150.0, 150.5, 151.0, 151.5]
    session = [{"timezone": "EST", "start": JAN2_OPEN, "end": JAN2_OPEN + 23_400, "gmtoffset": -18000}]
    return Chart(
        "5m",
        ts,
        o,
        [x + 1 for x in o if x is not None],
        [x - 0.5 for x in o if x is not None],
        [x + 0.25 for x in o if x is not None],
        [10, 20, 30, 40],
        [x + 0.25 for x in o if x is not None],
        trading_periods=[session],
    )


# -- the fake Yahoo ------------------------------------------------------------------------------------------------


@dataclass
class FakeYahoo:
    charts: dict[str, Chart]
    failures: dict[int, tuple[int, str]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    chart_requests: int = 0
    port: int = 0

    def handle(self, host: str, path: str, query: dict[str, str]) -> tuple[int, str, str]:
        self.log.append(f"{host}{path}?{'&'.join(f'{k}={v}' for k, v in sorted(query.items()))}")
        if path == "/v1/test/getcrumb":
            return 200, "text/plain", CRUMB
        if path.startswith("/v8/finance/chart/"):
            self.chart_requests += 1
            if self.chart_requests in self.failures:
                status, body = self.failures[self.chart_requests]
                return status, "text/html", body
            symbol = path.rsplit("/", 1)[1]
            chart = self.charts.get(symbol)
            if chart is None:
                error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
                return 404, "application/json", json.dumps({"chart": {"result": None, "error": error}})
            return 200, "application/json", json.dumps(chart.payload(symbol, query))
        if host == "fc.yahoo.com":
            return 404, "text/html", "<html>cookie set</html>"
        if path.startswith("/v10/finance/quoteSummary/"):  # yfinance looks here for the time zone of a failed chart
            symbol = path.rsplit("/", 1)[1]
            error = {"code": "Not Found", "description": f"Quote not found for symbol: {symbol}"}
            return 404, "application/json", json.dumps({"quoteSummary": {"result": None, "error": error}})
        return 404, "application/json", json.dumps({"finance": {"result": None, "error": {"code": "Not Found"}}})


class LocalYahooSession(requests.Session):
    """A requests Session that sends yfinance's https://*.yahoo.com requests to the fake server instead."""

    def __init__(self, fake: FakeYahoo) -> None:
        super().__init__()
        self.trust_env = False  # ignore proxy settings from the environment
        self.fake = fake

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        if parts.hostname not in YAHOO_HOSTS:
            raise AssertionError(f"unexpected request to {url}")
        local = urlunsplit(("http", f"127.0.0.1:{self.fake.port}", parts.path or "/", parts.query, ""))
        headers = dict(kwargs.pop("headers", None) or {})
        headers["X-Yahoo-Host"] = parts.hostname
        kwargs.setdefault("timeout", 2)
        kwargs["headers"] = headers
        return super().request(method, local, *args, **kwargs)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYahoo]:
    state = FakeYahoo(charts={"AAPL": daily_chart()})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            status, ctype, body = state.handle(self.headers.get("X-Yahoo-Host", "?"), parts.path, query)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    real_connect = socket.socket.connect

    def local_only(sock: socket.socket, address: Any) -> Any:
        if not (isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1", "localhost")):
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)

    class NoCookieCache:
        def lookup(self, key: str) -> None:
            return None

        def store(self, key: str, value: Any) -> None:
            pass

    monkeypatch.setattr(yf.cache, "get_tz_cache", lambda: NoCookieCache())
    monkeypatch.setattr(yf.cache, "get_cookie_cache", lambda: NoCookieCache())
    monkeypatch.setattr(yf.data.SingletonMeta, "_instances", {})
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def make_source(fake: FakeYahoo, now_s: int, **kwargs: Any) -> tuple[YahooSource, list[float]]:
    sleeps: list[float] = []
    source = YahooSource(session=LocalYahooSession(fake), sleep=sleeps.append, now=lambda: now_s * S, **kwargs)
    return source, sleeps


NOW_DAILY = JAN1 + 9 * DAY  # 2024-01-10T00:00Z


# -- tests -----------------------------------------------------------------------------------------------------------


def test_daily_bars_are_labelled_by_the_exchange_session_day_in_utc(fake: FakeYahoo) -> None:
    source, _ = make_source(fake, NOW_DAILY, adjusted=False)
    assert isinstance(source, BarSource)
    with pytest.warns(UserWarning, match="dropped 1 1d rows of AAPL with missing"):
        bars = source.fetch("AAPL", "1d", JAN1 * S)
    assert bars.symbol == "AAPL"
    assert bars.timeframe == DAY * S
    assert bars.ts.tolist() == [(JAN2_NY_MIDNIGHT + d * DAY) * S for d in (0, 1, 3, 6)]
    assert bars.open.tolist() == [100.0, 101.0, 103.0, 104.0]
    assert bars.high.tolist() == [102.0, 103.0, 105.0, 106.0]
    assert bars.low.tolist() == [99.0, 100.0, 102.0, 103.0]
    assert bars.close.tolist() == [101.0, 102.0, 104.0, 105.0]
    assert bars.volume.tolist() == [1000.0, 2000.0, 4000.0, 5000.0]
    assert source.last_timezone == "America/New_York"
    assert source.symbol_timezone("AAPL") == "America/New_York"
    assert source.last_dropped == 1
    # the chart request carried yfinance's own range parameters and the crumb from the handshake
    chart = [line for line in fake.log if "/v8/finance/chart/AAPL" in line and "period1" in line]
    assert chart and f"period1={JAN1}" in chart[0] and f"period2={NOW_DAILY}" in chart[0]
    assert f"crumb={CRUMB}" in chart[0] and "interval=1d" in chart[0]
    assert {line.split("/", 1)[0] for line in fake.log} <= YAHOO_HOSTS


def test_adjusted_prices_are_scaled_by_adjclose(fake: FakeYahoo) -> None:
    source, _ = make_source(fake, NOW_DAILY)  # adjusted=True is the default
    with pytest.warns(UserWarning, match="dropped 1"):
        bars = source.fetch("AAPL", "1d", JAN1 * S)
    assert bars.open.tolist() == [50.0, 50.5, 51.5, 52.0]
    assert bars.high.tolist() == [51.0, 51.5, 52.5, 53.0]
    assert bars.low.tolist() == [49.5, 50.0, 51.0, 51.5]
    assert bars.close.tolist() == [50.5, 51.0, 52.0, 52.5]
    assert bars.volume.tolist() == [1000.0, 2000.0, 4000.0, 5000.0]


def test_until_and_incomplete_bars_are_cut(fake: FakeYahoo) -> None:
    # now = Jan 8 12:00Z: the Jan 8 bar (05:00Z + 1 day) is not complete yet; until excludes nothing more
    source, _ = make_source(fake, JAN1 + 7 * DAY + DAY // 2, adjusted=False)
    with pytest.warns(UserWarning):
        bars = source.fetch("AAPL", "1d", JAN1 * S, until=(JAN2_NY_MIDNIGHT + 3 * DAY) * S)
    assert bars.ts.tolist() == [JAN2_NY_MIDNIGHT * S, (JAN2_NY_MIDNIGHT + DAY) * S]


def test_intraday_5m(fake: FakeYahoo) -> None:
    fake.charts["MSFT"] = intraday_chart()
    source, _ = make_source(fake, JAN2_OPEN + DAY)
    bars = source.fetch("MSFT", "5m", JAN2_OPEN * S)
    assert bars.timeframe == 300 * S
    assert bars.ts.tolist() == [(JAN2_OPEN + 300 * i) * S for i in range(4)]
    assert bars.open.tolist() == [150.0, 150.5, 151.0, 151.5]
    assert bars.close.tolist() == [150.25, 150.75, 151.25, 151.75]
    assert bars.volume.tolist() == [10.0, 20.0, 30.0, 40.0]
    assert source.symbol_timezone("MSFT") == "America/New_York"
    assert any("interval=5m" in line for line in fake.log)


def test_unknown_symbol_raises_bad_symbol(fake: FakeYahoo) -> None:
    source, sleeps = make_source(fake, NOW_DAILY)
    with pytest.raises(BadSymbolError) as info:
        source.fetch("NOSUCH", "1d", JAN1 * S)
    assert info.value.symbol == "NOSUCH"
    assert "NOSUCH" in str(info.value)
    assert sleeps == []


def test_rate_limit_is_retried_with_backoff(fake: FakeYahoo) -> None:
    fake.failures = {1: (429, "Too Many Requests"), 2: (429, "Too Many Requests")}
    source, sleeps = make_source(fake, NOW_DAILY, adjusted=False, backoff=0.25)
    with pytest.warns(UserWarning, match="dropped 1"):
        bars = source.fetch("AAPL", "1d", JAN1 * S)
    assert sleeps == [0.25]
    assert bars.close.tolist() == [101.0, 102.0, 104.0, 105.0]


def test_persistent_server_errors_raise_temporary_error(fake: FakeYahoo) -> None:
    fake.failures = {i: (503, "<html>Will be right back</html>") for i in range(1, 50)}
    source, sleeps = make_source(fake, NOW_DAILY, max_retries=2, backoff=0.5)
    with pytest.raises(TemporaryDataSourceError, match="after 3 attempts"):
        source.fetch("AAPL", "1d", JAN1 * S)
    assert sleeps == [0.5, 1.0]


def test_unsupported_timeframe_lists_the_supported_ones(fake: FakeYahoo) -> None:
    source, _ = make_source(fake, NOW_DAILY)
    with pytest.raises(ConfigError, match=r"'4h'.*1m, 5m, 15m, 30m, 1h, 1d, 1w"):
        source.fetch("AAPL", "4h", JAN1 * S)
    assert fake.log == []


def test_intraday_history_limit_is_a_clear_error(fake: FakeYahoo) -> None:
    source, _ = make_source(fake, NOW_DAILY)
    with pytest.raises(ConfigError, match="only for the last 30 days"):
        source.fetch("AAPL", "1m", (NOW_DAILY - 31 * DAY) * S)
    assert fake.log == []


def test_one_minute_ranges_are_fetched_in_windows(fake: FakeYahoo) -> None:
    minute = Chart("1m", [JAN2_OPEN + 60 * i for i in range(3)], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0],
                   [0.5, 1.5, 2.5], [1.5, 2.5, 3.5], [1, 2, 3], [1.5, 2.5, 3.5],
                   trading_periods=intraday_chart().trading_periods)  # fmt: skip
    fake.charts["IBM"] = minute
    source, _ = make_source(fake, JAN2_OPEN + 20 * DAY)
    bars = source.fetch("IBM", "1m", (JAN2_OPEN - 5 * DAY) * S)
    assert bars.ts.tolist() == [(JAN2_OPEN + 60 * i) * S for i in range(3)]
    windows = [line for line in fake.log if "/chart/IBM" in line and "period1" in line]
    assert len(windows) == 4  # 25 days in 7-day windows
    assert np.all(np.diff(bars.ts) == 60 * S)


def test_the_guard_refuses_non_local_connections(fake: FakeYahoo) -> None:
    with pytest.raises(AssertionError, match="tried to connect"):
        socket.create_connection(("192.0.2.1", 443), timeout=0.1)
    with pytest.raises(AssertionError, match="unexpected request"):
        LocalYahooSession(fake).get("https://example.com/")

"""CcxtSource against ccxt's real request/parse code, served offline by a tiny HTTP server on 127.0.0.1.

Each exchange's candle endpoint is emulated with its own wire format (binance klines, kucoin market/candles,
gate spot/candlesticks) and its own paging parameters; the exchange's `urls['api']` entries are rewritten from
`https://<host>` to `http://127.0.0.1:<port>/<exchange id>`. Markets come from `set_markets` (no load_markets
download). Nothing here can reach the internet: the only server listens on 127.0.0.1, proxies from the
environment are ignored and requests time out after 2 s.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

ccxt = pytest.importorskip("ccxt")

from tradeforge.core.errors import ConfigError, DataError, GatewayError  # noqa: E402
from tradeforge.data.sources import (  # noqa: E402
    BadSymbolError,
    BarSource,
    CcxtSource,
    DataSourceError,
    TemporaryDataSourceError,
)

HOUR_MS = 3_600_000
HOUR_NS = HOUR_MS * 1_000_000
T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def make_candles(n: int) -> list[tuple[int, float, float, float, float, float]]:
    """n hourly candles with distinct, exactly representable values: (ms, open, high, low, close, volume)."""
    out = []
    for i in range(n):
        o = 100.0 + i
        out.append((T0_MS + i * HOUR_MS, o, o + 2.5, o - 1.25, o + 0.5, 10.0 + 0.25 * i))
    return out


# -- the fake exchange -------------------------------------------------------------------------------------------


@dataclass
class Venue:
    """What the server serves: candles, and scripted failures keyed by candle-request number (1-based)."""

    exchange_id: str
    candles: list[tuple[int, float, float, float, float, float]]
    valid_ids: set[str]
    failures: dict[int, tuple[int, Any]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    candle_requests: int = 0

    def handle(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        self.log.append(path + "?" + "&".join(f"{k}={v}" for k, v in sorted(query.items())))
        route = EMULATORS[self.exchange_id]
        if not path.endswith(route.path):
            return 404, {"msg": f"no such endpoint {path}"}
        self.candle_requests += 1
        if self.candle_requests in self.failures:
            return self.failures[self.candle_requests]
        if query.get(route.symbol_param) not in self.valid_ids:
            return route.bad_symbol
        return 200, route.serve(self.candles, query)


@dataclass(frozen=True)
class Emulator:
    path: str
    symbol_param: str
    serve: Callable[[list[tuple[int, float, float, float, float, float]], dict[str, str]], Any]
    bad_symbol: tuple[int, Any]
    rate_limited: tuple[int, Any]
    server_error: tuple[int, Any]
    market_id: Callable[[str, str], str]


def _binance(candles: list[tuple[int, float, float, float, float, float]], q: dict[str, str]) -> Any:
    # GET /api/v3/klines?symbol&interval&limit&startTime: oldest first, at most `limit` (max 1000)
    limit = min(int(q.get("limit", 500)), 1000)
    start = int(q.get("startTime", 0))
    rows = [c for c in candles if c[0] >= start][:limit]
    return [
        [c[0], f"{c[1]}", f"{c[2]}", f"{c[3]}", f"{c[4]}", f"{c[5]}", c[0] + HOUR_MS - 1, "0", 7, "0", "0", "0"]
        for c in rows
    ]


def _kucoin(candles: list[tuple[int, float, float, float, float, float]], q: dict[str, str]) -> Any:
    # GET /api/v1/market/candles?symbol&type&startAt&endAt (seconds), startAt <= t < endAt, newest first:
    # [t, open, close, high, low, volume, turnover]
    start, end = int(q["startAt"]) * 1000, int(q["endAt"]) * 1000
    rows = [c for c in candles if start <= c[0] < end][:1500]
    data = [[str(c[0] // 1000), f"{c[1]}", f"{c[4]}", f"{c[2]}", f"{c[3]}", f"{c[5]}", "0"] for c in reversed(rows)]
    return {"code": "200000", "data": data}


def _gate(candles: list[tuple[int, float, float, float, float, float]], q: dict[str, str]) -> Any:
    # GET /api/v4/spot/candlesticks?currency_pair&interval&from&to (seconds, both inclusive): oldest first,
    # [t, quote volume, close, high, low, open, base volume, closed]
    start, end = int(q["from"]) * 1000, int(q["to"]) * 1000
    rows = [c for c in candles if start <= c[0] <= end][:1000]
    return [[str(c[0] // 1000), "0", f"{c[4]}", f"{c[2]}", f"{c[3]}", f"{c[1]}", f"{c[5]}", "true"] for c in rows]


EMULATORS = {
    "binance": Emulator(
        "/api/v3/klines",
        "symbol",
        _binance,
        (400, {"code": -1121, "msg": "Invalid symbol."}),
        (429, {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."}),
        (400, {"code": -1100, "msg": "Illegal characters found in parameter 'symbol'."}),
        lambda b, q: b + q,
    ),
    "kucoin": Emulator(
        "/api/v1/market/candles",
        "symbol",
        _kucoin,
        (400, {"code": "400100", "msg": "Unsupported trading pair."}),
        (429, {"code": "429000", "msg": "Too Many Requests"}),
        (400, {"code": "400001", "msg": "Please check the header of your request for KC-API-KEY"}),
        lambda b, q: f"{b}-{q}",
    ),
    "gate": Emulator(
        "/api/v4/spot/candlesticks",
        "currency_pair",
        _gate,
        (400, {"label": "INVALID_CURRENCY_PAIR", "message": "Invalid currency pair LUNA_USDT"}),
        (429, {"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded"}),
        (400, {"label": "INVALID_PARAM_VALUE", "message": "Invalid interval 1h for pair"}),
        lambda b, q: f"{b}_{q}",
    ),
}
EXCHANGES = list(EMULATORS)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        venue: Venue = self.server.venue  # type: ignore[attr-defined]
        status, body = venue.handle(parts.path, query)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _point_at(urls: Any, base: str) -> Any:
    if isinstance(urls, dict):
        return {k: _point_at(v, base) for k, v in urls.items()}
    if isinstance(urls, str):
        return re.sub(r"^https?://[^/]+", base, urls)
    return urls


def _market(exchange_id: str, base: str, quote: str) -> dict[str, Any]:
    return {
        "id": EMULATORS[exchange_id].market_id(base, quote),
        "symbol": f"{base}/{quote}",
        "base": base,
        "quote": quote,
        "baseId": base,
        "quoteId": quote,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "active": True,
    }


MARKETS = [("BTC", "USDT"), ("ETH", "USDT"), ("BTC", "USDC"), ("LUNA", "USDT")]


@dataclass
class Rig:
    venue: Venue
    exchange: Any
    sleeps: list[float]

    def source(self, *, now_ms: int, limit: int | None = 4, max_retries: int = 5) -> CcxtSource:
        return CcxtSource(
            self.exchange.id,
            exchange=self.exchange,
            max_retries=max_retries,
            backoff=0.5,
            sleep=self.sleeps.append,
            now=lambda: now_ms * 1_000_000,
            limit=limit,
        )


def rig(server: ThreadingHTTPServer, exchange_id: str, n: int) -> Rig:
    ex = getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": 2000})
    ex.session.trust_env = False  # never through a proxy from the environment
    port = server.server_address[1]
    ex.urls["api"] = _point_at(ex.urls["api"], f"http://127.0.0.1:{port}/{exchange_id}")
    ex.set_markets([_market(exchange_id, b, q) for b, q in MARKETS])
    # LUNA/USDT is listed in the markets but the server no longer knows it (delisted)
    valid = {EMULATORS[exchange_id].market_id(b, q) for b, q in MARKETS if b != "LUNA"}
    venue = Venue(exchange_id, make_candles(n), valid)
    server.venue = venue  # type: ignore[attr-defined]
    return Rig(venue, ex, [])


def assert_bars(series: Any, candles: list[tuple[int, float, float, float, float, float]]) -> None:
    expect = np.array(candles, dtype=np.float64)
    assert series.ts.dtype == np.int64
    assert series.ts.tolist() == [c[0] * 1_000_000 for c in candles]
    for j, col in enumerate(("open", "high", "low", "close", "volume"), start=1):
        assert getattr(series, col).tolist() == expect[:, j].tolist(), col
    assert series.timeframe == HOUR_NS


# -- tests -------------------------------------------------------------------------------------------------------


def test_unknown_exchange_lists_close_matches() -> None:
    with pytest.raises(ConfigError, match=r"'binanse'.*'binance'"):
        CcxtSource("binanse")


def test_satisfies_the_bar_source_protocol(server: ThreadingHTTPServer) -> None:
    r = rig(server, "binance", 1)
    assert isinstance(r.source(now_ms=T0_MS), BarSource)
    assert r.source(now_ms=T0_MS).name == "binance"


def test_page_limit_comes_from_ccxt_features(server: ThreadingHTTPServer) -> None:
    assert rig(server, "binance", 1).source(now_ms=T0_MS, limit=None)._page_limit("BTC/USDT") == 1000
    assert rig(server, "kucoin", 1).source(now_ms=T0_MS, limit=None)._page_limit("BTC/USDT") == 1500


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_paginates_and_stops_on_an_empty_page(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 10)
    seen: list[tuple[int, int]] = []
    now = T0_MS + 14 * HOUR_MS  # data ends at bar 9; the exchange has nothing after it
    bars = r.source(now_ms=now).fetch("BTC/USDT", "1h", T0_MS * 1_000_000, progress=lambda n, ts: seen.append((n, ts)))
    assert_bars(bars, r.venue.candles)
    assert r.venue.candle_requests == 4  # 4 + 4 + 2 bars, then an empty page
    assert [n for n, _ in seen] == [4, 8, 10]
    assert seen[-1][1] == (T0_MS + 9 * HOUR_MS) * 1_000_000
    assert all(exchange_id in line for line in r.venue.log)


def test_binance_requests_carry_since_and_limit(server: ThreadingHTTPServer) -> None:
    r = rig(server, "binance", 10)
    r.source(now_ms=T0_MS + 14 * HOUR_MS).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    starts = [T0_MS + k * HOUR_MS for k in (0, 4, 8, 10)]
    assert r.venue.log == [f"/binance/api/v3/klines?interval=1h&limit=4&startTime={s}&symbol=BTCUSDT" for s in starts]


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_drops_the_open_candle_and_stops_at_now(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 11)
    now = T0_MS + 10 * HOUR_MS + 30 * 60_000  # bar 10 opened 30 minutes ago: still open
    bars = r.source(now_ms=now).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert_bars(bars, r.venue.candles[:10])
    assert r.venue.candle_requests == 3  # no request for bars that cannot be complete yet


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_since_and_until_bound_the_bars(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 20)
    since = (T0_MS + 3 * HOUR_MS) * 1_000_000
    until = (T0_MS + 9 * HOUR_MS) * 1_000_000
    bars = r.source(now_ms=T0_MS + 40 * HOUR_MS).fetch("BTC/USDT", "1h", since, until)
    assert_bars(bars, r.venue.candles[3:9])
    assert r.venue.candle_requests == 2


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_rate_limit_is_retried_with_backoff(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 10)
    limited = EMULATORS[exchange_id].rate_limited
    r.venue.failures = {2: limited, 3: limited}
    bars = r.source(now_ms=T0_MS + 14 * HOUR_MS).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert_bars(bars, r.venue.candles)
    assert r.sleeps == [0.5, 1.0]
    assert r.venue.candle_requests == 6


def test_gives_up_after_max_retries_keeping_the_partial_download(server: ThreadingHTTPServer) -> None:
    r = rig(server, "binance", 10)
    limited = EMULATORS["binance"].rate_limited
    r.venue.failures = {k: limited for k in range(2, 10)}
    with pytest.raises(
        TemporaryDataSourceError, match=r"binance: .*after 4 attempts.*(DDoSProtection|RateLimitExceeded).*429"
    ) as info:
        r.source(now_ms=T0_MS + 14 * HOUR_MS, max_retries=3).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert isinstance(info.value, GatewayError)
    assert r.sleeps == [0.5, 1.0, 2.0]
    assert info.value.partial is not None
    assert_bars(info.value.partial, r.venue.candles[:4])


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_resume_after_an_interruption_has_no_duplicate_and_no_gap(
    server: ThreadingHTTPServer, exchange_id: str
) -> None:
    r = rig(server, exchange_id, 15)
    now = T0_MS + 20 * HOUR_MS
    r.venue.failures = {3: EMULATORS[exchange_id].server_error}  # fails on the third page
    stored = []
    source = r.source(now_ms=now)
    with pytest.raises(GatewayError):
        for page in source.pages("BTC/USDT", "1h", T0_MS * 1_000_000):
            stored.append(page)
    assert sum(len(p) for p in stored) == 8
    last_ts = int(stored[-1].ts[-1])
    resumed = source.fetch("BTC/USDT", "1h", last_ts + 1)
    ts = np.concatenate([p.ts for p in [*stored, resumed]])
    assert ts.tolist() == [c[0] * 1_000_000 for c in r.venue.candles]
    assert_bars(resumed, r.venue.candles[8:])


def test_resume_from_partial_of_a_failed_fetch(server: ThreadingHTTPServer) -> None:
    r = rig(server, "kucoin", 15)
    r.venue.failures = {3: EMULATORS["kucoin"].rate_limited}
    source = r.source(now_ms=T0_MS + 20 * HOUR_MS, max_retries=0)
    with pytest.raises(TemporaryDataSourceError) as info:
        source.fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    partial = info.value.partial
    assert partial is not None
    resumed = source.fetch("BTC/USDT", "1h", int(partial.ts[-1]) + 1)
    assert np.concatenate([partial.ts, resumed.ts]).tolist() == [c[0] * 1_000_000 for c in r.venue.candles]


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_symbol_unknown_to_the_markets_names_close_matches(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 5)
    with pytest.raises(BadSymbolError, match=r"'BTC/USTD'.*'BTC/USDT'") as info:
        r.source(now_ms=T0_MS + 10 * HOUR_MS).fetch("BTC/USTD", "1h", T0_MS * 1_000_000)
    assert info.value.symbol == "BTC/USTD"
    assert "BTC/USDT" in info.value.suggestions
    assert isinstance(info.value, ConfigError)
    assert r.venue.candle_requests == 0


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_symbol_refused_by_the_exchange_is_a_bad_symbol(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 5)
    with pytest.raises(BadSymbolError, match=r"'LUNA/USDT'.*refused") as info:
        r.source(now_ms=T0_MS + 10 * HOUR_MS).fetch("LUNA/USDT", "1h", T0_MS * 1_000_000)
    assert info.value.symbol == "LUNA/USDT"
    assert r.sleeps == []  # not retried


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_other_exchange_errors_are_gateway_errors_with_the_message(
    server: ThreadingHTTPServer, exchange_id: str
) -> None:
    r = rig(server, exchange_id, 5)
    r.venue.failures = {1: EMULATORS[exchange_id].server_error}
    body = EMULATORS[exchange_id].server_error[1]
    message = body.get("msg") or body.get("message")
    with pytest.raises(GatewayError) as info:
        r.source(now_ms=T0_MS + 10 * HOUR_MS).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert isinstance(info.value, DataSourceError)
    assert message in str(info.value)
    assert r.sleeps == []


def test_unsupported_timeframe_lists_the_exchange_timeframes(server: ThreadingHTTPServer) -> None:
    r = rig(server, "gate", 5)
    with pytest.raises(ConfigError, match=r"gate does not support the time frame '3m'.*10s, 1m, 5m") as info:
        r.source(now_ms=T0_MS + 10 * HOUR_MS).fetch("BTC/USDT", "3m", T0_MS * 1_000_000)
    assert not isinstance(info.value, BadSymbolError)
    assert r.venue.candle_requests == 0


def test_no_complete_bar_is_a_data_error(server: ThreadingHTTPServer) -> None:
    r = rig(server, "binance", 1)
    with pytest.raises(DataError, match="no complete 1h bars of BTC/USDT"):
        r.source(now_ms=T0_MS + 30 * 60_000).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)


def test_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="max_retries"):
        CcxtSource("binance", max_retries=-1)
    with pytest.raises(ConfigError, match="limit"):
        CcxtSource("binance", limit=0)

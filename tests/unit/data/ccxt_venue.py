"""A fake exchange for offline ccxt tests: a tiny HTTP server on 127.0.0.1 serving candles in binance, kucoin and
gate wire formats, with scripted failures. ccxt's own request and parsing code runs against it unchanged: the
exchange's `urls['api']` entries are rewritten from `https://<host>` to `http://127.0.0.1:<port>/<exchange id>`,
markets come from `set_markets`, proxies from the environment are ignored and requests time out after 2 s.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ccxt
import numpy as np

from tradeforge.data.sources import CcxtSource

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


@contextmanager
def serve() -> Iterator[ThreadingHTTPServer]:
    """The fake exchange's HTTP server on a free port of 127.0.0.1 (set ``.venue`` to choose what it serves)."""
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

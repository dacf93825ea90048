"""The HTTP and websocket server of the simulator (aiohttp, on its own event loop in a background thread).

It speaks the subset of binance spot's API that ccxt uses for candles, balances and orders, and applies the
injected faults. All state lives in the Book; every access to it holds the simulator's lock, so the test thread
(``advance``, ``inject``, inspection) and the server's handlers never see it half-changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tradeforge.live.simulator import wire
from tradeforge.live.simulator.book import Book
from tradeforge.live.simulator.errors import ApiError, missing, rate_limited
from tradeforge.live.simulator.faults import OPERATIONS, FaultPlan
from tradeforge.live.simulator.stream import StreamHub

log = logging.getLogger("tradeforge.live.simulator")

REQUEST_LOG_SIZE = 100_000  # the most recent requests kept for inspection
Params = dict[str, str]
Handler = Callable[[Params], Any]


class Server:
    """Serves one Book on 127.0.0.1:port. Start, stop and restart run on the event loop of the owner's thread."""

    def __init__(self, book: Book, faults: FaultPlan, streams: StreamHub, lock: threading.RLock, port: int) -> None:
        self.book = book
        self.faults = faults
        self.streams = streams
        self.lock = lock
        self.port = port
        self.request_log: deque[str] = deque(maxlen=REQUEST_LOG_SIZE)
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._routes: dict[tuple[str, str], tuple[str | None, bool, Handler]] = {
            ("GET", "/api/v3/ping"): (None, False, lambda p: {}),
            ("GET", "/api/v3/time"): ("fetch_time", False, lambda p: {"serverTime": self.book.tape.now_ms}),
            ("GET", "/api/v3/exchangeInfo"): ("load_markets", False, self._exchange_info),
            ("GET", "/api/v3/klines"): ("fetch_ohlcv", False, self._klines),
            ("GET", "/api/v3/ticker/24hr"): ("fetch_ticker", False, self._ticker),
            ("GET", "/api/v3/account"): ("fetch_balance", True, self._account),
            ("POST", "/api/v3/order"): ("create_order", True, self._create_order),
            ("GET", "/api/v3/order"): ("fetch_order", True, self._fetch_order),
            ("DELETE", "/api/v3/order"): ("cancel_order", True, self._cancel_order),
            ("GET", "/api/v3/openOrders"): ("fetch_open_orders", True, self._open_orders),
            ("DELETE", "/api/v3/openOrders"): ("cancel_all_orders", True, self._cancel_all),
            ("GET", "/api/v3/allOrders"): ("fetch_orders", True, self._all_orders),
            ("GET", "/api/v3/myTrades"): ("fetch_my_trades", True, self._my_trades),
        }
        missing_ops = set(OPERATIONS) - {op for op, _, _ in self._routes.values() if op}
        if missing_ops:  # the fault table and the routes must name the same operations
            raise RuntimeError(f"operations without a route: {sorted(missing_ops)}")

    @property
    def running(self) -> bool:
        return self._runner is not None

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self.streams.attach()
        app = web.Application()
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/ws/{streams:.*}", self._ws)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        addresses = runner.addresses
        self.port = int(addresses[0][1])
        self._closing = asyncio.Event()
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        if self._closing is not None:
            self._closing.set()  # late answers (timeout faults) give up now
        self.streams.drop_all()
        await runner.cleanup()

    async def restart(self, down_for: float) -> None:
        log.warning("exchange simulator: restarting, down for %.2f s (state kept)", down_for)
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()
        log.warning("exchange simulator: back on 127.0.0.1:%d", self.port)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.streams.detach()
        await self.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------------------------------------ REST
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        params: Params = {k: v for k, v in request.query.items()}
        if request.method in ("POST", "PUT", "DELETE") and request.can_read_body:
            params.update({k: str(v) for k, v in (await request.post()).items()})
        route = self._routes.get((request.method, request.path))
        with self.lock:
            self.request_log.append(_describe(request.method, request.path, params))
            fault = self.faults.take_rest(route[0]) if route is not None else None
        if route is None:
            return _json(404, {"code": -1, "msg": f"the simulator does not serve {request.method} {request.path}"})
        _, signed, handler = route
        if fault is not None:
            log.warning("exchange simulator: injected fault %s (%s %s)", fault.describe(), request.method, request.path)
            if fault.kind == "rate_limit":
                err = rate_limited()
                return _json(err.status, err.body(), headers={"Retry-After": "1"})
            if fault.kind == "insufficient_funds":
                return _json(400, {"code": -2010, "msg": "Account has insufficient balance for requested action."})
            if fault.kind == "invalid_order":
                return _json(400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"})
        status, body = (0, None)
        if fault is None or fault.executed:
            status, body = self._answer(handler, signed, request, params)
        if fault is None:
            return _json(status, body)
        if fault.kind == "timeout":
            await self._sleep(fault.delay)
            if fault.executed:
                return _json(status, body)
            return _json(504, {"code": -1007, "msg": "Timeout waiting for response from backend server."})
        # disconnect / restart: the client never hears back
        if request.transport is not None:
            request.transport.abort()
        if fault.kind == "restart":
            self.spawn(self.restart(fault.down_for))
        return web.Response(status=500)

    def _answer(self, handler: Handler, signed: bool, request: web.Request, params: Params) -> tuple[int, Any]:
        with self.lock:
            try:
                if signed:
                    _check_signed(request, params)
                return 200, handler(params)
            except ApiError as err:
                return err.status, err.body()
            except (ValueError, KeyError):
                return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}

    async def _sleep(self, seconds: float) -> None:
        closing = self._closing
        if closing is None:
            return
        with contextlib.suppress(TimeoutError):  # asyncio.timeout: wait_for may swallow a cancel on Python 3.11
            async with asyncio.timeout(seconds):
                await closing.wait()

    # handlers: called with the lock held, return the JSON body or raise ApiError
    def _exchange_info(self, p: Params) -> Any:
        wanted = [p["symbol"]] if p.get("symbol") else json.loads(p["symbols"]) if p.get("symbols") else None
        if wanted is not None and any(s != self.book.market.id for s in wanted):
            raise ApiError(400, -1121, "Invalid symbol.")
        return wire.exchange_info(self.book.market, self.book.tape.now_ms)

    def _klines(self, p: Params) -> Any:
        self.book.check_symbol(p, required=True)
        interval = p.get("interval")
        if not interval:
            raise missing("interval")
        limit = int(p.get("limit") or 500)
        if not 1 <= limit <= 1000:
            limit = min(max(limit, 1), 1000)
        start = int(p["startTime"]) if p.get("startTime") else None
        end = int(p["endTime"]) if p.get("endTime") else None
        return [wire.kline_row(c) for c in self.book.tape.closed(interval, start, end, limit)]

    def _ticker(self, p: Params) -> Any:
        self.book.check_symbol(p, required=True)
        return wire.ticker(self.book.market.id, self.book.tape.last_day())

    def _account(self, p: Params) -> Any:
        return wire.account(self.book, self.book.tape.now_ms, p.get("omitZeroBalances") == "true")

    def _create_order(self, p: Params) -> Any:
        order = self.book.place(p)
        return wire.order_ack(order, self.book.market.id, p.get("newOrderRespType") or "FULL")

    def _fetch_order(self, p: Params) -> Any:
        return wire.order(self.book.find(p), self.book.market.id)

    def _cancel_order(self, p: Params) -> Any:
        return wire.cancelled(self.book.cancel(p), self.book.market.id, self.book.tape.now_ms)

    def _cancel_all(self, p: Params) -> Any:
        now = self.book.tape.now_ms
        return [wire.cancelled(o, self.book.market.id, now) for o in self.book.cancel_all(p)]

    def _open_orders(self, p: Params) -> Any:
        return [wire.order(o, self.book.market.id) for o in self.book.open_orders(p)]

    def _all_orders(self, p: Params) -> Any:
        return [wire.order(o, self.book.market.id) for o in self.book.all_orders(p)]

    def _my_trades(self, p: Params) -> Any:
        return [wire.trade(t, self.book.market.id) for t in self.book.my_trades(p)]

    # ------------------------------------------------------------------------------------------- websocket
    async def _ws(self, request: web.Request) -> web.StreamResponse:
        with self.lock:
            self.request_log.append(f"WS {request.path_qs}")
        return await self.streams.handle(request)


def _check_signed(request: web.Request, params: Params) -> None:
    """binance's checks on a signed request, relaxed: any key and signature will do, but they must be there."""
    if not request.headers.get("X-MBX-APIKEY"):
        raise ApiError(401, -2014, "API-key format invalid.")
    for name in ("timestamp", "signature"):
        if not params.get(name):
            raise missing(name)


def _describe(method: str, path: str, params: Params) -> str:
    """'POST /api/v3/order?newClientOrderId=e1&quantity=0.01&...' without the signing noise, sorted."""
    shown = sorted((k, v) for k, v in params.items() if k not in ("signature", "timestamp", "recvWindow"))
    return f"{method} {path}" + ("?" + urlencode(shown) if shown else "")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)

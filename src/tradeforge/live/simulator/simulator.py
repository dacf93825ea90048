"""ExchangeSimulator: a local binance (spot) on 127.0.0.1 that replays real bars on a clock the caller controls.

with ExchangeSimulator(balances={"USDT": 10_000}) as sim:
    ex = sim.ccxt_exchange()                      # ccxt's real binance client, pointed at the simulator
    ex.load_markets()
    ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "e1"})
    sim.advance()                                 # the bar closes: the order filled at its open
    sim.inject("timeout", on="create_order")      # the next order's answer never arrives in time
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, TypeVar

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.live.simulator import wire
from tradeforge.live.simulator.book import Book
from tradeforge.live.simulator.errors import SimulatorError
from tradeforge.live.simulator.faults import Fault, FaultPlan, make_fault
from tradeforge.live.simulator.model import Balance, FeeAsset, MarketFills, MarketRules, SimOrder, SimTrade
from tradeforge.live.simulator.server import Server
from tradeforge.live.simulator.stream import DROP, Item, StreamHub
from tradeforge.live.simulator.tape import Tape

log = logging.getLogger("tradeforge.live.simulator")
T = TypeVar("T")
HOST = "127.0.0.1"


class ExchangeSimulator:
    """A binance spot exchange on 127.0.0.1 for tests and rehearsals (see the package docstring for the rules).

    bars: the 1m (or any) bars to replay (default: the bundled BTC-PERP 1m sample), listed as ``symbol``.
    start: index of the first bar that has not closed yet; the bars before it are history (default 1000).
    balances: starting balances by asset (default 10,000 USDT). maker_fee / taker_fee: fractions of value.
    fee_asset: "quote" (fees in USDT, like tradeforge's portfolio) or "received" (binance without BNB).
    market_fills: "next_open" (market orders fill when the clock next advances, at the bar's open: tradeforge's
    backtest default) or "immediate" (at once, at that same price, as a real exchange answers).
    max_volume_fraction: cap each fill at this share of the bar's volume (partial fills), None for no cap.
    port: 0 for a free port; the port is kept across restarts.
    push_interval: seconds of wall time between pushes of the forming candle to stream subscribers (binance: 2);
    None pushes only when the clock moves.
    """

    def __init__(
        self,
        bars: BarSeries | None = None,
        *,
        symbol: str = "BTC/USDT",
        start: int | None = None,
        balances: Mapping[str, float] | None = None,
        maker_fee: float = 0.001,
        taker_fee: float = 0.001,
        fee_asset: FeeAsset = "quote",
        market_fills: MarketFills = "next_open",
        max_volume_fraction: float | None = None,
        market: MarketRules | None = None,
        port: int = 0,
        push_interval: float | None = 1.0,
    ) -> None:
        if bars is None:
            from tradeforge.data import load_sample

            bars = load_sample("BTC-PERP")
        if market is None:
            base, sep, quote = symbol.partition("/")
            if not sep or not base or not quote:
                raise ConfigError(f"symbol must look like 'BTC/USDT' (base/quote), got {symbol!r}")
            market = MarketRules(base=base.upper(), quote=quote.upper())
        if not (isinstance(port, int) and 0 <= port <= 65535):
            raise ConfigError(f"port must be 0 (any free port) or a TCP port number, got {port!r}")
        if push_interval is not None and not push_interval > 0:
            raise ConfigError(f"push_interval must be a number of seconds > 0, or None, got {push_interval!r}")
        tape = Tape(bars, min(1000, len(bars) - 1) if start is None else start)
        self._lock = threading.RLock()
        self._faults = FaultPlan()
        self._book = Book(
            tape,
            market,
            {market.quote: 10_000.0} if balances is None else balances,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            fee_asset=fee_asset,
            market_fills=market_fills,
            max_volume_fraction=max_volume_fraction,
            partial=self._partial,
        )
        self._streams = StreamHub(self._book, self._lock, push_interval)
        self._server = Server(self._book, self._faults, self._streams, self._lock, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clock: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> ExchangeSimulator:
        """Start serving (on a background thread). Raises SimulatorError when the port is taken."""
        if self._thread is not None:
            raise SimulatorError("the simulator is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="exchange-simulator", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._call(self._server.start())
        except BaseException as err:
            with contextlib.suppress(Exception):
                self._call(self._server.close())
            self._halt()
            if isinstance(err, OSError):
                raise SimulatorError(
                    f"cannot listen on {HOST}:{self._server.port}: {err.strerror or err}; "
                    "choose another port (or 0 for any free one)"
                ) from err
            raise
        log.info("exchange simulator: binance spot API on %s, %s at %s", self.url, self.symbol, self._iso_now())
        return self

    def stop(self) -> None:
        """Stop serving and end the background thread. The state stays inspectable; start() serves it again."""
        if self._thread is None:
            return
        self.stop_clock()
        try:
            self._call(self._server.close())
        finally:
            self._halt()

    def _halt(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> ExchangeSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server and bring it back on the same port after `down_for` seconds, keeping all state.
        Open connections (REST and websocket) are cut; requests meanwhile are refused."""
        if down_for < 0:
            raise ConfigError(f"down_for must be >= 0 seconds, got {down_for!r}")
        self._call(self._server.restart(down_for), timeout=down_for + 10)

    # -------------------------------------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        """Base URL of the REST API (binance's https://api.binance.com)."""
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The websocket endpoint (binance's wss://stream.binance.com:9443/ws)."""
        return f"ws://{HOST}:{self.port}/ws"

    @property
    def symbol(self) -> str:
        return self._book.market.symbol

    @property
    def market(self) -> MarketRules:
        return self._book.market

    def ccxt_exchange(
        self,
        *,
        pro: bool = False,
        api_key: str = "simulator",
        secret: str = "simulator",
        timeout_ms: int = 3000,
        **config: Any,
    ) -> Any:
        """ccxt's binance client (ccxt.pro's with pro=True, for watch_ohlcv) talking to this simulator.

        Any key and secret are accepted, but private endpoints require them, as binance does. ``config`` goes to
        the ccxt constructor (ccxt's own request throttle is off unless enableRateLimit=True is passed)."""
        import ccxt
        import ccxt.pro

        cls = ccxt.pro.binance if pro else ccxt.binance
        exchange = cls({"apiKey": api_key, "secret": secret, "timeout": timeout_ms, "enableRateLimit": False, **config})
        point_ccxt_at(exchange, self.port)
        return exchange

    # ------------------------------------------------------------------------------------------------ clock
    @property
    def now_ms(self) -> int:
        """The simulated time in ms: the open of the forming bar."""
        with self._lock:
            return self._book.tape.now_ms

    @property
    def cursor(self) -> int:
        """Index of the forming bar; the bars before it have closed."""
        with self._lock:
            return self._book.tape.cursor

    @property
    def price(self) -> float:
        """The current price: the forming bar's open."""
        with self._lock:
            return self._book.tape.price

    @property
    def bars_left(self) -> int:
        with self._lock:
            return len(self._book.tape) - self._book.tape.cursor

    def advance(self, bars: int = 1) -> list[SimTrade]:
        """Close `bars` bars one by one: match the working orders against each, push the closed candle and the
        next forming one to the stream subscribers. Returns the fills. Raises SimulatorError past the data."""
        if not isinstance(bars, int) or bars < 1:
            raise ConfigError(f"advance() takes a number of bars >= 1, got {bars!r}")
        if self._thread is not None and threading.current_thread() is self._thread:
            raise SimulatorError("advance() cannot be called from the simulator's own thread")
        sent = threading.Event()
        with self._lock:
            left = len(self._book.tape) - self._book.tape.cursor
            if bars > left:
                raise SimulatorError(f"cannot advance {bars} bars: only {left} bars of data are left")
            items, trades = self._steps(bars)
            queued = bool(items) and self._streams.post(items, sent)
        if queued and not sent.wait(timeout=10):
            raise SimulatorError("the stream subscribers were not served within 10 s")
        return trades

    def run_clock(self, speed: float) -> None:
        """Advance by itself: one bar every bar-length / speed seconds of wall time (speed=60: a 1m bar a second).
        Stops at the end of the data or with stop_clock()."""
        if not speed > 0:
            raise ConfigError(f"speed must be > 0 (60 plays a 1m bar every second), got {speed!r}")
        if self._loop is None:
            raise SimulatorError("start the simulator before its clock")
        self.stop_clock()
        period = self._book.tape.base_ms / 1000.0 / speed

        def begin() -> None:
            self._clock = self._server.spawn(self._tick(period))

        self._loop.call_soon_threadsafe(begin)

    def stop_clock(self) -> None:
        clock = self._clock
        if clock is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(clock.cancel)
        self._clock = None

    async def _tick(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            with self._lock:
                if self._book.tape.exhausted:
                    log.info("exchange simulator: the data has ended at %s; the clock stops", self._iso_now())
                    return
                items, _ = self._steps(1)
                self._streams.post(items)

    def _steps(self, n: int) -> tuple[list[Item], list[SimTrade]]:
        """Step the book n bars (lock held) and build the stream messages: per bar, the candles that closed and
        then the forming one, for every interval someone subscribed to."""
        tape = self._book.tape
        intervals = sorted(self._streams.subscribed_intervals())
        items: list[Item] = []
        trades: list[SimTrade] = []
        sid = self._book.market.id
        for _ in range(n):
            before = tape.now_ms
            trades.extend(self._book.step())
            after = tape.now_ms
            fault = self._faults.take_stream() if self._streams.conns else None
            if fault is not None:
                log.warning("exchange simulator: injected fault %s: websocket clients dropped", fault.describe())
                items.append((DROP, None, None))
            for interval in intervals:
                ims = tape.check_interval(interval)
                for candle in tape.closed_between(ims, before, after):
                    items.append((interval, wire.kline_event(sid, interval, candle, True, after), None))
                event = self._streams.forming_event(interval)
                if event is not None:
                    items.append((interval, event, None))
        return items, trades

    # ----------------------------------------------------------------------------------------------- faults
    def inject(
        self,
        kind: str,
        on: str | None = None,
        count: int | None = 1,
        *,
        delay: float = 30.0,
        executed: bool = True,
        fraction: float = 0.5,
        down_for: float = 0.2,
    ) -> Fault:
        """Make something go wrong; see ``tradeforge.live.simulator.faults`` for the kinds. Returns the Fault
        (its ``fired`` counts how often it happened)."""
        fault = make_fault(kind, on, count, delay=delay, executed=executed, fraction=fraction, down_for=down_for)
        with self._lock:
            return self._faults.add(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _partial(self, order: SimOrder) -> float | None:
        fault = self._faults.take_partial(order.client_order_id)  # called by the book, lock held
        if fault is None:
            return None
        log.warning(
            "exchange simulator: injected fault partial_fill: order %s (%s) fills %.0f%% of what is left",
            order.order_id,
            order.client_order_id,
            fault.fraction * 100,
        )
        return fault.fraction

    # ------------------------------------------------------------------------------------------- inspection
    def balances(self) -> dict[str, Balance]:
        with self._lock:
            return {a: Balance(b.free, b.locked) for a, b in self._book.balances.items()}

    def balance(self, asset: str) -> Balance:
        with self._lock:
            b = self._book.balances.get(asset.upper(), Balance())
            return Balance(b.free, b.locked)

    def orders(self) -> list[SimOrder]:
        """Every order ever placed (copies), oldest first."""
        with self._lock:
            return [o.snapshot() for o in self._book.orders]

    def order(self, client_order_id: str) -> SimOrder:
        with self._lock:
            found = [o for o in self._book.orders if o.client_order_id == client_order_id]
            if not found:
                raise SimulatorError(f"no order with client order id {client_order_id!r}")
            return found[-1].snapshot()

    def trades(self) -> list[SimTrade]:
        with self._lock:
            return list(self._book.trades)

    def requests(self) -> list[str]:
        """Every request received, as 'METHOD /path?query' ('WS /ws/0' for stream connections)."""
        with self._lock:
            return list(self._server.request_log)

    @property
    def subscribers(self) -> int:
        """Open websocket connections with at least one subscription."""
        with self._lock:
            return sum(1 for c in self._streams.conns if c.intervals)

    # -------------------------------------------------------------------------------------------- internals
    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        if self._loop is None:
            coro.close()
            raise SimulatorError("the simulator is not running: use it as a context manager or call start()")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _iso_now(self) -> str:
        from tradeforge.core.clock import iso

        return iso(self.now_ms * 1_000_000)


def point_ccxt_at(exchange: Any, port: int) -> None:
    """Point a ccxt binance client (sync, async or pro) at a simulator on 127.0.0.1:port: every REST and websocket
    URL is rewritten, markets are loaded from spot only, and proxies from the environment are ignored."""
    exchange.urls["api"] = _rewrite(exchange.urls["api"], port)
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    exchange.options["fetchMargins"] = False
    exchange.options["fetchCurrencies"] = False
    session = getattr(exchange, "session", None)
    if session is not None and hasattr(session, "trust_env"):
        session.trust_env = False


def _rewrite(urls: Any, port: int) -> Any:
    if isinstance(urls, dict):
        return {k: _rewrite(v, port) for k, v in urls.items()}
    if isinstance(urls, str):
        scheme, sep, rest = urls.partition("://")
        if not sep:
            return urls
        path = rest.partition("/")[2]
        local = "ws" if scheme.startswith("ws") else "http"
        return f"{local}://{HOST}:{port}/{path}"
    return urls

"""Fault injection: what can go wrong, on which request, how many times.

Kinds (``on`` names the operation a fault waits for; see OPERATIONS):

- ``timeout``: the answer comes ``delay`` seconds late (long after the client gave up: ccxt's RequestTimeout).
  With ``executed=True`` (default) the request was carried out first: an order exists though its answer was lost.
- ``disconnect``: on a REST operation, the connection is dropped without an answer (ccxt's NetworkError),
  after the request was carried out when ``executed=True``. With ``on="stream"`` the websocket connections are
  cut (no close frame) when the clock next moves while clients are connected, instead of receiving that bar's
  candles (mid-stream; ccxt.pro's pending watch raises NetworkError): the client must reconnect and fill the gap.
- ``insufficient_funds``: the order is refused with binance's -2010 "Account has insufficient balance for
  requested action." (ccxt's InsufficientFunds). Default ``on="create_order"``.
- ``invalid_order``: the order is refused with -1013 "Filter failure: LOT_SIZE" (ccxt's InvalidOrder).
- ``rate_limit``: HTTP 429 with binance's -1003 body and a Retry-After header (ccxt's DDoSProtection, of
  which RateLimitExceeded is a kind).
- ``partial_fill``: the next fill (of any order, or of the order whose client order id is ``on``) trades only
  ``fraction`` of what is left (status PARTIALLY_FILLED; the rest keeps working on later bars).
- ``restart``: the exchange restarts: the matching request is carried out when ``executed=True``, its
  connection dropped, the server stops and comes back on the same port after ``down_for`` seconds with its
  state (balances, orders, trades, clock) intact. Websocket clients are disconnected.

``count`` is how many times a fault fires (None: until ``clear_faults``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tradeforge.core.errors import ConfigError

# operation name (ccxt's method) -> (HTTP method, path) of the binance endpoint it calls
OPERATIONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "load_markets": ("GET", "/api/v3/exchangeInfo"),
        "fetch_time": ("GET", "/api/v3/time"),
        "fetch_ohlcv": ("GET", "/api/v3/klines"),
        "fetch_balance": ("GET", "/api/v3/account"),
        "create_order": ("POST", "/api/v3/order"),
        "fetch_order": ("GET", "/api/v3/order"),
        "cancel_order": ("DELETE", "/api/v3/order"),
        "cancel_all_orders": ("DELETE", "/api/v3/openOrders"),
        "fetch_open_orders": ("GET", "/api/v3/openOrders"),
        "fetch_orders": ("GET", "/api/v3/allOrders"),
        "fetch_my_trades": ("GET", "/api/v3/myTrades"),
        "fetch_ticker": ("GET", "/api/v3/ticker/24hr"),
    }
)
STREAM = "stream"
KINDS = ("timeout", "disconnect", "insufficient_funds", "invalid_order", "rate_limit", "partial_fill", "restart")
REST_KINDS = ("timeout", "disconnect", "insufficient_funds", "invalid_order", "rate_limit", "restart")


@dataclass(slots=True)
class Fault:
    """One injected fault; ``fired`` counts how often it happened."""

    kind: str
    on: str | None = None
    count: int | None = 1
    delay: float = 30.0
    executed: bool = True
    fraction: float = 0.5
    down_for: float = 0.2
    fired: int = 0

    @property
    def active(self) -> bool:
        return self.count is None or self.fired < self.count

    def describe(self) -> str:
        where = f" on {self.on}" if self.on else ""
        return f"{self.kind}{where}"


def make_fault(
    kind: str,
    on: str | None,
    count: int | None,
    *,
    delay: float,
    executed: bool,
    fraction: float,
    down_for: float,
) -> Fault:
    """Validate the arguments of ``ExchangeSimulator.inject`` and build the Fault."""
    if kind not in KINDS:
        raise ConfigError(f"unknown fault kind {kind!r}{_close(kind, KINDS)}: choose one of {', '.join(KINDS)}")
    if count is not None and count < 1:
        raise ConfigError(f"count must be >= 1 (or None for 'until cleared'), got {count!r}")
    for name, value in (("delay", delay), ("down_for", down_for)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a number of seconds >= 0, got {value!r}")
    if not (math.isfinite(fraction) and 0.0 < fraction < 1.0):
        raise ConfigError(f"fraction must be in (0, 1): the share of the remaining quantity filled, got {fraction!r}")
    if kind in ("insufficient_funds", "invalid_order") and on is None:
        on = "create_order"
    if kind == "partial_fill":
        pass  # `on` is a client order id, or None for the next fill of any order
    elif on is not None and on not in OPERATIONS and not (kind == "disconnect" and on == STREAM):
        valid = [*OPERATIONS, STREAM] if kind == "disconnect" else list(OPERATIONS)
        raise ConfigError(
            f"a {kind} fault cannot wait for {on!r}{_close(on, valid)}: use one of {', '.join(valid)} (or None: any)"
        )
    if kind in ("insufficient_funds", "invalid_order") and on != "create_order":
        raise ConfigError(f"a {kind} fault refuses an order: use on='create_order', not {on!r}")
    return Fault(kind, on, count, delay, executed, fraction, down_for)


def _close(word: str, choices: list[str] | tuple[str, ...]) -> str:
    near = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


class FaultPlan:
    """The faults waiting to fire, in the order they were injected. Not thread-safe: the caller locks."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take_rest(self, operation: str | None) -> Fault | None:
        """The first active REST fault waiting for this operation (or for any), counted as fired."""
        for fault in self.faults:
            if (
                fault.kind in REST_KINDS
                and fault.active
                and fault.on != STREAM
                and (fault.on is None or fault.on == operation)
            ):
                fault.fired += 1
                return fault
        return None

    def take_stream(self) -> Fault | None:
        for fault in self.faults:
            if fault.kind == "disconnect" and fault.on == STREAM and fault.active:
                fault.fired += 1
                return fault
        return None

    def take_partial(self, client_order_id: str) -> Fault | None:
        for fault in self.faults:
            if fault.kind == "partial_fill" and fault.active and fault.on in (None, client_order_id):
                fault.fired += 1
                return fault
        return None

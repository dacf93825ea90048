"""The simulated exchange's records: the market and its filters, balances, orders and fills, and the parsing of
binance's request parameters (numbers as strings, checked as binance checks them)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Literal

from tradeforge.core.errors import ConfigError
from tradeforge.live.simulator.errors import ApiError, illegal, missing

ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
NEEDS_PRICE = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
NEEDS_STOP = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
NEEDS_TIF = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
EPS = 1e-12

FeeAsset = Literal["quote", "received"]
MarketFills = Literal["next_open", "immediate"]


@dataclass(frozen=True, slots=True)
class MarketRules:
    """The one spot market the simulator lists, with binance's filters (defaults: BTCUSDT's)."""

    base: str = "BTC"
    quote: str = "USDT"
    tick_size: float = 0.01
    step_size: float = 0.00001
    min_qty: float = 0.00001
    max_qty: float = 9000.0
    min_notional: float = 5.0
    max_notional: float = 9_000_000.0

    def __post_init__(self) -> None:
        for name in ("tick_size", "step_size", "max_qty", "max_notional"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"market {name} must be a positive number, got {value!r}")
        for name in ("min_qty", "min_notional"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"market {name} must be >= 0, got {value!r}")
        if not (self.base.isalnum() and self.quote.isalnum()):
            raise ConfigError(f"asset names must be letters and digits, got {self.base!r} and {self.quote!r}")

    @property
    def id(self) -> str:
        return (self.base + self.quote).upper()

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}"

    def floor_qty(self, qty: float) -> float:
        steps = math.floor(qty / self.step_size + 1e-9)
        return round(steps * self.step_size, decimals(self.step_size))


@dataclass(slots=True)
class Balance:
    free: float = 0.0
    locked: float = 0.0

    @property
    def total(self) -> float:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class SimTrade:
    """One fill, as GET /api/v3/myTrades reports it."""

    id: int
    order_id: int
    client_order_id: str
    side: str
    price: float
    qty: float
    quote_qty: float
    commission: float
    commission_asset: str
    time_ms: int
    is_maker: bool


@dataclass(slots=True)
class SimOrder:
    """One order and its history on the simulated exchange."""

    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    qty: float  # 0 for a market order sized by quote_qty until its first fill
    quote_qty: float
    price: float
    stop_price: float
    time_ms: int
    placed_bar: int
    status: str = "NEW"
    executed_qty: float = 0.0
    cum_quote: float = 0.0
    update_ms: int = 0
    triggered: bool = False
    last_fill_bar: int = -1
    locked_asset: str = ""
    locked: float = 0.0
    fills: list[SimTrade] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> float:
        return max(self.qty - self.executed_qty, 0.0)

    def snapshot(self) -> SimOrder:
        return replace(self, fills=list(self.fills))


def required(p: Mapping[str, str], name: str) -> str:
    value = p.get(name)
    if not value:
        raise missing(name)
    return value


def number(p: Mapping[str, str], name: str) -> float | None:
    raw = p.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise illegal(name) from None
    if not value.is_finite() or value < 0:
        raise illegal(name)
    if value == 0:
        raise ApiError(400, -1013, f"Invalid {name}.")
    return float(value)


def integer(p: Mapping[str, str], name: str) -> int:
    raw = p.get(name, "")
    if not raw.lstrip("-").isdigit():
        raise illegal(name, "^[0-9]{1,20}$")
    return int(raw)


def limit_param(p: Mapping[str, str], default: int, most: int) -> int:
    if not p.get("limit"):
        return default
    value = integer(p, "limit")
    if value <= 0:
        raise ApiError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.")
    return min(value, most)


def decimals(step: float) -> int:
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def on_grid(value: float, step: float) -> bool:
    units = Decimal(repr(value)) / Decimal(repr(step))
    return units == units.to_integral_value()

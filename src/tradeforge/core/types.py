"""Enums and the Instrument description."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, IntEnum

from tradeforge.core.errors import ConfigError


class Side(IntEnum):
    BUY = 1
    SELL = -1


class OrderType(Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(Enum):
    GTC = "gtc"  # good till cancelled
    IOC = "ioc"  # immediate or cancel: one chance (the next fill opportunity), then expired
    DAY = "day"  # expires when a bar of a later UTC day arrives
    GTT = "gtt"  # good till time: expires when a bar at or after expire_at arrives


class OrderStatus(Enum):
    NEW = "new"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class PositionMode(Enum):
    NETTING = "netting"  # one position per symbol and strategy; opposite fills reduce it (FIFO trades)
    HEDGING = "hedging"  # every entry is its own trade; exits name the trade they close


class FillTiming(Enum):
    NEXT_OPEN = "next_open"  # market orders fill at the next bar's open (default, no look-ahead)
    CLOSE = "close"  # market orders fill at the close of the bar they were placed on


class Liquidity(Enum):
    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True)
class Instrument:
    """What can be traded and how finely.

    tick_size: smallest price step; lot_size: smallest quantity step (1.0 = whole units);
    min_notional: smallest order value in the quote currency; multiplier: value of one unit per price point
    (1 for spot, e.g. 125,000 for a 6E future).
    """

    symbol: str
    tick_size: float = 0.01
    lot_size: float = 1.0
    min_notional: float = 0.0
    quote_currency: str = "USD"
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ConfigError("an instrument needs a non-empty symbol")
        for name in ("tick_size", "lot_size", "multiplier"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"instrument {self.symbol}: {name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.min_notional) and self.min_notional >= 0):
            raise ConfigError(f"instrument {self.symbol}: min_notional must be >= 0, got {self.min_notional!r}")

    def round_qty_down(self, qty: float) -> float:
        """Largest multiple of lot_size not above |qty| (sign kept)."""
        steps = math.floor(abs(qty) / self.lot_size + 1e-9)
        return math.copysign(steps * self.lot_size, qty) if steps else 0.0

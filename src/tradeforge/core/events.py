"""Immutable event records. Timestamps are integer ns UTC (a bar's timestamp is its open time)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from tradeforge.core.errors import DataError
from tradeforge.core.types import Liquidity, Side


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar of one symbol. ts is the bar's open time; timeframe its length, both in ns."""

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    timeframe: int

    def validate(self) -> None:
        """Raise DataError when the bar cannot be real: NaN, high below low, open/close outside the range."""
        values = (self.open, self.high, self.low, self.close, self.volume)
        if not all(math.isfinite(v) for v in values):
            raise DataError(f"bar {self.symbol} at ts={self.ts} has a NaN or infinite value: {values}")
        if self.high < self.low:
            raise DataError(f"bar {self.symbol} at ts={self.ts} has high {self.high} < low {self.low}")
        if not (self.low <= self.open <= self.high and self.low <= self.close <= self.high):
            raise DataError(
                f"bar {self.symbol} at ts={self.ts}: open {self.open} or close {self.close} lies outside "
                f"[low {self.low}, high {self.high}]"
            )
        if self.volume < 0:
            raise DataError(f"bar {self.symbol} at ts={self.ts} has negative volume {self.volume}")


class Fill(NamedTuple):
    """An execution: part or all of an order traded at one price. Immutable (a named tuple: cheap to create,
    one per fill, which matters in the order path)."""

    order_id: int
    strategy: str
    symbol: str
    side: Side
    qty: float  # always positive
    price: float
    fee: float
    ts: int
    bar: int  # index of the engine step at which it happened
    liquidity: Liquidity
    reason: str  # "market", "limit", "stop", "stop_loss", "take_profit", "trailing_stop", "kill_switch", ...

    @property
    def signed_qty(self) -> float:
        return self.qty * int(self.side)

    @property
    def value(self) -> float:
        return self.qty * self.price

"""Trade (a round trip: entry fills until the exit) and Position records."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class Trade:
    """One round trip. size is signed (+ long, - short) and, once closed, is the size that was closed.

    Timestamps are int ns UTC; *_bar are engine step indices. An open trade has exit_bar == -1,
    exit_ts == -1 and exit_price NaN. Fees are split pro rata to size when a fill touches several trades.
    """

    id: int
    strategy: str
    symbol: str
    size: float
    entry_price: float
    entry_ts: int
    entry_bar: int
    entry_order_id: int
    multiplier: float = 1.0
    entry_fee: float = 0.0
    exit_price: float = math.nan
    exit_ts: int = -1
    exit_bar: int = -1
    exit_order_id: int = -1
    exit_fee: float = 0.0
    exit_reason: str = ""
    tag: str = ""
    sl_order_id: int | None = None
    tp_order_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.exit_bar < 0

    @property
    def is_long(self) -> bool:
        return self.size > 0

    @property
    def fees(self) -> float:
        return self.entry_fee + self.exit_fee

    def pnl_at(self, price: float) -> float:
        """Net profit or loss if the trade were valued (not closed) at price: entry fee counted, no exit fee."""
        return self.size * (price - self.entry_price) * self.multiplier - self.fees

    @property
    def pnl(self) -> float:
        """Net profit or loss of a closed trade (NaN while open): price move times size, minus all fees."""
        return self.size * (self.exit_price - self.entry_price) * self.multiplier - self.fees

    @property
    def return_pct(self) -> float:
        """Return as a fraction of the entry value, net of fees (Backtesting.py's definition). NaN while open."""
        gross = math.copysign(1.0, self.size) * (self.exit_price / self.entry_price - 1.0)
        return gross - self.fees / (abs(self.size) * self.entry_price * self.multiplier)

    @property
    def duration_ns(self) -> int:
        return self.exit_ts - self.entry_ts if self.exit_ts >= 0 else -1

    @property
    def value(self) -> float:
        return abs(self.size) * self.entry_price * self.multiplier


@dataclass(slots=True, eq=False)
class Position:
    """The net holding of one strategy in one symbol."""

    strategy: str
    symbol: str
    qty: float = 0.0
    avg_price: float = math.nan
    realized_pnl: float = 0.0
    fees: float = 0.0

    @property
    def is_long(self) -> bool:
        return self.qty > 0

    @property
    def is_short(self) -> bool:
        return self.qty < 0

    def __bool__(self) -> bool:
        return self.qty != 0.0

    @property
    def size(self) -> float:
        return self.qty

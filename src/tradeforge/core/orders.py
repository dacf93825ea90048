"""Orders and their state machine. An illegal status transition raises IllegalTransition."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tradeforge.core.errors import IllegalTransition
from tradeforge.core.types import OrderStatus, OrderType, Side, TimeInForce

S = OrderStatus
LEGAL: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
# the same tables keyed by name, with tuples: membership by identity, no (Python-level) enum hashing
_NEXT: dict[str, tuple[OrderStatus, ...]] = {k.name: tuple(v) for k, v in LEGAL.items()}
_TERMINAL = tuple(TERMINAL)


@dataclass(slots=True, eq=False)
class Order:
    """An instruction to trade. qty is positive; side gives the direction.

    qty may be None for a fraction-of-equity order: it is then sized at fill time from `fraction`.
    `parent_id` links attached stop-loss / take-profit orders to their entry; `trade_id` names the trade an
    exit closes; `oco_id` links the two legs of a one-cancels-other pair.
    """

    id: int
    strategy: str
    symbol: str
    side: Side
    type: OrderType
    qty: float | None
    created_ts: int
    created_bar: int
    fraction: float | None = None
    limit: float | None = None
    stop: float | None = None
    trail_amount: float | None = None  # trailing stop distance in price units
    trail_percent: float | None = None  # or as a fraction of the extreme price
    tif: TimeInForce = TimeInForce.GTC
    expire_at: int | None = None
    sl: float | None = None  # attach a stop-loss at this price to the trade this order opens
    tp: float | None = None  # attach a take-profit at this price
    reduce_only: bool = False
    parent_id: int | None = None
    trade_id: int | None = None
    oco_id: int | None = None
    role: str = "entry"  # "entry", "exit", "stop_loss", "take_profit", "kill_switch"
    tag: str = ""
    status: OrderStatus = OrderStatus.NEW
    filled_qty: float = 0.0
    avg_fill_price: float = math.nan
    fees: float = 0.0
    reject_reason: str = ""
    updated_ts: int = 0
    triggered: bool = False  # a stop-limit whose stop has been touched now works as a limit
    trail_extreme: float = math.nan  # best price seen since placement, for trailing stops
    log: list[int | OrderStatus] = field(default_factory=list)  # ts, status, ts, status, ... (flat: compact)
    signal_id: int | None = None  # the engine signal (core.signals) this order acts on

    def transition(self, status: OrderStatus, ts: int) -> None:
        if status not in _NEXT[self.status._name_]:
            raise IllegalTransition(
                f"order {self.id} ({self.symbol} {self.side.name} {self.type.value}) cannot go from "
                f"{self.status.value} to {status.value}"
            )
        self.status = status
        self.updated_ts = ts
        self.log.append(ts)
        self.log.append(status)

    @property
    def history(self) -> list[tuple[int, OrderStatus]]:
        """Every status change as (ts, status), oldest first."""
        log = self.log
        return [(log[k], log[k + 1]) for k in range(0, len(log), 2)]  # type: ignore[misc]

    @property
    def is_open(self) -> bool:
        return self.status not in _TERMINAL

    @property
    def remaining(self) -> float:
        return (self.qty or 0.0) - self.filled_qty

    def record_fill(self, qty: float, price: float, fee: float) -> None:
        total = self.filled_qty + qty
        if self.filled_qty == 0.0:
            self.avg_fill_price = price
        else:
            self.avg_fill_price = (self.avg_fill_price * self.filled_qty + price * qty) / total
        self.filled_qty = total
        self.fees += fee

    def describe(self) -> str:
        parts = [f"#{self.id} {self.side.name} {self.qty if self.qty is not None else 'fraction'} {self.symbol}"]
        parts.append(self.type.value)
        if self.limit is not None:
            parts.append(f"limit={self.limit}")
        if self.stop is not None:
            parts.append(f"stop={self.stop}")
        return " ".join(parts)

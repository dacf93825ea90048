"""Pre-trade risk checks: approve an order or deny it with a reason. And the kill switch state.

Pure: no I/O and no wall clock. The engine passes its time (`now`, int ns UTC) and, when a daily loss limit is
set, the account equity in each RiskCheckInput."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields

from tradeforge.core.clock import NS_PER_DAY, NS_PER_MINUTE, iso
from tradeforge.core.errors import ConfigError

_WHOLE_NUMBER_LIMITS = frozenset({"max_orders_per_minute"})


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """None disables a limit. Values are in the quote currency unless the name says qty.

    max_position_qty / max_position_value: per symbol and strategy, after the order would fill;
    max_gross_exposure: sum of |position value| over the whole account after the order;
    max_order_value / max_order_qty: per order; check_margin: refuse orders the account cannot pay for;
    max_orders_per_minute: orders sent to the gateway in any rolling 60 s of engine time (orders that only
    reduce a position are never refused, but they count);
    max_daily_loss: once the account equity is this far below its value at the first check of the UTC day,
    new entries are refused until the next UTC day (orders that reduce a position still pass).
    """

    max_position_qty: float | None = None
    max_position_value: float | None = None
    max_gross_exposure: float | None = None
    max_order_value: float | None = None
    max_order_qty: float | None = None
    check_margin: bool = True
    max_orders_per_minute: int | None = None
    max_daily_loss: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "check_margin" or value is None:
                continue
            if f.name in _WHOLE_NUMBER_LIMITS:
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ConfigError(f"risk limit {f.name} must be a positive whole number or None, got {value!r}")
            elif isinstance(value, bool) or not (
                isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            ):
                raise ConfigError(f"risk limit {f.name} must be a positive number or None, got {value!r}")


@dataclass(slots=True)
class RiskCheckInput:
    """What a check needs to know about an order, resolved by the engine (qty estimated for fraction orders)."""

    symbol: str
    signed_qty: float
    price: float
    multiplier: float
    position_qty: float  # the strategy's current position in the symbol
    gross_exposure: float  # account gross exposure now
    account_position_qty: float  # the account's net position in the symbol
    reduces: bool  # the order only reduces an existing position
    now: int = 0  # engine time, int ns UTC (max_orders_per_minute, max_daily_loss)
    equity: float | None = None  # account equity now; only needed (and only computed) for max_daily_loss


class RiskEngine:
    WINDOW = NS_PER_MINUTE  # the rolling window of max_orders_per_minute

    def __init__(self, limits: RiskLimits | None = None) -> None:
        self.limits = limits or RiskLimits()
        self.halted = False
        self.halt_reason = ""
        lim = self.limits
        self.counts_orders = lim.max_orders_per_minute is not None
        self.has_limits = any(
            v is not None
            for v in (
                lim.max_position_qty,
                lim.max_position_value,
                lim.max_gross_exposure,
                lim.max_order_value,
                lim.max_order_qty,
                lim.max_orders_per_minute,
                lim.max_daily_loss,
            )
        )
        self._sent: deque[int] = deque()  # engine times of the orders sent within the last WINDOW
        self.day: int | None = None  # the current UTC day (days since the epoch) of max_daily_loss
        self.day_start_equity = 0.0
        self.daily_loss_hit: str | None = None  # why entries are refused once max_daily_loss is reached today

    @property
    def active(self) -> bool:
        """Whether check() can deny anything (no limits and no halt: every order passes)."""
        return self.has_limits or self.halted

    def halt(self, reason: str) -> None:
        self.halted = True
        self.halt_reason = reason

    # ------------------------------------------------------------ order rate
    def record_order(self, now: int) -> None:
        """An order went to the gateway at engine time now (check() records the orders it approves; the engine
        calls this for orders that skip the checks, such as attached stop-loss / take-profit orders)."""
        if self.counts_orders:
            self.orders_in_window(now)  # drops the orders that left the window, so the queue stays short
            self._sent.append(now)

    def orders_in_window(self, now: int) -> int:
        """Orders sent in the rolling window ending at now: (now - 60 s, now]."""
        sent = self._sent
        start = now - self.WINDOW
        while sent and sent[0] <= start:
            sent.popleft()
        return len(sent)

    def _order_rate_reason(self, now: int, limit: int) -> str | None:
        count = self.orders_in_window(now)
        if count < limit:
            return None
        # the order becomes allowed once count - limit + 1 of the oldest orders have left the window
        next_at = self._sent[count - limit] + self.WINDOW
        return (
            f"max_orders_per_minute {limit} reached: {count} orders since {iso(self._sent[0])}; "
            f"next allowed at {iso(next_at)}"
        )

    # ------------------------------------------------------------ daily loss
    def observe_equity(self, now: int, equity: float) -> None:
        """Remember the account equity at the first observation of each UTC day (the day's start)."""
        day = now // NS_PER_DAY
        if day != self.day:
            self.day = day
            self.day_start_equity = equity
            self.daily_loss_hit = None

    def _daily_loss_reason(self, equity: float, limit: float) -> str | None:
        if self.daily_loss_hit is None:
            start = self.day_start_equity
            if equity > start - limit:
                return None
            # refused for the rest of the day, even if the equity recovers; the reason tells when it was reached
            date = iso((self.day or 0) * NS_PER_DAY)[:10]
            self.daily_loss_hit = (
                f"max_daily_loss {limit:,.2f} reached: equity {equity:,.2f} is {start - equity:,.2f} below the "
                f"day's start {start:,.2f} (UTC day {date}); new entries resume tomorrow"
            )
        return self.daily_loss_hit

    # ----------------------------------------------------------------- check
    def check(self, c: RiskCheckInput) -> str | None:
        """None when the order may go on (it then counts as sent for max_orders_per_minute), else the reason it
        is denied."""
        reason = self._deny(c)
        if reason is None and self.counts_orders:
            self.record_order(c.now)
        return reason

    def _deny(self, c: RiskCheckInput) -> str | None:
        lim = self.limits
        if lim.max_daily_loss is not None and c.equity is not None:
            self.observe_equity(c.now, c.equity)
        if self.halted and not c.reduces:
            return f"kill switch engaged ({self.halt_reason}): only orders that reduce a position are accepted"
        if c.reduces:  # reducing risk is always allowed, whatever its size (closes, stops, the kill switch)
            return None
        if lim.max_orders_per_minute is not None:
            reason = self._order_rate_reason(c.now, lim.max_orders_per_minute)
            if reason is not None:
                return reason
        if lim.max_daily_loss is not None and c.equity is not None:
            reason = self._daily_loss_reason(c.equity, lim.max_daily_loss)
            if reason is not None:
                return reason
        qty = abs(c.signed_qty)
        value = qty * c.price * c.multiplier
        if lim.max_order_qty is not None and qty > lim.max_order_qty:
            return f"order quantity {qty:g} exceeds max_order_qty {lim.max_order_qty:g}"
        if lim.max_order_value is not None and value > lim.max_order_value:
            return f"order value {value:,.2f} exceeds max_order_value {lim.max_order_value:,.2f}"
        after = c.position_qty + c.signed_qty
        if lim.max_position_qty is not None and abs(after) > lim.max_position_qty:
            return f"position in {c.symbol} would be {after:g}, beyond max_position_qty {lim.max_position_qty:g}"
        after_value = abs(after) * c.price * c.multiplier
        if lim.max_position_value is not None and after_value > lim.max_position_value:
            return (
                f"position value in {c.symbol} would be {after_value:,.2f}, beyond max_position_value "
                f"{lim.max_position_value:,.2f}"
            )
        if lim.max_gross_exposure is not None:
            before = abs(c.account_position_qty) * c.price * c.multiplier
            after_acct = abs(c.account_position_qty + c.signed_qty) * c.price * c.multiplier
            gross = c.gross_exposure - before + after_acct
            if gross > lim.max_gross_exposure:
                return f"gross exposure would be {gross:,.2f}, beyond max_gross_exposure {lim.max_gross_exposure:,.2f}"
        return None

"""Backtesting.py's Order, Trade and Position, as views of tradeforge's own orders, trades and book.

Nothing here keeps state of its own: an Order wraps an engine order, a Trade an engine trade, a Position the
strategy's open trades in one symbol; the same engine object always gives the same wrapper.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from tradeforge.compat.errors import CompatAssertionError
from tradeforge.core.orders import Order as CoreOrder
from tradeforge.core.trades import Trade as CoreTrade
from tradeforge.core.types import Side

if TYPE_CHECKING:
    from tradeforge.compat.runner import Run


class Order:
    """A working order (see Strategy.buy / sell). Cancel it and place a new one to change it."""

    __slots__ = ("_core", "_run")

    def __init__(self, run: Run, core: CoreOrder) -> None:
        self._run = run
        self._core = core

    def __repr__(self) -> str:
        fields = (
            ("size", self.size),
            ("limit", self.limit),
            ("stop", self.stop),
            ("sl", self.sl),
            ("tp", self.tp),
            ("contingent", self.is_contingent),
            ("tag", self.tag),
        )
        text = ", ".join(f"{k}={round(v, 5) if isinstance(v, float) else v!r}" for k, v in fields if v is not None)
        return f"<Order {text}>"

    def cancel(self) -> None:
        """Cancel the order. A stop-loss or take-profit cancelled this way leaves its trade without one."""
        core = self._core
        if core.id < 0:  # placed in init(): not at the engine yet
            self._run.drop_deferred(self)
            return
        self._run.engine.cancel(core, "cancelled by the strategy")
        if core.trade_id is not None and core.role in ("stop_loss", "take_profit"):
            trade = self._run.trade_by_id(core.trade_id)
            if trade is not None:
                attr = "sl_order_id" if core.role == "stop_loss" else "tp_order_id"
                if getattr(trade._core, attr) == core.id:
                    setattr(trade._core, attr, None)

    @property
    def size(self) -> float:
        """Units (or a fraction of available margin when 0 < |size| < 1); negative for sell orders."""
        core = self._core
        sign = 1.0 if core.side is Side.BUY else -1.0
        if core.qty is None:
            return sign * float(core.fraction or 0.0)
        if self.parent_trade is not None and core.role in ("stop_loss", "take_profit"):
            return -float(self.parent_trade.size)
        return sign * float(core.qty - core.filled_qty)

    @property
    def limit(self) -> float | None:
        return self._core.limit

    @property
    def symbol(self) -> str:
        """The asset the order trades (minitrade calls it ticker)."""
        return self._core.symbol

    ticker = symbol

    @property
    def entry_time(self) -> Any:
        """When the order was placed: the index value of that bar (minitrade's Order.entry_time); None for an
        order placed in init() that has not reached the broker yet."""
        bar = self._core.created_bar
        return self._run.index[bar] if bar >= 0 else None

    @property
    def stop(self) -> float | None:
        """The stop price; None once the stop has been touched (the order then works as a market/limit order)."""
        return None if self._core.triggered else self._core.stop

    @property
    def sl(self) -> float | None:
        return self._core.sl

    @property
    def tp(self) -> float | None:
        return self._core.tp

    @property
    def parent_trade(self) -> Trade | None:
        core = self._core
        if core.trade_id is None:
            return None
        return self._run.trade_by_id(core.trade_id)

    @property
    def tag(self) -> Any:
        return self._run.order_tag(self._core)

    __pdoc__: ClassVar[dict[str, bool]] = {"replace": False}

    @property
    def is_long(self) -> bool:
        return self._core.side is Side.BUY

    @property
    def is_short(self) -> bool:
        return self._core.side is Side.SELL

    @property
    def is_contingent(self) -> bool:
        """True for a stop-loss or take-profit order of an open trade."""
        return self._core.role in ("stop_loss", "take_profit")


class Trades(tuple):  # type: ignore[type-arg]
    """Open trades: Backtesting.py's tuple, also callable as minitrade's ``self.trades()`` /
    ``self.trades("AAPL")`` (that asset's trades only)."""

    def __call__(self, ticker: str | None = None) -> tuple[Trade, ...]:
        if ticker is None:
            return tuple(self)
        return tuple(t for t in self if t.symbol == ticker)


class Trade:
    """A trade: open in Strategy.trades, settled in Strategy.closed_trades."""

    __slots__ = ("_core", "_run")

    def __init__(self, run: Run, core: CoreTrade) -> None:
        self._run = run
        self._core = core

    def __repr__(self) -> str:
        c = self._core
        exit_bar = "" if c.is_open else c.exit_bar
        exit_price = "" if c.is_open else c.exit_price
        tag = self.tag
        return (
            f"<Trade size={self.size:g} time={c.entry_bar}-{exit_bar} price={c.entry_price}-{exit_price} "
            f"pl={self.pl:.0f}{' tag=' + str(tag) if tag is not None else ''}>"
        )

    def close(self, portion: float = 1.0) -> None:
        """Place an order to close `portion` of the trade at the next market price."""
        if not (isinstance(portion, (int, float)) and 0 < portion <= 1):
            raise CompatAssertionError(f"portion must be a fraction in (0, 1], got {portion!r}")
        size = abs(self._core.size)
        units = max(1, round(size * portion))
        self._run.close_trade(self._core, min(float(units), size))

    @property
    def size(self) -> float:
        """Units; negative when short. An int, except (as in Backtesting.py) for a trade that trade.close()
        split: both its closed part and the part left open have float sizes."""
        core = self._core
        size = core.size
        if core.id in self._run.broker.float_sizes or not float(size).is_integer():
            return float(size)
        return int(size)

    @property
    def entry_price(self) -> float:
        return self._core.entry_price

    @property
    def exit_price(self) -> float | None:
        return None if self._core.is_open else self._core.exit_price

    @property
    def entry_bar(self) -> int:
        return self._core.entry_bar

    @property
    def exit_bar(self) -> int | None:
        return None if self._core.is_open else self._core.exit_bar

    @property
    def symbol(self) -> str:
        """The asset this trade is in (minitrade calls it ticker)."""
        return self._core.symbol

    ticker = symbol

    @property
    def tag(self) -> Any:
        return self._run.trade_tag(self._core)

    @property
    def entry_time(self) -> Any:
        return self._run.index[self._core.entry_bar]

    @property
    def exit_time(self) -> Any:
        return None if self._core.is_open else self._run.index[self._core.exit_bar]

    @property
    def is_long(self) -> bool:
        return self._core.size > 0

    @property
    def is_short(self) -> bool:
        return not self.is_long

    @property
    def _commissions(self) -> float:
        """Commission of a settled trade (entry and exit); 0 while open."""
        c = self._core
        if c.is_open:
            return 0.0
        fee = self._run.commission
        return float(fee(c.size, c.exit_price) + fee(c.size, c.entry_price))

    def _price(self) -> float:
        c = self._core
        return self._run.last_price(c.symbol) if c.is_open else c.exit_price

    @property
    def pl(self) -> float:
        """Profit (positive) or loss of the trade in cash; commissions count once it is closed."""
        c = self._core
        return c.size * (self._price() - c.entry_price) - self._commissions

    @property
    def pl_pct(self) -> float:
        c = self._core
        gross = math.copysign(1.0, c.size) * (self._price() / c.entry_price - 1)
        return gross - self._commissions / (abs(c.size) * c.entry_price)

    @property
    def value(self) -> float:
        return abs(self._core.size) * self._price()

    @property
    def _sl_order(self) -> Order | None:
        return self._run.exit_order(self._core.sl_order_id)

    @property
    def _tp_order(self) -> Order | None:
        return self._run.exit_order(self._core.tp_order_id)

    @property
    def sl(self) -> float | None:
        """Stop-loss price. Assign a price to create or move it, None to cancel it."""
        order = self._sl_order
        return order._core.stop if order is not None else None

    @sl.setter
    def sl(self, price: float | None) -> None:
        self._run.set_exit(self._core, "stop_loss", price)

    @property
    def tp(self) -> float | None:
        """Take-profit price. Assign a price to create or move it, None to cancel it."""
        order = self._tp_order
        return order._core.limit if order is not None else None

    @tp.setter
    def tp(self, price: float | None) -> None:
        self._run.set_exit(self._core, "take_profit", price)


class Position:
    """The open position in one symbol; also callable, minitrade style: ``self.position()``,
    ``self.position("AAPL")``."""

    __slots__ = ("_run", "_symbol")

    def __init__(self, run: Run, symbol: str | None = None) -> None:
        self._run = run
        self._symbol = symbol

    def __call__(self, symbol: str | None = None) -> Position:
        return self._run.position(symbol)

    def _trades(self) -> list[CoreTrade]:
        return self._run.open_core_trades(self._symbol)

    def __bool__(self) -> bool:
        return self.size != 0

    @property
    def size(self) -> float:
        """Units held; negative when short."""
        total = sum(t.size for t in self._trades())
        return int(total) if float(total).is_integer() else total

    @property
    def pl(self) -> float:
        """Unrealized profit or loss in cash (at the last close)."""
        trades = self._trades()
        if not trades:
            return 0.0
        price = self._run.last_price(trades[0].symbol)
        # Backtesting.py's arithmetic: last_price * position_size - sum(trade.size * trade.entry_price)
        return price * sum(t.size for t in trades) - sum(t.size * t.entry_price for t in trades)

    @property
    def pl_pct(self) -> float:
        invested = sum(abs(t.size) * t.entry_price for t in self._trades())
        return (self.pl / invested) * 100 if invested else 0.0

    @property
    def is_long(self) -> bool:
        return self.size > 0

    @property
    def is_short(self) -> bool:
        return self.size < 0

    def close(self, portion: float = 1.0) -> None:
        """Close `portion` of the position by closing that portion of each open trade."""
        for trade in self._trades():
            self._run.trade(trade).close(portion)

    def __repr__(self) -> str:
        return f"<Position: {self.size} ({len(self._trades())} trades)>"

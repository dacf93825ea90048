"""SequentialBroker: a simulated venue with Backtesting.py 0.6's order-processing conventions.

The engine, the orders, the portfolio and the trades are tradeforge's own; only the matching rules differ from
SimulatedBroker's, so that a strategy written for Backtesting.py gives the same trades on tradeforge:

- working orders are processed one at a time in queue order, each seeing the account as the previous one left
  it. Stop-losses and trade closes go to the front of the queue, everything else to the back;
- a stop order becomes a market (or limit) order when the bar touches it; a limit order fills at its price or
  at the open when the bar gaps through it; when a stop-limit's limit and stop are both inside one bar, the
  limit is assumed to come first only when that is the pessimistic reading;
- market orders fill at the bar's open (with ``trade_on_close``, at the close of the bar they were placed on,
  booked with the next bar); the spread is added to entry prices only;
- a relative size (0 < size < 1) buys that fraction of the available margin, valued at the bar's close, after
  spread and commission; an order the margin cannot pay for is cancelled after it has closed what it could;
- orders without a trade close opposite trades first in, first out (unless hedging), then open a new trade;
  exits aimed at a trade (stop-loss, take-profit, ``trade.close()``) close only that trade;
- commission is charged per trade leg: once when a trade opens, once for each trade (or part) an order closes;
- the account is valued with Backtesting.py's own arithmetic (its cash: the starting cash, minus each entry's
  commission, plus each closed trade's gross P&L less its exit commission; plus the open trades' P&L at the
  close), so equity, available margin and relative sizes agree to the last bit, not only to rounding;
- when the account runs out of money, the open trades are closed the way Backtesting.py 0.6.6 closes them
  (it removes trades from the list it iterates, so only every other one is closed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tradeforge.core.clock import iso
from tradeforge.core.errors import DataError
from tradeforge.core.orders import Order
from tradeforge.core.series import Stream
from tradeforge.core.trades import Trade
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, PositionMode, Side

if TYPE_CHECKING:
    from tradeforge.core.engine import Engine

#: commission(signed size, price) -> cash amount, as Backtesting.py calls it
CommissionFunc = Callable[[float, float], float]

_INF = math.inf
_TAKER = Liquidity.TAKER


def _no_commission(size: float, price: float) -> float:
    return 0.0


class SequentialBroker:
    def __init__(
        self,
        *,
        commission: CommissionFunc | None = None,
        spread: float = 0.0,
        trade_on_close: bool = False,
    ) -> None:
        self.commission: CommissionFunc = commission or _no_commission
        self.spread = float(spread)
        self.trade_on_close = bool(trade_on_close)
        self.working: list[Order] = []
        self._gone: set[int] = set()  # ids of orders process() must skip: taken off the queue in its pass
        self.warnings: list[str] = []  # orders the broker cancelled, and why (Backtesting.py warns)
        self.on_warning: Callable[[str], None] | None = None
        # exits of a trade that go to the front of the queue (Backtesting.py 0.6.6: stop-losses and closes;
        # minitrade: take-profits too)
        self.front_roles: tuple[str, ...] = ("stop_loss", "exit", "kill_switch")
        # called (order, value needed, margin available x leverage) before an order the account cannot pay for
        # is dropped; it may raise to stop the run instead
        self.on_margin_shortfall: Callable[[Order, float, float], None] | None = None
        self._trade_sums: dict[str, tuple[str | None, float, float]] = {}
        self._step_done = -1  # the step whose queue was processed (multi-asset: once per step)
        # (price, bar) while filling_at() is in force: orders fill at once at this price (see filling_at)
        self._fill_at: tuple[float, int] | None = None
        self.cash: dict[str, float] = {}  # per strategy: cash as Backtesting.py computes it (see equity())
        # trades whose size Backtesting.py holds as a float (split by an exit aimed at them), not an int
        self.float_sizes: set[int] = set()

    engine: Engine

    def bind(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------- orders in
    def submit(self, order: Order) -> None:
        engine = self.engine
        engine.order_status(order, OrderStatus.ACCEPTED)
        if self._fill_at is not None:
            price, bar = self._fill_at
            if order.trade_id is None:  # an entry booked at a given price (holdings that predate a run): no fee
                self._trade_sums.pop(order.strategy, None)
                self._filled(order, order.qty or 0.0, price, 0.0, _reason(order), bar)
                return
            self._close_trade_order(order, price, bar)
            return
        front = order.trade_id is not None and order.role in self.front_roles
        if front:
            working = self.working
            first = working[0] if working else None
            if (
                order.role == "take_profit"
                and first is not None
                and first.role == "stop_loss"
                and first.trade_id == order.trade_id
                and first.id == order.id - 1
            ):  # placed with its stop-loss: behind it (the take-profit goes first, then the stop-loss before it)
                working.insert(1, order)
            else:
                working.insert(0, order)
        else:
            self.working.append(order)

    def cancel(self, order: Order, reason: str) -> None:
        if order in self.working:
            self.working.remove(order)
            self._gone.add(order.id)
        if order.is_open:
            self.engine.order_status(order, OrderStatus.CANCELLED, reason)

    def after_bar(self, stream: Stream, i: int) -> None:
        """Nothing to update after a bar (Backtesting.py has no trailing stop orders)."""

    # ------------------------------------------------------------- helpers
    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def _trades(self, order: Order) -> list[Trade]:
        return self.engine.portfolio.books[order.strategy].open_trades

    def book_cash(self, strategy: str) -> float:
        """The strategy's cash in Backtesting.py's arithmetic (it differs from the book's by rounding only)."""
        cash = self.cash.get(strategy)
        if cash is None:
            cash = self.cash[strategy] = self.engine.portfolio.books[strategy].capital
        return cash

    def _entry_cash(self, strategy: str, fee: float) -> None:
        self.cash[strategy] = self.book_cash(strategy) - fee

    def _exit_cash(self, strategy: str, size: float, price: float, entry_price: float, fee: float) -> None:
        """size (signed as the trade) of a trade entered at entry_price closed at price, fee paid."""
        self.cash[strategy] = self.book_cash(strategy) + ((size * (price - entry_price)) - fee)

    def _sums(self, strategy: str) -> tuple[str | None, float, float]:
        """(the one symbol of the open trades or None, their total size, sum of size * entry price), cached
        until the next fill (every change to the trades is a fill this broker makes)."""
        sums = self._trade_sums.get(strategy)
        if sums is None:
            trades = self.engine.portfolio.books[strategy].open_trades
            symbol = trades[0].symbol if trades else None
            if symbol is not None and any(t.symbol != symbol for t in trades):
                symbol = None
            sums = (symbol, sum(t.size for t in trades), sum(t.size * t.entry_price for t in trades))
            self._trade_sums[strategy] = sums
        return sums

    def equity(self, strategy: str, price_of: Callable[[str], float]) -> float:
        """Cash plus the open trades valued at price_of(symbol), summed as Backtesting.py sums them."""
        cash = self.book_cash(strategy)
        trades = self.engine.portfolio.books[strategy].open_trades
        if not trades:
            return cash
        symbol, size, cost = self._sums(strategy)
        if symbol is not None:
            # Backtesting.py: cash + (last_price * position_size - sum(trade.size * trade.entry_price))
            return cash + (price_of(symbol) * size - cost)
        return cash + sum(t.size * (price_of(t.symbol) - t.entry_price) for t in trades)

    def equity_at(self, strategy: str, price: float) -> float:
        """equity() of a strategy trading one symbol, valued at price (the per-bar equity log)."""
        if not self.engine.portfolio.books[strategy].open_trades:
            return self.book_cash(strategy)
        _, size, cost = self._sums(strategy)
        return self.book_cash(strategy) + (price * size - cost)

    def _filled(self, order: Order, qty: float, price: float, fee: float, reason: str, at: int) -> None:
        self._trade_sums.pop(order.strategy, None)
        self.engine.order_filled(order, qty, price, fee, _TAKER, reason, at)

    def margin_available(self, strategy: str, price_of: Callable[[str], float]) -> float:
        """Equity not pledged for open trades (every trade counts, long and short: hedged trades too)."""
        trades = self.engine.portfolio.books[strategy].open_trades
        if not trades:
            return max(0.0, self.book_cash(strategy))
        lev = self.engine.portfolio.leverage
        used = sum(abs(t.size) * price_of(t.symbol) / lev for t in trades)
        return max(0.0, self.equity(strategy, price_of) - used)

    def _price_of(self, stream: Stream, i: int) -> Callable[[str], float]:
        """Prices as Backtesting.py values the account while it processes bar i: that bar's close."""
        close_i = float(stream.column("close").item(i))
        symbol = stream.symbol
        engine = self.engine

        def price_of(sym: str) -> float:
            if sym == symbol:
                return close_i
            other = engine.base[sym].column("close")  # multi-asset data share one index
            return float(other[i]) if i < other.shape[0] else float(other[-1])

        return price_of

    # -------------------------------------------------------------- bars in
    def on_bar(self, stream: Stream, i: int) -> None:
        engine = self.engine
        if len(engine.base) > 1:  # several symbols on one index: one pass over the whole queue per step
            if self._step_done == engine.step:
                return
            self._step_done = engine.step
        self.process(stream, i)

    def _bar(self, symbol: str, i: int) -> tuple[float, float, float, float]:
        """(open, high, low, previous close) of bar i of symbol."""
        col = self.engine.base[symbol].column
        o = float(col("open")[i])
        return o, float(col("high")[i]), float(col("low")[i]), float(col("close")[i - 1]) if i > 0 else o

    def process(self, stream: Stream, i: int) -> None:
        """Process the queue against bar i of stream (Backtesting.py's _process_orders)."""
        col = stream.column
        o = col("open").item(i)
        h = col("high").item(i)
        low = col("low").item(i)
        prev_close = col("close").item(i - 1) if i > 0 else o
        symbol = stream.symbol
        price_of = None  # made when an entry needs the account's value (most bars fill none)
        step = self.engine.step
        reprocess = False
        bar = (o, h, low, prev_close)
        gone = self._gone  # orders taken off the queue during this pass (a set: thousands may be working)
        gone.clear()
        for order in list(self.working):
            if order.id in gone:
                continue
            if order.symbol != symbol:  # multi-asset: every symbol's orders in one pass, in queue order
                o, h, low, prev_close = self._bar(order.symbol, i)
            elif o != bar[0] or h != bar[1]:
                o, h, low, prev_close = bar
            is_long = order.side is Side.BUY
            stop = None if order.triggered else order.stop
            if stop is not None:
                if not (h >= stop if is_long else low <= stop):
                    continue
                order.triggered = True  # a touched stop is a market (or limit) order from now on
            contingent = order.role in ("stop_loss", "take_profit")
            limit = order.limit
            if limit is not None:
                limit_hit = low <= limit if is_long else h >= limit
                limit_first = limit_hit and (limit <= (stop or -_INF) if is_long else limit >= (stop or _INF))
                if not limit_hit or limit_first:
                    continue
                price = min(stop or o, limit) if is_long else max(stop or o, limit)
            else:
                price = prev_close if self.trade_on_close and not contingent else o
                if stop is not None:
                    price = max(price, stop) if is_long else min(price, stop)
            is_market = limit is None and stop is None
            at = step - 1 if is_market and self.trade_on_close and not contingent else step

            if order.trade_id is not None:
                self._close_trade_order(order, price, at)
                continue
            if price_of is None:
                price_of = self._price_of(stream, i)
            if self._entry(order, price, at, price_of, is_market, stop, o, h, low):
                reprocess = True
        if reprocess:
            self.process(stream, i)

    # --------------------------------------------------------------- exits
    def _close_trade_order(self, order: Order, price: float, at: int) -> None:
        """An exit aimed at one trade: close min(order, trade) of it at price."""
        trade_id = order.trade_id
        trade = None
        for t in self.engine.portfolio.books[order.strategy].open_trades:
            if t.id == trade_id:
                trade = t
                break
        if trade is None or (trade.size > 0) == (order.side is Side.BUY):
            self._remove(order)
            self.engine.order_status(order, OrderStatus.CANCELLED, "the trade it closes is already closed")
            return
        qty = min(abs(trade.size), order.remaining)
        order.qty = order.filled_qty + qty
        size = math.copysign(qty, trade.size)
        fee = self.commission(size, price)
        self._exit_cash(order.strategy, size, price, trade.entry_price, fee)
        self._remove(order)
        partial = qty < abs(trade.size)
        self._filled(order, qty, price, fee, _reason(order), at)
        if partial:  # Backtesting.py splits it with a float size (math.copysign): both parts are floats
            self.float_sizes.add(trade.id)
            self.float_sizes.add(self.engine.portfolio.books[order.strategy].closed_trades[-1].id)

    # ------------------------------------------------------------- entries
    def _entry(
        self,
        order: Order,
        price: float,
        at: int,
        price_of: Callable[[str], float],
        is_market: bool,
        stop: float | None,
        o: float,
        h: float,
        low: float,
    ) -> bool:
        """A stand-alone order: close opposite trades (netting), then open a trade. True: reprocess the bar."""
        engine = self.engine
        lev = engine.portfolio.leverage
        sign = 1.0 if order.side is Side.BUY else -1.0
        bt_size = sign * (order.qty if order.qty is not None else (order.fraction or 1.0))  # Backtesting.py's size
        adjusted = price * (1 + math.copysign(self.spread, sign))
        unit_cost = adjusted + self.commission(bt_size, price) / abs(bt_size)
        if order.qty is None:
            if not unit_cost > 0:  # a fraction of equity buys unlimited units at a price of zero (or less)
                raise DataError(
                    f"bar {engine.step} ({iso(engine.now)}): a {order.side.name.lower()} order sized as a fraction "
                    f"of equity would fill at a price of {price:g} ({order.symbol}), and no number of units can be "
                    "sized at a price <= 0. Fix or drop the bars with such prices, or give the size in units"
                )
            units = int((self.margin_available(order.strategy, price_of) * lev * abs(bt_size)) // unit_cost)
            if not units:
                self._drop_for_margin(order, "the relative-sized order", price_of)
                return False
            order.qty = float(units)
        need = order.remaining
        floats = self.float_sizes
        # Backtesting.py's need_size is an int until it absorbs a float-sized trade (need_size += trade.size);
        # the part it then closes of a trade, and the trade it opens, are floats too
        need_float = False
        if engine.portfolio.mode is PositionMode.NETTING:
            closed = 0.0
            fee = 0.0
            split: Trade | None = None
            for trade in self._trades(order):
                if need - closed <= 0:
                    break
                if (trade.size > 0) == (sign > 0) or trade.symbol != order.symbol:
                    continue
                part = min(abs(trade.size), need - closed)
                part_fee = self.commission(math.copysign(part, trade.size), price)
                self._exit_cash(order.strategy, math.copysign(part, trade.size), price, trade.entry_price, part_fee)
                fee += part_fee
                closed += part
                if part < abs(trade.size):
                    split = trade
                elif trade.id in floats:
                    need_float = True
            if closed > 0:
                self._filled(order, closed, price, fee, _reason(order), at)
                need -= closed
                if split is not None and need_float:
                    floats.add(split.id)  # what is left of it: trade.size + need_size
                    floats.add(engine.portfolio.books[order.strategy].closed_trades[-1].id)  # -need_size
        if need > 0 and need * unit_cost > (available := self.margin_available(order.strategy, price_of) * lev):
            if self.on_margin_shortfall is not None:  # e.g. minitrade's fail_fast: stop the run instead
                self.on_margin_shortfall(order, need * unit_cost, available)
            self._drop_for_margin(order, "the order", price_of)
            return False
        self._remove(order)
        if need <= 0:
            return False
        fee = self.commission(sign * need, adjusted)
        self._entry_cash(order.strategy, fee)
        self._filled(order, need, adjusted, fee, _reason(order), at)
        if need_float:
            floats.add(engine.portfolio.books[order.strategy].open_trades[-1].id)
        if order.sl is None and order.tp is None:
            return False
        if is_market:
            return True
        sl, tp = order.sl, order.tp
        # the stop and the take-profit were both reached in this bar, the stop-loss was not: not ambiguous
        if (
            stop is not None
            and order.limit is None
            and tp is not None
            and (
                (sign > 0 and tp <= h and (sl if sl is not None else -_INF) < low)
                or (sign < 0 and tp >= low and (sl if sl is not None else _INF) > h)
            )
        ):
            return True
        if (sl is not None and low <= sl <= h) or (tp is not None and low <= tp <= h):
            self._warn(
                f"time={self.engine.step}: A contingent SL/TP order would execute in the same bar its parent "
                f"stop/limit order ({order.describe()}) was turned into a trade. Since the intra-bar price path is "
                "unknown, the SL/TP order will instead be executed on the next (matching) price/bar, making the "
                "result (of this trade) somewhat dubious. See https://github.com/kernc/backtesting.py/issues/119"
            )
        return False

    def _remove(self, order: Order) -> None:
        if order in self.working:
            self.working.remove(order)
            self._gone.add(order.id)

    def _drop_for_margin(self, order: Order, what: str, price_of: Callable[[str], float]) -> None:
        """Cancel an order the account cannot pay for, warning as Backtesting.py does."""
        equity = self.equity(order.strategy, price_of)
        available = self.margin_available(order.strategy, price_of)
        reason = (
            f"time={self.engine.step}: Broker canceled {what} due to insufficient margin "
            f"(equity={equity:.2f}, margin_available={available:.2f})."
        )
        self._remove(order)
        self._warn(reason)
        self.engine.order_status(order, OrderStatus.CANCELLED, reason)

    # -------------------------------------------------------------- wipeout
    def liquidate(self, strategy: str, price: float, bar: int) -> None:
        """The account ran out of money: close its open trades at price now, and stop.

        Backtesting.py 0.6.6 closes them with ``for trade in self.trades: self._close_trade(...)``, which removes
        from the list it iterates: the first, third, fifth... trade is closed, the others are left open (and,
        the run being over, never settled). The same trades are closed here, so the results agree."""
        engine = self.engine
        by_name = engine._by_name[strategy]
        with self.filling_at(price, bar):
            for order in [o for o in self.working if o.strategy == strategy]:
                self.cancel(order, "out of money")
            for trade in list(self._trades_of(strategy))[::2]:
                engine.close_position(by_name, trade.symbol, 1.0, trade, role="exit", tag="out of money")
        self.cash[strategy] = 0.0

    @contextmanager
    def filling_at(self, price: float, bar: int) -> Iterator[None]:
        """While the block runs, every order submitted fills at once at price, dated at bar, without fees: exits
        close their trade (an account that ran out of money, the end of a run), entries open one (holdings a run
        starts with)."""
        self._fill_at = (price, bar)
        try:
            yield
        finally:
            self._fill_at = None

    def _trades_of(self, strategy: str) -> list[Trade]:
        return self.engine.portfolio.books[strategy].open_trades


def _reason(order: Order) -> str:
    if order.role in ("stop_loss", "take_profit", "exit"):
        return order.role
    return order.type._value_


__all__ = ["CommissionFunc", "OrderType", "SequentialBroker"]

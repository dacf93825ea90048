"""One run of a Backtesting.py strategy on the tradeforge engine.

Run wires the engine (portfolio, SequentialBroker with Backtesting.py's conventions) to the user's strategy
through an engine-side adapter, and answers what the Order / Trade / Position views ask.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.compat.errors import CompatAssertionError, CompatValueError
from tradeforge.compat.objects import Order, Position, Trade, Trades
from tradeforge.core.engine import Engine
from tradeforge.core.orders import Order as CoreOrder
from tradeforge.core.portfolio import Portfolio
from tradeforge.core.risk import RiskEngine, RiskLimits
from tradeforge.core.strategy import Strategy as CoreStrategy
from tradeforge.core.trades import Trade as CoreTrade
from tradeforge.core.types import Instrument, OrderType, PositionMode, Side
from tradeforge.sim.sequential import CommissionFunc, SequentialBroker

if TYPE_CHECKING:
    from tradeforge.compat._data import _Data
    from tradeforge.compat.strategy import Strategy


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=2)


def _order_kind(limit: float | None, stop: float | None) -> OrderType:
    if limit is not None:
        return OrderType.STOP_LIMIT if stop is not None else OrderType.LIMIT
    return OrderType.STOP if stop is not None else OrderType.MARKET


class _Adapter(CoreStrategy):
    """The engine-side strategy: reveals data to the Backtesting.py strategy and calls its next()."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self._run = run

    def on_bar(self) -> None:
        self._run.on_bar()


class Run:
    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        ts: np.ndarray,
        *,
        cash: float,
        commission: CommissionFunc,
        spread: float,
        margin: float,
        trade_on_close: bool,
        hedging: bool,
        exclusive_orders: bool,
    ) -> None:
        """frames: one OHLCV frame per symbol, all on the index of ts (one symbol for a Backtesting.py run)."""
        symbols = list(frames)
        self.symbols = symbols
        self.symbol = symbols[0]
        first = frames[self.symbol]
        self.index = first.index
        self.commission = commission
        self.spread = float(spread)
        self.exclusive_orders = bool(exclusive_orders)
        self.broker = SequentialBroker(commission=commission, spread=spread, trade_on_close=trade_on_close)
        self.broker.on_warning = _warn  # orders the broker cancels (margin), dubious same-bar exits
        portfolio = Portfolio(
            cash,
            {s: Instrument(s, lot_size=1.0) for s in symbols},
            mode=PositionMode.HEDGING if hedging else PositionMode.NETTING,
            leverage=1.0 / margin,
        )
        self.engine = Engine(portfolio, self.broker, RiskEngine(RiskLimits(check_margin=False)))
        timeframe = int(ts[1] - ts[0]) if len(ts) > 1 else 86_400_000_000_000
        self.closes: dict[str, np.ndarray] = {}
        for s in symbols:
            df = frames[s]
            self.closes[s] = df["Close"].to_numpy(dtype=float)
            self.engine.add_stream(
                s,
                timeframe,
                {
                    "ts": ts,
                    "open": df["Open"].to_numpy(dtype=float),
                    "high": df["High"].to_numpy(dtype=float),
                    "low": df["Low"].to_numpy(dtype=float),
                    "close": self.closes[s],
                    "volume": np.nan_to_num(df["Volume"].to_numpy(dtype=float), nan=0.0),
                },
            )
        self.adapter = _Adapter(self)
        self.adapter.on_bar = self.on_bar  # type: ignore[method-assign]  # the engine calls Run.on_bar directly
        self.engine.add_strategy(self.adapter, symbols, cash)
        self.book = portfolio.books[self.adapter.name]
        # what on_bar reads each bar (containers the broker and the book change in place)
        self._open_trades = self.book.open_trades
        self._cash = self.broker.cash
        self._trade_sums = self.broker._trade_sums
        self._name = self.adapter.name
        self.close = self.closes[self.symbol]
        self._closes: list[float] = self.close.tolist()
        self._data_state: dict[str, Any] = {}
        self.strategy: Strategy | None = None
        self.data: _Data | None = None
        self.start = 0
        self.out_of_money_step: int | None = None
        self._equity = np.full(len(first), np.nan)  # logged at each bar from start, as Backtesting.py's broker does
        self._tags: dict[int, Any] = {}
        self._orders: dict[int, Order] = {}
        self._trades: dict[int, Trade] = {}
        self._indicator_attrs: list[tuple[str, Any, bool]] = []
        self._recomputed: list[tuple[str, Any, Any]] = []  # look-ahead indicators: recomputed on the bars so far
        self._strategy_dict: dict[str, Any] = {}
        self._position = Position(self, None)
        self._closed_views: list[Trade] = []
        self.in_init = False  # True while the strategy's init() runs: orders then wait for the first next()
        self._deferred: list[Order] = []
        self._deferred_seq = 0  # ids of held orders count down from -1 (the engine's count up from 1)
        self.storage: MutableMapping[str, Any] | None = None  # minitrade's Backtest(storage=): self.storage

    # ----------------------------------------------------------------- running
    def attach(self, strategy: Strategy, data: _Data, start: int, indicator_attrs: list[tuple[str, Any]]) -> None:
        self.strategy = strategy
        self.data = data
        self.start = start
        self._indicator_attrs, self._recomputed = strategy._reveal_lists(indicator_attrs)
        self._strategy_dict = strategy.__dict__
        self._data_state = data.__dict__

    def on_bar(self) -> None:
        k = self.engine.step
        if k < self.start or self.out_of_money_step is not None:
            if self._deferred and k == self.start - 1:
                self._submit_deferred()
            return
        strategy = self.strategy
        assert strategy is not None
        stop = k + 1
        data_state = self._data_state  # _Data._set_length(k + 1), written out (this runs once per bar)
        data_state["_Data__len"] = stop
        data_state["_Data__cache"].clear()
        attrs = self._strategy_dict
        for attr, indicator, flat in self._indicator_attrs:
            attrs[attr] = indicator[:stop] if flat else indicator[..., :stop]
        if self._recomputed:
            strategy._reveal_known(attrs, self._recomputed, stop)
        # Backtesting.py's broker.next(): the orders were processed; log equity; stop when it is gone
        name = self._name
        equity = self._cash.get(name)
        if equity is None:
            equity = self.broker.book_cash(name)
        if self._open_trades:
            _, size, cost = self._trade_sums.get(name) or self.broker._sums(name)
            equity += self._closes[k] * size - cost
        self._equity[k] = equity
        if equity <= 0:
            self._out_of_money(k)
            return
        strategy.next()  # looked up each bar, as Backtesting.py does: a strategy may replace its own next

    def equity_at(self, price: float) -> float:
        """Cash plus open trades valued at price, in Backtesting.py's arithmetic (bit for bit)."""
        return self.broker.equity_at(self._name, float(price))

    def _out_of_money(self, k: int) -> None:
        self.out_of_money_step = k
        self.broker.liquidate(self.adapter.name, float(self.close[k]), k)
        self._equity[k:] = 0.0

    def equity_curve(self) -> np.ndarray:
        """Equity at each bar's close, as Backtesting.py reports it: bars before the first next() take the
        first logged value, and every bar from running out of money on is 0."""
        logged = pd.Series(self._equity).bfill().fillna(self.broker.book_cash(self.adapter.name))
        return logged.to_numpy(dtype=float)

    def finalize(self) -> None:
        """Close every open trade at the last bar, as Backtesting.py's finalize_trades does."""
        for trade in reversed(list(self.book.open_trades)):
            self.trade(trade).close()
        stream = self.engine.base[self.symbol]
        last = stream.length - 1
        if self.start <= last:
            self.broker.process(stream, last)
            equity = self._equity[last] = self.equity_at(self.close[last])
            if equity <= 0 and self.out_of_money_step is None:
                self._out_of_money(last)

    # ------------------------------------------------------------------ orders
    def new_order(
        self,
        size: float,
        limit: float | None,
        stop: float | None,
        sl: float | None,
        tp: float | None,
        tag: Any,
    ) -> Order:
        stop = float(stop) if stop else None
        limit = float(limit) if limit else None
        sl = float(sl) if sl else None
        tp = float(tp) if tp else None
        is_long = size > 0
        if size == 0:
            raise CompatAssertionError("order size must not be zero")
        ref = limit or stop
        if not ref:  # a market order: sl/tp are checked against the last close, spread-adjusted
            # in init() the data is all there, so Backtesting.py checks against the last close of all of it
            last = float(self.closes[self.symbol][-1]) if self.in_init else self.last_price(self.symbol)
            ref = last * (1 + math.copysign(self.spread, size))
        if is_long and not ((sl or -math.inf) < ref < (tp or math.inf)):
            raise CompatValueError(f"Long orders require: SL ({sl}) < LIMIT ({ref}) < TP ({tp})")
        if not is_long and not ((tp or -math.inf) < ref < (sl or math.inf)):
            raise CompatValueError(f"Short orders require: TP ({tp}) < LIMIT ({ref}) < SL ({sl})")
        units = abs(size)
        if self.in_init:
            return self._defer(is_long, units, limit, stop, sl, tp, tag)
        if self.exclusive_orders:
            # Backtesting.py 0.6.6 cancels while iterating its live order list, so the order right after each
            # cancelled one is skipped and stays working; walking the broker's list the same way keeps its trades
            working = self.broker.working
            i = 0
            while i < len(working):
                order = working[i]
                if order.role not in ("stop_loss", "take_profit"):
                    self.engine.cancel(order, "exclusive_orders: a new order replaces it")
                i += 1
            for trade in list(self.book.open_trades):
                self.trade(trade).close()
        kind = _order_kind(limit, stop)
        relative = units < 1
        core = self.engine.submit_new(
            self.adapter,
            side=Side.BUY if is_long else Side.SELL,
            symbol=self.symbol,
            kind=kind,
            qty=None if relative else units,
            fraction=units if relative else None,
            limit=limit,
            stop=stop,
            sl=sl,
            tp=tp,
            tag="" if tag is None else str(tag),
        )
        if tag is not None:
            self._tags[core.id] = tag
        return self.order(core)

    def _defer(
        self,
        is_long: bool,
        units: float,
        limit: float | None,
        stop: float | None,
        sl: float | None,
        tp: float | None,
        tag: Any,
    ) -> Order:
        """An order placed in init(): Backtesting.py keeps it until its broker first runs, at the first bar
        next() is called for, so it fills there (as if placed on the bar before). It is held here and submitted
        to the engine on that bar before; until then it is an order of its own (negative id) in self.orders."""
        if self.exclusive_orders:  # Backtesting.py's cancel-while-iterating walk, as in new_order
            i = 0
            while i < len(self._deferred):
                del self._deferred[i]
                i += 1
        kind = _order_kind(limit, stop)
        relative = units < 1
        self._deferred_seq -= 1
        core = CoreOrder(
            self._deferred_seq,
            self._name,
            self.symbol,
            Side.BUY if is_long else Side.SELL,
            kind,
            None if relative else units,
            0,
            -1,
            fraction=units if relative else None,
            limit=limit,
            stop=stop,
            sl=sl,
            tp=tp,
            tag="" if tag is None else str(tag),
        )
        view = Order(self, core)
        if tag is not None:
            self._tags[core.id] = tag
        self._deferred.append(view)
        return view

    def drop_deferred(self, view: Order) -> None:
        """Cancel an order placed in init() before it reached the engine."""
        self._deferred = [o for o in self._deferred if o is not view]

    def _submit_deferred(self) -> None:
        pending, self._deferred = self._deferred, []
        for view in pending:
            held = view._core
            core = self.engine.submit_new(
                self.adapter,
                side=held.side,
                symbol=held.symbol,
                kind=held.type,
                qty=held.qty,
                fraction=held.fraction,
                limit=held.limit,
                stop=held.stop,
                sl=held.sl,
                tp=held.tp,
                tag=held.tag,
            )
            tag = self._tags.pop(held.id, None)
            if tag is not None:
                self._tags[core.id] = tag
            view._core = core
            self._orders[core.id] = view

    def close_trade(self, trade: CoreTrade, units: float, limit: float | None = None) -> CoreOrder:
        """An order closing `units` of the trade: at market, or at `limit` or better."""
        core = self.engine.submit_new(
            self.adapter,
            side=Side.SELL if trade.size > 0 else Side.BUY,
            symbol=trade.symbol,
            kind=OrderType.MARKET if limit is None else OrderType.LIMIT,
            qty=units,
            limit=limit,
            reduce_only=True,
            trade_id=trade.id,
            role="exit",
            tag=trade.tag,
        )
        entry_tag = self._tags.get(trade.entry_order_id)
        if entry_tag is not None:
            self._tags[core.id] = entry_tag
        return core

    def set_exit(self, trade: CoreTrade, role: str, price: float | None) -> None:
        if price is not None and not (0 < price < math.inf):
            raise CompatAssertionError(f"Make sure 0 < price < inf! price: {price}")
        if not trade.is_open:
            raise CompatValueError("the trade is closed: its stop-loss and take-profit cannot change")
        leg = self.engine.set_trade_exit(trade, role, float(price) if price else None)
        if leg is not None:
            entry_tag = self._tags.get(trade.entry_order_id)
            if entry_tag is not None:
                self._tags[leg.id] = entry_tag

    # ------------------------------------------------------------------ views
    def order(self, core: CoreOrder) -> Order:
        wrapper = self._orders.get(core.id)
        if wrapper is None:
            wrapper = self._orders[core.id] = Order(self, core)
        return wrapper

    def trade(self, core: CoreTrade) -> Trade:
        wrapper = self._trades.get(core.id)
        if wrapper is None:
            wrapper = self._trades[core.id] = Trade(self, core)
        return wrapper

    def trade_by_id(self, trade_id: int) -> Trade | None:
        wrapper = self._trades.get(trade_id)
        if wrapper is not None:
            return wrapper
        for t in self.book.open_trades:
            if t.id == trade_id:
                return self.trade(t)
        for t in self.book.closed_trades:
            if t.id == trade_id:
                return self.trade(t)
        return None

    def exit_order(self, order_id: int | None) -> Order | None:
        if order_id is None:
            return None
        core = self.engine.open.get(order_id) or self.engine.order_by_id(order_id)
        if core is None:
            return None
        return self.order(core)

    def order_tag(self, core: CoreOrder) -> Any:
        if core.id in self._tags:
            return self._tags[core.id]
        if core.trade_id is not None:  # an exit of a trade (its stop-loss, take-profit): the trade's tag
            trade = self.trade_by_id(core.trade_id)
            return trade.tag if trade is not None else None
        return None

    def trade_tag(self, core: CoreTrade) -> Any:
        return self._tags.get(core.entry_order_id)

    def last_price(self, symbol: str) -> float:
        return self.engine.last_price(symbol)

    def equity(self) -> float:
        if not self.book.open_trades:  # also in init(), before any price (Backtesting.py gives the cash)
            return self.broker.book_cash(self.adapter.name)
        return self.equity_at(self.last_price(self.symbol))

    def position(self, symbol: str | None) -> Position:
        if symbol is None or symbol == self.symbol:
            return self._position
        raise CompatValueError(f"no symbol {symbol!r} in this backtest; it trades {self.symbol!r}")

    def open_core_trades(self, symbol: str | None) -> list[CoreTrade]:
        return self.book.open_trades

    def orders(self) -> tuple[Order, ...]:
        if self._deferred:  # placed in init(), not yet at the engine
            return tuple(self._deferred) + tuple(self.order(o) for o in self.broker.working)
        return tuple(self.order(o) for o in self.broker.working)

    def trades(self) -> Trades:
        return Trades(self.trade(t) for t in self.book.open_trades)

    def closed_trades(self) -> tuple[Trade, ...]:
        closed = self.book.closed_trades  # only ever appended to: wrap the new ones, keep the rest
        views = self._closed_views
        if len(views) < len(closed):
            views.extend(self.trade(t) for t in closed[len(views) :])
        return tuple(views)

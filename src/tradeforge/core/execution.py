"""Order handling, mixed into Engine: submission through the risk checks to the gateway, the gateway's reports
(status changes and fills, attached stop-loss / take-profit orders), sizing against a book's margin, and the
queries these need (the current step's time, last prices, calling a strategy back)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.clock import iso, parse_timeframe, period_start
from tradeforge.core.errors import ConfigError, LookAheadError, OrderRejected, StrategyError
from tradeforge.core.events import Fill
from tradeforge.core.orders import Order
from tradeforge.core.risk import RiskCheckInput
from tradeforge.core.signals import Signal
from tradeforge.core.strategy import Strategy, TradeEvent
from tradeforge.core.trades import Position, Trade
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, PositionMode, Side, TimeInForce

if TYPE_CHECKING:
    from tradeforge.core.portfolio import Portfolio
    from tradeforge.core.ports import ExecutionGateway
    from tradeforge.core.risk import RiskEngine
    from tradeforge.core.series import Stream
    from tradeforge.core.types import Instrument


class Execution:
    """The order half of Engine. Engine sets these attributes; this class reads and updates them."""

    portfolio: Portfolio
    gateway: ExecutionGateway
    risk: RiskEngine
    instruments: dict[str, Instrument]
    base: dict[str, Stream]
    strategies: list[Strategy]
    orders: list[Order]
    signals: list[Signal]
    _signal_now: dict[tuple[str, str], Signal]
    fills: list[Fill]
    open: dict[int, Order]
    step: int
    step_ts: list[int]
    _batch_ts: npt.NDArray[np.int64] | None
    _now_step: int
    _now: int
    _touched: set[str] | None
    _matching: bool
    _by_name: dict[str, Strategy]
    _symbols: dict[str, list[str]]
    _order_seq: int
    _entries: dict[tuple[str, str], int]
    _wants_orders: set[str]
    _wants_trades: set[str]

    # ================================================================= time
    @property
    def now(self) -> int:
        if self.step < 0:
            raise ConfigError("there is no current bar before the first step")
        if self._now_step != self.step:  # one int per step, shared by every order and fill of that step
            self._now_step = self.step
            self._now = int(self._batch_ts[self.step]) if self._batch_ts is not None else self.step_ts[self.step]
        return self._now

    def last_price(self, symbol: str) -> float:
        stream = self.base[symbol]
        if stream.n == 0:
            raise OrderRejected(f"no price for {symbol} yet: wait for its first bar")
        return float(stream.column("close")[stream.n - 1])

    @property
    def next_order_id(self) -> int:
        """The id the next order placed (by a strategy or as an attached exit) will get."""
        return self._order_seq + 1

    def order_by_id(self, order_id: int) -> Order | None:
        """Any order this engine has taken (open or not), by id; None for an id it never gave."""
        orders = self.orders
        k = order_id - 1  # ids are given in order from 1 and each order is kept as it is given its id
        if 0 <= k < len(orders) and orders[k].id == order_id:
            return orders[k]
        return next((o for o in reversed(orders) if o.id == order_id), None)

    def last_price_or_none(self, symbol: str) -> float | None:
        stream = self.base.get(symbol)
        return float(stream.column("close")[stream.n - 1]) if stream is not None and stream.n else None

    def has_bar_now(self, symbol: str) -> bool:
        """Whether symbol's bar of the current step has closed and been revealed (its close is not stale).
        False while the gateway matches orders against the step's bars, before they are revealed."""
        return not self._matching and (self._touched is None or symbol in self._touched)

    def prices(self) -> dict[str, float]:
        return {s: float(st.column("close")[st.n - 1]) for s, st in self.base.items() if st.n}

    def _call(self, strategy: Strategy, callback: str, func: Callable[..., None], *args: Any) -> None:
        try:
            func(*args)
        except (StrategyError, LookAheadError):
            raise
        except Exception as exc:
            when = iso(self.now) if self.step >= 0 else "start"
            raise StrategyError(strategy._name, callback, when, exc) from exc

    # ============================================================== orders
    def submit_new(
        self,
        strategy: Strategy,
        *,
        side: Side,
        symbol: str,
        kind: OrderType,
        qty: float | None,
        fraction: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        trail_amount: float | None = None,
        trail_percent: float | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        expire_at: int | None = None,
        valid_for: str | None = None,
        tag: str = "",
        role: str = "entry",
        reduce_only: bool = False,
        trade_id: int | None = None,
    ) -> Order:
        if symbol not in self._symbols[strategy._name]:
            raise ConfigError(
                f"strategy {strategy._name} does not trade {symbol!r}; its symbols are "
                f"{', '.join(self._symbols[strategy._name])}"
            )
        if self.step < 0:
            raise ConfigError("orders can only be placed from on_bar (or later callbacks), not before the first bar")
        if kind is not OrderType.MARKET and (  # the prices each kind needs (market orders need none)
            (limit is None and (kind is OrderType.LIMIT or kind is OrderType.STOP_LIMIT))
            or (stop is None and (kind is OrderType.STOP or kind is OrderType.STOP_LIMIT))
            or (kind is OrderType.TRAILING_STOP and trail_amount is None and trail_percent is None)
        ):
            raise ConfigError(
                f"a {kind.value} order needs its price(s): limit={limit}, stop={stop}, trail={trail_amount}"
            )
        now = self.now
        if valid_for is not None:  # counted from the close of the bar being processed (now is its open time)
            expire_at = now + self.base[symbol].timeframe + parse_timeframe(valid_for)
        if expire_at is not None:
            tif = TimeInForce.GTT
        elif tif is TimeInForce.GTT:
            raise ConfigError("time in force GTT needs expire_at (int ns) or valid_for (e.g. '3h')")
        self._order_seq += 1
        # positional, in Order's field order: an order is built for every trade, and keywords cost ~1 µs here
        order = Order(
            self._order_seq, strategy._name, symbol, side, kind, qty, now, self.step, fraction, limit, stop,
            trail_amount, trail_percent, tif, expire_at, sl, tp, reduce_only, None, trade_id, None, role, tag,
        )  # fmt: skip
        order.updated_ts = now
        if self._signal_now:
            signal = self._signal_now.get((strategy._name, symbol))
            if signal is not None and signal.ts == now and signal.accepted is not False:
                order.signal_id = signal.id
        self.orders.append(order)
        reason = self._pre_trade(strategy, order)  # refuses orders on a symbol without a price yet
        if reason is None and kind is OrderType.TRAILING_STOP:
            order.trail_extreme = self.last_price(symbol)
        if reason is not None:
            order.reject_reason = reason
            order.transition(OrderStatus.REJECTED, now)
            self._notify(order)
            return order
        order.transition(OrderStatus.SUBMITTED, now)
        self.open[order.id] = order
        self.gateway.submit(order)
        return order

    def add_signal(
        self,
        strategy: Strategy,
        *,
        side: Side,
        symbol: str,
        valid_for: str | None = None,
        kind: str = "entry",
        price: float | None = None,
        strength: float | None = None,
        accepted: bool | None = True,
        reason: str = "",
        model: str = "",
        value: float | None = None,
        threshold: float | None = None,
        label: str = "",
        data: dict[str, Any] | None = None,
    ) -> Signal:
        """Record a strategy's signal (see core.signals); orders it places for symbol in this step act on it."""
        if symbol not in self._symbols[strategy._name]:
            raise ConfigError(f"strategy {strategy._name} does not trade {symbol!r}: no signal for it")
        if kind not in ("entry", "exit"):
            raise ConfigError(f"a signal's kind is 'entry' or 'exit', got {kind!r}")
        if self.step < 0:
            raise ConfigError("signals can only be given from on_bar (or later callbacks)")
        now = self.now
        tf = self.base[symbol].timeframe
        window = parse_timeframe(valid_for) if valid_for is not None else tf
        if window <= 0:
            raise ConfigError(f"valid_for must be a positive duration, got {valid_for!r}")
        signal = Signal(
            len(self.signals) + 1, strategy._name, symbol, side, now, now + tf + window, kind,
            price if price is not None else self.last_price_or_none(symbol), strength, accepted, reason, model,
            value, threshold, label, dict(data or {}),
        )  # fmt: skip
        self.signals.append(signal)
        self._signal_now[(strategy._name, symbol)] = signal
        return signal

    def _pre_trade(self, strategy: Strategy, order: Order) -> str | None:
        book = self.portfolio.books[strategy._name]
        pos = book.position(order.symbol)
        sign = int(order.side)
        reduces = order.reduce_only or (order.qty is not None and pos.qty * sign < 0 and order.qty <= abs(pos.qty))
        if not reduces and strategy.entry_period:
            period = period_start(order.created_ts, parse_timeframe(strategy.entry_period))
            key = (strategy._name, order.symbol)
            if self._entries.get(key) == period:
                return f"entry window: {order.symbol} was already entered in this {strategy.entry_period} period"
            reason = self._checks(strategy, order, pos, sign, reduces)
            if reason is None:  # only an accepted order uses up the period
                self._entries[key] = period
            return reason
        return self._checks(strategy, order, pos, sign, reduces)

    def _checks(self, strategy: Strategy, order: Order, pos: Position, sign: int, reduces: bool) -> str | None:
        stream = self.base[order.symbol]
        if stream.n == 0:
            return f"no price for {order.symbol} yet: wait for its first bar"  # as last_price() refuses it
        price = order.stop if order.stop is not None else order.limit
        if price is None:
            price = float(stream.column("close")[stream.n - 1])
        inst = self.instruments[order.symbol]
        if order.qty is not None:
            lots = inst.round_qty_down(order.qty)
            if lots == 0.0:
                return f"order size {order.qty:g} is below the lot size {inst.lot_size:g} of {order.symbol}"
            order.qty = lots  # whole lots, as a venue would take it
            if inst.min_notional:
                value = order.qty * price * inst.multiplier
                if value < inst.min_notional:
                    return (
                        f"order value {value:,.2f} is below the minimum notional {inst.min_notional:g} of "
                        f"{order.symbol}"
                    )
        if not self.risk.active:
            return None
        # a fraction order is sized when it fills; estimate it now the way the broker will size it
        qty = order.qty if order.qty is not None else self.affordable_qty(order, price, 0.0, 0.0)
        # orders already working count as if filled, so several orders in one bar cannot step over a limit
        # (fraction orders have no size until they fill and are not counted)
        pending = sum(
            o.remaining * int(o.side)
            for o in self.open.values()
            if o.strategy == strategy._name and o.symbol == order.symbol and not o.reduce_only and o.qty is not None
        )
        if reduces and pending and not order.reduce_only:
            # orders already working have used up (part of) the position: several orders in one bar that each
            # "reduce" the position must not flip it beyond the limits (reduce_only orders are clipped at fill)
            left = pos.qty + pending
            reduces = left * sign < 0 and qty <= abs(left)
        limits = self.risk.limits
        gross, equity = 0.0, None
        if limits.max_gross_exposure is not None or limits.max_daily_loss is not None:
            prices = self.prices()
            if limits.max_gross_exposure is not None:
                gross = self.portfolio.gross_exposure(prices)
            if limits.max_daily_loss is not None:
                equity = self.portfolio.equity(prices)
        check = RiskCheckInput(
            symbol=order.symbol,
            signed_qty=qty * sign,
            price=price,
            multiplier=inst.multiplier,
            position_qty=pos.qty + pending,
            gross_exposure=gross,
            account_position_qty=self.portfolio.net_qty.get(order.symbol, 0.0) + pending,
            reduces=reduces,
            now=order.created_ts,
            equity=equity,
        )
        return self.risk.check(check)

    def close_position(
        self,
        strategy: Strategy,
        symbol: str,
        fraction: float,
        trade: Trade | None,
        *,
        role: str = "exit",
        tag: str = "close",
    ) -> list[Order]:
        """Market orders that close the position (netting), each open trade (hedging) or one trade."""
        book = self.portfolio.books[strategy._name]
        hedging = self.portfolio.mode is PositionMode.HEDGING
        targets: list[tuple[float, int | None]] = []
        if trade is not None:
            if not trade.is_open or trade.strategy != strategy._name:
                raise ConfigError(f"trade {trade.id} is not an open trade of {strategy._name}")
            symbol = trade.symbol
            targets.append((trade.size, trade.id))
        elif hedging:
            targets = [(t.size, t.id) for t in book.open_trades if t.symbol == symbol]
        else:
            qty = book.position(symbol).qty
            if qty:
                targets.append((qty, None))
        orders = []
        inst = self.instruments[symbol]
        for size, trade_id in targets:
            amount = abs(size) if fraction >= 1.0 else inst.round_qty_down(abs(size) * fraction)
            if amount <= 0:
                continue
            orders.append(
                self.submit_new(
                    strategy,
                    side=Side.SELL if size > 0 else Side.BUY,
                    symbol=symbol,
                    kind=OrderType.MARKET,
                    qty=amount,
                    tag=tag,
                    role=role,
                    reduce_only=True,
                    trade_id=trade_id,
                )
            )
        return orders

    def cancel(self, order: Order, reason: str) -> None:
        if not order.is_open:
            return
        self.gateway.cancel(order, reason)

    def kill_switch(self, reason: str) -> None:
        """Refuse new entries, cancel every open order and flatten every position of every strategy."""
        self.risk.halt(reason)
        for order in list(self.open.values()):
            self.cancel(order, f"kill switch: {reason}")
        for strategy in self.strategies:
            book = self.portfolio.books[strategy._name]
            symbols = {t.symbol: None for t in book.open_trades}  # hedged trades may net to zero
            symbols.update({sym: None for sym, pos in book.positions.items() if pos.qty})
            for symbol in symbols:
                self.close_position(strategy, symbol, 1.0, None, role="kill_switch", tag="kill switch")

    # ============================================== callbacks from the gateway
    def order_status(self, order: Order, status: OrderStatus, reason: str = "") -> None:
        ts = self.now if self.step >= 0 else order.created_ts
        if reason:
            order.reject_reason = reason
        order.transition(status, ts)
        if not order.is_open:
            self.open.pop(order.id, None)
        if order.strategy in self._wants_orders:
            self._notify(order)

    def order_filled(
        self,
        order: Order,
        qty: float,
        price: float,
        fee: float,
        liquidity: Liquidity,
        reason: str,
        at_step: int | None = None,
    ) -> Fill:
        """The gateway executed qty of order at price: book it, attach or cancel contingent orders, notify.

        at_step dates the fill (and the trades it opens or closes) at an earlier step's close although it is
        booked now: the account changes from the current step on (Backtesting.py's trade_on_close)."""
        now = ts = self.now
        step = bar = self.step
        if at_step is not None and 0 <= at_step < step:
            bar = at_step
            ts = int(self._batch_ts[at_step]) if self._batch_ts is not None else self.step_ts[at_step]
        # positional: order_id, strategy, symbol, side, qty, price, fee, ts, bar, liquidity, reason
        fill = Fill(order.id, order.strategy, order.symbol, order.side, qty, price, fee, ts, bar, liquidity, reason)
        self.fills.append(fill)
        order.record_fill(qty, price, fee)
        change = self.portfolio.apply_fill(
            fill, trade_id=order.trade_id, tag=order.tag, step=None if bar == step else step
        )
        wanted = order.qty or 0.0
        done = order.filled_qty >= wanted - 1e-12 * max(1.0, wanted)
        order.transition(OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, now)
        if done:
            self.open.pop(order.id, None)
        for trade in change.closed:
            if trade.sl_order_id is not None or trade.tp_order_id is not None:
                self._cancel_contingent(trade, keep=order.id)
        for trade in change.reduced:
            if trade.sl_order_id is not None or trade.tp_order_id is not None:
                self._resize_contingent(trade)
        if order.sl is not None or order.tp is not None:
            for trade in change.opened:
                self._attach_contingent(order, trade)
        self._notify(order)
        if order.strategy in self._wants_trades:
            strategy = self._by_name[order.strategy]
            self._call(
                strategy,
                "on_trade",
                strategy.on_trade,
                TradeEvent(fill, change.opened, change.closed, change.reduced),
            )
        return fill

    def _notify(self, order: Order) -> None:
        if order.strategy in self._wants_orders:
            strategy = self._by_name[order.strategy]
            self._call(strategy, "on_order", strategy.on_order, order)

    def _contingent_ids(self, trade: Trade) -> list[int]:
        return [i for i in (trade.sl_order_id, trade.tp_order_id) if i is not None]

    def _cancel_contingent(self, trade: Trade, keep: int) -> None:
        for oid in self._contingent_ids(trade):
            order = self.open.get(oid)
            if order is not None and oid != keep:
                self.gateway.cancel(order, f"trade {trade.id} closed")

    def _resize_contingent(self, trade: Trade) -> None:
        for oid in self._contingent_ids(trade):
            order = self.open.get(oid)
            if order is not None:
                order.qty = order.filled_qty + abs(trade.size)

    def _attach_contingent(self, entry: Order, trade: Trade) -> None:
        """Create (or grow) the stop-loss / take-profit of a trade opened by entry."""
        if entry.sl is None and entry.tp is None:
            return
        existing = self._contingent_ids(trade)
        if existing:
            self._resize_contingent(trade)
            return
        legs: list[Order] = []
        if entry.sl is not None:
            legs.append(self._exit_leg(trade, "stop_loss", entry.sl, entry.id, entry.tag))
        if entry.tp is not None:
            legs.append(self._exit_leg(trade, "take_profit", entry.tp, entry.id, entry.tag))
        for leg in legs:
            if leg.role == "stop_loss":
                trade.sl_order_id = leg.id
            else:
                trade.tp_order_id = leg.id
            if len(legs) == 2:
                leg.oco_id = legs[1].id if leg is legs[0] else legs[0].id
            self._submit_leg(leg)

    def _exit_leg(self, trade: Trade, role: str, price: float, parent_id: int, tag: str) -> Order:
        """A stop-loss (stop order) or take-profit (limit order) closing the whole of trade."""
        self._order_seq += 1
        return Order(
            id=self._order_seq,
            strategy=trade.strategy,
            symbol=trade.symbol,
            side=Side.SELL if trade.size > 0 else Side.BUY,
            type=OrderType.STOP if role == "stop_loss" else OrderType.LIMIT,
            qty=abs(trade.size),
            created_ts=self.now,
            created_bar=self.step,
            limit=price if role == "take_profit" else None,
            stop=price if role == "stop_loss" else None,
            reduce_only=True,
            parent_id=parent_id,
            trade_id=trade.id,
            role=role,
            tag=tag,
            updated_ts=self.now,
        )

    def _submit_leg(self, leg: Order) -> None:
        if self.risk.counts_orders:  # attached exits skip the checks but count toward max_orders_per_minute
            self.risk.record_order(self.now)
        self.orders.append(leg)
        leg.transition(OrderStatus.SUBMITTED, self.now)
        self.open[leg.id] = leg
        self.gateway.submit(leg)

    def set_trade_exit(self, trade: Trade, role: str, price: float | None) -> Order | None:
        """Replace the stop-loss or take-profit of an open trade (price None removes it). Returns the new order."""
        if role not in ("stop_loss", "take_profit"):
            raise ConfigError(f"role must be 'stop_loss' or 'take_profit', got {role!r}")
        if not trade.is_open:
            raise ConfigError(f"trade {trade.id} is closed: its exits cannot change")
        if price is not None and not (math.isfinite(price) and price > 0):
            raise ConfigError(f"a {role.replace('_', '-')} price must be a positive finite number, got {price!r}")
        attr = "sl_order_id" if role == "stop_loss" else "tp_order_id"
        old_id = getattr(trade, attr)
        if old_id is not None:
            setattr(trade, attr, None)
            old = self.open.get(old_id)
            if old is not None:
                self.gateway.cancel(old, f"{role.replace('_', '-')} of trade {trade.id} replaced")
        if price is None:
            return None
        leg = self._exit_leg(trade, role, float(price), trade.entry_order_id, trade.tag)
        other_id = trade.tp_order_id if role == "stop_loss" else trade.sl_order_id
        other = self.open.get(other_id) if other_id is not None else None
        if other is not None:
            leg.oco_id, other.oco_id = other.id, leg.id
        setattr(trade, attr, leg.id)
        self._submit_leg(leg)
        return leg

    # ============================================================ sizing
    def _book_available(self, strategy: str, symbol: str, price: float) -> float:
        """The book's free margin, valuing symbol at price and every other symbol at its last close."""

        def price_of(sym: str) -> float:
            return price if sym == symbol else self.last_price(sym)

        return self.portfolio.book_margin_available(strategy, price_of)

    def affordable_qty(self, order: Order, price: float, unit_fee_rate: float, fixed_fee: float) -> float:
        """Units a fraction order can buy at price with the book's available margin (rounded to lots)."""
        inst = self.instruments[order.symbol]
        available = self._book_available(order.strategy, order.symbol, price)
        pos = self.portfolio.books[order.strategy].positions.get(order.symbol)
        if pos is not None and pos.qty * int(order.side) < 0:  # an opposite position frees its margin first
            available += abs(pos.qty) * price * inst.multiplier / self.portfolio.leverage
        budget = available * self.portfolio.leverage * (order.fraction or 1.0) - fixed_fee
        unit_cost = price * inst.multiplier + price * inst.multiplier * unit_fee_rate
        if budget <= 0 or unit_cost <= 0:
            return 0.0
        return inst.round_qty_down(math.floor(budget / unit_cost / inst.lot_size + 1e-9) * inst.lot_size)

    def margin_shortfall(self, order: Order, qty: float, price: float, fee: float) -> str | None:
        """None when the book can carry the position change, else why not."""
        if not self.risk.limits.check_margin:
            return None
        inst = self.instruments[order.symbol]
        pos = self.portfolio.books[order.strategy].positions.get(order.symbol)
        held = pos.qty if pos is not None else 0.0
        signed = qty * int(order.side)
        reduction = min(abs(signed), abs(held)) if held * signed < 0 else 0.0
        increase = abs(signed) - reduction
        if increase <= 0:
            return None
        lev = self.portfolio.leverage
        available = self._book_available(order.strategy, order.symbol, price)
        available += reduction * price * inst.multiplier / lev
        need = increase * price * inst.multiplier / lev + fee
        if need > available * (1 + 1e-9):
            return (
                f"insufficient margin for {order.describe()}: needs {need:,.2f} "
                f"(at {price:g}, leverage {lev:g}), {available:,.2f} available"
            )
        return None

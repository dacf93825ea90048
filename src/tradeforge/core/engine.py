"""The engine: streams of bars, strategies, risk, portfolio and a gateway. It knows no mode.

A backtest, a replay, paper and live trading differ only in how bars arrive (all known in advance and revealed
step by step with `run_batch`, or pushed one at a time with `push_bar`) and in which gateway executes orders.
Each step does the same four things, in this order:
1. the gateway matches working orders against the step's new bars (they were placed before these bars);
2. the bars are revealed to strategies (series grow by one; indicators and longer time frames follow);
3. each strategy that trades one of the symbols with a new bar gets on_bar();
4. the gateway updates trailing stops from the finished bars.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.clock import iso, parse_timeframe, period_start
from tradeforge.core.errors import ConfigError, DataError, LookAheadError, OrderRejected, StrategyError
from tradeforge.core.events import Bar, Fill
from tradeforge.core.orders import Order
from tradeforge.core.portfolio import Portfolio
from tradeforge.core.ports import ExecutionGateway
from tradeforge.core.risk import RiskCheckInput, RiskEngine
from tradeforge.core.series import BarView, Resampler, Stream
from tradeforge.core.strategy import Strategy, TradeEvent
from tradeforge.core.trades import Position, Trade
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, PositionMode, Side, TimeInForce

IntArray = npt.NDArray[np.int64]


class Engine:
    def __init__(self, portfolio: Portfolio, gateway: ExecutionGateway, risk: RiskEngine | None = None) -> None:
        self.portfolio = portfolio
        self.gateway = gateway
        self.risk = risk or RiskEngine()
        self.instruments = portfolio.instruments
        self.base: dict[str, Stream] = {}
        self.streams: dict[tuple[str, int], Stream] = {}
        self.strategies: list[Strategy] = []
        self._by_name: dict[str, Strategy] = {}
        self._symbols: dict[str, list[str]] = {}
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.open: dict[int, Order] = {}
        self.step = -1
        self.step_ts: list[int] = []
        self.bar_steps: dict[str, Any] = {}  # per symbol: step of each of its bars (list, array, or None = all)
        self._batch_ts: IntArray | None = None
        self._order_seq = 0
        self._entries: dict[tuple[str, str], int] = {}  # (strategy, symbol) -> period of the last entry
        self._pending: list[Bar] = []
        self._now_step = -1
        self._now = 0
        self._touched: set[str] | None = None  # symbols with a bar at the current step (None: all of them)
        self._matching = False  # the gateway is matching orders against bars not yet revealed
        self._started = False
        self._stopped = False
        self._wants_orders: set[str] = set()  # strategies that override on_order / on_trade
        self._wants_trades: set[str] = set()
        gateway.bind(self)

    # ================================================================ wiring
    def add_stream(self, symbol: str, timeframe: int, arrays: dict[str, Any] | None = None) -> Stream:
        """A base stream of bars: complete arrays (backtest) or None to receive bars with push_bar."""
        if symbol not in self.instruments:
            raise ConfigError(f"no instrument is defined for {symbol!r}")
        if symbol in self.base:
            raise ConfigError(f"{symbol} was added twice: give each symbol one base stream")
        stream = Stream(symbol, timeframe, arrays=arrays)
        self.base[symbol] = stream
        self.streams[(symbol, timeframe)] = stream
        self.bar_steps[symbol] = []
        return stream

    def add_strategy(self, strategy: Strategy, symbols: Sequence[str] | None = None, capital: float = 0.0) -> None:
        if not isinstance(strategy, Strategy):
            raise ConfigError(f"{strategy!r} is not a Strategy instance: subclass tradeforge.Strategy")
        if self._started:
            raise ConfigError("strategies must be added before the first bar")
        chosen = list(symbols) if symbols else list(self.base)
        for s in chosen:
            if s not in self.base:
                raise ConfigError(f"strategy {strategy.name} trades {s!r}, which has no data; add its bars")
        name = strategy._name
        if name in self._by_name:
            index = 2
            while f"{name}#{index}" in self._by_name:
                index += 1
            name = f"{name}#{index}"
        strategy._name = name
        strategy._engine = self
        strategy.data = self.view(chosen[0], None)
        self.strategies.append(strategy)
        self._by_name[name] = strategy
        self._symbols[name] = chosen
        klass = type(strategy)
        if klass.on_order is not Strategy.on_order:
            self._wants_orders.add(name)
        if klass.on_trade is not Strategy.on_trade:
            self._wants_trades.add(name)
        self.portfolio.add_book(name, capital)

    def strategy_symbols(self, strategy: Strategy) -> list[str]:
        return self._symbols[strategy._name]

    def view(self, symbol: str, timeframe: str | None) -> BarView:
        base = self.base.get(symbol)
        if base is None:
            raise ConfigError(f"no bars for symbol {symbol!r}; known symbols: {', '.join(self.base)}")
        if timeframe is None:
            return base.view
        tf = parse_timeframe(timeframe)
        if tf == base.timeframe:
            return base.view
        stream = self.streams.get((symbol, tf))
        if stream is None:
            stream = Stream(symbol, tf)
            resampler = Resampler(base, stream)
            for i in range(base.n):  # catch up with the bars already revealed
                resampler.feed(i)
            base.children.append(resampler)
            self.streams[(symbol, tf)] = stream
        return stream.view

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

    def last_price_or_none(self, symbol: str) -> float | None:
        stream = self.base.get(symbol)
        return float(stream.column("close")[stream.n - 1]) if stream is not None and stream.n else None

    def has_bar_now(self, symbol: str) -> bool:
        """Whether symbol's bar of the current step has closed and been revealed (its close is not stale).
        False while the gateway matches orders against the step's bars, before they are revealed."""
        return not self._matching and (self._touched is None or symbol in self._touched)

    def prices(self) -> dict[str, float]:
        return {s: float(st.column("close")[st.n - 1]) for s, st in self.base.items() if st.n}

    def book_equity(self, strategy: Strategy) -> float:
        return self.portfolio.book_equity(strategy._name, self.prices())

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        return [o for o in self.open.values() if strategy is None or o.strategy == strategy]

    # ============================================================= running
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for strategy in self.strategies:
            self._call(strategy, "on_start", strategy.on_start)

    def stop(self) -> None:
        if self._stopped:
            return
        self.flush()
        self._stopped = True
        for strategy in self.strategies:
            self._call(strategy, "on_stop", strategy.on_stop)

    def run_batch(
        self,
        step_ts: IntArray,
        bar_index: dict[str, IntArray | None],
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 65_536,
    ) -> None:
        """Run every step of complete streams. bar_index[symbol] maps step -> bar index (-1: no bar), or is
        None when the symbol has a bar at every step. progress(done, total) is called between chunks of steps,
        so it costs nothing per bar."""
        self.start()
        self._batch_ts = step_ts
        n = int(step_ts.shape[0])
        for symbol, idx in bar_index.items():
            # None: the symbol has a bar at every step (bar index == step), so no index array is kept
            self.bar_steps[symbol] = None if idx is None else np.flatnonzero(idx >= 0)
        single = len(self.base) == 1 and next(iter(bar_index.values())) is None
        names = list(self.base)
        streams = [self.base[s] for s in names]
        indexes = [bar_index[s] for s in names]
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            if single:
                self._run_single(start, stop)
            else:
                for k in range(start, stop):
                    present: list[tuple[Stream, int]] = []
                    for stream, idx in zip(streams, indexes, strict=True):
                        i = k if idx is None else int(idx[k])
                        if i >= 0:
                            present.append((stream, i))
                    self._run_step(k, present)
            if progress is not None:
                progress(stop, n)

    def _run_single(self, start: int, stop: int) -> None:
        """The common case — one symbol, a bar at every step — with Stream.reveal and _run_step written out
        inline (no call per bar). Only exceptions from a strategy's on_bar become StrategyError, as in _call."""
        stream = next(iter(self.base.values()))
        # these lists are only ever changed in place, so local names stay valid while strategies add to them
        pairs, hooks, children = stream.pairs, stream.hooks, stream.children
        gateway = self.gateway
        working = gateway.working
        strategies = list(self.strategies)
        calls = [s.on_bar for s in strategies]
        self._touched = None
        for k in range(start, stop):
            self.step = k
            if working:
                self._matching = True
                try:
                    gateway.on_bar(stream, k)
                finally:
                    self._matching = False
            stream.n = k + 1
            for dst, src in pairs:
                dst.append(src[k])
            if hooks or children:
                self._grow(stream, k)
            for slot, on_bar in enumerate(calls):
                try:
                    on_bar()
                except (StrategyError, LookAheadError):
                    raise
                except Exception as exc:
                    raise StrategyError(strategies[slot]._name, "on_bar", iso(self.now), exc) from exc
            if working:
                gateway.after_bar(stream, k)

    @staticmethod
    def _grow(stream: Stream, i: int) -> None:
        """The rest of Stream.reveal: recomputed indicators and longer time frames."""
        for hook in stream.hooks:
            hook(i)
        for child in stream.children:
            child.feed(i)

    def push_bar(self, bar: Bar) -> None:
        """Streaming input: bars of one timestamp are gathered; a later timestamp runs the gathered step."""
        stream = self.base.get(bar.symbol)
        if stream is None:
            raise DataError(f"bar for unknown symbol {bar.symbol!r}; known: {', '.join(self.base)}")
        if stream.complete:
            raise ConfigError(f"{bar.symbol} was given complete arrays; push_bar needs a growing stream")
        bar.validate()
        last = stream.growing["ts"].view()
        if stream.length and bar.ts <= int(last[-1]):
            kind = "duplicate" if bar.ts == int(last[-1]) else "out of order"
            raise DataError(f"{bar.symbol} bar at {iso(bar.ts)} is {kind}: the last bar was at {iso(int(last[-1]))}")
        if self._pending and bar.ts != self._pending[0].ts:
            if bar.ts < self._pending[0].ts:
                raise DataError(f"bar at {iso(bar.ts)} arrived after bars at {iso(self._pending[0].ts)}")
            self.flush()
        if any(p.symbol == bar.symbol for p in self._pending):
            raise DataError(f"duplicate {bar.symbol} bar at {iso(bar.ts)}: one is already waiting for this step")
        self._pending.append(bar)

    def advance(self, now: int) -> None:
        """The clock reached `now` (int ns UTC): run the gathered step if its bars have closed by then."""
        if self._pending:
            first = self._pending[0]
            if now >= first.ts + first.timeframe:
                self.flush()

    def flush(self) -> None:
        """Run the gathered step (the clock has passed its bars' timestamp)."""
        if not self._pending:
            return
        self.start()
        bars, self._pending = self._pending, []
        k = len(self.step_ts)
        self.step_ts.append(bars[0].ts)
        present = []
        for name in self.base:  # always in the order streams were added, as in run_batch
            bar = next((b for b in bars if b.symbol == name), None)
            if bar is None:
                continue
            stream = self.base[name]
            stream.append_bar(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume)
            self.bar_steps[name].append(k)
            present.append((stream, stream.length - 1))
        self._run_step(k, present)

    def _run_step(self, k: int, present: list[tuple[Stream, int]]) -> None:
        self.step = k
        gateway = self.gateway
        self._touched = {stream.symbol for stream, _ in present}
        touched = self._touched
        if gateway.working:
            self._matching = True
            try:
                for stream, i in present:
                    gateway.on_bar(stream, i)
            finally:
                self._matching = False
        for stream, i in present:
            stream.reveal(i)
        for strategy in self.strategies:
            symbols = self._symbols[strategy._name]
            if len(symbols) == 1 and symbols[0] not in touched:
                continue
            if not touched.intersection(symbols):
                continue
            self._call(strategy, "on_bar", strategy.on_bar)
        if gateway.working:
            for stream, i in present:
                gateway.after_bar(stream, i)

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
        if kind is not OrderType.MARKET:  # the prices each kind needs (market orders need none)
            needed = {
                OrderType.LIMIT: (limit,),
                OrderType.STOP: (stop,),
                OrderType.STOP_LIMIT: (limit, stop),
                OrderType.TRAILING_STOP: (trail_amount if trail_amount is not None else trail_percent,),
            }.get(kind, ())
            if any(p is None for p in needed):
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
        order = Order(
            id=self._order_seq,
            strategy=strategy._name,
            symbol=symbol,
            side=side,
            type=kind,
            qty=qty,
            created_ts=now,
            created_bar=self.step,
            fraction=fraction,
            limit=limit,
            stop=stop,
            trail_amount=trail_amount,
            trail_percent=trail_percent,
            tif=tif,
            expire_at=expire_at,
            sl=sl,
            tp=tp,
            reduce_only=reduce_only,
            trade_id=trade_id,
            role=role,
            tag=tag,
            updated_ts=now,
        )
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
        try:
            price = self.last_price(order.symbol)
        except OrderRejected as exc:
            return exc.reason
        for p in (order.limit, order.stop):
            if p is not None:
                price = p
        inst = self.instruments[order.symbol]
        if order.qty is not None:
            lots = inst.round_qty_down(order.qty)
            if lots == 0.0:
                return f"order size {order.qty:g} is below the lot size {inst.lot_size:g} of {order.symbol}"
            order.qty = lots  # whole lots, as a venue would take it
            value = order.qty * price * inst.multiplier
            if inst.min_notional and value < inst.min_notional:
                return f"order value {value:,.2f} is below the minimum notional {inst.min_notional:g} of {order.symbol}"
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
        check = RiskCheckInput(
            symbol=order.symbol,
            signed_qty=qty * sign,
            price=price,
            multiplier=inst.multiplier,
            position_qty=pos.qty + pending,
            gross_exposure=(
                self.portfolio.gross_exposure(self.prices()) if self.risk.limits.max_gross_exposure is not None else 0.0
            ),
            account_position_qty=self.portfolio.net_qty.get(order.symbol, 0.0) + pending,
            reduces=reduces,
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
        self._notify(order)

    def order_filled(
        self, order: Order, qty: float, price: float, fee: float, liquidity: Liquidity, reason: str
    ) -> Fill:
        """The gateway executed qty of order at price: book it, attach or cancel contingent orders, notify."""
        # positional: order_id, strategy, symbol, side, qty, price, fee, ts, bar, liquidity, reason
        fill = Fill(
            order.id, order.strategy, order.symbol, order.side, qty, price, fee, self.now, self.step, liquidity, reason
        )
        self.fills.append(fill)
        order.record_fill(qty, price, fee)
        change = self.portfolio.apply_fill(fill, trade_id=order.trade_id, tag=order.tag)
        done = order.filled_qty >= (order.qty or 0.0) - 1e-12 * max(1.0, order.qty or 0.0)
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        order.transition(status, fill.ts)
        if done:
            self.open.pop(order.id, None)
        for trade in change.closed:
            self._cancel_contingent(trade, keep=order.id)
        for trade in change.reduced:
            self._resize_contingent(trade)
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
        exit_side = Side.SELL if trade.size > 0 else Side.BUY
        legs: list[Order] = []
        specs: list[tuple[str, OrderType, float | None, float | None]] = []
        if entry.sl is not None:
            specs.append(("stop_loss", OrderType.STOP, None, entry.sl))
        if entry.tp is not None:
            specs.append(("take_profit", OrderType.LIMIT, entry.tp, None))
        for role, kind, limit, stop in specs:
            self._order_seq += 1
            order = Order(
                id=self._order_seq,
                strategy=entry.strategy,
                symbol=entry.symbol,
                side=exit_side,
                type=kind,
                qty=abs(trade.size),
                created_ts=self.now,
                created_bar=self.step,
                limit=limit,
                stop=stop,
                reduce_only=True,
                parent_id=entry.id,
                trade_id=trade.id,
                role=role,
                tag=entry.tag,
                updated_ts=self.now,
            )
            legs.append(order)
        for leg in legs:
            if leg.role == "stop_loss":
                trade.sl_order_id = leg.id
            else:
                trade.tp_order_id = leg.id
            if len(legs) == 2:
                leg.oco_id = legs[1].id if leg is legs[0] else legs[0].id
            self.orders.append(leg)
            leg.transition(OrderStatus.SUBMITTED, self.now)
            self.open[leg.id] = leg
            self.gateway.submit(leg)

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

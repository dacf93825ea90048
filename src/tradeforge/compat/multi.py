"""Multi-asset runs (minitrade style): one account, one strategy, several symbols on one index.

MultiRun is Run with one engine stream per symbol; orders name their symbol (``self.buy(symbol="AAPL")``),
``self.position("AAPL")`` is that symbol's position, and ``self.alloc`` + ``self.rebalance()`` turn target weights
into orders. Rebalancing goes beyond minitrade: negative weights are shorts, and the orders may be limit orders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from tradeforge.compat.alloc import Allocation
from tradeforge.compat.errors import CompatValueError
from tradeforge.compat.objects import Order, Position
from tradeforge.compat.runner import Run
from tradeforge.core.trades import Trade as CoreTrade

if TYPE_CHECKING:
    pass


class MultiRun(Run):
    def __init__(self, frames: Mapping[str, pd.DataFrame], ts: np.ndarray, **settings: Any) -> None:
        super().__init__(frames, ts, **settings)
        self.data: Any = None
        self._positions = {s: Position(self, s) for s in self.symbols}
        self.alloc = Allocation(self.symbols)
        self.weights_log: dict[int, pd.Series] = {}  # bar -> target weights of each rebalance()

    # ----------------------------------------------------------------- prices
    def _price_at(self, k: int) -> Any:
        closes = self.closes

        def price_of(symbol: str) -> float:
            return float(closes[symbol][k])

        return price_of

    def equity_at_bar(self, k: int) -> float:
        return self.broker.equity(self.adapter.name, self._price_at(k))

    # ----------------------------------------------------------------- running
    def on_bar(self) -> None:
        k = self.engine.step
        if k < self.start or self.out_of_money_step is not None:
            return
        data = self.data
        strategy = self.strategy
        if data is None or strategy is None:
            raise RuntimeError("MultiRun.on_bar before attach()")
        data._set_length(k + 1)
        stop = k + 1
        attrs = self._strategy_dict
        for attr, indicator, flat in self._indicator_attrs:
            attrs[attr] = indicator[:stop] if flat else indicator[..., :stop]
        for attr, indicator in self._recomputed:
            attrs[attr] = strategy._known_at(indicator, stop)
        equity = self._equity[k] = self.equity_at_bar(k)
        if equity <= 0:
            self._out_of_money(k)
            return
        self.alloc._next()
        strategy.next()

    def _out_of_money(self, k: int) -> None:
        self.out_of_money_step = k
        broker = self.broker
        name = self.adapter.name
        for order in [o for o in broker.working if o.strategy == name]:
            broker.cancel(order, "out of money")
        for trade in list(self.book.open_trades):
            broker._liquidating = (float(self.closes[trade.symbol][k]), k)
            try:
                self.engine.close_position(self.adapter, trade.symbol, 1.0, trade, role="exit", tag="out of money")
            finally:
                broker._liquidating = None
        broker.cash[name] = 0.0
        self._equity[k:] = 0.0

    def finalize(self) -> None:
        for trade in reversed(list(self.book.open_trades)):
            self.trade(trade).close()
        last = len(self.index) - 1
        if self.start <= last:
            self.broker.process(self.engine.base[self.symbols[0]], last)  # every symbol's orders, in queue order
            equity = self._equity[last] = self.equity_at_bar(last)
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
        symbol: str | None = None,
    ) -> Order:
        if symbol is None:
            raise CompatValueError(
                f"a multi-asset strategy must name the asset of each order: self.buy(symbol=...), one of {self.symbols}"
            )
        if symbol not in self._positions:
            raise CompatValueError(f"unknown asset {symbol!r}; this backtest trades {self.symbols}")
        saved = self.symbol
        self.symbol = symbol  # Run.new_order prices and routes the order by self.symbol
        try:
            return super().new_order(size, limit, stop, sl, tp, tag)
        finally:
            self.symbol = saved

    def rebalance(
        self,
        *,
        force: bool = False,
        rtol: float = 0.0,
        atol: float = 0.0,
        cash_reserve: float = 0.0,
        limit_offset: float | None = None,
    ) -> list[Order]:
        """Orders that bring each asset to alloc's target weight of equity (at the last close).

        Target value = weight * equity * (1 - cash_reserve). An asset is left alone when its value is within
        atol + rtol * |target| of the target (unless force). Orders that reduce positions go first, so buys can
        use the cash they free. limit_offset: limit orders at close * (1 -/+ offset) for buys/sells instead of
        market orders. Working orders from the previous rebalance are cancelled first.
        """
        if not (0 <= cash_reserve < 1):
            raise CompatValueError(f"cash_reserve is a fraction of equity in [0, 1), got {cash_reserve}")
        if rtol < 0 or atol < 0:
            raise CompatValueError(f"rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
        if limit_offset is not None and not (0 <= limit_offset < 1):
            raise CompatValueError(f"limit_offset is a fraction of the price in [0, 1), got {limit_offset}")
        for core in list(self.broker.working):
            if core.tag == "rebalance" and core.role == "entry":
                self.engine.cancel(core, "replaced by a new rebalance")
        k = self.engine.step
        price_of = self._price_at(k)
        equity = self.equity_at_bar(k)
        budget = equity * (1 - cash_reserve)
        weights = self.alloc.weights
        self.weights_log[k] = weights
        plans: list[tuple[float, str, int, float]] = []
        for symbol in self.symbols:
            price = price_of(symbol)
            held = sum(t.size for t in self.book.open_trades if t.symbol == symbol)
            target = float(weights.get(symbol, 0.0)) * budget
            current = held * price
            delta = target - current
            if not force and abs(delta) <= atol + rtol * abs(target):
                continue
            units = int(delta / price)  # toward zero: never more than the target
            if target == 0.0 and held:  # leaving the asset: close all of it
                units = int(-held)
            if units:
                plans.append((delta, symbol, units, price))
        # what the account holds afterwards: targets where it trades, current values where it does not; when the
        # buys would need more than equity * leverage (assets left within tolerance above their target), the
        # buys are scaled down so they can all be paid for
        traded = {p[1] for p in plans}
        gross = 0.0
        for symbol in self.symbols:
            held = sum(t.size for t in self.book.open_trades if t.symbol == symbol)
            if symbol in traded:
                units = next(p[2] for p in plans if p[1] == symbol)
                gross += abs(held + units) * price_of(symbol)
            else:
                gross += abs(held) * price_of(symbol)
        fees = sum(abs(self.commission(p[2], p[3])) for p in plans)
        capacity = equity * self.engine.portfolio.leverage - fees  # what the broker accepts (the reserve is a target)
        if gross > capacity > 0:
            growing = [p for p in plans if not _reduces(p, self.book.open_trades)]
            extra = sum(abs(p[2]) * p[3] for p in growing)
            scale = max(0.0, 1 - (gross - capacity) / extra) if extra else 1.0
            plans = [p if p not in growing else (p[0], p[1], int(p[2] * scale), p[3]) for p in plans]
            plans = [p for p in plans if p[2]]
        plans.sort(key=lambda p: 0 if _reduces(p, self.book.open_trades) else 1)  # stable: asset order otherwise
        orders = []
        for _delta, symbol, units, price in plans:
            limit = None
            if limit_offset is not None:
                limit = price * (1 - limit_offset) if units > 0 else price * (1 + limit_offset)
            orders.append(self.new_order(float(units), limit, None, None, None, "rebalance", symbol=symbol))
        return orders

    # ------------------------------------------------------------------ views
    def position(self, symbol: str | None) -> Position:
        if symbol is None:
            return self._position
        try:
            return self._positions[symbol]
        except KeyError:
            raise CompatValueError(f"unknown asset {symbol!r}; this backtest trades {self.symbols}") from None

    def open_core_trades(self, symbol: str | None) -> list[CoreTrade]:
        if symbol is None:
            return self.book.open_trades
        return [t for t in self.book.open_trades if t.symbol == symbol]

    def equity(self) -> float:
        k = self.engine.step
        if k < 0:
            return self.broker.book_cash(self.adapter.name)
        return self.equity_at_bar(k)


def _reduces(plan: tuple[float, str, int, float], trades: list[CoreTrade]) -> bool:
    _, symbol, units, _ = plan
    held = sum(t.size for t in trades if t.symbol == symbol)
    return held * units < 0


def positions_frame(run: MultiRun, n: int) -> pd.DataFrame:
    """Units held of each asset at each bar's close (from the account's fills)."""
    portfolio = run.engine.portfolio
    out = pd.DataFrame(0.0, index=run.index, columns=run.symbols)
    steps = np.asarray(portfolio.ledger_step, dtype=np.int64)
    symbols = np.asarray(portfolio.ledger_symbol, dtype=object)
    qty = np.asarray(portfolio.ledger_qty, dtype=float)
    grid = np.arange(n)
    for s in run.symbols:
        rows = np.flatnonzero(symbols == s)
        if not len(rows):
            continue
        last = np.searchsorted(steps[rows], grid, side="right") - 1
        held = np.where(last >= 0, qty[rows[np.maximum(last, 0)]], 0.0)
        out[s] = held
    return out


def allocation_frame(run: MultiRun, equity: np.ndarray) -> pd.DataFrame:
    """Each asset's value as a fraction of equity at each bar's close (negative = short)."""
    held = positions_frame(run, len(equity))
    closes = pd.DataFrame({s: run.closes[s] for s in run.symbols}, index=run.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = (held * closes).div(np.where(equity > 0, equity, np.nan), axis=0)
    return weights.fillna(0.0)


def per_asset_frame(run: MultiRun, frames: Mapping[str, pd.DataFrame], start: int) -> pd.DataFrame:
    """Per asset: trades, win rate, net P&L (after commissions), buy & hold return over the traded period."""
    rows = {}
    fee = run.commission
    for s in run.symbols:
        closed = [t for t in run.book.closed_trades if t.symbol == s]
        pnl = [
            t.size * (t.exit_price - t.entry_price) - fee(t.size, t.exit_price) - fee(t.size, t.entry_price)
            for t in closed
        ]
        close = frames[s]["Close"].to_numpy(dtype=float)
        first = min(max(start - 1, 0), len(close) - 1)
        rows[s] = {
            "# Trades": len(closed),
            "Win Rate [%]": (100.0 * sum(p > 0 for p in pnl) / len(pnl)) if pnl else math.nan,
            "PnL [$]": float(sum(pnl)),
            "Open Trades": sum(1 for t in run.book.open_trades if t.symbol == s),
            "Buy & Hold Return [%]": (close[-1] - close[first]) / close[first] * 100,
        }
    return pd.DataFrame(rows).T


def multi_stats(run: MultiRun, df: pd.DataFrame, strategy: Any, start: int) -> pd.Series:
    """The statistics Series of a multi-asset run: Backtesting.py's keys for the whole portfolio (Buy & Hold is an
    equal-weight basket of the assets), the trades with their Symbol, and per-asset frames:
    ``_per_asset`` (trades, win rate, P&L, buy & hold per asset), ``_positions`` (units held per bar) and
    ``_allocation`` (each asset's share of equity per bar)."""
    from tradeforge.compat.stats import run_stats

    closes = np.column_stack([run.closes[s] for s in run.symbols])
    basket = (closes / closes[0]).mean(axis=1)
    stats = run_stats(run, df.index, basket, strategy, start, symbol_column=True)
    equity = stats["_equity_curve"]["Equity"].to_numpy()
    frames = {s: cast(pd.DataFrame, df[s]) for s in run.symbols}
    stats["_per_asset"] = per_asset_frame(run, frames, start)
    stats["_positions"] = positions_frame(run, len(equity))
    stats["_allocation"] = allocation_frame(run, equity)
    stats["_rebalances"] = (
        pd.DataFrame({df.index[k]: w for k, w in run.weights_log.items()}).T
        if run.weights_log
        else pd.DataFrame(columns=run.symbols)
    )
    return stats

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
from tradeforge.compat.errors import CompatAssertionError, CompatRuntimeError, CompatValueError
from tradeforge.compat.objects import Order, Position
from tradeforge.compat.runner import Run
from tradeforge.core.orders import Order as CoreOrder
from tradeforge.core.trades import Trade as CoreTrade
from tradeforge.core.types import OrderType, Side
from tradeforge.metrics.periods import geometric_mean

if TYPE_CHECKING:
    pass


class MultiRun(Run):
    def __init__(self, frames: Mapping[str, pd.DataFrame], ts: np.ndarray, **settings: Any) -> None:
        super().__init__(frames, ts, **settings)
        self.data: Any = None
        self._positions = {s: Position(self, s) for s in self.symbols}
        self.alloc = Allocation(self.symbols)
        self.weights_log: dict[int, pd.Series] = {}  # bar -> target weights of each rebalance()
        # minitrade's Backtest options (set by Backtest): orders in lots, no trading before a bar, and what to do
        # with an order the account cannot pay for when it fills (True: stop the run with an error, as minitrade;
        # False: the broker drops it; "scale": rebalance() scales its buys down when it places them)
        self.lot_size = 1
        self.trade_start_bar = 0
        self.fail_fast: bool | str = True
        self.broker.on_margin_shortfall = self._shortfall
        self.broker.front_roles = ("stop_loss", "take_profit", "exit", "kill_switch")  # minitrade's queue order
        self.holding: dict[str, float] = {}  # minitrade's Backtest(holding=): units held before the run
        self.holding_bar = 0  # the bar whose close prices the holdings (trade_start_date's)
        self.signals: list[CoreOrder] = []  # the orders working after each next() (minitrade's _orders)
        self._rebalance_ids: set[int] = set()  # orders rebalance() placed (a new rebalance cancels those working)
        self.final_positions: dict[str, Any] | None = None  # minitrade's _positions, noted before the end-of-run close

    # ----------------------------------------------------------------- prices
    def _price_at(self, k: int) -> Any:
        closes = self.closes

        def price_of(symbol: str) -> float:
            return float(closes[symbol][k])

        return price_of

    def equity_at_bar(self, k: int) -> float:
        """Cash plus each open trade's profit at bar k's closes, summed as minitrade sums them (asset by asset,
        each asset's trades in order), so that equal equities compare equal in both (drawdown durations)."""
        trades = self._open_trades
        cash = self.broker.book_cash(self._name)
        if not trades:
            return cash
        closes = self.closes
        total = 0.0
        for symbol in self.symbols:
            price = float(closes[symbol][k])
            for t in trades:
                if t.symbol == symbol:
                    total += t.size * (price - t.entry_price)
        return cash + total

    # ----------------------------------------------------------------- running
    def on_bar(self) -> None:
        k = self.engine.step
        if k == 0 and self.holding:
            self._open_holdings()
        if self._deferred and k >= self.start - 1:  # orders placed in init(): on the bar before the first next()
            self._submit_deferred()
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
        if self._recomputed:
            strategy._reveal_known(attrs, self._recomputed, stop)
        equity = self._equity[k] = self.equity_at_bar(k)
        if equity <= 0:
            self._out_of_money(k)
            return
        strategy.next()
        working = self.broker.working
        if working:  # minitrade's _orders: what is working after each next() (an order waiting n bars, n times)
            name = self._name
            self.signals.extend(o for o in working if o.strategy == name)

    def _shortfall(self, order: Any, needed: float, available: float) -> None:
        """An order the account cannot pay for is about to be dropped: with fail_fast=True (minitrade's default)
        the run stops here instead, with minitrade's message."""
        if self.fail_fast is True:
            view = self.order(order)
            raise CompatRuntimeError(
                f"Not enough liquidity for <Order {order.symbol} size={view.size}, contingent=0>, has "
                f"{int(available)}, needs {int(needed)}, aborting. Raise cash_reserve in rebalance(), or pass "
                "Backtest(..., fail_fast=False) to drop such orders, or fail_fast='scale' to scale rebalance buys down"
            )

    def _open_holdings(self) -> None:
        """The holdings the run starts with: trades entered on the first bar at the close of the holding bar,
        without fees, tagged 'preexisting' (their value was added to the cash, as minitrade does)."""
        broker = self.broker
        for symbol, size in self.holding.items():
            if not size:
                continue
            with broker.filling_at(float(self.closes[symbol][self.holding_bar]), 0):
                core = self.engine.submit_new(
                    self.adapter,
                    side=Side.BUY if size > 0 else Side.SELL,
                    symbol=symbol,
                    kind=OrderType.MARKET,
                    qty=abs(float(size)),
                    tag="preexisting",
                )
            self._tags[core.id] = "preexisting"

    def note_final_positions(self) -> None:
        """minitrade's _positions: each asset's units and the free cash (margin available) when next() was
        last called, before the end-of-run close."""
        last = len(self._equity) - 1
        positions: dict[str, Any] = {s: self._positions[s].size for s in self.symbols}
        positions["Cash"] = int(self.broker.margin_available(self._name, self._price_at(last)))
        self.final_positions = positions

    def finalize(self) -> None:
        """minitrade's end of a run: orders still working are dropped and every open trade is closed at its
        asset's last close."""
        last = len(self._equity) - 1
        self._close_everything(last, "end of the backtest")
        if self.start <= last:
            equity = self._equity[last] = self.equity_at_bar(last)
            if equity <= 0 and self.out_of_money_step is None:
                self._out_of_money(last)

    def _out_of_money(self, k: int) -> None:
        self.out_of_money_step = k
        self._close_everything(k, "out of money")
        self.broker.cash[self.adapter.name] = 0.0
        self._equity[k:] = 0.0

    def _close_everything(self, k: int, reason: str) -> None:
        """Drop the working orders and close every open trade at its asset's close of bar k."""
        broker = self.broker
        name = self.adapter.name
        for order in [o for o in broker.working if o.strategy == name]:
            broker.cancel(order, reason)
        rank = {s: i for i, s in enumerate(self.symbols)}  # asset by asset, as minitrade closes them
        for trade in sorted(self.book.open_trades, key=lambda t: rank[t.symbol]):
            with broker.filling_at(float(self.closes[trade.symbol][k]), k):
                self.engine.close_position(self.adapter, trade.symbol, 1.0, trade, role="exit", tag=reason)

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
        if symbol is None and len(self.symbols) == 1:
            symbol = self.symbols[0]  # one asset: orders need not name it (minitrade's the_ticker)
        if symbol is None:
            raise CompatValueError(
                f"a multi-asset strategy must name the asset of each order: self.buy(symbol=...), one of {self.symbols}"
            )
        if symbol not in self._positions:
            raise CompatValueError(f"unknown asset {symbol!r}; this backtest trades {self.symbols}")
        if self.engine.step < self.trade_start_bar and not self.in_init:
            return None  # type: ignore[return-value]  # minitrade ignores orders before trade_start_date
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
        rtol: float = 0.01,
        atol: float = 0.0,
        cash_reserve: float = 0.1,
        limit_offset: float | None = None,
    ) -> list[Order]:
        """minitrade's rebalance: orders that bring each asset to alloc's target weight of equity (at the last
        close), then the allocation becomes the previous one.

        Nothing is traded when the weights equal those of the last rebalance, unless force. Target value =
        weight * equity * (1 - cash_reserve); the whole portfolio is left alone while the sum of |target - held
        value| is within rtol of equity (and atol, when given, in cash), except that an asset whose weight is 0 is
        always closed. Units are rounded down (floor, as minitrade), sells first. Beyond minitrade: negative
        weights are shorts, limit_offset gives limit orders at close * (1 -/+ offset) for buys/sells, and with
        Backtest(..., fail_fast="scale") buys the account cannot pay for are scaled down when placed (by default
        the broker stops the run at such an order when it fills, as minitrade). Working orders from the previous
        rebalance are cancelled first.
        """
        if not (0 <= cash_reserve < 1):
            raise CompatAssertionError(f"cash_reserve is a fraction of equity in [0, 1), got {cash_reserve}")
        if not (0 <= rtol < 1) or atol < 0:
            raise CompatAssertionError(f"rtol must be in [0, 1) and atol >= 0, got rtol={rtol}, atol={atol}")
        if limit_offset is not None and not (0 <= limit_offset < 1):
            raise CompatValueError(f"limit_offset is a fraction of the price in [0, 1), got {limit_offset}")
        alloc = self.alloc
        weights = alloc.weights
        unknown = [str(s) for s in weights.index if s not in self._positions]
        if unknown:
            raise CompatValueError(f"weights name unknown assets {unknown}; this backtest trades {self.symbols}")
        if weights.isna().any():
            raise CompatValueError(f"weights must be numbers, got NaN for {list(weights.index[weights.isna()])}")
        if self.engine.step < self.trade_start_bar:
            alloc._clear()
            return []
        if not (force or alloc.modified):
            alloc._next()
            return []
        for core in list(self.broker.working):
            if core.id in self._rebalance_ids and core.role == "entry":
                self.engine.cancel(core, "replaced by a new rebalance")
        k = self.engine.step
        price_of = self._price_at(k)
        equity = self.equity_at_bar(k)
        budget = equity * (1 - cash_reserve)
        self.weights_log[k] = weights.reindex(self.symbols).copy()
        held = {s: sum(t.size for t in self.book.open_trades if t.symbol == s) for s in self.symbols}
        diffs = {s: float(weights.get(s, 0.0)) * budget - held[s] * price_of(s) for s in self.symbols}
        spread = sum(abs(d) for d in diffs.values())
        beyond = bool((atol and spread > atol) or spread / equity > rtol)
        plans: list[tuple[float, str, int, float]] = []
        closing: list[str] = []  # assets left (weight 0) that have open trades: each trade is closed
        # most negative first: sells free cash (pandas' sort, as minitrade: ties come out in the same order)
        for symbol in pd.Series(diffs, dtype=float).sort_values().index:
            price = price_of(symbol)
            if float(weights.get(symbol, 0.0)) == 0.0:
                units = int(-held[symbol])  # leaving the asset: close all of it (hedged trades too)
                if any(t.symbol == symbol for t in self.book.open_trades):
                    closing.append(symbol)
            elif diffs[symbol] and beyond:
                units = int(diffs[symbol] // price // self.lot_size * self.lot_size)  # floor, as minitrade
            else:
                units = 0
            if units:
                plans.append((diffs[symbol], symbol, units, price))
        plans = self._affordable(plans, equity, price_of)
        orders = []
        # as minitrade: each open trade of an asset left closed by its own exit order (exits go ahead of the other
        # orders in the queue, so placing them first changes nothing); with limit_offset they are limit orders
        for symbol in closing:
            for trade in [t for t in self.book.open_trades if t.symbol == symbol]:
                limit = None
                if limit_offset is not None:
                    price = price_of(symbol)
                    limit = price * (1 + limit_offset) if trade.size > 0 else price * (1 - limit_offset)
                orders.append(self.order(self.close_trade(trade, abs(trade.size), limit=limit)))
        for _delta, symbol, units, price in plans:
            if symbol in closing:
                continue
            limit = None
            if limit_offset is not None:
                limit = price * (1 - limit_offset) if units > 0 else price * (1 + limit_offset)
            order = self.new_order(float(units), limit, None, None, None, None, symbol=symbol)
            self._rebalance_ids.add(order._core.id)
            orders.append(order)
        alloc._next()
        return orders

    def _affordable(
        self, plans: list[tuple[float, str, int, float]], equity: float, price_of: Any
    ) -> list[tuple[float, str, int, float]]:
        """With fail_fast="scale": the plans with their buys scaled down when what the account would hold
        afterwards exceeds what the broker accepts (equity * leverage, less fees) at the last close. Otherwise
        (minitrade) the plans as they are: the broker checks each order when it fills."""
        traded = {p[1]: p[2] for p in plans}
        gross = 0.0
        for symbol in self.symbols:
            held = sum(t.size for t in self.book.open_trades if t.symbol == symbol)
            gross += abs(held + traded.get(symbol, 0)) * price_of(symbol)
        fees = sum(abs(self.commission(p[2], p[3])) for p in plans)
        capacity = equity * self.engine.portfolio.leverage - fees
        if not gross > capacity > 0 or self.fail_fast != "scale":  # minitrade: the broker decides at the fill
            return plans
        growing = [p for p in plans if not _reduces(p, self.book.open_trades)]
        extra = sum(abs(p[2]) * p[3] for p in growing)
        scale = max(0.0, 1 - (gross - capacity) / extra) if extra else 1.0
        scaled = [p if p not in growing else (p[0], p[1], int(p[2] * scale), p[3]) for p in plans]
        return [p for p in scaled if p[2]]

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


def _final_size(run: MultiRun, order: CoreOrder) -> float:
    """An order's size as minitrade's _orders reads it, at the end of the run from the order it kept: a
    stop-loss / take-profit has the (negated) size its trade last had, an order sized as a fraction of margin its
    units once filled, any other order the size it was placed with."""
    if order.role in ("stop_loss", "take_profit") and order.trade_id is not None:
        trade = run.trade_by_id(order.trade_id)
        if trade is not None:
            return -float(trade._core.size)
    sign = 1.0 if order.side is Side.BUY else -1.0
    return sign * float(order.qty if order.qty is not None else order.fraction or 0.0)


def orders_frame(run: MultiRun, index: pd.Index) -> pd.DataFrame:
    """minitrade's _orders: the orders working after each next() (SignalTime: when placed; an order that waits
    several bars is listed once per bar), with Ticker, Side (Buy / Sell) and Size (int units)."""
    sizes = [_final_size(run, order) for order in run.signals]
    frame = pd.DataFrame(
        {
            "SignalTime": [index[o.created_bar] if o.created_bar >= 0 else None for o in run.signals],
            "Ticker": [o.symbol for o in run.signals],
            "Side": ["Buy" if size > 0 else "Sell" for size in sizes],
            "Size": [int(size) for size in sizes],
        }
    )
    return frame.set_index("SignalTime")


def minitrade_annualized(equity: pd.Series, trade_start_bar: int, max_drawdown: float) -> dict[str, float]:
    """minitrade's annualized figures: as Backtesting.py's, but on the equity from the first next() bar on (the
    flat warm-up bars do not dilute them). equity: per bar on the data's index; max_drawdown: a fraction (> 0)."""
    index = equity.index
    period_returns: Any = pd.Series(np.nan)
    gmean = 0.0
    periods = np.nan
    if isinstance(index, pd.DatetimeIndex):
        period = index.to_series().diff().mean().days
        tail = equity.iloc[trade_start_bar:]
        if period <= 1:
            period_returns = tail.resample("D").last().dropna().pct_change()
            periods = float(365 if index.day_of_week.to_series().between(5, 6).mean() > 2 / 7 * 0.6 else 252)
        elif 28 <= period <= 31:
            period_returns, periods = tail.pct_change(), 12.0
        elif 365 <= period <= 366:
            period_returns, periods = tail.pct_change(), 1.0
        if not np.isnan(periods):
            gmean = geometric_mean(period_returns.to_numpy(dtype=float))
    annual = (1 + gmean) ** periods - 1
    variance = period_returns.var(ddof=int(bool(period_returns.shape)))
    with np.errstate(invalid="ignore", divide="ignore"):
        volatility = np.sqrt((variance + (1 + gmean) ** 2) ** periods - (1 + gmean) ** (2 * periods)) * 100
        downside = np.sqrt(np.mean(period_returns.clip(-np.inf, 0) ** 2)) * np.sqrt(periods)
    return {
        "Return (Ann.) [%]": annual * 100,
        "Volatility (Ann.) [%]": volatility,
        "Sharpe Ratio": annual * 100 / (volatility or np.nan),
        "Sortino Ratio": annual / downside if downside else np.nan,
        "Calmar Ratio": annual / (max_drawdown or np.nan),
    }


def multi_stats(run: MultiRun, df: pd.DataFrame, strategy: Any, start: int) -> pd.Series:
    """The statistics Series of a multi-asset run: Backtesting.py's keys for the whole portfolio (Buy & Hold is an
    equal-weight basket of the assets), the trades with their Symbol (and minitrade's Ticker), and per-asset
    frames: ``_per_asset`` (trades, win rate, P&L, buy & hold per asset), ``_units`` (units held per bar),
    ``_allocation`` (each asset's share of equity per bar), ``_rebalances`` (target weights of each rebalance);
    minitrade's ``_orders`` (orders working after each next()), ``_positions`` (final units per asset and free
    cash, before the end-of-run close; None when the account ran out of money) and ``_trade_start_bar``."""
    from tradeforge.compat.stats import run_stats

    closes = np.column_stack([run.closes[s] for s in run.symbols])
    basket = (closes / closes[0]).mean(axis=1)
    stats = run_stats(run, df.index, basket, strategy, start, symbol_column=True)
    equity_series = stats["_equity_curve"]["Equity"]
    max_drawdown = -float(stats["Max. Drawdown [%]"]) / 100
    for key, value in minitrade_annualized(equity_series, run.start, max_drawdown).items():
        stats[key] = value
    equity = equity_series.to_numpy()
    frames = {s: cast(pd.DataFrame, df[s]) for s in run.symbols}
    stats["_per_asset"] = per_asset_frame(run, frames, start)
    stats["_units"] = positions_frame(run, len(equity))
    # minitrade's names and columns too: Ticker next to Symbol, each asset's value and the cash per bar
    trades = stats["_trades"]
    if "Symbol" in trades and "Ticker" not in trades:
        trades.insert(1, "Ticker", trades["Symbol"])
    curve = stats["_equity_curve"]
    values = stats["_units"].to_numpy(dtype=float) * closes
    for i, symbol in enumerate(run.symbols):
        curve.insert(1 + i, symbol, values[:, i])
    curve.insert(1 + len(run.symbols), "Cash", curve["Equity"].to_numpy() - values.sum(axis=1))
    stats["_orders"] = orders_frame(run, df.index)
    stats["_positions"] = run.final_positions
    stats["_trade_start_bar"] = run.start
    stats["_allocation"] = allocation_frame(run, equity)
    stats["_rebalances"] = (
        pd.DataFrame({df.index[k]: w for k, w in run.weights_log.items()}).T
        if run.weights_log
        else pd.DataFrame(columns=run.symbols)
    )
    return stats

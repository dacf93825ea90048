"""The account: cash, per-strategy books, positions (netting or hedging), trades, realized/unrealized P&L.

Cash moves by the full traded value (cash += -signed_qty * price * multiplier - fee), so equity is always
cash + sum(qty * price * multiplier) for long and short positions alike. Leverage limits how much margin open
positions may use: margin used = gross position value / leverage, and it must stay within equity.

Every fill is appended to a ledger (step index, cash after, symbol, qty after), from which the equity curve is
rebuilt with arrays after the run: the per-bar loop writes nothing for bars without fills.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tradeforge.core.errors import ConfigError
from tradeforge.core.events import Fill
from tradeforge.core.trades import Position, Trade
from tradeforge.core.types import Instrument, PositionMode, Side

# Quantities within this fraction of each other are equal: sums of fills carry float rounding ("dust"), and a
# close of 249998.2 units must not leave a 3e-11 trade behind or open one the other way.
_DUST = 1e-9


@dataclass(slots=True)
class Book:
    """One strategy's share of the account: its capital, positions, open and closed trades."""

    strategy: str
    capital: float
    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    open_trades: list[Trade] = field(default_factory=list)
    closed_trades: list[Trade] = field(default_factory=list)
    fees: float = 0.0
    realized_pnl: float = 0.0
    turnover: float = 0.0

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(self.strategy, symbol)
        return pos


@dataclass(slots=True)
class TradeChange:
    """What one fill did to trades: those it opened or grew, and those it closed (whole or in part)."""

    opened: list[Trade] = field(default_factory=list)
    closed: list[Trade] = field(default_factory=list)
    reduced: list[Trade] = field(default_factory=list)  # still open, but smaller


class Portfolio:
    def __init__(
        self,
        cash: float,
        instruments: dict[str, Instrument],
        *,
        mode: PositionMode = PositionMode.NETTING,
        leverage: float = 1.0,
    ) -> None:
        if not (math.isfinite(cash) and cash > 0):
            raise ConfigError(f"cash must be a positive amount, got {cash!r}")
        if not (math.isfinite(leverage) and leverage >= 1.0):
            raise ConfigError(f"leverage must be >= 1 (1 = no leverage), got {leverage!r}")
        self.initial_cash = float(cash)
        self.cash = float(cash)
        self.instruments = instruments
        self.mode = mode
        self.leverage = float(leverage)
        self.books: dict[str, Book] = {}
        self.net_qty: dict[str, float] = {}
        self.fees = 0.0
        self.turnover = 0.0
        self._trade_seq = 0
        # ledger for rebuilding equity curves: one row per fill
        self.ledger_step: list[int] = []
        self.ledger_symbol: list[str] = []
        self.ledger_qty: list[float] = []  # account net qty of that symbol after the fill
        self.ledger_cash: list[float] = []  # account cash after the fill
        self.ledger_book: list[str] = []
        self.ledger_book_qty: list[float] = []
        self.ledger_book_cash: list[float] = []

    # ----------------------------------------------------------------- books
    def add_book(self, strategy: str, capital: float) -> Book:
        if strategy in self.books:
            raise ConfigError(f"two strategies are named {strategy!r}: give each a distinct name")
        book = Book(strategy, capital, capital)
        self.books[strategy] = book
        return book

    # ----------------------------------------------------------- valuations
    def equity(self, prices: dict[str, float]) -> float:
        total = self.cash
        for symbol, qty in self.net_qty.items():
            if qty != 0.0:
                total += qty * prices[symbol] * self.instruments[symbol].multiplier
        return total

    def book_equity(self, strategy: str, prices: dict[str, float]) -> float:
        book = self.books[strategy]
        total = book.cash
        for symbol, pos in book.positions.items():
            if pos.qty != 0.0:
                total += pos.qty * prices[symbol] * self.instruments[symbol].multiplier
        return total

    def gross_exposure(self, prices: dict[str, float]) -> float:
        return sum(abs(qty) * prices[s] * self.instruments[s].multiplier for s, qty in self.net_qty.items() if qty)

    def margin_available(self, prices: dict[str, float]) -> float:
        """Equity not pledged as margin for open positions (never negative)."""
        return max(0.0, self.equity(prices) - self.gross_exposure(prices) / self.leverage)

    def book_margin_available(self, strategy: str, price_of: Callable[[str], float]) -> float:
        """The book's equity not pledged as margin for its open positions (never negative)."""
        book = self.books[strategy]
        equity = book.cash
        gross = 0.0
        for sym, pos in book.positions.items():
            qty = pos.qty
            if qty != 0.0:
                px = price_of(sym)
                mult = self.instruments[sym].multiplier
                equity += qty * px * mult
                gross += abs(qty) * px * mult
        return max(0.0, equity - gross / self.leverage)

    # ----------------------------------------------------------------- fills
    def apply_fill(
        self, fill: Fill, *, trade_id: int | None = None, tag: str = "", step: int | None = None
    ) -> TradeChange:
        """Book a fill: cash, fees, positions and trades. trade_id (hedging) names the trade to reduce.

        step: the engine step whose equity the fill changes first (default fill.bar). It differs from fill.bar
        only for a fill dated at an earlier bar's close but booked with a later step (Backtesting.py's
        trade_on_close convention)."""
        symbol = fill.symbol
        inst = self.instruments[symbol]
        book = self.books[fill.strategy]
        qty, price, fee = fill.qty, fill.price, fill.fee
        signed = qty if fill.side is Side.BUY else -qty
        mult = inst.multiplier
        value = qty * price * mult
        flow = -signed * price * mult - fee
        self.cash += flow
        book.cash += flow
        self.fees += fee
        book.fees += fee
        self.turnover += value
        book.turnover += value

        pos = book.positions.get(symbol)
        if pos is None:
            pos = book.position(symbol)
        pos.fees += fee
        change = TradeChange([], [], [])
        remaining = qty
        dust = _DUST * (qty if qty > 1.0 else 1.0)
        fee_per_unit = fee / qty
        trades = book.open_trades
        if trade_id is not None:  # an exit aimed at one trade (stop-loss, take-profit, hedging close)
            for target in trades:
                if target.id == trade_id:
                    if target.symbol == symbol and (target.size > 0) != (signed > 0):
                        remaining = self._close_part(book, target, remaining, fill, fee_per_unit, change)
                    break
        if self.mode is PositionMode.NETTING and remaining > dust and trades:
            # opposite fills close open trades first in, first out
            for trade in [t for t in trades if t.symbol == symbol]:
                if remaining <= dust:
                    break
                if (trade.size > 0) == (signed > 0):
                    continue
                remaining = self._close_part(book, trade, remaining, fill, fee_per_unit, change)
        if remaining > dust:
            opened = self._open_or_grow(
                book, fill, remaining if signed > 0 else -remaining, fee_per_unit * remaining, tag
            )
            change.opened.append(opened)

        old_qty = pos.qty
        new_qty = old_qty + signed
        if abs(new_qty) <= _DUST * max(1.0, abs(old_qty)):
            new_qty = 0.0
        self._update_position(pos, book, symbol, new_qty)
        account_qty = self.net_qty.get(symbol, 0.0) + signed
        if abs(account_qty) <= _DUST * max(1.0, abs(signed)):
            account_qty = 0.0
        self.net_qty[symbol] = account_qty

        self.ledger_step.append(fill.bar if step is None else step)
        self.ledger_symbol.append(symbol)
        self.ledger_qty.append(account_qty)
        self.ledger_cash.append(self.cash)
        self.ledger_book.append(fill.strategy)
        self.ledger_book_qty.append(new_qty)
        self.ledger_book_cash.append(book.cash)
        return change

    def _update_position(self, pos: Position, book: Book, symbol: str, new_qty: float) -> None:
        pos.qty = new_qty
        size = 0.0
        cost = 0.0
        for t in book.open_trades:
            if t.symbol == symbol:
                units = abs(t.size)
                size += units
                cost += units * t.entry_price
        pos.avg_price = cost / size if size > 0 else math.nan

    def _open_or_grow(self, book: Book, fill: Fill, signed_qty: float, fee: float, tag: str) -> Trade:
        for trade in book.open_trades:
            if trade.entry_order_id == fill.order_id and trade.symbol == fill.symbol:
                total = trade.size + signed_qty
                trade.entry_price = (trade.entry_price * trade.size + fill.price * signed_qty) / total
                trade.size = total
                trade.entry_fee += fee
                return trade
        self._trade_seq += 1
        # positional (id, strategy, symbol, size, entry price/ts/bar/order, multiplier, fee): one per trade
        trade = Trade(
            self._trade_seq, fill.strategy, fill.symbol, signed_qty, fill.price, fill.ts, fill.bar, fill.order_id,
            self.instruments[fill.symbol].multiplier, fee,
        )  # fmt: skip
        if tag:
            trade.tag = tag
        book.open_trades.append(trade)
        return trade

    def _close_part(
        self, book: Book, trade: Trade, remaining: float, fill: Fill, fee_per_unit: float, change: TradeChange
    ) -> float:
        """Close min(|trade.size|, remaining) of trade at the fill. Returns the quantity still to allocate."""
        size = abs(trade.size)
        qty = min(size, remaining)
        sign = 1.0 if trade.size > 0 else -1.0
        if qty >= size - _DUST * max(1.0, size):
            closing = trade
            book.open_trades.remove(trade)
        else:
            # split: the closed part becomes its own trade record, the rest stays open
            share = qty / size
            self._trade_seq += 1
            closing = Trade(
                id=self._trade_seq,
                strategy=trade.strategy,
                symbol=trade.symbol,
                size=sign * qty,
                entry_price=trade.entry_price,
                entry_ts=trade.entry_ts,
                entry_bar=trade.entry_bar,
                entry_order_id=trade.entry_order_id,
                multiplier=trade.multiplier,
                entry_fee=trade.entry_fee * share,
                tag=trade.tag,
            )
            trade.entry_fee -= closing.entry_fee
            trade.size = sign * (size - qty)
            change.reduced.append(trade)
        closing.exit_price = fill.price
        closing.exit_ts = fill.ts
        closing.exit_bar = fill.bar
        closing.exit_order_id = fill.order_id
        closing.exit_fee = fee_per_unit * qty
        closing.exit_reason = fill.reason
        book.closed_trades.append(closing)
        pnl = closing.pnl
        book.realized_pnl += pnl
        book.position(trade.symbol).realized_pnl += pnl
        change.closed.append(closing)
        return remaining - qty

    # ------------------------------------------------------------- queries
    def all_trades(self) -> list[Trade]:
        trades = [t for b in self.books.values() for t in b.closed_trades + b.open_trades]
        trades.sort(key=lambda t: (t.entry_bar, t.id))
        return trades

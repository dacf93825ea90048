"""The Strategy base class: callbacks, declared parameters, data access and order methods.

Parameters are the public class attributes a subclass declares (``fast = 10``); ``Strategy(fast=5)``
overrides them and an unknown name is refused. The engine binds a strategy before ``on_start``; from then on
``self.data`` and ``self.I(...)`` only ever expose bars that have closed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from tradeforge.core.errors import ConfigError
from tradeforge.core.events import Fill
from tradeforge.core.orders import Order
from tradeforge.core.series import BarView, Series
from tradeforge.core.signals import Signal
from tradeforge.core.trades import Position, Trade
from tradeforge.core.types import OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from tradeforge.core.engine import Engine


class TradeEvent:
    """Passed to on_trade: a fill, and the trades it opened, closed or reduced."""

    __slots__ = ("closed", "fill", "opened", "reduced")

    def __init__(self, fill: Fill, opened: list[Trade], closed: list[Trade], reduced: list[Trade]) -> None:
        self.fill = fill
        self.opened = opened
        self.closed = closed
        self.reduced = reduced

    def __repr__(self) -> str:
        return (
            f"TradeEvent(fill={self.fill.side.name} {self.fill.qty:g} {self.fill.symbol} @ {self.fill.price:g}, "
            f"opened={[t.id for t in self.opened]}, closed={[t.id for t in self.closed]})"
        )


def _base_names() -> frozenset[str]:
    return frozenset(dir(Strategy))


class Strategy:
    """Subclass it and override the callbacks you need. Declare parameters as class attributes.

    Settings (not parameters): ``entry_period`` such as ``"1d"`` allows at most one entry per symbol per period.
    """

    entry_period: ClassVar[str | None] = None
    _engine: Engine | None = None
    _name: str = ""
    data: BarView  # bars of the first symbol at the base time frame; set when the engine binds the strategy

    def __init__(self, **params: Any) -> None:
        declared = type(self).parameters()
        for key, value in params.items():
            if key not in declared:
                known = ", ".join(sorted(declared)) or "none"
                raise ConfigError(
                    f"{type(self).__name__} has no parameter {key!r}; its parameters are: {known}. "
                    "Declare parameters as class attributes."
                )
            setattr(self, key, value)
        self.params: dict[str, Any] = {k: getattr(self, k) for k in declared}
        self._name = type(self).__name__

    def named(self, name: str) -> Strategy:
        """Give this instance its own name (e.g. one instance per symbol in one account)."""
        if not name or not isinstance(name, str):
            raise ConfigError(f"a strategy name must be a non-empty string, got {name!r}")
        self._name = name
        return self

    @classmethod
    def parameters(cls) -> dict[str, Any]:
        """Declared parameters and their class defaults."""
        base = _base_names()
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            if klass is Strategy or not issubclass(klass, Strategy):
                continue
            for key, value in vars(klass).items():
                if key.startswith("_") or key in base:
                    continue
                if callable(value) or isinstance(value, (property, staticmethod, classmethod)):
                    continue
                out[key] = value
        return out

    # ------------------------------------------------------------ callbacks
    def on_start(self) -> None:
        """Called once before the first bar: create indicators here with self.I(...)."""

    def on_bar(self) -> None:
        """Called after every step's bars have closed."""

    def on_order(self, order: Order) -> None:
        """Called when one of this strategy's orders changes status (accepted, filled, rejected, ...)."""

    def on_trade(self, event: TradeEvent) -> None:
        """Called after each fill, with the trades it opened, closed or reduced."""

    def on_stop(self) -> None:
        """Called once after the last bar."""

    # -------------------------------------------------------------- context
    @property
    def name(self) -> str:
        return self._name

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise ConfigError(f"strategy {self._name} is not attached to an engine yet: run it in a backtest")
        return self._engine

    @property
    def symbols(self) -> list[str]:
        return self.engine.strategy_symbols(self)

    def data_for(self, symbol: str | None = None, timeframe: str | None = None) -> BarView:
        """Bars of another symbol and/or a longer time frame (built from the base bars, revealed when closed)."""
        return self.engine.view(symbol or self.symbols[0], timeframe)

    def I(  # noqa: E743 - the Backtesting.py name users know
        self, func: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any
    ) -> Any:
        """Declare an indicator: func(*args, **kwargs) over series from self.data; returns Series (or a tuple)."""
        streams = {id(a._stream): a._stream for a in args if isinstance(a, Series)}
        if len(streams) != 1:
            raise ConfigError(
                "self.I(func, ...) needs at least one series argument (e.g. self.data.close), all from the same "
                f"symbol and time frame; got {len(streams)} different streams"
            )
        stream = next(iter(streams.values()))
        label: str = name or str(getattr(func, "__name__", "indicator"))
        return stream.indicator(func, args, kwargs, label)

    @property
    def now(self) -> int:
        """Timestamp (int ns UTC, bar open time) of the current step."""
        return self.engine.now

    @property
    def equity(self) -> float:
        """This strategy's book equity at the latest close."""
        return self.engine.book_equity(self)

    @property
    def cash(self) -> float:
        return self.engine.portfolio.books[self._name].cash

    def position(self, symbol: str | None = None) -> Position:
        return self.engine.portfolio.books[self._name].position(symbol or self.symbols[0])

    def unrealized_pnl(self, symbol: str | None = None) -> float:
        """Open trades' profit or loss at the last close (price move only; fees are in realized_pnl)."""
        sym = symbol or self.symbols[0]
        price = self.engine.last_price(sym) if self.engine.base[sym].n else 0.0
        book = self.engine.portfolio.books[self._name]
        return sum((price - t.entry_price) * t.size * t.multiplier for t in book.open_trades if t.symbol == sym)

    @property
    def realized_pnl(self) -> float:
        """Net profit or loss of this strategy's closed trades (fees included)."""
        return self.engine.portfolio.books[self._name].realized_pnl

    @property
    def orders(self) -> list[Order]:
        """Open (working) orders of this strategy."""
        return self.engine.open_orders(self._name)

    @property
    def trades(self) -> list[Trade]:
        """Open trades of this strategy."""
        return list(self.engine.portfolio.books[self._name].open_trades)

    @property
    def closed_trades(self) -> list[Trade]:
        return list(self.engine.portfolio.books[self._name].closed_trades)

    # --------------------------------------------------------------- orders
    def signal(
        self,
        side: Side | str,
        *,
        symbol: str | None = None,
        valid_for: str | None = None,
        kind: str = "entry",
        strength: float | None = None,
        accepted: bool | None = True,
        reason: str = "",
        model: str = "",
        value: float | None = None,
        threshold: float | None = None,
        label: str = "",
        data: dict[str, Any] | None = None,
    ) -> Signal:
        """State an intent to enter (or exit, kind="exit") on `side`, valid for `valid_for` after this bar (one bar
        by default). accepted=False records a vetoed intent (e.g. a model said no); model / value / threshold /
        label record the prediction that decided. Orders placed for the symbol in this bar carry the signal, and so
        do the trades they open: live and paper runs store them (`tradeforge trades` shows them)."""
        if isinstance(side, str):
            try:
                side = {"buy": Side.BUY, "long": Side.BUY, "sell": Side.SELL, "short": Side.SELL}[side.lower()]
            except KeyError as exc:
                raise ConfigError(f"a signal's side is 'buy' or 'sell', got {side!r}") from exc
        return self.engine.add_signal(
            self, side=side, symbol=symbol or self.symbols[0], valid_for=valid_for, kind=kind, strength=strength,
            accepted=accepted, reason=reason, model=model, value=value, threshold=threshold, label=label, data=data,
        )  # fmt: skip

    def buy(
        self,
        size: float | None = None,
        *,
        symbol: str | None = None,
        fraction: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        trail: float | None = None,
        trail_percent: float | None = None,
        tif: TimeInForce | str = TimeInForce.GTC,
        expire_at: int | None = None,
        valid_for: str | None = None,
        tag: str = "",
    ) -> Order:
        """Buy `size` units, or `fraction` of available margin (size and fraction None: all of it).

        limit / stop / both make a limit, stop or stop-limit order; trail or trail_percent alone make a
        trailing stop. sl / tp attach a stop-loss / take-profit to the trade this order opens (one cancels
        the other; both are cancelled if the trade exits another way). valid_for (e.g. "3h") expires the
        order if it has not filled by then.
        """
        return self._order(
            Side.BUY,
            size=size,
            symbol=symbol,
            fraction=fraction,
            limit=limit,
            stop=stop,
            sl=sl,
            tp=tp,
            trail=trail,
            trail_percent=trail_percent,
            tif=tif,
            expire_at=expire_at,
            valid_for=valid_for,
            tag=tag,
        )

    def sell(
        self,
        size: float | None = None,
        *,
        symbol: str | None = None,
        fraction: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        trail: float | None = None,
        trail_percent: float | None = None,
        tif: TimeInForce | str = TimeInForce.GTC,
        expire_at: int | None = None,
        valid_for: str | None = None,
        tag: str = "",
    ) -> Order:
        """Sell (or go short) — the mirror of buy()."""
        return self._order(
            Side.SELL,
            size=size,
            symbol=symbol,
            fraction=fraction,
            limit=limit,
            stop=stop,
            sl=sl,
            tp=tp,
            trail=trail,
            trail_percent=trail_percent,
            tif=tif,
            expire_at=expire_at,
            valid_for=valid_for,
            tag=tag,
        )

    def _order(
        self,
        side: Side,
        *,
        size: float | None,
        symbol: str | None,
        fraction: float | None,
        limit: float | None,
        stop: float | None,
        sl: float | None,
        tp: float | None,
        trail: float | None,
        trail_percent: float | None,
        tif: TimeInForce | str,
        expire_at: int | None,
        valid_for: str | None,
        tag: str,
    ) -> Order:
        if size is not None and (
            isinstance(size, bool) or not (isinstance(size, (int, float)) and math.isfinite(size) and size > 0)
        ):
            raise ConfigError(f"order size must be a positive number of units, got {size!r}")
        if fraction is not None and (
            isinstance(fraction, bool) or not (isinstance(fraction, (int, float)) and 0 < fraction <= 1)
        ):
            raise ConfigError(f"order fraction must be in (0, 1], got {fraction!r}")
        if trail is not None and trail_percent is not None:
            raise ConfigError("give a trailing stop either trail (a price distance) or trail_percent, not both")
        if expire_at is not None and (isinstance(expire_at, bool) or not isinstance(expire_at, int)):
            raise ConfigError(
                f"expire_at must be a timestamp in integer nanoseconds UTC (e.g. self.now + ...), got {expire_at!r}; "
                "or use valid_for='3h'"
            )
        if size is not None and fraction is not None:
            raise ConfigError("give either size (units) or fraction (of available margin), not both")
        if size is None and fraction is None:
            fraction = 1.0
        if trail is not None or trail_percent is not None:
            if limit is not None or stop is not None:
                raise ConfigError("a trailing stop takes trail or trail_percent, not limit/stop prices")
            kind = OrderType.TRAILING_STOP
        elif limit is not None and stop is not None:
            kind = OrderType.STOP_LIMIT
        elif limit is not None:
            kind = OrderType.LIMIT
        elif stop is not None:
            kind = OrderType.STOP
        else:
            kind = OrderType.MARKET
        if kind is not OrderType.MARKET or sl is not None or tp is not None:
            for label, price in (("limit", limit), ("stop", stop), ("sl", sl), ("tp", tp), ("trail", trail)):
                if price is not None and not (isinstance(price, (int, float)) and math.isfinite(price) and price > 0):
                    raise ConfigError(f"{label} must be a positive price, got {price!r}")
        if trail_percent is not None and not 0 < trail_percent < 1:
            raise ConfigError(f"trail_percent must be a fraction in (0, 1), got {trail_percent!r}")
        try:
            tif_value = TimeInForce(tif.lower()) if isinstance(tif, str) else TimeInForce(tif)
        except ValueError:
            known = ", ".join(t.value for t in TimeInForce)
            raise ConfigError(f"unknown time in force {tif!r}; use one of {known}") from None
        if (expire_at is not None or valid_for is not None) and tif_value not in (TimeInForce.GTC, TimeInForce.GTT):
            raise ConfigError(f"expire_at/valid_for make a good-till-time order; they cannot be combined with {tif!r}")
        if sl is not None or tp is not None:
            _check_brackets(
                side,
                limit if limit is not None else stop,
                sl,
                tp,
                self.engine.last_price_or_none(symbol or self.symbols[0]),
            )
        return self.engine.submit_new(
            self,
            side=side,
            symbol=symbol or self.symbols[0],
            kind=kind,
            qty=None if size is None else float(size),
            fraction=fraction,
            limit=limit,
            stop=stop,
            sl=sl,
            tp=tp,
            trail_amount=trail,
            trail_percent=trail_percent,
            tif=tif_value,
            expire_at=expire_at,
            valid_for=valid_for,
            tag=tag,
        )

    def close(self, symbol: str | None = None, *, fraction: float = 1.0, trade: Trade | None = None) -> list[Order]:
        """Close the position in symbol (or one trade, or a fraction of it) with market orders."""
        if not 0 < fraction <= 1:
            raise ConfigError(f"close fraction must be in (0, 1], got {fraction!r}")
        if trade is not None and symbol is not None and symbol != trade.symbol:
            raise ConfigError(f"trade {trade.id} is in {trade.symbol}, not {symbol}: pass one or the other")
        return self.engine.close_position(self, symbol or (trade.symbol if trade else self.symbols[0]), fraction, trade)

    def cancel(self, order: Order) -> None:
        self.engine.cancel(order, "cancelled by strategy")

    def kill_switch(self, reason: str = "strategy request") -> None:
        """Cancel every open order of the account, flatten every position and refuse new entries."""
        self.engine.kill_switch(reason)


def _check_brackets(side: Side, entry: float | None, sl: float | None, tp: float | None, last: float | None) -> None:
    """A long needs sl < entry < tp, a short tp < entry < sl (entry: the limit/stop, else the last close)."""
    ref = entry if entry is not None else last
    if ref is None:
        return
    if side is Side.BUY:
        ok = (sl is None or sl < ref) and (tp is None or tp > ref)
        want = "sl < price < tp"
    else:
        ok = (sl is None or sl > ref) and (tp is None or tp < ref)
        want = "tp < price < sl"
    if not ok:
        raise ConfigError(
            f"a {'long' if side is Side.BUY else 'short'} order needs {want}; got sl={sl}, tp={tp} around {ref:g}"
        )


def crossover(a: Any, b: Any) -> bool:
    """True when a crossed above b on the latest bar: a was below b one bar earlier and is above it now.
    Either side may be a series or a number. False while fewer than two values are known."""
    try:
        return a[-2] < b[-2] and a[-1] > b[-1]  # type: ignore[no-any-return]
    except TypeError:  # one side is a number
        try:
            a2, a1 = (a, a) if isinstance(a, (int, float)) else (a[-2], a[-1])
            b2, b1 = (b, b) if isinstance(b, (int, float)) else (b[-2], b[-1])
        except IndexError:
            return False
        return bool(a2 < b2 and a1 > b1)
    except IndexError:
        return False

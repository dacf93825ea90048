"""Backtesting.py strategies as tradeforge strategies: the same class in a backtest, on replay, paper and live.

``hosted(SmaCross)`` returns a ``tradeforge.Strategy`` subclass whose instances run the Backtesting.py strategy
on whatever engine they are added to: ``run_backtest``, ``tradeforge backtest --replay``, ``tradeforge paper`` and
``tradeforge live`` (the command line and the configuration files host a Backtesting.py class found in a
strategy file by themselves). Its parameters are the Backtesting.py class's (``--param n1=5``).

What the strategy sees is what ``tradeforge.compat.Backtest`` gives it (``self.data`` revealed bar by bar,
``self.I``, ``buy``/``sell`` with size, limit, stop, sl, tp and tag, ``position``, ``trades``, ``orders``,
``closed_trades``, ``equity``); its orders are the engine's own orders, so fills, fees, slippage, risk limits and
persistence are those of the venue it runs on (simulated, paper or the exchange), not Backtesting.py's broker.

Indicators: on a complete history (a backtest) ``init()`` runs once over all bars and the indicators are revealed
one bar at a time, as in ``Backtest``. When bars arrive one at a time (replay, paper, live) the history grows,
so at each new bar ``init()`` runs again on a fresh copy of the strategy over the bars so far and the copy's
indicators replace the strategy's own; everything else the strategy keeps (attributes that ``next()`` changes)
stays. Indicators are checked for look-ahead when declared, so both ways give the same values. Trading starts
once every indicator has a value, as in Backtesting.py.

Not hosted: multi-asset strategies (``alloc``/``rebalance``; they need ``Backtest`` on a 2-level frame) and
``Backtest`` settings that describe Backtesting.py's broker (spread, commission, margin, trade_on_close,
hedging): the venue's settings apply. ``exclusive_orders`` is a class option: ``hosted(S, exclusive_orders=True)``.
A trade view's ``pl``/``pl_pct`` do not subtract fees (the engine's trade records carry them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tradeforge.compat._data import _Data, _Indicator
from tradeforge.compat.backtest import _strategy_indicators, _warmup_bars
from tradeforge.compat.errors import CompatValueError
from tradeforge.compat.objects import Position
from tradeforge.compat.runner import Run
from tradeforge.compat.strategy import Strategy as CompatStrategy
from tradeforge.compat.strategy import vars_of
from tradeforge.core.errors import ConfigError
from tradeforge.core.orders import Order as CoreOrder
from tradeforge.core.strategy import Strategy as CoreStrategy

_COLUMNS = (("Open", "open"), ("High", "high"), ("Low", "low"), ("Close", "close"), ("Volume", "volume"))


def _no_fee(size: float, price: float) -> float:
    return 0.0


class _Venue:
    """What the compat views read from a broker, answered from the engine's books (any venue)."""

    def __init__(self, host: CoreStrategy) -> None:
        self._host = host
        self.float_sizes: set[int] = set()

    @property
    def working(self) -> list[CoreOrder]:
        name = self._host.name
        return [o for o in self._host.engine.open.values() if o.strategy == name]

    def book_cash(self, name: str) -> float:
        return self._host.engine.portfolio.books[name].cash


class _HostRun(Run):
    """compat's Run over an engine it does not own: orders go through the host strategy to any venue."""

    def __init__(self, host: CoreStrategy, symbol: str, *, exclusive_orders: bool) -> None:
        # Run.__init__ builds its own engine and Backtesting.py broker; a hosted strategy uses the host's
        self.symbols = [symbol]
        self.symbol = symbol
        self.engine = host.engine
        self.adapter = host  # type: ignore[assignment]  # any engine strategy places the orders
        self.broker = _Venue(host)  # type: ignore[assignment]
        self.book = host.engine.portfolio.books[host.name]
        self.commission = _no_fee
        self.spread = 0.0
        self.exclusive_orders = exclusive_orders
        self.index = pd.DatetimeIndex([], tz="UTC")
        self._tags: dict[int, Any] = {}
        self._orders = {}
        self._trades = {}
        self._position = Position(self, None)
        self._closed_views = []
        self.in_init = False
        self._deferred = []
        self._deferred_seq = 0

    def new_order(self, *args: Any, **kwargs: Any) -> Any:
        if self.in_init:
            raise CompatValueError(
                "a hosted strategy cannot place orders in init() (it reruns init() as bars arrive); place them "
                "in next(), e.g. on its first call"
            )
        return super().new_order(*args, **kwargs)

    def equity(self) -> float:
        return float(self.adapter.equity)


class _Host(CoreStrategy):
    """An engine strategy running one Backtesting.py strategy (made by `hosted`)."""

    _compat_class: ClassVar[type[CompatStrategy]]
    _exclusive_orders: ClassVar[bool] = False

    def on_start(self) -> None:
        symbols = self.symbols
        if len(symbols) != 1:
            raise ConfigError(
                f"{self._compat_class.__name__} is a Backtesting.py strategy: it trades one symbol, but this run "
                f"gives it {len(symbols)} ({', '.join(symbols)}); run one instance per symbol"
            )
        self._stream = self.engine.base[symbols[0]]
        self._run = _HostRun(self, symbols[0], exclusive_orders=self._exclusive_orders)
        self._compat: CompatStrategy | None = None
        self._start = 0
        self._sliced: list[tuple[str, _Indicator, bool]] = []
        self._recomputed: list[tuple[str, _Indicator, Any]] = []
        if self._stream.complete:  # a backtest: every bar is known, init() once as Backtest does
            data = _Data(self._frame())
            self._compat = self._instance(data)
            with np.errstate(invalid="ignore"), self._initialising():
                self._compat.init()
            data._update()
            self._run.index = data.index
            # Backtest's rule, so the same first trading bar (and minitrade's start_on_day(n) from init())
            self._start = max(1 + _warmup_bars(self._compat), self._compat._start_on_day)
            self._sliced, self._recomputed = self._compat._reveal_lists(_strategy_indicators(self._compat))

    def on_bar(self) -> None:
        k = self._stream.n - 1  # the bar that just closed, counted from the first
        if self._stream.complete:
            compat = self._compat
            assert compat is not None  # made in on_start
            compat._data._set_length(k + 1)
            attrs = compat.__dict__
            for attr, ind, flat in self._sliced:
                attrs[attr] = ind[: k + 1] if flat else ind[..., : k + 1]
            if self._recomputed and k >= self._start:  # recomputed from the first bar next() sees
                compat._reveal_known(attrs, self._recomputed, k + 1)
        else:
            compat = self._grow()
        if k >= self._start:
            compat.next()

    def _grow(self) -> CompatStrategy:
        """Bars arrive one at a time: indicators from init() over the bars so far (on a fresh copy after the
        first bar, so the strategy's own state stays)."""
        data = _Data(self._frame())
        self._run.index = data.index
        with np.errstate(invalid="ignore"), self._initialising():
            if self._compat is None:
                self._compat = compat = self._instance(data)
                compat.init()
            else:
                compat = self._compat
                fresh = self._instance(data)
                fresh.init()
                for attr, value in vars(fresh).items():
                    if _holds_indicators(value):
                        setattr(compat, attr, value)
                compat._indicators = fresh._indicators
                compat._data = data
        self._start = max(1 + _nan_prefix(_strategy_indicators(compat)), compat._start_on_day)
        return compat

    @contextlib.contextmanager
    def _initialising(self) -> Iterator[None]:
        self._run.in_init = True
        try:
            yield
        finally:
            self._run.in_init = False

    def _instance(self, data: _Data) -> CompatStrategy:
        strategy = self._compat_class(self._run, data, dict(self.params))
        strategy._growing = not self._stream.complete  # only past bars exist: nothing to check for look-ahead
        return strategy

    def _frame(self) -> pd.DataFrame:
        stream = self._stream
        ts = stream.column("ts")
        n = len(ts) if stream.complete else stream.n
        return pd.DataFrame(
            {col: np.asarray(stream.column(key), dtype=float)[:n] for col, key in _COLUMNS},
            index=pd.to_datetime(np.asarray(ts[:n], dtype=np.int64), utc=True),
        )


def _holds_indicators(value: Any) -> bool:
    if isinstance(value, _Indicator):
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(isinstance(v, _Indicator) for v in value)
    if isinstance(value, dict):
        return bool(value) and all(isinstance(v, _Indicator) for v in value.values())
    return False


def _nan_prefix(indicators: list[tuple[str, _Indicator]]) -> int:
    """Bars until every (non-scatter) indicator has a value: Backtest's _warmup_bars, except that an indicator
    with no value yet (its warm-up not over on the bars so far) holds trading back."""
    longest = 0
    for _, ind in indicators:
        if ind._opts.get("scatter"):
            continue
        missing = np.isnan(np.atleast_2d(np.asarray(ind, dtype=float)))
        if not missing.shape[-1]:
            continue
        per_row = np.where(missing.all(axis=-1), missing.shape[-1], missing.argmin(axis=-1))
        longest = max(longest, int(per_row.max()))
    return longest


def hosted(strategy: type[CompatStrategy], *, exclusive_orders: bool = False) -> type[CoreStrategy]:
    """A tradeforge Strategy class running the Backtesting.py strategy class `strategy` (see the module doc).

    >>> from tradeforge.sim.backtest import run_backtest
    >>> result = run_backtest(hosted(SmaCross), load_sample("GOOG"), cash=10_000, commission=0.002)
    """
    if not (isinstance(strategy, type) and issubclass(strategy, CompatStrategy)):
        raise ConfigError(f"hosted() takes a tradeforge.compat.Strategy subclass, got {strategy!r}")
    params = {
        k: v
        for k, v in vars_of(strategy).items()
        if not k.startswith("_") and not callable(v) and not isinstance(v, (property, staticmethod, classmethod))
    }
    clash = sorted(set(params) & set(dir(CoreStrategy)))
    if clash:
        raise ConfigError(
            f"{strategy.__name__}'s parameters {', '.join(clash)} clash with tradeforge.Strategy attributes; "
            "rename them to host it"
        )
    attrs: dict[str, Any] = {
        **params,
        "_compat_class": strategy,
        "_exclusive_orders": bool(exclusive_orders),
        "__module__": strategy.__module__,
        "__doc__": strategy.__doc__,
        "__qualname__": strategy.__qualname__,
    }
    return type(strategy.__name__, (_Host,), attrs)

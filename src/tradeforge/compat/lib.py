"""Backtesting.py's ``backtesting.lib`` for tradeforge.compat: helpers and composable strategies.

from tradeforge.compat.lib import crossover, resample_apply, SignalStrategy, TrailingStrategy
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from itertools import count
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.compat._data import _Array
from tradeforge.compat._libfuncs import (
    OHLCV_AGG,
    TRADES_AGG,
    barssince,
    cross,
    crossover,
    plot_heatmaps,
    quantile,
    random_ohlc_data,
)
from tradeforge.compat.backtest import Backtest
from tradeforge.compat.errors import CompatAssertionError, CompatTypeError, CompatValueError
from tradeforge.compat.strategy import Strategy, _as_str

__all__ = [
    "OHLCV_AGG",
    "TRADES_AGG",
    "FractionalBacktest",
    "MultiBacktest",
    "SignalStrategy",
    "TrailingStrategy",
    "barssince",
    "compute_stats",
    "cross",
    "crossover",
    "plot_heatmaps",
    "quantile",
    "random_ohlc_data",
    "resample_apply",
]


def compute_stats(
    *, stats: pd.Series, data: pd.DataFrame, trades: pd.DataFrame | None = None, risk_free_rate: float = 0.0
) -> pd.Series:
    """Recompute the statistics of a run, e.g. for a subset of its trades (``stats._trades[stats._trades.Size > 0]``)
    or another risk-free rate. With a trades subset, equity is rebuilt from the starting equity plus those trades'
    P&L from their entry bar on (as Backtesting.py does)."""
    from tradeforge.compat.stats import stats_from_frames

    if not -1 < risk_free_rate < 1:
        raise CompatAssertionError(f"risk_free_rate is an annual rate as a fraction (0.02 = 2%), got {risk_free_rate}")
    equity = stats["_equity_curve"]["Equity"]
    if trades is None:
        trades = stats["_trades"]
    else:
        equity = equity.copy()
        equity[:] = stats["_equity_curve"]["Equity"].iloc[0]
        for t in trades.itertuples(index=False):
            equity.iloc[t.EntryBar :] += t.PnL
    return stats_from_frames(
        trades=trades,
        equity=equity.to_numpy(dtype=float),
        data=data,
        strategy=stats["_strategy"],
        risk_free_rate=risk_free_rate,
    )


def resample_apply(
    rule: str,
    func: Callable[..., Any] | None,
    series: pd.Series | pd.DataFrame | _Array,
    *args: Any,
    agg: str | dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Apply func to series resampled to `rule` (a pandas offset such as "D" or "W"), then bring the result back to
    the data's index. Groups are labelled by their end, so each bar only sees groups that have closed. Called from
    Strategy.init, the result is declared with self.I (remaining kwargs such as plot= go there)."""
    if func is None:

        def func(x: Any, *_: Any, **__: Any) -> Any:
            return x

    if not callable(func):
        raise CompatTypeError("resample_apply(func=) must be callable (or None to just resample)")
    if not isinstance(series, (pd.Series, pd.DataFrame)):
        if not isinstance(series, _Array):
            raise CompatTypeError(
                "resample_apply(series=) must be a pandas Series or DataFrame, or a Strategy.data array such as "
                "self.data.Close"
            )
        series = series.s
    if not isinstance(series.index, pd.DatetimeIndex):
        raise CompatValueError("resample_apply needs data with a DatetimeIndex (resampling works on time)")
    if agg is None:
        agg = OHLCV_AGG.get(getattr(series, "name", ""), "last")
        if isinstance(series, pd.DataFrame):
            agg = {column: OHLCV_AGG.get(column, "last") for column in series.columns}
    resampled = series.resample(rule, label="right").agg(agg).dropna()
    resampled.name = _as_str(series) + "[" + rule + "]"  # type: ignore[union-attr]

    strategy_i: Callable[..., Any] | None = None
    frame = inspect.currentframe()
    level = 0
    while frame is not None and level <= 3:
        frame = frame.f_back
        level += 1
        owner = frame.f_locals.get("self") if frame is not None else None
        if isinstance(owner, Strategy):
            strategy_i = owner.I
            break
    del frame
    target = series

    def wrap_func(resampled: Any, *args: Any, **kwargs: Any) -> Any:
        result = func(resampled, *args, **kwargs)
        if not isinstance(result, (pd.DataFrame, pd.Series)):
            result = np.asarray(result)
            if result.ndim == 1:
                result = pd.Series(result, name=resampled.name)
            elif result.ndim == 2:
                result = pd.DataFrame(result.T)
        if not isinstance(result.index, pd.DatetimeIndex):
            result.index = resampled.index
        return result.reindex(index=target.index.union(resampled.index), method="ffill").reindex(target.index)

    wrap_func.__name__ = getattr(func, "__name__", "func")
    if strategy_i is None:
        return wrap_func(resampled, *args, **kwargs)
    return strategy_i(wrap_func, resampled, *args, **kwargs)


class SignalStrategy(Strategy):
    """A strategy driven by signal arrays: call ``self.set_signal(entry_size, exit_portion)`` in init().

    entry_size > 0 buys that size (units or fraction), < 0 sells; exit_portion > 0 closes that portion of long
    trades, < 0 of short trades. Call super().init() / super().next() when overriding."""

    __entry_signal: Any = (0,)
    __exit_signal: Any = (False,)

    def set_signal(
        self, entry_size: Sequence[float], exit_portion: Sequence[float] | None = None, *, plot: bool = True
    ) -> None:
        self.__entry_signal = self.I(
            lambda: pd.Series(entry_size, dtype=float).replace(0, np.nan).to_numpy(),
            name="entry size",
            plot=plot,
            overlay=False,
            scatter=True,
            color="black",
        )
        if exit_portion is not None:
            self.__exit_signal = self.I(
                lambda: pd.Series(exit_portion, dtype=float).replace(0, np.nan).to_numpy(),
                name="exit portion",
                plot=plot,
                overlay=False,
                scatter=True,
                color="black",
            )

    def next(self) -> None:
        super().next()  # type: ignore[safe-super]  # cooperative: other mixins' next() run too
        exit_portion = self.__exit_signal[-1]
        if exit_portion > 0:
            for trade in self.trades:
                if trade.is_long:
                    trade.close(exit_portion)
        elif exit_portion < 0:
            for trade in self.trades:
                if trade.is_short:
                    trade.close(-exit_portion)
        entry_size = self.__entry_signal[-1]
        if entry_size > 0:
            self.buy(size=entry_size)
        elif entry_size < 0:
            self.sell(size=-entry_size)


class TrailingStrategy(Strategy):
    """A strategy whose open trades' stop-losses trail the close by n_atr average true ranges (6 by default).
    ``set_trailing_sl(n_atr)``, ``set_trailing_pct(pct)``, ``set_atr_periods(periods)`` in init()."""

    __n_atr = 6.0
    __atr: Any = None

    def init(self) -> None:
        super().init()
        self.set_atr_periods()

    def set_atr_periods(self, periods: int = 100) -> None:
        """Average true range over `periods` bars (back-filled over the first bars)."""
        hi, lo = np.asarray(self.data.High, dtype=float), np.asarray(self.data.Low, dtype=float)
        c_prev = pd.Series(np.asarray(self.data.Close, dtype=float)).shift(1).to_numpy()
        tr = np.max([hi - lo, np.abs(c_prev - hi), np.abs(c_prev - lo)], axis=0)
        self.__atr = pd.Series(tr).rolling(periods).mean().bfill().to_numpy()

    def set_trailing_sl(self, n_atr: float = 6) -> None:
        self.__n_atr = n_atr

    def set_trailing_pct(self, pct: float = 0.05) -> None:
        """Trail by about pct below the price (converted to ATRs with mean(Close * pct / ATR))."""
        if not 0 < pct < 1:
            raise CompatAssertionError(f"Need pct= as a rate, i.e. 5% == 0.05, got {pct}")
        self.set_trailing_sl(float(np.mean(np.asarray(self.data.Close) * pct / self.__atr)))

    def next(self) -> None:
        super().next()  # type: ignore[safe-super]
        index = len(self.data) - 1
        close = self.data.Close[index]
        distance = self.__atr[index] * self.__n_atr
        for trade in self.trades:
            if trade.is_long:
                trade.sl = max(trade.sl or -np.inf, close - distance)
            else:
                trade.sl = min(trade.sl or np.inf, close + distance)


_PRICE_COLUMNS = ("Open", "High", "Low", "Close")


class FractionalBacktest(Backtest):
    """A Backtest that trades fractions of a unit (e.g. of one bitcoin), as Backtesting.py's FractionalBacktest.

    Prices are multiplied by `fractional_unit` and Volume divided by it, so the strategy trades whole numbers of
    fractional units; the results are scaled back: in ``stats._trades`` Size is in units again and EntryPrice,
    ExitPrice, SL and TP are in the data's prices, and so are the overlay indicators in
    ``stats._strategy._indicators`` (what plot() draws). Inside the strategy (self.data, orders, trade.size,
    Entry_*/Exit_* indicator columns of the trades) everything stays in fractional units. Equity, P&L and the
    statistics are the same in either. `fractional_unit` defaults to one satoshi (1 / 100e6); for μBTC pass
    ``fractional_unit=1 / 1e6``. ``satoshi=n`` (deprecated) means ``fractional_unit=1 / n``.
    """

    def __init__(self, data: pd.DataFrame, *args: Any, fractional_unit: float = 1 / 100e6, **kwargs: Any) -> None:
        if "satoshi" in kwargs:
            warnings.warn(
                "Parameter `FractionalBacktest(..., satoshi=)` is deprecated. "
                "Use `FractionalBacktest(..., fractional_unit=)`.",
                category=DeprecationWarning,
                stacklevel=2,
            )
            fractional_unit = 1 / kwargs.pop("satoshi")
        if (
            isinstance(fractional_unit, bool)
            or not isinstance(fractional_unit, Number)
            or not (math.isfinite(float(fractional_unit)) and float(fractional_unit) > 0)
        ):
            raise CompatValueError(
                f"fractional_unit must be a positive number (the traded fraction of one unit, e.g. 1 / 1e6 for "
                f"μBTC), got {fractional_unit!r}"
            )
        self._fractional_unit = float(fractional_unit)
        with warnings.catch_warnings():  # prices above cash are what trading fractions is for
            warnings.filterwarnings("ignore", message=".*?fraction")
            super().__init__(data, *args, **kwargs)
        self.__data = self._scaled(self._data)

    def _scaled(self, data: pd.DataFrame) -> pd.DataFrame:
        """data with prices in fractional units (× fractional_unit) and volume in them (÷ fractional_unit)."""
        scaled = data.copy(deep=False)
        fields = scaled.columns.get_level_values(-1)
        for position, field in enumerate(fields):
            if field in _PRICE_COLUMNS:
                scaled.isetitem(position, scaled.iloc[:, position].to_numpy() * self._fractional_unit)
            elif field == "Volume":
                scaled.isetitem(position, scaled.iloc[:, position].to_numpy() / self._fractional_unit)
        return scaled

    def run(self, **kwargs: Any) -> pd.Series:
        original = self._data
        self._data = self.__data
        try:
            result = super().run(**kwargs)
        finally:
            self._data = original
        unit = self._fractional_unit
        trades: pd.DataFrame = result["_trades"]
        trades["Size"] *= unit
        trades[["EntryPrice", "ExitPrice", "TP", "SL"]] /= unit
        indicators = result["_strategy"]._indicators
        for i, indicator in enumerate(indicators):
            if indicator._opts.get("overlay"):
                indicators[i] = indicator / unit
        return result


class MultiBacktest:
    """Run one strategy on several datasets: ``MultiBacktest([EURUSD, BTCUSD], SmaCross).run(n1=10)`` returns a
    DataFrame of statistics with one column per dataset."""

    def __init__(self, df_list: Sequence[pd.DataFrame], strategy_cls: type[Strategy], **kwargs: Any) -> None:
        if not df_list:
            raise CompatValueError("MultiBacktest needs at least one DataFrame")
        self._dfs = list(df_list)
        self._strategy = strategy_cls
        self._bt_kwargs = kwargs

    def run(self, **kwargs: Any) -> pd.DataFrame:
        results = []
        for df in self._dfs:
            stats = Backtest(df, self._strategy, **self._bt_kwargs).run(**kwargs)
            results.append(stats[[k for k in stats.index if not str(k).startswith("_")]])
        return pd.DataFrame(results).transpose().set_axis(list(range(len(results))), axis=1)

    def optimize(self, **kwargs: Any) -> pd.DataFrame:
        """Backtest.optimize on each dataset; the heatmaps side by side (one column per dataset)."""
        heatmaps = []
        for df in self._dfs:
            bt = Backtest(df, self._strategy, **self._bt_kwargs)
            _, heatmap = bt.optimize(return_heatmap=True, return_optimization=False, **kwargs)
            heatmaps.append(heatmap)
        return pd.DataFrame(dict(zip(count(), heatmaps, strict=False)))

"""Backtesting.py's Strategy: ``init()`` declares indicators with ``self.I``, ``next()`` trades bar by bar."""

from __future__ import annotations

import random
import sys
import time
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Sequence
from itertools import chain
from numbers import Number
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.compat._data import _Data, _Indicator
from tradeforge.compat._multidata import _MultiData
from tradeforge.compat.errors import (
    CompatAssertionError,
    CompatRuntimeError,
    CompatTypeError,
    CompatValueError,
    UnknownParameterError,
)
from tradeforge.compat.records import Records
from tradeforge.core.errors import LookAheadWarning

if TYPE_CHECKING:
    from tradeforge.compat.objects import Order, Position, Trade, Trades
    from tradeforge.compat.runner import Run

_OHLCV = ("Open", "High", "Low", "Close", "Volume")


def _as_str(value: Any) -> str:
    """Short label of an indicator argument (Backtesting.py's naming: SMA(C,10))."""
    if isinstance(value, (Number, str)):
        return str(value)
    if isinstance(value, pd.DataFrame):
        return "df"
    name = str(getattr(value, "name", "") or "")
    if name in _OHLCV:
        return name[:1]
    if callable(value):
        name = getattr(value, "__name__", type(value).__name__).replace("<lambda>", "λ")
    if len(name) > 10:
        name = name[:9] + "…"
    return name


def _prefix(value: Any, m: int, n: int) -> Any:
    """value cut to its first m rows when it is an array or pandas object of length n; else value."""
    if isinstance(value, (pd.Series, pd.DataFrame)) and len(value) == n:
        return value.iloc[:m]
    if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[-1] == n:
        return value[..., :m]
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[0] == n:
        return value[:m]  # bars x assets (multi-asset data.Close)
    return value


class _FullEquity(float):
    def __repr__(self) -> str:
        return ".9999"


class Strategy(metaclass=ABCMeta):
    """A Backtesting.py strategy. Declare parameters as class attributes; override init() and next()."""

    _FULL_EQUITY = _FullEquity(1 - sys.float_info.epsilon)
    _growing = False  # True when init() only ever sees the bars so far (hosted on arriving bars): no look-ahead check

    def __init__(self, broker: Run, data: _Data, params: dict[str, Any]) -> None:
        self._indicators: list[_Indicator] = []
        # indicators that use future data: id -> what recomputes them on the bars known at each bar
        self._recompute: dict[int, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Any, int, bool]] = {}
        self._broker = broker
        self._data = data
        self._record_store = Records()
        self._start_on_day = 0
        self._params = self._check_params(params)

    def __repr__(self) -> str:
        return "<Strategy " + str(self) + ">"

    def __str__(self) -> str:
        params = ",".join(f"{k}={_as_str(v)}" for k, v in self._params.items())
        return f"{type(self).__name__}({params})" if params else type(self).__name__

    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        for key, value in params.items():
            if not hasattr(self, key) or key.startswith("_"):
                known = sorted(k for k, v in vars_of(type(self)).items() if not k.startswith("_") and not callable(v))
                raise UnknownParameterError(
                    f"Strategy '{type(self).__name__}' is missing parameter '{key}'. Declare parameters as class "
                    f"variables (e.g. `{key} = ...` in the class body) before run() or optimize() can set them; "
                    f"its parameters are: {', '.join(known) or 'none'}"
                )
            setattr(self, key, value)
        return params

    # ------------------------------------------------------------ indicators
    def I(  # noqa: E743 - Backtesting.py's name
        self,
        func: Callable[..., Any],
        *args: Any,
        name: str | Sequence[str] | None = None,
        plot: bool = True,
        overlay: bool | None = None,
        color: str | Sequence[str] | None = None,
        scatter: bool = False,
        **kwargs: Any,
    ) -> np.ndarray:
        """Declare an indicator: func(*args, **kwargs) -> array(s) as long as the data, revealed bar by bar in
        next(). The result is checked for look-ahead: computed on the first half of the data it must give
        the same values. One that does not (e.g. a shift(-k) label) warns with LookAheadWarning and is
        recomputed at each bar on the bars known then, so next() never sees the future (init() and plots see
        the values computed on all the data, as returned here)."""

        def fmt(text: str) -> str:
            return text.format(*map(_as_str, args), **{k: _as_str(v) for k, v in kwargs.items()})

        columns: list[str] | None = None
        series_name: Any = None  # the name of a Series given as the indicator (minitrade names .df by it)
        if not callable(func):  # minitrade: self.I(df_or_series_or_array, name=...) declares precomputed values
            given = func
            if isinstance(given, pd.DataFrame):
                columns = [str(c) for c in given.columns]
            if name is None:
                name = str(getattr(given, "name", None) or "indicator")

            def func() -> Any:
                return given

            func.__name__ = str(name)
            if isinstance(given, pd.Series):
                series_name = given.name

        label: str | list[str]
        if name is None:
            params = ",".join(filter(None, map(_as_str, chain(args, kwargs.values()))))
            func_name = _as_str(func)
            label = f"{func_name}({params})" if params else func_name
        elif isinstance(name, str):
            label = fmt(name)
        elif isinstance(name, Sequence) and all(isinstance(item, str) for item in name):
            label = [fmt(item) for item in name]
        else:
            raise CompatTypeError(f"name= must be a str or a sequence of str, got {type(name).__name__}")

        n = len(self._data)
        # the look-ahead check's call on the first half goes first, so that what the function leaves behind
        # (attributes it sets, as Backtesting.py users sometimes do) comes from the call on all the data
        early, unchecked = self._early(func, args, kwargs, label, n)
        started = time.perf_counter()
        value, flipped, returned_columns = self._evaluate(func, args, kwargs, label, n)
        seconds = time.perf_counter() - started
        if unchecked is not None:  # the call on all the data worked: say the check could not be made
            warnings.warn(
                f'indicator "{label}" could not be checked for look-ahead on the first {n // 2 + 1} bars '
                f"({type(unchecked).__name__}: {unchecked})",
                stacklevel=2,
            )
        if isinstance(label, list) and np.atleast_2d(value).shape[0] != len(label):
            raise CompatValueError(
                f"name= has {len(label)} names but the indicator returns {np.atleast_2d(value).shape[0]} arrays; "
                "give one name per array"
            )
        peek = self._check_causal(label, value, early, n)
        if overlay is None and np.issubdtype(value.dtype, np.number):
            close = np.asarray(self._data.Close, dtype=float)
            if close.ndim == 2:  # multi-asset data: bars x assets; indicators are assets x bars
                close = close.T if value.ndim == 2 and value.shape[0] == close.shape[1] else close.mean(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                x = value / close
                overlay = bool(((x < 1.4) & (x > 0.6)).mean() > 0.6)
        if columns is None and returned_columns is not None and np.atleast_2d(value).shape[0] == len(returned_columns):
            columns = returned_columns  # a function returning a DataFrame (e.g. one column per asset)
        extra: dict[str, Any] = {"columns": columns} if columns is not None else {}
        if value.ndim == 1 and isinstance(self._data, _MultiData):
            # minitrade: a 1-D indicator's .df is a Series (named as the Series given, else by the label)
            extra["series"] = series_name if series_name is not None else label
        if value.ndim == 2 and isinstance(self._data, _MultiData):
            # minitrade's orientation with multi-asset data: bars x columns, like data.Close, so that
            # self.sma[-1] is the latest row (one value per asset) and compares with self.data.Close[-1]
            value = np.ascontiguousarray(value.T)
            extra["rows"] = True
        indicator = _Indicator(
            value, name=label, plot=plot, overlay=overlay, color=color, scatter=scatter, index=self.data.index, **extra
        )
        self._indicators.append(indicator)
        if peek is not None:
            estimate = seconds * n / 2  # one call per bar on half the bars on average
            warnings.warn(
                f"{peek}. next() is shown what was known at each bar instead: the indicator is recomputed on the "
                f"bars so far at every bar (one call per bar, about {estimate:,.0f} s for these {n:,} bars; "
                "writes into it from next() are not kept), "
                "while init() and plots get the values computed on all the data. Compute it from past values only "
                "(rolling windows, no shift(-k), no centred windows, no whole-series statistics) to avoid this",
                LookAheadWarning,
                stacklevel=2,
            )
            self._recompute[id(indicator)] = (func, args, kwargs, label, n, flipped)
        return indicator

    def _known_at(self, indicator: _Indicator, stop: int) -> np.ndarray:
        """A look-ahead indicator as computed on the first `stop` bars: what next() may see at that bar."""
        func, args, kwargs, label, n, flipped = self._recompute[id(indicator)]
        cut_args = tuple(_prefix(a, stop, n) for a in args)
        cut_kwargs = {k: _prefix(v, stop, n) for k, v in kwargs.items()}
        try:
            with np.errstate(all="ignore"):
                value = self._evaluate(func, cut_args, cut_kwargs, label, stop, flip=flipped)[0]
        except CompatRuntimeError:  # e.g. a filter that needs more bars than there are yet: nothing known
            shape = (stop, *indicator.shape[1:]) if indicator._opts.get("rows") else (*indicator.shape[:-1], stop)
            return np.full(shape, np.nan).astype(indicator.dtype, copy=False).view(type(indicator))
        if indicator._opts.get("rows"):
            value = np.ascontiguousarray(value.T)
        return value.astype(indicator.dtype, copy=False).view(type(indicator))

    def _reveal_lists(
        self, indicator_attrs: list[tuple[str, _Indicator]]
    ) -> tuple[list[tuple[str, _Indicator, bool]], list[tuple[str, _Indicator, Any]]]:
        """The indicators next() sees sliced to the bars so far (attr, array, is 1-D), and those recomputed
        (attr, the look-ahead indicator, None or the row of it an attribute holds, e.g. `a, b = self.I(...)`)."""
        recompute = self._recompute
        sliced: list[tuple[str, _Indicator, bool]] = []
        known: list[tuple[str, _Indicator, Any]] = []
        whole = {id(ind): ind for ind in self._indicators if id(ind) in recompute}
        for attr, ind in indicator_attrs:
            if id(ind) in recompute:
                known.append((attr, ind, None))
                continue
            base = ind.base
            if base is not None and id(base) in whole and ind.ndim == 1 and base.ndim == 2:
                parent = whole[id(base)]
                offset = ind.__array_interface__["data"][0] - parent.__array_interface__["data"][0]
                row, axis = divmod(offset, parent.strides[0]) if not parent._opts.get("rows") else (None, None)
                if row is not None and axis == 0 and ind.strides == parent.strides[1:]:
                    known.append((attr, parent, int(row)))
                    continue
            sliced.append((attr, ind, ind.ndim == 1 or bool(ind._opts.get("rows"))))  # rows: bars first
        return sliced, known

    def _reveal_known(self, attrs: dict[str, Any], known: list[tuple[str, _Indicator, Any]], stop: int) -> None:
        """Set the recomputed look-ahead indicators (each computed once for this bar) on the strategy."""
        done: dict[int, np.ndarray] = {}
        for attr, ind, row in known:
            value = done.get(id(ind))
            if value is None:
                value = done[id(ind)] = self._known_at(ind, stop)
            attrs[attr] = value if row is None else value[row]

    def _evaluate(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        label: Any,
        n: int,
        flip: bool | None = None,
    ) -> tuple[np.ndarray, bool, list[str] | None]:
        """func's value as a (k, n) or (n,) array, whether it was transposed, and the columns of a DataFrame it
        returned. flip: whether a 2-D value comes bars-first (None: decided from its shape)."""
        try:
            value = func(*args, **kwargs)
        except Exception as exc:  # a RuntimeError, as in Backtesting.py
            raise CompatRuntimeError(f'indicator "{label}" raised {type(exc).__name__}: {exc}') from exc
        columns: list[str] | None = None
        if isinstance(value, pd.DataFrame):
            columns = [str(c) for c in value.columns]
            value = value.to_numpy()
            flip = value.ndim == 2 if flip is None else flip  # a DataFrame is always bars x columns
        array: np.ndarray | None = None
        if value is not None:
            try:
                array = np.asarray(value, order="C")
            except (TypeError, ValueError):
                array = None
        is_arraylike = array is not None and bool(array.shape)
        if flip is None:
            flip = bool(array is not None and is_arraylike and array.ndim == 2 and array.shape[0] == n)
        if flip and array is not None and array.ndim == 2:
            array = np.ascontiguousarray(array.T)  # e.g. df.values: one column per output
        if array is None or not is_arraylike or not 1 <= array.ndim <= 2 or array.shape[-1] != n:
            shape = getattr(array, "shape", None)
            raise CompatValueError(
                f'indicator "{label}" must return an array (or a tuple of arrays) as long as the data: the data '
                f"has {n} bars, the indicator returned shape {shape} ({type(value).__name__}); check that the "
                "function keeps the warm-up bars (NaN) instead of dropping them"
            )
        return array, flip, columns

    def _early(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], label: Any, n: int
    ) -> tuple[np.ndarray | None, Exception | None]:
        """The indicator on the first half of every data argument (None when there is nothing to check), and
        the exception that call raised, if any. The random generators (numpy's global one and `random`) are
        put back as they were, so the call on all the data draws what it would have drawn alone."""
        if n < 8 or self._growing:
            return None, None
        m = n // 2 + 1
        cut_args = tuple(_prefix(a, m, n) for a in args)
        cut_kwargs = {k: _prefix(v, m, n) for k, v in kwargs.items()}
        if all(a is b for a, b in zip(cut_args, args, strict=True)) and all(cut_kwargs[k] is kwargs[k] for k in kwargs):
            return None, None  # no data argument: nothing to cut (a precomputed array is the user's responsibility)
        numpy_state = np.random.get_state()
        python_state = random.getstate()
        try:
            with np.errstate(all="ignore"):
                return self._evaluate(func, cut_args, cut_kwargs, label, m)[0], None
        except Exception as exc:  # the function may need more history than half the data: say so if it works
            return None, exc
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)

    def _check_causal(self, label: Any, value: np.ndarray, early: np.ndarray | None, n: int) -> str | None:
        """The values on the first half of the data must be those computed on all of it; else look-ahead: what
        differs, said for the user (None when nothing does)."""
        if early is None or not np.issubdtype(value.dtype, np.number):
            return None
        m = n // 2 + 1
        full = np.atleast_2d(value)[..., :m].astype(float)
        part = np.atleast_2d(early).astype(float)
        if full.shape != part.shape:
            return None
        same = np.isclose(full, part, rtol=1e-7, atol=1e-12, equal_nan=True)
        if same.all():
            return None
        bar = int(np.argwhere(~same)[0][-1])
        return (
            f'indicator "{label}" uses future data: its value at bar {bar} ({self._data.index[bar]}) is '
            f"{full[..., bar].tolist()} when computed on all {n} bars but {part[..., bar].tolist()} when "
            f"computed on the first {m}"
        )

    # -------------------------------------------------------------- callbacks
    def init(self) -> None:  # noqa: B027 - optional to override
        """Declare indicators with self.I(...) and precompute what can be precomputed."""

    @abstractmethod
    def next(self) -> None:
        """Called for each bar once every indicator has a value; trade here."""

    # ----------------------------------------------------------------- orders
    def buy(
        self,
        *,
        size: float = _FULL_EQUITY,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: object = None,
        symbol: str | None = None,
        ticker: str | None = None,
    ) -> Order:
        """A long order: size in units (whole number >= 1) or as a fraction of available margin (0 < size < 1).
        With limit and/or stop it is a limit, stop or stop-limit order; sl/tp attach exits to the trade.
        Multi-asset strategies name the asset: symbol= (or ticker=, minitrade's word)."""
        return self._order(1.0, size, limit, stop, sl, tp, tag, symbol or ticker)

    def sell(
        self,
        *,
        size: float = _FULL_EQUITY,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: object = None,
        symbol: str | None = None,
        ticker: str | None = None,
    ) -> Order:
        """A short order (see buy). It does not close a long trade unless exclusive_orders=True or the sizes
        net out; use position.close() or trade.close() to exit."""
        return self._order(-1.0, size, limit, stop, sl, tp, tag, symbol or ticker)

    def _order(
        self,
        sign: float,
        size: float,
        limit: float | None,
        stop: float | None,
        sl: float | None,
        tp: float | None,
        tag: object,
        asset: str | None,
    ) -> Order:
        _check_size(size)
        if asset is not None:  # multi-asset runs route by symbol; a single-asset run takes no symbol argument
            return self._broker.new_order(sign * float(size), limit, stop, sl, tp, tag, symbol=asset)  # type: ignore[call-arg]
        return self._broker.new_order(sign * float(size), limit, stop, sl, tp, tag)

    # ------------------------------------------------------------------ state
    @property
    def equity(self) -> float:
        """Cash plus open trades at the last close."""
        return self._broker.equity()

    @property
    def data(self) -> _Data:
        """The data revealed so far: ``data.Close[-1]`` is the latest close; ``data.df`` a DataFrame."""
        return self._data

    @property
    def position(self) -> Position:
        """The open position (``self.position.size``); also callable: ``self.position("AAPL")``."""
        return self._broker.position(None)

    @property
    def orders(self) -> tuple[Order, ...]:
        """Orders waiting to be filled, in processing order."""
        return self._broker.orders()

    @property
    def trades(self) -> Trades:
        """Open trades (a tuple; also callable as minitrade's ``self.trades("AAPL")``)."""
        return self._broker.trades()

    @property
    def closed_trades(self) -> tuple[Trade, ...]:
        """Settled trades."""
        return self._broker.closed_trades()

    # ------------------------------------------------------------- minitrade
    def record(
        self,
        name: str | None = None,
        plot: bool = True,
        overlay: bool | None = None,
        color: str | None = None,
        scatter: bool = False,
        **kwargs: Any,
    ) -> None:
        """minitrade's record(): note values at the current bar as time series, e.g. ``self.record(ratio=0.3)``
        or ``self.record(weights={"AAPL": 0.5, "MSFT": 0.5})`` (a dict or Series: one column per key). After
        the run ``stats._strategy._records[keyword]`` is a Series / DataFrame over the data's index (NaN where
        nothing was noted); ``Backtest.plot()`` draws it (plot=, overlay= price panel or own panel, color=,
        scatter= markers). name= labels it (default: the keyword)."""
        attrs = {"name": name, "plot": bool(plot), "overlay": overlay, "color": color, "scatter": bool(scatter)}
        self._record_store.note(len(self._data) - 1, attrs, kwargs)

    @property
    def _records(self) -> dict[str, Any]:
        """What record() noted: keyword -> Series or DataFrame over the data's index (minitrade's _records)."""
        return self._record_store.frames(self._data.index)

    def start_on_day(self, n: int) -> None:
        """minitrade's warm-up hint (call it in init()): next() is first called on bar n at the earliest (0 is
        the first bar), or later if an indicator still lacks a value there."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise CompatTypeError(f"start_on_day(n) takes a bar number (int), got {n!r}")
        if not self._growing and not (0 <= n < len(self._data)):
            raise CompatAssertionError(f"day must be within [0, {len(self._data) - 1}], got {n}")
        self._start_on_day = int(n)

    @property
    def storage(self) -> dict[str, Any] | None:
        """minitrade's storage: the dict passed as Backtest(..., storage=) (None without one), for state a
        strategy keeps from one run to the next. What the strategy writes into it stays in that dict."""
        if "_own_storage" in self.__dict__:
            return self.__dict__["_own_storage"]  # type: ignore[no-any-return]
        return getattr(self._broker, "storage", None)

    @storage.setter
    def storage(self, value: Any) -> None:  # a strategy may keep an attribute of its own by that name
        self.__dict__["_own_storage"] = value

    # ------------------------------------------------------------ multi-asset
    @property
    def alloc(self) -> Any:
        """minitrade's allocation (multi-asset data only): ``self.alloc.add(...).equal_weight()``, then
        ``self.rebalance()``. It lasts until rebalance() uses it, then starts empty again (as in minitrade)."""
        alloc = getattr(self._broker, "alloc", None)
        if alloc is None:
            raise CompatValueError(
                "self.alloc needs multi-asset data: a DataFrame with 2-level columns (symbol, field), e.g. "
                "pd.concat({'AAPL': aapl, 'MSFT': msft}, axis=1)"
            )
        return alloc

    def rebalance(
        self,
        force: bool = False,
        rtol: float = 0.01,
        atol: float = 0.0,
        cash_reserve: float = 0.1,
        limit_offset: float | None = None,
    ) -> list[Order]:
        """minitrade's rebalance (multi-asset data only; its defaults): when the alloc weights changed since the
        last rebalance (or force), send the orders that bring every asset to its weight of equity * (1 -
        cash_reserve), unless the portfolio is within rtol (of equity) / atol (cash) of that; see
        MultiRun.rebalance. Negative weights are shorts; limit_offset turns the orders into limit orders."""
        if not hasattr(self._broker, "rebalance"):
            raise CompatValueError("rebalance() needs multi-asset data: a DataFrame with 2-level columns")
        return self._broker.rebalance(  # type: ignore[no-any-return]
            force=force, rtol=rtol, atol=atol, cash_reserve=cash_reserve, limit_offset=limit_offset
        )


def vars_of(klass: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in reversed(klass.__mro__):
        if k in (object, Strategy):
            continue
        out.update(vars(k))
    return out


def _check_size(size: Any) -> None:
    if isinstance(size, np.bool_):
        size = bool(size)  # True is 1 unit, as in Backtesting.py
    if not isinstance(size, (int, float, np.integer, np.floating)):
        raise CompatTypeError(f"size must be a number, got {type(size).__name__}")
    if not (0 < size < 1 or (size >= 1 and round(size) == size)):
        raise CompatAssertionError(
            f"size must be a positive fraction of equity (0 < size < 1) or a positive whole number of units, "
            f"got {size!r}"
        )

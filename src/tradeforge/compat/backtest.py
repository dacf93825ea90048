"""Backtest: Backtesting.py 0.6.6's entry point, running on the tradeforge engine."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, MutableMapping
from numbers import Number
from typing import Any, cast

import numpy as np
import pandas as pd

from tradeforge.compat._data import _Data, _Indicator
from tradeforge.compat._multidata import _MultiData, is_multi_asset, normalise_multi, symbols_first
from tradeforge.compat.errors import CompatAssertionError, CompatRuntimeError, CompatTypeError, CompatValueError
from tradeforge.compat.runner import Run
from tradeforge.compat.stats import run_stats, step_times, strictly_increasing
from tradeforge.compat.strategy import Strategy
from tradeforge.core.errors import StrategyError
from tradeforge.core.heap import full_collections_deferred

_COLUMNS = ("Open", "High", "Low", "Close", "Volume")


def _commission_func(commission: Any) -> Callable[[float, float], float]:
    if callable(commission):
        return commission  # type: ignore[no-any-return]
    try:
        fixed, relative = commission
    except TypeError:
        fixed, relative = 0.0, commission
    if not isinstance(fixed, Number) or not isinstance(relative, Number):
        raise CompatTypeError(
            f"commission must be a float (0.002 = 0.2% of value), a (fixed, relative) tuple or a function "
            f"(order_size, price) -> cash, got {commission!r}"
        )
    fixed, relative = float(fixed), float(relative)  # type: ignore[arg-type]
    if fixed < 0:
        raise CompatAssertionError(f"the fixed commission must be >= 0 (cash per trade leg), got {fixed}")
    if not -0.1 <= relative < 0.1:
        raise CompatAssertionError(
            f"commission should be between -10% (e.g. market-maker rebates) and 10% (fees), is {relative}; "
            "give it as a fraction: 0.002 for 0.2%"
        )

    return _Commission(fixed, relative)


@dataclasses.dataclass(frozen=True)
class _Commission:
    """fixed + |order_size| * price * relative; a class, not a closure, so a Backtest pickles (worker processes)."""

    fixed: float
    relative: float

    def __call__(self, order_size: float, price: float) -> float:
        return self.fixed + abs(order_size) * price * self.relative


@contextlib.contextmanager
def _strategy_errors() -> Any:
    """Let the exception the strategy raised in next() through, as Backtesting.py does (a ValueError for a bad
    order stays a ValueError), instead of the engine's StrategyError wrapping it; its message becomes a note."""
    try:
        yield
    except StrategyError as exc:
        cause = exc.__cause__
        if not isinstance(cause, Exception):
            raise
        cause.add_note(str(exc))
        raise cause from None


def _strategy_indicators(strategy: Strategy) -> list[tuple[str, _Indicator]]:
    return [(attr, ind) for attr, ind in strategy.__dict__.items() if isinstance(ind, _Indicator)]


def _holding(holding: Mapping[str, float] | None, symbols: list[str] | None) -> dict[str, float]:
    """minitrade's holding= ({"AAPL": 10, ...}: units held before the run), checked."""
    if not holding:
        return {}
    if not isinstance(holding, Mapping):
        raise CompatTypeError(f"holding must be a dict of asset -> units held, got {type(holding).__name__}")
    out: dict[str, float] = {}
    for symbol, size in holding.items():
        if symbols is not None and symbol not in symbols:
            raise CompatValueError(f"holding names unknown asset {symbol!r}; this backtest trades {symbols}")
        if isinstance(size, bool) or not isinstance(size, Number) or not math.isfinite(float(size)):
            raise CompatValueError(f"holding[{symbol!r}] must be a number of units, got {size!r}")
        if not float(size).is_integer():
            raise CompatValueError(
                f"holding[{symbol!r}] = {size!r}: holdings are whole units here (orders trade whole units); "
                "round it, or scale the prices (e.g. trade thousandths of a coin) to hold a fraction"
            )
        out[str(symbol)] = float(size)
    return out


def _warmup_bars(strategy: Strategy) -> int:
    """Bars until every (non-scatter) indicator has a value (Backtesting.py's rule)."""
    nbars = 0
    for _, ind in _strategy_indicators(strategy):
        if ind._opts.get("scatter"):
            continue
        values = np.asarray(ind, dtype=float)
        axis = 0 if ind._opts.get("rows") else -1  # multi-asset indicators are bars x columns
        nbars = max(nbars, int(np.isnan(values).argmin(axis=axis).max()))
    return nbars


def _check_numeric(data: pd.DataFrame, symbols: list[str] | None) -> None:
    """Refuse OHLC columns that hold anything but numbers (numbers in an object column, and missing values, which
    the NaN check reports, are fine) and a Volume column that pandas cannot read as numbers."""
    columns = [c for c in data.columns if (c[1] if symbols is not None else c) in _COLUMNS]
    for column in columns:
        values = data[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if (column[1] if symbols is not None else column) == "Volume":
            try:  # volumes written as text ("22351900") are read as numbers, as Backtesting.py reads them
                pd.to_numeric(values)
            except (TypeError, ValueError) as exc:
                raise CompatTypeError(
                    f"column {column!r} cannot be read as numbers ({exc}); convert or drop it (Volume is optional)"
                ) from exc
            continue
        bad = next(
            (v for v in values if not (isinstance(v, (Number, np.bool_)) or v is None or v is pd.NA or v is pd.NaT)),
            None,
        )
        if bad is not None:
            fix = (
                f"convert it with df[{column!r}] = pd.to_numeric(df[{column!r}])"
                if isinstance(bad, (str, bytes))
                else "prices must be numbers"
            )
            raise CompatTypeError(
                f"column {column!r} holds {type(bad).__name__} values ({bad!r}, ...), not numbers: {fix}"
            )


class Backtest:
    """Backtest a Strategy subclass on OHLC data, exactly as Backtesting.py would, on tradeforge's engine.

    data: a DataFrame with columns Open, High, Low, Close and optionally Volume, indexed by time.
    cash: starting cash. spread: bid-ask spread as a fraction of price, paid on entries. commission: a fraction
    of traded value, a (fixed, relative) tuple, or f(order_size, price) -> cash; charged on each trade's entry
    and exit. margin: required margin (1 / leverage). trade_on_close: market orders fill at the close of the bar
    they were placed on instead of the next open. hedging: allow opposite trades at once. exclusive_orders:
    each new order cancels the others and closes open trades. finalize_trades: close open trades at the end
    (default: no for one asset, as Backtesting.py; yes for multi-asset data, as minitrade, at the last closes).
    With multi-asset data a commission rate is minitrade's: folded into the entry price (Backtesting.py's spread).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        strategy: type[Strategy],
        *,
        cash: float = 10_000,
        spread: float = 0.0,
        commission: float | tuple[float, float] | Callable[[float, float], float] = 0.0,
        margin: float = 1.0,
        trade_on_close: bool = False,
        hedging: bool = False,
        exclusive_orders: bool = False,
        finalize_trades: bool | None = None,
        lot_size: int = 1,
        trade_start_date: Any = None,
        fail_fast: bool | str | None = None,
        holding: Mapping[str, float] | None = None,
        storage: MutableMapping[str, Any] | None = None,
    ) -> None:
        if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
            raise CompatTypeError(
                "strategy must be a subclass of tradeforge.compat.Strategy (the class itself, not an instance); "
                f"got {strategy!r}"
            )
        if not isinstance(data, pd.DataFrame):
            raise CompatTypeError(f"data must be a pandas DataFrame with OHLC columns, got {type(data).__name__}")
        if not isinstance(spread, Number):
            raise CompatTypeError(f"spread must be a number (a fraction of the entry price), got {spread!r}")
        if not isinstance(commission, (Number, tuple)) and not callable(commission):
            raise CompatTypeError(
                "commission must be a float fraction of order value, a (fixed, relative) tuple, or a function "
                f"taking (order_size, price) and returning cash; got {commission!r}"
            )
        if not (isinstance(cash, Number) and math.isfinite(float(cash)) and float(cash) > 0):
            raise CompatAssertionError(f"cash should be > 0, is {cash}")
        if not (isinstance(margin, Number) and 0 < float(margin) <= 1):
            raise CompatAssertionError(f"margin should be between 0 and 1 (1 / leverage), is {margin}")
        self._commission = _commission_func(commission)
        data = data.copy(deep=False)
        if (  # numeric index of mostly epoch seconds: read it as times
            not isinstance(data.index, (pd.DatetimeIndex, pd.RangeIndex))
            and pd.api.types.is_numeric_dtype(data.index)
            and (data.index > pd.Timestamp("1975").timestamp()).mean() > 0.8
        ):
            with contextlib.suppress(ValueError, OverflowError):  # not epoch seconds after all: keep the index
                data.index = pd.to_datetime(data.index, unit="s")
        if len(data) == 0:
            raise CompatValueError("OHLC data is empty: pass at least one bar")
        if pd.api.types.is_string_dtype(data.index) or (
            pd.api.types.is_object_dtype(data.index) and any(isinstance(v, str) for v in data.index[:100])
        ):
            raise CompatTypeError(
                f"data's index holds text ({data.index[0]!r}, ...), not times: parse it with "
                "df.index = pd.to_datetime(df.index) (or read the file with pd.read_csv(..., index_col=0, "
                "parse_dates=True))"
            )
        self._symbols: list[str] | None = None
        data = symbols_first(data)  # yfinance.download's (field, ticker) columns
        if is_multi_asset(data):
            data = normalise_multi(data)
            self._symbols = [str(x) for x in dict.fromkeys(data.columns.get_level_values(0))]
        else:
            # open/HIGH/... are taken for Open/High/...: the case of a column name is not worth an error
            lower = {str(c).lower(): c for c in data.columns}
            renames = {lower[c.lower()]: c for c in _COLUMNS if c not in data.columns and c.lower() in lower}
            if renames:
                data = data.rename(columns=renames)
            if "Volume" not in data:
                data["Volume"] = np.nan
        missing = [] if self._symbols else [c for c in _COLUMNS if c not in data.columns]
        if missing:
            raise CompatValueError(
                f"data must be a pandas DataFrame with columns 'Open', 'High', 'Low', 'Close', and (optionally) "
                f"'Volume'; missing {missing}, columns present: {list(data.columns)}"
            )
        _check_numeric(data, self._symbols)
        ohlc = data[["Open", "High", "Low", "Close"]] if self._symbols is None else data.xs("Close", axis=1, level=1)
        nan_rows = cast(pd.DataFrame, ohlc).isnull().any(axis="columns")
        if nan_rows.any():
            first = data.index[int(np.argmax(nan_rows.to_numpy()))]
            raise CompatValueError(
                f"Some OHLC values are missing (NaN): {int(nan_rows.sum())} rows, the first at {first}. Drop them "
                "with df.dropna() or fill them with df.interpolate()"
            )
        closes = data["Close"] if self._symbols is None else data.xs("Close", axis=1, level=1)
        if np.any(closes.to_numpy() > cash):
            warnings.warn(
                "Some prices are larger than initial cash value. Note that fractional trading is not supported by "
                "this class. If you want to trade Bitcoin, increase initial cash, or trade μBTC or satoshis instead "
                "(see e.g. class `tradeforge.compat.lib.FractionalBacktest`.",
                stacklevel=2,
            )
        if not data.index.is_monotonic_increasing:
            warnings.warn("Data index is not sorted in ascending order. Sorting.", stacklevel=2)
            data = data.sort_index()
        if data.index.has_duplicates:
            repeated = data.index[data.index.duplicated()]
            warnings.warn(
                f"data has {len(repeated):,} bars that repeat an earlier bar's timestamp (the first at {repeated[0]}); "
                "they run in order, one bar each, as in Backtesting.py. Drop them with "
                "df[~df.index.duplicated()] if they are not real bars",
                stacklevel=2,
            )
        if not isinstance(data.index, pd.DatetimeIndex):
            warnings.warn(
                "Data index is not datetime. Assuming simple periods, but `pd.DateTimeIndex` is advised.",
                stacklevel=2,
            )
        self._data: pd.DataFrame = data
        self._strategy = strategy
        self._cash = float(cash)
        self._spread = float(spread)
        if self._symbols is not None and isinstance(commission, Number) and not isinstance(commission, bool):
            # minitrade (multi-asset data): a commission rate is folded into the entry price, exits unadjusted;
            # that is Backtesting.py's spread. Tuples and functions keep Backtesting.py 0.6.6's commission.
            self._spread += float(commission)
            self._commission = _commission_func(0.0)
        self._margin = float(margin)
        self._trade_on_close = bool(trade_on_close)
        self._hedging = bool(hedging)
        self._exclusive_orders = bool(exclusive_orders)
        multi = self._symbols is not None
        self._finalize_trades = multi if finalize_trades is None else bool(finalize_trades)
        # minitrade's options (multi-asset data): rebalance in lots, trade only from a date, unaffordable buys
        if not multi and (lot_size != 1 or trade_start_date is not None or fail_fast is not None or holding):
            raise CompatValueError(
                "lot_size=, trade_start_date=, fail_fast= and holding= are minitrade's options for multi-asset data "
                "(2-level columns); a single-asset backtest sizes its own orders"
            )
        if storage is not None and not isinstance(storage, MutableMapping):
            raise CompatTypeError(f"storage must be a dict (the strategy's self.storage), got {type(storage).__name__}")
        self._storage = storage
        self._holding = _holding(holding, self._symbols)
        if not (isinstance(lot_size, (int, np.integer)) and not isinstance(lot_size, bool) and lot_size >= 1):
            raise CompatValueError(f"lot_size must be a whole number >= 1, got {lot_size!r}")
        self._lot_size = int(lot_size)
        self._trade_start_bar = 0
        if trade_start_date is not None:
            start = pd.Timestamp(trade_start_date)
            start = start.tz_localize(None) if start.tzinfo is not None else start
            index = data.index
            naive = index.tz_localize(None) if isinstance(index, pd.DatetimeIndex) and index.tz is not None else index
            self._trade_start_bar = int((naive < start).sum())  # len(data) when the date is after the last bar
        if fail_fast not in (None, True, False, "scale"):
            raise CompatValueError(
                f"fail_fast must be True (stop at an order the account cannot pay for, minitrade's default), False "
                f"(drop it) or 'scale' (rebalance() scales its buys down), got {fail_fast!r}"
            )
        self._fail_fast: bool | str = "scale" if isinstance(fail_fast, str) else fail_fast is None or bool(fail_fast)
        self._results: pd.Series | None = None

    # ------------------------------------------------------------------- run
    def _timestamps(self) -> np.ndarray:
        """The bars' times for the engine: the statistics' instants (UTC when tz-aware), strictly increasing.

        Bars that repeat a timestamp run one after the other, in order, as Backtesting.py runs them (it counts
        bars, not times): the engine's clock gives each a nanosecond after the one before. Everything reported
        (trades' times, the equity curve) uses the data's own index."""
        index = self._data.index
        return strictly_increasing(step_times(index)[0].copy())

    def run(self, **kwargs: Any) -> pd.Series:
        """Run the backtest; keyword arguments set strategy parameters. Returns the statistics Series:

            >>> Backtest(GOOG, SmaCross).run()
            Start                     2004-08-19 00:00:00
            End                       2013-03-01 00:00:00
            Duration                   3116 days 00:00:00
            Exposure Time [%]                    96.74115
            Equity Final [$]                     51422.99
            Equity Peak [$]                      75787.44
            Commissions [$]                       2959.56
            Return [%]                           414.2299
            Buy & Hold Return [%]               703.45824
            Return (Ann.) [%]                    21.18026
            Volatility (Ann.) [%]                36.49391
            CAGR [%]                             14.15984
            Sharpe Ratio                          0.58038
            Sortino Ratio                         1.08479
            Calmar Ratio                          0.44144
            Alpha [%]                           394.37391
            Beta                                  0.03803
            Max. Drawdown [%]                   -47.98013
            Avg. Drawdown [%]                    -5.92585
            Max. Drawdown Duration      584 days 00:00:00
            Avg. Drawdown Duration       41 days 00:00:00
            # Trades                                   66
            Win Rate [%]                          46.9697
            Best Trade [%]                       53.59595
            Worst Trade [%]                     -18.39887
            Avg. Trade [%]                        2.53172
            Max. Trade Duration         183 days 00:00:00
            Avg. Trade Duration          46 days 00:00:00
            Profit Factor                         2.16795
            Expectancy [%]                        3.27481
            SQN                                   1.07662
            Kelly Criterion                       0.15187
            _strategy                            SmaCross
            _equity_curve                           Eq...
            _trades                       Size  EntryB...
            dtype: object

        (the numbers are illustrative). Trading starts once every indicator has a value: the bar after the
        longest warm-up (NaN prefix) of the indicators declared with Strategy.I.
        """
        with full_collections_deferred():  # until the statistics are made from the run's trades, not just the bars
            return self._run(**kwargs)

    def _run(self, **kwargs: Any) -> pd.Series:
        df = self._data
        settings: dict[str, Any] = {
            "cash": self._cash,
            "commission": self._commission,
            "spread": self._spread,
            "margin": self._margin,
            "trade_on_close": self._trade_on_close,
            "hedging": self._hedging,
            "exclusive_orders": self._exclusive_orders,
        }
        data: Any
        run: Run
        if self._symbols is not None:
            from tradeforge.compat.multi import MultiRun

            frames = {symbol: cast(pd.DataFrame, df[symbol]) for symbol in self._symbols}
            bar = min(self._trade_start_bar, len(df) - 1)  # holdings are priced at trade_start_date's close
            if self._holding:  # and their value is added to the cash, as minitrade
                value = sum(size * float(frames[symbol]["Close"].iloc[bar]) for symbol, size in self._holding.items())
                if not self._cash + value > 0:
                    raise CompatValueError(
                        f"holding= is worth {value:,.2f} at {df.index[bar]} (its pricing bar) and cash is "
                        f"{self._cash:,.2f}: the account would start with {self._cash + value:,.2f}. Short holdings "
                        "need at least their value in cash; raise cash or reduce them"
                    )
                settings["cash"] = self._cash + value
            run = MultiRun(frames, self._timestamps(), **settings)
            run.lot_size, run.trade_start_bar, run.fail_fast = self._lot_size, self._trade_start_bar, self._fail_fast
            run.holding, run.holding_bar = dict(self._holding), bar  # held from the first bar
            data = _MultiData(df.copy(deep=False))
        else:
            run = Run({"asset": df}, self._timestamps(), **settings)
            data = _Data(df.copy(deep=False))
        run.storage = self._storage
        strategy = self._strategy(run, data, kwargs)
        run.in_init = True
        try:
            with np.errstate(invalid="ignore"):
                strategy.init()
        finally:
            run.in_init = False
        data._update()
        # the first bar next() sees: Backtesting.py waits one bar more than the indicators' warm-up, minitrade
        # (multi-asset data) starts as soon as every indicator has a value
        start = _warmup_bars(strategy) + (0 if self._symbols is not None else 1)
        start = max(start, strategy._start_on_day)  # minitrade's start_on_day(n) from init()
        run.attach(strategy, data, start, _strategy_indicators(strategy))
        engine = run.engine
        n = len(df)
        stream = engine.base[run.symbol]
        with np.errstate(invalid="ignore"), _strategy_errors():
            engine.run_batch(stream.arrays["ts"], dict.fromkeys(engine.base))
            if run.out_of_money_step is None:
                if self._symbols is not None:
                    run.note_final_positions()  # type: ignore[attr-defined]
                if self._finalize_trades:
                    run.finalize()
                elif run.book.open_trades:
                    warnings.warn(
                        "Some trades remain open at the end of backtest. Use `Backtest(..., finalize_trades=True)` "
                        "to close them and include them in stats.",
                        stacklevel=2,
                    )
        data._set_length(n)
        for attr, ind, _ in run._indicator_attrs:
            setattr(strategy, attr, ind)  # whole arrays again, for plotting and the trades frame
        for attr, ind, row in run._recomputed:  # the values computed on all the data, as init() got them
            setattr(strategy, attr, ind if row is None else ind[row])
        if self._symbols is not None:
            from tradeforge.compat.multi import multi_stats

            # Buy & Hold from the indicators' warm-up (or start_on_day's bar), as minitrade
            first = 1 + max(_warmup_bars(strategy), strategy._start_on_day)
            self._results = multi_stats(run, df, strategy, first)  # type: ignore[arg-type]
        else:
            # Buy & Hold starts where the indicators have values *after* the run, as in Backtesting.py: next()
            # may have written into an indicator (e.g. a forecast array that starts all NaN)
            first = 1 + _warmup_bars(strategy)
            self._results = run_stats(run, df.index, df["Close"].to_numpy(dtype=float), strategy, first)
        return self._results

    # -------------------------------------------------------------- optimize
    def optimize(
        self,
        *,
        maximize: str | Callable[[pd.Series], float] = "SQN",
        method: str = "grid",
        max_tries: int | float | None = None,
        constraint: Callable[[Any], bool] | None = None,
        return_heatmap: bool = False,
        return_optimization: bool = False,
        random_state: int | None = None,
        workers: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Search parameter combinations for the best `maximize` (a stats key or f(stats) -> number).

        method: "grid" (every combination, or a random share of them with max_tries), "random" (max_tries
        distinct combinations) or "bayes" (Optuna's TPE over the values given); "sambo" (and the deprecated
        "skopt") runs that search with Backtesting.py's reading: integers span min..max, floats the interval.
        constraint(p) -> bool filters combinations (p.n1 < p.n2). Runs on `workers` local processes (default:
        all cores); results are identical to a serial run. Returns the best run's stats, plus the heatmap
        (a Series indexed by the parameters) with return_heatmap=True, plus an OptimizeResult (x, fun = -best, xv,
        funv, nit, nfev, and the Optuna study as .study) with return_optimization=True.
        """
        from tradeforge.compat.optimize import optimize

        return optimize(
            self,
            maximize=maximize,
            method=method,
            max_tries=max_tries,
            constraint=constraint,
            return_heatmap=return_heatmap,
            return_optimization=return_optimization,
            random_state=random_state,
            workers=workers,
            **kwargs,
        )

    # ------------------------------------------------------------------ plot
    def plot(
        self,
        *,
        results: pd.Series | None = None,
        filename: str | None = None,
        plot_allocation: bool | None = None,
        plot_indicator: bool = True,
        **kwargs: Any,
    ) -> Any:
        """An interactive offline HTML chart of the last run (or of results): see tradeforge.compat.plot for the
        options (Backtesting.py's plot_width, plot_equity, plot_return, plot_pl, plot_volume, plot_drawdown,
        plot_trades, smooth_equity, relative_equity, superimpose, resample, reverse_indicators, show_legend,
        open_browser). minitrade's too: plot_indicator=False leaves the indicators (and records) out,
        plot_allocation=False the allocation panel of a multi-asset run (drawn by default), and
        relative_allocation=False draws it in cash instead of shares of equity."""
        from tradeforge.compat.plot import IndicatorSpec, plot_backtest, record_specs

        if results is None:
            if self._results is None:
                raise CompatRuntimeError("First issue `backtest.run()` to obtain results.")
            results = self._results
        strategy = results["_strategy"]
        specs = []
        for ind in getattr(strategy, "_indicators", []):
            if not np.issubdtype(np.asarray(ind).dtype, np.number):  # categorical (GH-309): nothing to draw
                continue
            opts = ind._opts
            columns = opts.get("columns")
            label = [f"{ind.name} {c}" for c in columns] if columns and np.ndim(ind) == 2 else ind.name
            specs.append(
                IndicatorSpec(
                    name=label,
                    values=np.asarray(ind, dtype=float).T if opts.get("rows") else np.asarray(ind, dtype=float),
                    overlay=bool(opts.get("overlay")),
                    color=opts.get("color"),
                    scatter=bool(opts.get("scatter")),
                    plot=bool(opts.get("plot", True)),
                )
            )
        specs += record_specs(strategy)
        if not plot_indicator:
            specs = []
        title = str(strategy) if strategy is not None else "Backtest"
        if self._symbols is not None:  # one candle panel per asset, portfolio equity, allocation over time
            panels = {symbol: cast(pd.DataFrame, self._data[symbol]) for symbol in self._symbols}
            if plot_allocation is not False:
                kwargs.setdefault("allocation", results.get("_allocation"))
            return plot_backtest(
                None, results, specs, filename=filename, title=title, extra_price_panels=panels, **kwargs
            )
        return plot_backtest(self._data, results, specs, filename=filename, title=title, **kwargs)

"""Backtesting.py-shaped results: the statistics Series with _strategy, _equity_curve and _trades.

The numbers come from tradeforge.metrics.compute_stats (Backtesting.py 0.6.6's definitions); this module only
builds the frames and the Series the way Backtesting.py presents them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.core.trades import Trade as CoreTrade
from tradeforge.metrics import BACKTESTING_KEYS, compute_stats

if TYPE_CHECKING:
    from tradeforge.compat.runner import Run


class _Stats(pd.Series):
    """The statistics Series; its repr keeps the frames short."""

    @property
    def _constructor(self) -> type[_Stats]:
        return _Stats

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", 20, "display.max_rows", len(self), "display.precision", 5):
            return str(super().fillna(np.nan).to_string(na_rep="--", dtype=True))


def step_times(index: pd.Index) -> tuple[np.ndarray, np.ndarray | None]:
    """(int64 ns per bar, wall-clock ns per bar or None) for the statistics. A tz-aware index gives instants
    (UTC), so durations are real elapsed time across daylight-saving changes as in Backtesting.py, and its
    local wall-clock times count the calendar (days, weeks, months) as pandas' resample does. Without a
    DatetimeIndex, bars are one day apart."""
    if isinstance(index, pd.DatetimeIndex):
        ts = index.as_unit("ns").asi8
        return ts, index.tz_localize(None).as_unit("ns").asi8 if index.tz is not None else None
    return np.arange(len(index), dtype=np.int64) * 86_400_000_000_000, None


def strictly_increasing(ts: np.ndarray) -> np.ndarray:
    """ts with every repeated (or earlier) value moved the least that makes the sequence rise: bars that repeat
    a timestamp are run and measured one after the other, a nanosecond apart, as Backtesting.py counts bars."""
    if len(ts) < 2 or bool(np.all(ts[1:] > ts[:-1])):
        return ts
    steps = np.arange(len(ts), dtype=np.int64)
    return np.maximum.accumulate(ts - steps) + steps


def _drawdown_periods(dd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(end, start) bar of each drawdown period as Backtesting.py finds them: a period ends where the drawdown
    is back to 0, or at the last bar, and starts at the previous 0."""
    n = len(dd)
    iloc = np.flatnonzero(dd == 0)  # ascending already: only the last bar may need adding (np.unique would sort)
    if n and (not len(iloc) or iloc[-1] != n - 1):
        iloc = np.r_[iloc, n - 1]
    prev = np.r_[-2, iloc[:-1]]
    keep = (iloc > prev + 1) & (prev >= 0)
    return iloc[keep], prev[keep]


def drawdown_duration(dd: np.ndarray, index: pd.Index) -> np.ndarray:
    """Duration of each drawdown period at the bar it ends (recovery or last bar), NaN (NaT) elsewhere: index
    differences, timedelta64 in the index's unit for a DatetimeIndex. Without any drawdown period, the drawdown
    values themselves with zeros as NaN (floats), as Backtesting.py gives them."""
    ends, starts = _drawdown_periods(dd)
    if not len(ends):
        return np.where(dd == 0, np.nan, dd)
    out: np.ndarray
    if isinstance(index, pd.DatetimeIndex):  # instants in the index's unit: differences without pandas objects
        kind = np.dtype(f"timedelta64[{index.unit}]")
        out = np.full(len(dd), np.timedelta64("NaT", index.unit), dtype=kind)
        ticks = index.asi8
        out[ends] = (ticks[ends] - ticks[starts]).view(kind)
    else:
        out = np.full(len(dd), np.nan)
        out[ends] = np.asarray(index[ends] - index[starts])
    return out


def drawdown_pct(equity: np.ndarray) -> np.ndarray:
    """Backtesting.py's DrawdownPct: 1 - equity / running peak (a fraction)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dd: np.ndarray = 1 - equity / np.maximum.accumulate(equity)
    return dd


def equity_frame(equity: np.ndarray, index: pd.Index, dd: np.ndarray | None = None) -> pd.DataFrame:
    """Backtesting.py's ``_equity_curve`` frame; dd: drawdown_pct(equity) when the caller has it already."""
    if dd is None:
        dd = drawdown_pct(equity)
    return pd.DataFrame(
        {"Equity": equity, "DrawdownPct": dd, "DrawdownDuration": drawdown_duration(dd, index)}, index=index
    )


_TRADE_COLUMNS = (
    "Size",
    "EntryBar",
    "ExitBar",
    "EntryPrice",
    "ExitPrice",
    "SL",
    "TP",
    "PnL",
    "Commission",
    "ReturnPct",
    "EntryTime",
    "ExitTime",
)


def trades_frame(
    trades: Sequence[CoreTrade],
    index: pd.Index,
    commission: Callable[[float, float], float],
    *,
    sl: Sequence[float | None],
    tp: Sequence[float | None],
    tags: Sequence[Any],
    indicators: Sequence[Any] = (),
    sizes: Sequence[float] | None = None,
    fees: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Backtesting.py's ``_trades`` frame. sizes: the sizes as Backtesting.py types them (ints, or floats for
    trades split by trade.close()), which decide the Size column's dtype; default: ints when all are whole."""
    if not len(trades):  # Backtesting.py's frame of empty lists: every column float64
        empty = pd.DataFrame({col: [] for col in _TRADE_COLUMNS})
        empty["Duration"] = empty["ExitTime"] - empty["EntryTime"]
        empty["Tag"] = []
        return empty
    size = np.array([t.size for t in trades], dtype=float)
    entry = np.array([t.entry_price for t in trades], dtype=float)
    exit_ = np.array([t.exit_price for t in trades], dtype=float)
    if fees is None:
        fees = [commission(t.size, t.exit_price) + commission(t.size, t.entry_price) for t in trades]
    fee = np.array(fees, dtype=float)
    entry_bar = np.array([t.entry_bar for t in trades], dtype=np.int64)
    exit_bar = np.array([t.exit_bar for t in trades], dtype=np.int64)
    size_column: Any
    if sizes is not None:
        size_column = np.array(sizes)  # ints -> int64, any float -> float64, as pandas infers from the list
    else:
        size_column = size.astype(np.int64) if len(size) and np.all(size == np.round(size)) else size
    entry_time = index[entry_bar]
    exit_time = index[exit_bar]
    columns: dict[str, Any] = {
        "Size": size_column,
        "EntryBar": entry_bar,
        "ExitBar": exit_bar,
        "EntryPrice": entry,
        "ExitPrice": exit_,
        "SL": np.array(sl, dtype=object if all(v is None for v in sl) else float),
        "TP": np.array(tp, dtype=object if all(v is None for v in tp) else float),
        "PnL": size * (exit_ - entry) - fee,
        "Commission": fee,
        "ReturnPct": np.copysign(1.0, size) * (exit_ / entry - 1) - fee / (np.abs(size) * entry),
        "EntryTime": entry_time,
        "ExitTime": exit_time,
        "Duration": _differences(exit_time, entry_time),
        "Tag": list(tags),
    }
    for ind in indicators:  # every column at once: one DataFrame construction
        values2d = np.asarray(ind).T if ind._opts.get("rows") else np.atleast_2d(ind)
        # Backtesting.py formats the name as is: a list of names shows as "['a', 'b']"
        label = ind.name if isinstance(ind.name, str) else str(ind.name)
        for i, values in enumerate(values2d):
            suffix = f"_{i}" if len(values2d) > 1 else ""
            columns[f"Entry_{label}{suffix}"] = values[entry_bar]
            columns[f"Exit_{label}{suffix}"] = values[exit_bar]
    return pd.DataFrame(columns)


def _differences(later: pd.Index, earlier: pd.Index) -> Any:
    """later - earlier element-wise, as pandas subtracts them (timedeltas in the index's unit for datetimes)."""
    if isinstance(later, pd.DatetimeIndex) and isinstance(earlier, pd.DatetimeIndex) and later.unit == earlier.unit:
        return (later.asi8 - earlier.asi8).view(f"timedelta64[{later.unit}]")
    return later - earlier


def run_stats(
    run: Run, index: pd.Index, benchmark: np.ndarray, strategy: Any, start: int, *, symbol_column: bool = False
) -> _Stats:
    """The statistics Series of a finished compat run (Backtest.run's result). benchmark: the close series Buy &
    Hold is measured on; symbol_column: add each trade's Symbol to _trades (multi-asset runs)."""
    closed = list(run.book.closed_trades)
    fee = run.commission
    float_sizes = run.broker.float_sizes
    tags = run._tags
    # Backtesting.py charges each (part of a) trade its own entry and exit commission in the statistics
    stats_trades: list[CoreTrade] = []
    fees: list[float] = []
    sl: list[float | None] = []
    tp: list[float | None] = []
    sizes: list[float] = []
    for t in closed:  # what the Trade views would give, read straight from the engine's trades (one pass)
        entry_fee, exit_fee = fee(t.size, t.entry_price), fee(t.size, t.exit_price)
        stats_trades.append(_with_fees(t, entry_fee, exit_fee))
        fees.append(exit_fee + entry_fee)
        sl.append(None if t.sl_order_id is None else _exit_price(run, t.sl_order_id, "stop"))
        tp.append(None if t.tp_order_id is None else _exit_price(run, t.tp_order_id, "limit"))
        size = t.size
        sizes.append(float(size) if t.id in float_sizes or not float(size).is_integer() else int(size))
    trades_df = trades_frame(
        closed,
        index,
        fee,
        sl=sl,
        tp=tp,
        tags=[tags.get(t.entry_order_id) for t in closed],
        indicators=strategy._indicators,
        sizes=sizes,
        fees=fees,
    )
    if symbol_column:
        trades_df.insert(0, "Symbol", [t.symbol for t in closed])
    return stats_series(
        equity=run.equity_curve(),
        index=index,
        close=benchmark,
        trades=stats_trades,
        trades_df=trades_df,
        strategy=strategy,
        warmup=start - 1,
        show_commissions=True,
    )


def _exit_price(run: Run, order_id: int, attr: str) -> float | None:
    """The stop (stop-loss) or limit (take-profit) price of a trade's exit order, as Trade.sl / Trade.tp give it."""
    order = run.exit_order(order_id)
    return None if order is None else getattr(order._core, attr)


def stats_series(
    *,
    equity: np.ndarray,
    index: pd.Index,
    close: np.ndarray,
    trades: Sequence[CoreTrade],
    trades_df: pd.DataFrame,
    strategy: Any,
    warmup: int,
    show_commissions: bool,
    risk_free_rate: float = 0.0,
) -> _Stats:
    """Backtesting.py's statistics Series from an equity curve and settled trades (fees per Backtesting.py)."""
    is_dt = isinstance(index, pd.DatetimeIndex)
    ts, calendar = step_times(index)
    ts = strictly_increasing(ts)
    trades = list(trades)
    # with trade_on_close, a market order (dated at the previous close) can close a trade that a stop or limit
    # order opened in the same bar: Backtesting.py gives it an exit bar before its entry bar. The metrics
    # refuse such a trade: they get it with exit == entry, and the keys that depend on it are redone below.
    inverted = any(0 <= t.exit_bar < t.entry_bar for t in trades)
    if inverted:
        trades = [
            dataclasses.replace(t, exit_bar=t.entry_bar, exit_ts=t.entry_ts) if 0 <= t.exit_bar < t.entry_bar else t
            for t in trades
        ]
    stats = compute_stats(
        equity,
        ts,
        trades,
        benchmark_close=close,
        risk_free_rate=risk_free_rate,
        warmup_bars=warmup,
        calendar_timestamps=calendar,
    )
    out: dict[str, Any] = {}
    for key in BACKTESTING_KEYS:
        if key == "Commissions [$]" and not (show_commissions and stats[key]):
            continue
        out[key] = stats[key]
    out["Start"], out["End"] = index[0], index[-1]
    out["Duration"] = index[-1] - index[0]
    dd = drawdown_pct(equity)
    curve = equity_frame(equity, index, dd)
    if inverted:
        _trade_times(out, trades_df, index)
    if not len(trades_df):  # the max/mean of an empty column: NaT if it holds timedeltas (a subset of trades)
        timed = "Duration" in trades_df and pd.api.types.is_timedelta64_dtype(trades_df["Duration"])
        out["Max. Trade Duration"] = out["Avg. Trade Duration"] = pd.NaT if timed else float("nan")
    if not is_dt:
        _periods_not_dates(out, trades_df, curve)
    _no_drawdown_period(out, dd)
    _value_types(out, trades_df, equity, is_dt)
    out["_strategy"] = strategy
    out["_equity_curve"] = curve
    out["_trades"] = trades_df
    return _Stats(list(out.values()), index=list(out), dtype=object)


# keys Backtesting.py leaves as a Python float NaN when there are no trades (a literal np.nan, or the max/mean
# of an empty column); the drawdown ones also when there is no drawdown
_NAN_AS_FLOAT = frozenset(
    {
        "Avg. Drawdown [%]",
        "Avg. Drawdown Duration",
        "Win Rate [%]",
        "Best Trade [%]",
        "Worst Trade [%]",
        "Max. Trade Duration",
        "Avg. Trade Duration",
        "Expectancy [%]",
        "Kelly Criterion",
    }
)


def _value_types(out: dict[str, Any], trades_df: pd.DataFrame, equity: np.ndarray, is_dt: bool) -> None:
    """The values as Backtesting.py types them (equal values either way): its figures are numpy float64, some
    NaNs plain floats, and its geometric mean gives the int 0 when a return reaches -100%."""
    traded = bool(len(trades_df))
    for key, value in out.items():
        if type(value) is not float:
            continue
        if math.isnan(value) and key in _NAN_AS_FLOAT and (not traded or "Drawdown" in key):
            continue
        if not is_dt and (key == "Return (Ann.) [%]" or (key == "Calmar Ratio" and math.isnan(value))):
            continue  # computed from 1 ** nan and a plain division there
        out[key] = np.float64(value)
    if len(trades_df) and bool((trades_df["ReturnPct"].to_numpy(dtype=float) <= -1).any()):
        out["Avg. Trade [%]"] = 0
    if is_dt and out.get("Return (Ann.) [%]") == 0 and bool((equity <= 0).any()):
        out["Return (Ann.) [%]"] = 0


def _periods_not_dates(out: dict[str, Any], trades_df: pd.DataFrame, curve: pd.DataFrame) -> None:
    """Without a DatetimeIndex Backtesting.py has no calendar: durations are differences of the index values
    (bar counts for a RangeIndex), unrounded, and the annualized figures come out of 1 ** nan == 1."""
    nan = float("nan")
    # annualized return (1 + 0) ** nan - 1 == 0; volatility, Sharpe and Sortino NaN; Calmar 0 / max drawdown
    out["Return (Ann.) [%]"] = 0.0
    for key in ("Volatility (Ann.) [%]", "Sharpe Ratio", "Sortino Ratio"):
        out[key] = nan
    max_dd = float(np.nan_to_num(curve["DrawdownPct"].max()))
    out["Calmar Ratio"] = 0.0 / max_dd if max_dd else nan
    out.pop("CAGR [%]", None)
    durations = curve["DrawdownDuration"]
    if durations.notna().any():
        out["Max. Drawdown Duration"] = durations.max()
        out["Avg. Drawdown Duration"] = durations.mean()
    trade_durations = trades_df["Duration"] if len(trades_df) else pd.Series(dtype=float)
    out["Max. Trade Duration"] = trade_durations.max() if len(trade_durations) else nan
    out["Avg. Trade Duration"] = trade_durations.mean() if len(trade_durations) else nan


def _trade_times(out: dict[str, Any], trades_df: pd.DataFrame, index: pd.Index) -> None:
    """Exposure and trade durations straight from the trades frame, as Backtesting.py computes them (exact
    also for a trade that exits before the bar it entered; see stats_series)."""
    have_position = np.repeat(0, len(index))
    for entry, exit_ in zip(trades_df["EntryBar"], trades_df["ExitBar"], strict=True):
        have_position[entry : exit_ + 1] = 1
    out["Exposure Time [%]"] = have_position.mean() * 100
    durations = trades_df["Duration"]
    period: Any = pd.Series(index[-100:]).diff().dropna().median()  # Backtesting.py's _data_period

    def rounded(value: Any) -> Any:
        if not isinstance(value, pd.Timedelta):
            return value
        return value.ceil(period.resolution_string)

    out["Max. Trade Duration"] = rounded(durations.max())
    out["Avg. Trade Duration"] = rounded(durations.mean())


def _no_drawdown_period(out: dict[str, Any], dd: np.ndarray) -> None:
    """Without any drawdown period (equity never fell, or fell only at the last bar) Backtesting.py's
    durations fall back to the drawdown values themselves (zeros as NaN): floats, not durations."""
    if len(_drawdown_periods(dd)[0]):
        return
    fallback = pd.Series(dd).replace(0, np.nan)
    out["Max. Drawdown Duration"] = fallback.max()
    out["Avg. Drawdown Duration"] = fallback.mean()


def stats_from_frames(
    *,
    trades: pd.DataFrame,
    equity: np.ndarray,
    data: pd.DataFrame,
    strategy: Any,
    risk_free_rate: float = 0.0,
) -> _Stats:
    """Statistics from a ``_trades``-shaped frame and an equity curve (lib.compute_stats)."""
    index = data.index
    if len(equity) != len(index):
        from tradeforge.compat.errors import CompatValueError

        raise CompatValueError(
            f"equity has {len(equity)} values but data has {len(index)} bars: pass the data the stats came from"
        )
    ts = strictly_increasing(step_times(index)[0])
    core = []
    row: Any
    for k, row in enumerate(trades.itertuples(index=False)):
        t: Any = row
        size = float(t.Size)
        gross = size * (float(t.ExitPrice) - float(t.EntryPrice))
        core.append(
            CoreTrade(
                id=k + 1,
                strategy="",
                symbol="",
                size=size,
                entry_price=float(t.EntryPrice),
                entry_ts=int(ts[int(t.EntryBar)]),
                entry_bar=int(t.EntryBar),
                entry_order_id=0,
                entry_fee=gross - float(t.PnL),
                exit_price=float(t.ExitPrice),
                exit_ts=int(ts[int(t.ExitBar)]),
                exit_bar=int(t.ExitBar),
            )
        )
    from tradeforge.compat.backtest import _warmup_bars

    warmup = _warmup_bars(strategy) if strategy is not None and hasattr(strategy, "_indicators") else 0
    return stats_series(
        equity=equity,
        index=index,
        close=data["Close"].to_numpy(dtype=float),
        trades=core,
        trades_df=trades,
        strategy=strategy,
        warmup=warmup,
        show_commissions=False,
        risk_free_rate=risk_free_rate,
    )


def _with_fees(trade: CoreTrade, entry_fee: float, exit_fee: float) -> CoreTrade:
    """A copy of a settled trade carrying the given fees (for the statistics only)."""
    t = trade
    return CoreTrade(
        t.id, t.strategy, t.symbol, t.size, t.entry_price, t.entry_ts, t.entry_bar, t.entry_order_id, t.multiplier,
        entry_fee, t.exit_price, t.exit_ts, t.exit_bar, t.exit_order_id, exit_fee, t.exit_reason, t.tag,
        t.sl_order_id, t.tp_order_id,
    )  # fmt: skip

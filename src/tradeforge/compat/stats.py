"""Backtesting.py-shaped results: the statistics Series with _strategy, _equity_curve and _trades.

The numbers come from tradeforge.metrics.compute_stats (Backtesting.py 0.6.6's definitions); this module only
builds the frames and the Series the way Backtesting.py presents them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.trades import Trade as CoreTrade
from tradeforge.metrics import BACKTESTING_KEYS, compute_stats


class _Stats(pd.Series):
    """The statistics Series; its repr keeps the frames short."""

    @property
    def _constructor(self) -> type[_Stats]:
        return _Stats

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", 20, "display.max_rows", len(self), "display.precision", 5):
            return str(super().fillna(np.nan).to_string(na_rep="--", dtype=True))


def drawdown_duration(dd: np.ndarray, index: pd.Index) -> pd.Series:  # type: ignore[type-arg]
    """Duration of each drawdown period at the bar it ends (recovery or last bar), NaN elsewhere."""
    n = len(dd)
    iloc = np.unique(np.r_[np.flatnonzero(dd == 0), n - 1])
    prev = np.r_[-2, iloc[:-1]]
    keep = (iloc > prev + 1) & (prev >= 0)
    ends, starts = iloc[keep], prev[keep]
    if isinstance(index, pd.DatetimeIndex):
        out = pd.Series(pd.NaT, index=index, dtype=f"timedelta64[{index.unit}]")
    else:
        out = pd.Series(np.nan, index=index, dtype=float)
    if len(ends):
        values = index[ends] - index[starts]
        out.iloc[ends] = np.asarray(values)
    return out


def equity_frame(equity: np.ndarray, index: pd.Index) -> pd.DataFrame:  # type: ignore[type-arg]
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = 1 - equity / np.maximum.accumulate(equity)
    return pd.DataFrame(
        {"Equity": equity, "DrawdownPct": dd, "DrawdownDuration": drawdown_duration(dd, index).values},
        index=index,
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
) -> pd.DataFrame:
    size = np.array([t.size for t in trades], dtype=float)
    entry = np.array([t.entry_price for t in trades], dtype=float)
    exit_ = np.array([t.exit_price for t in trades], dtype=float)
    fees = np.array([commission(t.size, t.exit_price) + commission(t.size, t.entry_price) for t in trades], float)
    entry_bar = np.array([t.entry_bar for t in trades], dtype=np.int64)
    exit_bar = np.array([t.exit_bar for t in trades], dtype=np.int64)
    sizes: Any = size.astype(np.int64) if len(size) and np.all(size == np.round(size)) else size
    frame = pd.DataFrame(
        {
            "Size": sizes,
            "EntryBar": entry_bar,
            "ExitBar": exit_bar,
            "EntryPrice": entry,
            "ExitPrice": exit_,
            "SL": pd.Series(sl, dtype=object if all(v is None for v in sl) and len(sl) else float),
            "TP": pd.Series(tp, dtype=object if all(v is None for v in tp) and len(tp) else float),
            "PnL": size * (exit_ - entry) - fees,
            "Commission": fees,
            "ReturnPct": np.copysign(1.0, size) * (exit_ / entry - 1) - fees / (np.abs(size) * entry),
            "EntryTime": index[entry_bar],
            "ExitTime": index[exit_bar],
        }
    )
    frame["Duration"] = frame["ExitTime"] - frame["EntryTime"]
    frame["Tag"] = list(tags)
    if len(frame):
        for ind in indicators:
            values2d = np.atleast_2d(ind)
            names = ind.name if isinstance(ind.name, list) else None
            for i, values in enumerate(values2d):
                suffix = f"_{i}" if len(values2d) > 1 else ""
                label = ind.name if names is None else ind.name
                label = label if isinstance(label, str) else str(label)
                frame[f"Entry_{label}{suffix}"] = values[entry_bar]
                frame[f"Exit_{label}{suffix}"] = values[exit_bar]
    return frame


def stats_series(
    *,
    equity: np.ndarray,  # type: ignore[type-arg]
    index: pd.Index,
    close: np.ndarray,  # type: ignore[type-arg]
    trades: Sequence[CoreTrade],
    trades_df: pd.DataFrame,
    strategy: Any,
    warmup: int,
    show_commissions: bool,
    risk_free_rate: float = 0.0,
) -> _Stats:
    """Backtesting.py's statistics Series from an equity curve and settled trades (fees per Backtesting.py)."""
    is_dt = isinstance(index, pd.DatetimeIndex)
    if is_dt:
        naive = index.tz_localize(None) if index.tz is not None else index
        ts = naive.as_unit("ns").asi8
    else:
        ts = np.arange(len(index), dtype=np.int64) * 86_400_000_000_000
    stats = compute_stats(
        equity, ts, list(trades), benchmark_close=close, risk_free_rate=risk_free_rate, warmup_bars=warmup
    )
    out: dict[str, Any] = {}
    for key in BACKTESTING_KEYS:
        if key == "Commissions [$]" and not (show_commissions and stats[key]):
            continue
        out[key] = stats[key]
    out["Start"], out["End"] = index[0], index[-1]
    out["Duration"] = index[-1] - index[0]
    if not is_dt:
        _periods_not_dates(out, trades_df)
    out["_strategy"] = strategy
    out["_equity_curve"] = equity_frame(equity, index)
    out["_trades"] = trades_df
    return _Stats(out, dtype=object)


def _periods_not_dates(out: dict[str, Any], trades_df: pd.DataFrame) -> None:
    """Without a DatetimeIndex Backtesting.py reports bar counts and no annualized figures."""
    nan = float("nan")
    for key in ("Return (Ann.) [%]", "Volatility (Ann.) [%]", "Sharpe Ratio", "Sortino Ratio", "Calmar Ratio"):
        out[key] = nan
    out.pop("CAGR [%]", None)
    durations = trades_df["Duration"] if len(trades_df) else pd.Series(dtype=float)
    out["Max. Trade Duration"] = durations.max() if len(durations) else nan
    out["Avg. Trade Duration"] = durations.mean() if len(durations) else nan


def stats_from_frames(
    *,
    trades: pd.DataFrame,
    equity: np.ndarray,
    data: pd.DataFrame,
    strategy: Any,
    risk_free_rate: float = 0.0,  # type: ignore[type-arg]
) -> _Stats:
    """Statistics from a ``_trades``-shaped frame and an equity curve (lib.compute_stats)."""
    index = data.index
    if len(equity) != len(index):
        from tradeforge.compat.errors import CompatValueError

        raise CompatValueError(
            f"equity has {len(equity)} values but data has {len(index)} bars: pass the data the stats came from"
        )
    if isinstance(index, pd.DatetimeIndex):
        naive = index.tz_localize(None) if index.tz is not None else index
        ts = naive.as_unit("ns").asi8
    else:
        ts = np.arange(len(index), dtype=np.int64) * 86_400_000_000_000
    core = []
    for k, t in enumerate(trades.itertuples(index=False)):
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

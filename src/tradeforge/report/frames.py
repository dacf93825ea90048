"""Pure converters from a Result to pandas DataFrames (one row per trade, order, fill or engine step).

Times become tz-aware UTC datetimes (NaT where the core uses -1 or "not yet"); enums become their lower-case
names or values; optional numbers become NaN and optional ids nullable integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.core.types import Side
from tradeforge.sim.result import Result

TRADE_COLUMNS = (
    "id",
    "strategy",
    "symbol",
    "side",
    "size",
    "entry_time",
    "exit_time",
    "entry_bar",
    "exit_bar",
    "entry_price",
    "exit_price",
    "pnl",
    "return_pct",
    "fees",
    "duration",
    "exit_reason",
    "tag",
    "is_open",
)
ORDER_COLUMNS = (
    "id",
    "strategy",
    "symbol",
    "side",
    "type",
    "qty",
    "fraction",
    "limit",
    "stop",
    "tif",
    "status",
    "filled_qty",
    "avg_fill_price",
    "fees",
    "created_time",
    "updated_time",
    "role",
    "parent_id",
    "trade_id",
    "reject_reason",
    "tag",
)
FILL_COLUMNS = (
    "time",
    "bar",
    "order_id",
    "strategy",
    "symbol",
    "side",
    "qty",
    "price",
    "value",
    "fee",
    "liquidity",
    "reason",
)


def utc_times(ns: Sequence[int] | npt.NDArray[np.int64], missing: npt.ArrayLike | None = None) -> pd.DatetimeIndex:
    """Integer ns UTC -> tz-aware DatetimeIndex; rows where the boolean `missing` is true become NaT."""
    values = np.asarray(ns, dtype=np.int64)
    stamps = pd.DatetimeIndex(pd.to_datetime(values, unit="ns", utc=True))
    if missing is None:
        return stamps
    keep: npt.NDArray[np.bool_] = ~np.asarray(missing, dtype=np.bool_)
    return pd.DatetimeIndex(stamps.where(keep))


def _side_name(side: Side) -> str:
    return side.name.lower()


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


def last_closes(result: Result) -> dict[str, float]:
    """Last close of every symbol with bars: the price open trades are marked to."""
    return {symbol: float(series.close[-1]) for symbol, series in result.bars.items() if len(series)}


def trades_frame(result: Result) -> pd.DataFrame:
    """One row per trade, in creation order.

    Open trades have NaT exit_time/duration, NA exit_bar, NaN exit_price, and pnl / return_pct marked to
    the last close of their symbol (NaN when the Result holds no bars of that symbol). return_pct is in
    percent, net of fees, like Backtesting.py's ReturnPct * 100.
    """
    marks = last_closes(result)
    rows: list[dict[str, object]] = []
    for t in result.trades:
        if t.is_open:
            mark = marks.get(t.symbol, math.nan)
            pnl = t.pnl_at(mark)
            value = t.value
            ret = pnl / value * 100.0 if value else math.nan
        else:
            pnl = t.pnl
            ret = t.return_pct * 100.0
        rows.append(
            {
                "id": t.id,
                "strategy": t.strategy,
                "symbol": t.symbol,
                "side": "long" if t.size > 0 else "short",
                "size": float(t.size),
                "entry_ts": t.entry_ts,
                "exit_ts": t.exit_ts,
                "entry_bar": t.entry_bar,
                "exit_bar": pd.NA if t.is_open else t.exit_bar,
                "entry_price": float(t.entry_price),
                "exit_price": math.nan if t.is_open else float(t.exit_price),
                "pnl": float(pnl),
                "return_pct": float(ret),
                "fees": float(t.fees),
                "exit_reason": t.exit_reason,
                "tag": t.tag,
                "is_open": t.is_open,
            }
        )
    frame = pd.DataFrame(rows, columns=[*TRADE_COLUMNS, "entry_ts", "exit_ts"])
    is_open = frame["is_open"].to_numpy(dtype=bool)
    frame["entry_time"] = utc_times(frame["entry_ts"].to_numpy(dtype=np.int64))
    frame["exit_time"] = utc_times(frame["exit_ts"].to_numpy(dtype=np.int64), missing=is_open)
    frame["duration"] = frame["exit_time"] - frame["entry_time"]
    frame = frame.drop(columns=["entry_ts", "exit_ts"])
    return frame.astype(
        {
            "id": "int64",
            "size": "float64",
            "entry_bar": "int64",
            "exit_bar": "Int64",
            "entry_price": "float64",
            "exit_price": "float64",
            "pnl": "float64",
            "return_pct": "float64",
            "fees": "float64",
            "is_open": "bool",
        }
    )


def orders_frame(result: Result) -> pd.DataFrame:
    """One row per order, in creation order. updated_time is NaT for an order that never changed status."""
    rows: list[dict[str, object]] = []
    for o in result.orders:
        rows.append(
            {
                "id": o.id,
                "strategy": o.strategy,
                "symbol": o.symbol,
                "side": _side_name(o.side),
                "type": o.type.value,
                "qty": _num(o.qty),
                "fraction": _num(o.fraction),
                "limit": _num(o.limit),
                "stop": _num(o.stop),
                "tif": o.tif.value,
                "status": o.status.value,
                "filled_qty": float(o.filled_qty),
                "avg_fill_price": float(o.avg_fill_price),
                "fees": float(o.fees),
                "created_ts": o.created_ts,
                "updated_ts": o.updated_ts,
                "changed": bool(o.history),
                "role": o.role,
                "parent_id": pd.NA if o.parent_id is None else o.parent_id,
                "trade_id": pd.NA if o.trade_id is None else o.trade_id,
                "reject_reason": o.reject_reason,
                "tag": o.tag,
            }
        )
    frame = pd.DataFrame(rows, columns=[*ORDER_COLUMNS, "created_ts", "updated_ts", "changed"])
    unchanged = ~frame["changed"].to_numpy(dtype=bool)
    frame["created_time"] = utc_times(frame["created_ts"].to_numpy(dtype=np.int64))
    frame["updated_time"] = utc_times(frame["updated_ts"].to_numpy(dtype=np.int64), missing=unchanged)
    frame = frame.drop(columns=["created_ts", "updated_ts", "changed"])
    numeric = ("qty", "fraction", "limit", "stop", "filled_qty", "avg_fill_price", "fees")
    return frame.astype({"id": "int64", "parent_id": "Int64", "trade_id": "Int64", **dict.fromkeys(numeric, "float64")})


def fills_frame(result: Result) -> pd.DataFrame:
    """One row per fill, in execution order; value = qty * price (before the instrument multiplier)."""
    rows = [
        {
            "time_ts": f.ts,
            "bar": f.bar,
            "order_id": f.order_id,
            "strategy": f.strategy,
            "symbol": f.symbol,
            "side": _side_name(f.side),
            "qty": float(f.qty),
            "price": float(f.price),
            "value": float(f.value),
            "fee": float(f.fee),
            "liquidity": f.liquidity.value,
            "reason": f.reason,
        }
        for f in result.fills
    ]
    frame = pd.DataFrame(rows, columns=[*FILL_COLUMNS, "time_ts"])
    frame["time"] = utc_times(frame["time_ts"].to_numpy(dtype=np.int64))
    frame = frame.drop(columns=["time_ts"])
    numeric = ("qty", "price", "value", "fee")
    return frame.astype({"bar": "int64", "order_id": "int64", **dict.fromkeys(numeric, "float64")})


def drawdown_pct(equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Percent below the running peak, <= 0 (-12.5 means 12.5 % under the best equity so far).

    NaN where the running peak is not positive (a drawdown relative to zero or debt means nothing).
    """
    values = np.asarray(equity, dtype=np.float64)
    if values.size == 0:
        return values.copy()
    peak = np.maximum.accumulate(values)
    out = np.full(values.shape, np.nan)
    positive = peak > 0
    out[positive] = (values[positive] / peak[positive] - 1.0) * 100.0
    return out


def strategy_column(name: str) -> str:
    """Column of equity_frame holding one strategy's equity (present when a Result has several)."""
    return f"equity_{name}"


def equity_frame(result: Result) -> pd.DataFrame:
    """Account equity, cash and drawdown per engine step, indexed by UTC timestamp.

    With several strategies, one more column per strategy: ``equity_<name>`` (see strategy_column).
    """
    n = int(result.timestamps.shape[0])
    series: dict[str, npt.NDArray[np.float64]] = {
        "equity": np.asarray(result.equity, dtype=np.float64),
        "cash": np.asarray(result.cash, dtype=np.float64),
    }
    if len(result.strategies) > 1:
        for name, strategy in result.strategies.items():
            series[strategy_column(name)] = np.asarray(strategy.equity, dtype=np.float64)
    for label, values in series.items():
        if values.shape != (n,):
            raise ConfigError(
                f"result is inconsistent: {label} has shape {values.shape} but there are {n} timestamps; "
                "every per-step array must have one value per engine step"
            )
    index = utc_times(result.timestamps)
    index.name = "timestamp"
    columns: dict[str, npt.NDArray[np.float64]] = {
        "equity": series.pop("equity"),
        "cash": series.pop("cash"),
    }
    columns["drawdown_pct"] = drawdown_pct(columns["equity"])
    columns.update(series)
    return pd.DataFrame(columns, index=index)

"""simulate(): the checked Python entry to simulate_nb. Arrays in, a SimulationResult of arrays out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.fast import _validate as v
from tradeforge.fast.errors import FastInputError
from tradeforge.fast.records import SIZE_PERCENT, SIZE_TYPES
from tradeforge.fast.simulate import (
    buffers,
    entry_next_open_nb,
    entry_next_open_stops_nb,
    entry_on_close_nb,
    entry_on_close_stops_nb,
    trade_bound_nb,
)
from tradeforge.fast.trades import orders_from_trades_nb

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FILL_TIMINGS = ("next_open", "close")


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """What simulate() returns. trades is a structured array (records.TRADE_DTYPE) sorted by column then time;
    orders (records.ORDER_DTYPE, the fills) are built from it on first use; the other arrays have one value per
    column (equity: one row per bar)."""

    trades: np.ndarray
    equity: FloatArray  # (n_bars, n_columns): cash + position value at each close
    final_equity: FloatArray
    n_trades: IntArray  # closed trades (a trade still open at the end is in `trades` with exit_reason "end")
    total_return: FloatArray  # final_equity / init_cash - 1
    init_cash: FloatArray

    @cached_property
    def orders(self) -> np.ndarray:
        """Every fill: the trades' entries and exits, in time order per column."""
        orders: np.ndarray = orders_from_trades_nb(self.trades)
        return orders

    @property
    def n_columns(self) -> int:
        return int(self.equity.shape[1])

    def column_trades(self, column: int) -> np.ndarray:
        """The trade records of one column."""
        rows: np.ndarray = self.trades[self.trades["column"] == column]
        return rows

    def column_orders(self, column: int) -> np.ndarray:
        """The order (fill) records of one column."""
        rows: np.ndarray = self.orders[self.orders["column"] == column]
        return rows


def simulate(
    open: Any,
    high: Any,
    low: Any,
    close: Any,
    entries: Any,
    exits: Any = None,
    short_entries: Any = None,
    short_exits: Any = None,
    *,
    size: float | Sequence[float] | np.ndarray = 1.0,
    size_type: str | Sequence[str] = "percent",
    sl_stop: float | Sequence[float] | np.ndarray | None = None,
    tp_stop: float | Sequence[float] | np.ndarray | None = None,
    tsl_stop: float | Sequence[float] | np.ndarray | None = None,
    fees: float | Sequence[float] | np.ndarray = 0.0,
    fixed_fees: float | Sequence[float] | np.ndarray = 0.0,
    slippage: float | Sequence[float] | np.ndarray = 0.0,
    init_cash: float | Sequence[float] | np.ndarray = 10_000.0,
    lot_size: float = 1.0,
    multiplier: float = 1.0,
    fill: str = "next_open",
) -> SimulationResult:
    """Backtest signal arrays with the event engine's rules, one column per parameter combination.

    Prices: 1-D (n_bars,) shared by every column, or 2-D (n_bars, n_columns). Signals: boolean, 1-D or 2-D
    (None: never). Parameters: a scalar or one value per column.
    size_type "percent" (default): size is the fraction in (0, 1] of the available cash an entry spends, fees
    included, when it fills (size 1.0 is the engine's plain buy()); "units": a number of units; "value": an
    amount of cash turned into units at the signal bar's close. Quantities are whole multiples of lot_size
    (1.0: whole units; 0: any fraction).
    sl_stop / tp_stop: stop-loss / take-profit as fractions of the entry fill price; tsl_stop: a trailing stop
    that far (a fraction) from the best high (long) or low (short) since the bar it was placed on. None or NaN
    (per column): no such stop. fees: rate of traded value per fill (0.002 = 0.2%); fixed_fees per fill;
    slippage: adverse fraction of price for market and stop fills. fill: "next_open" (market orders fill at the
    next bar's open) or "close" (at the signal bar's close). multiplier: value of one unit per price point.
    """
    prices = {
        "open": v.float_array("open", open, check=False),
        "high": v.float_array("high", high, check=False),
        "low": v.float_array("low", low, check=False),
        "close": v.float_array("close", close, check=False),
    }
    shape = prices["close"].shape
    for name, arr in prices.items():
        if arr.shape != shape:
            raise FastInputError(
                f"{name} has shape {arr.shape} but close has {shape}: give open, high, low and close one shape"
            )
    _check_ohlc(prices)
    n_bars = shape[0]
    signals = {
        "entries": v.bool_array("entries", entries, n_bars),
        "exits": v.bool_array("exits", exits, n_bars),
        "short_entries": v.bool_array("short_entries", short_entries, n_bars),
        "short_exits": v.bool_array("short_exits", short_exits, n_bars),
    }
    if fill not in FILL_TIMINGS:
        raise FastInputError(f"unknown fill {fill!r}: use 'next_open' (the default) or 'close'")
    types = v.choice("size_type", size_type, SIZE_TYPES)
    sizes = v.param("size", size, low=0.0, low_open=True, hint="sizes are positive (the side comes from signals)")
    params = {
        "size": sizes,
        "size_type": types,
        "sl_stop": _stop("sl_stop", sl_stop),
        "tp_stop": _stop("tp_stop", tp_stop, upper=None),
        "tsl_stop": _stop("tsl_stop", tsl_stop),
        "fees": v.param("fees", fees, low=-0.1, high=0.1, high_open=True, hint="pass a fraction, e.g. 0.002 for 0.2%"),
        "fixed_fees": v.param("fixed_fees", fixed_fees, low=0.0, hint="a fixed amount per fill"),
        "slippage": v.param("slippage", slippage, low=0.0, high=0.5, high_open=True, hint="a fraction of price"),
        "init_cash": v.param("init_cash", init_cash, low=0.0, low_open=True),
    }
    n_cols = v.width({**prices, **signals}, params)
    _check_sizes(sizes, types, n_cols)
    if (params["tp_stop"] >= 1.0).any() and signals["short_entries"].any():
        raise FastInputError(
            "tp_stop >= 1 would put a short's take-profit at or below zero: use a fraction below 1 with shorts"
        )
    if np.ndim(lot_size) or np.ndim(multiplier):
        raise FastInputError("lot_size and multiplier are one number for every column, not one per column")
    lot = v.param("lot_size", lot_size, low=0.0, hint="1.0 trades whole units, 0 any fraction")[0]
    mult = v.param("multiplier", multiplier, low=0.0, low_open=True)[0]
    inputs = (
        prices["open"],
        prices["high"],
        prices["low"],
        prices["close"],
        signals["entries"],
        signals["exits"],
        signals["short_entries"],
        signals["short_exits"],
        params["size"],
        params["size_type"],
        params["sl_stop"],
        params["tp_stop"],
        params["tsl_stop"],
        params["fees"],
        params["fixed_fees"],
        params["slippage"],
        params["init_cash"],
        float(lot),
        float(mult),
    )
    stops = any(bool((params[k] > 0.0).any()) for k in ("sl_stop", "tp_stop", "tsl_stop"))
    if fill == "close":
        kernel = entry_on_close_stops_nb if stops else entry_on_close_nb
    else:
        kernel = entry_next_open_stops_nb if stops else entry_next_open_nb
    n_bars = prices["close"].shape[0]
    equity_t, buffer = buffers(n_bars, n_cols, trade_bound_nb(signals["entries"], signals["short_entries"], n_cols))
    trades, equity, final, n_trades, total = kernel(inputs, equity_t, buffer)
    cash = np.broadcast_to(params["init_cash"], (n_cols,)).copy()
    return SimulationResult(trades, equity, final, n_trades, total, cash)


def _check_ohlc(prices: dict[str, FloatArray]) -> None:
    code, row, col = v.bar_problem_nb(prices["open"], prices["high"], prices["low"], prices["close"])
    if code:
        where = f"bar {row}" + (f", column {col}" if prices["close"].shape[1] > 1 else "")
        raise FastInputError(
            f"{v.BAR_PROBLEMS[code]} at {where}: fix or drop that bar (prices must be finite and positive, "
            "with low <= open, close <= high)"
        )


def _stop(name: str, value: Any, upper: float | None = 1.0) -> np.ndarray:
    if value is None:
        return np.full(1, np.nan)
    return v.param(
        name,
        value,
        low=0.0,
        high=upper,
        low_open=True,
        high_open=True,
        allow_nan=True,
        hint="a fraction of the entry price, e.g. 0.02 for 2%; None or NaN for none",
    )


def _check_sizes(sizes: np.ndarray, types: np.ndarray, n_cols: int) -> None:
    s = np.broadcast_to(sizes, (n_cols,))
    t = np.broadcast_to(types, (n_cols,))
    percent = (t == SIZE_PERCENT) & (s > 1.0)
    if percent.any():
        col = int(np.nonzero(percent)[0][0])
        raise FastInputError(
            f"size {s[col]!r} with size_type 'percent' (column {col}) must be a fraction in (0, 1]: "
            "1.0 spends all available cash; use size_type 'units' or 'value' for amounts"
        )

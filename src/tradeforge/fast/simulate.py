"""simulate_nb: signal-driven backtests over 2-D arrays, one column per parameter combination, each column run
by column.simulate_column_nb with the event engine's rules (see that module for them).

The column loop is compiled once per (fill timing, with stops) pair so a run without stops carries none of
their code (it would slow the loop by half). simulate_nb picks the pair at run time and so compiles all four
on its first call; the entry_* kernels each compile one (api.simulate uses them: a first call costs a quarter).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit
from numba.misc.special import literally

from tradeforge.fast.column import simulate_column_nb
from tradeforge.fast.records import TRADE_DTYPE
from tradeforge.fast.trades import entry_bound_nb, grow_nb, trade_results_nb

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Records = npt.NDArray[np.void]
# (open, high, low, close, entries, exits, short_entries, short_exits, size, size_type, sl_stop, tp_stop,
#  tsl_stop, fees, fixed_fees, slippage, init_cash, lot_size, multiplier): simulate_nb's arguments
Inputs = tuple[Any, ...]
Outputs = tuple[Records, FloatArray, FloatArray, IntArray, FloatArray]

_MAX_FIRST_CAPACITY = 1 << 22


@njit(cache=True)
def _first(arr: FloatArray, col: int) -> float:
    return float(arr[col if arr.shape[0] > 1 else 0])


@njit(cache=True)
def n_columns_nb(a: Inputs) -> int:
    """The widest of the inputs (2-D arrays by their columns, parameters by their length)."""
    n_cols = 1
    for width in (
        a[0].shape[1], a[1].shape[1], a[2].shape[1], a[3].shape[1], a[4].shape[1], a[5].shape[1], a[6].shape[1],
        a[7].shape[1], a[8].shape[0], a[9].shape[0], a[10].shape[0], a[11].shape[0], a[12].shape[0],
        a[13].shape[0], a[14].shape[0], a[15].shape[0], a[16].shape[0],
    ):  # fmt: skip
        n_cols = max(n_cols, width)
    return n_cols


@njit(cache=True)
def trade_bound_nb(entries: BoolArray, short_entries: BoolArray, n_cols: int) -> int:
    """How many trades the signals allow at most: the bars with an entry signal, summed over the columns."""
    if entries.shape[1] == 1 and short_entries.shape[1] == 1:
        return entry_bound_nb(entries, short_entries, 0) * n_cols
    bound = 0
    for col in range(n_cols):
        bound += entry_bound_nb(entries, short_entries, col)
    return bound


def buffers(n_bars: int, n_cols: int, bound: int) -> tuple[FloatArray, Records]:
    """Output buffers for the entry_* kernels: (equity, transposed: (n_cols, n_bars); trade records for `bound`
    trades, capped). Allocated by numpy, which asks the OS for huge pages: numba's own large allocations fault
    in page by page, several times slower for a sweep's equity."""
    return np.empty((n_cols, n_bars)), np.empty(max(1, min(bound, _MAX_FIRST_CAPACITY)), dtype=TRADE_DTYPE)


@njit(cache=True)
def _simulate_impl_nb(
    a: Inputs, equity_t: FloatArray, trades: Records, fill_on_close: bool, with_stops: bool
) -> Outputs:
    literally(fill_on_close)
    literally(with_stops)
    open_, high, low, close = a[0], a[1], a[2], a[3]
    entries, exits, short_entries, short_exits = a[4], a[5], a[6], a[7]
    size, size_type, sl_stop, tp_stop, tsl_stop = a[8], a[9], a[10], a[11], a[12]
    fees, fixed_fees, slippage, init_cash, lot_size, multiplier = a[13], a[14], a[15], a[16], a[17], a[18]
    n = close.shape[0]
    n_cols = equity_t.shape[0]
    capped = trades.shape[0] == _MAX_FIRST_CAPACITY  # the signals may allow more: make room column by column
    n_trades = 0
    final_equity = np.empty(n_cols)
    closed = np.zeros(n_cols, dtype=np.int64)
    total_return = np.empty(n_cols)
    for col in range(n_cols):
        need = entry_bound_nb(entries, short_entries, col) if capped else 0
        while n_trades + need > trades.shape[0]:
            trades = grow_nb(trades)
        pc = col if close.shape[1] > 1 else 0
        cash0 = _first(init_cash, col)
        # [::1, j] makes every column view the same (any-layout) array type, whatever the 2-D inputs' layout,
        # so the column loop compiles once
        n_trades, closed[col] = simulate_column_nb(
            col,
            open_[::1, pc],
            high[::1, pc],
            low[::1, pc],
            close[::1, pc],
            entries[::1, col if entries.shape[1] > 1 else 0],
            exits[::1, col if exits.shape[1] > 1 else 0],
            short_entries[::1, col if short_entries.shape[1] > 1 else 0],
            short_exits[::1, col if short_exits.shape[1] > 1 else 0],
            _first(size, col),
            size_type[col if size_type.shape[0] > 1 else 0],
            _first(sl_stop, col),
            _first(tp_stop, col),
            _first(tsl_stop, col),
            _first(fees, col),
            _first(fixed_fees, col),
            _first(slippage, col),
            cash0,
            lot_size,
            multiplier,
            fill_on_close,
            equity_t[col],
            trades,
            n_trades,
            with_stops,
        )
        final_equity[col] = equity_t[col, n - 1]
        total_return[col] = final_equity[col] / cash0 - 1.0
    trades = trades[:n_trades] if 2 * n_trades >= trades.shape[0] else trades[:n_trades].copy()
    trade_results_nb(trades, multiplier)
    return trades, equity_t.T, final_equity, closed, total_return


@njit(cache=True)
def any_stops_nb(sl_stop: FloatArray, tp_stop: FloatArray, tsl_stop: FloatArray) -> bool:
    """Whether any column has a stop-loss, take-profit or trailing stop (> 0)."""
    for arr in (sl_stop, tp_stop, tsl_stop):
        for v in arr:
            if v > 0.0:
                return True
    return False


@njit(cache=True)
def entry_next_open_nb(a: Inputs, equity_t: FloatArray, trades: Records) -> Outputs:
    return _simulate_impl_nb(a, equity_t, trades, False, False)


@njit(cache=True)
def entry_next_open_stops_nb(a: Inputs, equity_t: FloatArray, trades: Records) -> Outputs:
    return _simulate_impl_nb(a, equity_t, trades, False, True)


@njit(cache=True)
def entry_on_close_nb(a: Inputs, equity_t: FloatArray, trades: Records) -> Outputs:
    return _simulate_impl_nb(a, equity_t, trades, True, False)


@njit(cache=True)
def entry_on_close_stops_nb(a: Inputs, equity_t: FloatArray, trades: Records) -> Outputs:
    return _simulate_impl_nb(a, equity_t, trades, True, True)


@njit(cache=True)
def simulate_nb(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    entries: BoolArray,
    exits: BoolArray,
    short_entries: BoolArray,
    short_exits: BoolArray,
    size: FloatArray,
    size_type: IntArray,
    sl_stop: FloatArray,
    tp_stop: FloatArray,
    tsl_stop: FloatArray,
    fees: FloatArray,
    fixed_fees: FloatArray,
    slippage: FloatArray,
    init_cash: FloatArray,
    lot_size: float,
    multiplier: float,
    fill_on_close: bool,
) -> Outputs:
    """Simulate every column. Prices and signals are 2-D (n_bars, 1 or n_cols), n_bars >= 1; the per-column
    parameters are 1-D (1 or n_cols); a stop fraction <= 0 or NaN turns that stop off for the column. Inputs
    are not checked here: api.simulate checks them.

    Returns (trade records, equity (n_bars, n_cols), and per column: final equity, closed trades, total return).
    A trade still open after the last bar is recorded with exit_reason EXIT_END; trades.orders_from_trades_nb
    gives the fills.
    """
    a = (
        open_, high, low, close, entries, exits, short_entries, short_exits, size, size_type, sl_stop, tp_stop,
        tsl_stop, fees, fixed_fees, slippage, init_cash, lot_size, multiplier,
    )  # fmt: skip
    n_cols = n_columns_nb(a)
    bound = trade_bound_nb(entries, short_entries, n_cols)
    e = np.empty((n_cols, close.shape[0]))
    t = np.empty(max(1, min(bound, _MAX_FIRST_CAPACITY)), dtype=TRADE_DTYPE)
    stops = any_stops_nb(sl_stop, tp_stop, tsl_stop)
    if fill_on_close:
        if stops:
            return _simulate_impl_nb(a, e, t, True, True)
        return _simulate_impl_nb(a, e, t, True, False)
    if stops:
        return _simulate_impl_nb(a, e, t, False, True)
    return _simulate_impl_nb(a, e, t, False, False)

"""Trade records: writing them from the column loop, sizing their buffer, their pnl and return, and the fills
(order records) they imply."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from tradeforge.fast.records import (
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING,
    ORDER_DTYPE,
    ORDER_ENTRY,
    ORDER_EXIT,
    ORDER_STOP_LOSS,
    ORDER_TAKE_PROFIT,
    ORDER_TRAILING,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Records = npt.NDArray[np.void]


@njit(cache=True)
def grow_nb(trades: Records) -> Records:
    """A trade buffer twice as long holding the same records (copied field by field: numba compiles a slice
    assignment of record arrays very slowly)."""
    bigger = np.empty(2 * trades.shape[0], dtype=trades.dtype)
    for k in range(trades.shape[0]):
        src = trades[k]
        dst = bigger[k]
        dst["column"] = src["column"]
        dst["entry_idx"] = src["entry_idx"]
        dst["exit_idx"] = src["exit_idx"]
        dst["side"] = src["side"]
        dst["size"] = src["size"]
        dst["entry_price"] = src["entry_price"]
        dst["exit_price"] = src["exit_price"]
        dst["entry_fee"] = src["entry_fee"]
        dst["exit_fee"] = src["exit_fee"]
        dst["pnl"] = src["pnl"]
        dst["return"] = src["return"]
        dst["exit_reason"] = src["exit_reason"]
    return bigger


@njit(cache=True)
def write_trade_nb(
    trades: Records,
    k: int,
    col: int,
    entry_idx: int,
    exit_idx: int,
    signed: float,
    entry_price: float,
    exit_price: float,
    entry_fee: float,
    exit_fee: float,
    reason: int,
    multiplier: float,
) -> None:
    rec = trades[k]
    rec["column"] = col
    rec["entry_idx"] = entry_idx
    rec["exit_idx"] = exit_idx
    rec["side"] = 1 if signed > 0 else -1
    rec["size"] = abs(signed)
    rec["entry_price"] = entry_price
    rec["exit_price"] = exit_price
    rec["entry_fee"] = entry_fee
    rec["exit_fee"] = exit_fee
    rec["exit_reason"] = reason


@njit(cache=True)
def entry_bound_nb(le: BoolArray, se: BoolArray, col: int) -> int:
    """Bars with an entry signal: a column cannot open more trades than that (nor fill twice as many orders)."""
    n = le.shape[0]
    a = col if le.shape[1] > 1 else 0
    b = col if se.shape[1] > 1 else 0
    count = 0
    for i in range(n):
        if le[i, a] or se[i, b]:
            count += 1
    return count


@njit(cache=True)
def trade_results_nb(trades: Records, multiplier: float) -> None:
    """pnl and return of every trade record (Trade.pnl, Trade.return_pct), in one pass after the simulation."""
    for k in range(trades.shape[0]):
        rec = trades[k]
        size = rec["size"] * rec["side"]
        entry = rec["entry_price"]
        exit_price = rec["exit_price"]
        fees = rec["entry_fee"] + rec["exit_fee"]
        rec["pnl"] = size * (exit_price - entry) * multiplier - fees
        gross = math.copysign(1.0, size) * (exit_price / entry - 1.0)
        rec["return"] = gross - fees / (abs(size) * entry * multiplier)


@njit(cache=True)
def orders_from_trades_nb(trades: Records) -> Records:
    """The fills (order records) behind trade records, in time order per column: every fill of this kernel
    opens or closes a whole trade, so the fills are the trades' entries and exits (fees as attributed to the
    trade: fill fee / size * size, equal to the fill's fee to the last bit or two)."""
    n = 0
    for k in range(trades.shape[0]):
        n += 2 if trades[k]["exit_idx"] >= 0 else 1
    orders = np.empty(n, dtype=ORDER_DTYPE)
    j = 0
    for k in range(trades.shape[0]):
        t = trades[k]
        rec = orders[j]
        rec["column"] = t["column"]
        rec["idx"] = t["entry_idx"]
        rec["side"] = t["side"]
        rec["size"] = t["size"]
        rec["price"] = t["entry_price"]
        rec["fee"] = t["entry_fee"]
        rec["kind"] = ORDER_ENTRY
        j += 1
        if t["exit_idx"] < 0:
            continue
        rec = orders[j]
        rec["column"] = t["column"]
        rec["idx"] = t["exit_idx"]
        rec["side"] = -t["side"]
        rec["size"] = t["size"]
        rec["price"] = t["exit_price"]
        rec["fee"] = t["exit_fee"]
        reason = t["exit_reason"]
        if reason == EXIT_STOP_LOSS:
            rec["kind"] = ORDER_STOP_LOSS
        elif reason == EXIT_TAKE_PROFIT:
            rec["kind"] = ORDER_TAKE_PROFIT
        elif reason == EXIT_TRAILING:
            rec["kind"] = ORDER_TRAILING
        else:
            rec["kind"] = ORDER_EXIT
        j += 1
    return orders

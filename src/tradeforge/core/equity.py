"""Rebuild equity and cash curves from the fill ledger after a run (vectorized, identical in every mode)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def on_grid(n_steps: int, bar_steps: IntArray, values: FloatArray) -> FloatArray:
    """Values of a symbol's bars placed on the step grid, carried forward over gaps, NaN before the first bar."""
    if bar_steps.shape[0] == n_steps:
        return values[:n_steps].astype(np.float64, copy=False)
    last = np.searchsorted(bar_steps, np.arange(n_steps), side="right") - 1
    out = np.full(n_steps, np.nan)
    ok = last >= 0
    out[ok] = values[last[ok]]
    return out


def rebuild(
    n_steps: int,
    initial_cash: float,
    steps: Sequence[int],
    cash_after: Sequence[float],
    symbols: Sequence[str],
    qty_after: Sequence[float],
    closes: dict[str, FloatArray],
    multipliers: dict[str, float],
) -> tuple[FloatArray, FloatArray]:
    """equity[k] = cash after the last fill at or before step k + sum(qty * close[k] * multiplier)."""
    grid = np.arange(n_steps)
    step_arr = np.asarray(steps, dtype=np.int64)
    cash_arr = np.asarray(cash_after, dtype=np.float64)
    cash = np.full(n_steps, float(initial_cash))
    if step_arr.size:
        last = np.searchsorted(step_arr, grid, side="right") - 1
        ok = last >= 0
        cash[ok] = cash_arr[last[ok]]
    equity = cash.copy()
    sym_arr = np.asarray(symbols, dtype=object)
    qty_arr = np.asarray(qty_after, dtype=np.float64)
    for symbol in sorted(set(symbols)):
        rows = np.flatnonzero(sym_arr == symbol)
        last = np.searchsorted(step_arr[rows], grid, side="right") - 1
        qty = np.zeros(n_steps)
        ok = last >= 0
        qty[ok] = qty_arr[rows[last[ok]]]
        held = qty != 0.0
        equity[held] += qty[held] * closes[symbol][held] * multipliers[symbol]
    return equity, cash

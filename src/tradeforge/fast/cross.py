"""Crossings of indicator columns, for grids: one pass, no copies of the indicator matrices."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@njit(cache=True)
def crossings_nb(a: FloatArray, b: FloatArray, a_col: Any, b_col: Any) -> tuple[BoolArray, BoolArray]:
    """For each output column j, compare a[:, a_col[j]] with b[:, b_col[j]]: ``up`` where a ends above b after
    being at or below it on the bar before, ``down`` the mirror image (NaN never crosses). a and b are best
    column-major; the outputs are (n, k) column-major (the layout the simulation kernels read fastest)."""
    n = a.shape[0]
    k = a_col.shape[0]
    up_t = np.zeros((k, n), dtype=np.bool_)
    down_t = np.zeros((k, n), dtype=np.bool_)
    for j in range(k):
        x = a[:, a_col[j]]
        y = b[:, b_col[j]]
        u = up_t[j]
        d = down_t[j]
        for i in range(1, n):
            x0 = x[i - 1]
            y0 = y[i - 1]
            x1 = x[i]
            y1 = y[i]
            u[i] = (x1 > y1) & (x0 <= y0)
            d[i] = (x1 < y1) & (x0 >= y0)
    return up_t.T, down_t.T


def crossings(a: Any, b: Any, a_col: Any = None, b_col: Any = None) -> tuple[BoolArray, BoolArray]:
    """(up, down): where column a_col[j] of a crosses above / below column b_col[j] of b (default: column j of
    each). a and b are (n_bars, m) float arrays, e.g. fast.sma(close, windows) over the distinct windows."""
    aa = np.asfortranarray(np.asarray(a, dtype=np.float64).reshape(np.shape(a)[0], -1))
    bb = np.asfortranarray(np.asarray(b, dtype=np.float64).reshape(np.shape(b)[0], -1))
    if aa.shape[0] != bb.shape[0]:
        from tradeforge.fast.errors import FastInputError

        raise FastInputError(f"a has {aa.shape[0]} bars and b has {bb.shape[0]}: give both the same bars")
    k = max(aa.shape[1], bb.shape[1])
    ai = np.arange(k) % aa.shape[1] if a_col is None else np.asarray(a_col, dtype=np.int64)
    bi = np.arange(k) % bb.shape[1] if b_col is None else np.asarray(b_col, dtype=np.int64)
    return crossings_nb(aa, bb, ai.astype(np.int64), bi.astype(np.int64))

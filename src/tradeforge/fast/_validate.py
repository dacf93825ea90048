"""Input checks shared by the fast path's Python wrappers: arrays in the shapes and types the kernels take,
or a FastInputError / FastTypeError that says what to fix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from tradeforge.fast.errors import FastInputError, FastTypeError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _array(name: str, value: Any) -> np.ndarray:
    if value is None:
        raise FastTypeError(f"{name} is missing: pass a 1-D array (n_bars,) or a 2-D array (n_bars, n_columns)")
    if isinstance(value, (str, bytes)):
        raise FastTypeError(f"{name} must be an array of numbers, got a string")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise FastTypeError(f"{name} could not be read as an array ({exc}); pass a numpy array") from exc
    if arr.ndim not in (1, 2):
        raise FastInputError(
            f"{name} has {arr.ndim} dimension(s), shape {arr.shape}; pass a 1-D array (n_bars,) or a 2-D array "
            "(n_bars, n_columns)"
        )
    if arr.shape[0] == 0:
        raise FastInputError(f"{name} is empty: it needs at least one bar")
    return arr


def to_2d(arr: np.ndarray) -> np.ndarray:
    """(n,) -> (n, 1); (n, k > 1) in Fortran order so each column is contiguous for the kernels (and the kernels
    see one array layout per width, so they compile once)."""
    if arr.ndim == 1:
        return np.ascontiguousarray(arr).reshape(-1, 1)
    return np.asfortranarray(arr) if arr.shape[1] > 1 else np.ascontiguousarray(arr)


def float_array(name: str, value: Any, *, allow_nan: bool = False, check: bool = True) -> FloatArray:
    """A 2-D float64 array (n_bars, k) of finite values (NaN allowed when asked; inf never; check=False: the
    caller checks the values)."""
    arr = _array(name, value)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise FastTypeError(f"{name} must hold numbers (float), got dtype {arr.dtype}")
    out = to_2d(arr.astype(np.float64, copy=False))
    if not check:
        return out
    bad = ~np.isfinite(out) if not allow_nan else np.isinf(out)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        what = "NaN or infinite" if not allow_nan else "infinite"
        raise FastInputError(
            f"{name} has a {what} value at bar {row}" + (f", column {col}" if out.shape[1] > 1 else "")
            + ": drop or fill such bars first (e.g. with tradeforge.data's validation)"
        )  # fmt: skip
    return out


def bool_array(name: str, value: Any, n_bars: int) -> BoolArray:
    """Signals as a 2-D bool array (n_bars, k); None means never. Integer 0/1 arrays are accepted."""
    if value is None:
        return np.zeros((n_bars, 1), dtype=np.bool_)
    arr = _array(name, value)
    if arr.dtype != np.bool_:
        if np.issubdtype(arr.dtype, np.integer) and np.isin(arr, (0, 1)).all():
            arr = arr.astype(np.bool_)
        else:
            raise FastTypeError(
                f"{name} must be a boolean array (True where the signal fires), got dtype {arr.dtype}; "
                "compare your indicator, e.g. fast > slow, rather than passing its values"
            )
    if arr.shape[0] != n_bars:
        raise FastInputError(f"{name} has {arr.shape[0]} bars but the prices have {n_bars}: give every bar a value")
    return to_2d(arr)


def width(arrays: dict[str, np.ndarray], params: dict[str, np.ndarray]) -> int:
    """The number of columns: every 2-D array and parameter has 1 or that many."""
    widths = {name: a.shape[1] for name, a in arrays.items()}
    widths.update({name: p.shape[0] for name, p in params.items()})
    n_cols = int(max(widths.values()))
    wrong = {name: w for name, w in widths.items() if w not in (1, n_cols)}
    if wrong:
        shown = ", ".join(f"{name}: {w}" for name, w in sorted(wrong.items()))
        raise FastInputError(
            f"column counts disagree ({shown}; the widest input has {n_cols}): give each 2-D input and "
            f"per-column parameter either 1 or {n_cols} columns"
        )
    return n_cols


def param(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_nan: bool = False,
    hint: str = "",
) -> FloatArray:
    """A scalar or a 1-D per-column sequence of floats within [low, high] (or open bounds); NaN if allowed."""
    if isinstance(value, (str, bytes)) or value is None:
        raise FastTypeError(f"{name} must be a number or one number per column, got {value!r}")
    try:
        arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (ValueError, TypeError) as exc:
        raise FastTypeError(f"{name} must be a number or one number per column, got {value!r}") from exc
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise FastInputError(f"{name} must be a number or a 1-D sequence with one number per column, got {value!r}")
    for v in arr:
        if math.isnan(v) and allow_nan:
            continue
        ok = math.isfinite(v)
        if ok and low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v < high if high_open else v <= high
        if not ok:
            lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
            hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
            rng = f" in {lo}, {hi}" if lo and hi else (f" > {low:g}" if low_open else f" >= {low:g}") if lo else ""
            raise FastInputError(f"{name} must be a finite number{rng}, got {v!r}" + (f"; {hint}" if hint else ""))
    return np.ascontiguousarray(arr)


def choice(name: str, value: str | Sequence[str], options: dict[str, int]) -> IntArray:
    """A name (or one name per column) from options, as int codes."""
    names = [value] if isinstance(value, str) else list(value)
    if not names:
        raise FastInputError(f"{name} is empty: use one of {', '.join(repr(k) for k in options)}")
    codes = []
    for item in names:
        if not isinstance(item, str) or item not in options:
            raise FastInputError(f"unknown {name} {item!r}: use one of {', '.join(repr(k) for k in options)}")
        codes.append(options[item])
    return np.asarray(codes, dtype=np.int64)


def windows(name: str, value: Any, minimum: int) -> IntArray:
    """An int window or a 1-D sequence of them, each >= minimum."""
    if isinstance(value, (bool, np.bool_)):
        raise FastTypeError(f"{name} must be an integer number of bars, got {value!r}")
    arr = np.atleast_1d(np.asarray(value))
    if arr.ndim != 1 or arr.shape[0] == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise FastTypeError(f"{name} must be an integer or a 1-D sequence of integers, got {value!r}")
    if (arr < minimum).any():
        raise FastInputError(f"{name} must be >= {minimum} bars, got {int(arr.min())}")
    return np.ascontiguousarray(arr, dtype=np.int64)


BAR_PROBLEMS = (
    "",
    "open is NaN or infinite",
    "high is NaN or infinite",
    "low is NaN or infinite",
    "close is NaN or infinite",
    "high is below low",
    "open is outside the bar's low..high range",
    "close is outside the bar's low..high range",
    "low is not positive",
)


@njit(cache=True)
def _bars_ok_nb(o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray) -> bool:
    """One branch-free pass: 0 < low <= open, close <= high < inf (NaN fails every comparison)."""
    n, k = c.shape
    ok = True
    for j in range(k):
        for i in range(n):
            li = lo[i, j]
            hi = h[i, j]
            oi = o[i, j]
            ci = c[i, j]
            ok &= (li > 0.0) & (hi < np.inf) & (li <= hi) & (li <= oi) & (oi <= hi) & (li <= ci) & (ci <= hi)
    return ok


@njit(cache=True)
def bar_problem_nb(o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray) -> tuple[int, int, int]:
    """The first bar that cannot be traded, as (index into BAR_PROBLEMS, row, column); (0, -1, -1) if none."""
    if _bars_ok_nb(o, h, lo, c):
        return 0, -1, -1
    n, k = c.shape
    for j in range(k):
        for i in range(n):
            oi, hi, li, ci = o[i, j], h[i, j], lo[i, j], c[i, j]
            for code, x in ((1, oi), (2, hi), (3, li), (4, ci)):
                if not abs(x) < np.inf:
                    return code, i, j
            if hi < li:
                return 5, i, j
            if oi < li or oi > hi:
                return 6, i, j
            if ci < li or ci > hi:
                return 7, i, j
            if li <= 0.0:
                return 8, i, j
    return 0, -1, -1

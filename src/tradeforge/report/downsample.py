"""Thin very long series for charts while keeping their shape: min/max decimation per bucket."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

CANDLE_MAX_BARS = 5_000  # above this the price is drawn as a line of closes (candles would bloat the file)
LINE_MAX_POINTS = 200_000  # above this a line is decimated ...
DOWNSAMPLED_POINTS = 100_000  # ... down to at most this many points


def minmax_indices(y: npt.NDArray[np.float64], max_points: int) -> npt.NDArray[np.int64]:
    """Sorted indices of at most max_points (>= 4) points: the lowest and highest of each equal-width
    bucket, plus the first and last point, so peaks, troughs and drawdowns survive.

    All indices when n <= max_points.
    """
    values = np.asarray(y, dtype=np.float64)
    n = int(values.shape[0])
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = max(1, (max_points - 2) // 2)
    size = math.ceil(n / buckets)
    rows = math.ceil(n / size)
    padded = np.full(rows * size, np.nan)
    padded[:n] = values
    grid = padded.reshape(rows, size)
    low = np.where(np.isnan(grid), np.inf, grid).argmin(axis=1)
    high = np.where(np.isnan(grid), -np.inf, grid).argmax(axis=1)
    starts = np.arange(rows, dtype=np.int64) * size
    picked = np.concatenate(([0, n - 1], starts + low, starts + high)).astype(np.int64)
    return np.unique(picked[picked < n])


def thin(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], max_points: int = LINE_MAX_POINTS
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], bool]:
    """(x, y, thinned): unchanged when len <= max_points, else min/max decimated to DOWNSAMPLED_POINTS."""
    if y.shape[0] <= max_points:
        return x, y, False
    keep = minmax_indices(y, min(max_points, DOWNSAMPLED_POINTS))
    return x[keep], y[keep], True

"""Drawdown of an equity curve: the per-step series and the drawdown periods (duration and depth).

The period logic reproduces Backtesting.py 0.6.6 (`compute_drawdown_duration_peaks`): a drawdown period runs
from a step at a new equity high (drawdown 0) to the next step back at a high, or to the last step if the
curve never recovers. Periods without any step strictly in drawdown between those two steps do not count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradeforge.core.errors import DataError


def drawdown_series(equity: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Fractional drawdown of each step from the running equity peak: ``equity / peak - 1``, so <= 0.

    0 at every new high, -0.25 when equity is 25% below its highest value so far. Equity must be positive
    for the result to be meaningful (the first value sets the first peak).
    """
    eq = np.asarray(equity, dtype=np.float64)
    if eq.ndim != 1 or eq.size == 0:
        raise DataError(
            f"drawdown_series needs a non-empty 1-D equity array, got shape {eq.shape}; pass one equity value per step"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        dd: npt.NDArray[np.float64] = eq / np.maximum.accumulate(eq) - 1.0
    return dd


def drawdown_fraction(equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Backtesting.py's positive drawdown ``1 - equity / peak`` (>= 0), computed the same way bit for bit."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dd: npt.NDArray[np.float64] = 1.0 - equity / np.maximum.accumulate(equity)
    return dd


@dataclass(frozen=True, slots=True)
class DrawdownPeriods:
    """Drawdown periods of a curve.

    durations_ns: time from the last high before the period to the step it ends at (recovery or last step).
    peaks: deepest positive drawdown fraction of each period. When there is no period at all, Backtesting.py
    falls back to every non-zero drawdown value (only the last step can be one then); ``peaks`` mirrors that
    and ``durations_ns`` stays empty.
    """

    durations_ns: npt.NDArray[np.int64]
    peaks: npt.NDArray[np.float64]


def drawdown_periods(dd: npt.NDArray[np.float64], timestamps: npt.NDArray[np.int64]) -> DrawdownPeriods:
    """Split a positive drawdown series (``drawdown_fraction``) into periods, like Backtesting.py 0.6.6."""
    n = len(dd)
    iloc = np.flatnonzero(dd == 0)  # ascending, so appending the last step keeps the boundaries sorted, unique
    if not (len(iloc) and iloc[-1] == n - 1):
        iloc = np.append(iloc, n - 1)
    prev = iloc[:-1]
    cur = iloc[1:]
    keep = cur > prev + 1
    if not bool(np.any(keep)):
        nonzero = dd[(dd != 0) & ~np.isnan(dd)]
        return DrawdownPeriods(np.empty(0, dtype=np.int64), nonzero.astype(np.float64))
    # max of dd[prev : cur + 1] for every consecutive pair, vectorized: segment maxima between boundaries,
    # then the closing boundary's own value (0 at a recovery, the last step's drawdown otherwise)
    segment_max = np.maximum.reduceat(dd, prev) if len(prev) else np.empty(0, dtype=np.float64)
    peaks = np.maximum(segment_max, dd[cur])[keep]
    durations = (timestamps[cur[keep]] - timestamps[prev[keep]]).astype(np.int64)
    return DrawdownPeriods(durations, peaks.astype(np.float64))

"""Time bases: the data's bar period, annualization, resampled returns and calendar-period returns.

The bar-period and annualization rules reproduce Backtesting.py 0.6.6: the bar period is the median spacing of
the last 100 timestamps; bars 7 days apart are weekly (52 periods a year, weekly resampling), 31 days monthly
(12, month-end), 365 days yearly (1, year-end); anything else is resampled to days, with 365 days a year when
more than 60% of the weekend share of a full week (2/7) of the bars fall on Saturday or Sunday (crypto),
otherwise 252 (exchange trading days). All calendar arithmetic is in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pandas._libs.tslibs.nattype import NaTType

#: A duration statistic: a Timedelta, or NaT when undefined.
Duration: TypeAlias = "pd.Timedelta | NaTType"

NS_PER_DAY = 86_400_000_000_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday == 0)


def utc_index(timestamps: npt.NDArray[np.int64]) -> pd.DatetimeIndex:
    """int64 ns UTC timestamps as a tz-aware (UTC) nanosecond DatetimeIndex."""
    return pd.DatetimeIndex(pd.to_datetime(timestamps, unit="ns", utc=True))


def data_period(timestamps: npt.NDArray[np.int64]) -> pd.Timedelta | None:
    """Median spacing of the last 100 timestamps (Backtesting.py's `_data_period`); None with one step."""
    last = timestamps[-100:]
    if len(last) < 2:
        return None
    return pd.Timedelta(pd.Series(pd.to_timedelta(np.diff(last), unit="ns")).median())


def ceil_to_resolution(value: Duration, period: pd.Timedelta | None) -> Duration:
    """Round a duration up to the resolution of the bar period (days for daily bars, hours for hourly...).

    NaT stays NaT. This is Backtesting.py's `_round_timedelta`.
    """
    if period is None or not isinstance(value, pd.Timedelta):
        return value
    return value.ceil(period.resolution_string)


@dataclass(frozen=True, slots=True)
class Annualization:
    """How returns are resampled and how many of those periods make a year."""

    periods_per_year: int
    resample_rule: str  # pandas rule: "D", "W", "ME" or "YE"


def annualization(timestamps: npt.NDArray[np.int64]) -> Annualization:
    """Detect the resampling rule and periods per year from the timestamps, like Backtesting.py 0.6.6."""
    period = data_period(timestamps)
    freq_days = period.days if period is not None else 0
    days = timestamps // NS_PER_DAY
    weekday = (days + _EPOCH_WEEKDAY) % 7
    have_weekends = bool(np.mean((weekday >= 5) & (weekday <= 6)) > 2 / 7 * 0.6)
    if freq_days == 7:
        return Annualization(52, "W")
    if freq_days == 31:
        return Annualization(12, "ME")
    if freq_days == 365:
        return Annualization(1, "YE")
    return Annualization(365 if have_weekends else 252, "D")


def resampled_returns(
    equity: npt.NDArray[np.float64], timestamps: npt.NDArray[np.int64], rule: str
) -> npt.NDArray[np.float64]:
    """Simple returns between the last equity values of consecutive non-empty resampling periods."""
    series = pd.Series(equity, index=utc_index(timestamps))
    last = series.resample(rule).last().dropna()
    returns = last.pct_change().dropna()
    return np.asarray(returns.to_numpy(dtype=np.float64), dtype=np.float64)


def geometric_mean(returns: npt.NDArray[np.float64]) -> float:
    """Geometric mean of simple returns (NaN counted as 0); 0 if any return is <= -100%; NaN if empty.

    Backtesting.py's `geometric_mean`, bit for bit.
    """
    growth = np.nan_to_num(returns, nan=0.0) + 1.0
    if np.any(growth <= 0):
        return 0.0
    if len(growth) == 0:
        return float("nan")
    return float(np.exp(np.log(growth).sum() / len(growth)) - 1.0)


def _period_keys(timestamps: npt.NDArray[np.int64], period: str) -> npt.NDArray[np.int64]:
    if period == "M":
        months = timestamps.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
        return np.asarray(months, dtype=np.int64)
    if period == "W":
        days = timestamps // NS_PER_DAY  # floor division: correct before 1970 too
        return np.asarray((days + _EPOCH_WEEKDAY) // 7, dtype=np.int64)  # Monday-to-Sunday weeks
    raise ConfigError(f"period must be 'M' (calendar months) or 'W' (Monday-Sunday weeks), got {period!r}")


def period_bounds(
    equity: npt.ArrayLike, timestamps: npt.ArrayLike, period: Literal["M", "W"]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Equity at the start and at the end of each calendar period (UTC) that contains at least one step.

    A period ends at its last step's equity and starts at the end of the previous period; the first period
    starts at the first equity value.
    """
    eq = np.asarray(equity, dtype=np.float64)
    ts = np.asarray(timestamps, dtype=np.int64)
    if eq.ndim != 1 or ts.ndim != 1 or len(eq) != len(ts) or len(eq) == 0:
        raise DataError(
            f"period returns need equity and timestamps as non-empty 1-D arrays of the same length, "
            f"got shapes {eq.shape} and {ts.shape}; pass one equity value per step timestamp"
        )
    if len(ts) > 1 and not bool(np.all(np.diff(ts) > 0)):
        raise DataError("timestamps must be strictly increasing; sort the steps and drop duplicates")
    keys = _period_keys(ts, period)
    is_last = np.r_[keys[1:] != keys[:-1], True]
    ends = eq[is_last]
    starts = np.r_[eq[0], ends[:-1]]
    return starts.astype(np.float64), ends.astype(np.float64)


def period_returns(
    equity: npt.ArrayLike, timestamps: npt.ArrayLike, period: Literal["M", "W"]
) -> npt.NDArray[np.float64]:
    """Simple return of each calendar month ("M") or Monday-Sunday week ("W", UTC) that has steps.

    Return of a period = equity at its last step / equity at the end of the previous period - 1; the first
    period is measured from the first equity value. Periods without any step are skipped.
    """
    starts, ends = period_bounds(equity, timestamps, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns: npt.NDArray[np.float64] = ends / starts - 1.0
    return returns


def share_profitable(equity: npt.ArrayLike, timestamps: npt.ArrayLike, period: Literal["M", "W"]) -> float:
    """Percentage of periods whose ending equity exceeds their starting equity."""
    starts, ends = period_bounds(equity, timestamps, period)
    return float(np.mean(ends > starts) * 100.0)

"""Time bases: the data's bar period, annualization, resampled returns and calendar-period returns.

The bar-period and annualization rules reproduce Backtesting.py 0.6.6: the bar period is the median spacing of
the last 100 timestamps; bars 7 days apart are weekly (52 periods a year, weekly resampling), 31 days monthly
(12, month-end), 365 days yearly (1, year-end); anything else is resampled to days, with 365 days a year when
more than 60% of the weekend share of a full week (2/7) of the bars fall on Saturday or Sunday (crypto),
otherwise 252 (exchange trading days). All calendar arithmetic is in UTC.

Everything is computed on int64 nanosecond timestamps with numpy. Resampling ("last value of each non-empty
period") is a selection, so grouping steps by integer day / week / month / year keys gives exactly the values
pandas' ``resample(rule).last().dropna()`` gives; durations are rounded with integer arithmetic the way
``pd.Timedelta.ceil`` does, and the bar period is pandas' ``median`` of the spacings (float64 median, truncated
to whole nanoseconds).
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
IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: Calendar units: UTC days, Monday-Sunday weeks, calendar months, calendar years.
Unit: TypeAlias = Literal["D", "W", "M", "Y"]

NS_PER_DAY = 86_400_000_000_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday == 0)
#: The components of a Timedelta from the finest up, as (size in ns, size of the next coarser component in ns).
_COMPONENTS = (
    (1, 1_000),
    (1_000, 1_000_000),
    (1_000_000, 1_000_000_000),
    (1_000_000_000, 60_000_000_000),
    (60_000_000_000, 3_600_000_000_000),
    (3_600_000_000_000, NS_PER_DAY),
)
#: pandas resample rule of each calendar unit (Backtesting.py resamples with these).
RULE_UNITS: dict[str, Unit] = {"D": "D", "W": "W", "ME": "M", "YE": "Y"}


def utc_timestamp(ns: int) -> pd.Timestamp:
    """An int64 ns UTC time as a tz-aware (UTC) nanosecond Timestamp."""
    return pd.Timestamp(ns, tz="UTC")


def data_period_ns(timestamps: IntArray) -> int | None:
    """Median spacing of the last 100 timestamps in ns (Backtesting.py's `_data_period`); None with one step.

    Computed like pandas' ``Series.median`` of timedeltas: float64 median, truncated to whole nanoseconds.
    """
    last = timestamps[-100:]
    if len(last) < 2:
        return None
    spacing = np.sort(np.diff(last).astype(np.float64))  # positive: the timestamps strictly increase
    middle = len(spacing) // 2
    # np.median: the middle value, or the mean of the two middle values (their sum / 2)
    median = spacing[middle] if len(spacing) % 2 else (spacing[middle - 1] + spacing[middle]) / 2
    return int(np.int64(median))


def resolution_ns(period_ns: int | None) -> int | None:
    """Size in ns of the finest non-zero component of a positive duration (``Timedelta.resolution_string``)."""
    if period_ns is None:
        return None
    for size, coarser in _COMPONENTS:
        if (period_ns // size) % (coarser // size):
            return size
    return NS_PER_DAY


def to_duration(value_ns: int | None, resolution: int | None) -> Duration:
    """A duration in ns rounded up to a multiple of ``resolution`` ns (``Timedelta.ceil``); NaT for None.

    This is Backtesting.py's `_round_timedelta` (durations rounded up to the resolution of the bar period).
    """
    if value_ns is None:
        return pd.NaT
    if resolution is not None:
        remainder = value_ns % resolution
        if remainder:
            value_ns += resolution - remainder
    return pd.Timedelta(value_ns)


def mean_ns(durations_ns: IntArray) -> int:
    """pandas' ``Series.mean`` of a non-empty timedelta64[ns] series: float64 sum / count, truncated to ns."""
    return int(np.int64(durations_ns.sum(dtype=np.float64) / np.float64(len(durations_ns))))


def last_of_runs(keys: npt.NDArray[np.int64]) -> IntArray:
    """Index of the last element of every run of equal consecutive keys."""
    is_last = np.empty(len(keys), dtype=np.bool_)
    np.not_equal(keys[1:], keys[:-1], out=is_last[:-1])
    is_last[-1] = True
    return np.flatnonzero(is_last).astype(np.int64, copy=False)


@dataclass(frozen=True, slots=True)
class Calendar:
    """The UTC days that have steps: the index of each day's last step and the day number (days since 1970)."""

    day_ends: IntArray
    days: IntArray
    n_steps: int

    @classmethod
    def of(cls, timestamps: IntArray) -> Calendar:
        """Group sorted int64 ns timestamps by UTC day (floor division: correct before 1970 too)."""
        days = timestamps // NS_PER_DAY
        ends = last_of_runs(days)
        return cls(ends, days[ends], len(timestamps))

    def keys(self, unit: Unit) -> IntArray:
        """The period number of each day with steps: UTC day, Monday-Sunday week, calendar month or year."""
        if unit == "D":
            return self.days
        if unit == "W":
            return (self.days + _EPOCH_WEEKDAY) // 7
        if unit in ("M", "Y"):
            as_dates = self.days.astype("datetime64[D]")
            return as_dates.astype("datetime64[M]" if unit == "M" else "datetime64[Y]").astype(np.int64)
        raise ConfigError(f"calendar unit must be 'D', 'W', 'M' or 'Y', got {unit!r}")

    def ends(self, unit: Unit) -> IntArray:
        """Index of the last step of every period (of the unit) that has steps, ascending."""
        if unit == "D":
            return self.day_ends
        return self.day_ends[last_of_runs(self.keys(unit))]

    def weekend_share(self) -> np.float64:
        """Share of the steps that fall on a Saturday or Sunday (UTC), like ``np.mean(is_weekend)``."""
        counts = np.empty_like(self.day_ends)  # steps in each day
        counts[0] = self.day_ends[0] + 1
        np.subtract(self.day_ends[1:], self.day_ends[:-1], out=counts[1:])
        weekday = (self.days + _EPOCH_WEEKDAY) % 7
        weekend = int(counts[weekday >= 5].sum())
        return np.float64(weekend) / self.n_steps  # == np.mean(is_weekend): an exact count over n


@dataclass(frozen=True, slots=True)
class Annualization:
    """How returns are resampled and how many of those periods make a year."""

    periods_per_year: int
    resample_rule: str  # pandas rule: "D", "W", "ME" or "YE"


def annualization_of(period_ns: int | None, weekend_share: float) -> Annualization:
    """Resampling rule and periods per year from the bar period and the share of weekend steps."""
    freq_days = period_ns // NS_PER_DAY if period_ns is not None else 0
    have_weekends = bool(weekend_share > 2 / 7 * 0.6)
    if freq_days == 7:
        return Annualization(52, "W")
    if freq_days == 31:
        return Annualization(12, "ME")
    if freq_days == 365:
        return Annualization(1, "YE")
    return Annualization(365 if have_weekends else 252, "D")


def annualization(timestamps: IntArray) -> Annualization:
    """Detect the resampling rule and periods per year from the timestamps, like Backtesting.py 0.6.6."""
    return annualization_of(data_period_ns(timestamps), float(Calendar.of(timestamps).weekend_share()))


def returns_between(values: FloatArray) -> FloatArray:
    """``Series.pct_change().dropna()``: ``x[i] / x[i-1] - 1``, NaN results (0 / 0) dropped."""
    with np.errstate(divide="ignore", invalid="ignore"):
        returns: FloatArray = values[1:] / values[:-1] - 1
    if np.isnan(returns.sum()):  # only then is there something to drop
        returns = returns[~np.isnan(returns)]
    return returns


def resampled_returns(equity: FloatArray, timestamps: IntArray, rule: str) -> FloatArray:
    """Simple returns between the last equity values of consecutive non-empty resampling periods.

    ``rule`` is a pandas rule Backtesting.py uses ("D", "W", "ME" or "YE"); the result equals
    ``Series(equity, utc_index).resample(rule).last().dropna().pct_change().dropna()``.
    """
    if rule not in RULE_UNITS:
        raise ConfigError(f"rule must be one of {sorted(RULE_UNITS)}, got {rule!r}")
    ends = Calendar.of(timestamps).ends(RULE_UNITS[rule])
    return returns_between(equity[ends])


def geometric_mean(returns: FloatArray) -> float:
    """Geometric mean of simple returns (NaN counted as 0); 0 if any return is <= -100%; NaN if empty.

    Backtesting.py's `geometric_mean`, bit for bit.
    """
    # np.nan_to_num(returns, nan=0.0) also clips ±inf to the largest finite floats; skip it when all are finite
    growth = (returns if np.isfinite(returns).all() else np.nan_to_num(returns, nan=0.0)) + 1.0
    if np.any(growth <= 0):
        return 0.0
    if len(growth) == 0:
        return float("nan")
    return float(np.exp(np.log(growth).sum() / len(growth)) - 1.0)


def _calendar_unit(period: str) -> Unit:
    if period == "M":
        return "M"
    if period == "W":
        return "W"
    raise ConfigError(f"period must be 'M' (calendar months) or 'W' (Monday-Sunday weeks), got {period!r}")


def bounds_at(equity: FloatArray, ends: IntArray) -> tuple[FloatArray, FloatArray]:
    """Equity at the start and end of periods given the index of each period's last step."""
    period_ends = equity[ends]
    starts = np.empty_like(period_ends)
    starts[0] = equity[0]
    starts[1:] = period_ends[:-1]
    return starts, period_ends


def share_profitable_at(equity: FloatArray, ends: IntArray) -> float:
    """Percentage of periods (given by the index of their last steps) whose end equity exceeds their start."""
    starts, period_ends = bounds_at(equity, ends)
    return float(np.mean(period_ends > starts) * 100.0)


def period_bounds(
    equity: npt.ArrayLike, timestamps: npt.ArrayLike, period: Literal["M", "W"]
) -> tuple[FloatArray, FloatArray]:
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
    unit = _calendar_unit(period)
    return bounds_at(eq, Calendar.of(ts).ends(unit))


def period_returns(equity: npt.ArrayLike, timestamps: npt.ArrayLike, period: Literal["M", "W"]) -> FloatArray:
    """Simple return of each calendar month ("M") or Monday-Sunday week ("W", UTC) that has steps.

    Return of a period = equity at its last step / equity at the end of the previous period - 1; the first
    period is measured from the first equity value. Periods without any step are skipped.
    """
    starts, ends = period_bounds(equity, timestamps, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns: FloatArray = ends / starts - 1.0
    return returns


def share_profitable(equity: npt.ArrayLike, timestamps: npt.ArrayLike, period: Literal["M", "W"]) -> float:
    """Percentage of periods whose ending equity exceeds their starting equity."""
    starts, ends = period_bounds(equity, timestamps, period)
    return float(np.mean(ends > starts) * 100.0)

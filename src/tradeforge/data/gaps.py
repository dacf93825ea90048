"""Holes in a bar series: where whole bars are missing. A report for the user, never an error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Gap:
    """One hole. start_ts: open time (ns UTC) of the last bar before the hole; end_ts: open time of the
    first bar after it; missing_bars: how many whole bars of the series' time frame fit in between."""

    start_ts: int
    end_ts: int
    missing_bars: int

    @property
    def duration_ns(self) -> int:
        """Time from the open of the bar before the hole to the open of the bar after it."""
        return self.end_ts - self.start_ts

    def __str__(self) -> str:
        return f"{self.missing_bars} bar(s) missing between {iso(self.start_ts)} and {iso(self.end_ts)}"


def find_gaps(series: BarSeries, *, min_missing: int = 1) -> list[Gap]:
    """Every step between consecutive bars that leaves room for at least ``min_missing`` whole bars.

    missing_bars = step // timeframe - 1, so a hole is a step of at least two time frames; on a regular grid
    that is every step longer than the time frame. For daily stock bars each weekend is a 2-bar gap: pass
    min_missing=3 to see only longer breaks. A monthly series (timeframe 30 days) has no gaps between months
    of 31 days.
    """
    if min_missing < 1:
        raise ConfigError(f"min_missing must be at least 1, got {min_missing}")
    if series.timeframe <= 0:
        raise ConfigError(f"{series.symbol}: the time frame must be positive, got {series.timeframe} ns")
    ts = np.asarray(series.ts, dtype=np.int64)
    missing = np.diff(ts) // np.int64(series.timeframe) - 1
    where = np.flatnonzero(missing >= min_missing)
    return [Gap(int(ts[i]), int(ts[i + 1]), int(missing[i])) for i in where]

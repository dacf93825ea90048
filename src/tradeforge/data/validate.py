"""Validation reports: a file or a series checked against the bar rules, its gaps counted, optional repair.

The rules themselves (sorted unique times, no NaN in OHLC, low <= open/close <= high, volume >= 0) live in
``BarSeries.validate``; every load applies them and fails on the first broken one, naming file, row and rule.
This module adds what a person checking data wants to read: how many bars, from when to when, where the
holes are (reported, never filled), and with ``repair=True`` what was sorted or dropped to make a file load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import iso
from tradeforge.data.files import load_file
from tradeforge.data.gaps import Gap, find_gaps
from tradeforge.data.store import timeframe_label

MAX_LISTED_GAPS = 10


@dataclass(frozen=True)
class Check:
    """What validating one series found. ``repairs`` lists what repair changed (empty when nothing did)."""

    where: str
    symbol: str
    timeframe: str
    bars: int
    first_ts: int
    last_ts: int
    gaps: list[Gap]
    repairs: list[str] = field(default_factory=list)

    @property
    def missing_bars(self) -> int:
        return sum(g.missing_bars for g in self.gaps)

    @property
    def largest_gap(self) -> Gap | None:
        return max(self.gaps, key=lambda g: g.missing_bars) if self.gaps else None

    def lines(self, max_gaps: int = MAX_LISTED_GAPS) -> list[str]:
        """The report as sentences for a terminal or a log."""
        out = [
            f"{self.where}: {self.symbol} {self.timeframe}, {self.bars:,} bars from {iso(self.first_ts)} to "
            f"{iso(self.last_ts)}; valid (sorted, unique times, no NaN, low <= open/close <= high, volume >= 0)"
        ]
        out += [f"repaired: {r}" for r in self.repairs]
        largest = self.largest_gap
        if largest is None:
            out.append("gaps: none")
            return out
        out.append(
            f"gaps: {len(self.gaps):,} hole(s), {self.missing_bars:,} bar(s) missing in all; the largest: {largest}"
        )
        shown = sorted(self.gaps, key=lambda g: (-g.missing_bars, g.start_ts))[:max_gaps]
        out += [f"  {g}" for g in sorted(shown, key=lambda g: g.start_ts)]
        if len(self.gaps) > max_gaps:
            out.append(f"  ... and {len(self.gaps) - max_gaps:,} smaller one(s)")
        out.append("gaps are reported, never filled")
        return out


def check_series(
    series: BarSeries, *, where: str = "", min_missing: int = 1, repairs: list[str] | None = None
) -> Check:
    """Validate ``series`` (DataError on the first broken rule) and report its range and gaps.

    min_missing: the smallest hole reported, in bars (daily stock bars have a 2-bar hole every weekend; pass 3
    to see only longer breaks)."""
    series.validate()
    return Check(
        where=where or series.symbol,
        symbol=series.symbol,
        timeframe=timeframe_label(series.timeframe),
        bars=len(series),
        first_ts=int(series.ts[0]),
        last_ts=int(series.ts[-1]),
        gaps=find_gaps(series, min_missing=min_missing),
        repairs=list(repairs or []),
    )


def check_file(
    path: str | PathLike[str],
    *,
    symbol: str | None = None,
    timeframe: str | int | None = None,
    tz: str | None = None,
    columns: Mapping[str, str] | None = None,
    repair: bool = False,
    min_missing: int = 1,
) -> tuple[BarSeries, Check]:
    """Load a bar file as ``read_bars`` does and report on it.

    repair=True sorts rows that are out of time order and drops rows identical to the bar before them, and
    says so in ``Check.repairs``; two different bars at the same time, NaN prices, high < low and the other
    rules are never repaired: they stay errors that name the row. The file itself is not changed.
    """
    repairs: list[str] | None = [] if repair else None
    series = load_file(path, symbol=symbol, timeframe=timeframe, tz=tz, columns=columns, repairs=repairs)
    return series, check_series(series, where=str(path), min_missing=min_missing, repairs=repairs)

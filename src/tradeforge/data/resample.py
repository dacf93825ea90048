"""Resampling bars to a longer time frame, vectorized: open of the first, max high, min low, close of the last,
summed volume; bars labelled by their open time; the last bar flagged when its period has not ended.

Periods are aligned like the engine's (core.clock.period_start): minutes and hours on the clock, days at 00:00 UTC,
weeks on Monday 00:00 UTC. For stocks, `session=Session("America/New_York", "09:30", "16:00")` builds daily (and
weekly) bars from the exchange's regular session in its own time zone: each day's bar opens at that day's session
open (so it follows daylight saving), and bars outside the session are left out unless include_extended=True.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_DAY, NS_PER_WEEK, format_timeframe, period_start
from tradeforge.core.errors import ConfigError
from tradeforge.data.timeframes import timeframe_ns

_MONDAY_OFFSET = 4 * NS_PER_DAY  # 1970-01-05 was a Monday


@dataclass(frozen=True)
class Session:
    """An exchange's regular trading session in its time zone, e.g. Session("America/New_York", "09:30", "16:00")."""

    tz: str
    open: str = "00:00"
    close: str = "24:00"

    def times(self) -> tuple[time, time | None]:
        try:
            start = time.fromisoformat(self.open)
            end = None if self.close in ("24:00", "24:00:00") else time.fromisoformat(self.close)
        except ValueError as exc:
            raise ConfigError(
                f"session times must look like '09:30', got open={self.open!r} close={self.close!r}"
            ) from exc
        return start, end


@dataclass(frozen=True)
class Resampled:
    """The resampled bars, and whether the last one is complete (its period ended before the data did)."""

    bars: BarSeries
    last_complete: bool


def _periods(ts: npt.NDArray[np.int64], tf: int) -> npt.NDArray[np.int64]:
    if tf % NS_PER_WEEK == 0:
        return ts - (ts - _MONDAY_OFFSET) % tf
    return ts - ts % tf


def resample(
    series: BarSeries,
    timeframe: str | int,
    *,
    now: int | None = None,
    session: Session | None = None,
    include_extended: bool = False,
) -> Resampled:
    """Bars of `series` resampled to `timeframe` (a whole multiple of its own; '1d'/'1w' with a session).

    now: the current time (int ns UTC) for deciding whether the last period has ended; default: the close of the
    last base bar (the data's own end)."""
    tf = timeframe_ns(timeframe)
    base_tf = series.timeframe
    if tf <= base_tf:
        raise ConfigError(
            f"cannot resample {series.symbol} from {format_timeframe(base_tf)} to {format_timeframe(tf)}: the target "
            "time frame must be longer (resampling only aggregates)"
        )
    ts = series.ts
    keep: npt.NDArray[np.bool_] | None = None
    if session is not None:
        if tf % NS_PER_DAY:
            raise ConfigError(f"a session applies to daily or weekly bars, not {format_timeframe(tf)}")
        keys, keep, period_len = _session_keys(ts, tf, session, include_extended)
    else:
        if tf % base_tf:
            raise ConfigError(
                f"cannot resample {series.symbol} from {format_timeframe(base_tf)} to {format_timeframe(tf)}: the "
                "target must be a whole multiple of the source time frame"
            )
        keys = _periods(ts, tf)
        period_len = None
    idx = np.flatnonzero(keep) if keep is not None else np.arange(len(ts))
    if not len(idx):
        raise ConfigError(f"no bars of {series.symbol} fall inside the session {session}")
    k = keys[idx]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], len(idx)] - 1
    first, last = idx[starts], idx[ends]
    out_ts = k[starts]
    high = np.maximum.reduceat(series.high[idx], starts)
    low = np.minimum.reduceat(series.low[idx], starts)
    volume = np.add.reduceat(series.volume[idx], starts)
    bars = BarSeries.from_arrays(
        series.symbol,
        tf,
        out_ts,
        series.open[first],
        high,
        low,
        series.close[last],
        volume,
        validate=False,
    )
    data_end = int(ts[-1]) + base_tf if now is None else int(now)
    last_len = tf if period_len is None else int(period_len[idx[-1]])
    last_complete = int(out_ts[-1]) + last_len <= data_end
    return Resampled(bars, last_complete)


def _session_keys(
    ts: npt.NDArray[np.int64], tf: int, session: Session, include_extended: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Per base bar: the UTC open time of its session day (or week), whether it is inside the session, and the
    length of that day's (week's) session in ns."""
    start, end = session.times()
    try:
        local = pd.DatetimeIndex(ts.astype("datetime64[ns]"), tz="UTC").tz_convert(session.tz)
    except Exception as exc:  # pytz/zoneinfo raise several types for an unknown zone
        raise ConfigError(f"unknown time zone {session.tz!r}: use an IANA name such as 'America/New_York'") from exc
    naive = local.tz_localize(None)  # wall-clock time at the exchange
    day = naive.normalize()
    start_td = pd.Timedelta(hours=start.hour, minutes=start.minute, seconds=start.second)
    end_td = (
        pd.Timedelta(days=1) if end is None else pd.Timedelta(hours=end.hour, minutes=end.minute, seconds=end.second)
    )
    wall = naive - day  # time of day of each bar, on the exchange's clock (daylight saving included)
    in_session = (wall >= start_td) & (wall < end_td)
    open_local = (day + start_td).tz_localize(session.tz, ambiguous="NaT", nonexistent="shift_forward")
    close_local = (day + end_td).tz_localize(session.tz, ambiguous="NaT", nonexistent="shift_forward")
    keep = np.ones(len(ts), dtype=bool) if include_extended else np.asarray(in_session, dtype=bool)
    open_utc = open_local.tz_convert("UTC").as_unit("ns").asi8
    close_utc = close_local.tz_convert("UTC").as_unit("ns").asi8
    if tf >= NS_PER_WEEK and tf % NS_PER_WEEK == 0:
        weeks = tf // NS_PER_WEEK
        monday = (day - pd.to_timedelta(day.day_of_week, unit="D")).as_unit("ns").asi8
        week_no = (monday - _MONDAY_OFFSET) // NS_PER_WEEK // weeks
        frame = pd.DataFrame({"week": week_no, "open": open_utc, "close": close_utc})
        first_open = frame.groupby("week")["open"].transform("min").to_numpy()
        last_close = frame.groupby("week")["close"].transform("max").to_numpy()
        return first_open.astype(np.int64), keep, (last_close - first_open).astype(np.int64)
    if tf != NS_PER_DAY:
        raise ConfigError("with a session, resample to '1d' or a whole number of weeks ('1w')")
    return open_utc.astype(np.int64), keep, (close_utc - open_utc).astype(np.int64)


__all__ = ["Resampled", "Session", "period_start", "resample"]

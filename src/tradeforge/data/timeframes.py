"""Time frames of bar files: labels ('5m', '1d', '1mo') to nanoseconds, and inference from timestamps."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from tradeforge.core.clock import NS_PER_DAY, NS_PER_SECOND, format_timeframe, parse_timeframe
from tradeforge.core.errors import ConfigError

MONTH_NS = 30 * NS_PER_DAY
"""Calendar months are irregular; the engine treats a '1mo' bar as 30 days long."""

_MONTHS = re.compile(r"^\s*(\d+)\s*mo(?:n|nth|nths)?\s*$", re.IGNORECASE)
_MONTHLY_STEPS = (28 * NS_PER_DAY, 31 * NS_PER_DAY)


def timeframe_ns(timeframe: str | int) -> int:
    """'5m' -> 300_000_000_000 ns. Accepts what core.clock.parse_timeframe accepts, plus 'Nmo' (N * 30 days)
    and a positive integer number of nanoseconds."""
    if isinstance(timeframe, bool):
        raise ConfigError(f"time frame must be a label such as '5m' or a number of ns, got {timeframe!r}")
    if isinstance(timeframe, int | np.integer):
        if timeframe <= 0:
            raise ConfigError(f"time frame must be a positive number of nanoseconds, got {timeframe}")
        return int(timeframe)
    if not isinstance(timeframe, str):
        raise ConfigError(
            f"time frame must be a label such as '5m', '1h', '1d', '1mo' or a number of ns, got {timeframe!r}"
        )
    months = _MONTHS.match(timeframe)
    if months:
        count = int(months.group(1))
        if count <= 0:
            raise ConfigError(f"cannot read time frame {timeframe!r}: the count of months must be positive")
        return count * MONTH_NS
    return parse_timeframe(timeframe)


def infer_timeframe(ts: npt.ArrayLike, *, source: str = "bars") -> str:
    """Guess the time frame label of bar open times (int64 ns).

    The answer is the most common positive step between consecutive timestamps, so gaps (missing bars,
    weekends) do not disturb it; ties go to the smaller step. Series whose median step is a calendar month
    (28 to 31 days) are labelled '1mo'. Raises ConfigError when fewer than two distinct timestamps exist or
    the step is not a whole number of seconds: pass the time frame explicitly then.
    """
    stamps = np.asarray(ts, dtype=np.int64)
    steps = np.diff(stamps)
    steps = steps[steps > 0]
    if steps.size == 0:
        raise ConfigError(
            f"{source}: cannot infer the time frame from {stamps.size} bar(s) without two distinct "
            "timestamps; pass timeframe='1m', '1h', '1d', ... explicitly"
        )
    median = int(np.median(steps))
    if _MONTHLY_STEPS[0] <= median <= _MONTHLY_STEPS[1]:
        return "1mo"
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[int(np.argmax(counts))])  # np.unique sorts, argmax takes the first (smallest) of ties
    if step % NS_PER_SECOND:
        raise ConfigError(
            f"{source}: the most common step between bars is {step} ns, not a whole number of seconds; "
            "pass the time frame explicitly"
        )
    return format_timeframe(step)

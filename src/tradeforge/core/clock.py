"""Time inside the core: integer nanoseconds since the Unix epoch, UTC. Pure helpers only."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tradeforge.core.errors import ConfigError

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR
NS_PER_WEEK = 7 * NS_PER_DAY

_UNITS = {
    "s": NS_PER_SECOND,
    "m": NS_PER_MINUTE,
    "min": NS_PER_MINUTE,
    "h": NS_PER_HOUR,
    "d": NS_PER_DAY,
    "w": NS_PER_WEEK,
}
_TF = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")


def parse_timeframe(text: str) -> int:
    """'5m' -> nanoseconds. Accepts s, m/min, h, d, w (case-insensitive except that 'M' is refused)."""
    match = _TF.match(text)
    if not match or match.group(2) == "M":
        raise ConfigError(
            f"cannot read time frame {text!r}: write a number and a unit such as '1m', '5m', '1h', '1d' or '1w'"
        )
    count, unit = int(match.group(1)), match.group(2).lower()
    if unit not in _UNITS or count <= 0:
        raise ConfigError(
            f"cannot read time frame {text!r}: the unit must be one of s, m, h, d, w and the count positive"
        )
    return count * _UNITS[unit]


def format_timeframe(ns: int) -> str:
    for unit, size in (("w", NS_PER_WEEK), ("d", NS_PER_DAY), ("h", NS_PER_HOUR), ("m", NS_PER_MINUTE)):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns // NS_PER_SECOND}s"


def to_ns(moment: datetime) -> int:
    """A timezone-aware datetime -> integer ns UTC. Naive datetimes are refused (ambiguous)."""
    if moment.tzinfo is None:
        raise ConfigError(f"datetime {moment!r} has no time zone: pass a timezone-aware datetime (UTC)")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


def iso(ns: int) -> str:
    """Integer ns UTC -> ISO 8601 text (for messages and exports)."""
    seconds, rest = divmod(ns, NS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if rest:
        text += f".{rest:09d}".rstrip("0")
    return text + "Z"


def floor_ns(ns: int, period: int) -> int:
    """Start of the period (aligned to the epoch, so days start at 00:00 UTC) that contains ns."""
    return ns - ns % period


_MONDAY_OFFSET = 4 * NS_PER_DAY  # 1970-01-01 was a Thursday; 1970-01-05 a Monday


def period_start(ns: int, period: int) -> int:
    """Start of the calendar period containing ns: days at 00:00 UTC, weeks on Monday 00:00 UTC, hours and
    minutes on the hour and minute."""
    if period % NS_PER_WEEK == 0:
        return ns - (ns - _MONDAY_OFFSET) % period
    return ns - ns % period

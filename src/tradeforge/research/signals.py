"""A strategy for the fast path: a signal function of the bars and parameter arrays that returns entry and exit
signals, one column per parameter combination. The same function drives sweeps, walk-forward runs and (through
``SignalFunctionStrategy``) the event engine, so the strategy found in research runs on paper and live too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Bars:
    """What a signal function reads: 1-D float arrays of the whole history (ts is int64 ns UTC). A signal at
    bar i must depend only on values up to bar i (the event engine checks this when it runs the function)."""

    ts: npt.NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @classmethod
    def of(cls, series: BarSeries) -> Bars:
        return cls(series.ts, series.open, series.high, series.low, series.close, series.volume)

    def __len__(self) -> int:
        return int(self.close.shape[0])


@dataclass(frozen=True)
class Signals:
    """Boolean signals, each (n_bars,) or (n_bars, n_columns); None means never."""

    entries: Any
    exits: Any = None
    short_entries: Any = None
    short_exits: Any = None


SignalFunction = Callable[..., Any]


def call_signals(fn: SignalFunction, bars: Bars, params: dict[str, np.ndarray]) -> Signals:
    """Run the user's signal function on one chunk and check what it returned."""
    try:
        out = fn(bars, **params)
    except Exception as exc:  # the user's code: name it and keep the cause
        name = getattr(fn, "__name__", repr(fn))
        raise ConfigError(
            f"the signal function {name} failed ({type(exc).__name__}: {exc}); it is called as "
            f"{name}(bars, {', '.join(f'{k}=<array of {v.shape[0]}>' for k, v in params.items())})"
        ) from exc
    if isinstance(out, Signals):
        signals = out
    elif isinstance(out, dict):
        unknown = set(out) - {"entries", "exits", "short_entries", "short_exits"}
        if unknown:
            raise ConfigError(f"the signal function returned unknown keys {sorted(unknown)}")
        signals = Signals(**out)
    elif isinstance(out, tuple) and 1 <= len(out) <= 4:
        signals = Signals(*out)
    else:
        raise ConfigError(
            "a signal function returns Signals(entries, exits, short_entries, short_exits), a dict with those "
            f"keys, or a tuple (entries, exits[, short_entries, short_exits]); got {type(out).__name__}"
        )
    n = len(bars)
    k = len(next(iter(params.values()))) if params else 1
    for field in ("entries", "exits", "short_entries", "short_exits"):
        value = getattr(signals, field)
        if value is None:
            continue
        arr = np.asarray(value)
        if arr.dtype != bool:
            raise ConfigError(f"{field} must be boolean (True where the signal fires), got dtype {arr.dtype}")
        if arr.shape[0] != n or arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] not in (1, k)):
            raise ConfigError(
                f"{field} has shape {arr.shape}; expected ({n},) or ({n}, {k}): one row per bar, one column per "
                "parameter combination"
            )
    return signals

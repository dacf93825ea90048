"""What every feature block implements, the checks on the bars it is given, and TA-Lib functions fed bar by bar.

A block turns bars into a few named float columns. It computes them two ways that must agree to the last bit:
`compute(bars)` over a whole history at once, and `stream()`, an object fed one closed bar at a time (replay,
paper, live). Blocks get identical values in both by construction: the windowed and recursive parts are TA-Lib
functions, whose streaming handles (``talib.stream``, TA-Lib >= 0.8) carry the C library's own state forward and
are bit-identical to its batch functions; what blocks add on top is elementwise + - * / and abs, which IEEE 754
rounds the same in a numpy loop and in Python floats.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import talib
from talib import abstract as ta_abstract
from talib import stream as ta_stream

from tradeforge.core.bars import COLUMNS, BarSeries
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]
NAN = math.nan


class BlockStream(ABC):
    """A block's incremental state: fed one closed bar at a time, returns that bar's values of the block's columns."""

    @abstractmethod
    def update(self, ts: int, o: float, h: float, low: float, c: float, v: float) -> Sequence[float]:
        """The block's values at this bar (NaN while warming up), in the order of the block's columns."""


class FeatureBlock(ABC):
    """A named group of feature columns computed from one symbol's bars."""

    @property
    @abstractmethod
    def columns(self) -> tuple[str, ...]:
        """Column names, unique within a feature set."""

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Index of the first bar at which every column has a value (bars needed before it), on gapless data."""

    @abstractmethod
    def compute(self, bars: BarSeries) -> FloatArray:
        """All columns over the whole history: shape (len(bars), len(columns)), NaN during warm-up."""

    @abstractmethod
    def stream(self) -> BlockStream:
        """A fresh incremental computation that returns, bar by bar, exactly the rows `compute` returns."""

    def check(self, bars: BarSeries) -> None:
        """Raise ConfigError when `bars` is too short for this block to produce even one complete row."""
        if len(bars) <= self.warmup:
            raise ConfigError(
                f"{self!r} needs more than {self.warmup} bars (its longest window) but {bars.symbol} has only "
                f"{len(bars)}: load more history or use shorter windows"
            )


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """value as an int >= minimum, or a ConfigError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def check_bars(bars: BarSeries) -> None:
    """Raise DataError for bars features cannot be computed from: none at all, NaN or infinite values (naming the
    first bad row), or open times that do not strictly increase."""
    n = len(bars)
    if n == 0:
        raise DataError(f"{bars.symbol}: no bars: features need at least one bar")
    for col in COLUMNS:
        values = getattr(bars, col)
        if values.shape != (n,):
            raise DataError(f"{bars.symbol}: column {col} has {values.shape} values for {n} timestamps")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{bars.symbol}: {col} is NaN or infinite at row {i} ({iso(int(bars.ts[i]))}); features need "
                "complete bars: fill or drop that bar (tradeforge data validate --repair shows how)"
            )
    steps = np.diff(bars.ts)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise DataError(
            f"{bars.symbol}: the bar at row {i} ({iso(int(bars.ts[i]))}) does not come after the one before it; "
            "sort the bars by time and drop duplicates"
        )


def ta_function(name: str) -> Any:
    """talib.abstract.Function(name): its inputs, outputs, parameters and lookback."""
    return ta_abstract.Function(name)  # type: ignore[attr-defined]  # talib's stubs omit abstract.Function


def ta_lookback(name: str, params: dict[str, Any]) -> int:
    """TA-Lib's lookback of a function: index of its first output on an input without leading NaN."""
    fn = ta_function(name)
    fn.set_parameters(params)
    return int(fn.lookback)


def ta_batch(name: str, inputs: Sequence[FloatArray], params: dict[str, Any]) -> tuple[FloatArray, ...]:
    """A TA-Lib function over whole arrays, its outputs always as a tuple."""
    out = getattr(talib, name)(*inputs, **params)
    return tuple(out) if isinstance(out, tuple) else (out,)


class TAStream:
    """One TA-Lib function fed bar by bar, bit-identical to `ta_batch` over the same bars.

    Until TA-Lib can open its streaming handle (lookback + 1 bars after any leading NaN), the bars are buffered
    and the batch function gives the value; from then on the handle carries the state forward in O(1) per bar.
    A leading NaN input (a series with no value at the first bar, such as a difference) is skipped the way the
    batch function skips it."""

    __slots__ = ("_buffers", "_handle", "_lookback", "_n_out", "_name", "_params", "_seen")

    def __init__(self, name: str, params: dict[str, Any], n_inputs: int, n_outputs: int = 1) -> None:
        self._name = name
        self._params = params
        self._lookback = ta_lookback(name, params)
        self._n_out = n_outputs
        self._buffers: list[list[float]] = [[] for _ in range(n_inputs)]
        self._handle: Any = None
        self._seen = 0  # bars since the first one with every input defined

    def update(self, *inputs: float) -> tuple[float, ...]:
        if self._handle is not None:
            out = self._handle.update(*inputs)
            return out if isinstance(out, tuple) else (out,)
        for buf, value in zip(self._buffers, inputs, strict=True):
            buf.append(value)
        if self._seen or not any(math.isnan(x) for x in inputs):
            self._seen += 1
        if self._seen <= self._lookback:
            return (NAN,) * self._n_out
        arrays = [np.array(buf, dtype=np.float64) for buf in self._buffers]
        try:
            self._handle = getattr(ta_stream, self._name)(*arrays, **self._params)
        except talib.InsufficientHistory:  # type: ignore[attr-defined]  # (missing from talib's stubs)
            # this function's seeding wants more history than its lookback: the batch function's value
            return tuple(float(out[-1]) for out in ta_batch(self._name, arrays, self._params))
        self._buffers = []
        value = self._handle.value
        return value if isinstance(value, tuple) else (value,)


def format_params(*values: object) -> str:
    """'14', '12_26_9', '20_2' for column names: numbers without a trailing .0."""
    parts = []
    for value in values:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        parts.append(str(value))
    return "_".join(parts)

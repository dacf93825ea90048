"""What a strategy can see: series that grow one bar at a time, so look-ahead is impossible by construction.

A Stream holds one symbol's bars at one time frame. Its columns are either complete arrays (a backtest, where
all bars are known in advance but revealed step by step) or growing buffers (replay, paper and live, where
bars arrive one at a time). Either way a strategy only ever holds `Series` objects: plain Python lists that
the engine extends by one value when a bar closes. `series[-1]` is the latest closed bar; there is no index
that reaches a later bar, because later values are not in the list yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.clock import format_timeframe, iso, period_start
from tradeforge.core.errors import ConfigError, LookAheadError

COLUMN_NAMES = ("ts", "open", "high", "low", "close", "volume")
FloatArray = npt.NDArray[np.float64]


class Series(list[Any]):
    """A list of the values known so far (oldest first). Index -1 is the latest closed bar."""

    __slots__ = ("_source", "_stream", "key")

    def __init__(self, values: Sequence[Any], stream: Stream, key: str, source: Any = None) -> None:
        super().__init__(values)
        # private: both reach values of bars that have not closed yet, which a strategy must not read
        self._stream = stream
        self.key = key
        self._source = source  # the indicator values behind this series (None for bar columns)

    def array(self) -> FloatArray:
        """A numpy copy of the values known so far."""
        return np.asarray(self, dtype=np.float64)

    def __repr__(self) -> str:
        tail = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in self[-3:])
        return f"Series({self.key} of {self._stream.label}, {len(self)} values, ..., {tail})"


class GrowingColumn:
    """A numpy buffer that doubles its capacity, plus a list mirror, for bars that arrive one by one."""

    __slots__ = ("buf", "items", "n")

    def __init__(self, dtype: type) -> None:
        self.buf: npt.NDArray[Any] = np.empty(64, dtype=dtype)
        self.items: list[Any] = []
        self.n = 0

    def append(self, value: Any) -> None:
        if self.n == self.buf.shape[0]:
            bigger = np.empty(self.n * 2, dtype=self.buf.dtype)
            bigger[: self.n] = self.buf
            self.buf = bigger
        self.buf[self.n] = value
        self.items.append(value)
        self.n += 1

    def view(self) -> npt.NDArray[Any]:
        return self.buf[: self.n]


class Stream:
    """One symbol at one time frame: source columns, the revealed count and what to extend on each reveal."""

    def __init__(self, symbol: str, timeframe: int, *, arrays: dict[str, npt.NDArray[Any]] | None = None) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.label = f"{symbol} {format_timeframe(timeframe)}"
        self.complete = arrays is not None
        self.arrays: dict[str, npt.NDArray[Any]] = arrays or {}
        self.growing: dict[str, GrowingColumn] = {}
        if arrays is None:
            for name in COLUMN_NAMES:
                self.growing[name] = GrowingColumn(np.int64 if name == "ts" else np.float64)
        self._lists: dict[str, list[Any]] = {}
        self.n = 0  # bars revealed so far
        self.pairs: list[tuple[list[Any], list[Any]]] = []  # (revealed series, source list): append src[i]
        self.hooks: list[Callable[[int], None]] = []  # recomputed indicators over growing data
        self.children: list[Resampler] = []  # higher time frames built from this stream
        self.indicators: list[Series] = []  # indicator series computed on this stream
        self.view = BarView(self)

    # ----------------------------------------------------------- sources
    @property
    def length(self) -> int:
        """Bars available in the source (all of them for a backtest, the arrived ones when growing)."""
        if self.complete:
            return int(self.arrays["ts"].shape[0])
        return self.growing["ts"].n

    def column(self, name: str) -> npt.NDArray[Any]:
        """The whole source column as a numpy array (complete) or the arrived part (growing)."""
        return self.arrays[name] if self.complete else self.growing[name].view()

    def source_list(self, name: str) -> list[Any]:
        if not self.complete:
            return self.growing[name].items
        lst = self._lists.get(name)
        if lst is None:
            lst = self._lists[name] = self.arrays[name].tolist()
        return lst

    def append_bar(self, ts: int, o: float, h: float, low: float, c: float, v: float) -> None:
        """Growing streams only: a new bar has closed."""
        g = self.growing
        g["ts"].append(ts)
        g["open"].append(o)
        g["high"].append(h)
        g["low"].append(low)
        g["close"].append(c)
        g["volume"].append(v)

    # ------------------------------------------------------------ reveal
    def reveal(self, i: int) -> None:
        """Bar i has closed: extend every registered series, then recomputed indicators, then resamplers."""
        self.n = i + 1
        for dst, src in self.pairs:
            dst.append(src[i])
        for hook in self.hooks:
            hook(i)
        for child in self.children:
            child.feed(i)

    def warmup(self) -> int:
        """Index of the first bar at which every indicator of this stream has a value (0 without any)."""
        first = 0
        for ser in self.indicators:
            values = np.asarray(_indicator_source(ser), dtype=np.float64)
            valid = np.flatnonzero(~np.isnan(values))
            first = max(first, int(valid[0]) if valid.size else int(values.shape[0]))
        return first

    def series(self, name: str) -> Series:
        """A revealed series of a source column, registered so it grows with each reveal."""
        if name not in COLUMN_NAMES:
            raise ConfigError(f"{self.label} has no column {name!r}; columns are {', '.join(COLUMN_NAMES)}")
        src = self.source_list(name)
        out = Series(src[: self.n], self, name)
        self.pairs.append((out, src))
        return out

    # -------------------------------------------------------- indicators
    def indicator(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
        """Register func(*args, **kwargs) computed on this stream; returns a Series or a tuple of them."""

        def resolve(limit: int | None) -> tuple[Any, ...]:
            out = []
            for a in args:
                if isinstance(a, Series):
                    full = a._stream.column(a.key) if a.key in COLUMN_NAMES else _indicator_source(a)
                    out.append(full if limit is None else full[:limit])
                else:
                    out.append(a)
            return tuple(out)

        if self.complete:
            result = _normalize(func(*resolve(None), **kwargs), self.length, name)
            _probe_causality(func, resolve, kwargs, result, self.length, name, self)
            outputs = []
            for k, values in enumerate(result):
                src = values.tolist()
                ser = Series(src[: self.n], self, f"{name}[{k}]" if len(result) > 1 else name, values)
                self.pairs.append((ser, src))
                outputs.append(ser)
                self.indicators.append(ser)
            return outputs[0] if len(outputs) == 1 else tuple(outputs)

        # growing: recompute over the arrived bars at each reveal and keep the last value
        first = _normalize(func(*resolve(self.n), **kwargs), self.n, name) if self.n else None
        width = len(first) if first is not None else _output_width(func, resolve, kwargs)
        series_list: list[Series] = []
        buffers: list[GrowingColumn] = []

        def make(count: int) -> None:
            for k in range(count):
                col = GrowingColumn(np.float64)
                key = f"{name}[{k}]" if count > 1 else name
                ser = Series([], self, key, col)
                if first is not None:
                    for v in first[k].tolist():
                        col.append(v)
                        ser.append(v)
                buffers.append(col)
                series_list.append(ser)
                self.indicators.append(ser)

        make(width)

        def hook(i: int) -> None:
            values = _normalize(func(*resolve(i + 1), **kwargs), i + 1, name)
            if len(values) != len(series_list):
                raise ConfigError(
                    f"indicator {name} returned {len(values)} outputs, but {len(series_list)} were expected: bars "
                    "arriving one at a time, its number of outputs was read before the first bar by calling it on "
                    "empty input, which it refused. Make it accept empty arrays (return empty outputs)."
                )
            for k, arr in enumerate(values):
                v = float(arr[i])
                buffers[k].append(v)
                series_list[k].append(v)

        self.hooks.append(hook)
        return series_list[0] if width == 1 else tuple(series_list)


def _output_width(
    func: Callable[..., Any], resolve: Callable[[int | None], tuple[Any, ...]], kwargs: dict[str, Any]
) -> int:
    """How many outputs an indicator has, asked before any bar exists: call it on empty inputs."""
    try:
        raw = func(*resolve(0), **kwargs)
    except Exception as exc:
        name = getattr(func, "__name__", "indicator")
        raise ConfigError(
            f"indicator {name} fails on empty input ({type(exc).__name__}: {exc}). When bars arrive one at a time "
            "(replay, paper, live), an indicator is called on the empty history before the first bar to learn how "
            "many outputs it has: make it return empty arrays for empty input."
        ) from exc
    if isinstance(raw, tuple | list) and raw and not np.isscalar(raw[0]):
        return len(raw)
    return 1


def _indicator_source(series: Series) -> npt.NDArray[Any]:
    src = series._source
    if src is None:
        raise ConfigError(f"{series.key} is not a column or an indicator this engine computed")
    if isinstance(src, GrowingColumn):
        return src.view()
    return np.asarray(src)


def _normalize(raw: Any, length: int, name: str) -> list[FloatArray]:
    """Indicator output -> list of float arrays of the input's length (tuples/2-D arrays = several outputs)."""
    if isinstance(raw, tuple | list) and raw and not np.isscalar(raw[0]):
        parts = [np.asarray(p, dtype=np.float64) for p in raw]
    else:
        arr = np.asarray(raw, dtype=np.float64)
        if arr.ndim == 2:
            parts = [arr[k] for k in range(arr.shape[0])] if arr.shape[1] == length else list(arr.T)
        else:
            parts = [arr]
    for p in parts:
        if p.ndim != 1 or p.shape[0] != length:
            raise ConfigError(
                f"indicator {name} returned shape {p.shape}, but its input has {length} bars: an indicator "
                "must return one value per input bar (NaN while warming up)"
            )
    return parts


def _probe_causality(
    func: Callable[..., Any],
    resolve: Callable[[int | None], tuple[Any, ...]],
    kwargs: dict[str, Any],
    full: list[FloatArray],
    length: int,
    name: str,
    stream: Stream,
) -> None:
    """Recompute on prefixes of the data; values must not change when later bars are removed."""
    if length < 8:
        return
    for cut in sorted({length // 3, (2 * length) // 3, length - 1}):
        part = _normalize(func(*resolve(cut), **kwargs), cut, name)
        for k, (p, f) in enumerate(zip(part, full, strict=True)):
            same = (p == f[:cut]) | (np.isnan(p) & np.isnan(f[:cut]))
            if not bool(np.all(same)):
                row = int(np.flatnonzero(~same)[0])
                when = iso(int(stream.column("ts")[row]))
                raise LookAheadError(
                    f"indicator {name} (output {k}) looks ahead: its value at bar {row} ({when}) is "
                    f"{float(f[row])!r} with all the data but {float(p[row])!r} with only the first {cut} bars. "
                    "An indicator may only use bars up to the one it is computed for."
                )


class BarView:
    """The bars of one stream as a strategy sees them: bar.close[-1] is the last closed bar's close.

    Columns (ts, open, high, low, close, volume) are created on first use and grow as bars close.
    """

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Series:
        if name.startswith("_"):  # also while unpickling, before _stream is set: no recursion through it
            raise AttributeError(name)
        if name not in COLUMN_NAMES:
            raise AttributeError(
                f"bars of {self._stream.label} have no attribute {name!r}; columns are {', '.join(COLUMN_NAMES)}"
            )
        series = self._stream.series(name)
        setattr(self, name, series)  # later accesses skip __getattr__
        return series

    def __len__(self) -> int:
        return self._stream.n

    @property
    def symbol(self) -> str:
        return self._stream.symbol

    @property
    def timeframe(self) -> int:
        return self._stream.timeframe

    def __repr__(self) -> str:
        return f"BarView({self._stream.label}, {self._stream.n} bars known)"


class Resampler:
    """Builds bars of a longer time frame from a base stream; a bar is revealed only once it has closed.

    A period [P, P + tf) closes when a base bar ending at or after P + tf has closed, or, if the base series
    has a gap, when the first base bar of a later period arrives (the old period is then emitted first).
    """

    def __init__(self, base: Stream, target: Stream) -> None:
        if target.timeframe <= base.timeframe or target.timeframe % base.timeframe:
            raise ConfigError(
                f"cannot build {format_timeframe(target.timeframe)} bars from {base.label}: the time frame "
                "must be a whole multiple of the base time frame"
            )
        self.base = base
        self.target = target
        self.period = -1
        self.o = self.h = self.low = self.c = self.v = math.nan

    def feed(self, i: int) -> None:
        base = self.base
        ts = int(base.column("ts")[i])
        period = period_start(ts, self.target.timeframe)
        if self.period >= 0 and period != self.period:
            self._emit()
        o = float(base.column("open")[i])
        h = float(base.column("high")[i])
        low = float(base.column("low")[i])
        c = float(base.column("close")[i])
        v = float(base.column("volume")[i])
        if self.period != period:
            self.period = period
            self.o, self.h, self.low, self.c, self.v = o, h, low, c, v
        else:
            self.h = max(self.h, h)
            self.low = min(self.low, low)
            self.c = c
            self.v += v
        if ts + base.timeframe >= period + self.target.timeframe:
            self._emit()

    def _emit(self) -> None:
        t = self.target
        t.append_bar(self.period, self.o, self.h, self.low, self.c, self.v)
        self.period = -1
        t.reveal(t.length - 1)

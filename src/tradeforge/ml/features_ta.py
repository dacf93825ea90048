"""TA-Lib indicators and volume features as feature blocks.

Indicators whose values are prices (MACD, ATR, Bollinger bands) are divided by the close so that features mean
the same at any price level (BTC at 40,000 USD and an altcoin at 0.00003 BTC); oscillators keep TA-Lib's scale
(RSI and ADX in 0..100). Each block runs TA-Lib's batch functions in `compute` and its streaming handles in
`stream`, so both give the same bits.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.ml.features_base import (
    NAN,
    BlockStream,
    FeatureBlock,
    FloatArray,
    TAStream,
    format_params,
    positive_int,
    ta_batch,
    ta_function,
    ta_lookback,
)

_BAR_INPUTS = ("open", "high", "low", "close", "volume")
Call = tuple[str, tuple[str, ...], dict[str, Any]]  # TA-Lib function, bar columns it reads, parameters


class TABlock(FeatureBlock):
    """A block made of TA-Lib calls on bar columns plus elementwise arithmetic on their outputs.

    Subclasses list the calls and finish the raw outputs twice, once over arrays and once over the floats of one
    bar, with the same operations in the same order (the tests compare the two bit for bit)."""

    @abstractmethod
    def calls(self) -> list[Call]:
        """The TA-Lib functions this block needs."""

    @abstractmethod
    def finish(self, raw: list[tuple[FloatArray, ...]], bars: BarSeries) -> list[FloatArray]:
        """Columns from the calls' outputs over the whole history."""

    @abstractmethod
    def finish_one(self, raw: list[tuple[float, ...]], c: float, v: float) -> list[float]:
        """The same columns for one bar, from the calls' values at that bar."""

    @property
    def warmup(self) -> int:
        return max(ta_lookback(name, params) for name, _, params in self.calls())

    def compute(self, bars: BarSeries) -> FloatArray:
        raw = [ta_batch(name, [getattr(bars, col) for col in cols], params) for name, cols, params in self.calls()]
        return np.column_stack(self.finish(raw, bars))

    def stream(self) -> BlockStream:
        return _TABlockStream(self)


class _TABlockStream(BlockStream):
    __slots__ = ("_block", "_handles")

    def __init__(self, block: TABlock) -> None:
        self._block = block
        self._handles = [
            (TAStream(name, params, len(cols), _n_outputs(name)), tuple(_BAR_INPUTS.index(col) for col in cols))
            for name, cols, params in block.calls()
        ]

    def update(self, ts: int, o: float, h: float, low: float, c: float, v: float) -> Sequence[float]:
        values = (o, h, low, c, v)
        raw = [handle.update(*(values[i] for i in positions)) for handle, positions in self._handles]
        return self._block.finish_one(raw, c, v)


def _n_outputs(name: str) -> int:
    return len(ta_function(name).output_names)


def _bollinger_position(c: FloatArray, upper: FloatArray, lower: FloatArray) -> FloatArray:
    width = upper - lower
    out = np.full(c.shape[0], np.nan)
    np.divide(c - lower, width, out=out, where=width > 0.0)
    out[width == 0.0] = 0.5
    return out


@dataclass(frozen=True)
class RSI(TABlock):
    """rsi_{period}: TA-Lib's RSI (Wilder's smoothing), 0..100."""

    period: int = 14

    def __post_init__(self) -> None:
        positive_int("RSI period", self.period, minimum=2)

    @property
    def columns(self) -> tuple[str, ...]:
        return (f"rsi_{self.period}",)

    def calls(self) -> list[Call]:
        return [("RSI", ("close",), {"timeperiod": self.period})]

    def finish(self, raw: list[tuple[FloatArray, ...]], bars: BarSeries) -> list[FloatArray]:
        return [raw[0][0]]

    def finish_one(self, raw: list[tuple[float, ...]], c: float, v: float) -> list[float]:
        return [raw[0][0]]


@dataclass(frozen=True)
class MACD(TABlock):
    """macd_{f}_{s}_{g}, macd_signal_..., macd_hist_...: TA-Lib's MACD line, signal and histogram / close."""

    fast: int = 12
    slow: int = 26
    signal: int = 9

    def __post_init__(self) -> None:
        positive_int("MACD fast", self.fast, minimum=2)
        positive_int("MACD slow", self.slow, minimum=2)
        positive_int("MACD signal", self.signal)
        if self.fast >= self.slow:
            raise ConfigError(f"MACD fast ({self.fast}) must be shorter than slow ({self.slow}), e.g. 12 and 26")

    @property
    def columns(self) -> tuple[str, ...]:
        p = format_params(self.fast, self.slow, self.signal)
        return (f"macd_{p}", f"macd_signal_{p}", f"macd_hist_{p}")

    def calls(self) -> list[Call]:
        params = {"fastperiod": self.fast, "slowperiod": self.slow, "signalperiod": self.signal}
        return [("MACD", ("close",), params)]

    def finish(self, raw: list[tuple[FloatArray, ...]], bars: BarSeries) -> list[FloatArray]:
        c = bars.close
        return [out / c for out in raw[0]]

    def finish_one(self, raw: list[tuple[float, ...]], c: float, v: float) -> list[float]:
        return [out / c for out in raw[0]]


@dataclass(frozen=True)
class ATR(TABlock):
    """atr_{period}: TA-Lib's average true range (Wilder) / close."""

    period: int = 14

    def __post_init__(self) -> None:
        positive_int("ATR period", self.period)

    @property
    def columns(self) -> tuple[str, ...]:
        return (f"atr_{self.period}",)

    def calls(self) -> list[Call]:
        return [("ATR", ("high", "low", "close"), {"timeperiod": self.period})]

    def finish(self, raw: list[tuple[FloatArray, ...]], bars: BarSeries) -> list[FloatArray]:
        return [raw[0][0] / bars.close]

    def finish_one(self, raw: list[tuple[float, ...]], c: float, v: float) -> list[float]:
        return [raw[0][0] / c]


@dataclass(frozen=True)
class Bollinger(TABlock):
    """Where the close sits in TA-Lib's Bollinger bands (SMA ± k population standard deviations).

    bb_pctb_{period}: %B = (close - lower) / (upper - lower): 0 on the lower band, 1 on the upper (0.5 when the
    bands have no width); bb_width_{period}: (upper - lower) / middle."""

    period: int = 20
    k: float = 2.0

    def __post_init__(self) -> None:
        positive_int("Bollinger period", self.period, minimum=2)
        if not (isinstance(self.k, int | float) and self.k > 0):
            raise ConfigError(f"Bollinger k (band width in standard deviations) must be > 0, got {self.k!r}")

    @property
    def columns(self) -> tuple[str, ...]:
        p = format_params(self.period) if self.k == 2.0 else format_params(self.period, self.k)
        return (f"bb_pctb_{p}", f"bb_width_{p}")

    def calls(self) -> list[Call]:
        k = float(self.k)
        return [("BBANDS", ("close",), {"timeperiod": self.period, "nbdevup": k, "nbdevdn": k, "matype": 0})]

    def finish(self, raw: list[tuple[FloatArray, ...]], bars: BarSeries) -> list[FloatArray]:
        upper, middle, lower = raw[0]
        return [_bollinger_position(bars.close, upper, lower), (upper - lower) / middle]

    def finish_one(self, raw: list[tuple[float, ...]], c: float, v: float) -> list[float]:
        upper, middle, lower = raw[0]
        width = upper - lower
        if width > 0.0:
            position = (c - lower) / width
        else:
            position = 0.5 if width == 0.0 else NAN
        return [position, width / middle]


@dataclass(frozen=True)
class ADX(TABlock):
    """adx_{period}, plus_di_{period}, minus_di_{period}: TA-Lib's trend strength and directional indicators,
    0..100."""

    period: int = 14

    def __post_init__(self) -> None:
        positive_int("ADX period", self.period, minimum=2)

    @property
    def columns(self) -> tuple[str, ...]:
        return (f"adx_{self.period}", f"plus_di_{self.period}", f"minus_di_{self.period}")

    def calls(self) -> list[Call]:
        hlc = ("high", "low", "close")
        p = {"timeperiod": self.period}
        return [("ADX", hlc, p), ("PLUS_DI", hlc, p), ("MINUS_DI", hlc, p)]

    def finish(self, raw: list[tuple[FloatArray, ...]], bars: BarSeries) -> list[FloatArray]:
        return [raw[0][0], raw[1][0], raw[2][0]]

    def finish_one(self, raw: list[tuple[float, ...]], c: float, v: float) -> list[float]:
        return [raw[0][0], raw[1][0], raw[2][0]]


@dataclass(frozen=True)
class Volume(TABlock):
    """Volume against its recent past, over the last `window` bars (this one included).

    vol_z_{window}: (volume - mean) / population standard deviation (0 when the window's volume is constant);
    rel_vol_{window}: volume / mean (1 when the mean is 0, i.e. no volume at all in the window)."""

    window: int = 20

    def __post_init__(self) -> None:
        positive_int("Volume window", self.window, minimum=2)

    @property
    def columns(self) -> tuple[str, ...]:
        return (f"vol_z_{self.window}", f"rel_vol_{self.window}")

    def calls(self) -> list[Call]:
        w = self.window
        return [("SMA", ("volume",), {"timeperiod": w}), ("STDDEV", ("volume",), {"timeperiod": w, "nbdev": 1.0})]

    def finish(self, raw: list[tuple[FloatArray, ...]], bars: BarSeries) -> list[FloatArray]:
        v = bars.volume
        (mean,), (std,) = raw
        z = np.full(v.shape[0], np.nan)
        np.divide(v - mean, std, out=z, where=std > 0.0)
        z[std == 0.0] = 0.0
        rel = np.full(v.shape[0], np.nan)
        np.divide(v, mean, out=rel, where=mean > 0.0)
        rel[mean <= 0.0] = 1.0
        return [z, rel]

    def finish_one(self, raw: list[tuple[float, ...]], c: float, v: float) -> list[float]:
        (mean,), (std,) = raw
        if std > 0.0:
            z = (v - mean) / std
        else:
            z = 0.0 if std == 0.0 else NAN
        if mean > 0.0:
            rel = v / mean
        else:
            rel = 1.0 if mean <= 0.0 else NAN
        return [z, rel]


@dataclass(frozen=True)
class TAFunction(TABlock):
    """Any TA-Lib function by name with its parameters, e.g. TAFunction("CCI", {"timeperiod": 14}).

    Columns are the lower-case name, the output name for functions with several, and the parameter values
    (cci_14, stoch_slowk_5_3_0_3_0). scale="close" divides every output by the close (for outputs that are
    prices, such as moving averages)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    scale: Literal["none", "close"] = "none"

    def __post_init__(self) -> None:
        try:
            fn = ta_function(self.name)
        except Exception as exc:  # TA-Lib raises a plain Exception for unknown names
            raise ConfigError(f"TA-Lib has no function {self.name!r}; see talib.get_functions() for the list") from exc
        unknown = set(self.params) - set(fn.parameters)
        if unknown:
            raise ConfigError(
                f"TA-Lib {self.name} has no parameter {sorted(unknown)}; its parameters are {list(fn.parameters)}"
            )
        if self.scale not in ("none", "close"):
            raise ConfigError(f"scale must be 'none' or 'close', got {self.scale!r}")
        for cols in _inputs_of(self.name):
            if cols not in _BAR_INPUTS:
                raise ConfigError(f"TA-Lib {self.name} reads {cols!r}, which is not a bar column")

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items())), self.scale))

    @property
    def columns(self) -> tuple[str, ...]:
        fn = ta_function(self.name)
        fn.set_parameters(self.params)
        suffix = format_params(*fn.parameters.values())
        stem = self.name.lower()
        outputs = list(fn.output_names)
        if len(outputs) == 1:
            return (f"{stem}_{suffix}" if suffix else stem,)
        return tuple(f"{stem}_{out}_{suffix}" if suffix else f"{stem}_{out}" for out in outputs)

    def calls(self) -> list[Call]:
        return [(self.name, _inputs_of(self.name), dict(self.params))]

    def finish(self, raw: list[tuple[FloatArray, ...]], bars: BarSeries) -> list[FloatArray]:
        outs = [np.asarray(out, dtype=np.float64) for out in raw[0]]
        return [out / bars.close for out in outs] if self.scale == "close" else outs

    def finish_one(self, raw: list[tuple[float, ...]], c: float, v: float) -> list[float]:
        outs = [float(out) for out in raw[0]]
        return [out / c for out in outs] if self.scale == "close" else outs


def _inputs_of(name: str) -> tuple[str, ...]:
    cols: list[str] = []
    for value in ta_function(name).input_names.values():
        cols.extend([value] if isinstance(value, str) else list(value))
    return tuple(cols)

"""Labels for supervised learning, each with the span of bars whose prices it uses (what purging needs).

- `horizon_labels`: pytrader's buy / sell / hold from the close at t to the close at t + h ("granularity"), with
  a threshold that by default covers the round-trip fees, so "buy" means "would have paid after fees".
- `triple_barrier_labels`: López de Prado's triple barrier: the first of an upper barrier, a lower barrier
  (multiples of a volatility estimate, or fixed fractions) and a vertical barrier h bars ahead.
- `meta_labels` / `meta_labels_from_trades`: for a strategy's own trades, 1 when the trade made money after fees,
  else 0: the target of a model that filters the strategy's entries.

Classes are ints: 1 buy, -1 sell, 0 hold (meta-labels: 1 take, 0 skip). A sample whose outcome is not known from
the data (the last h bars, a trade still open) is unlabelled: `labelled` is False there, `label` 0 and `end` -1.
Sample i uses the prices of bars start[i]..end[i] (inclusive), the span to purge around test samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BUY, HOLD, SELL = 1, 0, -1
UPPER, VERTICAL, LOWER, BOTH = 1, 0, -1, 2  # which barrier a triple-barrier label hit
_CHUNK_CELLS = 1_000_000  # bars x horizon cells per block of the barrier search (~8 MB per float64 array)


@dataclass(frozen=True, eq=False)
class Labels:
    """One label per sample. ts: the sample's bar open time (int ns UTC); label: int8 class; labelled: whether the
    outcome is known; start / end: first and last bar index of the prices the label uses (end -1 when unlabelled);
    ret: the return the label was decided on (NaN when unlabelled)."""

    ts: IntArray
    label: npt.NDArray[np.int8]
    labelled: BoolArray
    start: IntArray
    end: IntArray
    ret: FloatArray

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def as_float(self) -> FloatArray:
        """The classes as floats with NaN where unlabelled."""
        return np.where(self.labelled, self.label.astype(np.float64), np.nan)

    def spans(self, mask: npt.ArrayLike | None = None) -> tuple[IntArray, IntArray]:
        """(start, end) of the labelled samples (and of `mask`, a boolean array over all samples, if given), in
        sample order: the label spans the splitters purge with."""
        keep = self.labelled if mask is None else self.labelled & np.asarray(mask, dtype=bool)
        return self.start[keep], self.end[keep]

    def counts(self) -> dict[int, int]:
        """How many labelled samples each class has."""
        values, counts = np.unique(self.label[self.labelled], return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame indexed by the samples' bar times (UTC): label (nullable Int8, <NA> when unlabelled),
        start, end, ret, and any extra per-sample arrays of the subclass."""
        index = pd.DatetimeIndex(np.asarray(self.ts, dtype="datetime64[ns]"), name="timestamp").tz_localize("UTC")
        data: dict[str, Any] = {
            "label": pd.array(np.where(self.labelled, self.label, 0), dtype="Int8"),
            "start": self.start,
            "end": self.end,
            "ret": self.ret,
        }
        data["label"][~self.labelled] = pd.NA
        data.update(self._extra())
        return pd.DataFrame(data, index=index)

    def _extra(self) -> dict[str, np.ndarray]:
        return {}


@dataclass(frozen=True, eq=False)
class BarrierLabels(Labels):
    """Triple-barrier labels. barrier: UPPER (1), LOWER (-1), VERTICAL (0) or BOTH (2: the upper and the lower
    barrier inside one bar, order unknown, labelled hold); upper / lower: the barrier prices."""

    barrier: npt.NDArray[np.int8]
    upper: FloatArray
    lower: FloatArray

    def _extra(self) -> dict[str, np.ndarray]:
        return {"barrier": self.barrier, "upper": self.upper, "lower": self.lower}


@dataclass(frozen=True, eq=False)
class MetaLabels(Labels):
    """Meta-labels, one per trade: label 1 when the trade made money after fees, else 0. start is the bar where
    the strategy decided (its signal), end the exit bar; side +1 long / -1 short; entry_idx / exit_idx the fill
    bars."""

    side: npt.NDArray[np.int8]
    entry_idx: IntArray
    exit_idx: IntArray

    def _extra(self) -> dict[str, np.ndarray]:
        return {"side": self.side, "entry_idx": self.entry_idx, "exit_idx": self.exit_idx}


def round_trip_threshold(fee_rate: float, margin: float = 0.0) -> float:
    """The move a trade must make to pay its fees: fee_rate on the way in and out, plus `margin`."""
    _check_rate("fee_rate", fee_rate)
    _check_rate("margin", margin)
    return 2.0 * fee_rate + margin


def horizon_labels(
    series: BarSeries,
    horizon: int,
    *,
    fee_rate: float = 0.001,
    margin: float = 0.0,
    threshold: float | None = None,
) -> Labels:
    """Buy / sell / hold from the close at t to the close at t + horizon ("granularity" in pytrader).

    ret = close[t + h] / close[t] - 1; buy (1) when ret > threshold, sell (-1) when ret < -threshold, hold (0)
    otherwise. threshold defaults to round_trip_threshold(fee_rate, margin) = 2 * fee_rate + margin, the move
    that pays for entering and leaving. The last `horizon` bars are unlabelled. Span: [t, t + h]."""
    h = _horizon(horizon, series)
    thr = round_trip_threshold(fee_rate, margin) if threshold is None else _check_rate("threshold", threshold)
    c = _closes(series)
    n = c.shape[0]
    ret = np.full(n, np.nan)
    ret[: n - h] = c[h:] / c[: n - h] - 1.0
    labelled = np.zeros(n, dtype=bool)
    labelled[: n - h] = True
    label = np.zeros(n, dtype=np.int8)
    label[labelled & (ret > thr)] = BUY
    label[labelled & (ret < -thr)] = SELL
    idx = np.arange(n, dtype=np.int64)
    end = np.where(labelled, idx + h, -1)
    return Labels(series.ts.copy(), label, labelled, idx, end, ret)


def triple_barrier_labels(
    series: BarSeries,
    horizon: int,
    *,
    upper: float | None = 2.0,
    lower: float | None = 2.0,
    volatility: str | npt.ArrayLike | None = "std",
    vol_window: int = 100,
    fee_rate: float = 0.001,
    margin: float = 0.0,
    intrabar: bool = False,
) -> BarrierLabels:
    """The first barrier the price reaches after bar t: upper (label 1), lower (-1) or the vertical one at
    t + horizon (1 / -1 when the return then beats ±(2 * fee_rate + margin), else 0).

    Barrier widths: with volatility="std" (default) upper and lower are multiples of sigma_t * sqrt(horizon),
    sigma_t the population standard deviation of the last `vol_window` close-to-close returns up to bar t (no
    look-ahead); an array gives sigma_t per bar instead; volatility=None makes upper and lower fixed fractions
    (0.01 = 1%). None for upper or lower removes that barrier. The path is the closes of t+1..t+h, or with
    intrabar=True the highs and lows (a bar reaching both barriers is BOTH, labelled hold: which came first is
    unknown). A sample is unlabelled while its volatility is unknown, and when no barrier is reached within the
    data before its vertical barrier lies beyond the last bar. Span: [t, the bar where the barrier was hit]."""
    h = _horizon(horizon, series)
    c = _closes(series)
    n = c.shape[0]
    min_ret = round_trip_threshold(fee_rate, margin)
    sigma = _volatility(c, volatility, vol_window, h)
    up_frac = _width("upper", upper, sigma, n)
    down_frac = _width("lower", lower, sigma, n)
    up_price = c * (1.0 + up_frac)
    down_price = c * (1.0 - down_frac)
    high = series.high if intrabar else c
    low = series.low if intrabar else c
    hit = np.full(n, -1, dtype=np.int64)  # bar of the first touch of a horizontal barrier
    which = np.zeros(n, dtype=np.int8)
    rows = max(1, _CHUNK_CELLS // h)
    for a in range(0, n - 1, rows):
        b = min(n - 1, a + rows)
        t = np.arange(a, b)
        steps = t[:, None] + np.arange(1, h + 1)[None, :]
        inside = steps < n
        steps = np.minimum(steps, n - 1)
        over = (high[steps] >= up_price[t, None]) & inside
        under = (low[steps] <= down_price[t, None]) & inside
        touched = over | under
        first = np.argmax(touched, axis=1)
        any_touch = touched[np.arange(len(t)), first]
        at = np.where(any_touch, t + 1 + first, -1)
        up_first = over[np.arange(len(t)), first] & any_touch
        down_first = under[np.arange(len(t)), first] & any_touch
        hit[a:b] = at
        which[a:b] = np.where(up_first & down_first, BOTH, np.where(up_first, UPPER, np.where(down_first, LOWER, 0)))
    known_width = ~np.isnan(up_frac) & ~np.isnan(down_frac)
    idx = np.arange(n, dtype=np.int64)
    vertical_in_data = idx + h <= n - 1
    horizontal = hit >= 0
    labelled = known_width & (horizontal | vertical_in_data)
    end = np.where(labelled, np.where(horizontal, hit, idx + h), -1)
    barrier = np.where(labelled & horizontal, which, VERTICAL).astype(np.int8)
    safe_end = np.maximum(end, 0)
    ret = np.where(labelled, c[safe_end] / c - 1.0, np.nan)
    if intrabar:  # a touch inside the bar: the barrier's own return
        ret = np.where(labelled & (barrier == UPPER), up_frac, ret)
        ret = np.where(labelled & (barrier == LOWER), -down_frac, ret)
    label = np.zeros(n, dtype=np.int8)
    label[labelled & (barrier == UPPER)] = BUY
    label[labelled & (barrier == LOWER)] = SELL
    vertical = labelled & (barrier == VERTICAL)
    label[vertical & (ret > min_ret)] = BUY
    label[vertical & (ret < -min_ret)] = SELL
    return BarrierLabels(series.ts.copy(), label, labelled, idx, end, ret, barrier, up_price, down_price)


def meta_labels(
    series: BarSeries,
    entry_idx: npt.ArrayLike,
    side: npt.ArrayLike,
    exit_idx: npt.ArrayLike,
    *,
    entry_price: npt.ArrayLike | None = None,
    exit_price: npt.ArrayLike | None = None,
    signal_idx: npt.ArrayLike | None = None,
    fee_rate: float = 0.001,
) -> MetaLabels:
    """Meta-labels of trades given by their bars: 1 when side * (exit / entry - 1) - fee_rate * (1 + exit /
    entry) > 0, i.e. the trade made money after paying fee_rate on its entry and exit value, else 0.

    Prices default to the closes of the entry and exit bars; signal_idx (default: the entry bar) is the bar the
    strategy decided on, where the meta-model's features are read. An exit_idx of -1 marks a trade still open:
    unlabelled. Span: [signal bar, exit bar]."""
    n = len(series)
    entry = _index_array("entry_idx", entry_idx, n)
    k = entry.shape[0]
    exit_ = _index_array("exit_idx", exit_idx, n, allow_open=True, length=k)
    signal = entry.copy() if signal_idx is None else _index_array("signal_idx", signal_idx, n, length=k)
    sides = _sides(side, k)
    if np.any(signal > entry):
        i = int(np.flatnonzero(signal > entry)[0])
        raise ConfigError(f"trade {i}: its signal bar {signal[i]} comes after its entry bar {entry[i]}")
    closed = exit_ >= 0
    if np.any(closed & (exit_ < entry)):
        i = int(np.flatnonzero(closed & (exit_ < entry))[0])
        raise ConfigError(f"trade {i} exits at bar {exit_[i]}, before its entry at bar {entry[i]}")
    c = _closes(series)
    p_in = c[entry] if entry_price is None else _price_array("entry_price", entry_price, k)
    p_out = np.where(closed, c[np.maximum(exit_, 0)], np.nan)
    if exit_price is not None:
        p_out = np.where(closed, _price_array("exit_price", exit_price, k, allow_nan=True), np.nan)
    fee = _check_rate("fee_rate", fee_rate)
    ratio = p_out / p_in
    net = sides * (ratio - 1.0) - fee * (1.0 + ratio)
    return _meta(series, signal, entry, exit_, sides, net, closed, 0.0)


def meta_labels_from_trades(
    trades: np.ndarray,
    series: BarSeries,
    *,
    fill: str = "next_open",
    min_return: float = 0.0,
    column: int | None = None,
) -> MetaLabels:
    """Meta-labels from a trade record array (tradeforge.fast.simulate(...).trades: fields entry_idx, exit_idx,
    side, return, column): 1 when the trade's return, net of the fees the simulation charged, is above
    `min_return` (raise it to demand a margin, or to charge fees a fee-free simulation left out), else 0.

    fill is how the simulation filled market orders: "next_open" puts the decision one bar before the entry
    fill, "close" on the entry bar. Trades still open at the end (exit_idx -1) are unlabelled. With several
    columns (a parameter sweep) pick one with `column`."""
    names = set(trades.dtype.names or ())
    missing = {"entry_idx", "exit_idx", "side", "return"} - names
    if missing:
        raise ConfigError(
            f"the trade records lack fields {sorted(missing)}: pass tradeforge.fast.simulate(...).trades, or use "
            "meta_labels() with entry and exit bars"
        )
    if fill not in ("next_open", "close"):
        raise ConfigError(f"fill must be 'next_open' or 'close' (as in the simulation), got {fill!r}")
    if "column" in names:
        columns = np.unique(trades["column"])
        if column is None and columns.size > 1:
            raise ConfigError(f"the trades come from {columns.size} columns: choose one with column=")
        if column is not None:
            if column not in columns:
                raise ConfigError(f"no trades in column {column}; the columns are {columns.tolist()}")
            trades = trades[trades["column"] == column]
    order = np.argsort(trades["entry_idx"], kind="stable")
    trades = trades[order]
    n = len(series)
    entry = _index_array("entry_idx", trades["entry_idx"], n)
    exit_ = _index_array("exit_idx", trades["exit_idx"], n, allow_open=True, length=entry.shape[0])
    signal = entry - 1 if fill == "next_open" else entry.copy()
    if np.any(signal < 0):
        raise ConfigError("a trade entered at bar 0 with fill='next_open' has no signal bar: check the fill setting")
    ret = np.asarray(trades["return"], dtype=np.float64)
    closed = (exit_ >= 0) & np.isfinite(ret)
    return _meta(series, signal, entry, exit_, _sides(trades["side"], entry.shape[0]), ret, closed, min_return)


# ------------------------------------------------------------------------------------------------ helpers
def _meta(
    series: BarSeries,
    signal: IntArray,
    entry: IntArray,
    exit_: IntArray,
    sides: npt.NDArray[np.int8],
    net: FloatArray,
    closed: BoolArray,
    min_return: float,
) -> MetaLabels:
    label = (closed & (net > min_return)).astype(np.int8)
    end = np.where(closed, exit_, -1)
    ret = np.where(closed, net, np.nan)
    return MetaLabels(series.ts[signal], label, closed, signal, end, ret, sides, entry, exit_)


def _horizon(horizon: object, series: BarSeries) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or int(horizon) < 1:
        raise ConfigError(f"the label horizon must be a whole number of bars >= 1, got {horizon!r}")
    if int(horizon) >= len(series):
        raise ConfigError(
            f"a horizon of {horizon} bars leaves no labelled bar in the {len(series)} bars of {series.symbol}: "
            "use a shorter horizon or more history"
        )
    return int(horizon)


def _check_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0.0 <= float(value) < 1.0):
        raise ConfigError(f"{name} must be a fraction in [0, 1) (0.001 = 0.1%), got {value!r}")
    return float(value)


def _closes(series: BarSeries) -> FloatArray:
    c = np.asarray(series.close, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(c) | (c <= 0.0))
    if bad.size:
        raise DataError(f"{series.symbol}: close is NaN, infinite or not positive at row {int(bad[0])}; fix the bars")
    return c


def _volatility(c: FloatArray, volatility: str | npt.ArrayLike | None, window: int, h: int) -> FloatArray | None:
    """sigma_t * sqrt(h) per bar (NaN while unknown), or None for fixed fractions."""
    n = c.shape[0]
    if volatility is None:
        return None
    if isinstance(volatility, str):
        if volatility != "std":
            raise ConfigError(f"volatility must be 'std', an array of one value per bar, or None, got {volatility!r}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ConfigError(f"vol_window must be a whole number of bars >= 2, got {window!r}")
        if window >= n:
            raise ConfigError(f"vol_window={window} is longer than the {n} bars: use a shorter window")
        returns = c[1:] / c[:-1] - 1.0
        sigma: FloatArray = np.full(n, np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(returns, window)
        sigma[window:] = windows.std(axis=1)
    else:
        sigma = np.asarray(volatility, dtype=np.float64)
        if sigma.shape != (n,):
            raise ConfigError(f"volatility has shape {sigma.shape}; give one value per bar ({n})")
        if np.any(sigma[np.isfinite(sigma)] < 0):
            raise ConfigError("volatility values must not be negative")
    scaled: FloatArray = sigma * np.sqrt(h)
    return scaled


def _width(name: str, multiple: float | None, sigma: FloatArray | None, n: int) -> FloatArray:
    if multiple is None:
        return np.full(n, np.inf)
    if isinstance(multiple, bool) or not isinstance(multiple, int | float) or not multiple > 0:
        raise ConfigError(f"the {name} barrier must be > 0 (or None for no such barrier), got {multiple!r}")
    if sigma is None:
        if name == "lower" and multiple >= 1.0:
            raise ConfigError(f"a fixed lower barrier of {multiple} would put it at or below a price of 0: use < 1")
        return np.full(n, float(multiple))
    return float(multiple) * sigma


def _index_array(
    name: str, values: npt.ArrayLike, n: int, *, allow_open: bool = False, length: int | None = None
) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ConfigError(f"{name} must be a 1-D array of bar indices (integers)")
    arr = arr.astype(np.int64)
    if length is not None and arr.shape[0] != length:
        raise ConfigError(f"{name} has {arr.shape[0]} values for {length} trades")
    low = -1 if allow_open else 0
    bad = np.flatnonzero((arr < low) | (arr >= n))
    if bad.size:
        raise ConfigError(f"{name}[{int(bad[0])}] = {int(arr[bad[0]])} is not a bar index of the {n} bars")
    return arr


def _price_array(name: str, values: npt.ArrayLike, k: int, *, allow_nan: bool = False) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (k,):
        raise ConfigError(f"{name} has shape {arr.shape}; give one price per trade ({k})")
    bad = ~(arr > 0) & ~(allow_nan & np.isnan(arr))
    if np.any(bad):
        raise ConfigError(f"{name}[{int(np.flatnonzero(bad)[0])}] is not a positive price")
    return arr


def _sides(side: npt.ArrayLike, k: int) -> npt.NDArray[np.int8]:
    arr = np.asarray(side)
    if arr.shape != (k,) or not np.all(np.isin(arr, (1, -1))):
        raise ConfigError(f"side must hold one value per trade ({k}), each 1 (long) or -1 (short)")
    return arr.astype(np.int8)

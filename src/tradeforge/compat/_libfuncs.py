"""Pure helper functions of Backtesting.py 0.6.6's ``backtesting.lib``, reimplemented for ``tradeforge.compat``.

Same inputs and results as the originals: ``crossover``, ``cross``, ``barssince``, ``quantile``,
``random_ohlc_data`` plus the ``OHLCV_AGG`` / ``TRADES_AGG`` resampling rules. ``plot_heatmaps`` draws with
plotly instead of bokeh and writes one offline, self-contained HTML file.

Differences (apart from the return types, only where the original raises):

* pandas Series are read by position. Backtesting.py indexes them with ``series[-1]``, which pandas 3 treats as
  a label lookup (KeyError unless the index is a RangeIndex); here they behave like their values array.
* ``crossover``/``cross`` always return a Python ``bool`` (the original returns ``numpy.bool_`` for arrays).
* ``quantile`` also takes plain lists; a quantile outside [0, 1] raises QuantileRangeError, which is both the
  AssertionError Backtesting.py raises (via ``assert``) and a ValueError.
* ``random_ohlc_data`` checks its input when called, not on the first ``next()``, and a ``frac`` other than 1
  raises a ValueError saying why (the original fails with a pandas length-mismatch or duplicate-label error).
* ``plot_heatmaps`` returns the path of the HTML file it wrote and does not open a browser by default.
"""

from __future__ import annotations

import math
import os
import webbrowser
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable
from itertools import combinations
from numbers import Number
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.compat.notebook import in_notebook, show_inline

__all__ = [
    "OHLCV_AGG",
    "TRADES_AGG",
    "barssince",
    "cross",
    "crossover",
    "plot_heatmaps",
    "quantile",
    "random_ohlc_data",
]

OHLCV_AGG: OrderedDict[str, str] = OrderedDict(
    [("Open", "first"), ("High", "max"), ("Low", "min"), ("Close", "last"), ("Volume", "sum")]
)
"""How to aggregate each OHLCV column when resampling bars: ``df.resample('4h', label='right').agg(OHLCV_AGG)``."""

TRADES_AGG: OrderedDict[str, str] = OrderedDict(
    [
        ("Size", "sum"),
        ("EntryBar", "first"),
        ("ExitBar", "last"),
        ("EntryPrice", "mean"),
        ("ExitPrice", "mean"),
        ("PnL", "sum"),
        ("ReturnPct", "mean"),
        ("EntryTime", "first"),
        ("ExitTime", "last"),
        ("Duration", "sum"),
    ]
)
"""How to aggregate the columns of a ``stats['_trades']`` frame when resampling it, e.g.
``stats['_trades'].resample('1D', on='ExitTime', label='right').agg(TRADES_AGG)``."""

_F64 = np.dtype(np.float64)
_ND = np.ndarray
_EXACT_INT = 2**53  # Python ints within this range compare with a float64 exactly as numpy would
_OHLC = ("Open", "High", "Low", "Close")


class QuantileRangeError(ValueError, AssertionError):
    """``quantile`` outside [0, 1]. An AssertionError too, which is what Backtesting.py raises (via assert)."""


# --------------------------------------------------------------------------------------------- crossings


def _pairable(series: Any) -> Any:
    """What the crossing test indexes: a Series' values, a number repeated for both bars, anything else as is."""
    if isinstance(series, pd.Series):
        return series.values
    if isinstance(series, Number):
        return (series, series)
    return series


def _crossover_general(series1: Any, series2: Any) -> bool:
    first, second = _pairable(series1), _pairable(series2)
    try:
        return bool(first[-2] < second[-2] and first[-1] > second[-1])
    except IndexError:  # fewer than two bars (or a 0-d array): no crossing yet
        return False


def _level(value: object) -> float | None:
    """`value` as a Python float when comparing with it gives what numpy's comparison would, else None.

    Floats (numpy float64 included) convert exactly; ints do within +-2**53 (numpy compares a Python int with a
    float64 as a float64). bool and other Numbers (Decimal, Fraction, numpy ints) take the general path.
    """
    if isinstance(value, float) or (type(value) is int and -_EXACT_INT <= value <= _EXACT_INT):
        return float(value)
    return None


def crossover(series1: Any, series2: Any) -> bool:
    """True if `series1` was below `series2` on the previous bar and is above it on the last bar.

    Either argument may be an array (numpy, an ndarray subclass such as ``Strategy.data.Close``), a pandas
    Series (read by position), a sequence, or a number (the same level on both bars). Arrays shorter than
    two bars give False, and so does NaN on either bar.

        >>> crossover(self.sma_fast, self.sma_slow)
        True
    """
    # Hot path (called on every bar): 1-D float64 arrays, or one and a plain number. Python floats read with
    # .item() compare exactly like numpy float64 scalars, without building numpy scalars or temporary arrays.
    if isinstance(series1, _ND) and series1.dtype is _F64 and series1.ndim == 1:
        if isinstance(series2, _ND):
            if series2.dtype is _F64 and series2.ndim == 1:
                try:
                    crossed: bool = series1.item(-2) < series2.item(-2) and series1.item(-1) > series2.item(-1)
                except IndexError:
                    return False
                return crossed
        else:
            level = series2 if type(series2) is float else _level(series2)
            if level is not None:
                try:
                    above: bool = series1.item(-2) < level and series1.item(-1) > level
                except IndexError:
                    return False
                return above
    elif isinstance(series2, _ND) and series2.dtype is _F64 and series2.ndim == 1:
        level = series1 if type(series1) is float else _level(series1)
        if level is not None:
            try:
                below: bool = level < series2.item(-2) and level > series2.item(-1)
            except IndexError:
                return False
            return below
    return _crossover_general(series1, series2)


def cross(series1: Any, series2: Any) -> bool:
    """True if `series1` and `series2` just crossed each other, in either direction (see `crossover`).

    >>> cross(self.data.Close, self.sma)
    True
    """
    if isinstance(series1, _ND) and series1.dtype is _F64 and series1.ndim == 1:
        if isinstance(series2, _ND):
            if series2.dtype is _F64 and series2.ndim == 1:
                try:
                    before1, before2 = series1.item(-2), series2.item(-2)
                    now1, now2 = series1.item(-1), series2.item(-1)
                except IndexError:
                    return False
                crossed: bool = (before1 < before2 and now1 > now2) or (before2 < before1 and now2 > now1)
                return crossed
        else:
            level = series2 if type(series2) is float else _level(series2)
            if level is not None:
                return _crosses_level(series1, level)
    elif isinstance(series2, _ND) and series2.dtype is _F64 and series2.ndim == 1:
        level = series1 if type(series1) is float else _level(series1)
        if level is not None:
            return _crosses_level(series2, level)
    return crossover(series1, series2) or crossover(series2, series1)


def _crosses_level(values: npt.NDArray[np.float64], level: float) -> bool:
    try:
        before, now = values.item(-2), values.item(-1)
    except IndexError:
        return False
    crossed: bool = (before < level and now > level) or (level < before and level > now)
    return crossed


# ----------------------------------------------------------------------------------------------- barssince

_FIRST_CHUNK = 64


def barssince(condition: Any, default: Any = np.inf) -> Any:
    """How many bars ago `condition` was last true (0 = on the last bar), or `default` if it never was.

    Elements count as true by Python truthiness, so NaN counts as true and 0.0 as false.

        >>> barssince(self.data.Close > self.data.Open)
        3
    """
    values = condition.to_numpy() if isinstance(condition, pd.Series) else condition
    if isinstance(values, _ND) and values.ndim == 1 and values.dtype.kind in "biufc":
        # numpy's nonzero agrees with truthiness for these dtypes (NaN is nonzero). Search backwards in growing
        # chunks so a recent hit costs little on a long array.
        size = values.shape[0]
        end, chunk = size, _FIRST_CHUNK
        while end > 0:
            start = max(0, end - chunk)
            hits = np.flatnonzero(values[start:end])
            if hits.size:
                return size - 1 - (start + int(hits[-1]))
            end, chunk = start, chunk * 4
        return default
    for bars_ago, value in enumerate(reversed(values)):
        if value:
            return bars_ago
    return default


# ------------------------------------------------------------------------------------------------ quantile


def quantile(series: Any, quantile: float | None = None) -> Any:
    """With ``quantile=None``: the share of earlier values of `series` below its last value (its quantile rank).
    With a number in [0, 1]: the value of `series` at that quantile, ignoring NaN.

        >>> quantile(self.data.Close[-20:], .1)
        162.130
        >>> quantile(self.data.Close)
        0.13
    """
    values = series.to_numpy() if isinstance(series, pd.Series | pd.DataFrame) else np.asarray(series)
    if quantile is None:
        try:
            last = values[-1]
        except IndexError:  # empty
            return np.nan
        return np.mean(values[:-1] < last)
    if not 0 <= quantile <= 1:
        raise QuantileRangeError(f"quantile must be within [0, 1], got {quantile!r} (for percentiles divide by 100)")
    return np.nanpercentile(values, quantile * 100)


# ---------------------------------------------------------------------------------------- random_ohlc_data


def random_ohlc_data(
    example_data: pd.DataFrame, *, frac: float = 1.0, random_state: Any = None
) -> Generator[pd.DataFrame, None, None]:
    """An endless generator of random OHLC frames statistically like `example_data`.

    Each frame is `example_data`'s bars in random order, shifted so each
    bar opens where the previous one closed plus a real overnight gap, on `example_data`'s index. High/Low stay
    consistent with Open/Close because all four prices of a bar move by the same amount; other columns (Volume)
    travel with their bar. With an int `random_state` every frame is the same (as in Backtesting.py); pass a
    ``numpy.random.Generator`` or ``RandomState`` for a reproducible sequence of different frames.

    `frac` must keep every row exactly once, as the frames reuse `example_data`'s index: 1.0 (or a fraction just
    below 1 that still rounds to all rows). Backtesting.py fails for other values too, with a pandas error.

        >>> frames = random_ohlc_data(GOOG, random_state=np.random.default_rng(1))
        >>> next(frames)  # a new random frame on every call
    """
    if not isinstance(example_data, pd.DataFrame) or not set(_OHLC).issubset(example_data.columns):
        raise ValueError("`example_data` must be a pandas.DataFrame with columns 'Open', 'High', 'Low', 'Close'")
    rows = len(example_data)
    if frac > 1 or round(frac * rows) != rows:
        # Backtesting.py fails here too (pandas length mismatch, or duplicate labels when sampling with
        # replacement): the frames are built on example_data's index, so the bars must be a permutation.
        raise ValueError(
            f"random_ohlc_data() returns frames on example_data's index ({rows} rows), so frac must keep every "
            f"row once; frac={frac!r} does not (it samples {round(frac * rows)} rows"
            f"{' with replacement' if frac > 1 else ''}); pass frac=1, or slice example_data to the length you want"
        )
    return _random_frames(example_data, frac, random_state)


def _random_frames(example: pd.DataFrame, frac: float, random_state: Any) -> Generator[pd.DataFrame, None, None]:
    def sample(data: Any) -> Any:
        return data.sample(frac=frac, random_state=random_state)

    overnight = example["Open"].shift(-1) - example["Close"]  # gap from each close to the next open
    while True:
        frame = sample(example)
        gaps = sample(overnight)
        frame.index = example.index
        # Bring each sampled bar's open to the previous bar's close (undoing the jump between shuffled bars),
        # then add a real gap. The gaps are drawn by sampling, as Backtesting.py does (it also advances the
        # random state identically), and pandas aligns them back by label, so they follow example's order.
        jumps = frame["Close"] - frame["Open"].shift(-1)
        offsets = (jumps + gaps).shift(1).fillna(0).cumsum()
        for column in _OHLC:
            frame[column] += offsets
        yield frame


# ------------------------------------------------------------------------------------------- plot_heatmaps


def plot_heatmaps(
    heatmap: pd.Series,
    agg: str | Callable[..., Any] = "max",
    *,
    ncols: int = 3,
    plot_width: int = 1200,
    filename: str = "",
    open_browser: bool = False,
    notebook: bool | None = None,
) -> Path | None:
    """Draw one heatmap per pair of optimization parameters and write them to an offline HTML file.

    `heatmap` is the Series ``Backtest.optimize(..., return_heatmap=True)`` returns: values indexed by a
    MultiIndex with one level per parameter. For every pair of parameters, the values are aggregated over the
    other parameters with `agg` (anything pandas' ``groupby(...).agg`` accepts: 'max', 'mean', a function).
    All heatmaps share one colour scale; NaN cells stay empty. The figures are laid out `ncols` per row, each
    ``plot_width // ncols`` pixels square.

    The file (plotly.js inlined, works offline) is `filename` (".html" appended when missing), by default
    "heatmaps.html" in the working directory. Returns its absolute path; `open_browser=True` also opens it.
    In a Jupyter notebook (or with notebook=True) and no filename, the heatmaps are shown inline instead and
    None is returned, as Backtesting.py does (see tradeforge.compat.notebook).
    """
    if not isinstance(heatmap, pd.Series) or not isinstance(heatmap.index, pd.MultiIndex):
        got = type(heatmap).__name__
        if isinstance(heatmap, pd.Series):
            got = f"a Series with a {type(heatmap.index).__name__}"
        raise ValueError(
            "plot_heatmaps() needs a pandas Series indexed by a MultiIndex with one level per parameter, as "
            f"returned by Backtest.optimize(..., return_heatmap=True); got {got}"
        )
    if heatmap.index.nlevels < 2:
        raise ValueError(
            "plot_heatmaps() needs at least two optimization parameters (index levels) to plot; got one "
            f"({heatmap.index.names[0]!r}); optimize over two or more parameters with return_heatmap=True"
        )
    if int(ncols) < 1:
        raise ValueError(f"ncols must be a positive number of heatmaps per row, got {ncols!r}")
    if int(plot_width) < 1:
        raise ValueError(f"plot_width must be a positive number of pixels, got {plot_width!r}")

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = [_level_name(name, i) for i, name in enumerate(heatmap.index.names)]
    pairs = list(combinations(range(len(names)), 2))
    tables = [heatmap.groupby(level=[i, j]).agg(agg).unstack(level=0) for i, j in pairs]
    grids = [table.to_numpy(dtype=float) for table in tables]
    finite = [grid[np.isfinite(grid)] for grid in grids]
    low = min((float(v.min()) for v in finite if v.size), default=None)
    high = max((float(v.max()) for v in finite if v.size), default=None)

    cols = min(int(ncols), len(pairs))
    rows = math.ceil(len(pairs) / cols)
    side = int(plot_width) // int(ncols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{names[j]} vs {names[i]}" for i, j in pairs],
        horizontal_spacing=min(0.08, 0.5 / cols),
        vertical_spacing=min(0.12, 0.6 / rows),
    )
    for k, ((i, j), table, grid) in enumerate(zip(pairs, tables, grids, strict=True)):
        row, col = divmod(k, cols)
        fig.add_trace(
            go.Heatmap(
                x=[str(v) for v in table.columns],
                y=[str(v) for v in table.index],
                z=grid,
                coloraxis="coloraxis",
                xgap=1,
                ygap=1,
                hovertemplate=f"{names[i]}=%{{x}}<br>{names[j]}=%{{y}}<br>value=%{{z:.4~g}}<extra></extra>",
                name=f"{names[i]} × {names[j]}",
            ),
            row=row + 1,
            col=col + 1,
        )
        fig.update_xaxes(type="category", title_text=names[i], row=row + 1, col=col + 1)
        fig.update_yaxes(type="category", title_text=names[j], row=row + 1, col=col + 1)
    agg_name = agg if isinstance(agg, str) else getattr(agg, "__name__", repr(agg))
    value_name = heatmap.name if heatmap.name is not None else "value"
    fig.update_layout(
        title=f"{value_name} by parameter pair ({agg_name} over the other parameters)",
        template="plotly_white",
        width=side * cols + 140,
        height=side * rows + 120,
        coloraxis={"colorscale": "Viridis", "cmin": low, "cmax": high, "colorbar": {"title": {"text": agg_name}}},
    )

    config = {"displaylogo": False}
    if not filename and (in_notebook() if notebook is None else notebook) and show_inline(fig, config):
        return None
    path = Path(os.path.abspath(os.path.expanduser(filename or "heatmaps.html")))
    if not path.name.endswith(".html"):
        path = path.with_name(path.name + ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True, config=config)
    if open_browser:
        webbrowser.open(path.as_uri())
    return path


def _level_name(name: Hashable, position: int) -> str:
    return f"level {position}" if name is None else str(name)

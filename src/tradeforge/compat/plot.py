"""The engine behind Backtest.plot(): one interactive HTML chart, offline and self-contained by default (plotly.js
inlined, ~5 MB; plotly_js="cdn" loads it from the plotly CDN instead, a .js path shares one local copy).

Panels, top to bottom: equity (running peak, final value, max drawdown and its longest duration; drawdown dents
shaded), drawdown (optional), per-trade P/L, allocation (multi-asset), price candles with overlays, trades and a
faint higher-time-frame OHLC, volume, the other symbols' candles, one panel per non-overlay indicator. All panels
share one x axis (zoom, scroll-zoom, range buttons); hover shows the values.

Only what is DRAWN is downsampled: above `max_points` bars (default _MAX_CANDLES, with a UserWarning as
Backtesting.py warns when it resamples), bars are merged into buckets of consecutive bars
(first open, highest high, lowest low, last close, summed volume; lines keep each bucket's last value, the equity
shading each bucket's low so drawdowns stay visible). Peaks, drawdowns and trades are computed on the full data.
Units follow Backtesting.py: DrawdownPct and ReturnPct are fractions (0.1 = 10 %).
"""

from __future__ import annotations

import html
import numbers
import os
import re
import warnings
import webbrowser
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from tradeforge.compat import _plot_downsample as ds
from tradeforge.compat.notebook import in_notebook, show_inline
from tradeforge.core.errors import ConfigError
from tradeforge.report.charts import GREEN, GREY, RED

FloatArray = ds.FloatArray
OHLC_COLUMNS = ("Open", "High", "Low", "Close")
TRADE_COLUMNS = ("Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "ReturnPct")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
HEIGHTS = {"equity": 210, "drawdown": 110, "pl": 130, "allocation": 150, "price": 430, "volume": 90}
HEIGHTS |= {"symbol": 260, "indicator": 130}
SPACING_PX = 16
MARGIN = {"l": 70, "r": 200, "t": 100, "b": 50}
_MAX_CANDLES = 10_000  # default max_points: above it, resample=True merges bars for drawing (Backtesting.py's name)
MAX_VOLUME_BARS = 2_000  # above: volume is one step-area path instead of thousands of SVG bars
SCATTERGL_ABOVE = 2_000  # marker traces with more points use WebGL
STATS_IN_SUBTITLE = ("Return [%]", "Buy & Hold Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "Win Rate [%]")


class PlotValueError(ConfigError, ValueError):
    """An argument of plot_backtest has a wrong value; the message says which and how to fix it."""


class PlotTypeError(ConfigError, TypeError):
    """An argument of plot_backtest has a wrong type."""


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator to draw, as Backtesting.py's Strategy.I() records it."""

    name: str | list[str]  # one name, or one per row of a 2-D indicator
    values: np.ndarray  # shape (n,) or (k, n), aligned with ohlc rows
    overlay: bool  # True: draw on the price panel; False: own panel below
    color: str | list[str] | None = None
    scatter: bool = False  # markers instead of lines
    plot: bool = True  # False: not drawn


@dataclass
class _Ctx:
    """The shared x axis: every bar's x (ms since the epoch on the index's wall clock, or bar number)."""

    x: FloatArray
    index: pd.Index
    is_date: bool
    buckets: ds.Buckets
    xb: FloatArray  # x of each drawn bucket: its last bar (like Backtesting.py's label="right")
    max_points: int
    notes: list[str] = field(default_factory=list)
    colors: int = 0

    def next_color(self) -> str:
        self.colors += 1
        return PALETTE[(self.colors - 1) % len(PALETTE)]

    def span(self, start: int, end: int) -> str:
        if not self.is_date:
            return f"{end - start} bars"
        return str(pd.Timedelta(self.index[end] - self.index[start])).replace(" 00:00:00", "")


@dataclass
class _Panel:
    ytitle: str
    height: int
    traces: list[Any] = field(default_factory=list)
    yaxis: dict[str, Any] = field(default_factory=dict)
    zero_line: bool = False


@dataclass(frozen=True)
class _Prices:
    name: str
    o: FloatArray
    h: FloatArray
    lo: FloatArray
    c: FloatArray
    v: FloatArray | None


def _floats(values: Any, what: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PlotTypeError(f"{what} must be numeric ({exc}); convert it with pd.to_numeric first") from exc


def _prices(frame: Any, name: str, what: str) -> _Prices:
    if not isinstance(frame, pd.DataFrame):
        raise PlotTypeError(
            f"{what} must be a pandas DataFrame with columns Open, High, Low, Close, not {type(frame).__name__}"
        )
    missing = [c for c in OHLC_COLUMNS if c not in frame.columns]
    if missing:
        raise PlotValueError(
            f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns)) or 'none'}. "
            "Rename them to Open, High, Low, Close (and optionally Volume), case-sensitive"
        )
    if len(frame) == 0:
        raise PlotValueError(f"{what} has no rows; pass at least one bar")
    volume = _floats(frame["Volume"], f"{what}['Volume']") if "Volume" in frame.columns else None
    if volume is not None and not np.nansum(np.abs(volume)) > 0:
        volume = None
    o, h, lo, c = (_floats(frame[col], f"{what}[{col!r}]") for col in OHLC_COLUMNS)
    return _Prices(name, o, h, lo, c, volume)


def _context(index: pd.Index, resample: bool | str, max_points: int) -> _Ctx:
    n = len(index)
    is_date = isinstance(index, pd.DatetimeIndex)
    if isinstance(index, pd.DatetimeIndex):
        if not index.is_monotonic_increasing:
            raise PlotValueError("the DatetimeIndex of ohlc is not sorted in time; sort it with ohlc.sort_index()")
        wall = index.tz_localize(None) if index.tz is not None else index
        per_ms = {"s": 1e-3, "ms": 1.0, "us": 1e3, "ns": 1e6}[wall.unit]
        x = wall.asi8.astype(np.float64) / per_ms
    else:
        x = np.arange(n, dtype=np.float64)
    if isinstance(resample, bool):
        buckets = ds.by_count(n, max_points) if resample and n > max_points else ds.every_bar(n)
    elif isinstance(resample, str):
        if not isinstance(index, pd.DatetimeIndex):
            raise PlotValueError(f"resample={resample!r} needs a DatetimeIndex; with bar numbers pass resample=True")
        buckets = ds.by_time(index, resample)
    else:
        raise PlotTypeError(f"resample must be True, False or a pandas offset like 'W', not {resample!r}")
    ctx = _Ctx(x, index, is_date, buckets, x[buckets.ends], max_points)
    if buckets.downsampled:
        how = f"resampled to {buckets.rule!r}" if buckets.rule else f"buckets of {buckets.starts[1]:,} bars"
        ctx.notes.append(
            f"Downsampled ×{buckets.factor:,.1f} for drawing: {n:,} bars shown as {buckets.count:,} candles ({how}; "
            "lines show each bucket's last value, equity shading its low)"
        )
    return ctx


def _trades(stats: pd.Series, n: int) -> tuple[ds.TradeMarks, np.ndarray | None]:
    """The closed trades of stats['_trades'] and their Symbol column (None when absent)."""
    frame = stats.get("_trades")
    if frame is None or (isinstance(frame, pd.DataFrame) and len(frame) == 0):
        return ds.TradeMarks.empty(), None
    if not isinstance(frame, pd.DataFrame):
        raise PlotTypeError(f"stats['_trades'] must be a DataFrame (one row per trade), not {type(frame).__name__}")
    missing = [c for c in TRADE_COLUMNS if c not in frame.columns]
    if missing:
        raise PlotValueError(f"stats['_trades'] lacks column(s) {', '.join(missing)}; pass Backtest.run()'s stats")
    frame = frame[np.isfinite(_floats(frame["ExitBar"], "stats['_trades']['ExitBar']"))]
    entry, exit_ = (_floats(frame[c], f"stats['_trades'][{c!r}]").astype(np.int64) for c in ("EntryBar", "ExitBar"))
    if len(frame) and (min(entry.min(), exit_.min()) < 0 or max(entry.max(), exit_.max()) >= n):
        raise PlotValueError(f"stats['_trades'] has EntryBar/ExitBar outside 0..{n - 1}; were the stats run on ohlc?")
    pnl = _floats(frame["PnL"], "PnL") if "PnL" in frame.columns else np.full(len(frame), np.nan)
    marks = ds.TradeMarks(
        entry_bar=entry,
        exit_bar=exit_,
        entry_price=_floats(frame["EntryPrice"], "EntryPrice"),
        exit_price=_floats(frame["ExitPrice"], "ExitPrice"),
        size=_floats(frame["Size"], "Size"),
        return_pct=_floats(frame["ReturnPct"], "ReturnPct"),
        pnl=pnl,
        count=np.ones(len(frame), np.int64),
        number=np.arange(1, len(frame) + 1, dtype=np.int64),
    )
    symbols = frame["Symbol"].astype(str).to_numpy() if "Symbol" in frame.columns else None
    return marks, symbols


def _lines(x: Any, y: Any, name: str, color: str | None, width: float = 1.3, **extra: Any) -> go.Scatter:
    return go.Scatter(x=x, y=y, mode="lines", name=name, line={"color": color, "width": width}, **extra)


def _markers(x: Any, y: Any, name: str, marker: dict[str, Any], **extra: Any) -> go.Scatter | go.Scattergl:
    """Markers, drawn with WebGL when there are many (thousands of SVG markers make zooming sluggish)."""
    trace = go.Scattergl if len(x) > SCATTERGL_ABOVE else go.Scatter
    return trace(x=x, y=y, mode="markers", name=name, marker={"line": {"width": 1, "color": GREY}, **marker}, **extra)


def _point(name: str, x: float, y: float, color: str) -> go.Scatter:
    return _markers([x], [y], name, {"color": color, "size": 9}, hovertemplate="%{y:,.2f}")


def _segments(x0: FloatArray, x1: FloatArray, y0: FloatArray, y1: FloatArray) -> tuple[FloatArray, FloatArray]:
    """One line trace's x and y for many separate segments (NaN between them breaks the line)."""
    gap = np.full(x0.shape[0], np.nan)
    return np.column_stack([x0, x1, gap]).ravel(), np.column_stack([y0, y1, gap]).ravel()


def _equity_panels(
    ctx: _Ctx,
    curve: pd.DataFrame,
    exits: np.ndarray,
    *,
    plot_return: bool,
    relative: bool,
    smooth: bool,
    plot_equity: bool,
    plot_drawdown: bool,
) -> list[_Panel]:
    equity = _floats(curve["Equity"], "stats['_equity_curve']['Equity']")
    if "DrawdownPct" in curve.columns:
        dd = np.nan_to_num(_floats(curve["DrawdownPct"], "stats['_equity_curve']['DrawdownPct']"))
    else:
        dd = 1 - equity / np.fmax.accumulate(equity)
    n, dd_i = equity.shape[0], int(np.argmax(dd))
    longest = ds.longest_drawdown(equity)
    if smooth:
        keys = [0, n - 1, int(np.nanargmax(equity)), dd_i, *(longest or ())]
        sel = np.unique(np.clip(np.concatenate([exits, keys]), 0, n - 1).astype(np.int64))
        equity = np.interp(np.arange(n), sel, equity[sel])
    label = "Return" if plot_return else "Equity"
    if relative:
        if not (np.isfinite(equity[0]) and equity[0] != 0):
            raise PlotValueError(
                "relative_equity=True needs a finite, non-zero first Equity; pass relative_equity=False"
            )
        shown, unit, ytitle = equity / equity[0] * 100 - (100 if plot_return else 0), "%", f"{label} [%]"
    else:
        shown, unit, ytitle = (equity - equity[0] if plot_return else equity), "", label
    panels: list[_Panel] = []
    b, xb = ctx.buckets, ctx.xb
    if plot_equity:
        eq = _Panel(ytitle, HEIGHTS["equity"])
        peak = ds.last(np.fmax.accumulate(shown), b)
        low, high = ds.low(shown, b), ds.high(shown, b)
        hover = f"%{{y:,.2f}}{unit}"
        if b.downsampled:
            hover += f" (bucket low %{{customdata[0]:,.2f}}{unit}, high %{{customdata[1]:,.2f}}{unit})"
        custom = np.column_stack([low, high]) if b.downsampled else None
        dents = {"fill": "tonexty", "fillcolor": "rgba(255, 203, 102, 0.3)"}
        eq.traces += [  # the area between the running peak and each bucket's low: the drawdown dents
            _lines(xb, peak, "Running peak", "#ffcb66", 1, hoverinfo="skip", showlegend=False),
            _lines(xb, low, "Drawdown area", None, 0, hoverinfo="skip", showlegend=False, **dents),
            _lines(xb, ds.last(shown, b), label, "#1f77b4", 1.5, customdata=custom, hovertemplate=hover),
        ]
        top = int(np.nanargmax(shown))
        eq.traces.append(_point(f"Peak ({shown[top]:,.2f}{unit})", ctx.x[top], shown[top], "cyan"))
        eq.traces.append(_point(f"Final ({shown[-1]:,.2f}{unit})", ctx.x[-1], shown[-1], "blue"))
        if not plot_drawdown:
            eq.traces.append(_point(f"Max Drawdown (-{dd[dd_i] * 100:.1f}%)", ctx.x[dd_i], shown[dd_i], "red"))
        if longest is not None:
            start, end = longest
            name = f"Max Dd Dur. ({ctx.span(start, end)})"
            eq.traces.append(_lines([ctx.x[start], ctx.x[end]], [shown[start]] * 2, name, "red", 2, hoverinfo="skip"))
        panels.append(eq)
    if plot_drawdown:
        panel = _Panel("Drawdown [%]", HEIGHTS["drawdown"])
        area = {"fill": "tozeroy", "fillcolor": "rgba(239, 83, 80, 0.25)", "hovertemplate": "%{y:.2f}%"}
        panel.traces.append(_lines(xb, -100 * ds.high(dd, b), "Drawdown", RED, 1, **area))
        panel.traces.append(_point(f"Max Drawdown (-{dd[dd_i] * 100:.1f}%)", ctx.x[dd_i], -100 * dd[dd_i], "red"))
        panels.append(panel)
    return panels


def _trade_custom(marks: ds.TradeMarks) -> tuple[np.ndarray, str]:
    custom = np.column_stack([marks.number, marks.size, marks.pnl, marks.count, marks.return_pct * 100])
    text = "Trade #%{customdata[0]}<br>Size %{customdata[1]:,.4g}<br>P/L %{customdata[4]:+.2f}%"
    text += "<br>PnL %{customdata[2]:,.2f}"
    if marks.count.max(initial=1) > 1:
        text += "<br>Trades in group: %{customdata[3]}"
    return custom, text


def _pl_panel(ctx: _Ctx, marks: ds.TradeMarks) -> _Panel:
    panel = _Panel("Profit / Loss [%]", HEIGHTS["pl"], zero_line=True)
    size = np.abs(marks.size)
    scaled = np.interp(size, (size.min(), size.max()), (8, 18)) if np.ptp(size) > 0 else np.full(len(marks), 11.0)
    custom, text = _trade_custom(marks)
    colors = np.where(marks.return_pct >= 0, GREEN, RED)
    marker = {"size": scaled, "color": colors, "symbol": np.where(marks.size > 0, "triangle-up", "triangle-down")}
    x, y = ctx.x[marks.exit_bar], marks.return_pct * 100
    panel.traces.append(_markers(x, y, "Trade P/L", marker, customdata=custom, hovertemplate=text))
    return panel


def _trade_traces(ctx: _Ctx, marks: ds.TradeMarks) -> list[Any]:
    """Entry-to-exit lines and entry/exit markers, coloured by profit (green) or loss (red)."""
    if len(marks) == 0:
        return []
    won = marks.return_pct >= 0
    colors = np.where(won, GREEN, RED)
    x_in, x_out = ctx.x[marks.entry_bar], ctx.x[marks.exit_bar]
    traces: list[Any] = []
    for mask, color, name in ((won, GREEN, "Winning trades"), (~won, RED, "Losing trades")):
        if mask.any():
            xs, ys = _segments(x_in[mask], x_out[mask], marks.entry_price[mask], marks.exit_price[mask])
            traces.append(_lines(xs, ys, name, color, 2, hoverinfo="skip", line_dash="dot"))
    custom, text = _trade_custom(marks)
    symbols = np.where(marks.size > 0, "triangle-up", "triangle-down")
    for name, xs, ys, symbol in (("Entry", x_in, marks.entry_price, symbols), ("Exit", x_out, marks.exit_price, "x")):
        marker = {"symbol": symbol, "size": 10, "color": colors}
        traces.append(_markers(xs, ys, name, marker, customdata=custom, hovertemplate=f"{name} %{{y:,.4g}}<br>{text}"))
    return traces


def _superimposed(ctx: _Ctx, prices: _Prices, superimpose: bool | str) -> list[Any]:
    """A faint higher-time-frame OHLC (boxes from open to close, grey high-low whiskers) under the candles."""
    if not isinstance(superimpose, (bool, str)):
        raise PlotTypeError(f"superimpose must be True, False or a pandas offset like 'W', not {superimpose!r}")
    if superimpose is False or not isinstance(ctx.index, pd.DatetimeIndex):
        return []
    rule = superimpose if isinstance(superimpose, str) else ds.auto_superimpose_rule(ds.median_spacing(ctx.xb) / 1e3)
    if rule is None:
        return []
    try:
        sup = ds.by_time(ctx.index, rule)
    except ValueError as exc:
        raise PlotValueError(f"invalid superimpose: {exc}") from exc
    if sup.count < 2 or sup.count * 2 > ctx.buckets.count or sup.count > ctx.max_points:
        if isinstance(superimpose, str):
            ctx.notes.append(f"superimpose={rule!r} skipped: it gives {sup.count:,} candles, not coarser than drawn")
        return []
    bars = ds.ohlc(prices.o, prices.h, prices.lo, prices.c, None, sup)
    half = ds.median_spacing(ctx.xb) / 2
    left, right = ctx.x[sup.starts] - half, ctx.x[sup.ends] + half
    mid, up = (left + right) / 2, bars.close >= bars.open
    xs, ys = _segments(mid, mid, bars.low, bars.high)
    whiskers = _lines(xs, ys, f"OHLC ({rule})", "#cccccc", 1, hoverinfo="skip", legendgroup="sup")
    marker = {"color": np.where(up, "rgba(38, 166, 154, 0.14)", "rgba(239, 83, 80, 0.14)"), "line": {"width": 0}}
    body = {"y": np.abs(bars.close - bars.open), "base": np.fmin(bars.open, bars.close), "width": right - left}
    boxes = go.Bar(x=mid, **body, marker=marker, hoverinfo="skip", legendgroup="sup", showlegend=False)
    return [boxes, whiskers]


def _line_traces(ctx: _Ctx, spec: IndicatorSpec, values: FloatArray, names: list[str]) -> list[Any]:
    if isinstance(spec.color, str):
        colors = [spec.color] * len(names)
    elif spec.color:
        colors = [spec.color[i % len(spec.color)] for i in range(len(names))]
    else:
        colors = [ctx.next_color() for _ in names]
    traces: list[Any] = []
    for row, name, color in zip(values, names, colors, strict=True):
        y = ds.last_valid(row, ctx.buckets)
        hover = f"%{{y:,.4g}}<extra>{html.escape(name)}</extra>"
        if spec.scatter:
            traces.append(_markers(ctx.xb, y, name, {"color": color, "size": 6}, hovertemplate=hover))
        else:
            traces.append(_lines(ctx.xb, y, name, color, hovertemplate=hover))
    return traces


def _indicator(spec: Any, position: int, n: int) -> tuple[FloatArray, list[str]]:
    """The (k, n) values and k names of one indicator, validated."""
    if not isinstance(spec, IndicatorSpec):
        raise PlotTypeError(f"indicators[{position}] must be an IndicatorSpec, not {type(spec).__name__}")
    label = spec.name if isinstance(spec.name, str) else ", ".join(map(str, spec.name))
    values = _floats(spec.values, f"indicator {label!r}")
    if values.ndim not in (1, 2):
        raise PlotValueError(f"indicator {label!r} has {values.ndim} dimensions; pass shape (n,) or (k, n)")
    values = values.reshape(1, -1) if values.ndim == 1 else values
    if values.shape[1] != n:
        hint = " (2-D values are one row per line: pass values.T)" if values.shape[0] == n else ""
        raise PlotValueError(
            f"indicator {label!r} has {values.shape[1]:,} values per line but ohlc has {n:,} rows{hint}; "
            "pass values aligned with the ohlc rows"
        )
    k = values.shape[0]
    if isinstance(spec.name, str):
        names = [spec.name] if k == 1 else [f"{spec.name}[{i}]" for i in range(k)]
    else:
        names = [str(name) for name in spec.name]
        if len(names) != k:
            raise PlotValueError(f"indicator {label!r} has {k} lines but {len(names)} names; pass one name per row")
    return values, names


def _price_panel(
    ctx: _Ctx, prices: _Prices, height: int, superimpose: bool | str, overlays: list[Any], marks: ds.TradeMarks
) -> _Panel:
    panel = _Panel("Price" if prices.name == "OHLC" else prices.name, height)
    panel.traces += _superimposed(ctx, prices, superimpose)
    bars = ds.ohlc(prices.o, prices.h, prices.lo, prices.c, None, ctx.buckets)
    up, down = ({"line": {"color": color, "width": 1}, "fillcolor": color} for color in (GREEN, RED))
    body = {"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close}
    panel.traces.append(go.Candlestick(x=ctx.xb, **body, name=prices.name, increasing=up, decreasing=down))
    panel.traces += overlays + _trade_traces(ctx, marks)
    return panel


def _volume_panel(ctx: _Ctx, prices: _Prices) -> _Panel | None:
    if prices.v is None:
        return None
    panel = _Panel("Volume", HEIGHTS["volume"])
    volume = ds.total(prices.v, ctx.buckets)
    if ctx.buckets.count <= MAX_VOLUME_BARS:
        up = ds.last(prices.c, ctx.buckets) >= ds.first(prices.o, ctx.buckets)
        color = np.where(up, "rgba(38, 166, 154, 0.6)", "rgba(239, 83, 80, 0.6)")
        panel.traces.append(go.Bar(x=ctx.xb, y=volume, name="Volume", marker={"color": color, "line": {"width": 0}}))
    else:
        panel.traces.append(_lines(ctx.xb, volume, "Volume", "#7f7f7f", 0.6, fill="tozeroy", line_shape="hv"))
    return panel


def _allocation_panel(ctx: _Ctx, allocation: Any, n: int, relative: bool = True) -> _Panel:
    """Each asset's share of equity, stacked (relative), or its value in cash when allocation holds values."""
    if not isinstance(allocation, pd.DataFrame):
        raise PlotTypeError(
            f"allocation must be a DataFrame of weights (columns = symbols), not {type(allocation).__name__}"
        )
    if len(allocation) != n:
        raise PlotValueError(f"allocation has {len(allocation):,} rows but ohlc has {n:,}; index it like ohlc")
    yaxis = {"tickformat": ".0%"} if relative else {}
    panel = _Panel("Allocation" if relative else "Allocation [$]", HEIGHTS["allocation"], yaxis=yaxis)
    for column in allocation.columns:
        weights = ds.last_valid(_floats(allocation[column], f"allocation[{column!r}]"), ctx.buckets)
        style = {"stackgroup": "allocation", "hovertemplate": "%{y:.1%}" if relative else "%{y:,.2f}"}
        panel.traces.append(_lines(ctx.xb, weights, str(column), ctx.next_color(), 0.5, **style))
    return panel


def _subtitle(stats: pd.Series, n_trades: int, notes: list[str]) -> str:
    parts = []
    for key in STATS_IN_SUBTITLE:
        value = stats.get(key)
        if isinstance(value, (int, float, np.number)) and np.isfinite(value):
            parts.append(f"{key.replace(' [%]', '')} {float(value):,.2f}{'%' if '[%]' in key else ''}")
    parts.append(f"{n_trades:,} trades")
    return "<br>".join(html.escape(line, quote=False) for line in [" · ".join(parts), *notes])


def _figure(ctx: _Ctx, panels: list[_Panel], title: str, subtitle: str, show_legend: bool) -> go.Figure:
    rows = len(panels)
    plot_height = sum(p.height for p in panels) + SPACING_PX * (rows - 1)
    heights = [p.height / plot_height for p in panels]
    fig = make_subplots(rows, 1, shared_xaxes=True, vertical_spacing=SPACING_PX / plot_height, row_heights=heights)
    for row, panel in enumerate(panels, start=1):
        legend = "legend" if row == 1 else f"legend{row}"
        for trace in panel.traces:
            trace.legend = legend
            fig.add_trace(trace, row=row, col=1)
        fig.update_yaxes(title_text=panel.ytitle, row=row, col=1, **panel.yaxis)
        if panel.zero_line:
            fig.add_hline(y=0, line={"color": "#666666", "width": 1, "dash": "dash"}, row=row, col=1)
        top = fig.layout["yaxis" if row == 1 else f"yaxis{row}"].domain[1]
        fig.layout[legend] = {"x": 1.01, "xanchor": "left", "y": top, "yanchor": "top", "font": {"size": 11}}
    spikes = {"showspikes": True, "spikemode": "across", "spikesnap": "cursor", "spikethickness": 1}
    fig.update_xaxes(rangeslider_visible=False, spikecolor="#999999", spikedash="dot", **spikes)
    if ctx.is_date:
        intraday = (ctx.xb % 86_400_000).any()
        fig.update_xaxes(type="date", hoverformat="%Y-%m-%d %H:%M:%S" if intraday else "%Y-%m-%d")
        tz = getattr(ctx.index, "tz", None)
        fig.update_xaxes(title_text=f"Time ({tz})" if tz is not None else "Time", row=rows, col=1)
        buttons = [
            {"count": c, "label": lab, "step": s, "stepmode": "backward"}
            for c, lab, s in ((1, "1m", "month"), (6, "6m", "month"), (1, "1y", "year"), (5, "5y", "year"))
        ]
        selector = {"buttons": [*buttons, {"step": "all", "label": "all"}], "x": 1, "xanchor": "right", "y": 1.0}
        fig.update_xaxes(rangeselector={**selector, "yanchor": "bottom", "font": {"size": 10}}, row=1, col=1)
    else:
        fig.update_xaxes(title_text="Bar", row=rows, col=1)
    heading = {"text": f"<b>{html.escape(title)}</b>", "subtitle": {"text": subtitle}, "x": 0.01, "xanchor": "left"}
    height = plot_height + MARGIN["t"] + MARGIN["b"]
    fig.update_layout(title=heading, template="plotly_white", height=height, margin=MARGIN, showlegend=show_legend)
    fig.update_layout(hovermode="x unified", dragmode="zoom", barmode="overlay", bargap=0.1)
    return fig


def _target(filename: str | os.PathLike[str] | None, title: str) -> Path:
    if filename is None or filename == "":  # Backtesting.py's default filename is ''
        filename = (re.sub(r"[^\w\-. ]+", "_", title).strip(" ._") or "Backtest") + ".html"
    elif not isinstance(filename, (str, os.PathLike)):
        raise PlotTypeError(f"filename must be a str or path, not {type(filename).__name__}")
    path = Path(filename).expanduser().resolve()
    if path.is_dir():
        raise PlotValueError(f"filename {str(path)!r} is a folder; pass a file path such as chart.html")
    if path.suffix.lower() not in (".html", ".htm"):
        path = path.with_name(path.name + ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _plotly_js_kind(plotly_js: Any) -> str:
    """'inline', 'cdn', 'url' or 'path'; raises PlotTypeError / PlotValueError for anything else."""
    if not isinstance(plotly_js, (str, os.PathLike)) or plotly_js == "":
        raise PlotTypeError(f"plotly_js must be 'inline', 'cdn' or a URL / path of plotly.js, not {plotly_js!r}")
    if isinstance(plotly_js, str) and plotly_js in ("inline", "cdn"):
        return plotly_js
    if isinstance(plotly_js, str) and re.match(r"^(https?:)?//", plotly_js):
        return "url"
    if not os.fspath(plotly_js).endswith(".js"):
        raise PlotValueError(
            f"plotly_js={os.fspath(plotly_js)!r}: pass 'inline' (the default: works offline), 'cdn', an http(s) URL, "
            "or the path of a .js file (written with plotly's copy of plotly.js when missing)"
        )
    return "path"


def _plotly_js_script(plotly_js: str | os.PathLike[str], page: Path) -> str:
    """The <script src> of plotly.js for the chart at `page`: a URL as given, a local path relative to the page.
    A local .js path that does not exist yet gets plotly's bundled copy written to it."""
    if _plotly_js_kind(plotly_js) == "url":
        return f'<script charset="utf-8" src="{html.escape(os.fspath(plotly_js))}"></script>'
    script = Path(plotly_js).expanduser().resolve()
    if script.is_dir():
        raise PlotValueError(f"plotly_js {str(script)!r} is a folder; pass a file path such as plotly.min.js")
    if not script.exists():
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(get_plotlyjs(), encoding="utf-8")
    try:
        src = Path(os.path.relpath(script, page.parent)).as_posix()
    except ValueError:  # on another drive (Windows): no relative path
        src = script.as_uri()
    return f'<script charset="utf-8" src="{html.escape(src)}"></script>'


def record_specs(strategy: Any) -> list[IndicatorSpec]:
    """What the strategy noted with record() (minitrade), drawn like indicators; values that are not numbers
    are left out."""
    specs = []
    records = getattr(strategy, "_records", None) or {}
    for record in records.values():
        attrs = record.attrs
        try:
            values = record.to_numpy(dtype=float)
        except (TypeError, ValueError):
            continue
        name: str | list[str] = str(attrs.get("name"))
        if isinstance(record, pd.DataFrame):
            values = values.T
            name = [f"{name} {c}" for c in record.columns]
        specs.append(
            IndicatorSpec(
                name=name,
                values=values,
                overlay=bool(attrs.get("overlay")),
                color=attrs.get("color"),
                scatter=bool(attrs.get("scatter")),
                plot=bool(attrs.get("plot", True)),
            )
        )
    return specs


def plot_backtest(
    ohlc: pd.DataFrame | None,
    stats: pd.Series,
    indicators: Sequence[IndicatorSpec] = (),
    *,
    filename: str | os.PathLike[str] | None = None,
    title: str = "Backtest",
    plot_equity: bool = True,
    plot_return: bool = False,
    plot_pl: bool = True,
    plot_volume: bool = True,
    plot_drawdown: bool = False,
    plot_trades: bool = True,
    smooth_equity: bool = False,
    relative_equity: bool = True,
    superimpose: bool | str = True,
    resample: bool | str = True,
    reverse_indicators: bool = False,
    show_legend: bool = True,
    open_browser: bool = False,
    max_points: int | None = None,
    allocation: pd.DataFrame | None = None,
    relative_allocation: bool = True,
    plot_width: int | None = None,
    extra_price_panels: Mapping[str, pd.DataFrame] | None = None,
    plotly_js: str | os.PathLike[str] = "inline",
    notebook: bool | None = None,
) -> Path | None:
    """Write the interactive chart of a backtest to one self-contained HTML file and return its absolute path.

    `ohlc` has columns Open, High, Low, Close[, Volume] and a DatetimeIndex or bar numbers; `stats` is a
    Backtesting.py stats Series with '_equity_curve' (Equity[, DrawdownPct]) indexed like ohlc and '_trades'
    (Size, EntryBar, ExitBar, EntryPrice, ExitPrice, ReturnPct[, PnL, Symbol]). Multi-asset: one candle panel per
    frame of `extra_price_panels` (ohlc may be None or one of them; overlays and trades without a Symbol go on
    the first), `allocation` weights (fractions) as a stacked area (in cash with relative_allocation=False).
    plot_width: the chart's width in pixels (default: the window's width). A `filename` without .html gets it appended.
    resample=True draws at most `max_points` (default _MAX_CANDLES) candles, warning (UserWarning) when it has
    to merge bars; resample=False draws every bar, a pandas offset ("W") one candle per period.
    plotly_js: "inline" (default; the file works offline, ~5 MB), "cdn" (plotly.js from cdn.plot.ly: small file,
    needs the internet), or a URL / path of a .js file (a missing local file gets plotly's copy written to it,
    referenced relative to the chart, so many charts can share it offline).
    notebook: with no filename, show the chart inline instead of writing a file (as Backtesting.py does in
    Jupyter) and return None; None (default) detects a notebook (see tradeforge.compat.notebook).
    Raises PlotValueError / PlotTypeError (ValueError / TypeError) naming the wrong input.
    """
    if plot_width is not None and (
        isinstance(plot_width, bool) or not isinstance(plot_width, numbers.Integral) or plot_width < 100
    ):
        raise PlotValueError(f"plot_width is the chart's width in pixels (an int >= 100) or None, not {plot_width!r}")
    if max_points is None:
        max_points = _MAX_CANDLES
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 10:
        raise PlotValueError(f"max_points must be an int >= 10, not {max_points!r}")
    if not isinstance(stats, pd.Series):
        raise PlotTypeError(f"stats must be the pandas Series returned by Backtest.run(), not {type(stats).__name__}")
    symbols = dict(extra_price_panels or {})
    if ohlc is None or (isinstance(ohlc, pd.DataFrame) and ohlc.empty and symbols):
        if not symbols:
            raise PlotValueError("ohlc is None; pass an OHLC DataFrame (or extra_price_panels for several symbols)")
        main_name, ohlc = next(iter(symbols.items()))
    else:
        main_name = next((name for name, frame in symbols.items() if frame is ohlc), "OHLC")
    main = _prices(ohlc, main_name, "ohlc" if main_name == "OHLC" else f"extra_price_panels[{main_name!r}]")
    n = len(ohlc)
    others = {name: _prices(frame, name, f"extra_price_panels[{name!r}]") for name, frame in symbols.items()}
    for name, frame in symbols.items():
        if len(frame) != n:
            raise PlotValueError(f"extra_price_panels[{name!r}] has {len(frame):,} rows, ohlc {n:,}; align them")
    curve = stats.get("_equity_curve")
    if curve is None:
        raise PlotValueError("stats has no '_equity_curve'; pass the full stats Series returned by Backtest.run()")
    if not isinstance(curve, pd.DataFrame) or "Equity" not in curve.columns:
        raise PlotValueError("stats['_equity_curve'] must be a DataFrame with an 'Equity' column (and DrawdownPct)")
    if len(curve) != n:
        raise PlotValueError(f"stats['_equity_curve'] has {len(curve):,} rows but ohlc has {n:,}; index it like ohlc")
    js_kind = _plotly_js_kind(plotly_js)
    ctx = _context(ohlc.index, resample, max_points)
    if resample is True and ctx.buckets.downsampled:
        warnings.warn(
            f"Data contains too many candlesticks to plot ({n:,} bars > max_points={max_points:,}); drawing them as "
            f"{ctx.buckets.count:,} candles of up to {ctx.buckets.starts[1]:,} bars each (statistics and trades "
            "use every bar). See `Backtest.plot(resample=...)`: False draws every bar, a pandas offset such as "
            "'W' one candle per period; or raise max_points=",
            UserWarning,
            stacklevel=3,
        )
    specs = [(spec, *_indicator(spec, i, n)) for i, spec in enumerate(indicators)]
    specs = [item for item in specs if item[0].plot]
    marks, trade_symbols = _trades(stats, n)
    all_marks, max_marks = marks, max(500, max_points // 5)
    if len(marks) > max_marks:
        marks = ds.aggregate_trades(marks, ds.by_count(n, max_marks))
        trade_symbols = None  # merged groups may mix symbols: all go on the first price panel
        ctx.notes.append(f"{len(all_marks):,} trades drawn as {len(marks):,} markers (trades merged per exit bucket)")

    flags = {"plot_return": plot_return, "relative": relative_equity, "smooth": smooth_equity}
    panels = _equity_panels(
        ctx, curve, all_marks.exit_bar, plot_equity=plot_equity, plot_drawdown=plot_drawdown, **flags
    )
    if plot_pl and len(marks):
        panels.append(_pl_panel(ctx, marks))
    if allocation is not None:
        if not relative_allocation:  # values in cash: each asset's share times equity
            equity = curve["Equity"].to_numpy(dtype=float)
            allocation = allocation.mul(equity, axis=0)
        panels.append(_allocation_panel(ctx, allocation, n, relative_allocation))
    overlays = [t for spec, values, names in specs if spec.overlay for t in _line_traces(ctx, spec, values, names)]

    routed = trade_symbols if symbols else None  # a Symbol column routes trades to their symbol's panel

    def marks_of(name: str) -> ds.TradeMarks:
        if not plot_trades or (routed is None and name != main_name):
            return ds.TradeMarks.empty()
        return marks if routed is None else marks.subset(routed == name)

    panels.append(_price_panel(ctx, main, HEIGHTS["price"], superimpose, overlays, marks_of(main_name)))
    volume = _volume_panel(ctx, main) if plot_volume else None
    panels += [volume] if volume is not None else []
    for name, prices in others.items():
        if name != main_name:
            panels.append(_price_panel(ctx, prices, HEIGHTS["symbol"], superimpose, [], marks_of(name)))
    lower = [(spec, values, names) for spec, values, names in specs if not spec.overlay]
    for spec, values, names in reversed(lower) if reverse_indicators else lower:
        label = spec.name if isinstance(spec.name, str) else " / ".join(names)
        panels.append(_Panel(label, HEIGHTS["indicator"], _line_traces(ctx, spec, values, names)))

    fig = _figure(ctx, panels, title, _subtitle(stats, len(all_marks), ctx.notes), show_legend)
    config = {"responsive": True, "displaylogo": False, "scrollZoom": True, "showSendToCloud": False}
    if plot_width is not None:
        plot_width = int(plot_width)
        fig.update_layout(width=plot_width)
    if (
        (filename is None or filename == "")
        and (in_notebook() if notebook is None else notebook)
        and show_inline(fig, config)
    ):
        return None
    path = _target(filename, title)
    include_plotlyjs: bool | str = True if js_kind == "inline" else "cdn" if js_kind == "cdn" else False
    head = f"<head>\n<title>{html.escape(title)}</title>"
    if js_kind in ("url", "path"):
        head += "\n" + _plotly_js_script(plotly_js, path)
    size = {
        "default_width": "100%" if plot_width is None else f"{plot_width}px",
        "default_height": f"{fig.layout.height}px",
    }
    document = fig.to_html(full_html=True, include_plotlyjs=include_plotlyjs, config=config, **size)
    document = document.replace("<head>", head, 1)
    path.write_text(document, encoding="utf-8")
    if open_browser:
        webbrowser.open(path.as_uri())
    return path

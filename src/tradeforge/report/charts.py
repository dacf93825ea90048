"""The report's plotly figure: price with trade markers, equity and drawdown on one x axis."""

from __future__ import annotations

import html
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tradeforge.core.bars import BarSeries
from tradeforge.report.downsample import CANDLE_MAX_BARS, LINE_MAX_POINTS, thin
from tradeforge.report.formatting import format_float, format_value
from tradeforge.report.frames import drawdown_pct, trades_frame
from tradeforge.sim.result import Result

GREEN = "#26a69a"
RED = "#ef5350"
GREY = "#555555"
NS_PER_MS = 1_000_000


@dataclass
class Chart:
    """The figure and the sentences the page should show about how it was drawn."""

    figure: go.Figure
    notes: list[str] = field(default_factory=list)


def to_ms(ns: npt.NDArray[np.int64] | pd.Series) -> npt.NDArray[np.float64]:
    """ns UTC -> float ms since the epoch, which plotly date axes read directly (and compactly)."""
    return np.asarray(ns, dtype=np.int64).astype(np.float64) / NS_PER_MS


def entry_hover(row: Mapping[Hashable, Any]) -> str:
    pnl_label = "P&amp;L (open, at last close)" if row["is_open"] else "P&amp;L"
    return "<br>".join(
        [
            f"<b>Trade #{int(row['id'])} {row['side']} entry</b>",
            f"Strategy: {html.escape(str(row['strategy']))}",
            f"Size: {format_float(float(row['size']))}",
            f"Price: {format_float(float(row['entry_price']))}",
            f"{pnl_label}: {format_float(float(row['pnl']))} ({format_float(float(row['return_pct']), 2)} %)",
            f"Time: {format_value(row['entry_time'])}",
        ]
        + ([f"Tag: {html.escape(str(row['tag']))}"] if row["tag"] else [])
    )


def exit_hover(row: Mapping[Hashable, Any]) -> str:
    reason = f" ({html.escape(str(row['exit_reason']))})" if row["exit_reason"] else ""
    return "<br>".join(
        [
            f"<b>Trade #{int(row['id'])} {row['side']} exit</b>{reason}",
            f"Strategy: {html.escape(str(row['strategy']))}",
            f"Size: {format_float(float(row['size']))}",
            f"Price: {format_float(float(row['exit_price']))}",
            f"P&amp;L: {format_float(float(row['pnl']))} ({format_float(float(row['return_pct']), 2)} %)",
            f"Held: {format_value(row['duration'])}",
        ]
    )


def _markers(name: str, x: pd.Series, y: pd.Series, text: list[str], symbol: str, color: object) -> go.Scatter:
    return go.Scatter(
        x=to_ms(x.to_numpy(dtype=np.int64)),
        y=y.to_numpy(dtype=np.float64),
        mode="markers",
        name=name,
        text=text,
        hovertemplate="%{text}<extra></extra>",
        marker={"symbol": symbol, "size": 11, "color": color, "line": {"width": 1, "color": GREY}},
    )


def trade_markers(trades: pd.DataFrame, symbol: str) -> list[go.Scatter]:
    """Entry triangles (up green = long, down red = short) and exit crosses coloured by profit or loss."""
    mine = trades[trades["symbol"] == symbol]
    entry_ns = mine["entry_time"].astype("datetime64[ns, UTC]").astype("int64")
    traces = []
    for side, label, marker, color in (
        ("long", "Long entry", "triangle-up", GREEN),
        ("short", "Short entry", "triangle-down", RED),
    ):
        rows = mine[mine["side"] == side]
        if len(rows):
            hover = [entry_hover(row) for row in rows.to_dict("records")]
            traces.append(_markers(label, entry_ns[rows.index], rows["entry_price"], hover, marker, color))
    closed = mine[~mine["is_open"]]
    if len(closed):
        exit_ns = closed["exit_time"].astype("datetime64[ns, UTC]").astype("int64")
        hover = [exit_hover(row) for row in closed.to_dict("records")]
        colors = [GREEN if pnl >= 0 else RED for pnl in closed["pnl"]]
        traces.append(_markers("Exit", exit_ns, closed["exit_price"], hover, "x", colors))
    return traces


def price_trace(bars: BarSeries, notes: list[str]) -> go.Candlestick | go.Scatter:
    x = to_ms(bars.ts)
    if len(bars) <= CANDLE_MAX_BARS:
        return go.Candlestick(
            x=x,
            open=bars.open,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            name=bars.symbol,
            increasing_line_color=GREEN,
            decreasing_line_color=RED,
        )
    notes.append(
        f"{bars.symbol} has {len(bars):,} bars (more than {CANDLE_MAX_BARS:,}), so its price is drawn as "
        "a line of closing prices instead of candlesticks."
    )
    x_line, y_line, thinned = thin(x, bars.close)
    if thinned:
        notes.append(
            f"The {bars.symbol} price line was downsampled from {len(bars):,} to {len(y_line):,} points "
            "(lowest and highest close of each interval kept) to keep the file small."
        )
    return go.Scatter(x=x_line, y=y_line, mode="lines", name=f"{bars.symbol} close", line={"color": GREY})


def _line(
    name: str, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], notes: list[str], **style: object
) -> go.Scatter:
    x_line, y_line, thinned = thin(x, y, LINE_MAX_POINTS)
    if thinned:
        notes.append(f"The {name} line was downsampled from {len(y):,} to {len(y_line):,} points.")
    return go.Scatter(x=x_line, y=y_line, mode="lines", name=name, **style)


def build_chart(result: Result, symbol: str | None, trades: pd.DataFrame | None = None) -> Chart:
    """Price of `symbol` (skipped when None) over equity over drawdown, sharing the time axis.

    `trades` is trades_frame(result), computed here when not given.
    """
    notes: list[str] = []
    titles = ["Equity", "Drawdown [%]"]
    if symbol is not None:
        titles.insert(0, f"{symbol} price and trades")
    rows = len(titles)
    heights = [0.5, 0.3, 0.2] if rows == 3 else [0.65, 0.35]
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        row_heights=heights,
        subplot_titles=titles,
    )
    row = 1
    if symbol is not None:
        fig.add_trace(price_trace(result.bars[symbol], notes), row=row, col=1)
        for trace in trade_markers(trades_frame(result) if trades is None else trades, symbol):
            fig.add_trace(trace, row=row, col=1)
        fig.update_yaxes(title_text="Price", row=row, col=1)
        row += 1
    x = to_ms(result.timestamps)
    equity = np.asarray(result.equity, dtype=np.float64)
    fig.add_trace(_line("Equity", x, equity, notes, line={"color": "#1f77b4", "width": 2}), row=row, col=1)
    if len(result.strategies) > 1:
        for name, strategy in result.strategies.items():
            values = np.asarray(strategy.equity, dtype=np.float64)
            fig.add_trace(_line(f"Equity {name}", x, values, notes, line={"width": 1}), row=row, col=1)
    fig.update_yaxes(title_text="Equity", row=row, col=1)
    fig.add_trace(
        _line("Drawdown [%]", x, drawdown_pct(equity), notes, fill="tozeroy", line={"color": RED, "width": 1}),
        row=row + 1,
        col=1,
    )
    fig.update_yaxes(title_text="%", row=row + 1, col=1)
    fig.update_xaxes(type="date", rangeslider_visible=False)
    fig.update_layout(
        template="plotly_white",
        height=950 if rows == 3 else 650,
        hovermode="closest",
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
    )
    return Chart(fig, notes)

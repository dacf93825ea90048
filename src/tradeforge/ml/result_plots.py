"""Plots of results: a strategy's equity against buy-and-hold, and experiment leaderboards. See tradeforge.ml.plots
(which re-exports these) for how figures are written."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.ml.figures import PathArg, finish_figure
from tradeforge.sim.result import Result

__all__ = ["METRIC_ALIASES", "equity_vs_buy_and_hold", "leaderboard_chart"]

FloatArray = npt.NDArray[np.float64]

METRIC_ALIASES: Mapping[str, str] = {
    "oos_accuracy": "accuracy",
    "oos_balanced_accuracy": "balanced_accuracy",
    "oos_return": "total_return",
    "oos_sortino": "sortino",
    "oos_sharpe": "sharpe",
    "oos_max_drawdown": "max_drawdown",
    "oos_profit_factor": "profit_factor",
    "deflated_sharpe": "dsr",
}
"""leaderboard_chart: a metric absent from the frame is looked up under this name (the grid's leaderboard stores
out-of-sample results without the oos_ prefix)."""

_IN_SAMPLE_PREFIXES = ("is_", "in_sample_", "train_")
_NS_PER_MS = 1_000_000


# --- 3. equity against buy-and-hold -------------------------------------------------------------------------------


def equity_vs_buy_and_hold(
    result: Result,
    series: BarSeries | str | None = None,
    *,
    path: PathArg | None = None,
    title: str | None = None,
) -> go.Figure:
    """A backtest's equity against buying and holding the same bars with the same starting cash, with the trades.

    series: the bars the backtest ran on (a BarSeries, or its symbol in result.bars; default: the result's only
    symbol). Buy-and-hold is result.initial_cash * close / close[0] at each step of the backtest (the close of the
    latest bar at or before the step), without fees. The legend gives each curve's total return and maximum
    drawdown; a second panel shows both drawdowns. Entries are triangles on the equity curve (up: long, down: short),
    exits crosses (green: profit, red: loss). No downsampling: the traces hold every step.
    """
    if not isinstance(result, Result):
        raise ConfigError(f"result must be a backtest Result (run_backtest(...)), got {type(result).__name__}")
    bars = _resolve_series(result, series)
    ts = np.asarray(result.timestamps, dtype=np.int64)
    equity = np.asarray(result.equity, dtype=np.float64)
    if ts.shape[0] == 0:
        raise ConfigError("the result has no steps: run the backtest on at least one bar")
    if bars.ts[0] > ts[0] or bars.ts[-1] < ts[-1]:
        raise ConfigError(
            f"the bars of {bars.symbol} ({_day(bars.ts[0])} to {_day(bars.ts[-1])}) do not cover the backtest "
            f"({_day(ts[0])} to {_day(ts[-1])}): pass the bars it ran on, e.g. result.bars[{bars.symbol!r}]"
        )
    close = bars.close[np.searchsorted(bars.ts, ts, side="right") - 1]
    cash = float(result.initial_cash)
    hold = cash * close / close[0]
    x = ts.astype(np.float64) / _NS_PER_MS
    names = list(result.strategies) or sorted({t.strategy for t in result.trades}) or ["strategy"]
    label = ", ".join(names)

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.72, 0.28])
    strat_color, hold_color = "#1f77b4", "#7f7f7f"
    fig.add_trace(
        go.Scatter(
            x=x,
            y=equity,
            mode="lines",
            name=f"{label}: {_summary(equity, cash)}",
            line={"color": strat_color, "width": 2},
            legendgroup="strategy",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=hold,
            mode="lines",
            name=f"buy & hold {bars.symbol} (no fees): {_summary(hold, cash)}",
            line={"color": hold_color, "width": 1.5, "dash": "dot"},
            legendgroup="hold",
        ),
        row=1,
        col=1,
    )
    for trace in _trade_traces(result, bars.symbol, x, equity):
        fig.add_trace(trace, row=1, col=1)
    for values, color, group in ((equity, strat_color, "strategy"), (hold, hold_color, "hold")):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=100.0 * _drawdown(values),
                mode="lines",
                line={"color": color, "width": 1},
                fill="tozeroy",
                showlegend=False,
                legendgroup=group,
                name="drawdown [%]",
            ),
            row=2,
            col=1,
        )
    closed = sum(1 for t in result.trades if not t.is_open)
    subtitle = f"{closed:,} closed trades, fees paid {result.fees_paid:,.2f}, starting cash {cash:,.2f}"
    heading = title if title is not None else f"{label} on {bars.symbol}: equity vs buy-and-hold"
    fig.update_layout(
        title={"text": f"{html.escape(heading)}<br><sup>{html.escape(subtitle)}</sup>"},
        template="plotly_white",
        height=750,
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        margin={"t": 130},
        meta={"symbol": bars.symbol, "initial_cash": cash},
    )
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown [%]", row=2, col=1)
    return finish_figure(fig, path)


def _resolve_series(result: Result, series: BarSeries | str | None) -> BarSeries:
    if isinstance(series, BarSeries):
        return series
    available = sorted(result.bars)
    if series is None:
        if len(available) != 1:
            raise ConfigError(f"the result holds {len(available)} symbols {available}: pass series= one of them")
        return result.bars[available[0]]
    if isinstance(series, str):
        if series not in result.bars:
            raise ConfigError(f"symbol {series!r} has no bars in this result; symbols with bars: {available}")
        return result.bars[series]
    raise ConfigError(f"series must be a BarSeries or a symbol of the result {available}, got {type(series).__name__}")


def _drawdown(values: FloatArray) -> FloatArray:
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, values / peak - 1.0, 0.0)


def _summary(values: FloatArray, start: float) -> str:
    total = values[-1] / start - 1.0 if start else math.nan
    return f"return {total:+.1%}, max drawdown {float(_drawdown(values).min()):.1%}"


def _day(ns: Any) -> str:
    return str(pd.Timestamp(int(ns), unit="ns", tz="UTC"))


def _trade_traces(result: Result, symbol: str, x: FloatArray, equity: FloatArray) -> list[go.Scatter]:
    trades = [t for t in result.trades if t.symbol == symbol and 0 <= t.entry_bar < len(x)]
    traces: list[go.Scatter] = []
    for is_long, label, marker, color in (
        (True, "long entry", "triangle-up", "#26a69a"),
        (False, "short entry", "triangle-down", "#ef5350"),
    ):
        chosen = [t for t in trades if t.is_long == is_long]
        if not chosen:
            continue
        at = np.array([t.entry_bar for t in chosen], dtype=np.int64)
        text = [f"#{t.id} {label} {abs(t.size):.6g} @ {t.entry_price:.6g}" for t in chosen]
        traces.append(_marker_trace(f"{label} ({len(chosen):,})", x[at], equity[at], text, marker, color))
    exits = [t for t in trades if not t.is_open and t.exit_bar < len(x)]
    if exits:
        at = np.array([t.exit_bar for t in exits], dtype=np.int64)
        text = [
            f"#{t.id} exit @ {t.exit_price:.6g}{' (' + t.exit_reason + ')' if t.exit_reason else ''}<br>"
            f"P&L {t.pnl:,.2f} ({t.return_pct:+.2%}), fees {t.fees:,.2f}"
            for t in exits
        ]
        colors = ["#26a69a" if t.pnl >= 0 else "#ef5350" for t in exits]
        traces.append(_marker_trace(f"exit ({len(exits):,})", x[at], equity[at], text, "x", colors))
    return traces


def _marker_trace(name: str, x: FloatArray, y: FloatArray, text: list[str], symbol: str, color: Any) -> go.Scatter:
    return go.Scatter(
        x=x,
        y=y,
        mode="markers",
        name=name,
        text=text,
        hovertemplate="%{text}<extra></extra>",
        marker={"symbol": symbol, "size": 8, "color": color, "line": {"width": 0.5, "color": "#444"}},
    )


# --- 4. leaderboard -----------------------------------------------------------------------------------------------


def leaderboard_chart(
    frame: pd.DataFrame,
    *,
    metric: str = "oos_sortino",
    by: str = "model",
    in_sample: str | None = None,
    path: PathArg | None = None,
) -> go.Figure:
    """A leaderboard (one row per grid cell) charted: `metric` per `by` group as boxes with every cell drawn as a
    point, best median first; and, when an in-sample column of the same metric exists, out-of-sample against
    in-sample per cell, with the diagonal where the two are equal (cells below it did worse out of sample).

    metric: a numeric column; a name from METRIC_ALIASES (oos_sortino, oos_return, deflated_sharpe, ...) falls back
    to the leaderboard's own column (sortino, total_return, dsr, ...). in_sample: the in-sample column (default:
    the metric with an is_, in_sample_ or train_ prefix instead of oos_, if present). Rows with a status other than
    "ok" (failed cells) or no value are left out and counted in the subtitle. For a return metric the median
    buy-and-hold return is drawn when the frame has buy_hold_return. Missing columns raise a ConfigError listing
    the available ones.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"frame must be a pandas DataFrame (e.g. Leaderboard(...).frame()), got {type(frame)}")
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    column = _resolve_column(frame, metric, "metric")
    if by not in columns:
        raise ConfigError(f"leaderboard has no column {by!r} to group by; available columns: {columns}")
    in_col = _in_sample_column(frame, metric, column, in_sample)

    rows = frame
    notes: list[str] = []
    if "status" in columns:
        failed = int((rows["status"].astype(str) != "ok").sum())
        rows = rows[rows["status"].astype(str) == "ok"]
        if failed:
            notes.append(f"{failed} failed cell(s) left out")
    values = pd.to_numeric(rows[column], errors="coerce")
    missing = int((~np.isfinite(values.to_numpy(dtype=np.float64))).sum())
    rows = rows[np.isfinite(values.to_numpy(dtype=np.float64))]
    if missing:
        notes.append(f"{missing} cell(s) without a {column} value left out")
    if rows.empty:
        raise ConfigError(f"no leaderboard row has a numeric {column!r} value; check the grid finished (status 'ok')")
    groups = rows[by].astype(str)
    medians = pd.to_numeric(rows[column]).groupby(groups).median().sort_values(ascending=False, kind="stable")
    palette = qualitative.Plotly
    colors = {g: palette[i % len(palette)] for i, g in enumerate(medians.index)}
    hover = _hover_text(rows, column, by)

    titles = [f"{column} by {by}"]
    if in_col is not None:
        titles.append(f"out-of-sample vs in-sample ({in_col})")
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.1)
    for group in medians.index:
        mask = (groups == group).to_numpy()
        fig.add_trace(
            go.Box(
                y=pd.to_numeric(rows[column]).to_numpy(dtype=np.float64)[mask],
                name=group,
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": colors[group], "size": 5},
                line={"color": colors[group]},
                text=[hover[i] for i in np.flatnonzero(mask)],
                hovertemplate="%{text}<extra></extra>",
                legendgroup=group,
            ),
            row=1,
            col=1,
        )
    if in_col is not None:
        x_all = pd.to_numeric(rows[in_col], errors="coerce").to_numpy(dtype=np.float64)
        y_all = pd.to_numeric(rows[column]).to_numpy(dtype=np.float64)
        for group in medians.index:
            mask = (groups == group).to_numpy()
            fig.add_trace(
                go.Scatter(
                    x=x_all[mask],
                    y=y_all[mask],
                    mode="markers",
                    name=group,
                    marker={"color": colors[group], "size": 7, "opacity": 0.8},
                    text=[hover[i] for i in np.flatnonzero(mask)],
                    hovertemplate=f"{html.escape(in_col)}=%{{x:.4g}}<br>%{{text}}<extra></extra>",
                    legendgroup=group,
                    showlegend=False,
                ),
                row=1,
                col=2,
            )
        both = np.concatenate([x_all, y_all])
        both = both[np.isfinite(both)]
        if both.size:
            lo, hi = float(both.min()), float(both.max())
            fig.add_trace(
                go.Scatter(
                    x=[lo, hi],
                    y=[lo, hi],
                    mode="lines",
                    name="out-of-sample = in-sample",
                    line={"color": "#999", "dash": "dash", "width": 1},
                    hoverinfo="skip",
                ),
                row=1,
                col=2,
            )
        fig.update_xaxes(title_text=f"{in_col} (in-sample)", row=1, col=2)
        fig.update_yaxes(title_text=f"{column} (out-of-sample)", row=1, col=2)
    if "return" in column and column != "buy_hold_return" and "buy_hold_return" in columns:
        reference = float(pd.to_numeric(rows["buy_hold_return"], errors="coerce").median())
        if math.isfinite(reference):
            fig.add_hline(
                y=reference,
                line={"color": "#555", "dash": "dot", "width": 1},
                row=1,
                col=1,
                annotation_text=f"buy & hold (median) {reference:.4g}",
                annotation_position="top left",
            )
    fig.update_yaxes(title_text=column, row=1, col=1)
    fig.update_xaxes(title_text=by, row=1, col=1)
    subtitle = f"{len(rows):,} cells in {len(medians)} groups" + (f"; {'; '.join(notes)}" if notes else "")
    alias = f" ({metric!r} read from column {column!r})" if column != metric else ""
    fig.update_layout(
        title={
            "text": f"Leaderboard: {html.escape(column)} by {html.escape(by)}{html.escape(alias)}"
            f"<br><sup>{html.escape(subtitle)}</sup>"
        },
        template="plotly_white",
        height=600,
        width=1300 if in_col is not None else 900,
        legend={"title": {"text": by}},
        meta={"metric": column, "by": by, "in_sample": in_col, "groups": list(medians.index)},
    )
    return finish_figure(fig, path)


def _resolve_column(frame: pd.DataFrame, name: str, what: str) -> str:
    columns = [str(c) for c in frame.columns]
    if name in columns:
        column = name
    elif METRIC_ALIASES.get(name) in columns:
        column = METRIC_ALIASES[name]
    else:
        numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
        alias = METRIC_ALIASES.get(name)
        also = f" (nor {alias!r})" if alias else ""
        raise ConfigError(
            f"leaderboard has no column {name!r}{also} for the {what}; available columns: {columns}. "
            f"Pass {what}= one of the numeric ones: {numeric}"
        )
    return column


def _in_sample_column(frame: pd.DataFrame, metric: str, column: str, given: str | None) -> str | None:
    columns = [str(c) for c in frame.columns]
    if given is not None:
        if given not in columns:
            raise ConfigError(f"leaderboard has no in-sample column {given!r}; available columns: {columns}")
        return given
    stems = {column}
    for name in (metric, column):
        if name.startswith("oos_"):
            stems.add(name[4:])
    for stem in sorted(stems):
        for prefix in _IN_SAMPLE_PREFIXES:
            if prefix + stem in columns and prefix + stem != column:
                return prefix + stem
    return None


_HOVER_COLUMNS = ("symbol", "timeframe", "granularity", "datasetinputs", "window", "features", "params")


def _hover_text(rows: pd.DataFrame, column: str, by: str) -> list[str]:
    shown = [c for c in (by, *_HOVER_COLUMNS) if c in rows.columns and c != column]
    shown = list(dict.fromkeys(shown))
    out = []
    metric_values = pd.to_numeric(rows[column]).to_numpy(dtype=np.float64)
    for i, record in enumerate(rows[shown].itertuples(index=False, name=None)):
        parts = [f"{c}: {html.escape(str(v))[:80]}" for c, v in zip(shown, record, strict=True)]
        out.append("<br>".join([f"<b>{html.escape(column)}: {metric_values[i]:.4g}</b>", *parts]))
    return out

"""One self-contained offline HTML report of a run: charts (plotly.js inlined), stats, trades, params."""

from __future__ import annotations

import html
import os
from pathlib import Path

from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError
from tradeforge.report.charts import build_chart
from tradeforge.report.frames import trades_frame
from tradeforge.report.paths import ensure_file_target
from tradeforge.report.tables import params_section, stats_table, trades_table
from tradeforge.sim.result import Result

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafafa; }
.note { color: #8a6d3b; background: #fcf8e3; padding: 6px 10px; border-radius: 4px; }
.scroll { overflow-x: auto; }
.subtitle { color: #666; margin-top: 0; }
"""


def pick_symbol(result: Result, symbol: str | None) -> str | None:
    """The symbol to chart: the one asked for (it must have bars), else the first with bars, else None."""
    if symbol is None:
        return next(iter(result.bars), None)
    if symbol not in result.bars:
        available = ", ".join(sorted(result.bars)) or "none"
        raise ConfigError(f"symbol {symbol!r} has no bars in this result; symbols with bars: {available}")
    return symbol


def strategy_names(result: Result) -> list[str]:
    if result.strategies:
        return list(result.strategies)
    seen = dict.fromkeys(t.strategy for t in result.trades)
    seen.update(dict.fromkeys(o.strategy for o in result.orders))
    return list(seen)


def default_title(result: Result, symbol: str | None) -> str:
    """'<strategy names> — <symbol>', or 'Backtest report' when nothing names the run."""
    names = ", ".join(strategy_names(result)) or "Backtest report"
    return f"{names} — {symbol}" if symbol else names


def render_report(result: Result, *, title: str | None = None, symbol: str | None = None) -> str:
    """The full HTML document as text (see write_html_report)."""
    chosen = pick_symbol(result, symbol)
    heading = default_title(result, chosen) if title is None else title
    trades = trades_frame(result)
    chart = build_chart(result, chosen, trades)
    notes = list(chart.notes)
    if chosen is None:
        notes.insert(0, "The result holds no bars, so no price chart is drawn.")
    elif len(result.bars) > 1:
        others = ", ".join(s for s in result.bars if s != chosen)
        notes.append(f"Price chart of {chosen}; other symbols in this run: {others} (choose with symbol=...).")
    figure_html = chart.figure.to_html(
        full_html=False,
        include_plotlyjs=True,
        config={"responsive": True, "displaylogo": False, "showSendToCloud": False},
        default_width="100%",
        default_height=f"{chart.figure.layout.height}px",
    )
    span = ""
    if result.timestamps.shape[0]:
        first, last = (iso(int(result.timestamps[i])) for i in (0, -1))
        span = f"{first} to {last}, {result.timestamps.shape[0]:,} steps"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(heading)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(heading)}</h1>",
        f'<p class="subtitle">{html.escape(span)}</p>' if span else "",
        *(f'<p class="note">{html.escape(note)}</p>' for note in notes),
        '<section id="charts">',
        figure_html,
        "</section>",
        '<section id="statistics">',
        "<h2>Statistics</h2>",
        stats_table(result.stats),
        "</section>",
        '<section id="parameters">',
        "<h2>Parameters</h2>",
        params_section(result),
        "</section>",
        '<section id="trades">',
        f"<h2>Trades ({len(trades):,})</h2>",
        '<div class="scroll">',
        trades_table(trades),
        "</div>",
        "</section>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def write_html_report(
    result: Result,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    symbol: str | None = None,
) -> Path:
    """Write one self-contained HTML file (works offline: plotly.js is embedded, no CDN) and return its path.

    Shows `symbol` (default: the first symbol with bars) as candlesticks with entry/exit markers, the equity
    (per strategy too when several) and drawdown curves, the statistics, the first 500 trades and the
    strategies' parameters. `title` defaults to the strategy names and the symbol. Raises ConfigError when
    `path` is a folder or cannot be written, or when `symbol` has no bars in the result.
    """
    target = ensure_file_target(path)
    document = render_report(result, title=title, symbol=symbol)
    target.write_text(document, encoding="utf-8")
    return target

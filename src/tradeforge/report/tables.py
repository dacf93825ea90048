"""HTML tables of the report: statistics, trades and the run's parameters. All text is escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from tradeforge.report.formatting import format_value
from tradeforge.sim.result import Result

TRADES_SHOWN = 500
TRADE_TABLE_COLUMNS = (
    "id",
    "strategy",
    "symbol",
    "side",
    "size",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "pnl",
    "return_pct",
    "fees",
    "duration",
    "exit_reason",
    "tag",
)
NUMERIC = {"id", "size", "entry_price", "exit_price", "pnl", "return_pct", "fees"}


def _cell(tag: str, value: Any, numeric: bool = False) -> str:
    css = ' class="num"' if numeric else ""
    return f"<{tag}{css}>{html.escape(format_value(value))}</{tag}>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] = (), css: str = "") -> str:
    """A <table> with a header row; `numeric` flags right-aligned columns."""
    flags = list(numeric) + [False] * (len(headers) - len(numeric))
    head = "".join(_cell("th", h) for h in headers)
    body = "\n".join(
        "<tr>" + "".join(_cell("td", v, flag) for v, flag in zip(row, flags, strict=True)) + "</tr>" for row in rows
    )
    class_attr = f' class="{html.escape(css)}"' if css else ""
    return f"<table{class_attr}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def stats_table(stats: Mapping[str, Any]) -> str:
    """Two columns, statistic and value, in the stats' own order (floats with up to 5 decimals)."""
    if not stats:
        return "<p>No statistics were computed for this run.</p>"
    rows = [(str(key), value) for key, value in stats.items()]
    return table(("Statistic", "Value"), rows, numeric=(False, True), css="stats")


def trades_table(trades: pd.DataFrame, shown: int = TRADES_SHOWN) -> str:
    """The first `shown` trades, then a sentence saying how many more exist."""
    if trades.empty:
        return "<p>No trades.</p>"
    head = trades.head(shown)
    rows = []
    reason_at = TRADE_TABLE_COLUMNS.index("exit_reason")
    records = head[list(TRADE_TABLE_COLUMNS)].itertuples(index=False)
    for record, is_open in zip(records, head["is_open"], strict=True):
        values = list(record)
        if is_open:
            values[reason_at] = "open (marked at last close)"
        rows.append(values)
    numeric = [column in NUMERIC for column in TRADE_TABLE_COLUMNS]
    headers = [column.replace("_", " ") for column in TRADE_TABLE_COLUMNS]
    headers[TRADE_TABLE_COLUMNS.index("return_pct")] = "return [%]"
    text = table(headers, rows, numeric=numeric, css="trades")
    more = len(trades) - len(head)
    if more > 0:
        text += (
            f'\n<p class="note">Showing the first {len(head):,} of {len(trades):,} trades; '
            f"{more:,} more are not shown (write_exports writes them all to trades.csv).</p>"
        )
    return text


def params_section(result: Result) -> str:
    """Each strategy's name, initial capital and parameters; the account's initial cash."""
    parts = [f"<p>Initial cash: {html.escape(format_value(result.initial_cash))}</p>"]
    if not result.strategies:
        parts.append("<p>No strategy information was recorded for this run.</p>")
    for name, strategy in result.strategies.items():
        parts.append(
            f"<h3>{html.escape(name)}</h3>\n"
            f"<p>Initial capital: {html.escape(format_value(strategy.initial_capital))}</p>"
        )
        if strategy.params:
            rows = [(str(key), value) for key, value in strategy.params.items()]
            parts.append(table(("Parameter", "Value"), rows, numeric=(False, True), css="params"))
        else:
            parts.append("<p>No parameters.</p>")
    return "\n".join(parts)

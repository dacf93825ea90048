"""Exports (CSV/JSON) and a self-contained interactive HTML report of a run's Result."""

from __future__ import annotations

from tradeforge.report.exports import write_exports
from tradeforge.report.frames import equity_frame, fills_frame, orders_frame, trades_frame
from tradeforge.report.html import write_html_report

__all__ = [
    "equity_frame",
    "fills_frame",
    "orders_frame",
    "trades_frame",
    "write_exports",
    "write_html_report",
]

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_MINUTE
from tradeforge.core.errors import ConfigError
from tradeforge.core.trades import Trade
from tradeforge.report import write_html_report
from tradeforge.report.html import render_report
from tradeforge.sim.result import Result, StrategyResult


class TagChecker(HTMLParser):
    """Fails on a closing tag that does not match the open one (void elements excepted)."""

    VOID = frozenset({"meta", "br", "link", "img", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unexpected </{tag}>, open: {self.stack[-3:]}"
        self.stack.pop()


@pytest.fixture
def page(result: Result, tmp_path: Path) -> str:
    path = write_html_report(result, tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    return path.read_text(encoding="utf-8")


def test_self_contained_no_cdn(page: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "cdn.plot.ly/plotly" not in page
    assert "Plotly.newPlot" in page
    assert "plotly.js v" in page  # the inline bundle's banner
    assert len(page) > 1_000_000


def test_valid_structure(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []


def test_markers_and_hover_text(page: str) -> None:
    # plotly's JSON escapes "<" as \u003c, so look for the text between the tags
    assert "Trade #1 long entry" in page
    assert "Trade #1 long exit" in page
    assert "Trade #2 short entry" in page
    assert "P&amp;L: 102.5" in page
    assert "P&amp;L (open, at last close): -48.0" in page
    assert '"triangle-up"' in page and '"triangle-down"' in page
    assert '"type":"candlestick"' in page


def test_stats_trades_and_params(page: str) -> None:
    assert '<td>Return [%]</td><td class="num">3.01235</td>' in page
    assert '<td>Max. Drawdown [%]</td><td class="num">-1.76471</td>' in page
    assert '<td>Sharpe Ratio</td><td class="num">NaN</td>' in page
    assert "49 days 00:00:00" in page
    assert "<title>sma — AAPL</title>" in page
    assert '<td>fast</td><td class="num">10</td>' in page
    assert "open (marked at last close)" in page
    assert "Trades (2)" in page


def test_title_is_escaped(result: Result, tmp_path: Path) -> None:
    text = write_html_report(result, tmp_path / "r.html", title="<b>A&B</b>").read_text(encoding="utf-8")
    assert "<title>&lt;b&gt;A&amp;B&lt;/b&gt;</title>" in text
    assert "<b>A&B</b>" not in text


def test_several_strategies_get_their_own_equity_lines(result: Result) -> None:
    result.strategies["rsi"] = StrategyResult("rsi", {"period": 14}, 500.0, result.equity / 2, {})
    text = render_report(result)
    assert '"name":"Equity rsi"' in text and '"name":"Equity sma"' in text
    assert "<title>sma, rsi — AAPL</title>" in text


def test_more_than_500_trades_says_how_many_are_hidden(result: Result) -> None:
    result.trades = [
        Trade(
            i,
            "sma",
            "AAPL",
            1.0,
            100.0,
            int(result.timestamps[1]),
            1,
            i,
            exit_price=101.0,
            exit_ts=int(result.timestamps[2]),
            exit_bar=2,
        )
        for i in range(1, 531)
    ]
    text = render_report(result)
    assert "Showing the first 500 of 530 trades; 30 more are not shown" in text
    assert text.count('<tr><td class="num">') == 500


def test_long_series_are_drawn_as_downsampled_lines(result: Result) -> None:
    n = 250_000
    stamps = result.timestamps[0] + np.arange(n, dtype=np.int64) * NS_PER_MINUTE
    close = 100.0 + np.sin(np.arange(n) / 1000.0)
    result.bars = {"AAPL": BarSeries.from_arrays("AAPL", NS_PER_MINUTE, stamps, close, close + 1, close - 1, close)}
    result.timestamps = stamps
    result.equity = np.linspace(1000.0, 1100.0, n)
    result.cash = result.equity.copy()
    result.strategies["sma"].equity = result.equity.copy()
    text = render_report(result)
    assert '"type":"candlestick"' not in text
    assert "drawn as a line of closing prices" in text
    assert "downsampled from 250,000 to" in text


def test_unknown_symbol_raises(result: Result, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"MSFT.*AAPL"):
        write_html_report(result, tmp_path / "r.html", symbol="MSFT")


def test_folder_as_path_raises(result: Result, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder") as info:
        write_html_report(result, tmp_path)
    assert str(tmp_path) in str(info.value)


def test_without_bars_there_is_no_price_chart(result: Result) -> None:
    result.bars = {}
    text = render_report(result)
    assert "no price chart" in text and '"type":"candlestick"' not in text

"""Incremental downloads into the store: only the missing range, page by page, resumable after a failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.data import BarStore, load_sample
from tradeforge.data.download import download
from tradeforge.data.sources.base import BarSource, DataSourceError, TemporaryDataSourceError


def part(series: BarSeries, keep: np.ndarray) -> BarSeries:
    return BarSeries.from_arrays(
        series.symbol, series.timeframe, series.ts[keep], series.open[keep], series.high[keep], series.low[keep],
        series.close[keep], series.volume[keep],
    )  # fmt: skip


class FakeExchange:
    """Serves a real series page by page; can fail once after a number of pages (keeping the fetched bars)."""

    name = "fake"

    def __init__(self, series: BarSeries, page: int = 500, fail_after_pages: int | None = None) -> None:
        self.series = series
        self.page = page
        self.fail_after = fail_after_pages
        self.requests: list[int] = []

    def pages(self, symbol: str, timeframe: str, since: int, until: int | None = None) -> Iterator[BarSeries]:
        ts = self.series.ts
        end = int(ts[-1]) + 1 if until is None else until
        cursor = since
        while True:
            self.requests.append(cursor)
            keep = np.flatnonzero((ts >= cursor) & (ts < end))[: self.page]
            if not len(keep):
                return
            mask = np.zeros(len(ts), dtype=bool)
            mask[keep] = True
            page = part(self.series, mask)
            if self.fail_after is not None and len(self.requests) > self.fail_after:
                self.fail_after = None
                held = np.zeros(len(ts), dtype=bool)
                held[keep[: len(keep) // 2]] = True  # half of this page came in before the connection dropped
                raise TemporaryDataSourceError("connection reset", partial=part(self.series, held))
            yield page
            cursor = int(page.ts[-1]) + self.series.timeframe

    def fetch(self, symbol: str, timeframe: str, since: int, until: int | None = None, *, progress=None) -> BarSeries:  # type: ignore[no-untyped-def]
        pages = list(self.pages(symbol, timeframe, since, until))
        return part(self.series, np.isin(self.series.ts, np.concatenate([p.ts for p in pages])))


def test_fake_satisfies_the_protocol() -> None:
    assert isinstance(FakeExchange(load_sample("ETH-BTC")), BarSource)


def test_first_download_then_only_the_missing_range(tmp_path: Path) -> None:
    full = load_sample("ETH-BTC")
    store = BarStore(tmp_path)
    old = FakeExchange(part(full, np.arange(len(full)) < 3000))
    report = download(store, old, "ETH-BTC", "5m", since=int(full.ts[0]))
    assert report.new_bars == 3000 and report.last_ts == int(full.ts[2999])
    newer = FakeExchange(full)
    report = download(store, newer, "ETH-BTC", "5m", since=0)  # since is ignored once bars are stored
    assert newer.requests[0] == int(full.ts[2999]) + full.timeframe  # asks only after the newest stored bar
    assert report.new_bars == len(full) - 3000
    stored = store.read("fake", "ETH-BTC", "5m")
    np.testing.assert_array_equal(stored.ts, full.ts)
    np.testing.assert_array_equal(stored.close, full.close)
    assert download(store, newer, "ETH-BTC", "5m").new_bars == 0  # up to date: nothing new


def test_interrupted_download_keeps_what_came_and_resumes_without_duplicate_or_gap(tmp_path: Path) -> None:
    full = load_sample("BTC-PERP")
    store = BarStore(tmp_path)
    flaky = FakeExchange(full, page=1000, fail_after_pages=7)
    with pytest.raises(DataSourceError, match="connection reset"):
        download(store, flaky, "BTC-PERP", "1m", since=int(full.ts[0]))
    kept = store.read("fake", "BTC-PERP", "1m")
    assert len(kept) == 7 * 1000 + 500  # seven pages plus the half page fetched before the failure
    report = download(store, flaky, "BTC-PERP", "1m")
    assert report.new_bars == len(full) - len(kept)
    stored = store.read("fake", "BTC-PERP", "1m")
    np.testing.assert_array_equal(stored.ts, full.ts)  # no duplicate, no gap
    np.testing.assert_array_equal(stored.high, full.high)


def test_empty_store_needs_a_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pass since="):
        download(BarStore(tmp_path), FakeExchange(load_sample("ETH-BTC")), "ETH-BTC", "5m")

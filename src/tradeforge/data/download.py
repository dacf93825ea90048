"""Incremental downloads into the bar store: fetch only what is missing after the newest stored bar, store each
page as it arrives, and keep what was fetched when a download is interrupted (the next call resumes there)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.data.sources.base import BarSource, DataSourceError
from tradeforge.data.store import BarStore
from tradeforge.data.timeframes import timeframe_ns


@dataclass(frozen=True)
class DownloadReport:
    """What one download added to the store."""

    store_source: str
    symbol: str
    timeframe: str
    new_bars: int
    first_ts: int | None  # open time of the first bar fetched (None when nothing was new)
    last_ts: int | None  # open time of the newest stored bar after the download


def download(
    store: BarStore,
    source: BarSource,
    symbol: str,
    timeframe: str,
    *,
    since: int | None = None,
    until: int | None = None,
    store_as: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DownloadReport:
    """Bring the store's (store_as or source.name, symbol, timeframe) series up to `until` (default: now).

    With bars already stored, fetching starts after the newest one and `since` only applies to an empty store
    (where it is required). Pages are appended as they arrive; when the source fails part-way, the bars it
    fetched are stored before the error is re-raised, so calling download again resumes with no duplicate and
    no gap."""
    name = store_as or source.name
    tf = timeframe_ns(timeframe)
    last = store.last_ts(name, symbol, timeframe)
    if last is not None:
        start = last + tf
    elif since is not None:
        start = int(since)
    else:
        raise ConfigError(
            f"nothing is stored for {name}:{symbol}@{timeframe} yet: pass since= (int ns UTC) to say where to start"
        )
    added = 0
    first: int | None = None

    def keep(page: BarSeries) -> None:
        nonlocal added, first
        if not len(page):
            return
        added += store.append(name, page)
        if first is None:
            first = int(page.ts[0])
        if progress is not None:
            progress(added, int(page.ts[-1]))

    try:
        for page in _pages(source, symbol, timeframe, start, until):
            keep(page)
    except DataSourceError as exc:
        if exc.partial is not None:  # the bars before the failure that no stored page holds yet
            rest = _after(exc.partial, store.last_ts(name, symbol, timeframe))
            if rest is not None:
                keep(rest)
        raise
    return DownloadReport(name, symbol, timeframe, added, first, store.last_ts(name, symbol, timeframe))


def _pages(source: BarSource, symbol: str, timeframe: str, since: int, until: int | None) -> Iterator[BarSeries]:
    pages = getattr(source, "pages", None)
    if callable(pages):  # page by page: each is stored before the next request
        yield from pages(symbol, timeframe, since, until)
    else:
        yield source.fetch(symbol, timeframe, since, until)


def _after(series: BarSeries, stored_last: int | None) -> BarSeries | None:
    """The bars of series newer than stored_last (all of them when nothing is stored); None when none are."""
    if stored_last is None:
        return series
    keep = series.ts > stored_last
    if not keep.any():
        return None
    if keep.all():
        return series
    return BarSeries.from_arrays(
        series.symbol, series.timeframe, series.ts[keep], series.open[keep], series.high[keep], series.low[keep],
        series.close[keep], series.volume[keep], validate=False,
    )  # fmt: skip

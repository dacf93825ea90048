"""The small interface every market-data source implements, and the errors sources raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, GatewayError

Progress = Callable[[int, int], None]
"""Called after each page with (complete bars fetched so far, open time in ns of the newest of them)."""


class DataSourceError(GatewayError):
    """A data source failed. `partial` holds the complete bars fetched before the failure (or None):
    store them, then resume with ``fetch(..., since=partial.ts[-1] + 1)``."""

    def __init__(self, message: str, *, partial: BarSeries | None = None) -> None:
        super().__init__(message)
        self.partial = partial


class TemporaryDataSourceError(DataSourceError):
    """The source kept failing with a network, rate-limit or availability error after every retry: try later."""


class BadSymbolError(ConfigError):
    """The source does not know the symbol. `suggestions` lists close matches among the symbols it knows."""

    def __init__(self, message: str, *, symbol: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.suggestions = list(suggestions or [])


@runtime_checkable
class BarSource(Protocol):
    """Something that downloads bars. Times are int64 ns UTC; the result holds complete bars only, with
    ``since <= ts < until`` (until defaults to now), sorted, without duplicates."""

    name: str

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        since: int,
        until: int | None = None,
        *,
        progress: Progress | None = None,
    ) -> BarSeries: ...

"""Market-data sources behind one small interface (`BarSource`): exchanges through ccxt, ..."""

from tradeforge.data.sources.base import (
    BadSymbolError,
    BarSource,
    DataSourceError,
    Progress,
    TemporaryDataSourceError,
)
from tradeforge.data.sources.ccxt_source import CcxtSource
from tradeforge.data.sources.yahoo_source import YahooSource

__all__ = [
    "BadSymbolError",
    "BarSource",
    "CcxtSource",
    "DataSourceError",
    "Progress",
    "TemporaryDataSourceError",
    "YahooSource",
]

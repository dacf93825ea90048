"""tradeforge: research, test and trade strategies with one deterministic engine."""

from tradeforge.core.errors import (
    ConfigError,
    DataError,
    LookAheadError,
    LookAheadWarning,
    OrderRejected,
    StrategyError,
    TradeforgeError,
)
from tradeforge.core.strategy import Strategy, TradeEvent, crossover

__all__ = [
    "ConfigError",
    "DataError",
    "LookAheadError",
    "LookAheadWarning",
    "OrderRejected",
    "Strategy",
    "StrategyError",
    "TradeEvent",
    "TradeforgeError",
    "crossover",
]

__version__ = "0.1.0"

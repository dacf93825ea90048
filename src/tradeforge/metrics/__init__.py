"""Backtest statistics: one pure function from an equity curve and trades to Backtesting.py-compatible stats.

Imports only numpy, pandas (Timestamp/Timedelta results, formatting), the standard library and tradeforge.core.
"""

from tradeforge.metrics.drawdown import drawdown_series
from tradeforge.metrics.formatting import format_stats, stats_to_jsonable
from tradeforge.metrics.periods import period_returns
from tradeforge.metrics.stats import BACKTESTING_KEYS, EXTRA_KEYS, STATS_KEYS, compute_stats

__all__ = [
    "BACKTESTING_KEYS",
    "EXTRA_KEYS",
    "STATS_KEYS",
    "compute_stats",
    "drawdown_series",
    "format_stats",
    "period_returns",
    "stats_to_jsonable",
]

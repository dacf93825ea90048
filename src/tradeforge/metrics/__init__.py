"""Backtest statistics: one pure function from an equity curve and trades to Backtesting.py-compatible stats.

Imports only numpy, pandas (Timestamp/Timedelta results, formatting), the standard library and tradeforge.core.
"""

from tradeforge.metrics.drawdown import drawdown_series
from tradeforge.metrics.formatting import format_stats, stats_to_jsonable
from tradeforge.metrics.overfitting import (
    DeflatedSharpeResult,
    PBOResult,
    column_sharpe,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    overfitting_report,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_moments,
)
from tradeforge.metrics.periods import period_returns
from tradeforge.metrics.stats import BACKTESTING_KEYS, EXTRA_KEYS, STATS_KEYS, compute_stats

__all__ = [
    "BACKTESTING_KEYS",
    "EXTRA_KEYS",
    "STATS_KEYS",
    "DeflatedSharpeResult",
    "PBOResult",
    "column_sharpe",
    "compute_stats",
    "deflated_sharpe_ratio",
    "drawdown_series",
    "expected_max_sharpe",
    "format_stats",
    "overfitting_report",
    "period_returns",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "sharpe_moments",
    "stats_to_jsonable",
]

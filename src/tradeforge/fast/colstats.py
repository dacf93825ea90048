"""Per-column statistics of equity curves and trade records in one numba pass each, for sweeps of many columns.

Conventions (documented for users in tradeforge.research.metrics): returns are bar-to-bar simple returns of
equity; annualised figures multiply by ``periods_per_year`` (bars per year measured from the data's own time
stamps); the Sharpe and Sortino ratios use no risk-free rate and the sample standard deviation (ddof=1); the
downside deviation is sqrt(mean(min(r, 0)^2)) over all bars; max drawdown is the largest fall from a running
peak of equity, as a negative fraction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]

STAT_NAMES = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
)
TRADE_STAT_NAMES = ("n_trades", "win_rate", "profit_factor", "expectancy", "avg_trade_return")


@njit(cache=True, error_model="numpy")
def equity_stats_nb(equity_t: FloatArray, init_cash: FloatArray, periods_per_year: float) -> FloatArray:
    """(k, n_bars) equity, one row per column (the kernels' own layout: ``result.equity.T``), and (k,) starting
    cash -> (k, 7) rows of STAT_NAMES. Branch-free inner loop (min/max), about 2 ns per bar and column."""
    k, n = equity_t.shape
    out = np.full((k, 7), np.nan)
    years = n / periods_per_year if periods_per_year > 0 else np.nan
    ann = np.sqrt(periods_per_year)
    for j in range(k):
        row = equity_t[j]
        prev = init_cash[j]
        s = 0.0
        s2 = 0.0
        down2 = 0.0
        peak = init_cash[j]
        low_ratio = 1.0  # the lowest equity / running peak
        for i in range(n):
            e = row[i]
            r = e / prev - 1.0
            s += r
            s2 += r * r
            d = min(r, 0.0)
            down2 += d * d
            peak = max(peak, e)
            low_ratio = min(low_ratio, e / peak)
            prev = e
        last = row[n - 1]
        growth = last / init_cash[j]
        mean = s / n
        var = (s2 - n * mean * mean) / (n - 1) if n > 1 else np.nan
        std = np.sqrt(var) if var > 0.0 else 0.0
        mdd = low_ratio - 1.0 if peak > 0.0 else -1.0
        cagr = growth ** (1.0 / years) - 1.0 if growth > 0.0 and years > 0.0 else -1.0
        out[j, 0] = growth - 1.0
        out[j, 1] = cagr
        out[j, 2] = std * ann
        out[j, 3] = mean / std * ann if std > 0.0 else np.nan
        dstd = np.sqrt(down2 / n)
        out[j, 4] = mean / dstd * ann if dstd > 0.0 else np.nan
        out[j, 5] = mdd
        out[j, 6] = cagr / -mdd if mdd < 0.0 else np.nan
    return out


@njit(cache=True)
def trade_stats_nb(column: Any, pnl: FloatArray, ret: FloatArray, k: int) -> FloatArray:
    """Trade records' column, pnl and return -> (k, 5) rows of TRADE_STAT_NAMES (NaN where no trade)."""
    count = np.zeros(k)
    wins = np.zeros(k)
    gain = np.zeros(k)
    loss = np.zeros(k)
    rsum = np.zeros(k)
    for t in range(column.shape[0]):
        j = column[t]
        count[j] += 1.0
        p = pnl[t]
        if p > 0.0:
            wins[j] += 1.0
            gain[j] += p
        else:
            loss[j] -= p
        rsum[j] += ret[t]
    out = np.full((k, 5), np.nan)
    for j in range(k):
        out[j, 0] = count[j]
        if count[j] > 0.0:
            out[j, 1] = wins[j] / count[j]
            out[j, 2] = gain[j] / loss[j] if loss[j] > 0.0 else (np.inf if gain[j] > 0.0 else np.nan)
            out[j, 3] = (gain[j] - loss[j]) / count[j]
            out[j, 4] = rsum[j] / count[j]
    return out


@njit(cache=True)
def period_returns_nb(equity_t: FloatArray, init_cash: FloatArray, edges: Any) -> FloatArray:
    """Simple returns of equity ((k, n_bars), one row per column) between consecutive edges (bar indices; the
    value before edges[0] is the starting cash when edges[0] == 0): (len(edges) - 1, k)."""
    n_p = edges.shape[0] - 1
    k = equity_t.shape[0]
    out = np.empty((n_p, k))
    for j in range(k):
        for p in range(n_p):
            a = edges[p]
            b = edges[p + 1]
            start = init_cash[j] if a == 0 else equity_t[j, a - 1]
            end = equity_t[j, b - 1]
            out[p, j] = end / start - 1.0 if start != 0.0 else 0.0
    return out

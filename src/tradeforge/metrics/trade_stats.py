"""Statistics over closed trades (Backtesting.py 0.6.6's trade keys plus our win/loss averages)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.errors import DataError
from tradeforge.core.trades import Trade
from tradeforge.metrics.periods import Duration, ceil_to_resolution, geometric_mean

NAN = float("nan")


def _mean(values: npt.NDArray[np.float64]) -> float:
    return float(np.mean(values)) if len(values) else NAN


def _std(values: npt.NDArray[np.float64]) -> float:
    """Sample standard deviation (ddof=1) like pandas: NaN with fewer than two values."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else NAN


def nan_if_zero(value: float) -> float:
    """Python's ``value or nan``: 0 becomes NaN (Backtesting.py guards its divisions this way)."""
    return value if value else NAN


def ieee_div(num: float, den: float) -> float:
    """num / den with IEEE semantics (x/0 -> ±inf, 0/0 -> NaN) instead of ZeroDivisionError."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(num) / np.float64(den))


def validate_trades(trades: Sequence[Trade], n_steps: int) -> None:
    """Check the bar indices of every trade against the number of steps."""
    for t in trades:
        if not 0 <= t.entry_bar < n_steps:
            raise DataError(
                f"trade {t.id} ({t.symbol}) has entry_bar {t.entry_bar} outside the {n_steps} steps of the "
                "equity curve; bars are step indices into equity/timestamps (0 .. len-1)"
            )
        if not (t.size != 0 and t.entry_price > 0 and t.multiplier > 0):
            raise DataError(
                f"trade {t.id} ({t.symbol}) needs a non-zero size and positive entry_price and multiplier, "
                f"got size={t.size}, entry_price={t.entry_price}, multiplier={t.multiplier}"
            )
        if t.is_open:
            continue
        if not t.entry_bar <= t.exit_bar < n_steps:
            raise DataError(
                f"trade {t.id} ({t.symbol}) has exit_bar {t.exit_bar} before its entry_bar {t.entry_bar} or "
                f"outside the {n_steps} steps; use exit_bar=-1 for a trade that is still open"
            )
        if not (math.isfinite(t.exit_price) and t.exit_ts >= t.entry_ts):
            raise DataError(
                f"closed trade {t.id} ({t.symbol}) needs a finite exit_price and exit_ts >= entry_ts, got "
                f"exit_price={t.exit_price}, entry_ts={t.entry_ts}, exit_ts={t.exit_ts}"
            )


def exposure_pct(closed: Sequence[Trade], n_steps: int) -> float:
    """Share of steps (not of time) covered by a closed trade, entry and exit steps included.

    Backtesting.py 0.6.6 (finalize_trades=False) passes only closed trades, so open trades do not count.
    """
    have_position = np.zeros(n_steps, dtype=np.int64)
    for t in closed:
        have_position[t.entry_bar : t.exit_bar + 1] = 1
    return float(have_position.mean() * 100)


@dataclass(frozen=True, slots=True)
class TradeStats:
    n_trades: int
    win_rate_pct: float
    best_trade_pct: float
    worst_trade_pct: float
    avg_trade_pct: float
    max_trade_duration: Duration
    avg_trade_duration: Duration
    profit_factor: float
    expectancy_pct: float
    sqn: float
    kelly: float
    avg_win: float
    avg_loss: float
    avg_win_pct: float
    avg_loss_pct: float


def trade_stats(closed: Sequence[Trade], period: pd.Timedelta | None) -> TradeStats:
    """Backtesting.py's trade statistics of the closed trades; ``period`` is the bar period for rounding."""
    n = len(closed)
    pl = np.array([t.pnl for t in closed], dtype=np.float64)
    returns = np.array([t.return_pct for t in closed], dtype=np.float64)
    durations = pd.Series(np.array([t.exit_ts - t.entry_ts for t in closed], dtype="timedelta64[ns]"))

    win_rate = NAN if not n else float(np.mean(pl > 0))
    wins = pl[pl > 0]
    losses = pl[pl < 0]
    kelly = win_rate - ieee_div(1 - win_rate, ieee_div(_mean(wins), -_mean(losses)))
    max_duration: Duration = pd.Timedelta(durations.max()) if n else pd.NaT
    avg_duration: Duration = pd.Timedelta(durations.mean()) if n else pd.NaT
    return TradeStats(
        n_trades=n,
        win_rate_pct=win_rate * 100,
        best_trade_pct=float(returns.max()) * 100 if n else NAN,
        worst_trade_pct=float(returns.min()) * 100 if n else NAN,
        avg_trade_pct=geometric_mean(returns) * 100,
        max_trade_duration=ceil_to_resolution(max_duration, period),
        avg_trade_duration=ceil_to_resolution(avg_duration, period),
        profit_factor=ieee_div(
            float(returns[returns > 0].sum()),
            nan_if_zero(abs(float(returns[returns < 0].sum()))),
        ),
        expectancy_pct=_mean(returns) * 100,
        sqn=ieee_div(math.sqrt(n) * _mean(pl), nan_if_zero(_std(pl))),
        kelly=kelly,
        avg_win=_mean(wins),
        avg_loss=_mean(losses),
        avg_win_pct=_mean(returns[pl > 0]) * 100,
        avg_loss_pct=_mean(returns[pl < 0]) * 100,
    )


def default_fees(trades: Sequence[Trade]) -> float:
    """Fees of all trades, closed and open (an open trade has paid its entry fee)."""
    return float(sum(t.fees for t in trades))


def default_turnover(trades: Sequence[Trade]) -> float:
    """Traded value: every trade's entry value plus, once closed, its exit value."""
    total = 0.0
    for t in trades:
        total += abs(t.size) * t.entry_price * t.multiplier
        if not t.is_open:
            total += abs(t.size) * t.exit_price * t.multiplier
    return total

"""The original, straightforward compute_stats (pandas resampling, per-trade Python loops), kept as a reference.

Copied from src/tradeforge/metrics before it was vectorized (stats.py, periods.py, drawdown.py, trade_stats.py;
docstrings and input validation trimmed, every computation unchanged). tests/unit/metrics/
test_metrics_fast_path.py checks that the fast implementation returns exactly (bit for bit) what this returns.
Not used by the library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.trades import Trade

NAN = float("nan")
NS_PER_DAY = 86_400_000_000_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday == 0)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BACKTESTING_KEYS: tuple[str, ...] = (
    "Start", "End", "Duration", "Exposure Time [%]", "Equity Final [$]", "Equity Peak [$]",
    "Commissions [$]", "Return [%]", "Buy & Hold Return [%]", "Return (Ann.) [%]", "Volatility (Ann.) [%]",
    "CAGR [%]", "Sharpe Ratio", "Sortino Ratio", "Calmar Ratio", "Alpha [%]", "Beta", "Max. Drawdown [%]",
    "Avg. Drawdown [%]", "Max. Drawdown Duration", "Avg. Drawdown Duration", "# Trades", "Win Rate [%]",
    "Best Trade [%]", "Worst Trade [%]", "Avg. Trade [%]", "Max. Trade Duration", "Avg. Trade Duration",
    "Profit Factor", "Expectancy [%]", "SQN", "Kelly Criterion",
)  # fmt: skip
EXTRA_KEYS: tuple[str, ...] = (
    "Avg. Win [$]", "Avg. Loss [$]", "Avg. Win [%]", "Avg. Loss [%]", "Months Profitable [%]",
    "Weeks Profitable [%]", "Fees Paid [$]", "Turnover [$]", "Fees / Gross Profit [%]", "# Open Trades",
)  # fmt: skip
STATS_KEYS: tuple[str, ...] = BACKTESTING_KEYS + EXTRA_KEYS


# --- periods.py --------------------------------------------------------------------------------------------


def utc_index(timestamps: IntArray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(timestamps, unit="ns", utc=True))


def data_period(timestamps: IntArray) -> pd.Timedelta | None:
    last = timestamps[-100:]
    if len(last) < 2:
        return None
    return pd.Timedelta(pd.Series(pd.to_timedelta(np.diff(last), unit="ns")).median())


def ceil_to_resolution(value: Any, period: pd.Timedelta | None) -> Any:
    if period is None or not isinstance(value, pd.Timedelta):
        return value
    return value.ceil(period.resolution_string)


def annualization(timestamps: IntArray) -> tuple[int, str]:
    period = data_period(timestamps)
    freq_days = period.days if period is not None else 0
    days = timestamps // NS_PER_DAY
    weekday = (days + _EPOCH_WEEKDAY) % 7
    have_weekends = bool(np.mean((weekday >= 5) & (weekday <= 6)) > 2 / 7 * 0.6)
    if freq_days == 7:
        return 52, "W"
    if freq_days == 31:
        return 12, "ME"
    if freq_days == 365:
        return 1, "YE"
    return (365 if have_weekends else 252), "D"


def resampled_returns(equity: FloatArray, timestamps: IntArray, rule: str) -> FloatArray:
    series = pd.Series(equity, index=utc_index(timestamps))
    last = series.resample(rule).last().dropna()
    returns = last.pct_change().dropna()
    return np.asarray(returns.to_numpy(dtype=np.float64), dtype=np.float64)


def geometric_mean(returns: FloatArray) -> float:
    growth = np.nan_to_num(returns, nan=0.0) + 1.0
    if np.any(growth <= 0):
        return 0.0
    if len(growth) == 0:
        return float("nan")
    return float(np.exp(np.log(growth).sum() / len(growth)) - 1.0)


def _period_keys(timestamps: IntArray, period: str) -> IntArray:
    if period == "M":
        months = timestamps.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
        return np.asarray(months, dtype=np.int64)
    days = timestamps // NS_PER_DAY
    return np.asarray((days + _EPOCH_WEEKDAY) // 7, dtype=np.int64)


def share_profitable(eq: FloatArray, ts: IntArray, period: str) -> float:
    keys = _period_keys(ts, period)
    is_last = np.r_[keys[1:] != keys[:-1], True]
    ends = eq[is_last]
    starts = np.r_[eq[0], ends[:-1]]
    return float(np.mean(ends > starts) * 100.0)


# --- drawdown.py -------------------------------------------------------------------------------------------


def drawdown_fraction(equity: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        dd: FloatArray = 1.0 - equity / np.maximum.accumulate(equity)
    return dd


def drawdown_periods(dd: FloatArray, timestamps: IntArray) -> tuple[IntArray, FloatArray]:
    n = len(dd)
    iloc = np.unique(np.r_[np.flatnonzero(dd == 0), n - 1])
    prev = iloc[:-1]
    cur = iloc[1:]
    keep = cur > prev + 1
    if not bool(np.any(keep)):
        nonzero = dd[(dd != 0) & ~np.isnan(dd)]
        return np.empty(0, dtype=np.int64), nonzero.astype(np.float64)
    segment_max = np.maximum.reduceat(dd, prev) if len(prev) else np.empty(0, dtype=np.float64)
    peaks = np.maximum(segment_max, dd[cur])[keep]
    durations = (timestamps[cur[keep]] - timestamps[prev[keep]]).astype(np.int64)
    return durations, peaks.astype(np.float64)


# --- trade_stats.py ----------------------------------------------------------------------------------------


def _mean(values: FloatArray) -> float:
    return float(np.mean(values)) if len(values) else NAN


def _std(values: FloatArray) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else NAN


def nan_if_zero(value: float) -> float:
    return value if value else NAN


def ieee_div(num: float, den: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(num) / np.float64(den))


def exposure_pct(closed: Sequence[Trade], n_steps: int) -> float:
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
    max_trade_duration: Any
    avg_trade_duration: Any
    profit_factor: float
    expectancy_pct: float
    sqn: float
    kelly: float
    avg_win: float
    avg_loss: float
    avg_win_pct: float
    avg_loss_pct: float


def trade_stats(closed: Sequence[Trade], period: pd.Timedelta | None) -> TradeStats:
    n = len(closed)
    pl = np.array([t.pnl for t in closed], dtype=np.float64)
    returns = np.array([t.return_pct for t in closed], dtype=np.float64)
    durations = pd.Series(np.array([t.exit_ts - t.entry_ts for t in closed], dtype="timedelta64[ns]"))

    win_rate = NAN if not n else float(np.mean(pl > 0))
    wins = pl[pl > 0]
    losses = pl[pl < 0]
    kelly = win_rate - ieee_div(1 - win_rate, ieee_div(_mean(wins), -_mean(losses)))
    max_duration = pd.Timedelta(durations.max()) if n else pd.NaT
    avg_duration = pd.Timedelta(durations.mean()) if n else pd.NaT
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
    return float(sum(t.fees for t in trades))


def default_turnover(trades: Sequence[Trade]) -> float:
    total = 0.0
    for t in trades:
        total += abs(t.size) * t.entry_price * t.multiplier
        if not t.is_open:
            total += abs(t.size) * t.exit_price * t.multiplier
    return total


# --- stats.py (valid inputs only: the fast implementation's own checks are tested elsewhere) --------------


def compute_stats(
    equity: npt.ArrayLike,
    timestamps: npt.ArrayLike,
    trades: Sequence[Trade],
    *,
    benchmark_close: npt.ArrayLike | None = None,
    fees_paid: float | None = None,
    turnover: float | None = None,
    risk_free_rate: float = 0.0,
    warmup_bars: int = 0,
) -> dict[str, Any]:
    eq = np.asarray(equity, dtype=np.float64)
    raw_ts = np.asarray(timestamps)
    if raw_ts.dtype.kind == "M":
        raw_ts = raw_ts.astype("datetime64[ns]").astype(np.int64)
    ts = raw_ts.astype(np.int64)
    close = None if benchmark_close is None else np.asarray(benchmark_close, dtype=np.float64)
    n = len(eq)
    closed = [t for t in trades if not t.is_open]
    index = utc_index(ts)
    period = data_period(ts)

    s: dict[str, Any] = {}
    s["Start"] = index[0]
    s["End"] = index[-1]
    s["Duration"] = s["End"] - s["Start"]
    s["Exposure Time [%]"] = exposure_pct(closed, n)
    s["Equity Final [$]"] = float(eq[-1])
    s["Equity Peak [$]"] = float(eq.max())
    s["Commissions [$]"] = float(sum(t.fees for t in closed))
    s["Return [%]"] = float((eq[-1] - eq[0]) / eq[0] * 100)
    buy_hold = NAN
    if close is not None:
        buy_hold = float((close[-1] - close[warmup_bars]) / close[warmup_bars] * 100)
    s["Buy & Hold Return [%]"] = buy_hold

    years, rule = annualization(ts)
    day_returns = resampled_returns(eq, ts, rule)
    one_plus = np.float64(1 + geometric_mean(day_returns))
    day_var = np.float64(np.var(day_returns, ddof=1)) if len(day_returns) > 1 else np.float64(NAN)
    with np.errstate(invalid="ignore", over="ignore"):
        annualized_return = float(one_plus**years - 1)
        volatility = float(np.sqrt((day_var + one_plus**2) ** years - one_plus ** (2 * years)))
    s["Return (Ann.) [%]"] = annualized_return * 100
    s["Volatility (Ann.) [%]"] = volatility * 100
    duration: pd.Timedelta = s["Duration"]
    time_in_years = (duration.days + duration.seconds / 86400) / 365.25
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        growth = np.float64(eq[-1] / eq[0])
        s["CAGR [%]"] = float((growth ** (1 / time_in_years) - 1) * 100) if time_in_years else NAN

    excess_return_pct = s["Return (Ann.) [%]"] - risk_free_rate * 100
    s["Sharpe Ratio"] = ieee_div(excess_return_pct, nan_if_zero(s["Volatility (Ann.) [%]"]))
    with np.errstate(invalid="ignore"):
        downside = np.clip(day_returns, -np.inf, 0) ** 2
        downside_dev = float(np.sqrt(np.mean(downside))) if len(downside) else NAN
    s["Sortino Ratio"] = ieee_div(annualized_return - risk_free_rate, downside_dev * math.sqrt(years))
    dd = drawdown_fraction(eq)
    max_dd = -float(np.nan_to_num(dd.max()))
    s["Calmar Ratio"] = ieee_div(annualized_return, nan_if_zero(-max_dd))

    beta = NAN
    if close is not None and n > 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            equity_log_returns = np.log(eq[1:] / eq[:-1])
            market_log_returns = np.log(close[1:] / close[:-1])
            cov = np.cov(equity_log_returns, market_log_returns)
            beta = float(cov[0, 1] / cov[1, 1])
    s["Alpha [%]"] = s["Return [%]"] - risk_free_rate * 100 - beta * (buy_hold - risk_free_rate * 100)
    s["Beta"] = beta

    durations_ns, peaks = drawdown_periods(dd, ts)
    durations = pd.Series(durations_ns.astype("timedelta64[ns]"))
    s["Max. Drawdown [%]"] = max_dd * 100
    s["Avg. Drawdown [%]"] = -float(np.mean(peaks)) * 100 if len(peaks) else NAN
    has_periods = len(durations) > 0
    max_dd_duration = pd.Timedelta(durations.max()) if has_periods else pd.NaT
    avg_dd_duration = pd.Timedelta(durations.mean()) if has_periods else pd.NaT
    s["Max. Drawdown Duration"] = ceil_to_resolution(max_dd_duration, period)
    s["Avg. Drawdown Duration"] = ceil_to_resolution(avg_dd_duration, period)

    ts_stats = trade_stats(closed, period)
    s["# Trades"] = ts_stats.n_trades
    s["Win Rate [%]"] = ts_stats.win_rate_pct
    s["Best Trade [%]"] = ts_stats.best_trade_pct
    s["Worst Trade [%]"] = ts_stats.worst_trade_pct
    s["Avg. Trade [%]"] = ts_stats.avg_trade_pct
    s["Max. Trade Duration"] = ts_stats.max_trade_duration
    s["Avg. Trade Duration"] = ts_stats.avg_trade_duration
    s["Profit Factor"] = ts_stats.profit_factor
    s["Expectancy [%]"] = ts_stats.expectancy_pct
    s["SQN"] = ts_stats.sqn
    s["Kelly Criterion"] = ts_stats.kelly

    s["Avg. Win [$]"] = ts_stats.avg_win
    s["Avg. Loss [$]"] = ts_stats.avg_loss
    s["Avg. Win [%]"] = ts_stats.avg_win_pct
    s["Avg. Loss [%]"] = ts_stats.avg_loss_pct
    s["Months Profitable [%]"] = share_profitable(eq, ts, "M")
    s["Weeks Profitable [%]"] = share_profitable(eq, ts, "W")
    fees = float(fees_paid) if fees_paid is not None else default_fees(trades)
    s["Fees Paid [$]"] = fees
    s["Turnover [$]"] = float(turnover) if turnover is not None else default_turnover(trades)
    gross_profit = float(eq[-1] - eq[0]) + fees
    s["Fees / Gross Profit [%]"] = fees / gross_profit * 100 if gross_profit > 0 else NAN
    s["# Open Trades"] = len(trades) - len(closed)
    return {key: s[key] for key in STATS_KEYS}

"""compute_stats: one pure function from an equity curve and trades to Backtesting.py-style statistics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.trades import Trade
from tradeforge.metrics.drawdown import drawdown_fraction, drawdown_periods
from tradeforge.metrics.periods import (
    RULE_UNITS,
    Calendar,
    annualization_of,
    data_period_ns,
    geometric_mean,
    mean_ns,
    resolution_ns,
    returns_between,
    share_profitable_at,
    to_duration,
    utc_timestamp,
)
from tradeforge.metrics.trade_stats import (
    default_fees,
    default_turnover,
    exposure_pct,
    fee_sum,
    ieee_div,
    nan_if_zero,
    trade_arrays,
    trade_stats,
)

NAN = float("nan")

#: Backtesting.py 0.6.6's stats keys in its order (without its private _strategy, _equity_curve, _trades).
BACKTESTING_KEYS: tuple[str, ...] = (
    "Start", "End", "Duration", "Exposure Time [%]", "Equity Final [$]", "Equity Peak [$]",
    "Commissions [$]", "Return [%]", "Buy & Hold Return [%]", "Return (Ann.) [%]", "Volatility (Ann.) [%]",
    "CAGR [%]", "Sharpe Ratio", "Sortino Ratio", "Calmar Ratio", "Alpha [%]", "Beta", "Max. Drawdown [%]",
    "Avg. Drawdown [%]", "Max. Drawdown Duration", "Avg. Drawdown Duration", "# Trades", "Win Rate [%]",
    "Best Trade [%]", "Worst Trade [%]", "Avg. Trade [%]", "Max. Trade Duration", "Avg. Trade Duration",
    "Profit Factor", "Expectancy [%]", "SQN", "Kelly Criterion",
)  # fmt: skip

#: Keys tradeforge adds after Backtesting.py's.
EXTRA_KEYS: tuple[str, ...] = (
    "Avg. Win [$]", "Avg. Loss [$]", "Avg. Win [%]", "Avg. Loss [%]", "Months Profitable [%]",
    "Weeks Profitable [%]", "Fees Paid [$]", "Turnover [$]", "Fees / Gross Profit [%]", "# Open Trades",
)  # fmt: skip

STATS_KEYS: tuple[str, ...] = BACKTESTING_KEYS + EXTRA_KEYS


def _as_ns(values: npt.ArrayLike, what: str) -> npt.NDArray[np.int64]:
    """int64 nanoseconds from ints or datetime64; what: the argument and what it holds, for the error."""
    raw = np.asarray(values)
    if raw.dtype.kind == "M":
        raw = raw.astype("datetime64[ns]").astype(np.int64)
    if raw.dtype.kind not in "iu":
        raise DataError(
            f"{what}, got dtype {raw.dtype}; convert with pandas.DatetimeIndex(...).asi8 or numpy "
            "datetime64[ns].astype('int64')"
        )
    return raw.astype(np.int64, copy=False)


def _check_calendar(calendar_timestamps: npt.ArrayLike, ts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    cal = _as_ns(calendar_timestamps, "calendar_timestamps must be int64 nanoseconds (wall-clock times)")
    if cal.shape != ts.shape:
        raise DataError(f"calendar_timestamps has {cal.shape} values but timestamps has {ts.shape}: give one per step")
    if len(cal) > 1 and not bool(np.all(cal[1:] >= cal[:-1])):
        bad = int(np.flatnonzero(cal[1:] < cal[:-1])[0]) + 1
        raise DataError(f"calendar_timestamps must not decrease: step {bad} is before step {bad - 1}")
    return cal


def _check_inputs(
    equity: npt.ArrayLike,
    timestamps: npt.ArrayLike,
    benchmark_close: npt.ArrayLike | None,
    risk_free_rate: float,
    warmup_bars: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64] | None]:
    eq = np.asarray(equity, dtype=np.float64)
    if eq.ndim != 1 or eq.size == 0:
        raise DataError(
            f"equity must be a non-empty 1-D array with one value per step, got shape {eq.shape}; "
            "run the backtest for at least one step"
        )
    if not (math.isfinite(eq.min()) and math.isfinite(eq.max())):  # min/max propagate NaN
        bad = int(np.flatnonzero(~np.isfinite(eq))[0])
        raise DataError(f"equity must be finite, step {bad} is {eq[bad]}; fill or drop the missing steps")
    if not eq[0] > 0:
        raise DataError(f"the first equity value must be positive (starting cash), got {eq[0]}")

    ts = _as_ns(timestamps, "timestamps must be int64 nanoseconds since the epoch (UTC)")
    if ts.shape != eq.shape:
        raise DataError(
            f"equity has {eq.shape} values but timestamps has {ts.shape}; pass exactly one timestamp per "
            "equity value (one per step)"
        )
    if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        bad = int(np.flatnonzero(ts[1:] <= ts[:-1])[0]) + 1
        raise DataError(
            f"timestamps must be strictly increasing, step {bad} ({ts[bad]}) is not after step {bad - 1} "
            f"({ts[bad - 1]}); sort the steps and drop duplicate timestamps"
        )

    close: npt.NDArray[np.float64] | None = None
    if benchmark_close is not None:
        close = np.asarray(benchmark_close, dtype=np.float64)
        if close.shape != eq.shape:
            raise DataError(
                f"benchmark_close has shape {close.shape} but equity has {eq.shape}; pass one close price per step"
            )
        if not (close.min() > 0 and close.max() < math.inf):  # NaN fails the first test
            bad = int(np.flatnonzero(~(np.isfinite(close) & (close > 0)))[0])
            raise DataError(
                f"benchmark_close must be finite and positive, step {bad} is {close[bad]}; "
                "fill missing closes before computing statistics"
            )
    if not -1 < risk_free_rate < 1:
        raise ConfigError(
            f"risk_free_rate must be an annual rate as a fraction in (-1, 1), e.g. 0.02 for 2%, got {risk_free_rate}"
        )
    if not 0 <= warmup_bars < len(eq):
        raise ConfigError(f"warmup_bars must be in [0, {len(eq) - 1}] (a step index), got {warmup_bars}")
    return eq, ts, close


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
    calendar_timestamps: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """Statistics of a backtest, with Backtesting.py 0.6.6's keys, order and semantics, then ours.

    equity: account equity after each step's close, one value per step (float64).
    timestamps: step times as int64 ns UTC, strictly increasing (datetime64 is accepted too).
    trades: all trades, closed and still open. Trade statistics, exposure and Commissions [$] use only the
        closed ones (Backtesting.py with finalize_trades=False hands only closed trades to its statistics).
    benchmark_close: close price per step for Buy & Hold Return, Alpha and Beta (NaN when not given).
    fees_paid / turnover: totals over all fills; default to the trades' fees / entry plus exit values.
    risk_free_rate: annual, as a fraction.
    warmup_bars: step from which Buy & Hold is measured. Backtesting.py uses the strategy's indicator warm-up
        (first step at which every indicator is non-NaN); 0 measures from the first step.
    calendar_timestamps: the steps' wall-clock times (int64 ns, non-decreasing) when days, weeks and months
        are to be counted in a local time zone rather than in UTC: durations still come from timestamps.

    Returns a dict in STATS_KEYS order. Start/End are tz-aware UTC Timestamps, durations Timedeltas (NaT when
    undefined), counts ints, everything else floats (NaN when undefined).
    """
    eq, ts, close = _check_inputs(equity, timestamps, benchmark_close, risk_free_rate, warmup_bars)
    n = len(eq)
    all_trades = trade_arrays(trades, n)
    is_open = all_trades.is_open
    n_open = int(is_open.sum())
    closed = all_trades.select(~is_open) if n_open else all_trades
    period_ns = data_period_ns(ts)
    resolution = resolution_ns(period_ns)
    calendar = Calendar.of(ts if calendar_timestamps is None else _check_calendar(calendar_timestamps, ts))

    s: dict[str, Any] = {}
    s["Start"] = utc_timestamp(int(ts[0]))
    s["End"] = utc_timestamp(int(ts[-1]))
    s["Duration"] = s["End"] - s["Start"]
    s["Exposure Time [%]"] = exposure_pct(closed, n)
    s["Equity Final [$]"] = float(eq[-1])
    s["Equity Peak [$]"] = float(eq.max())
    s["Commissions [$]"] = fee_sum(closed.fees)
    s["Return [%]"] = float((eq[-1] - eq[0]) / eq[0] * 100)
    buy_hold = NAN
    if close is not None:
        buy_hold = float((close[-1] - close[warmup_bars]) / close[warmup_bars] * 100)
    s["Buy & Hold Return [%]"] = buy_hold

    ann = annualization_of(period_ns, float(calendar.weekend_share()))
    years = ann.periods_per_year
    day_returns = returns_between(eq[calendar.ends(RULE_UNITS[ann.resample_rule])])
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
    peak_dd = float(dd.max())
    max_dd = -(peak_dd if math.isfinite(peak_dd) else float(np.nan_to_num(peak_dd)))
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

    periods = drawdown_periods(dd, ts)
    durations = periods.durations_ns
    has_periods = len(durations) > 0
    s["Max. Drawdown [%]"] = max_dd * 100
    s["Avg. Drawdown [%]"] = -float(np.mean(periods.peaks)) * 100 if len(periods.peaks) else NAN
    s["Max. Drawdown Duration"] = to_duration(int(durations.max()) if has_periods else None, resolution)
    s["Avg. Drawdown Duration"] = to_duration(mean_ns(durations) if has_periods else None, resolution)

    ts_stats = trade_stats(closed, resolution)
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
    s["Months Profitable [%]"] = share_profitable_at(eq, calendar.ends("M"))
    s["Weeks Profitable [%]"] = share_profitable_at(eq, calendar.ends("W"))
    fees = float(fees_paid) if fees_paid is not None else default_fees(all_trades)
    s["Fees Paid [$]"] = fees
    s["Turnover [$]"] = float(turnover) if turnover is not None else default_turnover(all_trades)
    gross_profit = float(eq[-1] - eq[0]) + fees
    s["Fees / Gross Profit [%]"] = fees / gross_profit * 100 if gross_profit > 0 else NAN
    s["# Open Trades"] = n_open
    return {key: s[key] for key in STATS_KEYS}

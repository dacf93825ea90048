"""compute_stats against Backtesting.py 0.6.6 itself: every shared key must match.

Backtesting.py runs the SMA(10, 20) cross strategy on data copied next to this file; its closed trades,
its still-open trades and its equity curve are converted to tradeforge inputs and compute_stats must reproduce
its statistics (floats to 1e-9 relative/absolute, NaN == NaN, durations equal).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting._stats import compute_stats as bt_compute_stats
from backtesting._util import _indicator_warmup_nbars
from backtesting.lib import crossover

from tradeforge.core.trades import Trade
from tradeforge.metrics import BACKTESTING_KEYS, EXTRA_KEYS, STATS_KEYS, compute_stats
from tradeforge.metrics.periods import annualization

HERE = Path(__file__).parent
COMMISSION = 0.002


def load_ohlc(name: str) -> pd.DataFrame:
    """Our gzip CSV (timestamp ISO UTC, lower-case columns) as Backtesting.py wants it: tz-naive index."""
    df = pd.read_csv(HERE / name)
    index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp"), utc=True)).tz_convert(None).as_unit("ns")
    df.index = index
    df.columns = [c.capitalize() for c in df.columns]
    return df


def sma(values: Any, n: int) -> Any:
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self) -> None:
        self.sma1 = self.I(sma, self.data.Close, self.n1)
        self.sma2 = self.I(sma, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


class NeverTrade(Strategy):
    def init(self) -> None:
        pass

    def next(self) -> None:
        pass


class BuyAndHoldFromBar30(Strategy):
    """One trade opened at bar 31 and never closed: zero closed trades, one open."""

    def init(self) -> None:
        pass

    def next(self) -> None:
        if len(self.data) == 31 and not self.position:
            self.buy()


class TwoTradesThenHold(Strategy):
    """Closed trades and a trade still open at the end."""

    def init(self) -> None:
        pass

    def next(self) -> None:
        n = len(self.data)
        if n in (20, 60):
            self.buy()
        elif n in (40, 80):
            self.position.close()
        elif n == 100:
            self.buy(size=10)


def ns(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).tz_localize("UTC").value)


def run_backtest(df: pd.DataFrame, strategy: type[Strategy], cash: float = 10_000) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Some trades remain open", "prices larger than cash"
        bt = Backtest(df, strategy, cash=cash, commission=COMMISSION, finalize_trades=False)
        return bt.run()


def to_trades(stats: pd.Series, index: pd.DatetimeIndex) -> list[Trade]:
    """Backtesting.py's closed trades (stats._trades) and open trades (strategy.trades) as Trade records."""
    trades: list[Trade] = []
    for i, row in enumerate(stats._trades.itertuples(index=False)):
        entry_fee = abs(row.Size) * row.EntryPrice * COMMISSION
        trades.append(
            Trade(
                id=i,
                strategy="sma",
                symbol="X",
                size=float(row.Size),
                entry_price=float(row.EntryPrice),
                entry_ts=ns(row.EntryTime),
                entry_bar=int(row.EntryBar),
                entry_order_id=i,
                entry_fee=entry_fee,
                exit_price=float(row.ExitPrice),
                exit_ts=ns(row.ExitTime),
                exit_bar=int(row.ExitBar),
                exit_fee=float(row.Commission) - entry_fee,
            )
        )
    for t in stats._strategy.trades:  # still open at the end
        k = len(trades)
        trades.append(
            Trade(
                id=k,
                strategy="sma",
                symbol="X",
                size=float(t.size),
                entry_price=float(t.entry_price),
                entry_ts=ns(index[t.entry_bar]),
                entry_bar=int(t.entry_bar),
                entry_order_id=k,
                entry_fee=abs(t.size) * t.entry_price * COMMISSION,
            )
        )
    return trades


def assert_same(ours: dict[str, Any], theirs: pd.Series, *, commissions_shown: bool = True) -> None:
    keys = [k for k in BACKTESTING_KEYS if k in theirs.index]
    expected_missing = set() if commissions_shown else {"Commissions [$]"}
    assert set(BACKTESTING_KEYS) - set(keys) <= expected_missing | {"Commissions [$]"}
    mismatches = []
    for key in keys:
        a, b = ours[key], theirs[key]
        if isinstance(a, pd.Timestamp):
            assert str(a.tz) == "UTC", key
            ok = a.tz_convert(None) == b
        elif isinstance(a, pd.Timedelta) or a is pd.NaT:
            ok = (pd.isna(a) and pd.isna(b)) or a == b
        elif isinstance(a, int) and not isinstance(a, bool):
            ok = a == b
        else:
            a, b = float(a), float(b)
            ok = (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        if not ok:
            mismatches.append(f"{key}: ours={a!r} backtesting.py={b!r}")
    assert not mismatches, "\n".join(mismatches)


def our_stats(df: pd.DataFrame, stats: pd.Series, **kwargs: Any) -> dict[str, Any]:
    index = pd.DatetimeIndex(df.index)
    equity = stats._equity_curve["Equity"].to_numpy(dtype=np.float64)
    timestamps = index.tz_localize("UTC").asi8
    return compute_stats(
        equity,
        timestamps,
        to_trades(stats, index),
        benchmark_close=df["Close"].to_numpy(dtype=np.float64),
        warmup_bars=int(_indicator_warmup_nbars(stats._strategy)),
        **kwargs,
    )


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    return load_ohlc("GOOG-1d.csv.gz")


def test_goog_sma_cross_matches_backtesting_py(goog: pd.DataFrame) -> None:
    theirs = run_backtest(goog, SmaCross)
    assert theirs["# Trades"] == 93
    assert theirs["Equity Final [$]"] == pytest.approx(56263.51934, abs=1e-5)
    ours = our_stats(goog, theirs)
    assert list(ours) == list(STATS_KEYS)
    assert_same(ours, theirs)
    # spot-check values, and the keys Backtesting.py does not have
    assert ours["# Trades"] == 93
    assert ours["Equity Final [$]"] == pytest.approx(56263.51934, abs=1e-5)
    assert ours["Start"] == pd.Timestamp("2004-08-19", tz="UTC")
    assert ours["Max. Drawdown Duration"] == pd.Timedelta(days=830)
    assert ours["# Open Trades"] == 1  # the last SMA cross position is still open
    assert ours["Commissions [$]"] == pytest.approx(10563.95154, abs=1e-5)
    open_trade = stats_open_trade(theirs)
    assert ours["Fees Paid [$]"] == pytest.approx(ours["Commissions [$]"] + open_trade, rel=1e-12)


def stats_open_trade(stats: pd.Series) -> float:
    return float(sum(abs(t.size) * t.entry_price * COMMISSION for t in stats._strategy.trades))


class LongOnlySmaCross(SmaCross):
    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()


def weekly(df: pd.DataFrame) -> pd.DataFrame:
    agg = {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}
    return df.resample("W-FRI").agg(agg).dropna()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "strategy", "cash", "periods_per_year", "rule"),
    [
        # monthly bars: 'ME' resampling, 12 a year; the short side goes bankrupt (equity 0, Alpha NaN)
        ("BTCUSD-1mo.csv.gz", SmaCross, 10_000, 12, "ME"),
        ("BTCUSD-1mo.csv.gz", LongOnlySmaCross, 10_000, 12, "ME"),
        # crypto trades at weekends: 365 days a year, durations rounded to minutes
        ("ETHBTC-5m.csv.gz", SmaCross, 10_000, 365, "D"),
        # hourly FX without weekends: 252 days a year, durations rounded to hours
        ("EURUSD-1h.csv.gz", SmaCross, 10_000, 252, "D"),
        # weekly bars: 'W' resampling, 52 a year
        ("GOOG-1d.csv.gz/W", SmaCross, 10_000, 52, "W"),
    ],
)
def test_other_frequencies_match_backtesting_py(
    name: str, strategy: type[Strategy], cash: float, periods_per_year: int, rule: str
) -> None:
    df = weekly(load_ohlc(name.removesuffix("/W"))) if name.endswith("/W") else load_ohlc(name)
    theirs = run_backtest(df, strategy, cash=cash)
    assert theirs["# Trades"] > 0
    ours = our_stats(df, theirs)
    assert_same(ours, theirs)
    ann = annualization(pd.DatetimeIndex(df.index).tz_localize("UTC").asi8)
    assert (ann.periods_per_year, ann.resample_rule) == (periods_per_year, rule)


def test_zero_trades_matches_backtesting_py(goog: pd.DataFrame) -> None:
    theirs = run_backtest(goog, NeverTrade)
    assert theirs["# Trades"] == 0
    ours = our_stats(goog, theirs)
    assert_same(ours, theirs, commissions_shown=False)
    assert ours["Commissions [$]"] == 0.0  # Backtesting.py hides the key when it is 0
    assert ours["# Trades"] == 0 and ours["# Open Trades"] == 0
    assert ours["Exposure Time [%]"] == 0.0
    assert ours["Return [%]"] == 0.0
    for key in ("Win Rate [%]", "SQN", "Kelly Criterion", "Profit Factor", "Sharpe Ratio", "Avg. Trade [%]"):
        assert math.isnan(ours[key]), key
    assert ours["Beta"] == 0.0  # flat equity has no covariance with the market
    assert ours["Max. Trade Duration"] is pd.NaT and ours["Max. Drawdown Duration"] is pd.NaT
    assert ours["Fees Paid [$]"] == 0.0 and ours["Turnover [$]"] == 0.0


def test_only_an_open_trade_matches_backtesting_py(goog: pd.DataFrame) -> None:
    theirs = run_backtest(goog, BuyAndHoldFromBar30)
    assert theirs["# Trades"] == 0
    ours = our_stats(goog, theirs)
    assert_same(ours, theirs, commissions_shown=False)
    assert ours["# Open Trades"] == 1
    assert ours["Exposure Time [%]"] == 0.0  # like Backtesting.py: open trades are not exposure
    assert ours["Return [%]"] != 0.0  # but the equity curve carries the open position
    assert ours["Fees Paid [$]"] == pytest.approx(stats_open_trade(theirs), rel=1e-12)


def test_closed_and_open_trades_match_backtesting_py(goog: pd.DataFrame) -> None:
    theirs = run_backtest(goog, TwoTradesThenHold)
    assert theirs["# Trades"] == 2
    ours = our_stats(goog, theirs)
    assert_same(ours, theirs)
    assert ours["# Open Trades"] == 1
    entry_bars = sorted(theirs._trades["EntryBar"])
    exit_bars = sorted(theirs._trades["ExitBar"])
    covered = sum(x - e + 1 for e, x in zip(entry_bars, exit_bars, strict=True))
    assert ours["Exposure Time [%]"] == pytest.approx(covered / len(goog) * 100, rel=1e-12)


@pytest.mark.parametrize("risk_free_rate", [0.0, 0.03, -0.01])
def test_risk_free_rate_matches_backtesting_compute_stats(goog: pd.DataFrame, risk_free_rate: float) -> None:
    """Backtesting.py's compute_stats called directly (the run() path always uses a zero rate)."""
    run = run_backtest(goog, SmaCross)
    theirs = bt_compute_stats(
        trades=run._trades,
        equity=run._equity_curve["Equity"].to_numpy(),
        ohlc_data=goog,
        strategy_instance=None,  # Buy & Hold from bar 0
        risk_free_rate=risk_free_rate,
    )
    index = pd.DatetimeIndex(goog.index)
    ours = compute_stats(
        run._equity_curve["Equity"].to_numpy(dtype=np.float64),
        index.tz_localize("UTC").asi8,
        to_trades(run, index),
        benchmark_close=goog["Close"].to_numpy(dtype=np.float64),
        risk_free_rate=risk_free_rate,
    )
    assert_same(ours, theirs, commissions_shown=False)  # a trades DataFrame hides Commissions there


def test_extra_keys_follow_backtesting_keys(goog: pd.DataFrame) -> None:
    run = run_backtest(goog, SmaCross)
    ours = our_stats(goog, run)
    assert tuple(ours) == BACKTESTING_KEYS + EXTRA_KEYS
    assert [k for k in run.index if not k.startswith("_")] == list(BACKTESTING_KEYS)

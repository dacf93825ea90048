"""A small hand-built Result: 50 daily bars of one symbol, a closed long and an open short trade."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_DAY
from tradeforge.core.events import Fill
from tradeforge.core.orders import Order
from tradeforge.core.trades import Trade
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, Side
from tradeforge.sim.result import Result, StrategyResult

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
N = 50


def ts(i: int) -> int:
    return T0 + i * NS_PER_DAY


def make_bars() -> BarSeries:
    close = 100.0 + np.arange(N, dtype=np.float64)  # 100, 101, ..., 149
    return BarSeries.from_arrays(
        "AAPL",
        NS_PER_DAY,
        [ts(i) for i in range(N)],
        open=close - 0.5,
        high=close + 1.0,
        low=close - 1.0,
        close=close,
        volume=np.full(N, 1000.0),
    )


def make_orders() -> list[Order]:
    entry = Order(1, "sma", "AAPL", Side.BUY, OrderType.MARKET, 10.0, ts(4), 4, tag="go long")
    for status, i in ((OrderStatus.SUBMITTED, 4), (OrderStatus.ACCEPTED, 4), (OrderStatus.FILLED, 5)):
        entry.transition(status, ts(i))
    entry.record_fill(10.0, 104.5, 1.0)
    exit_ = Order(2, "sma", "AAPL", Side.SELL, OrderType.LIMIT, 10.0, ts(9), 9, limit=115.0, role="exit")
    exit_.trade_id = 1
    for status, i in ((OrderStatus.SUBMITTED, 9), (OrderStatus.ACCEPTED, 9), (OrderStatus.FILLED, 15)):
        exit_.transition(status, ts(i))
    exit_.record_fill(10.0, 115.0, 1.5)
    short = Order(3, "sma", "AAPL", Side.SELL, OrderType.MARKET, 5.0, ts(39), 39)
    for status, i in ((OrderStatus.SUBMITTED, 39), (OrderStatus.ACCEPTED, 39), (OrderStatus.FILLED, 40)):
        short.transition(status, ts(i))
    short.record_fill(5.0, 139.5, 0.5)
    pending = Order(4, "sma", "AAPL", Side.BUY, OrderType.STOP, 5.0, ts(40), 40, stop=160.0, role="stop_loss")
    pending.parent_id = 3
    pending.trade_id = 2
    return [entry, exit_, short, pending]


def make_fills() -> list[Fill]:
    return [
        Fill(1, "sma", "AAPL", Side.BUY, 10.0, 104.5, 1.0, ts(5), 5, Liquidity.TAKER, "market"),
        Fill(2, "sma", "AAPL", Side.SELL, 10.0, 115.0, 1.5, ts(15), 15, Liquidity.MAKER, "limit"),
        Fill(3, "sma", "AAPL", Side.SELL, 5.0, 139.5, 0.5, ts(40), 40, Liquidity.TAKER, "market"),
    ]


def make_trades() -> list[Trade]:
    closed = Trade(1, "sma", "AAPL", 10.0, 104.5, ts(5), 5, 1, entry_fee=1.0, tag="go long")
    closed.exit_price, closed.exit_ts, closed.exit_bar = 115.0, ts(15), 15
    closed.exit_order_id, closed.exit_fee, closed.exit_reason = 2, 1.5, "limit"
    short = Trade(2, "sma", "AAPL", -5.0, 139.5, ts(40), 40, 3, entry_fee=0.5)
    return [closed, short]


EQUITY = np.array([1000.0, 1010.0, 1005.0, 1020.0, 1002.0] + [1030.0] * (N - 5))


def make_stats() -> dict[str, object]:
    return {
        "Start": pd.Timestamp(ts(0), tz="UTC"),
        "End": pd.Timestamp(ts(N - 1), tz="UTC"),
        "Duration": pd.Timedelta(days=N - 1),
        "Equity Final [$]": 1030.0,
        "Return [%]": 3.0123456789,
        "Max. Drawdown [%]": -1.7647058823529411,
        "# Trades": 1,
        "Sharpe Ratio": math.nan,
    }


@pytest.fixture
def result() -> Result:
    cash = np.full(N, 1000.0)
    strategy = StrategyResult("sma", {"fast": 10, "slow": 30}, 1000.0, EQUITY.copy(), {"Return [%]": 3.0})
    return Result(
        orders=make_orders(),
        fills=make_fills(),
        trades=make_trades(),
        timestamps=np.array([ts(i) for i in range(N)], dtype=np.int64),
        equity=EQUITY.copy(),
        cash=cash,
        bars={"AAPL": make_bars()},
        stats=make_stats(),
        initial_cash=1000.0,
        strategies={"sma": strategy},
        fees_paid=3.0,
        turnover=2842.5,
    )

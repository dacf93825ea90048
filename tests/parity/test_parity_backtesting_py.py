"""The SMA(10,20) cross on GOOG must match Backtesting.py 0.6.6 trade for trade and key for key."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest
from backtesting import Strategy as BtStrategy
from backtesting.lib import crossover as bt_crossover
from backtesting.test import SMA

from tradeforge.data import load_sample, load_sample_frame, sample_instrument
from tradeforge.sim.backtest import run_backtest
from tradeforge.strategies import SmaCross


class BtSmaCross(BtStrategy):
    n1 = 10
    n2 = 20

    def init(self) -> None:
        self.s1 = self.I(SMA, self.data.Close, self.n1)
        self.s2 = self.I(SMA, self.data.Close, self.n2)

    def next(self) -> None:
        if bt_crossover(self.s1, self.s2):
            self.position.close()
            self.buy()
        elif bt_crossover(self.s2, self.s1):
            self.position.close()
            self.sell()


@pytest.fixture(scope="module")
def both():
    frame = load_sample_frame("GOOG")
    bt_frame = frame.rename(columns=str.capitalize)
    bt_frame.index = bt_frame.index.tz_localize(None)
    bt_stats = Backtest(bt_frame, BtSmaCross, cash=10_000, commission=0.002, finalize_trades=False).run()
    ours = run_backtest(
        SmaCross, load_sample("GOOG"), cash=10_000, commission=0.002, instruments={"GOOG": sample_instrument("GOOG")}
    )
    return bt_stats, ours


def test_pinned_reference_numbers(both):
    _, ours = both
    assert len(ours.closed_trades) == 93
    assert round(float(ours.equity[-1]), 2) == 56263.52
    assert ours.stats["# Trades"] == 93
    assert round(ours.stats["Equity Final [$]"], 2) == 56263.52


def test_trades_match_trade_for_trade(both):
    bt_stats, ours = both
    bt_trades = bt_stats._trades
    closed = ours.closed_trades
    assert len(closed) == len(bt_trades)
    np.testing.assert_array_equal([t.size for t in closed], bt_trades["Size"].to_numpy(dtype=float))
    np.testing.assert_array_equal([t.entry_bar for t in closed], bt_trades["EntryBar"].to_numpy())
    np.testing.assert_array_equal([t.exit_bar for t in closed], bt_trades["ExitBar"].to_numpy())
    np.testing.assert_allclose([t.entry_price for t in closed], bt_trades["EntryPrice"], rtol=0, atol=1e-9)
    np.testing.assert_allclose([t.exit_price for t in closed], bt_trades["ExitPrice"], rtol=0, atol=1e-9)
    np.testing.assert_allclose([t.pnl for t in closed], bt_trades["PnL"], rtol=1e-9)
    np.testing.assert_allclose([t.fees for t in closed], bt_trades["Commission"], rtol=1e-9)


def test_equity_curve_matches(both):
    bt_stats, ours = both
    np.testing.assert_allclose(ours.equity, bt_stats._equity_curve["Equity"].to_numpy(), rtol=1e-12)


def test_every_statistic_matches(both):
    bt_stats, ours = both
    compared = 0
    for key, theirs in bt_stats.items():
        if key.startswith("_"):
            continue
        mine = ours.stats[key]
        compared += 1
        if isinstance(theirs, pd.Timestamp):
            assert mine.tz_localize(None) == theirs, key
        elif isinstance(theirs, pd.Timedelta):
            assert mine == theirs, key
        elif isinstance(theirs, float) and math.isnan(theirs):
            assert math.isnan(mine), key
        else:
            assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-9), key
    assert compared >= 30


def test_replay_gives_the_same_result(both):
    _, ours = both
    replayed = run_backtest(
        SmaCross,
        load_sample("GOOG"),
        cash=10_000,
        commission=0.002,
        instruments={"GOOG": sample_instrument("GOOG")},
        replay=True,
    )
    assert np.array_equal(replayed.equity, ours.equity)
    assert [(f.order_id, f.bar, f.price, f.qty, f.fee) for f in replayed.fills] == [
        (f.order_id, f.bar, f.price, f.qty, f.fee) for f in ours.fills
    ]
    assert [(o.id, o.status, o.filled_qty) for o in replayed.orders] == [
        (o.id, o.status, o.filled_qty) for o in ours.orders
    ]


def test_the_same_strategy_object_runs_batch_then_replay_identically() -> None:
    from tradeforge.strategies import Breakout

    bars = load_sample("BTC-PERP").slice(0, 6000)
    strategy = Breakout(lookback=30, trend_len=4)
    batch = run_backtest(strategy, bars, cash=100_000, commission=0.0005)
    replay = run_backtest(strategy, bars, cash=100_000, commission=0.0005, replay=True)
    assert len(batch.closed_trades) > 10
    assert [(t.entry_bar, t.exit_bar, t.size, t.entry_price, t.exit_price, t.exit_reason) for t in batch.trades] == [
        (t.entry_bar, t.exit_bar, t.size, t.entry_price, t.exit_price, t.exit_reason) for t in replay.trades
    ]
    assert [(o.id, o.type, o.role, o.status, o.avg_fill_price) for o in batch.orders] == [
        (o.id, o.type, o.role, o.status, o.avg_fill_price) for o in replay.orders
    ]
    assert np.array_equal(batch.equity, replay.equity)

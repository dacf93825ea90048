"""A sweep's signal function in the event engine: the same trades as the fast path, in a backtest and in a
bar-by-bar replay (the live path), and look-ahead in a signal function is refused."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge import fast
from tradeforge.core.errors import LookAheadError, StrategyError
from tradeforge.data import load_sample
from tradeforge.research import Signals, sweep
from tradeforge.research.library import breakout, sma_cross
from tradeforge.research.signals import Bars
from tradeforge.research.strategy import signal_strategy
from tradeforge.sim.backtest import run_backtest


def kernel_run(fn, series, params, **kwargs):  # type: ignore[no-untyped-def]
    sig = fn(Bars.of(series), **{k: np.array([v]) for k, v in params.items()})
    return fast.simulate(
        series.open, series.high, series.low, series.close, sig.entries, sig.exits, sig.short_entries,
        sig.short_exits, **kwargs,
    )  # fmt: skip


def assert_same_trades(result, kernel) -> None:  # type: ignore[no-untyped-def]
    closed = kernel.trades[kernel.trades["exit_reason"] != 4]
    assert len(result.closed_trades) == len(closed)
    for engine_trade, record in zip(result.closed_trades, closed, strict=True):
        assert engine_trade.entry_price == pytest.approx(record["entry_price"], rel=1e-12)
        assert engine_trade.exit_price == pytest.approx(record["exit_price"], rel=1e-12)
        assert abs(engine_trade.size) == record["size"]
    np.testing.assert_allclose(result.equity, kernel.equity[:, 0], rtol=1e-9)


def test_the_goog_reference_through_the_signal_function() -> None:
    goog = load_sample("GOOG")
    strategy = signal_strategy(sma_cross, fast=10, slow=20)
    result = run_backtest(strategy, goog, commission=0.002)
    assert len(result.closed_trades) == 93
    assert result.equity[-1] == pytest.approx(56_263.52, abs=0.005)  # Backtesting.py's figure
    assert_same_trades(result, kernel_run(sma_cross, goog, {"fast": 10, "slow": 20}, fees=0.002))


def test_replay_bar_by_bar_gives_the_same_trades() -> None:
    eth = load_sample("ETH-BTC").slice(0, 1500)
    strategy = signal_strategy(breakout, window=30, size=0.5, sl=0.02, tp=0.05)
    batch = run_backtest(strategy, eth, cash=10.0, commission=0.001)
    replay = run_backtest(strategy(), eth, cash=10.0, commission=0.001, replay=True)
    assert len(batch.closed_trades) > 5
    assert [t.entry_price for t in batch.closed_trades] == [t.entry_price for t in replay.closed_trades]
    np.testing.assert_array_equal(batch.equity, replay.equity)


def test_best_of_a_sweep_runs_in_the_engine() -> None:
    goog = load_sample("GOOG")
    result = sweep(sma_cross, goog, {"fast": [5, 10, 20], "slow": [30, 50]}, fees=0.002, executor="serial")
    engine = run_backtest(signal_strategy(sma_cross, **result.best), goog, commission=0.002)
    assert engine.equity[-1] == pytest.approx(result.best_stats["final_equity"], rel=1e-9)
    assert len(engine.closed_trades) == result.best_stats["n_trades"]


def test_a_signal_function_that_peeks_ahead_is_refused() -> None:
    def peeking(bars: Bars, lag: np.ndarray) -> Signals:
        future_up = np.zeros((len(bars), 1), dtype=bool)
        future_up[:-1, 0] = bars.close[1:] > bars.close[:-1]  # tomorrow's close: look-ahead
        return Signals(future_up, ~future_up)

    with pytest.raises((StrategyError, LookAheadError), match=r"peeking \(output 0\) looks ahead"):
        run_backtest(signal_strategy(peeking, lag=1), load_sample("GOOG"))

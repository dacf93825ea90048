"""Backtest.optimize and tradeforge.compat.lib against Backtesting.py 0.6.6 on the same strategies and data."""

from __future__ import annotations

import warnings

import backtesting as bt
import backtesting.lib as bl
import numpy as np
import pandas as pd
import pytest
from backtesting.test import EURUSD, GOOG, SMA

import tradeforge.compat as tc
import tradeforge.compat.lib as tl
from tradeforge.compat.errors import UnknownParameterError
from tradeforge.core.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore")


def sma_cross(base: type, lib: object) -> type:
    class SmaCross(base):  # type: ignore[misc, valid-type]
        n1 = 10
        n2 = 20

        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if lib.crossover(self.sma1, self.sma2):  # type: ignore[attr-defined]
                self.position.close()
                self.buy()
            elif lib.crossover(self.sma2, self.sma1):  # type: ignore[attr-defined]
                self.position.close()
                self.sell()

    return SmaCross


# Backtesting.py pickles the strategy class for its worker pool: it must live at module level.
BtSmaCross = sma_cross(bt.Strategy, bl)
BtSmaCross.__qualname__ = BtSmaCross.__name__ = "BtSmaCross"
TcSmaCross = sma_cross(tc.Strategy, tl)
GRID = {"n1": [5, 10, 15, 20], "n2": [10, 20, 30, 40, 50]}


def same_stats(a: pd.Series, b: pd.Series) -> list[str]:
    bad = []
    assert set(a.index) == set(b.index)
    for key in a.index:
        if key.startswith("_"):
            continue
        x, y = a[key], b[key]
        if isinstance(x, float):
            if not np.isclose(x, y, rtol=1e-9, equal_nan=True):
                bad.append(key)
        elif x != y:
            bad.append(key)
    return bad


def test_grid_heatmap_and_best_run_equal_backtesting_py() -> None:
    kw = dict(GRID, constraint=lambda p: p.n1 < p.n2, return_heatmap=True, maximize="Equity Final [$]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best_a, heat_a = bt.Backtest(GOOG, BtSmaCross, commission=0.002).optimize(**kw)
    best_b, heat_b = tc.Backtest(GOOG, TcSmaCross, commission=0.002).optimize(**kw)
    assert heat_a.index.equals(heat_b.index)
    assert heat_a.name == heat_b.name == "Equity Final [$]"
    np.testing.assert_allclose(heat_b.to_numpy(), heat_a.to_numpy(), rtol=1e-9)
    assert best_b._strategy._params == best_a._strategy._params
    assert same_stats(best_a, best_b) == []


def test_a_function_to_maximize_gives_the_same_unnamed_heatmap() -> None:
    kw = dict(GRID, return_heatmap=True, maximize=lambda s: s["# Trades"] - s["Max. Drawdown [%]"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best_a, heat_a = bt.Backtest(GOOG.iloc[:600], BtSmaCross).optimize(**kw)
    best_b, heat_b = tc.Backtest(GOOG.iloc[:600], TcSmaCross).optimize(**kw)
    assert heat_a.name is None and heat_b.name is None
    assert heat_a.index.equals(heat_b.index)
    np.testing.assert_allclose(heat_b.to_numpy(), heat_a.to_numpy(), rtol=1e-9)
    assert best_b._strategy._params == best_a._strategy._params


def test_grid_with_max_tries_samples_the_same_combinations_as_backtesting_py() -> None:
    kw = dict(GRID, constraint=lambda p: p.n1 < p.n2, max_tries=0.4, random_state=7, return_heatmap=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, heat_a = bt.Backtest(GOOG, BtSmaCross, commission=0.002).optimize(**kw)
    _, heat_b = tc.Backtest(GOOG, TcSmaCross, commission=0.002).optimize(**kw)
    assert heat_a.index.equals(heat_b.index)
    np.testing.assert_allclose(heat_b.to_numpy(), heat_a.to_numpy(), rtol=1e-9)


def test_worker_processes_give_exactly_the_serial_results() -> None:
    test = tc.Backtest(GOOG, TcSmaCross, commission=0.002)
    _, serial = test.optimize(**GRID, return_heatmap=True, workers=1)
    _, parallel = test.optimize(**GRID, return_heatmap=True, workers=2)
    pd.testing.assert_series_equal(serial, parallel)
    assert serial.notna().sum() == 18  # n1 == n2 never crosses: no trades, NaN as in Backtesting.py


def test_random_and_bayes_search() -> None:
    test = tc.Backtest(GOOG, TcSmaCross, commission=0.002)
    stats, heat = test.optimize(**GRID, method="random", max_tries=6, random_state=3, return_heatmap=True)
    assert len(heat) == 6 and heat.index.is_unique
    assert stats["SQN"] == pytest.approx(heat.max(), rel=1e-12)
    again = test.optimize(**GRID, method="random", max_tries=6, random_state=3, return_heatmap=True)[1]
    pd.testing.assert_series_equal(heat, again)
    stats, heat, study = test.optimize(
        **GRID,
        method="bayes",
        max_tries=8,
        random_state=1,
        constraint=lambda p: p.n1 < p.n2,
        return_heatmap=True,
        return_optimization=True,
    )
    assert len(heat) == 8
    assert all(n1 < n2 for n1, n2 in heat.index)
    assert stats["SQN"] == pytest.approx(heat.max(), rel=1e-12)
    assert study.best_value == pytest.approx(heat.max(), rel=1e-12)
    # a "sambo" call (Backtesting.py's name for its model-based search) runs the same search
    assert test.optimize(**GRID, method="sambo", max_tries=4, random_state=1)["# Trades"] > 0


def test_optimize_misuse_gets_clear_errors() -> None:
    test = tc.Backtest(GOOG, TcSmaCross)
    with pytest.raises(UnknownParameterError, match="missing parameter"):
        test.optimize(n3=[1, 2])
    with pytest.raises(AttributeError):  # as Backtesting.py raises for unknown parameters
        test.run(n3=2)
    with pytest.raises(ValueError, match="not a statistic"):
        test.optimize(n1=[5, 10], maximize="Profit")
    with pytest.raises(ValueError, match="no optimization values"):
        test.optimize(n1=[])
    with pytest.raises(ValueError, match="No admissible"):
        test.optimize(n1=[30], n2=[10], constraint=lambda p: p.n1 < p.n2)
    with pytest.raises(ValueError, match="method"):
        test.optimize(n1=[5, 10], method="annealing")
    with pytest.raises(ConfigError):
        test.optimize()


def signal_trailing(base: type, lib: object) -> type:
    class SignalTrailing(lib.SignalStrategy, lib.TrailingStrategy):  # type: ignore[misc, name-defined]
        def init(self) -> None:
            super().init()
            close = self.data.Close.s
            fast, slow = close.rolling(10).mean(), close.rolling(30).mean()
            self.set_signal((fast > slow) & (fast.shift() <= slow.shift()), None)
            self.set_trailing_sl(3)
            self.weekly = lib.resample_apply("W-FRI", SMA, self.data.Close, 5)  # type: ignore[attr-defined]

    return SignalTrailing


@pytest.mark.parametrize("data", [GOOG, EURUSD], ids=["GOOG", "EURUSD"])
def test_signal_trailing_resample_and_compute_stats_match_backtesting_py(data: pd.DataFrame) -> None:
    a = bt.Backtest(data, signal_trailing(bt.Strategy, bl), commission=0.002).run()
    b = tc.Backtest(data, signal_trailing(tc.Strategy, tl), commission=0.002).run()
    cols = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "SL", "PnL"]
    assert len(a._trades) == len(b._trades) > 10
    np.testing.assert_allclose(b._trades[cols].to_numpy(float), a._trades[cols].to_numpy(float), rtol=1e-9)
    assert same_stats(a, b) == []
    longs_a = bl.compute_stats(stats=a, data=data, trades=a._trades[a._trades.Size > 0], risk_free_rate=0.01)
    longs_b = tl.compute_stats(stats=b, data=data, trades=b._trades[b._trades.Size > 0], risk_free_rate=0.01)
    assert same_stats(longs_a, longs_b) == []
    np.testing.assert_allclose(
        b._strategy.weekly, a._strategy.weekly, rtol=1e-12, equal_nan=True
    )  # the weekly SMA brought back to daily bars


def test_multi_backtest_one_column_per_dataset() -> None:
    result = tl.MultiBacktest([GOOG, EURUSD], TcSmaCross, commission=0.002).run(n1=5)
    assert list(result.columns) == [0, 1]
    assert result.loc["# Trades", 0] == tc.Backtest(GOOG, TcSmaCross, commission=0.002).run(n1=5)["# Trades"]
    assert not any(str(k).startswith("_") for k in result.index)


def test_lookahead_indicator_is_shown_only_what_was_known_at_each_bar() -> None:
    """A shift(-1) indicator warns and next() sees it recomputed on the bars so far: the last value is NaN, the
    one before is the close known now; init() and the plot keep the values computed on all the data."""
    from tradeforge import LookAheadWarning

    seen: list[tuple[float, float, float, int]] = []

    class Peek(tc.Strategy):
        def init(self) -> None:
            self.future = self.I(lambda c: pd.Series(c).shift(-1).to_numpy(), self.data.Close)
            self.whole = self.future  # what init() got: computed on all the data

        def next(self) -> None:
            seen.append((self.future[-1], self.future[-2], self.data.Close[-1], len(self.future)))
            if self.future[-1] > self.data.Close[-1]:  # never true: the next close is not known yet
                self.buy()

    with pytest.warns(LookAheadWarning, match=r'indicator "λ\(C\)" uses future data: its value at bar'):
        stats = tc.Backtest(GOOG, Peek).run()
    assert stats["# Trades"] == 0
    assert len(seen) == len(GOOG) - 1
    for k, (last, before, close, length) in enumerate(seen, start=2):
        assert length == k and np.isnan(last) and before == close
    whole = stats["_strategy"].whole
    assert np.array_equal(whole[:-1], GOOG.Close.to_numpy()[1:])

    with warnings.catch_warnings():  # strict: the warning as an error
        warnings.simplefilter("error", LookAheadWarning)
        with pytest.raises(LookAheadWarning, match="uses future data"):
            tc.Backtest(GOOG, Peek).run()

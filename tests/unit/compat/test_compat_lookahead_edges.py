"""Look-ahead indicators and multi-asset edge cases: next() never sees a later bar, whatever the indicator's
shape, however the strategy holds it, and in every mode that runs it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting.test import GOOG

from tradeforge import LookAheadWarning
from tradeforge.compat import Backtest, Strategy, hosted, load_samples_frame

pytestmark = pytest.mark.filterwarnings("ignore")
STOCKS = ["AAPL", "IBM", "KO", "MSFT"]


def two(close: Any) -> tuple[pd.Series, pd.Series]:
    """Two outputs; the first peeks one bar ahead."""
    c = pd.Series(close)
    return c.shift(-1), c


def test_recomputed_indicator_keeps_its_orientation_when_it_is_square() -> None:
    """At bar 1 a two-output indicator over two bars is 2 x 2: it must not be read the other way round."""
    seen: list[np.ndarray] = []

    class Square(Strategy):
        def init(self) -> None:
            self.x = self.I(two, self.data.Close)

        def next(self) -> None:
            seen.append(np.asarray(self.x[1]).copy())
            assert np.isnan(self.x[0][-1])  # the next close is never known

    Backtest(GOOG.iloc[:40], Square).run()
    closes = GOOG.Close.to_numpy()
    for k, row in enumerate(seen, start=2):
        np.testing.assert_array_equal(row, closes[:k])


def test_unpacked_rows_of_a_lookahead_indicator_are_recomputed_too() -> None:
    class Unpacked(Strategy):
        def init(self) -> None:
            self.fut, self.cur = self.I(two, self.data.Close)

        def next(self) -> None:
            assert np.isnan(self.fut[-1]) and self.fut[-2] == self.data.Close[-1] == self.cur[-1]

    with pytest.warns(LookAheadWarning):
        stats = Backtest(GOOG.iloc[:60], Unpacked).run()
    np.testing.assert_array_equal(stats["_strategy"].fut[:-1], GOOG.Close.to_numpy()[1:60])  # full values after


def test_a_lookahead_filter_that_needs_more_bars_sees_nothing_until_it_can_run() -> None:
    def centred(close: Any) -> np.ndarray:  # an 11-bar centred mean: look-ahead, and needs 11 bars to run
        values = np.asarray(close, dtype=float)
        if len(values) < 11:
            raise ValueError("window_length must be less than or equal to the size of x")
        return pd.Series(values).rolling(11, center=True, min_periods=1).mean().to_numpy()

    seen: list[float] = []

    class Smooth(Strategy):
        def init(self) -> None:
            self.smooth = self.I(centred, self.data.Close)

        def next(self) -> None:
            seen.append(float(self.smooth[-1]))

    Backtest(GOOG.iloc[:80], Smooth).run()
    assert all(np.isnan(v) for v in seen[:9]) and not np.isnan(seen[9])  # bars 1-9 NaN, bar 10 computed
    assert len(seen) == 79
    from tradeforge.data import load_sample
    from tradeforge.sim.backtest import run_backtest

    class Warm(Smooth):  # hosted: recomputed only from the first bar next() sees (bar 30), so it runs
        def init(self) -> None:
            self.slow = self.I(lambda c: pd.Series(c).rolling(30).mean(), self.data.Close)
            super().init()

    seen.clear()
    result = run_backtest(hosted(Warm)(), load_sample("GOOG"), cash=10_000)
    assert result.equity[-1] == pytest.approx(10_000) and len(seen) == len(GOOG) - 30


@pytest.fixture(scope="module")
def stocks() -> pd.DataFrame:
    return load_samples_frame(STOCKS)


def test_multi_asset_lookahead_on_data_close_is_caught(stocks: pd.DataFrame) -> None:
    class Peek(Strategy):
        def init(self) -> None:
            self.fut = self.I(lambda c: pd.DataFrame(c).shift(-1), self.data.Close, name="fut")

        def next(self) -> None:
            assert self.fut.shape == (len(self.data), 4) and np.isnan(self.fut[-1]).all()
            if len(self.data) > 1:  # multi-asset runs start at bar 0 (no indicator warm-up here)
                np.testing.assert_array_equal(self.fut[-2], self.data.Close[-1])

    with pytest.warns(LookAheadWarning, match='indicator "fut" uses future data'):
        Backtest(stocks.iloc[:60], Peek).run()


def test_multi_asset_function_returning_a_frame_keeps_the_asset_names(stocks: pd.DataFrame) -> None:
    class Named(Strategy):
        def init(self) -> None:
            self.roc = self.I(lambda df: df.xs("Close", axis=1, level=1).pct_change(5), self.data.df, name="roc")

        def next(self) -> None:
            roc = self.roc.df.iloc[-1]
            assert list(roc.index) == STOCKS
            self.alloc.add(roc.nlargest(2).index).equal_weight()
            self.rebalance(True)  # minitrade's positional force

    assert Backtest(stocks.iloc[:120], Named, cash=100_000).run()["# Trades"] > 0


def test_multi_asset_orders_placed_in_init_fill_on_the_first_next_bar(stocks: pd.DataFrame) -> None:
    """As minitrade 0.1.40: an order from init() with a 2-bar indicator fills at bar 1's open."""

    class InitBuy(Strategy):
        def init(self) -> None:
            self.sma = self.I(self.data.Close.df.rolling(2).mean(), name="s")
            self.buy(symbol="AAPL", size=10)

        def next(self) -> None:
            pass

    trades = Backtest(stocks, InitBuy, cash=100_000).run()["_trades"]
    assert trades[["Symbol", "Size", "EntryBar"]].to_dict("records") == [{"Symbol": "AAPL", "Size": 10, "EntryBar": 1}]
    assert trades["EntryPrice"].iloc[0] == stocks["AAPL"]["Open"].iloc[1]

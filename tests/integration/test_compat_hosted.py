"""A Backtesting.py strategy hosted as a tradeforge Strategy (tradeforge.compat.hosted): the same trades as
Backtest (and so as Backtesting.py) on the engine's own venue, the same on bars arriving one at a time, its state
kept across bars, and found in a strategy file by the command line."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeforge.compat import Backtest, Strategy
from tradeforge.compat.hosted import hosted
from tradeforge.compat.lib import crossover
from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, StrategyError
from tradeforge.data import load_sample, load_sample_frame
from tradeforge.service.strategy_loader import load_strategy_class
from tradeforge.sim.backtest import run_backtest


def sma(values: np.ndarray, n: int) -> pd.Series:
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


class Bracketed(Strategy):
    """Limit entries with stop-loss / take-profit, a hand-moved stop, partial closes and a counter kept in
    init() that next() changes (it must survive bars arriving one at a time)."""

    n = 15

    def init(self) -> None:
        self.ma = self.I(sma, self.data.Close, self.n)
        self.calls = 0
        self.seen: list[float] = []

    def next(self) -> None:
        self.calls += 1
        price = self.data.Close[-1]
        self.seen.append(float(self.ma[-1]))
        if not self.position and not self.orders and price > self.ma[-1]:
            self.buy(size=10, limit=price * 0.999, sl=price * 0.97, tp=price * 1.05, tag="dip")
        for trade in self.trades:
            if self.data.Close[-1] > trade.entry_price * 1.02:
                trade.sl = max(trade.sl or 0.0, trade.entry_price)
            if len(self.data) - trade.entry_bar > 20 and abs(trade.size) > 1:
                trade.close(0.5)
        for order in self.orders:
            if not order.is_contingent and len(self.data) % 7 == 0:
                order.cancel()


def _trades(result: object) -> list[tuple[float, int, int, float, float]]:
    return [
        (t.size, t.entry_bar, t.exit_bar, t.entry_price, t.exit_price)
        for t in result.closed_trades  # type: ignore[attr-defined]
    ]


def test_hosted_sma_cross_makes_backtesting_py_trades_on_the_engine() -> None:
    goog = load_sample_frame("GOOG").rename(columns=str.capitalize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(goog, SmaCross, cash=10_000, commission=0.002).run()
    result = run_backtest(hosted(SmaCross), load_sample("GOOG"), cash=10_000, commission=0.002)
    expected = stats["_trades"][["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]]
    assert _trades(result) == [tuple(row) for row in expected.itertuples(index=False)]
    assert len(result.closed_trades) == 93
    assert result.equity[-1] == pytest.approx(56263.51934, abs=1e-4)
    # parameters are the Backtesting.py class's
    assert hosted(SmaCross).parameters() == {"n1": 10, "n2": 20}
    fast = run_backtest(hosted(SmaCross)(n1=5), load_sample("GOOG"), cash=10_000, commission=0.002)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(fast.closed_trades) == Backtest(goog, SmaCross, cash=10_000, commission=0.002).run(n1=5)["# Trades"]


def goog_bars(n: int) -> BarSeries:
    """The first n bars of the GOOG sample."""
    full = load_sample("GOOG")
    return BarSeries.from_arrays(
        "GOOG", full.timeframe, full.ts[:n], full.open[:n], full.high[:n], full.low[:n], full.close[:n], full.volume[:n]
    )


def test_bars_one_at_a_time_give_the_batch_result_and_keep_the_strategy_state() -> None:
    bars = goog_bars(300)
    runs = {}
    for replay in (False, True):
        strategy = hosted(Bracketed)()
        result = run_backtest(strategy, bars, cash=100_000, commission=0.001, replay=replay)
        runs[replay] = (result, strategy._compat)
    (batch, batch_compat), (replayed, replayed_compat) = runs[False], runs[True]
    assert len(batch.closed_trades) >= 5  # entries, stops, targets and partial closes happened
    assert _trades(replayed) == _trades(batch)
    assert [o.status for o in replayed.orders] == [o.status for o in batch.orders]
    assert replayed.equity[-1] == pytest.approx(batch.equity[-1], rel=1e-12)
    # next() ran on the same bars with the same indicator values, and init()'s counter was never reset
    assert replayed_compat.calls == batch_compat.calls == 300 - 15
    assert replayed_compat.seen == pytest.approx(batch_compat.seen, rel=1e-12)


def test_hosting_refuses_what_it_cannot_run() -> None:
    with pytest.raises(ConfigError, match=r"tradeforge\.compat\.Strategy subclass"):
        hosted(object)  # type: ignore[arg-type]

    class Clashing(SmaCross):
        equity = 5  # a parameter named like a tradeforge.Strategy attribute

    with pytest.raises(ConfigError, match="clash"):
        hosted(Clashing)
    two = [load_sample("ETH-BTC"), load_sample("LTC-BTC")]
    with pytest.raises(StrategyError, match="trades one symbol, but this run gives it 2"):
        run_backtest(hosted(SmaCross), two, cash=1.0)  # one instance given both symbols

    class BuysInInit(SmaCross):  # Backtest holds such an order for the first next(); hosted reruns init()
        def init(self) -> None:
            super().init()
            self.buy()

    for replay in (False, True):
        with pytest.raises(StrategyError, match=r"cannot place orders in init\(\)"):
            run_backtest(hosted(BuysInInit), load_sample("GOOG"), cash=10_000, replay=replay)


# the module's own sma and SmaCross, written out as a user's strategy file
STRATEGY_FILE = "\n".join(
    [
        "from __future__ import annotations",
        "import numpy as np",
        "import pandas as pd",
        "from tradeforge.compat import Strategy",
        "from tradeforge.compat.lib import crossover",
        inspect.getsource(sma),
        inspect.getsource(SmaCross),
    ]
)


def test_a_backtesting_py_strategy_file_runs_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "bt_sma.py"
    path.write_text(STRATEGY_FILE)
    klass = load_strategy_class(f"{path}:SmaCross")
    assert klass.parameters() == {"n1": 10, "n2": 20}
    assert load_strategy_class(str(path)).parameters() == {"n1": 10, "n2": 20}
    out = subprocess.run(
        [sys.executable, "-m", "tradeforge.cli", "backtest", "-s", str(path), "-d", "GOOG", "--cash", "10000",
         "--commission", "0.002", "--no-report", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert "56263.51934" in out.stdout
    assert "│ # Trades" in out.stdout and " 93 │" in out.stdout


class LateRecorder(Strategy):
    """minitrade's start_on_day() and record() in a hosted strategy."""

    def init(self) -> None:
        self.sma = self.I(lambda c: pd.Series(c).rolling(5).mean(), self.data.Close)
        self.start_on_day(40)
        self.first: int | None = None

    def next(self) -> None:
        if self.first is None:
            self.first = len(self.data) - 1
        self.record(close=float(self.data.Close[-1]))


def test_hosted_start_on_day_and_record_as_in_backtest() -> None:
    bars = goog_bars(120)
    goog = load_sample_frame("GOOG").rename(columns=str.capitalize).iloc[:120]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(goog, LateRecorder).run()
    assert stats["_strategy"].first == 40
    for replay in (False, True):
        strategy = hosted(LateRecorder)()
        run_backtest(strategy, bars, cash=10_000, replay=replay)
        compat = strategy._compat
        assert compat is not None and compat.first == 40, replay
        recorded = compat._records["close"]
        assert recorded.notna().sum() == 80 and recorded.iloc[-1] == goog["Close"].iloc[-1]

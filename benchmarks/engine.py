"""Engine speed: the SMA(10,20) cross run by tradeforge (Python on_bar strategy) and Backtesting.py on the same data.

Cases: the SMA cross on a synthetic 1,000,000-bar 1-minute random walk (fee 0; it trades every ~18 bars, so it
measures order handling as much as the loop), the same crossover signals computed without trading (the per-bar
loop with a Python on_bar strategy), and GOOG daily (0.2% commission).
Prints bars/s for both libraries and the ratio, checks that trade counts are equal, and with --json PATH writes
rows {"case", "library", "seconds", "per_second", "peak_mb", "trades", "equity"}.

    python benchmarks/engine.py [--bars 1000000] [--json bench.json] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import measure, random_walk, row, write_json
from tradeforge import crossover
from tradeforge.core.bars import BarSeries
from tradeforge.data import load_sample, load_sample_frame
from tradeforge.sim.backtest import run_backtest
from tradeforge.strategies import SmaCross


def bt_strategy() -> Any:
    from backtesting import Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class BtSmaCross(Strategy):
        n1 = 10
        n2 = 20

        def init(self) -> None:
            self.s1 = self.I(SMA, self.data.Close, self.n1)
            self.s2 = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.s1, self.s2):
                self.position.close()
                self.buy()
            elif crossover(self.s2, self.s1):
                self.position.close()
                self.sell()

    return BtSmaCross


def bt_signals_strategy() -> Any:
    from backtesting import Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class BtSignals(Strategy):
        def init(self) -> None:
            self.s1 = self.I(SMA, self.data.Close, 10)
            self.s2 = self.I(SMA, self.data.Close, 20)
            self.signals = 0

        def next(self) -> None:
            if crossover(self.s1, self.s2) or crossover(self.s2, self.s1):
                self.signals += 1

    return BtSignals


class Signals(SmaCross):
    """The SMA cross's signals, counted but not traded."""

    def on_bar(self) -> None:
        if crossover(self.sma_fast, self.sma_slow) or crossover(self.sma_slow, self.sma_fast):
            self.signals = getattr(self, "signals", 0) + 1


def run_bt(frame: pd.DataFrame, cash: float, commission: float, signals: bool = False) -> tuple[int, float]:
    from backtesting import Backtest

    strategy = bt_signals_strategy() if signals else bt_strategy()
    stats = Backtest(frame, strategy, cash=cash, commission=commission, finalize_trades=False).run()
    return int(stats["# Trades"]), float(stats["Equity Final [$]"])


def run_tf(series: BarSeries, cash: float, commission: float, signals: bool = False) -> tuple[int, float]:
    result = run_backtest(Signals if signals else SmaCross, series, cash=cash, commission=commission)
    return len(result.closed_trades), float(result.equity[-1])


def best_of(repeat: int, func: Any, trace_memory: bool) -> tuple[Any, float, float]:
    best: tuple[Any, float, float] | None = None
    for _ in range(repeat):
        gc.collect()
        out = measure(func, trace_memory=trace_memory)
        if best is None or out[1] < best[1]:
            best = out
    assert best is not None
    return best


def main() -> None:
    warnings.filterwarnings("ignore", message="Some trades remain open")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs (peak memory from the traced run)")
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--skip-backtesting-py", action="store_true")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    walk = random_walk(args.bars)
    series = BarSeries.from_arrays(
        "RW", 60_000_000_000, walk["ts"], walk["open"], walk["high"], walk["low"], walk["close"], walk["volume"]
    )
    frame = pd.DataFrame(
        {
            "Open": walk["open"],
            "High": walk["high"],
            "Low": walk["low"],
            "Close": walk["close"],
            "Volume": walk["volume"],
        },
        index=pd.to_datetime(walk["ts"]),
    )
    goog = load_sample("GOOG")
    goog_frame = load_sample_frame("GOOG").rename(columns=str.capitalize)
    goog_frame.index = goog_frame.index.tz_localize(None)
    cash_walk = 10_000_000.0
    cases = [
        (f"sma_cross_random_walk_{args.bars}", series, frame, cash_walk, 0.0, False),
        (f"sma_signals_only_random_walk_{args.bars}", series, frame, cash_walk, 0.0, True),
        ("sma_cross_goog_daily", goog, goog_frame, 10_000.0, 0.002, False),
    ]
    for case, tf_data, bt_data, cash, fee, signals in cases:
        n = len(tf_data)
        repeat = args.repeat if n > 10_000 else max(args.repeat, 20)
        (tf_trades, tf_equity), tf_sec, _ = best_of(repeat, partial(run_tf, tf_data, cash, fee, signals), False)
        _, _, tf_mb = measure(partial(run_tf, tf_data, cash, fee, signals), trace_memory=True)
        rows.append(row(case, "tradeforge", tf_sec, n, tf_mb, tf_trades, tf_equity))
        print(
            f"{case}: tradeforge {n / tf_sec:,.0f} bars/s ({tf_sec * 1000:.1f} ms, peak {tf_mb:.0f} MB, "
            f"{tf_trades} trades, equity {tf_equity:,.2f})"
        )
        if args.skip_backtesting_py:
            continue
        bt_repeat = 1 if n > 10_000 else 5
        (bt_trades, bt_equity), bt_sec, _ = best_of(bt_repeat, partial(run_bt, bt_data, cash, fee, signals), False)
        _, _, bt_mb = (
            (None, None, None)
            if n > 10_000
            else measure(partial(run_bt, bt_data, cash, fee, signals), trace_memory=True)
        )
        rows.append(row(case, "backtesting.py", bt_sec, n, bt_mb, bt_trades, bt_equity))
        print(
            f"{case}: Backtesting.py {n / bt_sec:,.0f} bars/s ({bt_sec * 1000:.1f} ms, {bt_trades} trades, "
            f"equity {bt_equity:,.2f})"
        )
        print(f"{case}: tradeforge / Backtesting.py speed ratio {bt_sec / tf_sec:.2f}x")
        if tf_trades != bt_trades:
            raise SystemExit(f"{case}: trade counts differ: tradeforge {tf_trades}, Backtesting.py {bt_trades}")
        if not np.isclose(tf_equity, bt_equity, rtol=1e-9):
            raise SystemExit(f"{case}: final equity differs: {tf_equity} vs {bt_equity}")
    write_json(rows, args.json_path)


if __name__ == "__main__":
    main()

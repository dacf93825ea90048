"""tradeforge.compat against Backtesting.py: the same strategy source, only the import changed.

Cases: the SmaCross strategy exactly as in Backtesting.py's README (SMA(10, 20) cross, position.close() then
buy()/sell() at full size) on GOOG daily and on the synthetic 1,000,000-bar random walk; three order-heavy
strategies (see make_order_strategy: a limit order re-placed every bar, bracketed trades, thousands of working
orders) on the walk's first 100,000 (1,500) bars; then optimize() over a
90-combination grid (n1 in 5..50 step 5 x n2 in 10..90 step 10, fee 0.2%) on the first 100,000 bars of the random
walk. Every case checks that both libraries give identical trades (or identical heatmaps), prints seconds and
the speed ratio, and with --json PATH writes rows {"case", "library", "seconds", "per_second", "peak_mb",
"trades", "equity"}.

    python benchmarks/compat.py [--bars 1000000] [--opt-bars 100000] [--json compat.json]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import measure, random_walk, row, write_json
from tradeforge.data import load_sample_frame

GRID = {"n1": list(range(5, 55, 5)), "n2": list(range(10, 100, 10))}  # 10 x 9 = 90 combinations


def sma(values: Any, n: int) -> Any:
    """Backtesting.py's README SMA: a pandas rolling mean."""
    return pd.Series(values).rolling(n).mean()


def make_strategy(library: str) -> Any:
    """The README's SmaCross, written once; `library` picks where Strategy and crossover come from."""
    if library == "backtesting.py":
        from backtesting import Strategy
        from backtesting.lib import crossover
    else:
        from tradeforge.compat import Strategy
        from tradeforge.compat.lib import crossover

    class SmaCross(Strategy):  # type: ignore[misc, valid-type]
        n1 = 10
        n2 = 20

        def init(self) -> None:
            close = self.data.Close
            self.sma1 = self.I(sma, close, self.n1)
            self.sma2 = self.I(sma, close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    SmaCross.__qualname__ = SmaCross.__name__ = f"SmaCross_{library.replace('.', '_')}"
    setattr(sys.modules[__name__], SmaCross.__name__, SmaCross)  # picklable for Backtesting.py's worker pool
    return SmaCross


def make_order_strategy(library: str, kind: str) -> Any:
    """Order-heavy strategies (the engine's order path rather than the bar loop), written once for both:
    limit_reorder cancels its limit order and places a new one every bar (a fill each few bars, closed past 5
    units); brackets keeps up to 3 trades open, each with a stop-loss and a take-profit; working_orders leaves
    every order it places working (a limit far below the price), so thousands wait at once."""
    Strategy = strategy_class(library)

    class LimitReorder(Strategy):  # type: ignore[misc, valid-type]
        def init(self) -> None:
            pass

        def next(self) -> None:
            close = self.data.Close[-1]
            for order in self.orders:
                order.cancel()
            self.buy(size=1, limit=close * 0.999)
            if self.position.size > 5:
                self.position.close()

    class Brackets(Strategy):  # type: ignore[misc, valid-type]
        def init(self) -> None:
            pass

        def next(self) -> None:
            close = self.data.Close[-1]
            if len(self.trades) < 3:
                self.buy(size=1, sl=close * 0.99, tp=close * 1.01)

    class WorkingOrders(Strategy):  # type: ignore[misc, valid-type]
        def init(self) -> None:
            pass

        def next(self) -> None:
            self.buy(size=1, limit=self.data.Close[-1] * 0.5)

    klass = {"limit_reorder": LimitReorder, "brackets": Brackets, "working_orders": WorkingOrders}[kind]
    klass.__qualname__ = klass.__name__ = f"{klass.__name__}_{library.replace('.', '_')}"
    return klass


def strategy_class(library: str) -> Any:
    if library == "backtesting.py":
        from backtesting import Strategy
    else:
        from tradeforge.compat import Strategy
    return Strategy


def backtest_class(library: str) -> Any:
    if library == "backtesting.py":
        from backtesting import Backtest
    else:
        from tradeforge.compat import Backtest
    return Backtest


def run_once(
    library: str, data: pd.DataFrame, cash: float, commission: float, strategy: str = "sma_cross"
) -> pd.Series:
    klass = make_strategy(library) if strategy == "sma_cross" else make_order_strategy(library, strategy)
    bt = backtest_class(library)(data, klass, cash=cash, commission=commission)
    return bt.run()


def optimize_once(library: str, data: pd.DataFrame, cash: float, commission: float) -> tuple[pd.Series, pd.Series]:
    bt = backtest_class(library)(data, make_strategy(library), cash=cash, commission=commission)
    return bt.optimize(**GRID, constraint=lambda p: p.n1 < p.n2, maximize="Equity Final [$]", return_heatmap=True)


def trade_table(stats: pd.Series) -> np.ndarray:
    cols = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]
    return stats["_trades"][cols].to_numpy(dtype=float)


def frame_of(walk: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Open": walk["open"][:n],
            "High": walk["high"][:n],
            "Low": walk["low"][:n],
            "Close": walk["close"][:n],
            "Volume": walk["volume"][:n],
        },
        index=pd.to_datetime(walk["ts"][:n]),
    )


def best(repeat: int, func: Any) -> tuple[Any, float, float]:
    out = None
    for _ in range(repeat):
        result = measure(func)
        if out is None or result[1] < out[1]:
            out = result
    assert out is not None
    return out


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--opt-bars", type=int, default=100_000)
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()

    walk = random_walk(max(args.bars, args.opt_bars, 100_000))  # the order-heavy cases take 100k bars
    goog = load_sample_frame("GOOG").rename(columns=str.capitalize)
    goog.index = goog.index.tz_localize(None)
    rows: list[dict[str, Any]] = []
    cases = [
        ("compat_sma_cross_goog_daily", goog, 10_000.0, 0.002, 10, "sma_cross"),
        (f"compat_sma_cross_random_walk_{args.bars}", frame_of(walk, args.bars), 10_000_000.0, 0.0, 1, "sma_cross"),
        ("compat_limit_reorder_random_walk_100000", frame_of(walk, 100_000), 10_000_000.0, 0.001, 1, "limit_reorder"),
        ("compat_brackets_random_walk_100000", frame_of(walk, 100_000), 10_000_000.0, 0.001, 1, "brackets"),
        ("compat_working_orders_random_walk_1500", frame_of(walk, 1_500), 10_000_000.0, 0.001, 1, "working_orders"),
    ]
    for case, data, cash, fee, repeat, strategy in cases:
        n = len(data)
        results = {}
        for library in ("tradeforge.compat", "backtesting.py"):
            stats, seconds, peak = best(repeat, partial(run_once, library, data, cash, fee, strategy))
            results[library] = (stats, seconds)
            trades = int(stats["# Trades"])
            equity = float(stats["Equity Final [$]"])
            rows.append(row(case, library, seconds, n, peak, trades, equity))
            print(f"{case}: {library} {seconds * 1000:,.1f} ms ({n / seconds:,.0f} bars/s, {trades} trades)")
        (tf, tf_s), (bt, bt_s) = results["tradeforge.compat"], results["backtesting.py"]
        if not np.allclose(trade_table(tf), trade_table(bt), rtol=1e-9, atol=0):
            raise SystemExit(f"{case}: the trades differ between tradeforge.compat and Backtesting.py")
        ratio = bt_s / tf_s
        verdict = f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x SLOWER"
        print(f"{case}: identical trades; tradeforge.compat is {verdict}")

    case = f"compat_optimize_90_random_walk_{args.opt_bars}"
    data = frame_of(walk, args.opt_bars)
    timings = {}
    heatmaps = {}
    for library in ("tradeforge.compat", "backtesting.py"):
        (stats, heatmap), seconds, peak = measure(partial(optimize_once, library, data, 1_000_000.0, 0.002))
        timings[library] = seconds
        heatmaps[library] = heatmap
        rows.append(
            row(case, library, seconds, len(heatmap), peak, int(stats["# Trades"]), float(stats["Equity Final [$]"]))
        )
        print(f"{case}: {library} {seconds:,.2f} s ({len(heatmap) / seconds:,.1f} combinations/s)")
    a, b = heatmaps["tradeforge.compat"], heatmaps["backtesting.py"]
    if not (a.index.equals(b.index) and np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, equal_nan=True)):
        raise SystemExit(f"{case}: the heatmaps differ")
    ratio = timings["backtesting.py"] / timings["tradeforge.compat"]
    print(f"{case}: identical heatmaps; tradeforge.compat is {ratio:.2f}x faster")
    write_json(rows, args.json_path)


if __name__ == "__main__":
    main()

"""The optional peers, vectorbt and backtrader, on the suite's cases. Run by suite.py in a fresh process per case,
with the interpreter that has them (the suite's own, or --peer-python): it needs numpy, pandas and the peer,
not tradeforge. Conventions are the suite's: SMA(10,20) cross, always in the market (a cross reverses the
position), market orders filled at the next bar's open, all the cash in whole units with the fee included,
closed trades counted, final equity marked at the last close.

    python benchmarks/peers/run.py --check                        # which peers this interpreter has (JSON)
    python benchmarks/peers/run.py --case rw1m --library vectorbt --bars 1000000 [--goog goog.npz]

Prints one line "@@ROWS [...]" with the rows (suite.py reads it).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from procmem import PeakMemory  # noqa: E402

from common import random_walk, row  # noqa: E402

PEERS = ("vectorbt", "backtrader")
WARM_BARS = 2_000


def check() -> dict[str, str]:
    """The peers importable here, with their versions."""
    found = {}
    for name in PEERS:
        try:
            module = importlib.import_module(name)
        except Exception:  # not installed, or broken against this numpy/pandas
            continue
        found[name] = str(getattr(module, "__version__", "?"))
    return found


def frame_of(arrays: dict[str, np.ndarray], n: int | None = None) -> pd.DataFrame:
    cols = ("open", "high", "low", "close", "volume")
    return pd.DataFrame({c: arrays[c][:n] for c in cols}, index=pd.to_datetime(arrays["ts"][:n]))


# ------------------------------------------------------------------------------------------------ vectorbt
def vbt_sma_cross(frame: pd.DataFrame, pairs: list[tuple[int, int]], cash: float, fee: float) -> tuple[Any, int, float]:
    """vectorbt as its documentation writes an MA cross, one column per (fast, slow) pair, with the signals
    shifted one bar and filled at the open (next-open fills). Returns (best pair, its closed trades, equity)."""
    import vectorbt as vbt

    close, open_ = frame["close"], frame["open"]
    fast_ma = vbt.MA.run(close, [p[0] for p in pairs], short_name="fast")
    slow_ma = vbt.MA.run(close, [p[1] for p in pairs], short_name="slow")
    up = fast_ma.ma_crossed_above(slow_ma).vbt.fshift(1).fillna(False).astype(bool)
    down = fast_ma.ma_crossed_below(slow_ma).vbt.fshift(1).fillna(False).astype(bool)
    pf = vbt.Portfolio.from_signals(
        close, entries=up, exits=down, short_entries=down, short_exits=up, price=open_, size=np.inf,
        size_granularity=1, fees=fee, init_cash=cash, freq="1min",
    )  # fmt: skip
    final = pf.final_value()
    trades = pf.trades.closed.count()
    if np.ndim(final) == 0:
        return pairs[0], int(trades), float(final)
    best = final.idxmax()
    return tuple(int(x) for x in best), int(trades[best]), float(final[best])


# ------------------------------------------------------------------------------------------------ backtrader
@functools.cache
def bt_classes() -> tuple[Any, Any]:
    import backtrader as bt

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        """Orders go in at the next bar's open (cheat-on-open), sized there with the cash after the close."""

        params = (("pair", (10, 20)), ("fee", 0.0))

        def __init__(self) -> None:
            sma_fast = bt.indicators.SMA(self.data.close, period=self.p.pair[0])
            sma_slow = bt.indicators.SMA(self.data.close, period=self.p.pair[1])
            self.cross = bt.indicators.CrossOver(sma_fast, sma_slow)
            self.want = 0
            self.closed = 0

        def notify_trade(self, trade: Any) -> None:
            if trade.isclosed:
                self.closed += 1

        def next(self) -> None:
            c = self.cross[0]
            self.want = 1 if c > 0 else -1 if c < 0 else 0

        def next_open(self) -> None:
            side, self.want = self.want, 0
            pos = self.position.size
            if side == 0 or pos * side > 0:
                return
            o = self.data.open[0]
            cash = self.broker.getcash()
            if pos:
                cash += pos * o - abs(pos) * o * self.p.fee
                self.close()
            qty = math.floor(cash / (o + o * self.p.fee) + 1e-9)
            if qty > 0:
                (self.buy if side > 0 else self.sell)(size=qty)

    class Final(bt.Analyzer):  # type: ignore[misc]
        def stop(self) -> None:
            self.rets["equity"] = self.strategy.broker.getvalue()
            self.rets["trades"] = self.strategy.closed
            self.rets["pair"] = tuple(self.strategy.p.pair)

    for cls in (SmaCross, Final):  # module attributes: picklable for optstrategy's worker processes
        cls.__qualname__ = cls.__name__ = f"Bt{cls.__name__}"
        setattr(sys.modules[__name__], cls.__name__, cls)
    return SmaCross, Final


def bt_sma_cross(frame: pd.DataFrame, pairs: list[tuple[int, int]], cash: float, fee: float) -> tuple[Any, int, float]:
    """backtrader: one run, or optstrategy over the pairs on all cores. Returns (best pair, trades, equity)."""
    import backtrader as bt

    strategy, final = bt_classes()
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True, maxcpus=None)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    if len(pairs) == 1:
        cerebro.addstrategy(strategy, pair=pairs[0], fee=fee)
    else:
        cerebro.optstrategy(strategy, pair=pairs, fee=fee)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=fee)
    cerebro.broker.set_coo(True)
    cerebro.broker.set_checksubmit(False)
    cerebro.addanalyzer(final, _name="final")
    out = cerebro.run()
    runs = [r[0] if isinstance(r, list) else r for r in out]
    results = [r.analyzers.final.get_analysis() for r in runs]
    best = max(results, key=lambda r: r["equity"])
    return tuple(best["pair"]), int(best["trades"]), float(best["equity"])


RUNNERS: dict[str, Callable[[pd.DataFrame, list[tuple[int, int]], float, float], tuple[Any, int, float]]] = {
    "vectorbt": vbt_sma_cross,
    "backtrader": bt_sma_cross,
}


def timed(func: Callable[[], Any], budget: float = 1.0, max_runs: int = 20) -> tuple[Any, float]:
    """Best time of repeated runs: at least one, more while they add up to less than budget seconds."""
    best_out, best, spent, runs = None, math.inf, 0.0, 0
    while runs < max_runs and (runs == 0 or spent + best < budget):
        t0 = time.perf_counter()
        out = func()
        seconds = time.perf_counter() - t0
        spent += seconds
        runs += 1
        if seconds < best:
            best_out, best = out, seconds
    return best_out, best


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--case", choices=("goog", "rw1m", "sweep90"))
    parser.add_argument("--library", choices=PEERS)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--opt-bars", type=int, default=100_000)
    parser.add_argument("--goog", help="npz with ts, open, high, low, close, volume of GOOG daily")
    parser.add_argument("--combos", type=int, default=0, help="sweep only the first N combinations (0: all)")
    parser.add_argument("--case-name", default=None)
    args = parser.parse_args(argv)
    if args.check:
        print(json.dumps(check()))
        return
    runner = RUNNERS[args.library]
    if args.case == "goog":
        with np.load(args.goog) as data:
            frame = frame_of(dict(data))
        pairs, cash, fee = [(10, 20)], 10_000.0, 0.002
    elif args.case == "rw1m":
        frame, pairs, cash, fee = frame_of(random_walk(args.bars)), [(10, 20)], 10_000_000.0, 0.0
    else:
        frame = frame_of(random_walk(max(args.opt_bars, 1_000_000)), args.opt_bars)
        pairs = [(f, s) for f in range(5, 51, 5) for s in range(20, 201, 20) if f < s]
        cash, fee = 1_000_000.0, 0.002
    memory = PeakMemory().start(reset=True)  # not the 1M-bar draw the first bars are cut from
    total = len(pairs)
    if args.combos:  # the combinations with the largest slow window first (they include the full grid's best)
        pairs = sorted(pairs, key=lambda p: (-p[1], p[0]))[: args.combos]
    runner(frame.iloc[:WARM_BARS], pairs, cash, fee)  # warm: imports, numba compilation or cache load
    (best, trades, equity), seconds = timed(lambda: runner(frame, pairs, cash, fee))
    units = len(pairs) if args.case == "sweep90" else len(frame)
    library = args.library if len(pairs) == total else f"{args.library} ({len(pairs)} of {total})"
    out = row(args.case_name or args.case, library, seconds, units, memory.stop(), trades, equity)
    note = f"best fast={best[0]}, slow={best[1]}" if args.case == "sweep90" else ""
    if len(pairs) < total:
        note += f"; {len(pairs)} of the {total} combinations (slow={pairs[0][1]} first), per_second over those"
    print("@@ROWS " + json.dumps([out | {"note": note, "best": list(best)}]))


if __name__ == "__main__":
    main()

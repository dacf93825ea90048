"""The fast path alone: tradeforge.fast.simulate against a bare numba loop, and sweeps through tradeforge.research.

Cases (all on the synthetic random walk of common.random_walk):
- fast_vs_bare: one SMA(10,20) cross run over 1,000,000 bars, one column, always in the market (long on the fast
  SMA crossing above the slow one, short on the cross below: tradeforge.research.library.sma_cross), market
  orders at the next bar's open, whole units, all cash (fees included), fee 0, cash 10,000,000. The same
  signals go to tradeforge.fast.simulate and to bare_reversal_nb below (the simplest loop that trades them);
  both must give the same trade count and final equity. Rows: the bare loop (warm), simulate warm, and
  simulate's first call in a fresh process, with its numba cache (cold: cache load) and with an empty cache
  (cold: compile). The goal: simulate within 2x of the bare loop.
- sweep90: the 90-combination sweep (fast 5..50 step 5, slow 20..200 step 20, fast < slow) on the first
  100,000 bars, cash 1,000,000, fee 0.2%, objective "return", serially and with LocalExecutor(2). It must find
  fast=50, slow=200 with final equity 97,454.71 and 624 trades.
- sweep_large: a larger grid (fast 2..100, slow 10..400 step 10, fast < slow: 3,500 combinations) on the same
  bars, for sustained combinations/s. Goal: 3,000 combinations/s on 2 cores in under 500 MB.

Each case runs in a fresh process (see suite.py) and peak_mb is that process's peak memory with its workers
(peers/procmem.py: summed PSS of the process tree, sampled every 20 ms, or the process's own peak RSS if
larger). Timings are warm unless the row says cold: the kernels are loaded by a small run first.

    python benchmarks/fast.py [--quick] [--json fast.json] [--only fast_vs_bare|sweep90|sweep_large]

(the fast-path rows of `python benchmarks/suite.py`, which takes the same options).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import random_walk
from tradeforge import fast
from tradeforge.core.bars import BarSeries
from tradeforge.research import LocalExecutor, SweepResult, sweep
from tradeforge.research.library import sma_cross
from tradeforge.research.signals import Bars

GRID_90 = {"fast": range(5, 51, 5), "slow": range(20, 201, 20)}
GRID_LARGE = {"fast": range(2, 101), "slow": range(10, 401, 10)}
GRID_LARGE_QUICK = {"fast": range(2, 101, 4), "slow": range(10, 401, 20)}
REFERENCE_90 = {"fast": 50, "slow": 200, "equity": 97_454.71, "trades": 624}  # cash 1M, fee 0.2%, 100k bars


def fast_lt_slow(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    return fast < slow


def grid_size(grid: dict[str, range]) -> int:
    return sum(1 for f in grid["fast"] for s in grid["slow"] if f < s)


def walk_series(n: int, walk: dict[str, np.ndarray] | None = None) -> BarSeries:
    """The first n bars of the synthetic random walk as a BarSeries."""
    w = random_walk(n) if walk is None else walk
    cols = ("open", "high", "low", "close", "volume")
    return BarSeries.from_arrays("RW", 60_000_000_000, w["ts"][:n], *(w[c][:n] for c in cols))


def sma_signals(series: BarSeries, n_fast: int = 10, n_slow: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(up, down): the bars where SMA(n_fast) crosses above / below SMA(n_slow), as sma_cross computes them."""
    sig = sma_cross(Bars.of(series), n_fast, n_slow)
    return np.ascontiguousarray(sig.entries[:, 0]), np.ascontiguousarray(sig.short_entries[:, 0])


def simulate_reversal(series: BarSeries, up: np.ndarray, down: np.ndarray, cash: float, fee: float) -> Any:
    """The fast path: long on up, short on down, always in the market, next-open fills, whole units."""
    return fast.simulate(
        series.open, series.high, series.low, series.close, up, down, down, up, init_cash=cash, fees=fee
    )


def fast_sma_cross(series: BarSeries, cash: float, fee: float, n_fast: int = 10, n_slow: int = 20) -> tuple[int, float]:
    """Signals and simulation: the whole fast-path SMA cross run. Returns (closed trades, final equity)."""
    up, down = sma_signals(series, n_fast, n_slow)
    result = simulate_reversal(series, up, down, cash, fee)
    return int(result.n_trades[0]), float(result.final_equity[0])


@njit(nogil=True)
def bare_reversal_nb(
    open_: np.ndarray, close: np.ndarray, up: np.ndarray, down: np.ndarray, cash: float, fee: float
) -> tuple[int, float, np.ndarray]:
    """The simplest always-in-the-market reversal: a signal at a bar's close trades at the next bar's open;
    the position is closed and the other side opened with all the cash, fees included, in whole units; an
    entry is refused when the cash buys no unit. Returns (closed trades, final equity, equity per bar)."""
    n = close.shape[0]
    equity = np.empty(n)
    pos = 0.0
    trades = 0
    pending = 0
    for i in range(n):
        if pending != 0:
            o = open_[i]
            if pos != 0.0:
                cash += pos * o - abs(pos) * o * fee
                pos = 0.0
                trades += 1
            qty = np.floor(cash / (o + o * fee) + 1e-9)
            if qty > 0.0:
                cash -= pending * qty * o + qty * o * fee
                pos = pending * qty
            pending = 0
        if up[i] != down[i]:
            side = 1 if up[i] else -1
            if pos * side <= 0.0:
                pending = side
        equity[i] = cash + pos * close[i]
    return trades, equity[n - 1] if n else cash, equity


def run_sweep(series: BarSeries, grid: dict[str, range], executor: Any) -> SweepResult:
    """The sweep of the issue: sma_cross, fast < slow, cash 1,000,000, fee 0.2%, objective return."""
    return sweep(
        sma_cross, series, grid, constraint=fast_lt_slow, cash=1_000_000, fees=0.002, objective="return",
        executor=executor,
    )  # fmt: skip


def executor_of(name: str) -> Any:
    return "serial" if name == "serial" else LocalExecutor(int(name))


def best_of_sweep(result: SweepResult) -> tuple[int, float, dict[str, Any]]:
    b = result.best_stats
    return int(b["n_trades"]), float(b["final_equity"]), result.best


def warm_up() -> None:
    """Load every kernel the sweep and simulate use (numba's cache), on a few bars."""
    series = walk_series(2_000)
    run_sweep(series, {"fast": [5, 10], "slow": [20]}, "serial")
    up, down = sma_signals(series)
    simulate_reversal(series, up, down, 10_000_000.0, 0.0)


def main() -> None:
    import suite  # the suite runs every case in a fresh process and prints the table

    suite.main(sys.argv[1:], fast_only=True)


if __name__ == "__main__":
    main()

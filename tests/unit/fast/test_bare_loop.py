"""The fast path against a bare hand-written numba loop doing the same SMA-cross trading (always in the market,
next-open fills, whole units, percent fee) on 1,000,000 bars: the same trades and equity. How fast each is, is
measured by benchmarks/fast.py (tests do not time anything)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numba import njit

from tradeforge import fast

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from common import random_walk

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@njit(cache=True)
def bare_nb(
    o: FloatArray, c: FloatArray, up: BoolArray, down: BoolArray, cash0: float, fee: float
) -> tuple[FloatArray, int]:
    """What one would write by hand: reverse at the next open on each cross, all-in, whole units."""
    n = c.shape[0]
    equity = np.empty(n)
    cash = cash0
    pos = 0.0
    pending = 0
    trades = 0
    for i in range(n):
        if pending != 0:
            p = o[i]
            if pos != 0.0:
                q = abs(pos)
                side = -1.0 if pos > 0 else 1.0
                cash += -(q * side) * p - q * p * fee
                pos = 0.0
                trades += 1
            q = np.floor(cash / (p + p * fee) + 1e-9)
            if q > 0:
                cash += -(q * pending) * p - q * p * fee
                pos = q * pending
            pending = 0
        if up[i]:
            pending = 1
        elif down[i]:
            pending = -1
        equity[i] = cash + pos * c[i]
    return equity, trades


def test_a_million_bars_trade_exactly_like_a_bare_loop() -> None:
    w = random_walk(1_000_000)
    o, h, lo, c = w["open"], w["high"], w["low"], w["close"]
    fast_ma, slow_ma = fast.sma(c, 10), fast.sma(c, 20)
    up = np.zeros(c.shape[0], dtype=bool)
    down = np.zeros(c.shape[0], dtype=bool)
    up[1:] = (fast_ma[:-1] < slow_ma[:-1]) & (fast_ma[1:] > slow_ma[1:])
    down[1:] = (fast_ma[:-1] > slow_ma[:-1]) & (fast_ma[1:] < slow_ma[1:])
    fee = 0.001

    result = fast.simulate(o, h, lo, c, up, short_entries=down, fees=fee, init_cash=1e7)
    equity, trades = bare_nb(o, c, up, down, 1e7, fee)
    assert int(result.n_trades[0]) == trades  # the same trading ...
    np.testing.assert_allclose(result.equity[:, 0], equity, rtol=1e-9)  # ... to the cent

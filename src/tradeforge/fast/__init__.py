"""The fast research path: numba kernels over arrays with the event engine's fill rules.

simulate() backtests signal arrays, one column per parameter combination; sma/ema/rsi/atr/rolling_* compute
indicators for a whole grid of windows at once. The ``*_nb`` kernels underneath (simulate.simulate_nb,
indicators.*_nb) take and return arrays only. This package imports numpy, numba and its own modules only.
"""

from tradeforge.fast.api import SimulationResult, simulate
from tradeforge.fast.errors import FastInputError, FastTypeError
from tradeforge.fast.records import EXIT_REASONS, ORDER_DTYPE, ORDER_KINDS, TRADE_DTYPE
from tradeforge.fast.ta import atr, ema, rolling_max, rolling_min, rolling_std, rsi, sma

__all__ = [
    "EXIT_REASONS",
    "ORDER_DTYPE",
    "ORDER_KINDS",
    "TRADE_DTYPE",
    "FastInputError",
    "FastTypeError",
    "SimulationResult",
    "atr",
    "ema",
    "rolling_max",
    "rolling_min",
    "rolling_std",
    "rsi",
    "simulate",
    "sma",
]

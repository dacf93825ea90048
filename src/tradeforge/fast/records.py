"""Structured record dtypes written by the kernels, and the small integer codes stored in them.

A trade record is one round trip of one column; an order record is one fill. Both are plain numpy structured
arrays (aligned, so numba reads and writes their fields directly), sorted by column and then by time.
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------- codes
# side of a trade or fill
LONG = 1
SHORT = -1

# why a trade ended (or that it has not): the event engine's fill reasons
EXIT_SIGNAL = 0  # a signal closed it with a market order (the engine's reason "exit")
EXIT_STOP_LOSS = 1  # its attached stop-loss filled ("stop_loss")
EXIT_TAKE_PROFIT = 2  # its attached take-profit filled ("take_profit")
EXIT_TRAILING = 3  # its trailing stop filled ("trailing_stop")
EXIT_END = 4  # still open after the last bar: exit_idx is -1 and exit_price, exit_fee, pnl and return are NaN

EXIT_REASONS = ("signal", "stop_loss", "take_profit", "trailing", "end")

# what an order record did
ORDER_ENTRY = 0  # a signal opened a position
ORDER_EXIT = 1  # a signal closed a position
ORDER_STOP_LOSS = 2
ORDER_TAKE_PROFIT = 3
ORDER_TRAILING = 4

ORDER_KINDS = ("entry", "exit", "stop_loss", "take_profit", "trailing")

# how an entry is sized (size_type)
SIZE_PERCENT = 0  # fraction in (0, 1] of the available margin when the order fills (the engine's buy(fraction=))
SIZE_UNITS = 1  # a number of units, rounded down to the lot size when the order is placed
SIZE_VALUE = 2  # an amount of quote currency, turned into units at the signal bar's close (then as units)

SIZE_TYPES = {"percent": SIZE_PERCENT, "units": SIZE_UNITS, "value": SIZE_VALUE}

# ---------------------------------------------------------------- dtypes
TRADE_DTYPE = np.dtype(
    [
        ("column", np.int64),
        ("entry_idx", np.int64),
        ("exit_idx", np.int64),
        ("side", np.int64),
        ("size", np.float64),  # units, always positive (side gives the direction)
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("entry_fee", np.float64),
        ("exit_fee", np.float64),
        ("pnl", np.float64),  # side * size * (exit - entry) * multiplier - fees
        ("return", np.float64),  # as the engine's Trade.return_pct: net of fees, a fraction of the entry value
        ("exit_reason", np.int64),  # EXIT_* code
    ],
    align=True,
)

ORDER_DTYPE = np.dtype(
    [
        ("column", np.int64),
        ("idx", np.int64),  # bar of the fill
        ("side", np.int64),  # +1 buy, -1 sell
        ("size", np.float64),  # units, positive
        ("price", np.float64),
        ("fee", np.float64),
        ("kind", np.int64),  # ORDER_* code
    ],
    align=True,
)


def exit_reason_names(codes: np.ndarray) -> np.ndarray:
    """EXIT_* codes as strings ("signal", "stop_loss", ...)."""
    return np.asarray(EXIT_REASONS, dtype=object)[np.asarray(codes, dtype=np.int64)]


def order_kind_names(codes: np.ndarray) -> np.ndarray:
    """ORDER_* codes as strings ("entry", "exit", ...)."""
    return np.asarray(ORDER_KINDS, dtype=object)[np.asarray(codes, dtype=np.int64)]

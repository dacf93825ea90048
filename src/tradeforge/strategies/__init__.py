"""Ready-made strategies, usable by name from the CLI (tradeforge backtest --strategy sma_cross)."""

from tradeforge.strategies.breakout import Breakout
from tradeforge.strategies.sma_cross import SmaCross
from tradeforge.strategies.sma_cross_long import SmaCrossLong

BUILTIN = {"sma_cross": SmaCross, "sma_cross_long": SmaCrossLong, "breakout": Breakout}

__all__ = ["BUILTIN", "Breakout", "SmaCross", "SmaCrossLong"]

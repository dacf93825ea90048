"""Ready-made strategies, usable by name from the CLI (tradeforge backtest --strategy sma_cross)."""

from tradeforge.strategies.breakout import Breakout
from tradeforge.strategies.sma_cross import SmaCross

BUILTIN = {"sma_cross": SmaCross, "breakout": Breakout}

__all__ = ["BUILTIN", "Breakout", "SmaCross"]

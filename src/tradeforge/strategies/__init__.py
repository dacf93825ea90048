"""Ready-made strategies, usable by name from the CLI (tradeforge backtest --strategy sma_cross)."""

from tradeforge.strategies.sma_cross import SmaCross

BUILTIN = {"sma_cross": SmaCross}

__all__ = ["BUILTIN", "SmaCross"]

"""Backtesting.py-compatible API on top of the tradeforge engine: change the import, keep the strategy.

from tradeforge.compat import Backtest, Strategy
from tradeforge.compat.lib import crossover
"""

from tradeforge.compat import lib
from tradeforge.compat import ta as _ta
from tradeforge.compat._multidata import load_samples_frame, multi_asset_frame
from tradeforge.compat.alloc import Allocation
from tradeforge.compat.backtest import Backtest
from tradeforge.compat.hosted import hosted
from tradeforge.compat.notebook import set_bokeh_output
from tradeforge.compat.objects import Order, Position, Trade
from tradeforge.compat.strategy import Strategy

_ta.register()

__all__ = [
    "Allocation",
    "Backtest",
    "Order",
    "Position",
    "Strategy",
    "Trade",
    "hosted",
    "lib",
    "load_samples_frame",
    "multi_asset_frame",
    "set_bokeh_output",
]

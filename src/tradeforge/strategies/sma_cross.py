"""SMA cross, always in the market: on a cross up close any short and buy; on a cross down close and sell."""

from __future__ import annotations

import talib

from tradeforge.core.strategy import Strategy, crossover


class SmaCross(Strategy):
    fast = 10
    slow = 20

    def on_start(self) -> None:
        close = self.data.close
        self.sma_fast = self.I(talib.SMA, close, timeperiod=self.fast, name=f"SMA({self.fast})")
        self.sma_slow = self.I(talib.SMA, close, timeperiod=self.slow, name=f"SMA({self.slow})")

    def on_bar(self) -> None:
        if crossover(self.sma_fast, self.sma_slow):
            self.close()
            self.buy()
        elif crossover(self.sma_slow, self.sma_fast):
            self.close()
            self.sell()

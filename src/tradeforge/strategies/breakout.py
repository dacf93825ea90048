"""Channel breakout with an ATR stop-loss and take-profit, filtered by the trend of a longer time frame."""

from __future__ import annotations

import math

import talib

from tradeforge.core.strategy import Strategy


class Breakout(Strategy):
    """Go long when the close breaks above the highest high of the previous `lookback` bars while the
    close is above the SMA of `trend_len` bars of `trend_tf` (closed bars only); short on the mirror image.
    Every entry carries a stop-loss `sl_atr` ATRs away and a take-profit `tp_atr` ATRs away."""

    lookback = 60
    atr_len = 14
    sl_atr = 2.0
    tp_atr = 4.0
    trend_tf = "1h"
    trend_len = 24
    fraction = 0.95

    def on_start(self) -> None:
        d = self.data
        self.upper = self.I(talib.MAX, d.high, timeperiod=self.lookback, name="upper")
        self.lower = self.I(talib.MIN, d.low, timeperiod=self.lookback, name="lower")
        self.atr = self.I(talib.ATR, d.high, d.low, d.close, timeperiod=self.atr_len, name="ATR")
        trend = self.data_for(timeframe=self.trend_tf)
        self.trend = self.I(talib.SMA, trend.close, timeperiod=self.trend_len, name="trend")
        self.trend_close = trend.close
        self.close_ = d.close

    def on_bar(self) -> None:
        if len(self.upper) < 2 or not self.trend or self.position():
            return
        atr, trend = self.atr[-1], self.trend[-1]
        if math.isnan(atr) or math.isnan(trend) or math.isnan(self.upper[-2]):
            return
        if self.orders:
            return
        price = self.close_[-1]
        up_trend = self.trend_close[-1] > trend
        if price > self.upper[-2] and up_trend:
            self.buy(fraction=self.fraction, sl=price - self.sl_atr * atr, tp=price + self.tp_atr * atr)
        elif price < self.lower[-2] and not up_trend:
            self.sell(fraction=self.fraction, sl=price + self.sl_atr * atr, tp=price - self.tp_atr * atr)

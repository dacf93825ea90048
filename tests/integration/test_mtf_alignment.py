"""Multi-time-frame alignment on real minute bars: a strategy on 1m bars that subscribes to 1h/4h/1d bars sees a
higher bar only at the base bar where that bar has closed. A planted spike in the first minute of one higher
period makes the strategy buy as soon as it sees the higher bar's high; seeing it even one base bar early
(from the still-forming higher bar) moves the entry and fails the test."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tradeforge.core.strategy import Strategy
from tradeforge.data import load_sample, resample
from tradeforge.data.timeframes import timeframe_ns
from tradeforge.sim.backtest import run_backtest

SPIKE = 10.0  # the planted high: ten times the price


class BuyOnSpike(Strategy):
    timeframe = "1h"

    def on_start(self) -> None:
        self.higher = self.data_for(timeframe=self.timeframe)
        self.entry_step = -1
        self.seen_high = float("nan")
        self.seen_ts = -1

    def on_bar(self) -> None:
        h = self.higher
        if self.entry_step < 0 and len(h) and h.high[-1] > SPIKE * 0.5 * self.data.close[-1]:
            self.entry_step = self.engine.step
            self.seen_high = float(h.high[-1])
            self.seen_ts = int(h.ts[-1])
            self.buy(size=1)


@pytest.mark.parametrize("replay", [False, True])
@pytest.mark.parametrize(("tf", "period_index"), [("1h", 30), ("4h", 20), ("1d", 10)])
def test_planted_higher_bar_is_seen_exactly_when_it_closes(tf: str, period_index: int, replay: bool) -> None:
    base = load_sample("BTC-PERP")  # 1m, real
    period = timeframe_ns(tf)
    starts = np.unique(base.ts - base.ts % period)
    planted_open = int(starts[period_index])
    rows = np.flatnonzero((base.ts >= planted_open) & (base.ts < planted_open + period))
    first, last = int(rows[0]), int(rows[-1])
    assert base.ts[first] == planted_open and base.ts[last] == planted_open + period - base.timeframe  # whole period
    high = base.high.copy()
    high[first] = base.close[first] * SPIKE  # spike in the FIRST minute of the period
    planted = replace(base, high=high)

    strat = BuyOnSpike(timeframe=tf)
    result = run_backtest(strat, planted, cash=1e9, replay=replay)

    # the decision is taken on the period's last minute bar, not one bar earlier
    assert strat.entry_step == last
    assert strat.seen_ts == planted_open
    assert strat.seen_high == resample(planted, tf).bars.high[period_index] == high[first]
    # and the order it sends fills at the next minute's open, the first moment after the decision
    trade = result.trades[0]
    assert trade.entry_ts == int(base.ts[last + 1])
    assert trade.entry_price == float(base.open[last + 1])


def test_without_the_plant_the_strategy_never_buys() -> None:
    strat = BuyOnSpike(timeframe="1h")
    run_backtest(strat, load_sample("BTC-PERP"), cash=1e9)
    assert strat.entry_step == -1

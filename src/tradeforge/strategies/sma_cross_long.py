"""SMA cross, long only (spot accounts cannot sell what they do not hold): buy on a cross up, sell it all on a cross
down. Optional stop-loss / take-profit at fixed distances from the entry bar's close (sl_pct=0.01: 1% below)."""

from __future__ import annotations

import talib

from tradeforge.core.errors import ConfigError
from tradeforge.core.strategy import Strategy, crossover


class SmaCrossLong(Strategy):
    fast = 10
    slow = 20
    fraction = 0.95  # of the available cash each entry uses (the rest pays for fees and price moves)
    sl_pct = 0.0  # 0: no stop-loss
    tp_pct = 0.0  # 0: no take-profit

    def on_start(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ConfigError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.sl_pct < 0 or self.tp_pct < 0:
            raise ConfigError(f"sl_pct and tp_pct must be >= 0, got {self.sl_pct}, {self.tp_pct}")
        close = self.data.close
        self.sma_fast = self.I(talib.SMA, close, timeperiod=self.fast, name=f"SMA({self.fast})")
        self.sma_slow = self.I(talib.SMA, close, timeperiod=self.slow, name=f"SMA({self.slow})")

    def on_bar(self) -> None:
        held = self.position().qty
        if held < self.engine.instruments[self.symbols[0]].lot_size:
            held = 0.0  # dust (a fee kept in the asset bought leaves a fraction of a lot): nothing to sell
        pending = any(o.role == "entry" for o in self.orders)  # an entry sent, not filled yet
        if crossover(self.sma_fast, self.sma_slow) and held == 0 and not pending:
            price = float(self.data.close[-1])
            sl = price * (1 - self.sl_pct) if self.sl_pct else None
            tp = price * (1 + self.tp_pct) if self.tp_pct else None
            self.buy(fraction=self.fraction, sl=sl, tp=tp)
        elif crossover(self.sma_slow, self.sma_fast) and held > 0:
            self.close()

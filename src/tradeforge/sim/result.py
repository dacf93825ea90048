"""Result of a run: everything needed for statistics, exports and reports. Plain data, no pandas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.bars import BarSeries
from tradeforge.core.events import Fill
from tradeforge.core.orders import Order
from tradeforge.core.trades import Trade


@dataclass(eq=False)
class StrategyResult:
    """One strategy's book inside the account."""

    name: str
    params: dict[str, Any]
    initial_capital: float
    equity: npt.NDArray[np.float64]
    stats: dict[str, Any]


@dataclass(eq=False)
class Result:
    """orders/fills/trades in creation order; timestamps/equity/cash per engine step (int64 ns, float64)."""

    orders: list[Order]
    fills: list[Fill]
    trades: list[Trade]
    timestamps: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    cash: npt.NDArray[np.float64]
    bars: dict[str, BarSeries]
    stats: dict[str, Any]
    initial_cash: float
    strategies: dict[str, StrategyResult] = field(default_factory=dict)
    fees_paid: float = 0.0
    turnover: float = 0.0

    @property
    def closed_trades(self) -> list[Trade]:
        return [t for t in self.trades if not t.is_open]

    @property
    def open_trades(self) -> list[Trade]:
        return [t for t in self.trades if t.is_open]
